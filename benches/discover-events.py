#!/usr/bin/env python3
"""Generate KubeArmor telemetry for `armorc discover` benchmarks (benches/discover.sh).

    python3 benches/discover-events.py N OUT.jsonl [--seed S]

N events (JSON lines, the field set armor-loader --visibility writes) from 10 workloads with two
pods each, deterministic for a seed. The mix per event: 55% file opens (shared libraries, config
files, a few hundred language modules, /proc/<pid>/..., temporary files written, log appends, a
few failed probes), 10% execs, 20% network (socket, connect with DNS, bind, accept), 3%
capabilities, 12% alerts and host events that discover counts and skips.
"""

import json
import random
import sys

WORKLOADS = [
    ("shop", "web", "nginx", "/usr/sbin/nginx"),
    ("shop", "api", "api", "/usr/local/bin/python3.11"),
    ("shop", "db", "postgres", "/usr/lib/postgresql/16/bin/postgres"),
    ("shop", "cache", "redis", "/usr/local/bin/redis-server"),
    ("shop", "worker", "worker", "/usr/local/bin/node"),
    ("ops", "prometheus", "prometheus", "/bin/prometheus"),
    ("ops", "grafana", "grafana", "/usr/share/grafana/bin/grafana"),
    ("ops", "fluentd", "fluentd", "/usr/bin/ruby"),
    ("auth", "keycloak", "keycloak", "/opt/java/openjdk/bin/java"),
    ("auth", "ldap", "openldap", "/usr/sbin/slapd"),
]
LIBS = ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "libssl.so.3", "libcrypto.so.3",
        "libz.so.1", "libpcre2-8.so.0", "libstdc++.so.6", "libgcc_s.so.1", "libffi.so.8",
        "libexpat.so.1", "libsqlite3.so.0", "liblzma.so.5", "libbz2.so.1.0", "libuuid.so.1"]
CONFIGS = ["/etc/passwd", "/etc/group", "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf",
           "/etc/ssl/certs/ca-certificates.crt", "/etc/localtime", "/etc/os-release",
           "/etc/ld.so.cache", "/dev/null", "/dev/urandom"]
TOOLS = ["/bin/sh", "/usr/bin/env", "/bin/cat", "/usr/bin/curl", "/bin/date", "/usr/bin/id"]
EXTERNAL = ["93.184.216.34", "140.82.112.3", "151.101.1.69"]


