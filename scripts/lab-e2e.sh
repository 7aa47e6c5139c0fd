#!/usr/bin/env bash
# armor-loader end to end in the kernel lab, on a held-out policy set: policies are drawn at
# random (seed printed; SEED=N to replay) from pools of paths, protocols and capabilities, so no
# policy of this run is in the repository. They are compiled with `armorc compile --target all`
# and enforced through `armor-loader up` + `armor-loader exec` with --lsm bpf and --lsm apparmor;
# every operation's real result is compared with `armorc query` for the same real operation, and
# the Block alerts of `armor-loader events --format json` are checked (PolicyName, Operation,
# Resource, Enforcer, Result). `armorc query` answers as BPF-LSM does: where AppArmor answers
# otherwise, the compile must have warned about it (a divergence in OUT/divergence.json for this
# operation with AppArmor's answer, issue 16); an AppArmor difference it did not predict fails the
# run as a BPF-LSM difference does. E2E_LSMS="apparmor" limits the enforcers tried (default "bpf apparmor").
set -uo pipefail
cd "$(dirname "$0")/.."
ARMORC=${ARMORC:-target/release/armorc}
LOADER=${LOADER:-target/release/armor-loader}
SEED=${SEED:-$(date +%s)}
RANDOM=$SEED
work=$(mktemp -d /tmp/armorc-e2e.XXXXXX)
echo "lab-e2e: seed $SEED (replay: scripts/lab.sh -- env SEED=$SEED scripts/lab-e2e.sh)"

