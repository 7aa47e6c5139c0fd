#!/usr/bin/env python3
"""Inputs of scripts/cross-check.sh, derived from the shared corpus by the x86_64 `armorc`.

  cross-check-inputs.py compile ARMORC CORPUS OUT   lint-clean policy list, workloads, node labels,
                                                    query lines
  cross-check-inputs.py image TEMPLATES OUT         an OCI layout (+ oci-archive) whose files
                                                    trigger every built-in template

compile: OUT/clean.txt lists every corpus YAML file without a lint error (one per line; `armorc
compile` refuses a run with any error). OUT/workloads/ holds one Deployment per distinct
(namespace, matchLabels, container list) of the namespaced policies, so every one of them lands on
a container target. OUT/host/N.labels holds one `--node-labels` value per distinct nodeSelector
of the host policies and OUT/host/N.files the files whose host policies select it (one compile
each: a node has one label set). OUT/queries.jsonl asks exec/open/write for every path the rules
name (`armorc query` against each map image).

image: a usr-merged root file system holding every path named by a built-in template's
precondition (executable/file/dir, braces expanded), one gzip layer written byte-reproducibly
(sorted names, mtime 0, uid/gid 0, `gzip -n`); OUT/layout is `oci:OUT/layout:v1`, OUT/image.tar
the same layout as `oci-archive:`.
"""

import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile


