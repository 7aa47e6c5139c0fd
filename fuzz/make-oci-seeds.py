#!/usr/bin/env python3
"""Writes the seed corpora of the OCI fuzz targets (oci_layer, oci_layout, oci_archive) into
corpus/<target>/. The layers hold our fixture files (examples/, a compiled map image) plus the
shapes recommend must handle: directories, symlinks (relative, absolute, dangling), hard links,
whiteouts, an opaque directory, /etc/os-release; plain, gzip and zstd. Deterministic output.
Run from fuzz/: python3 make-oci-seeds.py"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(ROOT)
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"


def tar_bytes(entries):
    """entries: (name, kind, payload): kind f (payload bytes), d, l (symlink to payload), h (hard link)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.mode = 0o755
            if kind == "f":
                info.size = len(payload)
                t.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE}[kind]
            if kind in "lh":
                info.linkname = payload
            t.addfile(info)
    return buf.getvalue()


def fixture(path):
    with open(os.path.join(REPO, path), "rb") as f:
        return f.read()


OS_RELEASE = b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
BASE = tar_bytes([
    ("etc", "d", None),
    ("etc/os-release", "f", OS_RELEASE),
    ("bin", "d", None),
    ("bin/sh", "f", b"#!fake shell\n"),
    ("usr/bin/python3", "f", b"\x7fELF"),
    ("usr/lib/os-release", "l", "../../etc/os-release"),
    ("usr/bin/python", "l", "python3"),
    ("usr/local/bin/py", "l", "/usr/bin/python"),
    ("dangling", "l", "/nowhere"),
    ("bin/bash", "h", "bin/sh"),
    ("srv/policies/ksp-block-shells.yaml", "f", fixture("examples/ksp-block-shells.yaml")),
    ("srv/policies/hsp-audit-node.yaml", "f", fixture("examples/hsp-audit-node.yaml")),
    ("var/lib/armor/host.img", "f", fixture("fuzz/corpus/map_image/host.img")),
    ("opt/app/config", "d", None),
    ("opt/app/config/a.yaml", "f", b"a: 1\n"),
])
TOP = tar_bytes([
    ("bin/.wh.bash", "f", b""),
    ("opt/app/config/.wh..wh..opq", "f", b""),
    ("opt/app/config/b.yaml", "f", b"b: 2\n"),
    ("etc/os-release", "f", b"ID=alpine\nVERSION_ID=3.20.0\n"),
    ("./usr/./bin/../bin/tool", "f", b""),
])
LINKS = tar_bytes([("a", "l", "b"), ("b", "l", "a"), ("c", "l", "/a/../c"), ("d/e", "l", "../../../../etc")])


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c", "-19"], input=data, stdout=subprocess.PIPE, check=True).stdout


def gz(data):
    return gzip.compress(data, mtime=0)


def write(target, name, data):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


# oci_layer: one input is the layers of one image, split at #LAYER#.
write("oci_layer", "base.tar", BASE)
write("oci_layer", "base.tar.gz", gz(BASE))
write("oci_layer", "base.tar.zst", zstd(BASE))
write("oci_layer", "base-top.tar", BASE + b"#LAYER#\n" + TOP)
write("oci_layer", "base-top-gz.tar", gz(BASE) + b"#LAYER#\n" + gz(TOP))
write("oci_layer", "links.tar", LINKS)
write("oci_layer", "empty.tar", b"\0" * 1024)


# oci_layout: index.json, then blobs; @D<n>@ / @S<n>@ name blob n's digest / size.
def j(v):
    return json.dumps(v, separators=(",", ":")).encode()


def config(layer, arch="amd64", variant=None):
    """A config whose diff id is the digest of the uncompressed `layer`."""
    c = {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [digest(layer)]}}
    if variant:
        c["variant"] = variant
    return c


