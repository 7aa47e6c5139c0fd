#!/usr/bin/env bash
# Landlock benchmark: what enforcing a compiled plan adds to starting a command. `armor-loader exec
# --lsm landlock` (read the plan, list the directories on the way to each excluded path, one
# ruleset per layer, restrict, exec) against the peer `armor-loader exec --lsm none` (the same
# loader and exec, nothing enforced), both running /bin/true, in the same hyperfine run. Plans:
# the compile fixtures' nginx target (6 layers, Block and allow-list rules) and the largest plan of
# the generated compile benchmark (benches/gen_compile.py, seed 42). One core (taskset -c 0).
# Needs: hyperfine (apt-get install -y hyperfine), Landlock ABI 3 (Linux 6.2).
# Usage: benches/landlock.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
command -v hyperfine >/dev/null || { echo "hyperfine not found: apt-get install -y hyperfine" >&2; exit 2; }
cargo build --release -q -p armorc -p armor-loader
armorc=$PWD/target/release/armorc
loader=$PWD/target/release/armor-loader
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fixtures=compiler/tests/fixtures/compile
"$armorc" compile "$fixtures/policies" --workloads "$fixtures/workloads" --target landlock -o "$work/fixtures" 2>/dev/null
python3 benches/gen_compile.py "$work/gen" --seed 42 >/dev/null
"$armorc" compile "$work/gen/policies" --workloads "$work/gen/workloads" --target landlock --default-posture block \
    -o "$work/gen-out" 2>/dev/null
# The generated target whose plan has the most exclusions and grants.
big=$(python3 - "$work/gen-out" <<'PY'
import json, os, sys
out = sys.argv[1]
def size(t):
    plan = json.load(open(os.path.join(out, t["landlock"])))
    return sum(len(g.get("excluded", [])) + 1 for l in plan["layers"] for g in l["grants"])
targets = json.load(open(os.path.join(out, "index.json")))["targets"]
best = max(targets, key=size)
print(f'{best["namespace"]}/{best["workload"]}/{best["container"]}')
PY
)
for case in "fixtures shop/web/nginx" "gen-out $big"; do
    read -r out target <<<"$case"
    "$loader" exec --lsm landlock --bundle "$work/$out" --target "$target" -- /bin/true 2>&1 | grep -E 'landlock:|refused' || true
    exe() { echo "taskset -c 0 $loader exec --lsm $1 --bundle $work/$out --target $target -- /bin/true"; }
    # -i: an allow-list may refuse /bin/true (exit 126): the refused exec costs the same to set up.
    hyperfine --warmup 3 --runs "$runs" -N -i --export-markdown "$work/$out.md" \
        -n "exec --lsm landlock ($target)" "$(exe landlock)" \
        -n "exec --lsm none (peer)" "$(exe none)"
    cat "$work/$out.md"
done
