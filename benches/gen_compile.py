#!/usr/bin/env python3
"""Seeded generator for the `armorc compile` benchmark (benches/compile.sh).

Writes OUT/policies/ns-XX.yaml (100 namespaces x 100 policies = 10,000 policies, about 8 rules
each, in the rule-shape mix of ../shared/corpus/policy-templates) and OUT/workloads/ns-XX.yaml
(10 two-container Deployments per namespace = 1,000 Deployments). Every container is selected by
at least 20 policies: per namespace, 15 policies select the whole namespace, 45 select one of 5
tiers (2 Deployments each), 40 select one app (some of them one container only).

Mix measured over the corpus's lint-clean documents (armorc normalize): process paths 33%, file
paths 22%, file directories 16%, process patterns 11%, file patterns 11%, protocols 4.5%, process
directories 2%, capabilities 0.5%; actions Audit 51%, Block 38%, Allow 11%; 12% of rules have a
fromSource; recursive on 72% of file directories, ownerOnly on 20% of paths.

With --commands every container has a `command` (armor-exec wraps it, so its Landlock plan applies
and the divergence analysis compares BPF-LSM with Landlock too, D010).

Usage: gen_compile.py OUT [--seed N] [--commands]
"""

import os
import random
import sys

NAMESPACES = 100
POLICIES_PER_NS = 100
DEPLOYMENTS_PER_NS = 10
TIERS = 5

SHAPES = [
    ("process_path", 33.0),
    ("file_path", 22.0),
    ("file_dir", 16.0),
    ("process_pattern", 11.0),
    ("file_pattern", 11.0),
    ("protocol", 4.5),
    ("process_dir", 2.0),
    ("capability", 0.5),
]
ACTIONS = [("Audit", 51), ("Block", 38), ("Allow", 11)]

BINARIES = ["sh", "bash", "dash", "curl", "wget", "apt", "apt-get", "dpkg", "rpm", "yum", "apk", "nc",
            "ncat", "nmap", "tcpdump", "python3", "perl", "ruby", "php", "gcc", "make", "ssh", "scp",
            "passwd", "chmod", "chown", "mount", "umount", "su", "sudo", "crontab", "at", "git",
            "tar", "gzip", "base64", "xxd", "dd", "vi", "nano", "ps", "top", "kill", "nohup"]
BIN_DIRS = ["/bin/", "/usr/bin/", "/usr/sbin/", "/sbin/", "/usr/local/bin/"]
FILE_DIRS = ["/etc/", "/etc/ssl/", "/etc/ssh/", "/var/log/", "/var/lib/", "/root/", "/home/app/",
             "/proc/sys/", "/run/secrets/", "/usr/share/", "/var/run/", "/opt/app/conf/", "/tmp/",
             "/var/spool/cron/", "/etc/kubernetes/", "/usr/lib/", "/var/www/html/", "/srv/data/"]
FILES = ["passwd", "shadow", "group", "hosts", "resolv.conf", "sudoers", "crontab", "hostname",
         "config.yaml", "app.conf", "token", "ca.crt", "id_rsa", "authorized_keys", "known_hosts",
         "server.key", "settings.json", "motd", "profile", "bashrc", "issue", "fstab"]
PROTOCOLS = ["tcp", "udp", "icmp", "raw", "icmpv6", "sctp", "all"]
CAPS = ["net_raw", "sys_admin", "sys_ptrace", "net_admin", "sys_module", "dac_override", "chown"]


def weighted(rng, items):
    total = sum(w for _, w in items)
    x = rng.uniform(0, total)
    for item, w in items:
        x -= w
        if x <= 0:
            return item
    return items[-1][0]


def binary(rng):
    return rng.choice(BIN_DIRS) + rng.choice(BINARIES)


def from_source(rng, indent):
    if rng.random() >= 0.12:
        return ""
    return f"{indent}fromSource:\n{indent}  - path: {binary(rng)}\n"


