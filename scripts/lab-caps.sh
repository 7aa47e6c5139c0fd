#!/usr/bin/env bash
# Runs inside the kernel lab (scripts/lab.sh, as root): the smallest capability set each
# armor-loader job needs, measured, as a test of the table in docs/runtime.md ("Least privilege").
#
# Every trial runs one loader command as uid 0 with a reduced capability set, the way a container
# runtime runs a root container with `capabilities: add: [...]`: setpriv empties the inheritable
# and ambient sets and limits the bounding set to the set under test, so at exec the kernel gives
# root exactly the bounding set as permitted and effective capabilities (capabilities(7), "Programs
# run as root": P'(permitted) = P(inheritable) | P(bounding); inheritable is empty). A wrapper
# reads /proc/self/status in the process that then execs the loader and the trial fails unless
# CapEff = CapPrm = CapBnd = the set and CapInh = CapAmb = 0: the kernel enforced exactly that set.
# Every trial also runs with RLIMIT_MEMLOCK 0 (BPF memory is charged to the memory cgroup since
# Linux 5.11, so neither CAP_SYS_RESOURCE, CAP_IPC_LOCK nor a raised limit is needed).
#
# Per job: the minimal set must succeed (the job's effect is checked for real, by a full-root
# process: programs attached, an exec blocked, an alert read), each single removal from it must
# fail, and no capabilities at all must fail; some alternatives are tried as well. Exits non-zero
# when any trial's outcome differs from the table (then the table or the loader changed).
#
#   scripts/lab-caps.sh [--loader PATH] [--armorc PATH] [--only JOB,...] [--alternatives]
#   scripts/lab.sh --kernel 6.1 -- scripts/lab-caps.sh --loader target/release/armor-loader
#
# JOB: probe up exec-bpf exec-bpf-host apply remove events events-parent exec-apparmor
# events-apparmor exec-landlock exec-landlock-drop exec-landlock-net down (default: all). --alternatives also runs
# the slow alternatives, `probe` and `up` with CAP_SYS_ADMIN instead of CAP_BPF + CAP_PERFMON
# (each load of our 16 LSM programs takes 40 s or more under TCG). Jobs the kernel cannot run
# (an LSM not active, Landlock ABI below 3) are skipped, said in the output.
set -euo pipefail
cd "$(dirname "$0")/.."
loader=target/release/armor-loader
armorc=target/release/armorc
only=""
alternatives=0
while [ $# -gt 0 ]; do
    case "$1" in
        --loader) loader=$2; shift 2 ;;
        --armorc) armorc=$2; shift 2 ;;
        --only) only=",$2,"; shift 2 ;;
        --alternatives) alternatives=1; shift ;;
        -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "lab-caps: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "lab-caps: must run as root (inside scripts/lab.sh)" >&2; exit 2; }
for tool in setpriv prlimit jq; do
    command -v "$tool" >/dev/null || { echo "lab-caps: $tool missing" >&2; exit 2; }
done
# absolute paths: the uid-65534 trial must reach them, and trials run from other directories
loader=$(realpath "$loader")
armorc=$(realpath "$armorc")

work=$(mktemp -d /tmp/armorc-caps.XXXXXX)
# world-readable: one trial runs the loader as uid 65534 on this bundle, and the loader from here
# (the checkout may sit under a directory uid 65534 cannot enter, as a mktemp -d clone does)
chmod 755 "$work"
install -m 0755 "$loader" "$work/armor-loader"
loader_built=$loader
loader=$work/armor-loader
hold_pid="" # a target held running by the events-parent job (released on exit too)
trap '[ -z "$hold_pid" ] || release_held; rm -rf "$work"' EXIT
lsms=$(cat /sys/kernel/security/lsm 2>/dev/null || echo unknown)
echo "lab-caps: kernel $(uname -r), LSMs $lsms, loader $loader_built"
echo "lab-caps: kernel.unprivileged_bpf_disabled=$(cat /proc/sys/kernel/unprivileged_bpf_disabled)" \
    "kernel.dmesg_restrict=$(cat /proc/sys/kernel/dmesg_restrict) (the checks below depend on both)"

