#!/usr/bin/env bash
# Runs inside the kernel lab on a kernel where BPF-LSM cannot enforce (booted with an lsm= list
# without `bpf`, or an arm64 kernel before 6.4, which loads LSM programs but cannot attach them):
# probe must say why, with the kernel's reason, and pick the next enforcer of the order
# (apparmor); `up` must choose it and say so; `exec --lsm bpf` must refuse with the reason (exit
# 1); then the held-out end-to-end run (scripts/lab-e2e.sh) enforces through AppArmor.
#   scripts/lab-fallback.sh --expect REGEX [--loader PATH] [--no-e2e]   (REGEX: the bpf reason expected)
# --no-e2e: the probe/up/exec checks only (CI's arm64 6.1 run: emulated x86-64 shell snippets are
# slow there; the AppArmor live differential, native aarch64, enforces instead).
set -uo pipefail
cd "$(dirname "$0")/.."
LOADER=target/release/armor-loader
expect=
e2e=1
while [ $# -gt 0 ]; do
    case "$1" in
        --expect) expect=$2; shift 2 ;;
        --loader) LOADER=$2; shift 2 ;;
        --no-e2e) e2e=0; shift ;;
        *) echo "lab-fallback: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -n "$expect" ] || { echo "lab-fallback: --expect REGEX is required" >&2; exit 2; }
fail() { echo "lab-fallback: $*" >&2; exit 1; }
echo "lab: kernel $(uname -r), loader $LOADER, LSMs $(cat /sys/kernel/security/lsm)"
probe=$("$LOADER" probe --format json) || fail "probe failed"
echo "$probe"
[ "$(jq -r .chosen <<<"$probe")" = apparmor ] || fail "probe chose $(jq -r .chosen <<<"$probe"), not apparmor"
[ "$(jq -r .enforcers.bpf.usable <<<"$probe")" = false ] || fail "probe calls bpf usable"
jq -r .enforcers.bpf.reason <<<"$probe" | grep -Eq "$expect" || fail "bpf reason does not match /$expect/"
up=$("$LOADER" up 2>&1) || fail "up failed: $up"
echo "$up"
grep -q 'enforcer apparmor' <<<"$up" || fail "up did not say it chose apparmor"
dir=$(mktemp -d /tmp/fallback.XXXXXX)
cat > "$dir/p.yaml" <<'YAML'
apiVersion: security.kubearmor.com/v1
kind: KubeArmorHostPolicy
metadata:
  name: fallback
spec:
  nodeSelector:
    matchLabels:
      kubernetes.io/hostname: lab
  process:
    matchPaths:
      - path: /usr/bin/id
  action: Block
YAML
target/release/armorc compile "$dir/p.yaml" --node-labels kubernetes.io/hostname=lab --target all -o "$dir/out" >/dev/null \
    || fail "compile failed"
out=$("$LOADER" exec --bundle "$dir/out" --host --lsm bpf -- /usr/bin/true 2>&1)
rc=$?
echo "$out"
[ $rc = 1 ] || fail "exec --lsm bpf exited $rc, not 1"
grep -Eq "$expect" <<<"$out" || fail "exec --lsm bpf did not give the reason"
echo "lab-fallback: bpf refused with its reason, apparmor chosen"
if [ $e2e = 1 ]; then
    echo "lab-fallback: AppArmor end to end:"
    E2E_LSMS=apparmor LOADER=$LOADER bash scripts/lab-e2e.sh || fail "AppArmor end to end failed"
fi
echo "lab-fallback: ok"
