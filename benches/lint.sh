#!/usr/bin/env bash
# Benchmark `armorc lint --format json` against check-jsonschema (with the CRD schema, made strict)
# over the KubeArmorPolicy files of ../shared/corpus/policy-templates, in one hyperfine run; then
# peak RSS (GNU time) and scaling over generated 10k / 50k / 100k-document corpora.
#
#   bash .ci/install-bench.sh && bash benches/lint.sh        (from the repository root)
#
# Env: RUNS (hyperfine runs, default 10), SIZES (default "10000 50000 100000"), KEEP=1 keeps the
# work directory, ARMORC=path uses that binary instead of building target/release/armorc. Prints a markdown summary for BENCHMARKS.md at the end.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
corpus=${CORPUS:-$root/../shared/corpus}
runs=${RUNS:-10}
sizes=${SIZES:-"10000 50000 100000"}
work=$(mktemp -d)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT

for tool in hyperfine check-jsonschema /usr/bin/time python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run bash .ci/install-bench.sh" >&2; exit 2; }
done
[ -d "$corpus/policy-templates" ] || { echo "corpus not found at $corpus" >&2; exit 2; }

if [ -n "${ARMORC:-}" ]; then
    armorc=$ARMORC # a binary built earlier
else
    cargo build --release -q -p armorc --manifest-path "$root/Cargo.toml"
    armorc=$root/target/release/armorc
fi
gen="python3 $root/benches/gen_lint_corpus.py"

count=$($gen list "$corpus/policy-templates" "$work/files.txt")
[ "$count" = 411 ] || echo "note: found $count KubeArmorPolicy files (the issue expects 411)" >&2
$gen schema "$corpus/crds/KubeArmorPolicy.yaml" "$work/ksp-schema.json"
# The same files for both tools, as arguments (no shell expansion differences).
mapfile -t files < "$work/files.txt"
printf '%q ' "${files[@]}" > "$work/args.txt"
args=$(cat "$work/args.txt")

echo "== corpus: $count KubeArmorPolicy files" >&2
hyperfine --style basic --warmup 2 --runs "$runs" -N -i \
    --export-json "$work/corpus.json" \
    -n "armorc lint" "$armorc lint --format json $args" \
    -n "check-jsonschema" "check-jsonschema --schemafile $work/ksp-schema.json $args" >&2

rss_kb() { # peak RSS in KiB of a command
    /usr/bin/time -f '%M' -o "$work/rss" "$@" >/dev/null 2>&1 || true
    tail -1 "$work/rss"
}
corpus_rss=$(rss_kb "$armorc" lint --format json "${files[@]}")
peer_rss=$(rss_kb check-jsonschema --schemafile "$work/ksp-schema.json" "${files[@]}")

# Mean wall time and mean CPU time (user + system) of each command of a hyperfine export. CPU time is
# reported too because wall time on a shared 2-core machine includes waiting for a core.
mean() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(' '.join('%.6f %.6f' % (x['mean'], x['user'] + x['system']) for x in r))" "$1"; }
read -r ours ours_cpu peer peer_cpu <<< "$(mean "$work/corpus.json")"

scaling=""
for n in $sizes; do
    $gen stream "$corpus/policy-templates" "$n" "$work/gen-$n"
    echo "== generated corpus: $n documents" >&2
    hyperfine --style basic --warmup 1 --runs 3 -N -i --export-json "$work/gen-$n.json" \
        -n "armorc lint $n" "$armorc lint --format json $work/gen-$n" >&2
    read -r t cpu <<< "$(mean "$work/gen-$n.json")"
    r=$(rss_kb "$armorc" lint --format json "$work/gen-$n")
    scaling+=$(python3 -c "import sys; n,t,c,r=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]),int(sys.argv[4]); print('| %d | %.3f s | %.1f µs | %.3f s | %.1f µs | %.1f MB |' % (n, t, t/n*1e6, c, c/n*1e6, r/1024))" "$n" "$t" "$cpu" "$r")$'\n'
    rm -rf "$work/gen-$n"
done

python3 - "$ours" "$peer" "$ours_cpu" "$peer_cpu" "$corpus_rss" "$peer_rss" "$count" "$runs" <<'EOF'
import sys
ours, peer, ours_cpu, peer_cpu = map(float, sys.argv[1:5])
rss, peer_rss, count, runs = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7], sys.argv[8]
print(f"| {count} KubeArmorPolicy files, {runs} runs | armorc lint --format json | check-jsonschema | ratio |")
print("|---|---|---|---|")
print(f"| wall time (mean) | {ours*1000:.1f} ms | {peer*1000:.1f} ms | {peer/ours:.1f}x faster |")
print(f"| CPU time (user+sys, mean) | {ours_cpu*1000:.1f} ms | {peer_cpu*1000:.1f} ms | {peer_cpu/ours_cpu:.1f}x less |")
print(f"| peak RSS | {rss/1024:.1f} MB | {peer_rss/1024:.1f} MB | {peer_rss/rss:.1f}x less |")
EOF
echo
echo "| documents | wall (mean of 3) | wall per document | CPU (user+sys) | CPU per document | peak RSS |"
echo "|---|---|---|---|---|---|"
printf '%s' "$scaling"
