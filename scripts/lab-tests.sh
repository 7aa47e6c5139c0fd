#!/usr/bin/env bash
# Runs inside the kernel lab (scripts/lab.sh): the runtime's kernel test binaries given as
# arguments, one test at a time, then the loader end to end on a held-out policy set
# (scripts/lab-e2e.sh). Exits non-zero if anything failed.
#   scripts/lab-tests.sh [--loader PATH] [--skip TEST]... [--no-e2e] [--caps] [--agent] BIN...
# --loader: the armor-loader lab-e2e.sh runs (default target/release/armor-loader; the aarch64
# one on an arm64 kernel); --skip: a test the binaries leave out (said in the output); --no-e2e:
# the binaries only (CI's arm64 run: emulated x86-64 shell snippets are slow there); --caps: after
# the binaries, the smallest capability set of each loader job, measured (scripts/lab-caps.sh,
# docs/runtime.md "Least privilege"; about 4 minutes under TCG); --agent: after the end to end, the
# node agent on real containerd containers with bpf and with apparmor (scripts/agent-test.sh,
# about 4 minutes each under TCG).
set -uo pipefail
cd "$(dirname "$0")/.."
loader=target/release/armor-loader
skips=()
e2e=1
caps=0
agent=0
while [ $# -gt 0 ]; do
    case "$1" in
        --loader) loader=$2; shift 2 ;;
        --skip) skips+=(--skip "$2"); echo "lab: skipping $2 on this kernel"; shift 2 ;;
        --no-e2e) e2e=0; echo "lab: no end-to-end run on this kernel"; shift ;;
        --caps) caps=1; shift ;;
        --agent) agent=1; shift ;;
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
        read -r lsm caps <<<"$lsm_caps"
        echo "== lab: armor-loader run on containerd containers, --lsm $lsm, capabilities $caps"
        bash scripts/agent-test.sh --lsm "$lsm" --caps "$caps" --loader "$loader" || failed=1
    done
fi
# Last: its trials leave loader state behind (after it, the AppArmor end to end once saw every
# exec exit 126 without a denial; not diagnosed), and nothing runs after it in this VM.
if [ $caps = 1 ]; then
    echo "== lab: the capabilities each loader job needs"
    bash scripts/lab-caps.sh --loader "$loader" || failed=1
fi
exit $failed