# pick ITEM...: one of them, in $picked. Not through $(...): bash reseeds RANDOM in a subshell, so
# the run would not replay from its seed.
pick() { local a=("$@"); picked=${a[RANDOM % ${#a[@]}]}; }

# predicted KIND WHAT GOT: does OUT/divergence.json hold, for the target, a divergence of this
# operation (`open /etc/shells ...`, `exec /usr/bin/id`, `socket stream/tcp`, `capability
# sys_chroot`) where AppArmor answers GOT? Prints its warning (code, why) when it does.
predicted() {
    python3 - "$work/out/divergence.json" "$@" <<'PY'
import json, sys
path, kind, what, got = sys.argv[1:5]
doc = json.load(open(path))
op = {"capable": "capability"}.get(kind, kind)
for target in (t for t in doc["targets"] if t["target"] == "lab/app/main"):
    for d in (doc["divergences"][i] for i in target["divergences"]):
        words = d["operation"].split()
        subject = words[1].split("/")[-1] if kind == "socket" else words[1]
        if words[0] == op and subject == what and d["apparmor"].startswith({"deny": "denies", "allow": "allows"}[got]):
            print(f"{d['code']}: {d['why']}")
            sys.exit(0)
sys.exit(1)
PY
}
EXECS=(/usr/bin/id /usr/bin/uname /usr/bin/whoami /usr/bin/hostname /usr/bin/nproc /usr/bin/tty /usr/bin/logname)
FILES=(/etc/hostname /etc/os-release /etc/debian_version /etc/issue /etc/shells /etc/host.conf)
DIRS=(/etc/ssl/ /etc/apt/ /etc/default/)
mkdir -p "$work/p" "$work/w"
: > "$work/blocked"
n_pol=$((1 + RANDOM % 3))
for i in $(seq 1 $n_pol); do
    pick "${EXECS[@]}"; e1=$picked; pick "${FILES[@]}"; f1=$picked; pick "${FILES[@]}"; f2=$picked
    pick "${DIRS[@]}"; d1=$picked; pick tcp udp; proto=$picked; sev=$((1 + RANDOM % 10))
    pick true false; ro=$picked
    cat > "$work/p/held-$i.yaml" <<EOF
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: held-out-$SEED-$i
  namespace: lab
spec:
  severity: $sev
  tags: ["held-out", "run-$SEED"]
  message: "held-out policy $i"
  selector:
    matchLabels:
      app: e2e
  process:
    matchPaths:
      - path: $e1
  file:
    matchPaths:
      - path: $f1
      - path: $f2
        readOnly: $ro
    matchDirectories:
      - dir: $d1
        recursive: true
  network:
    matchProtocols:
      - protocol: $proto
  capabilities:
    matchCapabilities:
      - capability: sys_chroot
  action: Block
EOF
done
cat > "$work/w/app.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: lab
spec:
  selector:
    matchLabels:
      app: e2e
  template:
    metadata:
      labels:
        app: e2e
    spec:
      containers:
        - name: main
          image: debian:12
EOF
cat "$work"/p/*.yaml | grep -E "name: held|path:|dir:|protocol:|readOnly" | tr -s ' ' | paste -sd' ' | fold -w 160
"$ARMORC" compile "$work/p" --workloads "$work/w" --target all -o "$work/out" --default-posture audit || exit 1
img="$work/out/$(sed -n 's/.*"bpf": "\(.*\)",/\1/p' "$work/out/index.json")"

# Operations: a bash builtin or one exec each, so each result is one decision chain.
# kind | what | shell snippet | armorc query lines, `;;`-separated (the operation's hooks: denied
# if any denies). A denial shows as "Permission denied" (EACCES) or "Operation not permitted"
# (EPERM, a refused capability) on stderr; other failures (a program's own exit status, a refused
# TCP connection) are not denials.
ops=()
# The kernel decides on the resolved path (/etc/os-release is a symlink to ../usr/lib/os-release),
# so the model is asked about that path.
for e in "${EXECS[@]}"; do
    r=$(readlink -f "$e")
    ops+=("exec|$r|$e|{\"op\":\"exec\",\"path\":\"$r\",\"source\":\"/usr/bin/bash\"}")
done
for f in "${FILES[@]}" /etc/ssl/openssl.cnf /etc/apt/sources.list /etc/default/useradd; do
    [ -e "$f" ] || continue
    r=$(readlink -f "$f")
    ops+=("open|$r|exec 3<$f|{\"op\":\"open\",\"path\":\"$r\",\"source\":\"/usr/bin/bash\",\"owner\":true}")
    ops+=("write|$r|printf x >>$f|{\"op\":\"write\",\"path\":\"$r\",\"source\":\"/usr/bin/bash\",\"owner\":true}")
done
ops+=("socket|tcp|exec 3<>/dev/tcp/127.0.0.1/9|{\"op\":\"socket\",\"type\":\"stream\",\"protocol\":\"tcp\",\"source\":\"/usr/bin/bash\"}")
ops+=("socket|udp|exec 3<>/dev/udp/127.0.0.1/9|{\"op\":\"socket\",\"type\":\"dgram\",\"protocol\":\"udp\",\"source\":\"/usr/bin/bash\"}")
ops+=("capable|sys_chroot|/usr/sbin/chroot / /usr/bin/true|{\"op\":\"exec\",\"path\":\"/usr/sbin/chroot\",\"source\":\"/usr/bin/bash\"};;{\"op\":\"capable\",\"capability\":\"sys_chroot\",\"source\":\"/usr/sbin/chroot\"};;{\"op\":\"exec\",\"path\":\"/usr/bin/true\",\"source\":\"/usr/sbin/chroot\"}")

"$LOADER" up --max-alerts-per-sec 0 || exit 1
# without auditd the kernel prints AppArmor's audit records through printk_ratelimit(): keep them all
sysctl -q kernel.printk_ratelimit=0
failed=0
for lsm in ${E2E_LSMS:-bpf apparmor}; do
    agree=0; total=0
    for op in "${ops[@]}"; do
        IFS='|' read -r kind what snippet queries <<< "$op"
        # the model: one answer per hook chain line; the operation is denied if any is
        want=allow
        while IFS= read -r a; do
            case "$a" in *'"decision":"deny"'*) want=deny ;; esac
        done < <(printf '%s\n' "${queries//;;/$'\n'}" | "$ARMORC" query --image "$img")
        timeout 30 "$LOADER" exec --bundle "$work/out" --target lab/app/main --lsm "$lsm" -- /usr/bin/bash -c "$snippet" \
            >/dev/null 2> "$work/stderr"
        rc=$?
        got=allow
        grep -qE "Permission denied|Operation not permitted" "$work/stderr" && got=deny
        # the loader could not put CMD under the enforcer: no decision at all (fails for both)
        grep -q "^armor-loader: could not" "$work/stderr" && { got=error; failed=1; }
        total=$((total + 1))
        if [ "$got" = "$want" ]; then
            agree=$((agree + 1))
            [ "$got" = deny ] && echo "$lsm|$kind|$what" >> "$work/blocked"
        elif [ "$lsm" = apparmor ] && [ "$got" != error ] && why=$(predicted "$kind" "$what" "$got"); then
            agree=$((agree + 1))
            echo "lab-e2e: --lsm apparmor: $kind $what: kernel $got, BPF-LSM model $want, as compile warned ($why)"
            [ "$got" = deny ] && echo "$lsm|$kind|$what" >> "$work/blocked"
        else
            echo "lab-e2e: DISAGREE --lsm $lsm: $kind $what: kernel $got (status $rc), model $want"
            head -3 "$work/stderr" | sed 's/^/    stderr: /'
            failed=1
        fi
    done
    echo "lab-e2e: --lsm $lsm: $total operations, $agree agree with armorc query (AppArmor: or with a divergence compile warned about)"
done

# Block alerts: for every operation an enforcer denied (as the model says), that enforcer's alert
# naming the policy and the resource (AppArmor's from the kernel log, mapped through the bundle).
"$LOADER" events --format json --bundle "$work/out" > "$work/events.json" 2> "$work/events.err"
cat "$work/events.err"
echo "lab-e2e: $(grep -c BPFLSM "$work/events.json") BPF-LSM alerts, $(grep -c '"Enforcer":"AppArmor"' "$work/events.json") AppArmor alerts"
grep -m1 BPFLSM "$work/events.json"
grep -m1 '"Enforcer":"AppArmor"' "$work/events.json"
while IFS='|' read -r lsm kind what; do
    case "$kind" in
        exec) pat="\"Operation\":\"Process\",\"Resource\":\"$what\"" ;;
        open|write) pat="\"Operation\":\"File\",\"Resource\":\"$what\"" ;;
        *) continue ;;
    esac
    case "$lsm" in bpf) enforcer=BPFLSM ;; *) enforcer=AppArmor ;; esac
    if ! grep -F "$pat" "$work/events.json" | grep -F "\"Enforcer\":\"$enforcer\"" \
        | grep -F '"Result":"Permission denied"' | grep -q '"PolicyName":"held-out-'"$SEED"'-[0-9]*"'; then
        echo "lab-e2e: MISSING $enforcer alert for blocked $kind $what"
        failed=1
    fi
done < "$work/blocked"
echo "lab-e2e: checked alerts for $(wc -l < "$work/blocked") blocked operations"
"$LOADER" down
rm -rf "$work"
exit $failed