def rule(rng, shape, host=False):
    """One list item (text) and the section it belongs to."""
    i = "        "
    if shape == "process_path":
        text = f"      - path: {binary(rng)}\n"
        if rng.random() < 0.2:
            text += f"{i}ownerOnly: true\n"
        return "process", "matchPaths", text + from_source(rng, i)
    if shape == "process_dir":
        text = f"      - dir: {rng.choice(BIN_DIRS)}\n"
        if rng.random() < 0.72:
            text += f"{i}recursive: true\n"
        return "process", "matchDirectories", text + from_source(rng, i)
    if shape == "process_pattern":
        return "process", "matchPatterns", f"      - pattern: /**/{rng.choice(BINARIES)}*\n"
    if shape == "file_path":
        text = f"      - path: {rng.choice(FILE_DIRS)}{rng.choice(FILES)}\n"
        if rng.random() < 0.2:
            text += f"{i}ownerOnly: true\n"
        if rng.random() < 0.05:
            text += f"{i}readOnly: true\n"
        return "file", "matchPaths", text + from_source(rng, i)
    if shape == "file_dir":
        text = f"      - dir: {rng.choice(FILE_DIRS)}\n"
        if rng.random() < 0.72:
            text += f"{i}recursive: true\n"
        if rng.random() < 0.05:
            text += f"{i}readOnly: true\n"
        return "file", "matchDirectories", text + from_source(rng, i)
    if shape == "file_pattern":
        return "file", "matchPatterns", f"      - pattern: {rng.choice(FILE_DIRS)}**/*.{rng.choice(['key', 'pem', 'log', 'conf'])}\n"
    if shape == "protocol":
        return "network", "matchProtocols", f"      - protocol: {rng.choice(PROTOCOLS)}\n" + from_source(rng, i)
    return "capabilities", "matchCapabilities", f"      - capability: {rng.choice(CAPS)}\n" + from_source(rng, i)


def policy(rng, ns, index, selector):
    sections = {}
    for _ in range(max(1, int(rng.gauss(8, 2)))):
        section, field, text = rule(rng, weighted(rng, SHAPES))
        sections.setdefault(section, {}).setdefault(field, []).append(text)
    action = weighted(rng, ACTIONS)
    out = [
        "apiVersion: security.kubearmor.com/v1\n",
        "kind: KubeArmorPolicy\n",
        f"metadata:\n  name: {ns}-policy-{index:03d}\n  namespace: {ns}\n",
        "spec:\n",
        selector,
        f"  severity: {rng.randint(1, 10)}\n",
    ]
    for section in ["process", "file", "network", "capabilities"]:
        if section not in sections:
            continue
        out.append(f"  {section}:\n")
        for field in sorted(sections[section]):
            out.append(f"    {field}:\n")
            out.extend(sections[section][field])
    out.append(f"  action: {action}\n")
    return "".join(out)


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    out = args[0]
    seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 42
    commands = "--commands" in args
    rng = random.Random(seed)
    os.makedirs(os.path.join(out, "policies"), exist_ok=True)
    os.makedirs(os.path.join(out, "workloads"), exist_ok=True)
    for n in range(NAMESPACES):
        ns = f"ns-{n:02d}"
        docs = []
        for j in range(POLICIES_PER_NS):
            slot = j % 20
            if slot < 3:
                selector = "  selector:\n    matchLabels: {}\n"
            elif slot < 12:
                selector = f"  selector:\n    matchLabels:\n      tier: t{j % TIERS}\n"
            elif j % 7 == 0:
                selector = f"  selector:\n    matchLabels:\n      app: app-{j % DEPLOYMENTS_PER_NS}\n      kubearmor.io/container.name: \"[main]\"\n"
            else:
                selector = f"  selector:\n    matchLabels:\n      app: app-{j % DEPLOYMENTS_PER_NS}\n"
            docs.append(policy(rng, ns, j, selector))
        with open(os.path.join(out, "policies", f"{ns}.yaml"), "w") as f:
            f.write("---\n".join(docs))
        workloads = []
        for d in range(DEPLOYMENTS_PER_NS):
            workloads.append(
                "apiVersion: apps/v1\nkind: Deployment\n"
                f"metadata:\n  name: app-{d}\n  namespace: {ns}\n"
                "spec:\n  template:\n    metadata:\n"
                f"      labels: {{app: app-{d}, tier: t{d % TIERS}}}\n"
                "    spec:\n      containers:\n"
                + ("        - {name: main, image: app, command: [/app]}\n        - {name: sidecar, image: proxy, command: [/proxy]}\n"
                   if commands
                   else "        - {name: main, image: app}\n        - {name: sidecar, image: proxy}\n")
            )
        with open(os.path.join(out, "workloads", f"{ns}.yaml"), "w") as f:
            f.write("---\n".join(workloads))


if __name__ == "__main__":
    main()
