#!/usr/bin/env bash
# BPF toolchain for runtime/build.rs and the kernel tests: clang (CO-RE objects), libbpf headers,
# bpftool (vmlinux.h regeneration, debugging). Also mounts bpffs/securityfs/tracefs if missing.
set -euo pipefail
need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
command -v bpftool >/dev/null 2>&1 || need+=(bpftool)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)   # runtime/tests/kernel.rs
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || { echo "install-bpf: apt-get install ${need[*]} failed" >&2; exit 1; }
fi
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
mountpoint -q /sys/kernel/security || mount -t securityfs securityfs /sys/kernel/security || true
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing || true
