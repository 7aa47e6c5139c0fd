#!/usr/bin/env bash
# Runs inside the kernel lab booted with an lsm= list without `bpf` (scripts/test.sh does it):
# probe must say why BPF-LSM is unusable and pick the next enforcer of the order (apparmor), `up`
# must choose it and say so, and `exec --lsm bpf` must refuse with the reason (exit 1).
set -uo pipefail
cd "$(dirname "$0")/.."
LOADER=${1:-target/release/armor-loader}
fail() { echo "lab-no-bpf: $*" >&2; exit 1; }
grep -qw bpf /sys/kernel/security/lsm && fail "bpf is active ($(cat /sys/kernel/security/lsm)); boot with lsm= without bpf"
probe=$("$LOADER" probe --format json) || fail "probe failed"
echo "$probe"
[ "$(jq -r .chosen <<<"$probe")" = apparmor ] || fail "probe chose $(jq -r .chosen <<<"$probe"), not apparmor"
[ "$(jq -r .enforcers.bpf.usable <<<"$probe")" = false ] || fail "probe calls bpf usable"
jq -r .enforcers.bpf.reason <<<"$probe" | grep -q 'not an active LSM' || fail "bpf reason does not name the lsm= list"
up=$("$LOADER" up 2>&1) || fail "up failed: $up"
echo "$up"
grep -q 'enforcer apparmor' <<<"$up" || fail "up did not say it chose apparmor"
mkdir -p /tmp/nobpf
cat > /tmp/nobpf/p.yaml <<'YAML'
apiVersion: security.kubearmor.com/v1
kind: KubeArmorHostPolicy
metadata:
  name: nobpf
spec:
  nodeSelector:
    matchLabels:
      kubernetes.io/hostname: lab
  process:
    matchPaths:
      - path: /usr/bin/id
  action: Block
YAML
target/release/armorc compile /tmp/nobpf/p.yaml --node-labels kubernetes.io/hostname=lab --target all -o /tmp/nobpf/out >/dev/null || fail "compile failed"
out=$("$LOADER" exec --bundle /tmp/nobpf/out --host --lsm bpf -- /usr/bin/true 2>&1)
rc=$?
echo "$out"
[ $rc = 1 ] || fail "exec --lsm bpf exited $rc, not 1"
grep -q 'not an active LSM' <<<"$out" || fail "exec --lsm bpf did not give the reason"
echo "lab-no-bpf: ok (bpf refused with its reason, apparmor chosen)"
