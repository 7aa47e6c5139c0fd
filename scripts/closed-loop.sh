#!/usr/bin/env bash
# Observe, discover, compile, enforce: the closed loop of docs/observe.md. A workload script
# (execs, reads, a write, a TCP connection to a local server) runs observed
# (`armor-loader exec --lsm none --visibility process,file,network`); `armorc summary` must show
# what it did; `armorc discover` turns its telemetry into an allow-list KubeArmorPolicy, which
# must pass `armorc lint --deny warning`, and a NetworkPolicy, which must pass the Kubernetes
# schema (kubernetes-validate --strict, .ci/install-deploy.sh); `armorc compile` (default posture
# block) lowers the policy; the same script then runs enforced by
# --lsm (landlock on our plain machines, bpf or apparmor in the kernel lab) and must still
# succeed, while two things it never did are blocked: the exec of another binary and a write
# elsewhere. The work directory is not under /tmp: discover collapses volatile trees like /tmp/
# into one directory rule, which would allow the write elsewhere. The server listens on an address
# the script adds to lo (10.213.0.1/32, removed at the end; no dummy interfaces in every kernel):
# discover leaves 127.0.0.0/8 out of NetworkPolicies, as that traffic never leaves the pod. The enforced run rewrites
# the file the observed run created: Landlock grants files that exist when it is applied (a new
# file would need the right to create any file in its directory).
#   scripts/closed-loop.sh [--lsm landlock|bpf|apparmor] [--loader PATH] [--armorc PATH]
set -uo pipefail
cd "$(dirname "$0")/.."
lsm=landlock
LOADER=target/release/armor-loader
ARMORC=target/release/armorc
while [ $# -gt 0 ]; do
    case "$1" in
        --lsm) lsm=$2; shift 2 ;;
        --loader) LOADER=$2; shift 2 ;;
        --armorc) ARMORC=$2; shift 2 ;;
        *) echo "closed-loop: unknown option $1" >&2; exit 2 ;;
    esac
done
LOADER=$(realpath "$LOADER"); ARMORC=$(realpath "$ARMORC")
[ "$(id -u)" = 0 ] || { echo "closed-loop: FAIL: needs root (namespaces, BPF)"; exit 1; }
for tool in python3 bash kubernetes-validate ip; do
    command -v $tool >/dev/null || { echo "closed-loop: FAIL: $tool missing"; exit 1; }
done
mkdir -p /srv
work=$(mktemp -d /srv/armorc-loop.XXXXXX)
chmod 755 "$work"
server=
failed=0
fail() { echo "closed-loop: FAIL: $*"; failed=1; }
cleanup() {
    [ -z "$server" ] || kill "$server" 2>/dev/null
    [ -z "${addr_added:-}" ] || ip addr del "$addr/32" dev lo 2>/dev/null
    [ "$lsm" != bpf ] || "$LOADER" down >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

data=$work/data
mkdir -p "$data" "$work/observe"
echo hello > "$data/in.txt"
addr=10.213.0.1
ip addr add "$addr/32" dev lo || { fail "adding $addr to lo"; exit 1; }
addr_added=1
port=$(python3 -c 'import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$addr")
python3 -m http.server "$port" --bind "$addr" --directory "$data" >/dev/null 2>&1 &
server=$!
# Ready when it accepts: under TCG beside other lab VMs python's start can take many seconds (CI
# once saw the workload's connection refused after a 5 s wait, and every step after it fail).
ready=
for _ in $(seq 600); do (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null && { ready=1; break; }; sleep 0.1; done
[ -n "$ready" ] || { fail "the HTTP server on $addr:$port did not accept a connection within 60 s"; exit 1; }

cat > "$work/app.sh" <<APP
#!/bin/bash
set -ex
cat /etc/hostname > /dev/null
cat $data/in.txt > /dev/null
echo written > $data/out.txt
ls $data > /dev/null
exec 3<>/dev/tcp/$addr/$port
printf 'GET /in.txt HTTP/1.0\r\n\r\n' >&3
grep -q hello <&3
echo app-ok
APP
cat > "$work/workload.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: loop
  namespace: lab
spec:
  selector:
    matchLabels:
      app: loop
  template:
    metadata:
      labels:
        app: loop
    spec:
      containers:
        - name: app
          image: app
YAML
# the target to observe as: what compile writes for the workload, before any policy exists
echo '{"version":1,"targets":[{"namespace":"lab","workload":"loop","container":"app","host":false,
  "enforcement":"enabled","policies":[],"labels":{"app":"loop"}}]}' > "$work/observe/index.json"

