#!/usr/bin/env bash
# `armor-loader run` on real containerd + runc containers (Debian's; .ci/install-containerd.sh).
# Starts its own containerd (own root, state and socket under a temporary directory), compiles a
# policy for a Deployment, runs the agent, starts containers the way the CRI plugin labels them
# (`ctr run --label io.kubernetes...`, a busybox root filesystem) and checks, inside them with
# `ctr task exec`:
#   bpf / apparmor (the kernel lab): a blocked read and a blocked exec fail with EACCES/EPERM while
#     allowed ones work; `status` shows the container enforced; a blocked read looping inside the
#     container never succeeds during 20 bundle swaps (recompiles) nor across a SIGKILL and
#     restart of the agent, which adopts the container instead of applying it again; a Block
#     alert names the pod and container.
#   landlock / none (our plain machines): the agent picks the enforcer by the order and `status`
#     says why a running container is not enforced; its visibility monitor (`--visibility`) writes
#     what the containers do as ContainerLog JSON naming their pod, container and labels.
# --caps LIST: the agent runs as root holding exactly these capabilities (setpriv: bounding set
# LIST, inheritable and ambient empty, RLIMIT_MEMLOCK 0), as deploy/'s DaemonSet runs it; `up`
# and the checks run with full root.
#   scripts/agent-test.sh --lsm bpf|apparmor|ORDER [--caps LIST] [--loader PATH] [--armorc PATH]
set -uo pipefail
cd "$(dirname "$0")/.."
lsm=bpf
LOADER=target/release/armor-loader
ARMORC=target/release/armorc
caps=""
while [ $# -gt 0 ]; do
    case "$1" in
        --lsm) lsm=$2; shift 2 ;;
        --caps) caps=$2; shift 2 ;;
        --loader) LOADER=$2; shift 2 ;;
        --armorc) ARMORC=$2; shift 2 ;;
        *) echo "agent-test: unknown option $1" >&2; exit 2 ;;
    esac
