#!/usr/bin/env bash
# armor-exec built as a static executable (the Landlock wrapper compile's patches/landlock/ start
# pod containers with; docs/runtime.md "Landlock in Kubernetes pods"), checked to be static (file,
# ldd, and it runs in an empty root), and with --image packed as a one-layer OCI image layout for
# the init container (/armor-exec only; Cmd: /armor-exec --install /armorc/bin). No Dockerfile,
# no daemon: scripts/oci-from-rootfs.py writes the layout.
#
#   scripts/armor-exec.sh [--arch x86_64|aarch64|all] [--image DIR [--tag REF]]
#
# REF defaults to armorc compile's --armor-exec-image default (localhost/armor-exec:VERSION).
# aarch64 needs .ci/install-cross.sh (linker, and qemu-aarch64-static to run the check). With
# --arch all the layout's REF is a multi-arch image (an index of the amd64 and arm64 images), as
# a cluster with nodes of both kinds needs; skopeo, when installed, checks each platform resolves.
# Import the layout into containerd, e.g.:
#   tar -C DIR -cf armor-exec.tar . && ctr -n k8s.io images import armor-exec.tar
set -euo pipefail
cd "$(dirname "$0")/.."
arch=x86_64 image= tag=
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) arch=$2; shift 2 ;;
        --image) image=$2; shift 2 ;;
        --tag) tag=$2; shift 2 ;;
        *) echo "usage: scripts/armor-exec.sh [--arch x86_64|aarch64|all] [--image DIR [--tag REF]]" >&2; exit 2 ;;
    esac
done
case "$arch" in
    x86_64 | aarch64) arches=("$arch") ;;
    all) arches=(x86_64 aarch64) ;;
    *) echo "armor-exec.sh: --arch must be x86_64, aarch64 or all" >&2; exit 2 ;;
esac
version=$(sed -n 's/^version = "\(.*\)"/\1/p' runtime/Cargo.toml | head -1)
tag=${tag:-localhost/armor-exec:$version}
fail() { echo "armor-exec.sh: FAIL: $*" >&2; exit 1; }
oci_arch() { case "$1" in x86_64) echo amd64 ;; aarch64) echo arm64 ;; esac; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ARCH: builds armor-exec static for ARCH, checks it, and writes $work/ARCH.tar (the image's layer).
build() {
    local arch=$1 triple=$1-unknown-linux-gnu run=()
    [ "$arch" = x86_64 ] || run=(qemu-aarch64-static)
    # With --target, RUSTFLAGS reach only the target's crates (not build scripts or proc macros).
    # crt-static links glibc statically; armor-exec calls nothing that needs NSS or dlopen.
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
        cargo build --release --locked -p armor-loader --bin armor-exec --target "$triple"
    local bin=${CARGO_TARGET_DIR:-target}/$triple/release/armor-exec desc out
    desc=$(file -b "$bin")
    case "$desc" in
        *"statically linked"* | *"static-pie linked"*) ;;
        *) fail "$bin is not static: $desc" ;;
    esac
    if command -v ldd >/dev/null && ldd_out=$(ldd "$bin" 2>&1); then
        case "$ldd_out" in
            *"statically linked"* | *"not a dynamic executable"*) ;;
            *) fail "ldd lists libraries for $bin: $ldd_out" ;;
        esac
    fi
    # It runs with nothing beside it: an empty root but the binary (as in the init container's image).
    rm -rf "$work/root" "$work/layer"
    mkdir -p "$work/root" "$work/layer"
    install -m 0755 "$bin" "$work/layer/armor-exec"
    if [ "$(id -u)" = 0 ] && [ ${#run[@]} = 0 ]; then
        cp "$bin" "$work/root/armor-exec"
        out=$(chroot "$work/root" /armor-exec --version) || fail "armor-exec does not run in an empty root"
    else
        out=$("${run[@]}" "$bin" --version) || fail "armor-exec --version failed"
    fi
    echo "armor-exec.sh: $bin: $desc"
    echo "armor-exec.sh: runs: $out"
    tar --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -C "$work/layer" -cf "$work/$arch.tar" armor-exec
}

for a in "${arches[@]}"; do build "$a"; done
if [ -n "$image" ]; then
    first=${arches[0]}
    also=()
    for a in "${arches[@]:1}"; do also+=(--also "$(oci_arch "$a")=$work/$a.tar"); done
    python3 scripts/oci-from-rootfs.py "$work/$first.tar" "$image" "$tag" --arch "$(oci_arch "$first")" "${also[@]}" \
        --cmd '["/armor-exec", "--install", "/armorc/bin"]'
    # Each platform resolves to its own image (skopeo reads the layout as a node's runtime would).
    if command -v skopeo >/dev/null; then
        for a in "${arches[@]}"; do
            got=$(skopeo inspect --override-arch "$(oci_arch "$a")" --format '{{.Architecture}}' "oci:$image:$tag") ||
                fail "skopeo cannot read oci:$image:$tag for $(oci_arch "$a")"
            [ "$got" = "$(oci_arch "$a")" ] || fail "oci:$image:$tag for $(oci_arch "$a") is $got"
        done
    fi
    echo "armor-exec.sh: image layout $image ($tag, linux/$(for a in "${arches[@]}"; do oci_arch "$a"; done | paste -sd,))"
fi
