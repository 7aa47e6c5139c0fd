#!/usr/bin/env bash
# Time to enforce N running containers at agent start: a real containerd (own root, state and
# socket) runs N busybox containers labelled as the CRI plugin labels them (one Deployment each,
# so N targets), then `armor-loader run` starts; the time is from its start to its line saying the
# running containers were looked up (each matched to its target in index.json, its map image read,
# its state written and, with bpf, its rule map swapped into armor_targets: the swaps of one start
# run together, `apply_batch`). Every container must then be enforced in `status`. Peer in the same
# run: the same agent with `--lsm none` (identity, matching, state: everything but the kernel).
# Also prints the agent's peak RSS.
#   benches/agent-start.sh [N] [LSM...]            (default 1000; none, or none bpf when bpf is usable)
#   scripts/lab.sh --kernel 6.12 --mem 6000 -- bash benches/agent-start.sh 100 none bpf
# Needs: containerd, runc, ctr, busybox (.ci/install-containerd.sh), root. About 13 MB of memory
# per container (its shim); starting them takes about 85 ms each here, 2.3 s under the lab's TCG.
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
shift || true
lsms=("$@")
loader=$(realpath "${LOADER:-target/release/armor-loader}")
armorc=$(realpath "${ARMORC:-target/release/armorc}")
[ -x "$loader" ] && [ -x "$armorc" ] || { echo "agent-start: build first: cargo build --release" >&2; exit 2; }
for tool in containerd ctr runc busybox jq; do
    command -v $tool >/dev/null || { echo "agent-start: $tool missing (.ci/install-containerd.sh)" >&2; exit 2; }
done
if [ ${#lsms[@]} = 0 ]; then
    lsms=(none)
    "$loader" probe --format json 2>/dev/null | jq -e '.enforcers.bpf.usable' >/dev/null && lsms+=(bpf)
fi
work=$(mktemp -d /tmp/armorc-agent-start.XXXXXX)
source scripts/containerd-env.sh
agent_pid=
cleanup() {
    [ -z "$agent_pid" ] || kill "$agent_pid" 2>/dev/null
    containerd_stop
    [[ " ${lsms[*]} " != *" bpf "* ]] || "$loader" down >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
containerd_start || { echo "agent-start: containerd did not start" >&2; exit 1; }
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp}
cp "$(command -v busybox)" "$rootfs/bin/busybox"
ln -s busybox "$rootfs/bin/sleep"

# N Deployments of one container each, one policy for all (so N targets of 2 entries)
mkdir -p "$work/p" "$work/w"
cat > "$work/p/block.yaml" <<'EOF2'
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: bench-block
  namespace: bench
spec:
  selector:
    matchLabels:
      tier: bench
  file:
    matchPaths:
      - path: /etc/secret
  process:
    matchPaths:
      - path: /bin/touch
  action: Block
EOF2
for i in $(seq "$n"); do
    printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: w%s\n  namespace: bench\nspec:\n  selector:\n    matchLabels:\n      app: w%s\n  template:\n    metadata:\n      labels:\n        app: w%s\n        tier: bench\n    spec:\n      containers:\n        - name: main\n          image: busybox\n' "$i" "$i" "$i"
done > "$work/w/deploy.yaml"
"$armorc" compile "$work/p" --workloads "$work/w" --target all -o "$work/out" >/dev/null 2>"$work/compile.err" \
    || { cat "$work/compile.err"; echo "agent-start: compile failed" >&2; exit 1; }

start=$SECONDS
seq "$n" | xargs -P 4 -I{} ctr -a "$sock" -n k8s.io run -d --rootfs --label io.kubernetes.pod.namespace=bench \
    --label io.kubernetes.pod.name=w{}-0 --label io.kubernetes.pod.uid=uid-{} --label io.kubernetes.container.name=main \
    --label app=w{} --label tier=bench "$rootfs" "bench$$-{}" /bin/sleep 100000 >/dev/null
running=$(ctr_ task ls -q | wc -l)
echo "agent-start: kernel $(uname -r), $running of $n containers running (started in $((SECONDS - start)) s)"
[ "$running" = "$n" ] || { echo "agent-start: not every container started" >&2; exit 1; }

for lsm in "${lsms[@]}"; do
    [ "$lsm" != bpf ] || "$loader" up >/dev/null || { echo "agent-start: armor-loader up failed" >&2; exit 1; }
    rm -rf "$work/agent-state"
    t0=$(date +%s.%N)
    "$loader" run --bundle "$work/out" --lsm "$lsm" --containerd "$sock" --state-dir "$work/agent-state" \
        > "$work/agent.log" 2>&1 &
    agent_pid=$!
    for _ in $(seq 6000); do grep -q "looked up$" "$work/agent.log" && break; sleep 0.02; done
    t1=$(date +%s.%N)
    grep -q "looked up$" "$work/agent.log" || { tail "$work/agent.log"; echo "agent-start: the agent did not start" >&2; exit 1; }
    rss=$(awk '/VmHWM/ {print $2, $3}' "/proc/$agent_pid/status")
    kill "$agent_pid"; wait "$agent_pid" 2>/dev/null; agent_pid=
    # every container matched (none) and enforced (bpf: a key and the time of its swap)
    status=$("$loader" status --state-dir "$work/agent-state" --format json)
    matched=$(jq '[.containers[] | select(.target != null and .problem == null)] | length' <<<"$status")
    enforced=$(jq '[.containers[] | select(.key != null and .applied != null)] | length' <<<"$status")
    printf 'agent-start: --lsm %-5s %5d containers: %6.2f s to look up all, %d matched, %d enforced, peak RSS %s\n' \
        "$lsm" "$n" "$(echo "$t1 - $t0" | bc)" "$matched" "$enforced" "$rss"
    [ "$matched" = "$n" ] || { grep -v "applied with" "$work/agent.log" | head; echo "agent-start: not every container matched" >&2; exit 1; }
    [ "$lsm" != bpf ] || [ "$enforced" = "$n" ] || { echo "agent-start: not every container enforced" >&2; exit 1; }
    [ "$lsm" != bpf ] || "$loader" down >/dev/null
done