done
LOADER=$(realpath "$LOADER"); ARMORC=$(realpath "$ARMORC")
for tool in containerd ctr runc busybox jq; do
    command -v $tool >/dev/null || { echo "agent-test: FAIL: $tool missing (.ci/install-containerd.sh)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "agent-test: FAIL: needs root (containerd, runc)"; exit 1; }

work=$(mktemp -d /tmp/armorc-agent.XXXXXX)
state=$work/agent-state
source scripts/containerd-env.sh
failed=0
fail() { echo "agent-test: FAIL: $*"; failed=1; }
agent_pid=
cleanup() {
    [ -z "$agent_pid" ] || kill "$agent_pid" 2>/dev/null
    containerd_stop
    [ "$lsm" != apparmor ] || for p in "$work"/out/apparmor/*; do
        [ -f "$p" ] && apparmor_parser -R "$p" >/dev/null 2>&1
    done
    [ "$lsm" != bpf ] || "$LOADER" down >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

containerd_start || { fail "containerd did not start"; exit 1; }

# The container's root filesystem: static busybox; /bin/touch and /bin/cat are copies (an exec
# is decided on the file it runs, and an applet link would resolve to /bin/busybox).
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp}
cp "$(command -v busybox)" "$rootfs/bin/busybox"
for a in sh ls sleep echo id; do ln -s busybox "$rootfs/bin/$a"; done
cp "$rootfs/bin/busybox" "$rootfs/bin/touch"; cp "$rootfs/bin/busybox" "$rootfs/bin/cat"
echo "top secret" > "$rootfs/etc/secret"; echo "hello" > "$rootfs/etc/motd"

mkdir -p "$work/p" "$work/w"
policy() { # $1: message (changes the bundle's bytes between swaps)
    cat > "$work/p/block.yaml" <<EOF
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: agent-block-secret
  namespace: lab
spec:
  severity: 8
  message: "$1"
  selector:
    matchLabels:
      app: agent
  file:
    matchPaths:
      - path: /etc/secret
  process:
    matchPaths:
      - path: /bin/touch
  action: Block
EOF
}
policy "first"
cat > "$work/w/deploy.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: lab
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
        tier: front
    spec:
      containers:
        - name: app
          image: busybox
EOF
compile() { "$ARMORC" compile "$work/p" --workloads "$work/w" --target all -o "$work/out" >/dev/null 2>&1; }
compile || { fail "armorc compile"; exit 1; }
profile=$(sed -n 's/.*"apparmor_profile": "\(.*\)",/\1/p' "$work/out/index.json")

as_agent=()
# the visibility monitor where nothing enforces (in the lab the agent holds only the enforcers' capabilities)
visibility=()
case "$lsm" in bpf | apparmor) ;; *) visibility=(--visibility process,file,network --events "$work/events.json") ;; esac
[ -z "$caps" ] || as_agent=(prlimit --memlock=0:0 setpriv --inh-caps=-all --ambient-caps=-all --bounding-set="-all,+${caps//,/,+}" --)
start_agent() {
    local before
    before=$(grep -c "looked up$" "$work/agent.log" 2>/dev/null)
    "${as_agent[@]}" "$LOADER" run --bundle "$work/out" --lsm "$lsm" --containerd "$sock" --state-dir "$state" \
        "${visibility[@]}" >> "$work/agent.log" 2>&1 &
    agent_pid=$!
    for _ in $(seq 300); do [ "$(grep -c "looked up$" "$work/agent.log")" -gt "${before:-0}" ] && return 0; sleep 0.2; done
    cat "$work/agent.log"; fail "the agent did not start"; exit 1
}
[ "$lsm" != bpf ] || "$LOADER" up >/dev/null || { fail "armor-loader up"; exit 1; }
start_agent
grep "^run: .* enforcing" "$work/agent.log" | sed 's/^/agent-test: /'
[ -z "$caps" ] || echo "agent-test: the agent holds only: $(tr -d '\0' < /proc/$agent_pid/status | awk '/CapEff/ {print $2}') (CapEff; --caps $caps)"

# A pod as the CRI plugin creates it: a sandbox container holding the pod's labels (a superset of
# the template's), and containers holding only their own io.kubernetes.* labels.
pod=(--label io.kubernetes.pod.namespace=lab --label io.kubernetes.pod.name=web-5d9f-x2x
    --label io.kubernetes.pod.uid=0b6f0c5e-52c1-4c1e-9d5e-agent)
ctr_ run -d --rootfs "${pod[@]}" --label io.cri-containerd.kind=sandbox --label app=agent --label tier=front \
    --label pod-template-hash=5d9f "$rootfs" sandbox /bin/sleep 100000 >/dev/null || fail "ctr run (sandbox)"
run_container() { # $1: id; $2: container name; $3...: extra ctr run flags
    local id=$1 name=$2; shift 2
    ctr_ run -d --rootfs "$@" "${pod[@]}" --label io.cri-containerd.kind=container \
        --label io.kubernetes.container.name="$name" "$rootfs" "$id" /bin/sleep 100000 >/dev/null
}
aa_flags=()
[ "$lsm" != apparmor ] || aa_flags=(--apparmor-profile "$profile")
run_container c1 app "${aa_flags[@]}" || { fail "ctr run"; exit 1; }
run_container other sidecar || fail "ctr run (sidecar)"
# enforced when the agent's record says so
status_of() { "$LOADER" status --state-dir "$state" --format json 2>/dev/null; }
for _ in $(seq 300); do grep -q '"id": "c1"' <<< "$(status_of)" && break; sleep 0.2; done
"$LOADER" status --state-dir "$state" | sed 's/^/agent-test: status: /'

# op NAME WANT CMD...: WANT is allow or deny (EACCES/EPERM on stderr)
op() {
    local name=$1 want=$2; shift 2
    local out
    out=$(timeout 60 ctr -a "$sock" -n k8s.io task exec --exec-id "e$RANDOM$RANDOM" c1 "$@" 2>&1)
    local got=allow
    echo "$out" | grep -qE "Permission denied|Operation not permitted|permission denied" && got=deny
    if [ "$got" = "$want" ]; then echo "agent-test: $name: $got (as expected)"; else fail "$name: $got, expected $want: $out"; fi
}

case "$lsm" in
bpf | apparmor)
    c1() { status_of | jq -r ".containers[] | select(.id == \"c1\") | .$1"; }
    [ "$(c1 target)" = lab/web/app ] || fail "c1 has no target in status"
    [ "$(c1 problem)" = null ] || fail "c1 has a problem in status: $(c1 problem)"
    [ "$lsm" != bpf ] || [ "$(c1 when)" = "before the first exec" ] || echo "agent-test: note: c1 applied $(c1 when)"
    op "read /etc/secret" deny /bin/cat /etc/secret
    op "read /etc/motd" allow /bin/cat /etc/motd
    # from a shell: a task's own first exec is runc's, before the AppArmor profile applies
    op "exec /bin/touch" deny /bin/sh -c '/bin/touch /tmp/x'
    op "exec /bin/ls" allow /bin/sh -c '/bin/ls /'

    # A blocked read in a loop inside the container while the bundle is swapped 20 times and
    # the agent is SIGKILLed and restarted: one success is a gap.
    ctr_ task exec --exec-id loop c1 /bin/sh -c \
        'while :; do /bin/cat /etc/secret >/dev/null 2>&1 && echo LEAK; echo tick; done' > "$work/loop.out" 2>&1 &
    loop_pid=$!
    sleep 2
    for i in $(seq 20); do
        policy "swap $i"; compile || fail "compile $i"
        for _ in $(seq 300); do [ "$(grep -c 'bundle replaced' "$work/agent.log")" -ge "$i" ] && break; sleep 0.2; done
    done
    swaps=$(grep -c "bundle replaced" "$work/agent.log")
    echo "agent-test: $swaps bundle swap(s) applied by the agent"
    [ "$swaps" -ge 20 ] || fail "only $swaps of 20 bundle swaps seen"
    kill -9 "$agent_pid"; wait "$agent_pid" 2>/dev/null; agent_pid=
    sleep 2
    op "read /etc/secret, agent killed" deny /bin/cat /etc/secret
    start_agent
    grep -q "1 running container(s) adopted from the previous agent \[c1\]" "$work/agent.log" || fail "the restarted agent did not adopt c1: $(grep adopted "$work/agent.log" | tail -1)"
    grep "adopted" "$work/agent.log" | tail -1 | sed 's/^/agent-test: /'
    sleep 2
    # alerts are named from the agent's state, removed when the container stops: read them first
    if [ "$lsm" = bpf ]; then
        "$LOADER" events --format json --state-dir "$state" > "$work/alerts" 2>/dev/null
        named=$(grep '"Resource":"/etc/secret"' "$work/alerts" | grep '"PodName":"web-5d9f-x2x"' | grep '"ContainerName":"app"' \
            | grep -c '"PolicyName":"agent-block-secret"')
        [ "${named:-0}" -gt 0 ] && echo "agent-test: $named Block alert(s) for /etc/secret name pod web-5d9f-x2x, container app" \
            || fail "no Block alert for /etc/secret naming the pod: $(head -c 600 "$work/alerts")"
    fi
    kill "$loop_pid" 2>/dev/null; ctr_ task kill -s KILL c1 >/dev/null 2>&1; wait "$loop_pid" 2>/dev/null
    ticks=$(grep -c tick "$work/loop.out"); leaks=$(grep -c LEAK "$work/loop.out")
    echo "agent-test: blocked read looped $ticks time(s) across the swaps and the restart, $leaks success(es)"
    [ "$ticks" -gt 20 ] || fail "the loop ran only $ticks time(s)"
    [ "$leaks" = 0 ] || fail "$leaks read(s) of /etc/secret succeeded: a gap in enforcement"
    ;;
*)
    # Plain machines: nothing can restrict a running container from outside; status says why.
    chosen=$(sed -n 's/^run: \([a-z]*\) enforcing.*/\1/p' "$work/agent.log" | head -1)
    echo "agent-test: enforcer chosen by --lsm $lsm: ${chosen:-?}"
    [ -n "$chosen" ] || fail "the agent named no enforcer"
    [ "$(status_of | jq -r '.containers[] | select(.id == "c1") | .target')" = lab/web/app ] || fail "c1 was not matched to lab/web/app"
    if [ "$chosen" = landlock ]; then
        grep -q 'cannot be restricted from outside' <<< "$(status_of)" || fail "status does not say why c1 is not enforced"
    fi
    op "read /etc/secret (not enforced here)" allow /bin/cat /etc/secret
    # telemetry: the read and the exec, named by pod, container and the pod's labels (the sandbox's)
    sleep 1
    seen() { jq -c "select(.Type == \"ContainerLog\" and .PodName == \"web-5d9f-x2x\" and .ContainerName == \"app\"
        and (.Labels | split(\",\") | index(\"app=agent\")) and .Operation == \"$1\" and .Resource == \"$2\")" \
        "$work/events.json" 2>/dev/null | head -1; }
    for what in "File /etc/secret" "Process /bin/cat"; do
        read -r operation resource <<<"$what"
        [ -n "$(seen "$operation" "$resource")" ] && echo "agent-test: telemetry: $operation $resource in pod web-5d9f-x2x, container app" \
            || fail "no ContainerLog of $operation $resource naming the pod: $(grep -c . "$work/events.json" 2>/dev/null) event(s)"
    done
    ;;
esac
[ "$(status_of | jq -r '.containers[] | select(.container == "sidecar") | .target')" = null ] \
    && echo "agent-test: a container of no target is listed as unmanaged" || fail "the sidecar container is not listed as unmanaged"
[ -z "$agent_pid" ] || echo "agent-test: agent peak RSS $(awk '/VmHWM/ {print $2, $3}' /proc/$agent_pid/status) ($(grep -c . <<< "$(status_of | jq -c '.containers[]')") containers)"
[ $failed = 0 ] && echo "agent-test: --lsm $lsm${caps:+ --caps $caps}: ok" || { echo "agent-test: --lsm $lsm: FAILED"; tail -20 "$work/agent.log"; }
exit $failed
