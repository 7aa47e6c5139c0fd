#!/usr/bin/env python3
"""A one-layer OCI image layout from a root filesystem tar (e.g. mmdebstrap's output).

    scripts/oci-from-rootfs.py ROOTFS.tar OUT_DIR [TAG] [--arch ARCH] [--cmd JSON] [--also ARCH=ROOTFS.tar]

The layer is the tar gzip-compressed as is; the config records its diff_id; index.json names
the manifest with `org.opencontainers.image.ref.name` = TAG (default `latest`), so
`oci:OUT_DIR:TAG` reads it (armorc lint --image, recommend). ARCH is the OCI architecture
(default amd64), --cmd the config's Cmd as a JSON list (default ["/bin/bash"]). --also adds
the image of another architecture: TAG then names an image index of one manifest per platform
(a multi-arch image: each node pulls its own).
"""
import gzip
import hashlib
import json
import os
import shutil
import sys


def blob(out, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(out, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def image(tmp, rootfs, arch, cmd):
    """The manifest descriptor of a one-layer image of ROOTFS for ARCH, its blobs written."""
    with open(rootfs, "rb") as f:
        raw = f.read()
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    layer = blob(tmp, gzip.compress(raw, compresslevel=1, mtime=0))
    layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": cmd},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    config_desc = blob(tmp, json.dumps(config, sort_keys=True).encode())
    config_desc["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": [layer],
    }
    manifest_desc = blob(tmp, json.dumps(manifest, sort_keys=True).encode())
    manifest_desc["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    return manifest_desc


def main():
    args, options, also = [], {"--arch": "amd64", "--cmd": '["/bin/bash"]'}, []
    argv = sys.argv[1:]
    while argv:
        a = argv.pop(0)
        if a in options and argv:
            options[a] = argv.pop(0)
        elif a == "--also" and argv and "=" in argv[0]:
            also.append(argv.pop(0).split("=", 1))
        else:
            args.append(a)
    if len(args) not in (2, 3) or any(a.startswith("--") for a in args):
        sys.exit(__doc__.strip().splitlines()[2].strip())
    rootfs, out = args[0], args[1]
    tag = args[2] if len(args) == 3 else "latest"
    arch, cmd = options["--arch"], json.loads(options["--cmd"])
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "blobs", "sha256"))
    named = {"org.opencontainers.image.ref.name": tag}
    if not also:
        top = image(tmp, rootfs, arch, cmd)
        top["annotations"] = named
        top["platform"] = {"architecture": arch, "os": "linux"}
    else:
        manifests = []
        for a, r in [(arch, rootfs)] + also:
            m = image(tmp, r, a, cmd)
            m["platform"] = {"architecture": a, "os": "linux"}
            manifests.append(m)
        platforms = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
        top = blob(tmp, json.dumps(platforms, sort_keys=True).encode())
        top["mediaType"] = "application/vnd.oci.image.index.v1+json"
        top["annotations"] = named
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [top]}
    with open(os.path.join(tmp, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(tmp, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)


if __name__ == "__main__":
    main()
