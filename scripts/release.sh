#!/usr/bin/env bash
# Release tarballs for x86_64 and aarch64 (issue 11; docs/release.md):
#   dist/armorc-<version>-x86_64-linux.tar.gz, dist/armorc-<version>-aarch64-linux.tar.gz,
#   dist/SHA256SUMS
# each holding armorc, armor-loader and README.md. glibc-linked (not static): the binaries need
# glibc >= 2.34 and nothing else (libc, libm, libgcc_s, the dynamic loader); both checks run here
# on the built files (objdump -T / -p) and fail the release otherwise. zlib is linked statically
# on both (LIBZ_SYS_STATIC=1 for x86_64; the cross build never looks for the host's).
# Debug info is stripped from the copies in the tarballs (symbols stay, for backtraces).
#
# Usage: scripts/release.sh            (needs .ci/install-cross.sh and .ci/install-bpf.sh)
# x86_64 is built with an explicit --target, so its artifacts live apart from target/release
# (the tests' build, which links the host's libz): the first release build is a cold one.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
[ -n "$version" ] || { echo "release: no version in Cargo.toml" >&2; exit 1; }
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
glibc_max=2.34
mkdir -p dist
rm -f dist/armorc-"$version"-*-linux.tar.gz dist/SHA256SUMS
# Reproducible tar members: the commit's time, root owner, sorted names.
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)

for arch in x86_64 aarch64; do
    triple=$arch-unknown-linux-gnu
    prefix=$([ $arch = aarch64 ] && echo aarch64-linux-gnu- || echo "")
    env=()
    [ $arch = x86_64 ] && env=(LIBZ_SYS_STATIC=1)
    env "${env[@]}" cargo build --release -q --target "$triple" -p armorc -p armor-loader
    stage=$(mktemp -d)
    name=armorc-$version-$arch-linux
    mkdir "$stage/$name"
    for bin in armorc armor-loader; do
        src=$target_dir/$triple/release/$bin
        "${prefix}objcopy" --strip-debug "$src" "$stage/$name/$bin"
        f=$stage/$name/$bin
        needs=$("${prefix}objdump" -T "$f" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
        if [ "$(printf '%s\n%s\n' "$needs" "$glibc_max" | sort -V | tail -1)" != "$glibc_max" ]; then
            echo "release: $arch/$bin needs GLIBC_$needs, above the baseline $glibc_max" >&2
            exit 1
        fi
        extra=$("${prefix}objdump" -p "$f" | awk '$1 == "NEEDED" {print $2}' \
            | grep -Ev '^(libc\.so\.6|libm\.so\.6|libgcc_s\.so\.1|ld-linux-(x86-64|aarch64)\.so\.[12])$' || true)
        [ -z "$extra" ] || { echo "release: $arch/$bin links more than glibc: $extra" >&2; exit 1; }
        echo "release: $arch/$bin: needs GLIBC_$needs, $(stat -c %s "$f") bytes"
    done
    cp README.md "$stage/$name/"
    # The binaries run (aarch64 under qemu-aarch64).
    runner=()
    [ $arch = aarch64 ] && runner=(qemu-aarch64-static)
    "${runner[@]}" "$stage/$name/armorc" --version >/dev/null
    "${runner[@]}" "$stage/$name/armor-loader" --help >/dev/null
    tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner -C "$stage" -cf - "$name" \
        | gzip -n -9 > "dist/$name.tar.gz"
    rm -rf "$stage"
done
(cd dist && sha256sum armorc-"$version"-*-linux.tar.gz > SHA256SUMS && cat SHA256SUMS)