# Capability numbers (linux/capability.h) of every name a trial uses: for the expected masks.
declare -A CAPNUM=([chown]=0 [dac_override]=1 [dac_read_search]=2 [fowner]=3 [setgid]=6 [setuid]=7
    [setpcap]=8 [net_admin]=12 [ipc_lock]=14 [sys_ptrace]=19 [sys_admin]=21 [sys_resource]=24
    [mac_override]=32 [mac_admin]=33 [syslog]=34 [perfmon]=38 [bpf]=39)
mask() { # CAPS (comma list): the 16-hex-digit mask /proc/PID/status prints
    local m=0 c
    for c in ${1//,/ }; do
        [ -n "${CAPNUM[$c]:-}" ] || { echo "lab-caps: no number for capability $c" >&2; exit 2; }
        m=$((m | 1 << CAPNUM[$c]))
    done
    printf '%016x' "$m"
}

# as_caps USER CAPS CMD...: CMD as USER (root, or a uid) holding exactly CAPS, RLIMIT_MEMLOCK 0.
# The capability sets seen by the process that execs CMD go to $work/caps.seen (fd 3 is opened
# by this root shell, so a non-root wrapper can write it; closed before CMD runs).
as_caps() {
    local user=$1 caps=$2
    shift 2
    local bset=-all ids=()
    [ -z "$caps" ] || bset="-all,+${caps//,/,+}"
    [ "$user" = root ] || ids=(--reuid="$user" --regid="$user" --clear-groups)
    prlimit --memlock=0:0 setpriv "${ids[@]}" --inh-caps=-all --ambient-caps=-all --bounding-set="$bset" -- \
        bash -c 'while read -r k v; do case $k in Cap*) echo "$k $v" >&3 ;; esac; done </proc/self/status
                 exec 3>&-; exec "$@"' _ "$@" 3>"$work/caps.seen"
}

# The bundle: one container target blocking /usr/bin/id (lab/app/main), one that also blocks
# CAP_SYS_CHROOT (lab/capdrop/main: its Landlock plan drops a capability), and the host.
mkdir -p "$work/p" "$work/w"
cat > "$work/p/caps.yaml" <<'YAML'
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: caps-block-id
  namespace: lab
spec:
  selector:
    matchLabels:
      app: caps
  process:
    matchPaths:
      - path: /usr/bin/id
  action: Block
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: caps-drop-chroot
  namespace: lab
spec:
  selector:
    matchLabels:
      drop: chroot
  capabilities:
    matchCapabilities:
      - capability: sys_chroot
  action: Block
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: caps-block-udp
  namespace: lab
spec:
  selector:
    matchLabels:
      net: udp
  network:
    matchProtocols:
      - protocol: udp
  action: Block
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorHostPolicy
metadata:
  name: caps-host-block-id
spec:
  nodeSelector:
    matchLabels:
      kubernetes.io/hostname: lab
  process:
    matchPaths:
      - path: /usr/bin/id
  action: Block
YAML
cat > "$work/w/pods.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: app
  namespace: lab
  labels:
    app: caps
spec:
  containers:
    - name: main
      image: debian:12
---
apiVersion: v1
kind: Pod
metadata:
  name: capdrop
  namespace: lab
  labels:
    app: caps
    drop: chroot
spec:
  containers:
    - name: main
      image: debian:12
---
apiVersion: v1
kind: Pod
metadata:
  name: netblock
  namespace: lab
  labels:
    app: caps
    net: udp
spec:
  containers:
    - name: main
      image: debian:12
YAML
bundle=$work/bundle
"$armorc" compile "$work/p" --workloads "$work/w" --node-labels kubernetes.io/hostname=lab --target all \
    -o "$bundle" >/dev/null 2>"$work/compile.err" || { cat "$work/compile.err"; echo "lab-caps: compile failed" >&2; exit 1; }
# The command every exec trial runs: an allowed exec (true), then the blocked one (id). The job
# worked when `ran-ok` is printed and id is refused: exit 126 and sh's "Permission denied" (a
# loader error exits 1 before sh runs; no enforcement lets id run: exit 0).
probe_cmd=(/bin/sh -c '/usr/bin/true && echo ran-ok; /usr/bin/id')
blocked() { # OUT ERR RC: did the target's command run, with id refused?
    [ "$3" = 126 ] && grep -q '^ran-ok$' "$1" && grep -q 'Permission denied' "$2"
}

# --- root-side helpers (full capabilities): state before a trial, checks after it -------------
pins=/sys/fs/bpf/armorc
root_down() { "$loader" down >/dev/null 2>&1 || true; }
links_up() { [ "$(find "$pins/links" -mindepth 1 2>/dev/null | wc -l)" = 16 ]; }
ensure_up() {
    links_up && return 0
    echo "lab-caps: (root) armor-loader up, for the jobs that need the agent"
    "$loader" up --lsm bpf >/dev/null 2>"$work/root.err" || { cat "$work/root.err"; echo "lab-caps: root up failed" >&2; exit 1; }
}
root_blocked_exec() { # LSM: as full root, does the container target block id? (0 = yes)
    local rc=0
    "$loader" exec --bundle "$bundle" --target lab/app/main --lsm "$1" -- "${probe_cmd[@]}" \
        >"$work/root.out" 2>"$work/root.err" || rc=$?
    blocked "$work/root.out" "$work/root.err" "$rc"
}

# --- jobs: job_NAME USER CAPS runs the job under as_caps and checks its effect ----------------
# Returns 0 when the job did its work; `why` holds the first line of the reason otherwise.
why=""
first_err() { # FILE: the first line saying why (the loader's own notes skipped), temporary paths folded
    local line
    line=$(grep -v -e '^armor-loader: enforcer ' -e '^armor-loader: landlock: lab/' "$1" | head -1 || true)
    [ -n "$line" ] || line="(no message)"
    fold_tmp "${line#armor-loader: }"
}
fold_tmp() { sed -E 's#/tmp/[.A-Za-z0-9_-]+/#TMP/#g; s#armorc-probe-[0-9]+#armorc-probe-PID#g' <<<"$1"; }
shorten() { # TEXT: at most about 150 characters, the start and the end kept (the errno is at the end)
    local t=$1
    if [ ${#t} -le 150 ]; then echo "$t"; else echo "${t:0:60} ... ${t: -85}"; fi
}
run_exec() { # USER CAPS LSM TARGET-ARGS...: exec trial, checked by `blocked`
    local user=$1 caps=$2 lsm=$3 rc=0
    shift 3
    as_caps "$user" "$caps" "$loader" exec --bundle "$bundle" "$@" --lsm "$lsm" -- "${probe_cmd[@]}" \
        >"$work/out" 2>"$work/err" || rc=$?
    blocked "$work/out" "$work/err" "$rc" && return 0
    why="exit $rc: $(first_err "$work/err")"
    return 1
}

prep_probe() { root_down; } # nothing attached: probe test-loads the programs
job_probe() {
    local rc=0
    as_caps "$1" "$2" "$loader" probe --format json >"$work/out" 2>"$work/err" || rc=$?
    if [ $rc != 0 ]; then why="exit $rc: $(first_err "$work/err")"; return 1; fi
    # Success: both enforcers that need privilege are reported usable (as full root would).
    # Landlock needs none (and its answer depends on the kernel's ABI only).
    why=$(jq -r '[.enforcers | to_entries[] | select(.key == "bpf" or .key == "apparmor")
        | select(.value.usable | not) | "\(.key) not usable: \(.value.reason)"] | join("; ")' "$work/out")
    why=$(fold_tmp "$why")
    [ -z "$why" ]
}

prep_up() { root_down; }
job_up() {
    local rc=0
    as_caps "$1" "$2" "$loader" up --lsm bpf >"$work/out" 2>"$work/err" || rc=$?
    if [ $rc != 0 ]; then why="exit $rc: $(first_err "$work/err")"; return 1; fi
    links_up || { why="check: not 16 links pinned under $pins/links"; return 1; }
    root_blocked_exec bpf || { why="check: the programs do not block id in a target"; return 1; }
}

prep_exec-bpf() { ensure_up; }
job_exec-bpf() { run_exec "$1" "$2" bpf --target lab/app/main; }
prep_exec-bpf-host() { ensure_up; }
job_exec-bpf-host() { run_exec "$1" "$2" bpf --host; }

# apply/remove: a map image written to (removed from) a target key by hand, as an agent would do
# for a container the runtime started: a made-up key, checked by a full-root remove (and apply)
key=(--pid-ns 4026539990 --mnt-ns 4026539991)
prep_apply() { ensure_up; "$loader" remove "${key[@]}" >/dev/null; }
job_apply() {
    local rc=0
    as_caps "$1" "$2" "$loader" apply "$bundle/bpf/lab/app/main.img" "${key[@]}" >"$work/out" 2>"$work/err" || rc=$?
    if [ $rc != 0 ]; then why="exit $rc: $(first_err "$work/err")"; return 1; fi
    "$loader" remove "${key[@]}" 2>&1 | grep '^removed ' >/dev/null || { why="check: no rule map at the key"; return 1; }
}
prep_remove() {
    ensure_up
    "$loader" apply "$bundle/bpf/lab/app/main.img" "${key[@]}" >/dev/null || { echo "lab-caps: root apply failed" >&2; exit 1; }
}
job_remove() {
    local rc=0
    as_caps "$1" "$2" "$loader" remove "${key[@]}" >"$work/out" 2>"$work/err" || rc=$?
    if [ $rc != 0 ]; then why="exit $rc: $(first_err "$work/err")"; return 1; fi
    grep -q '^removed ' "$work/out" || { why="check: $(head -1 "$work/out")"; return 1; }
}

# events: each trial reads a fresh alert (reading consumes the ring buffer's records)
prep_events() {
    ensure_up
    "$loader" events --format json >/dev/null 2>&1 || true
    root_blocked_exec bpf || { echo "lab-caps: no blocked exec to make an alert" >&2; exit 1; }
}
job_events() {
    local rc=0
    as_caps "$1" "$2" "$loader" events --format json >"$work/out" 2>"$work/err" || rc=$?
    if [ $rc != 0 ]; then why="exit $rc: $(first_err "$work/err")"; return 1; fi
    grep -F '"Resource":"/usr/bin/id"' "$work/out" | grep -F '"Enforcer":"BPFLSM"' | grep -F '"Result":"Permission denied"' >/dev/null \
        || { why="check: no BPF-LSM alert for the blocked /usr/bin/id"; return 1; }
}

# events-parent: an alert whose parent process still runs. ParentProcessName comes from
# /proc/PPID/exe, and reading another process's exe link needs ptrace_may_access(MODE_READ): a
# reader whose permitted set does not include the target's needs CAP_SYS_PTRACE (else the field
# is empty). The target's sh (full root capabilities) execs the blocked id, then waits on a FIFO.
prep_events-parent() {
    ensure_up
    "$loader" events --format json >/dev/null 2>&1 || true
    rm -f "$work/hold" "$work/held.err"
    mkfifo "$work/hold"
    "$loader" exec --bundle "$bundle" --target lab/app/main --lsm bpf -- /bin/sh -c "/usr/bin/id; read x < $work/hold" \
        >/dev/null 2>"$work/held.err" &
    hold_pid=$!
    local i
    for i in $(seq 300); do
        grep -q 'Permission denied' "$work/held.err" && return 0
        sleep 0.2
    done
    echo "lab-caps: the held target did not get its id refused" >&2
    exit 1
}
release_held() { # let the held target end (a writer blocks until sh reads: bounded)
    [ -n "$hold_pid" ] || return 0
    timeout 10 bash -c 'echo go > "$1"' _ "$work/hold" || kill "$hold_pid" 2>/dev/null || true
    wait "$hold_pid" || true
    hold_pid=""
}
job_events-parent() {
    local rc=0 parent
    as_caps "$1" "$2" "$loader" events --format json >"$work/out" 2>"$work/err" || rc=$?
    release_held
    if [ $rc != 0 ]; then why="exit $rc: $(first_err "$work/err")"; return 1; fi
    grep -F '"Resource":"/usr/bin/id"' "$work/out" | grep -F '"Enforcer":"BPFLSM"' >"$work/alerts" || true
    [ -s "$work/alerts" ] || { why="check: no BPF-LSM alert for the blocked /usr/bin/id"; return 1; }
    parent=$(jq -r '.ParentProcessName // ""' "$work/alerts" | head -1) # omitted when empty
    [ -n "$parent" ] || { why="check: the alert names no ParentProcessName (/proc/PPID/exe unreadable)"; return 1; }
}

# exec --lsm apparmor: the profile removed first, so a success proves this trial loaded it
prep_exec-apparmor() { apparmor_parser -R "$bundle/apparmor/kubearmor-lab-app-main" >/dev/null 2>&1 || true; }
job_exec-apparmor() { run_exec "$1" "$2" apparmor --target lab/app/main; }

# events --bundle: AppArmor denials from the kernel log (one made as full root first)
prep_events-apparmor() {
    sysctl -q kernel.printk_ratelimit=0 # every audit record reaches the log (lab-e2e.sh does the same)
    root_blocked_exec apparmor || { echo "lab-caps: no AppArmor denial to read" >&2; exit 1; }
}
job_events-apparmor() {
    local rc=0
    as_caps "$1" "$2" "$loader" events --format json --bundle "$bundle" >"$work/out" 2>"$work/err" || rc=$?
    if [ $rc != 0 ]; then why="exit $rc: $(first_err "$work/err")"; return 1; fi
    grep -F '"Resource":"/usr/bin/id"' "$work/out" | grep -F '"Enforcer":"AppArmor"' >/dev/null \
        || { why="check: no AppArmor alert for the blocked /usr/bin/id"; return 1; }
}

prep_exec-landlock() { :; }
job_exec-landlock() { run_exec "$1" "$2" landlock --target lab/app/main; }
prep_exec-landlock-drop() { :; }
job_exec-landlock-drop() { run_exec "$1" "$2" landlock --target lab/capdrop/main; }
# The plan's socket program (cgroup/sock_create on a child cgroup of the loader's): a UDP socket
# refused inside the target, a TCP one created. Without its privileges the loader warns and
# Landlock alone applies, so the UDP socket is created: the job fails.
prep_exec-landlock-net() { :; }
job_exec-landlock-net() {
    local rc=0
    as_caps "$1" "$2" "$loader" exec --bundle "$bundle" --target lab/netblock/main --lsm landlock -- python3 -c '
import socket, sys
socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
except PermissionError:
    print("udp-refused"); sys.exit(0)
print("udp-created")' >"$work/out" 2>"$work/err" || rc=$?
    grep -q '^udp-refused$' "$work/out" && [ $rc = 0 ] && return 0
    why="exit $rc: $(grep -m1 'socket program' "$work/err" || first_err "$work/err")"
    why=$(fold_tmp "${why#armor-loader: }")
    return 1
}

# our LSM programs in the kernel's list (bpftool: "ID: lsm  name armor_bprm  tag ...")
lsm_progs_loaded() { bpftool prog show 2>/dev/null | grep ' lsm .*name armor_' >/dev/null; }
prep_down() {
    ensure_up
    # the check after down is only worth something if it sees the programs now
    if command -v bpftool >/dev/null && ! lsm_progs_loaded; then
        echo "lab-caps: bpftool does not list our attached LSM programs: the down check cannot work" >&2
        exit 1
    fi
}
job_down() {
    local rc=0 i
    as_caps "$1" "$2" "$loader" down >"$work/out" 2>"$work/err" || rc=$?
    if [ $rc != 0 ]; then why="exit $rc: $(first_err "$work/err")"; return 1; fi
    [ ! -e "$pins/links" ] || { why="check: $pins/links still there"; return 1; }
    # the programs are freed once their last link is gone (deferred: wait a little)
    if command -v bpftool >/dev/null; then
        for i in $(seq 60); do
            lsm_progs_loaded || return 0
            sleep 0.5
        done
        why="check: armor_* LSM programs still loaded (bpftool prog show)"
        return 1
    fi
}

# --- trials and the table ---------------------------------------------------------------------
failed=0
trials=()  # job|kind|user|caps|expected|got|reason
summary=() # job|minimal set|reasons without each
trial() { # JOB KIND USER CAPS EXPECT (ok, fail, or any: recorded only)
    local job=$1 kind=$2 user=$3 caps=$4 expect=$5 got want seen start=$SECONDS
    why=""
    rm -f "$work/caps.seen"
    "prep_$job"
    if "job_$job" "$user" "$caps"; then got=ok; else got=fail; fi
    # the kernel must have enforced exactly CAPS (a non-root uid holds none of them at exec)
    want=$(mask "$caps")
    seen=$(tr '\n' ' ' < "$work/caps.seen" 2>/dev/null || echo "nothing recorded")
    if [ "$user" = root ]; then
        want="CapInh: 0000000000000000 CapPrm: $want CapEff: $want CapBnd: $want CapAmb: 0000000000000000 "
    else
        want="CapInh: 0000000000000000 CapPrm: 0000000000000000 CapEff: 0000000000000000 CapBnd: $want CapAmb: 0000000000000000 "
    fi
    if [ "$seen" != "$want" ]; then
        echo "lab-caps: $job [$caps]: the capability sets were not as intended: $seen (want $want)" >&2
        failed=1
    fi
    local mark=""
    if [ "$expect" != any ] && [ "$got" != "$expect" ]; then mark="  <-- UNEXPECTED"; failed=1; fi
    printf 'lab-caps: %-18s %-18s %-5s %-24s -> %-4s %3ss %s%s\n' "$job" "$kind" "$user" "[${caps}]" "$got" \
        $((SECONDS - start)) "$why" "$mark"
    trials+=("$job|$kind|$user|${caps:--}|$expect|$got|$why")
}
want() { [ -z "$only" ] || [[ $only == *",$1,"* ]]; }
# minimal JOB CAPS [USER]: each removal and the empty set fail, then CAPS succeeds (last, so a
# successful `up` stays attached for the jobs after it); one summary row
sep=$'\x1f' # between the summary's reasons (messages may hold any printable character)
minimal() {
    local job=$1 caps=$2 user=${3:-root} c d rest reasons=""
    for c in ${caps//,/ }; do
        rest=""
        for d in ${caps//,/ }; do [ "$d" = "$c" ] || rest+=${rest:+,}$d; done
        trial "$job" "without $c" "$user" "$rest" fail
        reasons+="without $c: $(shorten "$why")$sep"
    done
    # with a single capability its removal is already the empty set
    if [[ $caps == *,* ]]; then
        trial "$job" none "$user" "" fail
        reasons+="none: $(shorten "$why")$sep"
    fi
    trial "$job" minimal "$user" "$caps" ok
    summary+=("$job|${caps:-none}|${reasons:-(needs none)}")
}
skip() { # JOB REASON: a job this kernel cannot run; one named by --only fails under CI=true
    echo "lab-caps: $1: skipped ($2)"
    trials+=("$1|skipped|-|-|-|-|$2")
    if [ -n "$only" ] && [ "${CI:-}" = true ]; then
        echo "lab-caps: $1 was asked for (--only) and CI=true: a skip fails" >&2
        failed=1
    fi
}
has_lsm() { [[ ",$lsms," == *",$1,"* ]]; }

# Order: nothing attached for probe; up's failing trials before its successful one, which stays
# attached for the exec and events jobs; down last.
if has_lsm bpf; then
    if want probe; then
        if has_lsm apparmor; then
            minimal probe bpf,perfmon,mac_admin
            [ $alternatives = 0 ] || trial probe alternative root sys_admin,mac_admin ok
        else
            skip probe "apparmor is not an active LSM"
        fi
    fi
    if want up; then
        [ $alternatives = 0 ] || trial up alternative root sys_admin ok
        minimal up bpf,perfmon
    fi
    if want exec-bpf; then
        minimal exec-bpf sys_admin
        # without CAP_SYS_ADMIN no bpf capability helps: unshare(CLONE_NEWPID|CLONE_NEWNS) is refused
        trial exec-bpf alternative root bpf,perfmon fail
    fi
    if want exec-bpf-host; then
        minimal exec-bpf-host bpf
        trial exec-bpf-host alternative root sys_admin ok # bpf_capable(): CAP_BPF or CAP_SYS_ADMIN
    fi
    want apply && minimal apply bpf
    want remove && minimal remove ""
    want events && minimal events ""
    want events-parent && minimal events-parent sys_ptrace
else
    for j in probe up exec-bpf exec-bpf-host apply remove events events-parent; do want "$j" && skip "$j" "bpf is not an active LSM"; done
fi
if has_lsm apparmor; then
    if want exec-apparmor; then
        minimal exec-apparmor mac_admin
        trial exec-apparmor alternative root sys_admin fail # AppArmor asks for CAP_MAC_ADMIN only
    fi
    if want events-apparmor; then
        minimal events-apparmor syslog
        # the deprecated CAP_SYS_ADMIN fallback of the syslog check: accepted by 6.1, gone by 6.12
        # (upstream "cap_syslog: remove CAP_SYS_ADMIN when dmesg_restrict"): recorded, not asserted
        trial events-apparmor alternative root sys_admin any
    fi
else
    for j in exec-apparmor events-apparmor; do want "$j" && skip "$j" "apparmor is not an active LSM"; done
fi
# Landlock: usable when the ABI is 3 or later (Linux 6.2); ask the loader as full root.
ll_reason=""
if ! "$loader" exec --bundle "$bundle" --target lab/app/main --lsm landlock -- /usr/bin/true >/dev/null 2>"$work/ll.err"; then
    ll_reason=$(grep -m1 'landlock not usable' "$work/ll.err" | sed 's/^armor-loader: //' || true)
    [ -n "$ll_reason" ] || ll_reason=$(first_err "$work/ll.err")
fi
for j in exec-landlock exec-landlock-drop exec-landlock-net; do
    want "$j" || continue
    if [ -n "$ll_reason" ]; then skip "$j" "$ll_reason"; continue; fi
    if [ "$j" = exec-landlock ]; then
        minimal exec-landlock ""
    elif [ "$j" = exec-landlock-net ]; then
        # dac_override: the lab's cgroup root is mode 0555 (a systemd host's cgroups are 0755)
        minimal exec-landlock-net bpf,net_admin,dac_override
    else
        # With CAP_SETPCAP the loader also drops the plan's capabilities from the bounding set;
        # without it (root or not) it skips that step: no_new_privs keeps the command from gaining
        # a capability cleared from its permitted set back, so it needs nothing.
        minimal exec-landlock-drop ""
        trial exec-landlock-drop "as uid 65534" 65534 "" ok
    fi
done
if has_lsm bpf && want down; then
    # uid 0 owns the pins (mode 0600, directories 0755): unlinking them needs no capability
    stat -c 'lab-caps: %A %U:%G %n' "$pins" "$pins/links" "$pins/armor_targets" /run/armorc/targets 2>/dev/null || true
    minimal down ""
fi
root_down

echo
echo "lab-caps: every trial (uid, capability set -> outcome, first line of the reason):"
printf '%s\n' "${trials[@]}" | awk -F'|' '{ printf "  %-18s | %-18s | %-5s | %-24s | want %-4s | got %-4s | %s\n", $1, $2, $3, $4, $5, $6, $7 }'
echo
echo "lab-caps: minimal sets (each removal fails; first line of its failure):"
printf '  %-18s | %-26s | %s\n' job "minimal set" "without each"
for row in "${summary[@]}"; do
    IFS='|' read -r job set reasons <<<"$row"
    first=1
    while IFS= read -r -d "$sep" r || [ -n "$r" ]; do
        if [ $first = 1 ]; then printf '  %-18s | %-26s | %s\n' "$job" "$set" "$r"; first=0
        else printf '  %-18s | %-26s | %s\n' "" "" "$r"; fi
    done < <(printf '%s' "${reasons%"$sep"}")
done
if [ $failed = 0 ]; then
    echo "lab-caps: ok: every job works with its minimal set and fails without each of its capabilities"
else
    echo "lab-caps: FAILED: some trial differs from the table (see UNEXPECTED above)" >&2
fi
exit $failed
