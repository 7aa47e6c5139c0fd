#!/usr/bin/env bash
# deploy/ checked: every Kubernetes manifest of the kustomization validates strictly against the
# Kubernetes schemas (kubernetes-validate, PyPI: .ci/install-deploy.sh) and a sabotaged copy does
# not; nothing is privileged and no container adds a capability outside the least-privilege
# table (docs/runtime.md); the systemd unit parses cleanly (systemd-analyze verify, no warning).
set -uo pipefail
cd "$(dirname "$0")/.."
failed=0
fail() { echo "deploy-check: FAIL: $*"; failed=1; }
command -v kubernetes-validate >/dev/null || { fail "kubernetes-validate missing (.ci/install-deploy.sh)"; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# the kustomization's resources are exactly the manifests in deploy/
listed=$(sed -n '/^resources:/,/^[a-z]/s/^  - //p' deploy/kustomization.yaml | sort)
present=$(cd deploy && ls *.yaml | grep -v '^kustomization.yaml$' | sort)
[ "$listed" = "$present" ] || fail "kustomization resources ($listed) are not the manifests in deploy/ ($present)"
for f in $listed; do
    kubernetes-validate --strict --quiet "deploy/$f" || fail "deploy/$f does not validate"
done
# the validator can fail: a misspelt field is refused
sed 's/allowPrivilegeEscalation:/allowPrivilegeEscalaton:/' deploy/daemonset.yaml > "$work/sabotaged.yaml"
kubernetes-validate --strict --quiet "$work/sabotaged.yaml" >/dev/null 2>&1 && fail "a misspelt field passed validation"

grep -n 'privileged: true' deploy/*.yaml && fail "a privileged container"
allowed="BPF PERFMON SYS_PTRACE MAC_ADMIN SYSLOG"
for cap in $(sed -n 's/.*add: \[\(.*\)\].*/\1/p' deploy/daemonset.yaml | tr -d '" ' | tr ',' ' '); do
    [[ " $allowed " == *" $cap "* ]] || fail "capability $cap is not in the least-privilege table"
done
cat deploy/daemonset.yaml deploy/armor-loader.service | grep -v '^ *#' | grep -q SYS_ADMIN && fail "SYS_ADMIN is granted"

if command -v systemd-analyze >/dev/null; then
    mkdir -p "$work/unit"
    loader=$(realpath target/release/armor-loader 2>/dev/null || command -v true)
    sed "s#/usr/local/bin/armor-loader#$loader#" deploy/armor-loader.service > "$work/unit/armor-loader.service"
    out=$(systemd-analyze verify "$work/unit/armor-loader.service" 2>&1)
    [ -z "$out" ] || fail "systemd-analyze verify: $out"
else
    [ "${CI:-}" != true ] || fail "systemd-analyze missing"
    echo "deploy-check: skipped the systemd unit: systemd-analyze missing"
fi
[ $failed = 0 ] && echo "deploy-check: ok ($(echo $listed | wc -w) manifests valid against the Kubernetes schemas, a sabotaged one refused, unit parsed)"
exit $failed
