#!/usr/bin/env bash
# Tools for the manual benchmarks in benches/ (not needed by `cargo test`): hyperfine, GNU time and jq
# from Debian, check-jsonschema (the peer we measure against) from PyPI. Idempotent and quiet.
set -euo pipefail

need_apt=()
command -v hyperfine >/dev/null 2>&1 || need_apt+=(hyperfine)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v jq >/dev/null 2>&1 || need_apt+=(jq) # benches/summary.sh's peer
if [ ${#need_apt[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v check-jsonschema >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore check-jsonschema
fi
