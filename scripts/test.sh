#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need (each area's
# .ci/install-*.sh), checks formatting and lints, mounts the kernel filesystems the BPF tests use,
# runs `cargo test --workspace`, boots the kernel lab (scripts/lab.sh: Debian's kernels under qemu,
# BPF-LSM and AppArmor active) and runs the live enforcement tests inside it, builds and tests for
# aarch64 under qemu user mode (scripts/cross-check.sh: both architectures write the same bytes)
# and in the arm64 lab, fuzzes every target briefly. Needs root. Prints each section's time and
# the disk left after it at the end (CI budget: 60 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# Release builds are not incremental anyway; this keeps clippy's check build small (CI disk).
export CARGO_INCREMENTAL=0

# Everything printed is also kept, so the summary at the end can repeat the failing tests (CI
# shows the start and the end of a long output).
log=$(mktemp)
exec > >(tee "$log") 2>&1

status=0
timings=()
section_name=
section_start=$SECONDS
section_failed=0
section() { # NAME: ends the current section (time, disk left, FAILED), starts the next
    if [ -n "$section_name" ]; then
        local mark=""
        [ "$section_failed" = 0 ] || mark="  FAILED"
        timings+=("$(printf '%6ss  %-44s %s free%s' $((SECONDS - section_start)) "$section_name" \
            "$(df -h --output=avail . | tail -1 | tr -d ' ')" "$mark")")
        section_failed=0
    fi
    section_name=$1
    section_start=$SECONDS
    [ -z "$1" ] || echo "== $1"
}
failed() { # the current section failed; the run goes on and exits non-zero
    status=1
    section_failed=1
}
summary() {
    local rc=$?
    section ""
    echo "== test.sh sections (seconds, disk free after):"
    printf '%s\n' "${timings[@]}"
    # Test harness failures (cargo's and the lab scripts'), so they are seen without the whole log.
    grep -E '^test .+ \.\.\. FAILED$|^[a-z][a-z0-9-]*: .*(FAIL|DISAGREE)' "$log" | sort -u | head -40 | sed 's/^/failed: /' || true
    echo "total: ${SECONDS}s, exit $rc"
    rm -rf "$log" "${builds:-}"
}
trap summary EXIT

for script in .ci/install-*.sh; do
    # Benchmark tools (check-jsonschema, ...) are not needed by the tests.
    case "$script" in *install-bench.sh) continue ;; esac
    [ -e "$script" ] || continue
    section "$script"
    bash "$script"
done

section "cargo fmt --all --check"
cargo fmt --all --check
section "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -q -- -D warnings
# CI disk (a CI machine may have little): the check build is not used again.
[ "${CI:-}" != true ] || rm -rf target/debug

# Kernel filesystems used by the loader tests (idempotent).
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
mountpoint -q /sys/kernel/security || mount -t securityfs securityfs /sys/kernel/security 2>/dev/null || true
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true

builds=$(mktemp -d)
# One build per architecture, `cargo test --workspace --release --no-run`; every later step takes
# its binaries from that build's messages (another package selection would unify features
# differently and build much of the workspace again).
test_build() { # JSON-FILE [CARGO ARGS...] (package selection: default --workspace)
    local json=$1
    shift
    cargo test --release --no-run "$@" --message-format=json-render-diagnostics >"$json"
}
test_exes() { # JSON-FILE PACKAGE [TEST-NAME...]: the test executables built for them (all: no names)
    local json=$1 pkg=$2
    shift 2
    jq -r --arg pkg "$pkg" --args 'select(.reason == "compiler-artifact" and .executable != null
        and .profile.test and (.package_id | test("[/#]" + $pkg + "[@#]"))
        and (($ARGS.positional | length) == 0 or (.target.name | IN($ARGS.positional[]))))
        | .executable' "$@" <"$json"
}
bpf_dir() { # JSON-FILE: where the loader's build script wrote the BPF objects
    jq -r 'select(.reason == "build-script-executed" and (.package_id | test("[/#]armor-loader[@#]"))) | .out_dir' "$1" | tail -1
}

section "cargo test --workspace --release"
test_build "$builds/x86_64.json" --workspace
# --show-output: the differential tests print their decision mix and deviation counts.
cargo test --workspace --release --no-fail-fast -- --test-threads=2 --show-output "$@" || failed

