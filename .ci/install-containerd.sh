#!/usr/bin/env bash
# containerd + runc (Debian's) for `armor-loader run`'s tests, which start their own containerd
# (own root, state and socket); protoc for the containerd-client crate's build script (it
# generates the gRPC bindings from containerd's .proto files).
set -euo pipefail
need=()
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
command -v busybox >/dev/null 2>&1 || need+=(busybox-static)   # the test containers' root filesystem
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
        || { echo "install-containerd: apt-get install ${need[*]} failed" >&2; exit 1; }
fi
