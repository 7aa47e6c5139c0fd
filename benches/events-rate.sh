#!/usr/bin/env bash
# Events per second the visibility monitor sustains without loss, throttling off: a target opens a
# file at a fixed rate (benches/openloop.c, paced each millisecond) for SECONDS seconds under
# `armor-loader exec --lsm none --visibility file --max-events-per-sec 0 --events FILE` (every
# open is a record: enter and exit tracepoints, the 8 MiB ring buffer, the recorder thread writing
# KubeArmor JSON to tmpfs). The loader's recorder runs on core 0 and the target on core 1, so the
# producer is not slowed by the consumer. For each rate: the rate the target reached, the records
# written, and the records lost (the loader's "dropped: N (ring buffer full)" count).
# Peer in the same run: the same target with `--visibility none` (the rate reached unobserved).
# Runs on our plain machines and in the kernel lab (scripts/lab.sh -- bash benches/events-rate.sh).
# Needs: clang, root, 2 cores.
# Usage: benches/events-rate.sh [SECONDS] [RATE...]   (default: 3 s; 10k 25k 50k 100k 150k 200k)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
shift || true
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(10000 25000 50000 100000 150000 200000)
[ "$(nproc)" -ge 2 ] || { echo "events-rate: needs 2 cores (recorder and target on their own)" >&2; exit 2; }
loader=${LOADER:-target/release/armor-loader}
[ -x "$loader" ] || cargo build --release -q -p armor-loader
loader=$(realpath "$loader")
work=$(mktemp -d)
out=$(mktemp -d -p /dev/shm)
trap 'rm -rf "$work" "$out"' EXIT
clang -O2 -o "$work/openloop" benches/openloop.c
mkdir -p "$work/bundle"
echo '{"version":1,"targets":[{"namespace":"bench","workload":"w","container":"c","host":false,
  "enforcement":"enabled","policies":[],"labels":{"app":"w"}}]}' > "$work/bundle/index.json"
echo x > "$work/file"
echo "events-rate: kernel $(uname -r), $secs s per rate, recorder on core 0, target on core 1"
printf '%-10s %-12s %-14s %-10s %-10s %s\n' rate visibility reached records lost verdict
for rate in "${rates[@]}"; do
    n=$((rate * secs))
    for vis in none file; do
        rm -f "$out/events.json"
        taskset -c 0 "$loader" exec --lsm none --bundle "$work/bundle" --target bench/w/c --state-dir "$work/state" \
            --visibility "$vis" --max-events-per-sec 0 --events "$out/events.json" \
            -- taskset -c 1 "$work/openloop" "$n" "$work/file" "$rate" >"$work/out" 2>"$work/err" \
            || { cat "$work/err" >&2; echo "events-rate: the loader failed" >&2; exit 1; }
        reached=$(sed -n 's/.*: \([0-9]*\) opens\/s$/\1/p' "$work/out")
        if [ "$vis" = none ]; then
            printf '%-10s %-12s %-14s %-10s %-10s %s\n' "$rate" none "$reached/s" - - peer
            continue
        fi
        records=$(grep -c '"Operation":"File"' "$out/events.json" || true)
        lost=$(sed -n 's/.*dropped: \([0-9]*\) (ring buffer full).*/\1/p' "$work/err")
        [ -n "$lost" ] || { cat "$work/err" >&2; echo "events-rate: no loss count in the loader's output" >&2; exit 1; }
        verdict="no loss"
        [ "$lost" = 0 ] || verdict="LOSS"
        # every open of the file is a record, or counted lost
        [ $((records + lost)) -ge "$n" ] || verdict="$verdict (records + lost < opens: $((n - records - lost)) unaccounted)"
        printf '%-10s %-12s %-14s %-10s %-10s %s\n' "$rate" file "$reached/s" "$records" "$lost" "$verdict"
    done
done
