//! Real-kernel tests (root; bpffs mounted by the test): the LSM object with aya, each LSM
//! program load attempted (skipped with the kernel's errno where refused, enforcement checked
//! where it loads), the exec tracepoint against /proc, pinned apply/remove, `armor-loader`.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use armor_runtime::kernel::{Harness, Targets};
use armor_runtime::mutate;
use armor_runtime::probe;
use armor_runtime::task::ExecTracer;
use armorc_compiler::image::*;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ns_inum(pid: u32, ns: &str) -> u32 {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
    let s = link.to_string_lossy();
    s[s.find('[').unwrap() + 1..s.len() - 1].parse().unwrap()
}

/// A cgroup v2 directory of our own (removed on drop).
struct Cgroup(PathBuf);

impl Cgroup {
    fn new(name: &str) -> Cgroup {
        let root = Path::new("/sys/fs/cgroup/unified");
        if !root.join("cgroup.procs").exists() {
            std::fs::create_dir_all(root).unwrap();
            // SAFETY: source, target and type are NUL-terminated literals and data is NULL
            // (cgroup2 needs no options); mount(2) only reads them.
            let rc = unsafe {
                libc::mount(
                    c"cgroup2".as_ptr(),
                    c"/sys/fs/cgroup/unified".as_ptr(),
                    c"cgroup2".as_ptr(),
                    0,
                    std::ptr::null(),
                )
            };
            assert_eq!(rc, 0, "mounting cgroup2: {}", std::io::Error::last_os_error());
        }
        let dir = root.join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Cgroup(dir)
    }
    fn procs(&self) -> PathBuf {
        self.0.join("cgroup.procs")
    }
}

