#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need (each area's
# .ci/install-*.sh), checks formatting and lints, mounts the kernel filesystems the BPF tests use,
# runs `cargo test --workspace`, then boots the kernel lab (scripts/lab.sh: Debian's kernel under
# qemu, BPF-LSM and AppArmor active) and runs the live enforcement tests inside it. Needs root.
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

echo "== kernel lab: live enforcement tests (scripts/lab.sh)"
# The runtime's kernel test binaries, already built by the run above.
mapfile -t lab_bins < <(cargo test --release -p armor-loader --test kernel --test live --no-run --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*/deps/[^"]*"' | cut -d'"' -f4)
[ ${#lab_bins[@]} -eq 2 ] || { echo "test.sh: kernel test binaries not found" >&2; exit 1; }
scripts/lab.sh --kernel 6.1 -- scripts/lab-tests.sh "${lab_bins[@]}" || status=1
# Debian's other kernel line: the programs load, rule maps swap, enforcement in own namespaces.
kernel_bin=$(printf '%s\n' "${lab_bins[@]}" | grep '/deps/kernel-')
scripts/lab.sh --kernel 6.12 -- "$kernel_bin" --test-threads=1 --show-output --color never || status=1

echo "== README main job: cargo run --release -- lint examples/"
cargo run --release -q -- lint examples/ || status=1
exit $status
