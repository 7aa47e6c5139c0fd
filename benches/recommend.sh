#!/usr/bin/env bash
# recommend image loading vs `skopeo copy` (the peer) over a loopback docker-registry.
# Results go to BENCHMARKS.md `## recommend`. Needs .ci/install-recommend.sh (docker-registry,
# skopeo, hyperfine, jq) and GNU time (/usr/bin/time). Usage: benches/recommend.sh [RUNS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
cargo build --release -q -p armorc-recommend --examples
cargo build --release -q -p armorc
BIN=$PWD/target/release/examples
ARMORC=$PWD/target/release/armorc
WORK=$(mktemp -d /tmp/armorc-bench-recommend.XXXXXX)
REG_PID=
cleanup() {
    [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}
PORT=$(free_port)
HOST=127.0.0.1:$PORT
cat > "$WORK/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: $HOST
YML
docker-registry serve "$WORK/registry.yml" >/dev/null 2>&1 &
REG_PID=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

push() { # name, make_bench_image args...
    local name=$1; shift
    "$BIN/make_bench_image" "$WORK/src-$name" "$name" "$@"
    skopeo copy --quiet --dest-tls-verify=false "oci:$WORK/src-$name:$name" "docker://$HOST/bench:$name"
    rm -rf "$WORK/src-$name"
}
echo "# building images"
push big --files 24000 --bytes 251658240 --layers 4          # 240 MiB, 24,000 files
push big-text --files 24000 --bytes 251658240 --layers 4 --text   # same, compressible content
push e20k --files 20000 --bytes 0
push e200k --files 200000 --bytes 0
push one2g --files 1 --bytes 2147483648 --zeros              # one 2 GiB file

load() { "$BIN/index_image" --plain-http "$HOST" "$HOST/bench:$1"; }
echo "# image sizes (compressed layers)"
for n in big big-text; do
    printf '%s: %s bytes\n' "$n" "$(skopeo inspect --raw --tls-verify=false "docker://$HOST/bench:$n" | jq '[.layers[].size] | add')"
done

echo "# time: armorc loader and full 'armorc recommend' vs skopeo copy to a local dir (same run)"
for n in big big-text; do
    hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$WORK/$n.json" \
        --prepare "rm -rf $WORK/skopeo-dir" \
        -n "skopeo copy $n" "skopeo copy --quiet --src-tls-verify=false docker://$HOST/bench:$n dir:$WORK/skopeo-dir" \
        -n "armorc load $n" "$BIN/index_image --plain-http $HOST $HOST/bench:$n" \
        -n "armorc recommend $n" "$ARMORC recommend -i $HOST/bench:$n --plain-http $HOST --templates builtin -o $WORK/out -r report.json"
    jq -r --arg n "$n" '.results as $r | "ratio \($n): loader/skopeo = \(($r[1].mean / $r[0].mean) * 1000 | round / 1000), recommend/skopeo = \(($r[2].mean / $r[0].mean) * 1000 | round / 1000) (skopeo \($r[0].mean * 1000 | round) ms, loader \($r[1].mean * 1000 | round) ms, recommend \($r[2].mean * 1000 | round) ms)"' "$WORK/$n.json"
done
echo "# peak RSS of the full command"
/usr/bin/time -f "armorc recommend big: peak_rss_kb=%M exit=%x" "$ARMORC" recommend -i "$HOST/bench:big" --plain-http "$HOST" --templates builtin -o "$WORK/out" -r report.json >/dev/null

echo "# peak RSS (VmHWM of the loader process)"
declare -A RSS ENTRIES
for n in big big-text e20k e200k one2g; do
    line=$(load "$n")
    echo "$n: $line"
    RSS[$n]=$(sed -n 's/.*peak_rss_kb=\([0-9]*\).*/\1/p' <<<"$line")
    ENTRIES[$n]=$(sed -n 's/.*entries=\([0-9]*\).*/\1/p' <<<"$line")
done
echo "peak RSS KiB: big=${RSS[big]} big-text=${RSS[big-text]} e20k=${RSS[e20k]} e200k=${RSS[e200k]} one2g=${RSS[one2g]}"
echo "growth per entry: $(( (RSS[e200k] - RSS[e20k]) * 1024 / (ENTRIES[e200k] - ENTRIES[e20k]) )) bytes (${ENTRIES[e20k]} -> ${ENTRIES[e200k]} entries)"