echo "== closed-loop: 1. observe"
out=$("$LOADER" exec --bundle "$work/observe" --target lab/loop/app --lsm none \
    --visibility process,file,network --events "$work/events.json" --state-dir "$work/state" -- /bin/bash "$work/app.sh" 2>&1)
echo "$out" > "$work/observe.err"
# CI's summary keeps a FAIL line's first line only: the run's last lines go on it, joined
last_lines() { tail -n 4 "$1" | tr '\n' '|'; }
grep -qx app-ok <<<"$out" || { fail "the observed run did not finish: $(last_lines "$work/observe.err")"; sed 's/^/closed-loop: observed: /' "$work/observe.err"; }
grep visibility "$work/observe.err" | sed 's/^/closed-loop: /'

echo "== closed-loop: 2. summary"
"$ARMORC" summary "$work/events.json" > "$work/summary.txt" || fail "armorc summary"
sed 's/^/closed-loop: | /' "$work/summary.txt" | grep -E "PROCESS|FILE|PROTOCOL|/usr/bin/(cat|ls|grep)|$data|$addr" | head -30
for want in /usr/bin/cat /usr/bin/ls "$data/in.txt" "$data/out.txt" /etc/hostname "$addr" "$port"; do
    grep -qF -- "$want" "$work/summary.txt" || fail "the summary does not show $want"
done

echo "== closed-loop: 3. discover, lint, schema, compile"
"$ARMORC" discover "$work/events.json" --workloads "$work/workload.yaml" -o "$work/discovered" \
    || { fail "armorc discover"; exit 1; }
policies=$(find "$work/discovered" -name '*.kubearmorpolicy.yaml')
[ -n "$policies" ] || { fail "discover wrote no KubeArmorPolicy"; exit 1; }
sed -n '/^spec:/,$p' $policies | head -60 | sed 's/^/closed-loop: | /'
"$ARMORC" lint --deny warning $policies || fail "armorc lint --deny warning"
netpols=$(find "$work/discovered" -name '*.networkpolicy.yaml')
[ -n "$netpols" ] || fail "discover wrote no NetworkPolicy"
for n in $netpols; do
    grep -q "port: $port" "$n" || fail "$n has no egress to port $port"
    kubernetes-validate --strict --quiet "$n" && echo "closed-loop: $(basename "$n") passes the Kubernetes schema" \
        || fail "$n does not pass the Kubernetes schema"
done
"$ARMORC" compile $policies --workloads "$work/workload.yaml" --target all --default-posture block -o "$work/enforce" \
    || { fail "armorc compile"; exit 1; }

echo "== closed-loop: 4. enforce with --lsm $lsm"
[ "$lsm" != bpf ] || "$LOADER" up >/dev/null || { fail "armor-loader up"; exit 1; }
: > "$data/out.txt" # emptied: the enforced run must write it again
run() { "$LOADER" exec --bundle "$work/enforce" --target lab/loop/app --lsm "$lsm" --state-dir "$work/state" -- "$@"; }
# output through a pipe, as a container's: BPF-LSM checks writes to an inherited file by path
out=$(run /bin/bash "$work/app.sh" 2>&1)
code=$?
echo "$out" > "$work/enforce.err"
if [ "$code" = 0 ] && grep -qx app-ok <<<"$out" && [ -s "$data/out.txt" ]; then
    echo "closed-loop: the workload runs enforced: ok"
else
    fail "the workload failed enforced (exit $code): $(last_lines "$work/enforce.err")"
    sed 's/^/closed-loop: enforced: /' "$work/enforce.err"
    [ "$lsm" != bpf ] || "$LOADER" events --format text --state-dir "$work/state" 2>&1 | grep -v Passed | tail -20 | sed 's/^/closed-loop: alert: /'
fi
out=$(run /bin/bash -c /usr/bin/id 2>&1); code=$?
[ "$code" != 0 ] && echo "closed-loop: exec of /usr/bin/id blocked (exit $code)" || fail "exec of /usr/bin/id was allowed: $out"
out=$(run /bin/bash -c "echo x > $data/elsewhere.txt" 2>&1); code=$?
[ "$code" != 0 ] && [ ! -e "$data/elsewhere.txt" ] && echo "closed-loop: write of $data/elsewhere.txt blocked (exit $code)" \
    || fail "the write elsewhere was allowed: $out"

[ $failed = 0 ] && echo "closed-loop: --lsm $lsm: ok" || echo "closed-loop: --lsm $lsm: FAILED"
exit $failed
