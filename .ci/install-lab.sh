#!/usr/bin/env bash
# The kernel lab's tools (qemu TCG, a static busybox for the initramfs, cpio, kmod) and Debian's
# own kernel packages, unpacked once into $ARMORC_LAB_CACHE (default /var/cache/armorc-lab).
# An arm64 kernel (6.1-arm64) also gets, in its directory, arm64 builds of busybox (the guest's
# initramfs), of qemu-x86_64 (registered in the guest with binfmt_misc, so this machine's x86-64
# tools run there too) and of apparmor_parser (the guest's own: an emulated x86-64 parser inside
# an emulated arm64 machine is slow), and the host gets libc6:arm64 for our aarch64 binaries.
#   .ci/install-lab.sh                      tools + the lab kernels CI boots (6.1, 6.12, 6.1-arm64)
#   .ci/install-lab.sh --kernel K --print-dir   ensure kernel K (6.1, 6.12, 6.1-arm64, 6.12-arm64 or a package name), print its directory
set -euo pipefail

cache=${ARMORC_LAB_CACHE:-/var/cache/armorc-lab}
kernels=(6.1 6.12 6.1-arm64)
print_dir=0
while [ $# -gt 0 ]; do
    case "$1" in
        --kernel) kernels=("$2"); shift 2 ;;
        --print-dir) print_dir=1; shift ;;
        *) echo "install-lab: unknown option $1" >&2; exit 2 ;;
    esac
done

apt_updated=0
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    [ $apt_updated = 1 ] || { apt-get update -qq >/dev/null; apt_updated=1; }
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 || { echo "install-lab: apt-get install $* failed" >&2; exit 1; }
}

need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx insmod || need+=(busybox-static)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v depmod >/dev/null 2>&1 || need+=(kmod)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"

# arm64 guests: the emulator, the foreign architecture and the C runtime our aarch64 binaries load
if printf '%s\n' "${kernels[@]}" | grep -q arm64; then
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        dpkg --add-architecture arm64
        apt-get update -qq >/dev/null; apt_updated=1
    fi
    need=()
    command -v qemu-system-aarch64 >/dev/null 2>&1 || need+=(qemu-system-arm)
    [ -e /lib/ld-linux-aarch64.so.1 ] || need+=(libc6:arm64 libgcc-s1:arm64)
    [ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
fi

# Debian package name for a lab kernel alias.
package_of() {
    case "$1" in
        linux-image-*) echo "$1" ;;
        6.1) apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -1 ;;
        6.1-arm64) apt-cache depends linux-image-arm64:arm64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-arm64\)\(:arm64\)\{0,1\}$/\1/p' | head -1 ;;
        6.12-arm64) apt-cache search --names-only '^linux-image-6\.12\.[0-9]*\+deb12-arm64$' 2>/dev/null | cut -d' ' -f1 | sort -V | tail -1 ;;
        6.12) apt-cache search --names-only '^linux-image-6\.12\.[0-9]*\+deb12-amd64$' 2>/dev/null | cut -d' ' -f1 | sort -V | tail -1 ;;
        *) echo "install-lab: unknown kernel '$1' (6.1, 6.12, 6.1-arm64, 6.12-arm64 or linux-image-...)" >&2; return 1 ;;
    esac
}

for k in "${kernels[@]}"; do
    pkg=$(package_of "$k")
    if [ -z "$pkg" ]; then
        [ $apt_updated = 1 ] || { apt-get update -qq >/dev/null; apt_updated=1; }
        pkg=$(package_of "$k")
    fi
    [ -n "$pkg" ] || { echo "install-lab: no Debian package found for kernel $k" >&2; exit 1; }
    dir="$cache/$pkg"
    # (an arm64 directory made before the native apparmor_parser was added is made again)
    if [ ! -f "$dir/ready" ] || { [[ $pkg == *-arm64 ]] && [ ! -x "$dir/apparmor_parser" ]; }; then
        rm -rf "$dir" && mkdir -p "$dir/deb"
        debs=("$pkg")
        case "$pkg" in *-arm64) debs=("$pkg:arm64" busybox-static:arm64 qemu-user-static:arm64 apparmor:arm64) ;; esac
        (cd "$dir/deb" && apt-get download "${debs[@]}" >/dev/null 2>&1) || {
            apt-get update -qq >/dev/null
            (cd "$dir/deb" && apt-get download "${debs[@]}" >/dev/null 2>&1)
        } || { echo "install-lab: apt-get download ${debs[*]} failed" >&2; exit 1; }
        dpkg-deb -x "$dir"/deb/linux-image-*.deb "$dir/root"
        case "$pkg" in
            *-arm64)
                mkdir -p "$dir/tools"
                dpkg-deb -x "$dir"/deb/busybox-static_*.deb "$dir/tools"
                dpkg-deb -x "$dir"/deb/qemu-user-static_*.deb "$dir/tools"
                cp "$dir/tools/bin/busybox" "$dir/busybox"
                cp "$dir/tools/usr/bin/qemu-x86_64-static" "$dir/qemu-x86_64"
                dpkg-deb -x "$dir"/deb/apparmor_*.deb "$dir/tools"
                cp "$(find "$dir/tools" -name apparmor_parser -type f | head -1)" "$dir/apparmor_parser"
                rm -rf "$dir/tools"
                ;;
        esac
        rm -rf "$dir/deb"
        release=$(ls "$dir/root/lib/modules")
        cp "$dir/root/boot/vmlinuz-$release" "$dir/vmlinuz"
        echo "$release" > "$dir/release"
        depmod -b "$dir/root" "$release"
        # 9p over virtio and overlayfs (arm64: and binfmt_misc) with their dependencies, in load
        # order, relative to root/
        modules=(9p 9pnet_virtio virtio_pci overlay)
        case "$pkg" in *-arm64) modules+=(binfmt_misc) ;; esac
        modprobe -d "$dir/root" -S "$release" --show-depends -a "${modules[@]}" \
            | awk '$1 == "insmod" {print $2}' | awk '!seen[$0]++' | sed "s|^$dir/root/||" > "$dir/9p-modules"
        [ -s "$dir/9p-modules" ] || { echo "install-lab: no 9p modules in $pkg" >&2; exit 1; }
        touch "$dir/ready"
    fi
    [ $print_dir = 0 ] || echo "$dir"
done
