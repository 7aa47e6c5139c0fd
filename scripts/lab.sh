#!/usr/bin/env bash
# The kernel lab: run one command inside a Debian kernel booted under qemu (TCG), where BPF-LSM
# and AppArmor are both active. The guest sees this machine's root filesystem read-only over 9p
# (so host-built binaries, libraries and tools run unchanged), with fresh tmpfs on /tmp, /run and
# /var/tmp and every other write going to a tmpfs overlay; `--share DIR` (repeatable) is mounted read-write at the same path. The command runs
# as root in the current directory; its exit status is lab.sh's. Kernel packages are downloaded
# once into $ARMORC_LAB_CACHE (default /var/cache/armorc-lab) by .ci/install-lab.sh.
#
# An arm64 kernel (--kernel 6.1-arm64) boots under qemu-system-aarch64 (`virt` board); this
# machine's x86-64 programs (bash, the tools) run there through qemu-x86_64 registered with
# binfmt_misc, aarch64 ones (target/aarch64-unknown-linux-gnu/...) natively.
#
#   scripts/lab.sh [--kernel 6.1|6.12|6.1-arm64|PKG] [--append ARGS] [--mem MB] [--timeout S] [--share DIR] -- CMD [ARGS...]
#   scripts/lab.sh --kernel 6.1 -- cat /sys/kernel/security/lsm
set -euo pipefail

kernel=6.1
append=""
mem=3072
timeout_s=1800
shares=()
while [ $# -gt 0 ]; do
    case "$1" in
        --kernel) kernel=$2; shift 2 ;;
        --append) append=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --timeout) timeout_s=$2; shift 2 ;;
        --share) shares+=("$(realpath "$2")"); shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "lab.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ $# -gt 0 ] || { echo "lab.sh: no command (lab.sh [options] -- CMD [ARGS...])" >&2; exit 2; }

