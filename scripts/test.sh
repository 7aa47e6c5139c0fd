#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need (each area's
# .ci/install-*.sh), checks formatting and lints, mounts the kernel filesystems the BPF tests use,
# runs `cargo test --workspace`, builds and tests for aarch64 under qemu user mode
# (scripts/cross-check.sh: both architectures write the same bytes), then boots the kernel lab
# (scripts/lab.sh: Debian's kernel under qemu, BPF-LSM and AppArmor active) and runs the live
# enforcement tests inside it. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

for script in .ci/install-*.sh; do
    # Benchmark tools (check-jsonschema, ...) are not needed by the tests.
    case "$script" in *install-bench.sh) continue ;; esac
    [ -e "$script" ] || continue
    echo "== $script"
    bash "$script"
done

echo "== cargo fmt --all --check"
cargo fmt --all --check
echo "== cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -q -- -D warnings

# Kernel filesystems used by the loader tests (idempotent).
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
mountpoint -q /sys/kernel/security || mount -t securityfs securityfs /sys/kernel/security 2>/dev/null || true
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true

status=0
echo "== cargo test --workspace --release"
# --show-output: the differential tests print their decision mix and deviation counts.
cargo test --workspace --release --no-fail-fast -- --test-threads=2 --show-output "$@" || status=1

echo "== aarch64: cross build, tests under qemu-aarch64, byte-identical outputs (.ci/install-cross.sh)"
# The same sources for aarch64 (issue 11): .cargo/config.toml links with aarch64-linux-gnu-gcc and
# runs every test binary under qemu-aarch64 (binfmt_misc for the aarch64 binaries the CLI tests
# spawn; host tools such as apparmor_parser, skopeo or chromium run natively). Then
# scripts/cross-check.sh: the x86_64 and the aarch64 armorc over the corpus and fixtures (lint,
# compile --target all, query, explain, recommend) must write identical bytes, and the loader's
# BPF objects must be one set for both targets.
aarch64=(--release --target aarch64-unknown-linux-gnu)
cross_start=$SECONDS
cargo build "${aarch64[@]}" -q -p armorc -p armor-loader || status=1
cargo test "${aarch64[@]}" -p armorc-compiler -p armorc-recommend -p armorc --no-fail-fast \
    -- --test-threads=2 "$@" || status=1
scripts/cross-check.sh || status=1
echo "aarch64 section: $((SECONDS - cross_start))s"

echo "== fuzzing, bounded: scripts/fuzz.sh 20 (every target; a crash fails, its reproducer kept)"
fuzz_start=$SECONDS
scripts/fuzz.sh 20 || status=1
echo "fuzz section: $((SECONDS - fuzz_start))s"

echo "== kernel lab: live enforcement tests (scripts/lab.sh)"
# The runtime's kernel test binaries, already built by the run above.
test_bins() { # cargo test args -> the test executables it builds
    cargo test --release "$@" --no-run --message-format=json 2>/dev/null \
        | grep -o '"executable":"[^"]*/deps/[^"]*"' | cut -d'"' -f4
}
kernel_tests=(-p armor-loader --test kernel --test live --test differential)
mapfile -t lab_bins < <(test_bins "${kernel_tests[@]}")
[ ${#lab_bins[@]} -eq 3 ] || { echo "test.sh: kernel test binaries not found" >&2; exit 1; }
# Debian 6.1 amd64: everything, the AppArmor live differential included.
scripts/lab.sh --kernel 6.1 -- scripts/lab-tests.sh "${lab_bins[@]}" || status=1
# Debian's other kernel line, 6.12: the same but the AppArmor differential (its profiles and
# parser are the same; the BPF side is what changes with the kernel) and the test-run harness
# differential (it runs on this machine's 6.18 above and on the two other kernel lines; CI time).
mapfile -t lab_bins_612 < <(printf '%s\n' "${lab_bins[@]}" | grep -v '/deps/differential-')
scripts/lab.sh --kernel 6.12 -- scripts/lab-tests.sh --skip live_apparmor_vs_model "${lab_bins_612[@]}" || status=1
# BPF-LSM left out of lsm=: probe, up and exec say why and choose AppArmor, the next in the
# order, which then enforces the held-out set.
scripts/lab.sh --kernel 6.1 --append "lsm=landlock,lockdown,yama,apparmor" -- \
    scripts/lab-fallback.sh --expect 'not an active LSM' || status=1
# arm64 under qemu-system-aarch64: aarch64 loader and test binaries (cross-built;
# .ci/install-cross.sh), the machine's x86-64 tools through binfmt_misc. Debian 6.12 arm64 runs
# what 6.12 amd64 runs; 6.1 arm64 loads our LSM programs but cannot attach them (ENOTSUPP: no
# BPF trampolines on arm64 before 6.4), so there the order must fall back to AppArmor.
arm=aarch64-unknown-linux-gnu
if cargo build --release -q --target $arm -p armor-loader; then
    mapfile -t arm_bins < <(test_bins --target $arm "${kernel_tests[@]}")
    [ ${#arm_bins[@]} -eq 3 ] || { echo "test.sh: aarch64 kernel test binaries not found" >&2; exit 1; }
    # An emulated arm64 machine is slow (16 program loads through the verifier take minutes):
    # the kernel tests and a reduced live run (the test says so); the harness differential and
    # the end-to-end run are covered on the amd64 kernels (CI time).
    mapfile -t arm_bins < <(printf '%s\n' "${arm_bins[@]}" | grep -v '/deps/differential-')
    ARMORC_LIVE_OPS_PER_IMAGE=10 scripts/lab.sh --kernel 6.12-arm64 -- scripts/lab-tests.sh --skip live_apparmor_vs_model \
        --no-e2e --loader target/$arm/release/armor-loader "${arm_bins[@]}" || status=1
    scripts/lab.sh --kernel 6.1-arm64 -- scripts/lab-fallback.sh --expect ENOTSUPP --no-e2e \
        --loader target/$arm/release/armor-loader || status=1
else
    echo "test.sh: the aarch64 loader did not build" >&2
    status=1
fi

echo "== README main job: cargo run --release -- lint examples/"
cargo run --release -q -- lint examples/ || status=1
exit $status
