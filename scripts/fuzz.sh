#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/, docs/limits.md "Fuzzing") for SECONDS each, one after the
# other, and fails when any of them finds a crash, a timeout or an out-of-memory; the reproducer is
# saved under fuzz/artifacts/<target>/ and its path printed.
#   scripts/fuzz.sh SECONDS [TARGET...]      all targets, or the ones named
# Stable Rust: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags; --sanitizer none keeps
# libFuzzer's coverage instrumentation (sancov) without AddressSanitizer (needs a nightly std).
# Tools: .ci/install-fuzz.sh. Environment: FUZZ_TARGET_DIR (build directory, default fuzz/target),
# FUZZ_ARGS (extra libFuzzer flags).
set -euo pipefail

usage() { echo "usage: scripts/fuzz.sh SECONDS [TARGET...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
seconds=$1; shift
[[ $seconds =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || usage

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
command -v cargo-fuzz >/dev/null 2>&1 || { echo "fuzz: cargo-fuzz missing; run .ci/install-fuzz.sh" >&2; exit 2; }

all=(frontend map_image query oci_layer oci_layout oci_archive)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

# Largest input per target: policies may hold long lines (a finding past column 65,535 once
# panicked); layers and layouts hold tar blocks.
max_len() {
    case $1 in
        frontend) echo 131072 ;;
        map_image | query) echo 65536 ;;
        *) echo 262144 ;;
    esac
}

export RUSTC_BOOTSTRAP=1
flags=(--sanitizer none --release --debug-assertions)
[ -z "${FUZZ_TARGET_DIR:-}" ] || flags+=(--target-dir "$FUZZ_TARGET_DIR")

start=$(date +%s)
echo "fuzz: building ${targets[*]}"
if [ $# -eq 0 ]; then
    cargo fuzz build "${flags[@]}"
else
    for t in "${targets[@]}"; do cargo fuzz build "${flags[@]}" "$t"; done
fi
built=$(date +%s)

# OCI targets write each input to files: under a per-run scratch directory (tmpfs when there is one).
scratch_parent=/dev/shm
[ -d "$scratch_parent" ] && [ -w "$scratch_parent" ] || scratch_parent=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$scratch_parent/armorc-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# What a failed run found, from libFuzzer's report.
failure_kind() {
    if grep -q 'ERROR: libFuzzer: timeout' "$1"; then echo timeout
    elif grep -q -E 'ERROR: libFuzzer: (out-of-memory|malloc limit)' "$1"; then echo out-of-memory
    elif grep -q -E 'panicked at|ERROR: libFuzzer: deadly signal' "$1"; then echo crash
    else echo "no libFuzzer report; see fuzz/$log"
    fi
}
# TARGET INPUT: runs the one input under the run's time limit; sets replay_seconds.
replays_in_time() {
    local t0
    t0=$(date +%s.%N)
    TMPDIR=$scratch cargo fuzz run "${flags[@]}" "$1" "$2" -- -timeout=30 -rss_limit_mb=2048 >"work/$1.replay.log" 2>&1 || return 1
    replay_seconds=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
}

failed=()
summary=()
for t in "${targets[@]}"; do
    [ -d "corpus/$t" ] || { echo "fuzz: no target $t (targets: ${all[*]})" >&2; exit 2; }
    work="work/$t"
    mkdir -p "$work" "artifacts/$t"
    log="work/$t.log"
    echo "fuzz: $t for ${seconds}s (log fuzz/$log)"
    rc=0
    # New inputs go to fuzz/work/<target> (not committed); fuzz/corpus/<target> holds the seeds.
    # shellcheck disable=SC2086
    TMPDIR=$scratch cargo fuzz run "${flags[@]}" "$t" "$work" "corpus/$t" -- \
        -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 ${FUZZ_ARGS:-} >"$log" 2>&1 || rc=$?
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    if [ $rc -ne 0 ]; then
        kind=$(failure_kind "$log")
        grep -E '^(==[0-9]+== ?ERROR|thread .* panicked|.*panicked at)|SUMMARY|Test unit written to' "$log" | head -20 >&2 || true
        artifacts=$(grep -o 'Test unit written to [^ ]*' "$log" | awk '{print $NF}' || true)
        for a in $artifacts; do
            echo "fuzz: $t: reproducer $a (replay from fuzz/: RUSTC_BOOTSTRAP=1 cargo fuzz run ${flags[*]} $t $a)" >&2
        done
        # libFuzzer times a unit by the wall clock: on a machine busy with other work (CI runs the
        # kernel labs beside the fuzzer) a fast input can pass the limit. Such a timeout is replayed
        # alone under the same limit; only an input that is slow on its own is a failure.
        if [ "$kind" = timeout ] && [ -n "$artifacts" ] && replays_in_time "$t" "$(echo "$artifacts" | head -1)"; then
            summary+=("$t: ok cov ${cov:-?} execs ${execs:-?} (a timeout under load whose input replays alone in ${replay_seconds}s: $(echo "$artifacts" | head -1))")
            continue
        fi
        failed+=("$t")
        summary+=("$t: FAILED ($kind, exit $rc) cov ${cov:-?} execs ${execs:-?}")
    else
        summary+=("$t: ok cov ${cov:-?} execs ${execs:-?} corpus $(find "$work" -type f | wc -l)")
    fi
done

end=$(date +%s)
echo "fuzz: build $((built - start))s, total $((end - start))s"
printf 'fuzz: %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in ${failed[*]}; reproducers under fuzz/artifacts/" >&2
    exit 1
fi
