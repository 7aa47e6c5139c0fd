#!/usr/bin/env bash
# apparmor_parser (Debian package `apparmor`) checks the generated AppArmor profiles (-QK: parse and
# compile, never load). hyperfine drives benches/apparmor.sh.
set -euo pipefail
need=()
command -v apparmor_parser >/dev/null 2>&1 || need+=(apparmor)
command -v hyperfine >/dev/null 2>&1 || need+=(hyperfine)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