# The node agent on this machine's kernel: real containerd + runc containers; no BPF-LSM or
# AppArmor here, so the order picks Landlock, which cannot restrict a running container from
# outside, and `status` must say so (the lab runs it with bpf and apparmor).
section "armor-loader run on containerd containers (this machine)"
scripts/agent-test.sh --lsm bpf,apparmor,landlock,none || failed
# Observe, discover, compile, enforce (docs/observe.md "The closed loop"): Landlock enforces here.
section "closed loop: observe, discover, compile, enforce (landlock, this machine)"
scripts/closed-loop.sh --lsm landlock || failed
section "deploy/: manifests and systemd unit"
scripts/deploy-check.sh || failed

# The kernel labs boot Debian's kernels under TCG, where a test keeps about one of the two cores
# busy: they run in the background, one after the other, while the foreground builds and tests
# for aarch64 and fuzzes; their output is printed whole when they have ended (below).
mapfile -t lab_bins < <(test_exes "$builds/x86_64.json" armor-loader kernel live differential)
[ ${#lab_bins[@]} -eq 3 ] || { echo "test.sh: kernel test binaries not found" >&2; exit 1; }
mapfile -t lab_bins_612 < <(printf '%s\n' "${lab_bins[@]}" | grep -v '/deps/differential-')
lab_times=$builds/labs.times
timed_lab() { # NAME CMD...: one lab of the background chain; its time (and FAILED) into $lab_times
    local name=$1 start=$SECONDS rc=0
    shift
    echo "== $name"
    "$@" || rc=$?
    local mark=""
    [ "$rc" = 0 ] || mark="  FAILED"
    printf '%6ss  %-44s (background)%s\n' $((SECONDS - start)) "$name" "$mark" >>"$lab_times"
    return "$rc"
}
amd64_labs() {
    local rc=0
    # Debian 6.1 amd64: the runtime's kernel tests, both live differentials, the held-out end to
    # end with both enforcers, and the least-privilege table (scripts/lab-caps.sh: each job works
    # with its documented capabilities and fails without each of them). A longer timeout than
    # lab.sh's: the foreground's builds share the cores.
    timed_lab "kernel lab: Debian 6.1 amd64" \
        scripts/lab.sh --kernel 6.1 --timeout 3600 -- scripts/lab-tests.sh --caps "${lab_bins[@]}" || rc=1
    # Debian's other kernel line, 6.12: the same but the AppArmor differential (its profiles and
    # parser are the same; the BPF side is what changes with the kernel) and the test-run harness
    # differential (it runs on this machine's 6.18 and on 6.1). The BPF-LSM live differential runs
    # reduced there (25 operations on every fourth image, said in the output) and the held-out end
    # to end not at all (CI time): 6.1 runs both in full. The node agent (`armor-loader run`) on
    # real containerd containers runs here, with both enforcers (6.1's chain is the longer one),
    # and `armorc test --kernel` with bpf and apparmor (scripts/lab-kernel-test.sh); last, the
    # Landlock jobs of the capability table (6.1's Landlock ABI 2 is too old for our plans).
    ARMORC_LIVE_OPS_PER_IMAGE=25 timed_lab "kernel lab: Debian 6.12 amd64" \
        scripts/lab.sh --kernel 6.12 --timeout 2400 -- \
        scripts/lab-tests.sh --skip live_apparmor_vs_model --no-e2e --agent --closed-loop bpf --kernel-test \
        --caps-only exec-landlock,exec-landlock-drop,exec-landlock-net "${lab_bins_612[@]}" || rc=1
    # BPF-LSM left out of lsm=: probe, up and exec say why and choose AppArmor, the next in the
    # order (the held-out set through AppArmor ran on 6.1: no end to end here, CI time).
    timed_lab "kernel lab: 6.1 amd64 without bpf in lsm=" \
        scripts/lab.sh --kernel 6.1 --append "lsm=landlock,lockdown,yama,apparmor" -- \
        scripts/lab-fallback.sh --expect 'not an active LSM' --no-e2e || rc=1
    return $rc
}
section "kernel labs: Debian 6.1 and 6.12 amd64 (started in the background)"
amd64_labs >"$builds/labs.log" 2>&1 &
labs_pid=$!

# aarch64 (issue 11): .cargo/config.toml links with aarch64-linux-gnu-gcc and runs aarch64
# binaries under qemu-aarch64 (binfmt_misc for the ones the CLI tests spawn; host tools such as
# apparmor_parser, skopeo or chromium run natively).
arm=aarch64-unknown-linux-gnu
section "aarch64: cross build"
# What runs for aarch64: the compiler's and the CLI's tests, the loader and its live test (the
# recommend crate's own test binaries, seven large links, are not run there: CI time).
if test_build "$builds/aarch64.json" --target $arm -p armorc -p armorc-compiler -p armor-loader; then
    section "aarch64: compiler and CLI tests under qemu-aarch64"
    # Run as `cargo test` would (from the package directory). Not the loader's kernel tests (BPF
    # system calls do not pass through qemu user mode; the arm64 lab below runs them) nor the
    # recommend crate's own (registries, skopeo, git: CI time; the CLI's recommend tests run, and
    # the cross-check compares recommend's outputs byte for byte). Nor the CLI's test_kernel:
    # `armorc test --kernel` makes Landlock system calls qemu user mode does not emulate (ENOSYS);
    # it runs natively above and in the labs.
    for pkg_dir in "armorc-compiler compiler" "armorc ."; do
        read -r pkg dir <<<"$pkg_dir"
        for exe in $(test_exes "$builds/aarch64.json" "$pkg"); do
            case $(basename "$exe") in test_kernel-*) continue ;; esac
            echo "-- $pkg: $(basename "$exe")"
            (cd "$dir" && INSTA_WORKSPACE_ROOT=$root "$exe" --test-threads=2 "$@") || failed
        done
    done
    # Both architectures write identical bytes over the corpus, and the BPF objects are one set.
    section "aarch64: cross-check (byte-identical outputs)"
    ARMORC_X86=target/release/armorc ARMORC_AARCH64=target/$arm/release/armorc \
        CROSS_CHECK_BPF_DIRS="$(bpf_dir "$builds/x86_64.json"):$(bpf_dir "$builds/aarch64.json")" \
        scripts/cross-check.sh || failed
    # arm64 under qemu-system-aarch64, the machine's x86-64 tools through binfmt_misc. Debian 6.1
    # arm64 loads our LSM programs but cannot attach them (ENOTSUPP: no BPF trampolines on arm64
    # before 6.4), so the order falls back to AppArmor, which then enforces: the AppArmor live
    # differential, reduced (an emulated arm64 machine is slow; the test says so).
    section "kernel lab: Debian 6.1 arm64"
    mapfile -t arm_live < <(test_exes "$builds/aarch64.json" armor-loader live)
    [ ${#arm_live[@]} -eq 1 ] || { echo "test.sh: aarch64 live test binary not found" >&2; exit 1; }
    ARMORC_LIVE_OPS_PER_IMAGE=10 scripts/lab.sh --kernel 6.1-arm64 -- bash -c \
        'scripts/lab-fallback.sh --expect ENOTSUPP --no-e2e --loader "$1" && scripts/lab-tests.sh --no-e2e --skip live_bpf_agrees_with_model "$2"' \
        - "target/$arm/release/armor-loader" "${arm_live[0]}" || failed
else
    echo "test.sh: the aarch64 build failed" >&2
    failed
fi
# CI disk (a CI machine may have little): nothing below needs these trees.
[ "${CI:-}" != true ] || rm -rf "target/$arm"

# The Landlock wrapper compile's pod patches copy in (docs/runtime.md "Landlock in Kubernetes
# pods") must be a static executable: built with crt-static, checked with file, ldd and a run in an
# empty root, packed as the init container's OCI layout.
section "armor-exec: static build and image layout"
# Both architectures, one multi-arch image (the tag resolves per node platform).
scripts/armor-exec.sh --arch all --image "$builds/armor-exec-oci" || failed
[ "${CI:-}" != true ] || rm -rf target/x86_64-unknown-linux-gnu target/aarch64-unknown-linux-gnu

section "fuzzing, bounded: scripts/fuzz.sh 10"
# Every target; a crash fails, its reproducer kept under fuzz/artifacts.
scripts/fuzz.sh 10 || failed
[ "${CI:-}" != true ] || rm -rf fuzz/target

section "kernel labs: waiting for the background"
labs_rc=0
wait "$labs_pid" || labs_rc=$?
echo "== kernel labs (ran in the background): their output"
cat "$builds/labs.log"
[ "$labs_rc" = 0 ] || failed
mapfile -t -O ${#timings[@]} timings <"$lab_times"

# The README's first command is `cargo run --release -- lint examples/`; run here is the binary the
# test build made: `cargo run` resolves the dependencies' features without the dev-dependencies
# (jsonschema, proptest), so it would build most of the workspace again (three minutes of CI).
section "README main job: armorc lint examples/"
target/release/armorc lint examples/ || failed
exit $status
