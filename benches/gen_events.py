#!/usr/bin/env python3
"""Seeded generator of KubeArmor event JSON lines for the `armorc summary` benchmark
(benches/summary.sh).

Writes N events (default 1,000,000) of 10 workloads (5 namespaces x 2 deployments) in KubeArmor's
field order and with its fields (Owner, ContainerImage, ContainerID, HostPID ...: about 700 bytes
a line, as `karmor logs --json` writes them). Mix of the 97% telemetry (ContainerLog):

  File 55%: shared libraries 40% (200 names under /usr/lib/x86_64-linux-gnu), /proc/PID/...
            25% (500 PIDs per workload), /tmp/ 10% (2,000 names per workload), config files 20%
            (/etc, the app's own), other 5% (/dev/null, /dev/urandom, /var/log/...);
  Process 15%: 30 executables run by 4 parents;
  Network 25%: connect 60% (40 peers, 6 ports), accept 25% (200 peers, the service port),
            bind 2%, socket 13% (no address: no table);
  Capabilities 5%.

and 3% alerts (MatchedPolicy, Block or Audit) on rows the telemetry also has. Times advance one
millisecond an event from 2024-05-01T00:00:00Z.

Usage: gen_events.py OUT [--events N] [--seed N]
"""

import json
import random
import sys

WORKLOADS = [(f"ns-{n}", f"app-{n}-{d}") for n in range(5) for d in range(2)]
LIBS = [f"/usr/lib/x86_64-linux-gnu/lib{name}.so.{v}" for name in
        ["c", "m", "ssl", "crypto", "z", "pthread", "dl", "rt", "stdc++", "gcc_s", "pcre2-8", "lzma", "zstd",
         "systemd", "selinux", "acl", "attr", "cap", "gmp", "ffi", "expat", "xml2", "curl", "nghttp2", "idn2"]
        for v in range(8)]
PROC_FILES = ["stat", "status", "cmdline", "fd/3", "maps", "limits", "environ"]
CONFIGS = ["/etc/passwd", "/etc/group", "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/ssl/certs/ca-certificates.crt",
           "/etc/localtime", "/etc/ld.so.cache", "/etc/os-release", "/etc/hostname"]
OTHER_FILES = ["/dev/null", "/dev/urandom", "/var/log/app.log", "/var/run/secrets/kubernetes.io/serviceaccount/token"]
EXECS = ["/bin/sh", "/bin/bash", "/usr/bin/curl", "/usr/bin/env", "/bin/cat", "/bin/ls", "/usr/bin/python3",
         "/usr/local/bin/app", "/usr/bin/find", "/bin/grep", "/bin/sed", "/usr/bin/awk", "/bin/ps", "/bin/date",
         "/usr/bin/id", "/usr/bin/head", "/usr/bin/tail", "/bin/sleep", "/usr/bin/wc", "/usr/bin/sort",
         "/bin/mkdir", "/bin/rm", "/bin/cp", "/bin/mv", "/usr/bin/tr", "/usr/bin/cut", "/bin/chmod", "/usr/bin/tee",
         "/usr/bin/xargs", "/usr/bin/openssl"]
PARENTS = ["/usr/bin/runc", "/bin/sh", "/bin/bash", "/usr/local/bin/app"]
PEERS = [f"10.{96 + i % 4}.{i // 4}.{10 + i}" for i in range(40)]
PORTS = [53, 80, 443, 5432, 6379, 8080]
CLIENTS = [f"10.244.{i // 50}.{i % 50 + 2}" for i in range(200)]


def weighted(rng, pairs):
    x = rng.random() * sum(w for _, w in pairs)
    for v, w in pairs:
        x -= w
        if x < 0:
            return v
    return pairs[-1][0]


