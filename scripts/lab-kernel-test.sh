#!/usr/bin/env bash
# Runs inside the kernel lab (scripts/lab.sh; scripts/lab-tests.sh --kernel-test): `armorc test
# --kernel` with BPF-LSM and with AppArmor on tests/fixtures/armortest-kernel: the passing file
# must pass (its fromSource and system-path cases skipped) and the failing file fail on its one
# wrong case, each case's result equal to the model's (`armorc test` without --kernel).
#   scripts/lab-kernel-test.sh [--loader PATH] [--armorc PATH]
# Default: target/release/{armor-loader,armorc}. Exits non-zero if anything disagreed.
set -uo pipefail
cd "$(dirname "$0")/.."
loader=target/release/armor-loader
armorc=
while [ $# -gt 0 ]; do
    case "$1" in
        --loader) loader=$2; shift 2 ;;
        --armorc) armorc=$2; shift 2 ;;
        *) echo "lab-kernel-test.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
armorc=${armorc:-$(dirname "$loader")/armorc}
dir=tests/fixtures/armortest-kernel
failed=0
# name and passed/failed/skipped of each case in a JSON report
outcomes() {
    python3 -c 'import json,sys
for f in json.load(sys.stdin)["files"]:
    for c in f["cases"]:
        print(c["name"], "skipped" if c["skipped"] else "passed" if c["passed"] else "failed")'
}
check() { # LSM FILE WANT-STATUS WANT-SUMMARY
    local lsm=$1 file=$2 want=$3 summary=$4 out status
    out=$("$armorc" test --kernel --lsm "$lsm" --loader "$loader" "$dir/$file")
    status=$?
    echo "$out"
    if [ "$status" != "$want" ] || [[ "$out" != *"test result: $summary"* ]]; then
        echo "FAIL: $file with $lsm: exit $status, want $want and \"$summary\""
        failed=1
    fi
    # the kernel's results are the model's (a skipped case aside)
    diff <("$armorc" test "$dir/$file" --format json 2>/dev/null | outcomes | grep -v skipped) \
         <("$armorc" test --kernel --lsm "$lsm" --loader "$loader" "$dir/$file" --format json 2>/dev/null | outcomes | grep -v skipped) \
        || { echo "FAIL: $file with $lsm: the kernel and the model disagree (above)"; failed=1; }
}
"$loader" up --lsm bpf || failed=1
for lsm in bpf apparmor; do
    echo "== armorc test --kernel --lsm $lsm"
    check "$lsm" pass.armortest.yaml 0 "ok. 6 passed; 0 failed; 2 skipped"
    check "$lsm" fail.armortest.yaml 1 "FAILED. 1 passed; 1 failed"
done
"$loader" down >/dev/null || failed=1
exit $failed