def compile_inputs(armorc, corpus, out):
    lint = subprocess.run([armorc, "lint", corpus, "--format", "json"], capture_output=True, text=True)
    if lint.returncode not in (0, 1):
        sys.exit(f"cross-check-inputs: armorc lint exited {lint.returncode}: {lint.stderr[-2000:]}")
    bad = {d["file"] for d in json.loads(lint.stdout)["diagnostics"] if d["severity"] == "error"}
    files = []
    for root, dirs, names in os.walk(corpus):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(root, n)
            if n.endswith((".yaml", ".yml")) and p not in bad:
                files.append(p)
    files.sort()
    norm = subprocess.run([armorc, "normalize", *files], capture_output=True, text=True)
    if norm.returncode != 0:
        sys.exit(f"cross-check-inputs: armorc normalize exited {norm.returncode}: {norm.stderr[-2000:]}")
    policies = json.loads(norm.stdout)
    if len(policies) < 100:
        sys.exit(f"cross-check-inputs: only {len(policies)} lint-clean policies in {corpus}")
    os.makedirs(os.path.join(out, "workloads"), exist_ok=True)
    os.makedirs(os.path.join(out, "host"), exist_ok=True)
    with open(os.path.join(out, "clean.txt"), "w") as f:
        f.write("".join(p + "\n" for p in files))

    workloads = {}
    hosts = {}
    paths = set()
    for p in policies:
        sel = p["selector"]
        if "Namespaced" in sel:
            s = sel["Namespaced"]
            labels = dict(s["match_labels"])
            key = (p["namespace"] or "default", json.dumps(labels, sort_keys=True), tuple(s["containers"]))
            workloads.setdefault(key, labels)
        elif "Host" in sel:
            key = json.dumps(sel["Host"]["node_labels"], sort_keys=True)
            hosts.setdefault(key, set()).add(p["origin"]["file"])
        for r in p["rules"]:
            for kind, t in r["target"].items():
                if isinstance(t, dict):
                    v = t.get("path") or t.get("dir")
                    if isinstance(v, str) and v.startswith("/"):
                        paths.add(v.rstrip("/") or "/")
                        if v.endswith("/"):
                            paths.add(v + "cross-check")  # a file inside the directory
    docs = []
    for i, ((ns, labels_json, containers), labels) in enumerate(sorted(workloads.items())):
        labels = json.loads(labels_json)
        names = list(containers) or ["app"]
        lines = [
            "apiVersion: apps/v1",
            "kind: Deployment",
            "metadata:",
            f"  name: w{i:03}",
            f"  namespace: {json.dumps(ns)}",
            "spec:",
            "  selector:",
            "    matchLabels: " + json.dumps(labels or {"cross-check": f"w{i:03}"}),
            "  template:",
            "    metadata:",
            "      labels: " + json.dumps(labels or {"cross-check": f"w{i:03}"}),
            "    spec:",
            "      containers:",
        ]
        for c in names:
            lines += [f"        - name: {json.dumps(c)}", "          image: busybox"]
        docs.append("\n".join(lines) + "\n")
    with open(os.path.join(out, "workloads", "deployments.yaml"), "w") as f:
        f.write("---\n".join(docs))
    for i, (labels_json, origin_files) in enumerate(sorted(hosts.items())):
        labels = json.loads(labels_json)
        with open(os.path.join(out, "host", f"{i:02}.labels"), "w") as f:
            f.write(",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "\n")
        with open(os.path.join(out, "host", f"{i:02}.files"), "w") as f:
            f.write("".join(p + "\n" for p in sorted(origin_files)))
    with open(os.path.join(out, "queries.jsonl"), "w") as f:
        for path in sorted(paths):
            for op in ("exec", "open", "write"):
                f.write(json.dumps({"op": op, "path": path}) + "\n")
    print(
        f"corpus: {len(files)} lint-clean files, {len(policies)} policies, {len(docs)} workloads, "
        f"{len(hosts)} host label sets, {3 * len(paths)} queries"
    )


def expand_braces(s):
    m = re.search(r"\{([^{}]*)\}", s)
    if not m:
        return [s]
    return [x for alt in m.group(1).split(",") for x in expand_braces(s[: m.start()] + alt + s[m.end():])]


def image_inputs(templates, out):
    entries = {}
    call = re.compile(r'\b(executable|file|dir)\("([^"]+)"\)')
    for name in sorted(os.listdir(templates)):
        meta = os.path.join(templates, name, "meta.yaml")
        if not os.path.exists(meta):
            continue
        for line in open(meta):
            if line.startswith("precondition:"):
                for kind, pattern in call.findall(line):
                    for p in expand_braces(pattern):
                        if not any(c in p for c in "*?[") and p.startswith("/"):
                            entries.setdefault(p.rstrip("/"), kind)
    if len(entries) < 20:
        sys.exit(f"cross-check-inputs: only {len(entries)} precondition paths under {templates}")
    # usr-merged: /bin, /sbin, /lib are links into /usr
    merged = {"/bin": "usr/bin", "/sbin": "usr/sbin", "/lib": "usr/lib"}
    members = {}

    def add_dir(p):
        while p not in ("", "/") and p not in members:
            members[p] = ("dir", None)
            p = os.path.dirname(p)

    for link in merged:
        members[link] = ("symlink", merged[link])
    for p, kind in sorted(entries.items()):
        for link, target in merged.items():
            if p == link or p.startswith(link + "/"):
                p = "/" + target + p[len(link):]
        if kind == "dir":
            add_dir(p)
        elif p not in members:
            add_dir(os.path.dirname(p))
            members[p] = ("exe" if kind == "executable" else "file", None)
    add_dir("/etc")
    members["/etc/os-release"] = ("file", b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="cross-check"\n')
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for p in sorted(members):
            kind, data = members[p]
            info = tarfile.TarInfo("." + p)
            info.mtime = 0
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, data, 0o777
                tar.addfile(info)
            else:
                body = data if data is not None else b"x"
                info.size, info.mode = len(body), 0o755 if kind == "exe" else 0o644
                tar.addfile(info, io.BytesIO(body))
    layer_tar = raw.getvalue()
    layer = gzip.compress(layer_tar, mtime=0)
    layout = os.path.join(out, "layout")
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(data):
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, d), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + d, "size": len(data)}

    diff_id = "sha256:" + hashlib.sha256(layer_tar).hexdigest()
    config = put(json.dumps({
        "architecture": "arm64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "config": {},
    }).encode())
    manifest = put(json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **put(layer)}],
    }).encode())
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest,
            "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
            "annotations": {"org.opencontainers.image.ref.name": "v1"},
        }]}, f)
    with tarfile.open(os.path.join(out, "image.tar"), "w", format=tarfile.PAX_FORMAT) as tar:
        for root, dirs, names in os.walk(layout):
            dirs.sort()
            for n in sorted(dirs) + sorted(names):
                p = os.path.join(root, n)
                info = tar.gettarinfo(p, os.path.relpath(p, layout))
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                if info.isfile():
                    with open(p, "rb") as f:
                        tar.addfile(info, f)
                elif n in dirs:
                    tar.addfile(info)
    print(f"image: {len(members)} entries ({len(entries)} precondition paths), layer {len(layer)} bytes")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "compile":
        compile_inputs(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "image":
        image_inputs(*sys.argv[2:])
    else:
        sys.exit(__doc__)
