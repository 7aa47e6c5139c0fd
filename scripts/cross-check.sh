#!/usr/bin/env bash
# Byte-identical outputs across architectures (issue 11): the x86_64 `armorc` and the aarch64 one
# (under qemu-aarch64 user mode) run the same commands over the same inputs, and every output file,
# standard output, standard error and exit code must be equal byte for byte (`diff -r`).
#
#   lint      the whole corpus (../shared/corpus), JSON and SARIF
#   compile   every lint-clean corpus file at once, --target all, against generated workloads
#             (one Deployment per selector) and the commonest host label set; again with
#             --default-posture block; then the host policies once per nodeSelector; the compile
#             fixtures (compiler/tests/fixtures/compile); every map image is checked to declare
#             little-endian (byte-order mark FF FE at offset 10, docs/map-image.md)
#   query     exec/open/write of every path the corpus rules name, against every corpus map image
#   explain   every map image and profile of the fixtures' tree, and its index.json
#   recommend an OCI layout and the same layout as an oci-archive, files triggering every built-in
#             template, all report formats, with --explain (no network, no daemon)
# plus the BPF objects runtime/build.rs wrote for each target (same bytes: one object for both).
#
# Usage: scripts/cross-check.sh            builds both release binaries (CARGO_TARGET_DIR honoured)
#        ARMORC_X86=... ARMORC_AARCH64=... scripts/cross-check.sh   uses given binaries, no build
#        (CROSS_CHECK_BPF_DIRS=X86_OUT_DIR:AARCH64_OUT_DIR: the loader's BPF objects to compare)
# Needs: .ci/install-cross.sh (target, cross gcc, qemu-user-static), python3, the corpus.
# Leaves the trees in $CROSS_CHECK_DIR when set (else a temporary directory, removed).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
corpus=$(realpath -m ../shared/corpus)
[ -d "$corpus/policy-templates" ] || { echo "cross-check: corpus not found at $corpus" >&2; exit 2; }
runner=(qemu-aarch64-static)
command -v "${runner[0]}" >/dev/null || { echo "cross-check: ${runner[0]} missing: run .ci/install-cross.sh" >&2; exit 2; }

