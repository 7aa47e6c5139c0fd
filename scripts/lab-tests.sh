#!/usr/bin/env bash
# Runs inside the kernel lab (scripts/lab.sh): the runtime's kernel test binaries given as
# arguments, one test at a time, then the loader end to end on a held-out policy set
# (scripts/lab-e2e.sh). Exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
echo "lab: kernel $(uname -r), LSMs $(cat /sys/kernel/security/lsm)"
failed=0
for bin in "$@"; do
    echo "== lab: $(basename "$bin")"
    "$bin" --test-threads=1 --show-output --color never || failed=1
done
echo "== lab: armor-loader end to end"
bash scripts/lab-e2e.sh || failed=1
exit $failed
