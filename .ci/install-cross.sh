#!/usr/bin/env bash
# aarch64 cross toolchain (issue 11). Idempotent and quiet.
#  - the Rust target aarch64-unknown-linux-gnu;
#  - Debian's cross gcc with its arm64 libc under /usr/aarch64-linux-gnu: the linker, and the C
#    compiler of the cc-built deps (libgit2, zlib, zstd, mimalloc, ring: all vendored source);
#  - qemu user-mode emulation (qemu-aarch64-static) running the aarch64 test binaries
#    (.cargo/config.toml: linker and runner), with Debian's own arm64 libc and libgcc
#    (`dpkg --add-architecture arm64`) at /lib/ld-linux-aarch64.so.1 and /lib/aarch64-linux-gnu.
#    Not `qemu -L /usr/aarch64-linux-gnu`: once libc6:arm64 is on the machine, the cross ld.so
#    reads the host's /etc/ld.so.cache, loads libc6:arm64's libc.so.6 (another build) and the
#    first pthread_create loops for ever in glibc's stack cache;
#  - binfmt_misc registration of qemu-aarch64, so an aarch64 test that spawns an aarch64 binary
#    (the CLI tests run CARGO_BIN_EXE_armorc) works; x86_64 tools spawned by tests run natively.
set -euo pipefail
target=aarch64-unknown-linux-gnu
rustup target list --installed 2>/dev/null | grep -qx "$target" || rustup target add "$target" >/dev/null 2>&1

need=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu)
[ -f /usr/aarch64-linux-gnu/lib/libc.so ] || need+=(libc6-dev-arm64-cross)
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
[ -f /lib/ld-linux-aarch64.so.1 ] || need+=(libc6:arm64)
[ -f /lib/aarch64-linux-gnu/libgcc_s.so.1 ] || need+=(libgcc-s1:arm64)
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
        || { echo "install-cross: apt-get install ${need[*]} failed" >&2; exit 1; }
fi

binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/qemu-aarch64" ]; then
    [ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null || true
    conf=/usr/lib/binfmt.d/qemu-aarch64.conf
    if [ -w "$binfmt/register" ] && [ -f "$conf" ]; then
        grep -v '^#' "$conf" > "$binfmt/register" 2>/dev/null || true
    fi
    [ -e "$binfmt/qemu-aarch64" ] \
        || echo "install-cross: binfmt_misc not available: aarch64 tests that spawn aarch64 binaries will fail" >&2
fi
