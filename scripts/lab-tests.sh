#!/usr/bin/env bash
# Runs inside the kernel lab (scripts/lab.sh): the runtime's kernel test binaries given as
# arguments, one test at a time, then the loader end to end on a held-out policy set
# (scripts/lab-e2e.sh). Exits non-zero if anything failed.
#   scripts/lab-tests.sh [--loader PATH] [--skip TEST]... [--no-e2e] [--caps[-only JOB,...]] [--agent] BIN...
# --loader: the armor-loader lab-e2e.sh runs (default target/release/armor-loader; the aarch64
# one on an arm64 kernel); --skip: a test the binaries leave out (said in the output); --no-e2e:
# the binaries only (CI's arm64 run: emulated x86-64 shell snippets are slow there); --caps: after
# the binaries, the smallest capability set of each loader job, measured (scripts/lab-caps.sh,
# docs/runtime.md "Least privilege"; about 4 minutes under TCG; --caps-only: those jobs only);
# --agent: after the end to end, the node agent on real containerd containers with bpf and with apparmor (scripts/agent-test.sh,
# about 4 minutes each under TCG); --closed-loop LSM: observe, discover, compile and enforce with
# LSM (scripts/closed-loop.sh); --kernel-test: `armorc test --kernel` with bpf and apparmor
# (scripts/lab-kernel-test.sh, armorc beside the loader).
set -uo pipefail
cd "$(dirname "$0")/.."
loader=target/release/armor-loader
skips=()
e2e=1
caps=0
caps_only=()
agent=0
closed_loop=
kernel_test=0
while [ $# -gt 0 ]; do
    case "$1" in
        --loader) loader=$2; shift 2 ;;
        --skip) skips+=(--skip "$2"); echo "lab: skipping $2 on this kernel"; shift 2 ;;
        --no-e2e) e2e=0; echo "lab: no end-to-end run on this kernel"; shift ;;
        --caps) caps=1; shift ;;
        --caps-only) caps=1; caps_only=(--only "$2"); shift 2 ;;
        --agent) agent=1; shift ;;
        --closed-loop) closed_loop=$2; shift 2 ;;
        --kernel-test) kernel_test=1; shift ;;
        *) break ;;
    esac
done
echo "lab: kernel $(uname -r), loader $loader, LSMs $(cat /sys/kernel/security/lsm)"
failed=0
for bin in "$@"; do
    echo "== lab: $(basename "$bin")"
    "$bin" --test-threads=1 --show-output --color never "${skips[@]}" || failed=1
done
if [ $e2e = 1 ]; then
    echo "== lab: armor-loader end to end"
    LOADER=$loader bash scripts/lab-e2e.sh || failed=1
fi
if [ $agent = 1 ]; then
    # with the capabilities deploy/ grants the agent for each enforcer, no more
    for lsm_caps in "bpf bpf,sys_ptrace" "apparmor mac_admin,sys_ptrace"; do
        read -r lsm agent_caps <<<"$lsm_caps"
        echo "== lab: armor-loader run on containerd containers, --lsm $lsm, capabilities $agent_caps"
        bash scripts/agent-test.sh --lsm "$lsm" --caps "$agent_caps" --loader "$loader" || failed=1
    done
fi
if [ -n "$closed_loop" ]; then
    echo "== lab: observe, discover, compile, enforce with $closed_loop"
    bash scripts/closed-loop.sh --lsm "$closed_loop" --loader "$loader" || failed=1
fi
if [ $kernel_test = 1 ]; then
    echo "== lab: armorc test --kernel with bpf and apparmor"
    bash scripts/lab-kernel-test.sh --loader "$loader" || failed=1
fi
# Last: its trials leave loader state behind (after it, the AppArmor end to end once saw every
# exec exit 126 without a denial; not diagnosed), and nothing runs after it in this VM.
if [ $caps = 1 ]; then
    echo "== lab: the capabilities each loader job needs"
    bash scripts/lab-caps.sh --loader "$loader" "${caps_only[@]}" || failed=1
fi
exit $failed
