#!/usr/bin/env bash
# Benchmark `armorc discover` over generated KubeArmor telemetry (benches/discover-events.py:
# 10 workloads, 2 pods each, a realistic path mix, deterministic seed) on one core, against a peer
# measured in the same hyperfine run: jq computing each container's distinct (operation, resource)
# set over the same file. Then discover's peak RSS (GNU time).
#
#   bash benches/discover.sh          (from the repository root; needs hyperfine, jq, python3)
#
# Env: EVENTS (default 1000000), RUNS (hyperfine runs, default 3), CPU (core to pin, default 0),
# KEEP=1 keeps the work directory, ARMORC=path uses that binary instead of building it.
#
# Why jq is a fair peer: it is the tool one would script this with, and it does the same
# input-bound work discover's reading does (every event decoded as JSON, telemetry selected, a
# per-container set of distinct operations kept); discover does more on top (policies, the
# NetworkPolicy peers, coverage through the decision model), so the ratio understates its speed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
events=${EVENTS:-1000000}
runs=${RUNS:-3}
cpu=${CPU:-0}
work=$(mktemp -d)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT

for tool in hyperfine jq python3 /usr/bin/time taskset; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
if [ -n "${ARMORC:-}" ]; then
    armorc=$ARMORC
else
    cargo build --release -q -p armorc --manifest-path "$root/Cargo.toml"
    armorc=${CARGO_TARGET_DIR:-$root/target}/release/armorc
fi

python3 "$root/benches/discover-events.py" "$events" "$work/events.jsonl" --seed 1
size=$(du -m "$work/events.jsonl" | cut -f1)
echo "== $events events, $size MB" >&2

# One flat object updated in place (a nested `.[c][op] = 1` copies the inner object on every
# update in jq 1.7: quadratic, 10+ minutes at 1M events), grouped per container at the end.
peer='reduce (inputs | select(.Type == "ContainerLog" and .Result == "Passed")) as $e ({};
  .[$e.NamespaceName + "/" + $e.ContainerName + "\t" + $e.Operation + " " + $e.Resource] = 1)
  | keys | group_by(split("\t")[0]) | map({(.[0] | split("\t")[0]): length}) | add'
printf '%s\n' "$peer" > "$work/peer.jq"

hyperfine --runs "$runs" --export-markdown "$work/hyperfine.md" \
    -n "armorc discover" "taskset -c $cpu $armorc discover $work/events.jsonl -o $work/out" \
    -n "jq distinct sets" "taskset -c $cpu jq -n -f $work/peer.jq $work/events.jsonl >/dev/null"

/usr/bin/time -f '%e s wall, %U s user, %M KB peak RSS' -o "$work/time.txt" \
    taskset -c "$cpu" "$armorc" discover "$work/events.jsonl" -o "$work/out" 2>/dev/null
echo
echo "### discover: $events events ($size MB), one core"
cat "$work/hyperfine.md"
echo
echo "armorc discover alone: $(cat "$work/time.txt")"
jq -c '{events, policies: [.kubearmor_policies[] | {workload, rules: (.rules.process + .rules.file_paths + .rules.file_directories + .rules.protocols + .rules.capabilities), coverage: .coverage.share}]}' "$work/out/report.json"