# The guest mounts fresh tmpfs on these: a working directory under one of them (a checkout in
# /tmp) is invisible there unless it is shared.
case "$PWD/" in
    /tmp/*|/run/*|/var/tmp/*)
        shared=no
        for s in "${shares[@]}"; do case "$PWD/" in "$s"/*) shared=yes ;; esac; done
        if [ "$shared" = no ]; then
            echo "lab.sh: the working directory $PWD is under /tmp, /run or /var/tmp, which the lab guest" \
                "replaces with its own tmpfs: run from elsewhere (clone the repository outside /tmp) or pass --share DIR" >&2
            exit 2
        fi
        ;;
esac

cache=${ARMORC_LAB_CACHE:-/var/cache/armorc-lab}
here=$(cd "$(dirname "$0")" && pwd)
kdir=$("$here/../.ci/install-lab.sh" --kernel "$kernel" --print-dir)
release=$(cat "$kdir/release")

case "$release" in
    *-arm64)
        arch=arm64 qemu=qemu-system-aarch64 busybox=$kdir/busybox console=ttyAMA0
        machine=(-M virt -cpu max)
        ;;
    *)
        arch=amd64 qemu=qemu-system-x86_64 busybox=/bin/busybox console=ttyS0
        machine=(-cpu max)
        ;;
esac
for tool in "$qemu" cpio "$busybox"; do
    command -v "$tool" >/dev/null || { echo "lab.sh: $tool missing: run .ci/install-lab.sh" >&2; exit 2; }
done

work=$(mktemp -d /tmp/armorc-lab.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/initrd/bin" "$work/initrd/mods" "$work/initrd/proc" "$work/initrd/sys" "$work/initrd/dev" "$work/initrd/host"
cp "$busybox" "$work/initrd/bin/busybox"
# arm64: an x86-64 user-mode emulator for binfmt_misc (opened at registration: the F flag)
# and the arm64 apparmor_parser, ahead of the host's on PATH (/usr/local/sbin)
[ "$arch" = amd64 ] || cp "$kdir/qemu-x86_64" "$kdir/apparmor_parser" "$work/initrd/"
# 9p over virtio and its dependencies, in load order (all modules in Debian's kernels)
: > "$work/initrd/mods/order"
for m in $(cat "$kdir/9p-modules"); do
    cp "$kdir/root/$m" "$work/initrd/mods/"
    basename "$m" >> "$work/initrd/mods/order"
done

# The command, its working directory and the environment worth keeping, as a bash script.
{
    echo '#!/bin/bash'
    for v in $(compgen -e); do
        case "$v" in
            CI|RUST_BACKTRACE|RUST_LOG|ARMORC_*|CARGO_*|PATH|HOME|LANG|TERM) printf 'export %s=%q\n' "$v" "${!v}" ;;
        esac
    done
    echo 'export ARMORC_LAB=1'
    printf 'export ARMORC_LAB_KERNEL=%q\n' "$release"
    printf 'cd %q || exit 125\n' "$PWD"
    printf '%q ' "$@"
    echo
} > "$work/initrd/cmd"
printf '%s\n' "${shares[@]}" > "$work/initrd/shares"

cat > "$work/initrd/init" <<'EOF'
#!/bin/busybox sh
# Stage 1 (busybox): modules, the host root as the lower layer of a tmpfs-backed overlay, the
# kernel filesystems; then switch_root, so paths in the guest are the host's own (/usr/bin/id,
# not /newroot/usr/bin/id) for the LSM programs' path walk as for any process.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /mods/order); do insmod /mods/$m || echo "lab: insmod $m failed"; done
fail() { echo "lab: $*"; echo "ARMORC-LAB-EXIT 125"; poweroff -f; }
mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576,cache=loose,ro hostroot /lower || fail "9p mount failed"
mount -t tmpfs -o mode=0755 tmpfs /rw && mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "overlay mount failed"
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t devtmpfs dev /newroot/dev
for d in tmp run var/tmp; do mount -t tmpfs tmpfs /newroot/$d; done
mkdir -p /newroot/dev/pts && mount -t devpts devpts /newroot/dev/pts
ln -sf /proc/self/fd /newroot/dev/fd
ln -sf /proc/self/fd/0 /newroot/dev/stdin
ln -sf /proc/self/fd/1 /newroot/dev/stdout
ln -sf /proc/self/fd/2 /newroot/dev/stderr
mount -t bpf bpf /newroot/sys/fs/bpf
mount -t securityfs securityfs /newroot/sys/kernel/security
mount -t tracefs tracefs /newroot/sys/kernel/tracing
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup
i=0
for s in $(cat /shares); do
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576 share$i /newroot$s || echo "lab: share $s not mounted"
    i=$((i+1))
done
ip link set lo up
if [ -e /qemu-x86_64 ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    echo ':x86_64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00:\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/qemu-x86_64:F' \
        > /proc/sys/fs/binfmt_misc/register || fail "binfmt_misc registration failed"
fi
[ ! -e /apparmor_parser ] || { mkdir -p /newroot/usr/local/sbin && cp /apparmor_parser /newroot/usr/local/sbin/; }
echo 1 > /proc/sys/kernel/sysrq
mkdir -p /newroot/.armorc-lab && cp /cmd /newroot/.armorc-lab/cmd
cat > /newroot/.armorc-lab/stage2 <<'STAGE2'
# Stage 2 (the host's bash, in the guest's new root): the command, its status, power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
/bin/bash /.armorc-lab/cmd
# on a line of its own even when the command's output does not end in one (cat of an LSM list)
printf '\nARMORC-LAB-EXIT %s\n' "$?"
sync
echo o > /proc/sysrq-trigger
sleep 60  # PID 1 must not exit before the power-off takes effect
STAGE2
exec switch_root /newroot /bin/bash /.armorc-lab/stage2
EOF
chmod +x "$work/initrd/init" "$work/initrd/cmd"
(cd "$work/initrd" && find . | cpio -o -H newc --quiet) > "$work/initrd.cpio"

virtfs=(-virtfs "local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap")
i=0
for s in "${shares[@]}"; do
    virtfs+=(-virtfs "local,path=$s,mount_tag=share$i,security_model=passthrough")
    i=$((i + 1))
done

echo "lab: booting $release (qemu TCG, ${mem} MiB)" >&2
set +e
# One host thread runs the guest's CPUs in turn (thread=single): with a thread per CPU, a CPU once
# hit an int3 the kernel had already patched out of a BPF hook (CI, Debian 6.12: "Oops: int3" in
# bpf_lsm_file_open while the agent attached, a kernel panic; most likely a stale translation); the
# guest still has two CPUs, and the labs' wall time was the same (closed loop x3 on 6.12: 5m17s).
timeout --foreground "$timeout_s" "$qemu" "${machine[@]}" -accel tcg,thread=single -smp "$(nproc)" -m "$mem" \
    -nodefaults -no-user-config -display none -serial stdio -no-reboot -kernel "$kdir/vmlinuz" -initrd "$work/initrd.cpio" \
    -append "console=$console panic=-1 quiet loglevel=3 $append" "${virtfs[@]}" </dev/null | tee "$work/console" \
    | grep -v --line-buffered '^ARMORC-LAB-EXIT '
status=${PIPESTATUS[0]}
set -e
rc=$(sed -n 's/^ARMORC-LAB-EXIT \([0-9]*\).*/\1/p' "$work/console" | tail -1)
if [ -z "$rc" ]; then
    panic=$(grep -m1 -E 'Kernel panic|Oops' "$work/console" || true)
    echo "lab.sh: the guest ended without an exit status (qemu status $status; timeout ${timeout_s}s)${panic:+: $panic}" >&2
    exit 124
fi
exit "$rc"