impl Drop for Cgroup {
    /// Kills what is left in the cgroup (a process that outlived its unshare parent once spun
    /// on a core for the rest of a CI run), then removes it.
    fn drop(&mut self) {
        let _ = std::fs::write(self.0.join("cgroup.kill"), "1");
        let deadline = Instant::now() + LAB_PATIENCE;
        while std::fs::read_to_string(self.procs()).is_ok_and(|p| !p.trim().is_empty()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// How long a step may take before the test gives up: generous, because in the arm64 lab the
/// x86-64 tools run emulated inside an emulated machine (a correctness bound, not a timing test).
const LAB_PATIENCE: Duration = Duration::from_secs(60);

/// Start `script` under `unshare --pid --mount --fork --kill-child` inside `cgroup`; returns the
/// unshare child and the host pid of the process inside the new namespaces (killed with it).
fn spawn_isolated(cgroup: &Cgroup, script: &str) -> (std::process::Child, u32) {
    let procs = std::ffi::CString::new(cgroup.procs().into_os_string().into_vec()).unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--mount", "--fork", "--kill-child", "sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are sound (the test harness has other threads): open/write/close on a NUL-terminated
    // path prepared before the fork and a static byte; nothing allocates (an OS io::Error does
    // not); fd is the descriptor just opened, closed once.
    unsafe {
        cmd.pre_exec(move || {
            // join the test's cgroup before exec ("0" = the writing process)
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let n = libc::write(fd, b"0".as_ptr().cast(), 1);
            let err = std::io::Error::last_os_error();
            libc::close(fd);
            if n == 1 {
                Ok(())
            } else {
                Err(err)
            }
        });
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + LAB_PATIENCE;
    let inner = loop {
        let children =
            std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id())).unwrap_or_default();
        if let Some(p) = children.split_whitespace().next() {
            break p.parse().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("unshare did not fork");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (child, inner)
}

#[test]
fn exec_tracepoint_matches_proc() {
    if !common::root_or_skip() {
        return;
    }
    let tracer = ExecTracer::attach(0).expect("attaching sched/sched_process_exec");
    let cg = Cgroup::new("armorc-tp");
    // a native executable that stays until killed (in the arm64 lab `sleep` is an emulated x86-64
    // program, whose exe is the emulator)
    let dir = tempfile::tempdir().unwrap();
    let spin = dir.path().join("spin");
    std::fs::write(&spin, armor_runtime::mutate::spinning_elf()).unwrap();
    std::fs::set_permissions(&spin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (mut child, inner_pid) = spawn_isolated(&cg, &format!("exec {}", spin.display()));
    // wait until the inner process has exec'd spin and its record is there
    let deadline = Instant::now() + LAB_PATIENCE;
    let rec = loop {
        let exe = std::fs::read_link(format!("/proc/{inner_pid}/exe")).ok();
        if let (Some(exe), Some(rec)) = (exe, tracer.record(inner_pid).unwrap()) {
            if exe.ends_with("spin") && rec.path.ends_with(b"spin") {
                break rec;
            }
        }
        assert!(Instant::now() < deadline, "no exec record for pid {inner_pid}");
        std::thread::sleep(Duration::from_millis(10));
    };
    let cgroup_line = std::fs::read_to_string(format!("/proc/{inner_pid}/cgroup")).unwrap();
    assert!(cgroup_line.contains(cg.0.file_name().unwrap().to_str().unwrap()), "not in our cgroup: {cgroup_line}");
    let pid_ns = ns_inum(inner_pid, "pid_for_children");
    let mnt_ns = ns_inum(inner_pid, "mnt");
    assert_ne!(pid_ns, ns_inum(std::process::id(), "pid"), "child shares our pid namespace");
    assert_ne!(mnt_ns, ns_inum(std::process::id(), "mnt"), "child shares our mount namespace");
    let status = std::fs::read_to_string(format!("/proc/{inner_pid}/status")).unwrap();
    let uid: u32 =
        status.lines().find(|l| l.starts_with("Uid:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{inner_pid}/stat")).unwrap();
    let tty_nr: i64 = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().nth(4).unwrap().parse().unwrap();
    let exe = std::fs::read_link(format!("/proc/{inner_pid}/exe")).unwrap();
    let exe_uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&exe).unwrap());
    println!("tracepoint record: {rec:?}");
    assert_eq!(rec.tgid, inner_pid);
    assert_eq!((rec.pid_ns, rec.mnt_ns), (pid_ns, mnt_ns));
    assert_eq!(rec.key, (pid_ns, mnt_ns), "a container task's outer key is its namespaces");
    assert_eq!(rec.uid, uid);
    assert_eq!(rec.exe_uid, exe_uid);
    assert_eq!(rec.owner, exe_uid == uid);
    assert_eq!(rec.tty, tty_nr != 0);
    assert_eq!(rec.path, exe.to_string_lossy().as_bytes());
    let _ = child.kill();
    let _ = child.wait();
    // a host task maps to the host key {0,0}
    let mut own = Command::new("true").spawn().unwrap();
    let pid = own.id();
    own.wait().unwrap();
    let deadline = Instant::now() + LAB_PATIENCE;
    let rec = loop {
        if let Some(r) = tracer.record(pid).unwrap() {
            break r;
        }
        assert!(Instant::now() < deadline, "no record for host pid {pid}");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(rec.key, (0, 0));
}

/// Our LSM object opens with aya (maps created, CO-RE relocations resolved against
/// /sys/kernel/btf/vmlinux), then every LSM program load is attempted.
#[test]
fn lsm_programs_load_or_skip_with_errno() {
    if !common::root_or_skip() {
        return;
    }
    let mut obj = probe::open_lsm_object().expect("opening the LSM object with aya");
    assert!(obj.map(armor_runtime::TARGETS_MAP).is_some());
    let results = probe::try_load_lsm(&mut obj).unwrap();
    assert_eq!(results.len(), probe::LSM_PROGRAMS.len());
    let mut loaded = 0;
    for (name, hook, r) in &results {
        match r {
            Ok(()) => {
                loaded += 1;
                println!("loaded: {name} (lsm/{hook})");
            }
            Err(errno) => println!("skipped: {name}: {errno}"),
        }
    }
    if loaded == results.len() {
        enforce_in_own_namespaces(obj);
    } else if loaded > 0 {
        panic!("only {loaded} of {} LSM programs loaded", results.len());
    } else if std::env::var_os("ARMORC_LAB").is_some() {
        panic!("the kernel lab refused our LSM programs (see the errnos above)");
    } else {
        println!(
            "skipped: enforce_in_own_namespaces: this kernel refuses LSM program loads; it runs in the kernel lab"
        );
    }
}

/// Where the kernel accepts our LSM programs: a Block on exec and on file write for a process in
/// namespaces and a cgroup the test created, and nothing outside them.
fn enforce_in_own_namespaces(mut obj: aya::Ebpf) {
    let mut links = Vec::new();
    for (name, _) in probe::LSM_PROGRAMS {
        let prog: &mut aya::programs::Lsm = obj.program_mut(name).unwrap().try_into().unwrap();
        links.push(prog.attach().expect("attaching"));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("guarded.txt");
    std::fs::write(&file, "x").unwrap();
    let fifo = dir.path().join("go");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: c is a NUL-terminated path, alive for the call; mkfifo only reads it.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let script = format!(
        "read _ < {fifo}; /usr/bin/id >/dev/null 2>&1; echo exec=$?; (echo y >> {file}) 2>/dev/null; echo write=$?; cat {file} >/dev/null 2>&1; echo read=$?",
        fifo = fifo.display(),
        file = file.display()
    );
    let cg = Cgroup::new("armorc-lsm");
    let (child, inner_pid) = spawn_isolated(&cg, &script);
    let key = (ns_inum(inner_pid, "pid_for_children"), ns_inum(inner_pid, "mnt"));
    let p = |s: &str| Key::path(KIND_PATH, s.as_bytes(), None);
    let image = MapImage {
        target: "test".into(),
        entries: vec![
            Entry {
                key: p("/usr/bin/id"),
                value: Value { process: EXEC | DENY, file: 0, rule: u32::MAX },
                text: "/usr/bin/id".into(),
            },
            Entry {
                key: p(file.to_str().unwrap()),
                value: Value { process: 0, file: READ | DENY, rule: u32::MAX },
                text: "guarded".into(),
            },
        ],
        rules: vec![],
    };
    let map = obj.take_map(armor_runtime::TARGETS_MAP).unwrap();
    let mut targets = Targets::from_map(map).expect("armor_targets");
    targets.apply(key, &image).unwrap();
    std::fs::OpenOptions::new().write(true).open(&fifo).unwrap().write_all(b"go\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("inside: {text}");
    assert!(text.contains("exec=126") || text.contains("exec=1"), "exec not blocked: {text}");
    assert!(!text.contains("write=0"), "write not blocked: {text}");
    assert!(text.contains("read=0"), "read-only rule blocked a read: {text}");
    // outside the namespaces nothing is blocked
    assert!(Command::new("/usr/bin/id").output().unwrap().status.success());
    std::fs::OpenOptions::new().append(true).open(&file).unwrap().write_all(b"z").unwrap();
    targets.remove(key).unwrap();
    drop(links);
}

#[test]
fn pinned_apply_swap_and_remove() {
    if !common::root_or_skip() {
        return;
    }
    let pin = PathBuf::from(format!("/sys/fs/bpf/armorc-test-{}", std::process::id()));
    struct Unpin(PathBuf);
    impl Drop for Unpin {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0.join(armor_runtime::TARGETS_MAP));
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _unpin = Unpin(pin.clone());
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bpf-rules.yaml")).unwrap();
    let img = mutate::images_from_yaml("bpf-rules.yaml", &text, mutate::postures()[0]).remove(0);
    {
        let mut t = Targets::pinned(Some(&pin)).unwrap();
        t.apply((11, 22), &img).unwrap();
    }
    // a second opener sees the pinned map and the image
    let mut t = Targets::pinned(Some(&pin)).unwrap();
    assert_eq!(t.keys().unwrap(), vec![(11, 22)]);
    let inner = t.inner((11, 22)).unwrap();
    let kernel_keys: std::collections::BTreeSet<[u8; 32]> = inner.keys().map(|k| k.unwrap()).collect();
    let image_keys: std::collections::BTreeSet<[u8; 32]> = img.entries.iter().map(|e| e.key.to_bytes()).collect();
    assert_eq!(kernel_keys, image_keys);
    // swapping in a smaller image replaces the whole rule map
    let small = MapImage { entries: img.entries[..3].to_vec(), ..img.clone() };
    t.apply((11, 22), &small).unwrap();
    assert_eq!(t.inner((11, 22)).unwrap().keys().count(), 3);
    assert!(t.remove((11, 22)).unwrap());
    assert!(!t.remove((11, 22)).unwrap());
    // many at once: every target gets exactly its image
    let imgs: Vec<MapImage> =
        (1..=40).map(|n| MapImage { entries: img.entries[..n].to_vec(), ..img.clone() }).collect();
    let items: Vec<_> = imgs.iter().enumerate().map(|(i, m)| ((100 + i as u32, 1), m)).collect();
    t.apply_many(&items).unwrap();
    for (i, m) in imgs.iter().enumerate() {
        assert_eq!(t.inner((100 + i as u32, 1)).unwrap().keys().count(), m.entries.len());
        assert!(t.remove((100 + i as u32, 1)).unwrap());
    }
}

fn loader(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_armor-loader")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn loader_verify_and_bad_images() {
    if !common::root_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bpf-rules.yaml")).unwrap();
    let img = mutate::images_from_yaml("bpf-rules.yaml", &text, mutate::postures()[2]).remove(0);
    let img_path = dir.path().join("t.img");
    std::fs::write(&img_path, img.encode()).unwrap();
    let qs = mutate::queries(&img, &mut mutate::Rng::new(9), 3);
    let q_path = dir.path().join("q.jsonl");
    let lines: Vec<String> = qs.iter().map(armorc_compiler::query::to_line).collect();
    std::fs::write(&q_path, lines.join("\n") + "\n").unwrap();
    let (code, out, err) = loader(&["verify", img_path.to_str().unwrap(), q_path.to_str().unwrap()]);
    println!("{out}{err}");
    assert_eq!(code, 0);
    assert_eq!(out.lines().next().unwrap(), format!("{n} queries, {n} agree, 0 disagree", n = qs.len()));

    // truncated, corrupted, other version: rejected before anything touches the kernel
    let bytes = img.encode();
    let pin = format!("/sys/fs/bpf/armorc-bad-{}", std::process::id());
    for (name, b, msg) in [
        ("truncated", bytes[..bytes.len() / 2].to_vec(), "truncated"),
        (
            "corrupt",
            {
                let mut b = bytes.clone();
                let n = b.len() - 1;
                b[n] ^= 1;
                b
            },
            "checksum",
        ),
        (
            "version",
            {
                let mut b = bytes.clone();
                b[8] = 9; // a format version this loader does not read
                b
            },
            "version",
        ),
    ] {
        let p = dir.path().join(format!("{name}.img"));
        std::fs::write(&p, b).unwrap();
        for args in [
            vec!["verify", p.to_str().unwrap(), q_path.to_str().unwrap()],
            vec!["apply", p.to_str().unwrap(), "--host", "--pin-dir", &pin],
        ] {
            let (code, out, err) = loader(&args);
            assert_eq!(code, 1, "{name} {args:?}");
            assert!(out.is_empty(), "{out}");
            assert!(err.contains(msg) && err.contains(&format!("{name}.img")), "{name}: {err}");
        }
        assert!(!Path::new(&pin).exists(), "a rejected image touched bpffs");
    }
}

#[test]
fn harness_rejects_oversized_queries_cleanly() {
    if !common::root_or_skip() {
        return;
    }
    let h = Harness::load().unwrap();
    let mut q = armorc_compiler::model::Query::new(armorc_compiler::model::Op::Open);
    q.path = vec![b'a'; 1024];
    q.source = vec![b'b'; 1024];
    q.args = vec![vec![b'c'; 100]; 20];
    let e = h.decide(&q, (1, 1)).unwrap_err();
    assert!(format!("{e:#}").contains("packet limit"), "{e:#}");
}

/// `exec`'s spawner: the command runs in new pid and mount namespaces whose key `setup` saw
/// before the command started; its exit status comes back; teardown runs after it.
#[test]
fn run_isolated_reports_the_commands_namespaces() {
    if !common::root_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ns");
    let script = format!(
        "readlink /proc/self/ns/mnt > {o}; readlink /proc/self/ns/pid >> {o}; echo $$ >> {o}; exit 7",
        o = out.display()
    );
    let cmd: Vec<std::ffi::OsString> = ["sh", "-c", &script].iter().map(Into::into).collect();
    let seen = std::cell::Cell::new(None);
    let torn = std::cell::Cell::new(None);
    let code = armor_runtime::exec::run_isolated(
        &cmd,
        None,
        |key| {
            assert!(!out.exists(), "the command ran before setup returned");
            seen.set(Some(key));
            Ok(())
        },
        |key| torn.set(Some(key)),
    )
    .unwrap();
    assert_eq!(code, 7);
    let key = seen.get().unwrap();
    assert_eq!(torn.get(), Some(key));
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("mnt:[{}]", key.1), "{text}");
    assert_eq!(lines[1], format!("pid:[{}]", key.0), "{text}");
    assert_eq!(lines[2], "1", "the command is pid 1 of its namespace: {text}");
    // a failing setup never runs the command
    let code = armor_runtime::exec::run_isolated(&cmd, None, |_| anyhow::bail!("refused"), |_| ());
    assert!(code.unwrap_err().to_string().contains("refused"));
}

/// The visibility monitor on this kernel: `exec --lsm none --visibility ... --events FILE` writes
/// what the command did as KubeArmor ContainerLog JSON, attributed to the target, with absolute
/// paths (a failed relative open joined to the working directory), the results, and the peers
/// and ports of a TCP bind/connect/accept; nothing of processes outside the target.
#[test]
fn visibility_records_what_the_target_does() {
    if !common::root_or_skip() {
        return;
    }
    if Command::new("python3").arg("-c").arg("pass").status().map(|s| !s.success()).unwrap_or(true) {
        common::skip_or_fail("needs python3 (the observed script's TCP server and client)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let out = format!("{d}/out");
    std::fs::create_dir_all(&out).unwrap();
    let index = r#"{"version":1,"targets":[{"namespace":"ns","workload":"w","container":"c","host":false,
        "enforcement":"enabled","policies":[],"labels":{"app":"w","tier":"web"}}]}"#;
    std::fs::write(format!("{out}/index.json"), index).unwrap();
    let net = "import socket\n\
               s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
               c = socket.create_connection(s.getsockname()); a, peer = s.accept()\n\
               print(s.getsockname()[1], peer[1])";
    let script = format!(
        "cd {d} && cat missing-rel 2>/dev/null; cat /etc/hostname >/dev/null; echo x > {d}/written; python3 -c \"{net}\""
    );
    let events = format!("{d}/events.json");
    let (code, stdout, stderr) = loader(&[
        "exec",
        "--bundle",
        &out,
        "--target",
        "ns/w/c",
        "--lsm",
        "none",
        "--visibility",
        "process,file,network",
        "--events",
        &events,
        "--state-dir",
        &format!("{d}/state"),
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let ports: Vec<u32> = stdout.split_whitespace().map(|p| p.parse().unwrap()).collect();
    let (server_port, client_port) = (ports[0], ports[1]);
    assert!(stderr.contains("dropped: 0 (ring buffer full), 0 (throttled)"), "{stderr}");
    let text = std::fs::read_to_string(&events).unwrap();
    let evs: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let field = |e: &serde_json::Value, k: &str| e[k].as_str().unwrap_or_default().to_string();
    let find = |op: &str, pred: &dyn Fn(&str, &str) -> bool| {
        evs.iter().find(|e| field(e, "Operation") == op && pred(&field(e, "Resource"), &field(e, "Data"))).cloned()
    };
    for e in &evs {
        assert_eq!(
            (field(e, "Type"), field(e, "NamespaceName"), field(e, "PodName"), field(e, "ContainerName")),
            ("ContainerLog".into(), "ns".into(), "w".into(), "c".into()),
            "{e}"
        );
        assert_eq!(field(e, "Labels"), "app=w,tier=web");
        assert_ne!(e["HostPID"].as_u64(), Some(std::process::id() as u64), "an event of the test itself: {e}");
        if field(e, "Operation") != "Network" {
            assert!(field(e, "Resource").starts_with('/'), "not absolute: {e}");
        }
    }
    let cat = find("Process", &|r, _| r.ends_with("/cat")).expect("the exec of cat");
    assert_eq!(field(&cat, "ParentProcessName"), field(&cat, "Source"));
    assert!(field(&cat, "Source").ends_with("sh"), "{cat}");
    let missing = find("File", &|r, _| r == format!("{d}/missing-rel")).expect("the failed relative open, absolute");
    assert_eq!(field(&missing, "Result"), "No such file or directory");
    let written = find("File", &|r, _| r == format!("{d}/written")).expect("the write");
    assert!(field(&written, "Data").contains("O_WRONLY|O_CREAT|O_TRUNC"), "{written}");
    assert!(find("File", &|r, d| r == "/etc/hostname" && d.contains("O_RDONLY")).is_some());
    let bind =
        find("Network", &|r, d| d.starts_with("syscall=SYS_BIND") && r.contains(&format!("sin_port={server_port} ")));
    assert!(bind.is_some(), "the bind of port {server_port}:\n{text}");
    let connect = find("Network", &|r, d| {
        d.starts_with("syscall=SYS_CONNECT") && r == format!("remoteip=127.0.0.1 port={server_port} protocol=TCP")
    });
    assert!(connect.is_some(), "the connect to {server_port}");
    // accept: the peer's address, the local port it reached
    let accept = find("Network", &|r, d| {
        d.starts_with("syscall=SYS_ACCEPT") && r == format!("remoteip=127.0.0.1 port={server_port} protocol=TCP")
    });
    assert!(accept.is_some(), "the accept on port {server_port} (client port {client_port})");
    // the target's state is gone with the command; its events named it while it ran
    assert!(std::fs::read_dir(format!("{d}/state/targets")).map(|mut r| r.next().is_none()).unwrap_or(true));
}
