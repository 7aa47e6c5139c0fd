#!/usr/bin/env bash
# @microsoft/sarif-multitool (npm) validates `armorc lint --format sarif` output, including the
# GitHub ingestion rules, in tests/lint_cli.rs. Installed locally under /opt/sarif-multitool.
set -euo pipefail
dir=/opt/sarif-multitool
tool="$dir/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"
if [ -x "$tool" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
mkdir -p "$dir"
npm install --prefix "$dir" --no-audit --no-fund --silent @microsoft/sarif-multitool@5.7.0 >/dev/null
test -x "$tool"