def iso(ms):
    secs, ms = divmod(ms, 1000)
    days, rem = divmod(secs, 86400)
    # 2024-05-01 plus days (the benchmark stays within May).
    return f"2024-05-{1 + days:02d}T{rem // 3600:02d}:{rem % 3600 // 60:02d}:{rem % 60:02d}.{ms:03d}000Z"


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    out, n, seed = args[0], 1_000_000, 42
    if "--events" in args:
        n = int(args[args.index("--events") + 1])
    if "--seed" in args:
        seed = int(args[args.index("--seed") + 1])
    rng = random.Random(seed)
    base_ts = 1714521600  # 2024-05-01T00:00:00Z
    headers = []
    for i, (ns, app) in enumerate(WORKLOADS):
        cid = "%064x" % rng.getrandbits(256)
        pod = f"{app}-{rng.getrandbits(32):08x}-{rng.getrandbits(20):05x}"
        headers.append({
            "ClusterName": "default", "HostName": f"node-{i % 3}", "NamespaceName": ns,
            "Owner": {"Ref": "Deployment", "Name": app, "Namespace": ns}, "PodName": pod,
            "Labels": f"app={app},tier=t{i % 3}", "ContainerID": cid, "ContainerName": app,
            "ContainerImage": f"registry.example.com/{ns}/{app}:1.{i}@sha256:{rng.getrandbits(256):064x}",
        })
    with open(out, "w") as f:
        for k in range(n):
            w = rng.randrange(len(WORKLOADS))
            ev = dict(headers[w])
            ms = k  # one millisecond an event
            pid = rng.randrange(1, 500)
            proc = rng.choice(EXECS[:8])
            op = weighted(rng, [("File", 55), ("Process", 15), ("Network", 25), ("Capabilities", 5)])
            data, result = "", "Passed"
            if op == "File":
                kind = weighted(rng, [("lib", 40), ("proc", 25), ("tmp", 10), ("conf", 20), ("other", 5)])
                resource = {
                    "lib": lambda: rng.choice(LIBS),
                    "proc": lambda: f"/proc/{rng.randrange(1, 500)}/{rng.choice(PROC_FILES)}",
                    "tmp": lambda: f"/tmp/tmp.{rng.randrange(2000):06x}",
                    "conf": lambda: rng.choice(CONFIGS + [f"/etc/{ev['ContainerName']}/conf.d/{i}.yaml" for i in range(10)]),
                    "other": lambda: rng.choice(OTHER_FILES),
                }[kind]()
                data = "syscall=SYS_OPENAT fd=-100 flags=O_RDONLY|O_CLOEXEC"
                parent, source = rng.choice(PARENTS), proc
            elif op == "Process":
                exe = rng.choice(EXECS)
                parent = rng.choice(PARENTS)
                resource, source, proc = f"{exe} -c step{rng.randrange(5)}", parent, exe
                data = "syscall=SYS_EXECVE"
            elif op == "Network":
                kind = weighted(rng, [("connect", 60), ("accept", 25), ("bind", 2), ("socket", 13)])
                parent, source = rng.choice(PARENTS), proc
                if kind == "connect":
                    resource = f"remoteip={rng.choice(PEERS)} port={rng.choice(PORTS)} protocol=TCP"
                    data = "syscall=SYS_CONNECT domain=AF_INET"
                elif kind == "accept":
                    resource = f"remoteip={rng.choice(CLIENTS)} port=8080 protocol=TCP"
                    data = "syscall=SYS_ACCEPT4 domain=AF_INET"
                elif kind == "bind":
                    resource = "sa_family=AF_INET sin_port=8080 sin_addr=0.0.0.0 protocol=TCP"
                    data = "syscall=SYS_BIND"
                else:
                    resource = "domain=AF_INET type=SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC protocol=0"
                    data = "syscall=SYS_SOCKET"
            else:
                parent, source = rng.choice(PARENTS), proc
                resource, data = "CAP_NET_BIND_SERVICE", "syscall=SYS_SETSOCKOPT"
            alert = rng.random() < 0.03
            ev.update({
                "Timestamp": base_ts + ms // 1000, "UpdatedTime": iso(ms),
                "ParentProcessName": parent, "ProcessName": proc,
                "HostPPID": 100000 + pid, "HostPID": 200000 + pid, "PPID": 1, "PID": pid, "UID": 0,
                "Type": "MatchedPolicy" if alert else "ContainerLog",
                "Source": source, "Operation": op, "Resource": resource, "Data": data, "Result": result,
            })
            if alert:
                action = rng.choice(["Block", "Audit"])
                ev.update({"PolicyName": "audit-or-block", "Severity": "5", "Action": action, "Enforcer": "BPFLSM",
                           "Result": "Permission denied" if action == "Block" else "Passed"})
            f.write(json.dumps(ev, separators=(",", ":")))
            f.write("\n")


if __name__ == "__main__":
    main()
