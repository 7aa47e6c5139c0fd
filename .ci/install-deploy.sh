#!/usr/bin/env bash
# deploy/'s checks (scripts/deploy-check.sh): kubernetes-validate from PyPI (the Kubernetes
# OpenAPI schemas, offline) and systemd-analyze from Debian's systemd.
set -euo pipefail
command -v kubernetes-validate >/dev/null 2>&1 \
    || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore kubernetes-validate
command -v systemd-analyze >/dev/null 2>&1 || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends systemd >/dev/null 2>&1 || { echo "install-deploy: apt-get install systemd failed" >&2; exit 1; }
}
