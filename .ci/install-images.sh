#!/usr/bin/env bash
# A real Debian bookworm image for tests/bookworm_image.rs (usr-merged: /bin -> usr/bin): built
# with mmdebstrap (minbase + iproute2) from Debian's archive, written as an OCI layout
# (scripts/oci-from-rootfs.py) under $ARMORC_IMAGE_CACHE (default /var/cache/armorc-images),
# once: an existing layout is kept.
set -euo pipefail
cache=${ARMORC_IMAGE_CACHE:-/var/cache/armorc-images}
[ -f "$cache/bookworm/index.json" ] && exit 0
command -v mmdebstrap >/dev/null 2>&1 || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null 2>&1 || { echo "install-images: apt-get install mmdebstrap failed" >&2; exit 1; }
}
mkdir -p "$cache"
tar=$cache/bookworm.tar
mmdebstrap --variant=minbase --include=iproute2 --mode=root --quiet bookworm "$tar" http://deb.debian.org/debian \
    || { echo "install-images: mmdebstrap bookworm failed" >&2; rm -f "$tar"; exit 1; }
python3 "$(dirname "$0")/../scripts/oci-from-rootfs.py" "$tar" "$cache/bookworm" bookworm
rm -f "$tar"