def manifest(config, layer, media="application/vnd.oci.image.manifest.v1+json", layer_type=LAYER_TAR):
    return {"schemaVersion": 2, "mediaType": media,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": f"@D{config}@", "size": f"@S{config}@"},
            "layers": [{"mediaType": layer_type, "digest": f"@D{layer}@", "size": f"@S{layer}@"}]}


def desc(n, media="application/vnd.oci.image.manifest.v1+json", tag=None, platform=None):
    d = {"mediaType": media, "digest": f"@D{n}@", "size": f"@S{n}@"}
    if tag:
        d["annotations"] = {"org.opencontainers.image.ref.name": tag}
    if platform:
        d["platform"] = platform
    return d


# Fix the quoting: only sizes are unquoted; digests stay strings.
def fix(p):
    out = p
    for n in range(1, 10):
        out = out.replace(f'"@S{n}@"'.encode(), f"@S{n}@".encode())
    return out


def layout_bytes(index, blobs, header=b""):
    parts = [fix(j(index))] + [b if isinstance(b, bytes) else fix(j(b)) for b in blobs]
    return header + b"\n#BLOB#\n".join(parts)


single = layout_bytes({"schemaVersion": 2, "manifests": [desc(1, tag="v1")]},
                      [manifest(2, 3), config(BASE), gz(BASE)])
write("oci_layout", "single.bin", single)
write("oci_layout", "single-tag.bin", b"#TAG v1\n" + single)
multi = layout_bytes(
    {"schemaVersion": 2, "manifests": [desc(1, "application/vnd.oci.image.index.v1+json", tag="multi")]},
    [{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
      "manifests": [desc(2, platform={"os": "linux", "architecture": "amd64"}),
                    desc(4, platform={"os": "linux", "architecture": "arm64", "variant": "v8"}),
                    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "@D2@", "size": "@S2@",
                     "platform": {"os": "unknown", "architecture": "unknown"},
                     "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}]},
     manifest(3, 6), config(BASE), manifest(5, 6), config(BASE, "arm64", "v8"), BASE])
write("oci_layout", "multi.bin", multi)
write("oci_layout", "multi-arm.bin", b"#PLATFORM linux/arm64\n" + multi)
write("oci_layout", "index-platforms.bin", layout_bytes(
    {"schemaVersion": 2, "manifests": [desc(1, platform={"os": "linux", "architecture": "amd64"}),
                                        desc(1, platform={"os": "linux", "architecture": "amd64"}, tag="b")]},
    [manifest(2, 3), config(BASE), BASE]))
write("oci_layout", "docker-types.bin", layout_bytes(
    {"schemaVersion": 2, "manifests": [desc(1, "application/vnd.docker.distribution.manifest.v2+json")]},
    [manifest(2, 3, "application/vnd.docker.distribution.manifest.v2+json",
              "application/vnd.docker.image.rootfs.diff.tar.gzip"), config(TOP), gz(TOP)]))


# oci_archive: an OCI layout as a tar, and a `docker save` tarball.
def oci_archive_tar():
    cfg = j({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [digest(BASE)]}})
    man = j({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
             "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(cfg), "size": len(cfg)},
             "layers": [{"mediaType": LAYER_TAR, "digest": digest(BASE), "size": len(BASE)}]})
    idx = j({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": digest(man), "size": len(man), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]})
    entries = [("oci-layout", "f", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", "f", idx)]
    for b in (cfg, man, BASE):
        entries.append(("blobs/sha256/" + digest(b)[7:], "f", b))
    return tar_bytes(entries)


def docker_archive_tar():
    cfg = j({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [digest(TOP)]}})
    cfg_name = digest(cfg)[7:] + ".json"
    saved = j([{"Config": cfg_name, "RepoTags": ["example/app:1"], "Layers": ["0123/layer.tar"]}])
    return tar_bytes([("manifest.json", "f", saved), (cfg_name, "f", cfg), ("0123/layer.tar", "f", TOP)])


write("oci_archive", "oci-archive.tar", oci_archive_tar())
write("oci_archive", "docker-archive.tar", docker_archive_tar())