def main():
    n = int(sys.argv[1])
    out = sys.argv[2]
    seed = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--seed" else 1
    rnd = random.Random(seed)
    pods = []
    for i, (ns, name, container, exe) in enumerate(WORKLOADS):
        for replica in range(2):
            suffix = "".join(rnd.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
            modules = [f"/usr/lib/{name}/mod{j:03}/part{j % 7}.py" for j in range(rnd.randint(50, 300))]
            pods.append({
                "ns": ns, "name": name, "container": container, "exe": exe,
                "pod": f"{name}-7d4b9c8f6d-{suffix}",
                "labels": f"app={name},tier=t{i % 3},pod-template-hash=7d4b9c8f6d",
                "ip": f"10.{i + 1}.{replica}.10", "port": 8000 + i, "modules": modules,
            })
    t0 = 1767225600
    with open(out, "w") as f:
        for k in range(n):
            p = pods[rnd.randrange(len(pods))]
            r = rnd.random()
            kind, result = "ContainerLog", "Passed"
            op, resource, data, proc, parent = "File", "", "", p["exe"], "/bin/sh"
            if r < 0.55:
                f_r = rnd.random()
                flags = "O_RDONLY|O_CLOEXEC"
                if f_r < 0.20:
                    resource = "/usr/lib/x86_64-linux-gnu/" + rnd.choice(LIBS)
                elif f_r < 0.35:
                    resource = rnd.choice(CONFIGS)
                elif f_r < 0.60:
                    resource = rnd.choice(p["modules"])
                elif f_r < 0.75:
                    resource = f"/proc/{rnd.randint(1, 40000)}/" + rnd.choice(["stat", "status", "cmdline", "fd/3"])
                elif f_r < 0.85:
                    resource = f"/tmp/tmp{rnd.getrandbits(32):08x}/data"
                    flags = "O_RDWR|O_CREAT|O_EXCL"
                elif f_r < 0.95:
                    resource = f"/var/log/{p['name']}/access.log"
                    flags = "O_WRONLY|O_CREAT|O_APPEND"
                else:
                    resource = f"/usr/lib/x86_64-linux-gnu/tls/haswell/{rnd.choice(LIBS)}"
                    result = "No such file or directory"
                data = f"syscall=SYS_OPENAT flags={flags}"
                if rnd.random() < 0.2:
                    proc = rnd.choice(TOOLS)
            elif r < 0.65:
                op = "Process"
                resource = rnd.choice(TOOLS + [p["exe"]])
                data = "syscall=SYS_EXECVE"
                parent = rnd.choice(["/bin/sh", p["exe"]])
                proc = resource
            elif r < 0.85:
                op = "Network"
                n_r = rnd.random()
                if n_r < 0.3:
                    resource = "domain=AF_INET type=" + rnd.choice(["SOCK_STREAM|SOCK_NONBLOCK", "SOCK_DGRAM|SOCK_CLOEXEC"]) + " protocol=0"
                    data = "syscall=SYS_SOCKET"
                elif n_r < 0.5:
                    resource = "remoteip=10.96.0.10 port=53 protocol=UDP"
                    data = "syscall=SYS_CONNECT domain=AF_INET"
                elif n_r < 0.75:
                    peer = pods[rnd.randrange(len(pods))]
                    resource = f"remoteip={peer['ip']} port={peer['port']} protocol=TCP"
                    data = "syscall=SYS_CONNECT domain=AF_INET"
                    result = "Operation now in progress"
                elif n_r < 0.85:
                    resource = f"remoteip={rnd.choice(EXTERNAL)} port=443 protocol=TCP"
                    data = "kprobe=tcp_connect domain=AF_INET"
                elif n_r < 0.9:
                    resource = f"sa_family=AF_INET sin_port={p['port']} sin_addr={p['ip']} protocol=TCP"
                    data = "syscall=SYS_BIND"
                else:
                    peer = pods[rnd.randrange(len(pods))]
                    resource = f"remoteip={peer['ip']} port={p['port']} protocol=TCP"
                    data = "kprobe=tcp_accept domain=AF_INET"
            elif r < 0.88:
                op = "Capabilities"
                resource = rnd.choice(["CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_CHOWN"])
                data = "syscall=SYS_CAPABLE"
            else:
                kind = rnd.choice(["MatchedPolicy", "HostLog"])
                resource = rnd.choice(CONFIGS)
                data = "syscall=SYS_OPENAT flags=O_RDONLY"
            ts = t0 + k // 1000
            event = {
                "Timestamp": ts,
                "UpdatedTime": "2026-01-01T%02d:%02d:%02d.%06dZ" % (ts // 3600 % 24, ts // 60 % 60, ts % 60, k % 1000 * 1000),
                "ClusterName": "bench", "HostName": "node-1",
                "NamespaceName": p["ns"], "PodName": p["pod"], "Labels": p["labels"],
                "ContainerID": "c0ffee", "ContainerName": p["container"], "ContainerImage": "registry.local/" + p["name"] + ":1",
                "HostPID": 10000 + k % 50000, "HostPPID": 9999, "PID": 7 + k % 100, "PPID": 1, "UID": 0,
                "Type": kind, "Source": proc, "Operation": op, "Resource": resource, "Data": data,
                "Result": result, "ProcessName": proc, "ParentProcessName": parent,
            }
            f.write(json.dumps(event, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
