#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need
# (each area's .ci/install-*.sh), mounts the kernel filesystems the BPF tests use, then
# `cargo test --workspace`. Needs root for apt and for the kernel tests.
set -euo pipefail
cd "$(dirname "$0")/.."

for script in .ci/install-*.sh; do
    # Benchmark tools (check-jsonschema, ...) are not needed by the tests.
    case "$script" in *install-bench.sh) continue ;; esac
    [ -e "$script" ] || continue
    echo "== $script"
    bash "$script"
done

# Kernel filesystems used by the loader tests (idempotent).
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
mountpoint -q /sys/kernel/security || mount -t securityfs securityfs /sys/kernel/security 2>/dev/null || true
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true

echo "== cargo test --workspace --release"
# --show-output: the differential tests print their decision mix and deviation counts.
cargo test --workspace --release --no-fail-fast -- --test-threads=2 --show-output "$@"

echo "== README main job: cargo run --release -- lint examples/"
cargo run --release -q -- lint examples/
