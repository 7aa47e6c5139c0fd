#!/usr/bin/env bash
# Visibility monitor overhead: a loop of N open/close calls (benches/openloop.c) run as a target by
# `armor-loader exec --lsm none`, with the monitor off (`--visibility none`, the peer: the same
# loader, namespaces and loop) and on (`--visibility file`: every open goes through the enter and
# exit tracepoints; with the default throttle of 10,000 records a second per target, and with no
# throttle, where every open becomes a record the recorder writes), in one hyperfine run on one
# core (taskset -c 0). Runs on our plain machines and in the kernel lab:
#   scripts/lab.sh --kernel 6.12 -- bash benches/monitor.sh
# Needs: hyperfine, clang (both from Debian), root.
# Usage: benches/monitor.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200000}
runs=${2:-10}
command -v hyperfine >/dev/null || { echo "hyperfine not found: apt-get install -y hyperfine" >&2; exit 2; }
loader=${LOADER:-target/release/armor-loader}
[ -x "$loader" ] || cargo build --release -q -p armor-loader
loader=$(realpath "$loader")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
clang -O2 -o "$work/openloop" benches/openloop.c
mkdir -p "$work/out"
echo '{"version":1,"targets":[{"namespace":"bench","workload":"w","container":"c","host":false,
  "enforcement":"enabled","policies":[],"labels":{"app":"w"}}]}' > "$work/out/index.json"
echo x > "$work/file"
exe() { # $1: visibility, $2: extra flags
    echo "taskset -c 0 $loader exec --lsm none --bundle $work/out --target bench/w/c --state-dir $work/state \
--visibility $1 ${2:-} --events $work/events.json -- $work/openloop $n $work/file"
}
echo "monitor: kernel $(uname -r), $n open/close per run"
hyperfine --runs "$runs" --warmup 1 --style basic --export-json "$work/h.json" \
    -n "visibility off" "$(exe none)" \
    -n "visibility file (throttled 10k/s)" "$(exe file)" \
    -n "visibility file (no throttle)" "$(exe file '--max-events-per-sec 0')"
python3 - "$work/h.json" "$n" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]; n = int(sys.argv[2])
base = r[0]["mean"]
for x in r:
    print(f'{x["command"]:<36} {x["mean"]*1000:9.1f} ms  {x["mean"]/n*1e9:7.0f} ns/open  {x["mean"]/base:5.2f}x')
PY
# records actually written by the unthrottled run (the last one hyperfine made)
echo "events in the last unthrottled run: $(grep -c '"Operation":"File"' "$work/events.json")"