bpf_objects=()
[ -z "${CROSS_CHECK_BPF_DIRS:-}" ] || IFS=: read -r -a bpf_objects <<<"$CROSS_CHECK_BPF_DIRS"
if [ -z "${ARMORC_X86:-}" ] || [ -z "${ARMORC_AARCH64:-}" ]; then
    target_dir=${CARGO_TARGET_DIR:-$repo/target}
    # x86_64 without --target: target/release, the same artifacts `cargo test --release` builds.
    for target in "" aarch64-unknown-linux-gnu; do
        # The loader too: its build script's OUT_DIR holds that target's BPF objects.
        out_dir=$(cargo build --release -q ${target:+--target "$target"} -p armorc -p armor-loader --message-format=json \
            | python3 -c 'import json, sys
dirs = [m["out_dir"] for m in map(json.loads, sys.stdin)
        if m.get("reason") == "build-script-executed" and "armor-loader" in m["package_id"]]
print(dirs[-1] if dirs else "")')
        [ -n "$out_dir" ] || { echo "cross-check: no OUT_DIR for armor-loader (${target:-host})" >&2; exit 1; }
        bpf_objects+=("$out_dir")
    done
    ARMORC_X86=$target_dir/release/armorc
    ARMORC_AARCH64=$target_dir/aarch64-unknown-linux-gnu/release/armorc
fi
# Absolute: the commands run from the output trees.
ARMORC_X86=$(realpath "$ARMORC_X86")
ARMORC_AARCH64=$(realpath "$ARMORC_AARCH64")
# ELF e_machine (offset 18, little-endian): 0x3e x86_64, 0xb7 aarch64.
machine() { od -An -tx1 -j18 -N2 "$1" | tr -d ' '; }
[ "$(machine "$ARMORC_X86")" = 3e00 ] || { echo "cross-check: $ARMORC_X86 is not an x86_64 binary" >&2; exit 1; }
[ "$(machine "$ARMORC_AARCH64")" = b700 ] || { echo "cross-check: $ARMORC_AARCH64 is not an aarch64 binary" >&2; exit 1; }

if [ -n "${CROSS_CHECK_DIR:-}" ]; then
    work=$CROSS_CHECK_DIR
    rm -rf "$work" && mkdir -p "$work"
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi
work=$(realpath "$work")
in=$work/inputs
mkdir -p "$in" "$work/x86_64" "$work/aarch64"
python3 scripts/cross-check-inputs.py compile "$ARMORC_X86" "$corpus" "$in"
python3 scripts/cross-check-inputs.py image "$repo/templates" "$in/image"

# on ARCH NAME ARGS...: run armorc of ARCH with its tree $work/ARCH renamed to $work/run and that
# as the working directory, so both architectures see the same paths (relative -o, SARIF's base
# URI); keeps stdout, stderr and the exit code as NAME.{out,err,rc}.
on() {
    local arch=$1 name=$2
    shift 2
    local cmd=("$ARMORC_X86")
    [ "$arch" = aarch64 ] && cmd=("${runner[@]}" "$ARMORC_AARCH64")
    mv "$work/$arch" "$work/run"
    (cd "$work/run" && set +e && "${cmd[@]}" "$@" >"$name.out" 2>"$name.err" </dev/null; echo $? >"$name.rc")
    mv "$work/run" "$work/$arch"
}
# both NAME ARGS...: the same command on both architectures.
both() {
    on x86_64 "$@"
    on aarch64 "$@"
}

mapfile -t clean <"$in/clean.txt"
labels0=$(cat "$in/host/00.labels")
start=$SECONDS
both lint-json lint "$corpus" --format json
both lint-sarif lint "$corpus" --format sarif
both compile compile "${clean[@]}" --workloads "$in/workloads" --node-labels "$labels0" --target all -o corpus
both compile-block compile "${clean[@]}" --workloads "$in/workloads" --node-labels "$labels0" \
    --default-posture block --target all -o corpus-block
for f in "$in"/host/*.labels; do
    n=$(basename "$f" .labels)
    mapfile -t host_files <"$in/host/$n.files"
    both "compile-host-$n" compile "${host_files[@]}" --node-labels "$(cat "$f")" --target all -o "host-$n"
done
fixtures=$repo/compiler/tests/fixtures/compile
both compile-fixtures compile "$fixtures/policies" --workloads "$fixtures/workloads" \
    --node-labels kubernetes.io/hostname=node-1 --target all -o fixtures
[ "$(cat "$work/x86_64/compile.rc")" = 0 ] || { echo "cross-check: corpus compile failed:" >&2; tail -5 "$work/x86_64/compile.err" >&2; exit 1; }

# Every map image, compiled on either side, declares little-endian.
images=$(cd "$work/x86_64" && find corpus corpus-block host-* fixtures -name '*.img' | sort)
n_images=$(wc -l <<<"$images")
bad_bom=0
for arch in x86_64 aarch64; do
    while read -r img; do
        [ "$(od -An -tx1 -j10 -N2 "$work/$arch/$img" | tr -d ' ')" = fffe ] || { echo "cross-check: $arch/$img: no little-endian mark" >&2; bad_bom=1; }
    done <<<"$images"
done

i=0
while read -r img; do
    i=$((i + 1))
    both "query-$i" query --image "$img" "$in/queries.jsonl"
done < <(grep '^corpus/' <<<"$images")
n=0
while read -r f; do
    n=$((n + 1))
    both "explain-$n" explain "$f"
done < <(cd "$work/x86_64" && find fixtures -type f ! -name '*.map.json' | sort)

both recommend-oci recommend -i "oci:$in/image/layout:v1" -o rec-oci -r report.json --explain
both recommend-archive recommend -i "oci-archive:$in/image/image.tar:v1" -o rec-archive -r report.md \
    -n shop -l app=web --explain
both recommend-html recommend -i "oci:$in/image/layout:v1" -o rec-html -r report.html
both recommend-text recommend -i "oci:$in/image/layout:v1" -o rec-text --action Audit
for r in oci archive html text; do
    [ "$(cat "$work/x86_64/recommend-$r.rc")" = 0 ] || { echo "cross-check: recommend-$r failed:" >&2; tail -5 "$work/x86_64/recommend-$r.err" >&2; exit 1; }
done
elapsed=$((SECONDS - start))

status=0
if diff -r "$work/x86_64" "$work/aarch64" >"$work/diff.txt"; then
    files=$(find "$work/x86_64" -type f | wc -l)
    bytes=$(du -sb "$work/x86_64" | cut -f1)
    echo "cross-check: x86_64 and aarch64 outputs identical: $files files, $bytes bytes ($n_images map images, $i query runs, $n explains), ${elapsed}s"
else
    echo "cross-check: x86_64 and aarch64 outputs DIFFER after ${elapsed}s ($(grep -c '^diff\|^Only\|^Binary' "$work/diff.txt") files):" >&2
    head -50 "$work/diff.txt" >&2
    status=1
fi
[ $bad_bom = 0 ] || status=1

if [ ${#bpf_objects[@]} = 2 ]; then
    for o in harness lsm task; do
        a=$(sha256sum <"${bpf_objects[0]}/$o.bpf.o" | cut -d' ' -f1)
        b=$(sha256sum <"${bpf_objects[1]}/$o.bpf.o" | cut -d' ' -f1)
        if [ "$a" = "$b" ]; then
            echo "cross-check: bpf $o.bpf.o identical for both targets (sha256 ${a:0:16}...)"
        else
            echo "cross-check: bpf $o.bpf.o differs between the targets" >&2
            status=1
        fi
    done
fi
exit $status
