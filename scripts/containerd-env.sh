# Sourced by scripts/agent-test.sh and benches/agent-start.sh: a containerd of the caller's own
# (root, state and socket under $work, which the caller creates; the CRI plugin off: `ctr run
# --label` sets the labels it would).
#   containerd_start   start it and wait for its socket (sets sock, ctd_pid); 1 if it did not start
#   ctr_ ARGS...       ctr on it, namespace k8s.io
#   containerd_stop    kill every task, remove the containers, stop containerd, unmount its root
sock=$work/containerd.sock
ctd_pid=
ctr_() { ctr -a "$sock" -n k8s.io "$@"; }
containerd_start() {
    cat > "$work/config.toml" <<EOF2
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
EOF2
    containerd --config "$work/config.toml" > "$work/containerd.log" 2>&1 &
    ctd_pid=$!
    for _ in $(seq 300); do ctr -a "$sock" version >/dev/null 2>&1 && return 0; sleep 0.2; done
    tail -5 "$work/containerd.log"
    return 1
}
containerd_stop() {
    ctr_ task ls -q 2>/dev/null | xargs -r -P 8 -n 1 ctr -a "$sock" -n k8s.io task kill -s KILL >/dev/null 2>&1
    sleep 1
    ctr_ containers ls -q 2>/dev/null | xargs -r -P 8 -n 1 ctr -a "$sock" -n k8s.io task rm -f >/dev/null 2>&1
    ctr_ containers ls -q 2>/dev/null | xargs -r -n 50 ctr -a "$sock" -n k8s.io containers rm >/dev/null 2>&1
    [ -z "$ctd_pid" ] || { kill "$ctd_pid" 2>/dev/null; wait "$ctd_pid" 2>/dev/null; }
    umount -R "$work/root" 2>/dev/null
}
