#!/usr/bin/env bash
# deploy/'s checks (scripts/deploy-check.sh) and the closed loop (scripts/closed-loop.sh, which
# validates discover's NetworkPolicies the same way): kubernetes-validate from PyPI (the Kubernetes
# OpenAPI schemas, offline), systemd-analyze from Debian's systemd, `ip` from iproute2 (the loop's
# server address on lo), kubectl from Debian's kubernetes-client (its built-in kustomize merges
# compile's patches/landlock/ into workloads for tests/compile_cli.rs and runtime/tests/armor_exec.rs).
set -euo pipefail
command -v kubernetes-validate >/dev/null 2>&1 \
    || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore kubernetes-validate
need=()
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
        || { echo "install-deploy: apt-get install ${need[*]} failed" >&2; exit 1; }
fi
