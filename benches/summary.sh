#!/usr/bin/env bash
# `armorc summary` over 1,000,000 generated KubeArmor events (benches/gen_events.py: 10 workloads,
# libraries, /proc/PID, /tmp, config files, execs, connections; about 800 MB of JSON lines), on
# one core (taskset -c 0), in one hyperfine run with its peers:
#   - jq: the same grouping count (telemetry rows by workload, operation, process, source,
#     resource) as `jq -r ... | sort | uniq -c`, the usual shell answer without karmor (karmor
#     summary needs a cluster and its discovery engine, unavailable offline);
#   - cat: reading the file once, the floor of any tool that reads it.
# Then peak RSS (GNU time) of each armorc variant.
#
#   bash .ci/install-bench.sh && bash benches/summary.sh        (from the repository root)
#
# Env: RUNS (hyperfine runs of armorc and cat, default 5; jq runs 2), EVENTS (default 1000000),
# ARMORC=path uses that binary instead of building target/release/armorc, KEEP=1 keeps the work
# directory (under /dev/shm when it exists: the disk is not what is measured).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-5}
events=${EVENTS:-1000000}
base=/tmp
[ -d /dev/shm ] && base=/dev/shm
work=$(mktemp -d "$base/armorc-bench-summary.XXXXXX")
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT

for tool in hyperfine jq taskset /usr/bin/time python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run bash .ci/install-bench.sh" >&2; exit 2; }
done

if [ -n "${ARMORC:-}" ]; then
    armorc=$ARMORC
else
    cargo build --release -q -p armorc --manifest-path "$root/Cargo.toml"
    armorc=${CARGO_TARGET_DIR:-$root/target}/release/armorc
fi

python3 "$root/benches/gen_events.py" "$work/events.json" --events "$events"
echo "== $(wc -l < "$work/events.json") events, $(du -m "$work/events.json" | cut -f1) MB" >&2

# The peer's filter and pipeline as files: no quoting through hyperfine's shell.
cat > "$work/group.jq" <<'JQ'
select(.Type == "ContainerLog" or .Type == "HostLog")
| [.ClusterName, .NamespaceName, .PodName, .ContainerName, .Operation, .ProcessName, .Source, .Resource]
| @tsv
JQ
printf 'jq -r -f %q %q | sort | uniq -c\n' "$work/group.jq" "$work/events.json" > "$work/jq.sh"
hyperfine --warmup 1 --runs "$runs" --export-markdown "$work/armorc.md" \
    -n "armorc summary" "taskset -c 0 $armorc summary $work/events.json" \
    -n "armorc summary --agg" "taskset -c 0 $armorc summary --agg $work/events.json" \
    -n "armorc summary --format json" "taskset -c 0 $armorc summary --format json $work/events.json" \
    -n "cat" "taskset -c 0 cat $work/events.json"
hyperfine --runs 2 --export-markdown "$work/jq.md" \
    -n "jq | sort | uniq -c" "taskset -c 0 sh $work/jq.sh"

for args in "" "--agg" "--format json"; do
    # shellcheck disable=SC2086 # args is a flag list
    /usr/bin/time -f "peak RSS armorc summary $args: %M KB (user %U s, sys %S s)" \
        taskset -c 0 "$armorc" summary $args "$work/events.json" > /dev/null
done
/usr/bin/time -f "peak RSS jq: %M KB" taskset -c 0 jq -r -f "$work/group.jq" "$work/events.json" > /dev/null

echo
cat "$work/armorc.md" "$work/jq.md"
