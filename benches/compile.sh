#!/usr/bin/env bash
# Benchmark: `armorc compile --target all` over 10,000 generated policies (corpus rule-shape mix,
# ~8 rules each), 100 namespaces, 1,000 two-container Deployments, >= 20 policies per container,
# on one core (taskset -c 0; CORES=0,1 for two). Target: under 2 s. Peer measured in the same run:
# `armorc lint` of the same policies (reading and checking alone), so the ratio shows what
# composition and both lowerings add on top of the front-end; and `--target all --no-divergence`,
# so the ratio of the first row to it is what the divergence analysis adds (issue 16: under 1.2).
#
# OUT goes to tmpfs (/dev/shm) by default, so the figures are the compiler's, not the disk's: on
# our ext4 work disk (mounted with `discard`), creating thousands of files within 30 s of deleting
# thousands makes ext4's inode allocator skip "recently deleted" inodes one table block at a time,
# seconds of system time that no compiler change affects. OUT_PARENT=/tmp measures on the disk.
#
# Usage: benches/compile.sh [SEED]     (needs hyperfine: apt-get install -y hyperfine)
#        RUNS=10 OUT_PARENT=/tmp CORES=0,1 COMMANDS=1 benches/compile.sh 42
set -euo pipefail
cd "$(dirname "$0")/.."
seed="${1:-42}"
command -v hyperfine >/dev/null || { echo "hyperfine not found: apt-get install -y hyperfine" >&2; exit 2; }
cargo build --release -q -p armorc
bin="$PWD/target/release/armorc"
work="$(mktemp -d)"
out_dir="$(mktemp -d -p "${OUT_PARENT:-/dev/shm}")"
trap 'rm -rf "$work" "$out_dir"' EXIT
# COMMANDS=1: every container has a `command`, so its Landlock plan applies and the divergence
# analysis compares BPF-LSM with Landlock too (D010).
python3 benches/gen_compile.py "$work/in" --seed "$seed" ${COMMANDS:+--commands}

# One run first: it must succeed, and shows the figures.
"$bin" compile "$work/in/policies" --workloads "$work/in/workloads" --target all -o "$out_dir/out" 2>"$work/stderr"
tail -n 1 "$work/stderr"
# Where the time goes, per phase (one run).
"$bin" compile "$work/in/policies" --workloads "$work/in/workloads" --target all -o "$out_dir/out" --timings 2>&1 >/dev/null | grep '^timing:'
entries=$(python3 -c "import json,sys; t=json.load(open(sys.argv[1]))['targets']; print(sum(x['bpf_entries'] for x in t), min(len(x['policies']) for x in t), len(t))" "$out_dir/out/index.json")
echo "map entries, fewest policies per container, targets: $entries"

du -sh "$out_dir/out/bpf" "$out_dir/out/apparmor"
c="taskset -c ${CORES:-0} $bin compile $work/in/policies --workloads $work/in/workloads -o $out_dir/out"
# Each command runs over the OUT its previous run left (a recompile: unchanged files are
# hard-linked, the old tree removed), except "fresh OUT", whose OUT is deleted before each run
# (outside the timing), so every file is written.
hyperfine --warmup 1 --runs "${RUNS:-3}" --export-markdown "$work/result.md" \
  --prepare true --prepare "rm -rf $out_dir/out" --prepare true --prepare true --prepare true --prepare true \
  -n "compile --target all" "$c --target all 2>/dev/null" \
  -n "compile --target all, fresh OUT" "$c --target all 2>/dev/null" \
  -n "compile --target all --no-divergence" "$c --target all --no-divergence 2>/dev/null" \
  -n "compile --target bpf" "$c --target bpf 2>/dev/null" \
  -n "compile --target apparmor" "$c --target apparmor 2>/dev/null" \
  -n "lint (peer)" "taskset -c ${CORES:-0} $bin lint $work/in/policies --format json >/dev/null 2>&1 || true"
cat "$work/result.md"
