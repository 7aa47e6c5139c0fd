//! `armor-loader exec --lsm landlock` on the real kernel (Landlock needs no privilege, so this
//! runs on any machine with Landlock ABI 3 or later): hand-written plans in a temporary bundle,
//! the real binary, shell commands whose results show what the rulesets and capability drops do.
//! Nothing outside the temporary directory is granted a change.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use armor_runtime::enforcer::{landlock_abi, LANDLOCK_MIN_ABI};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether this kernel has Landlock ABI 3 or later; otherwise `skip_or_fail` and the caller returns.
fn landlock_or_skip() -> bool {
    match landlock_abi() {
        Ok(abi) if abi >= LANDLOCK_MIN_ABI => true,
        other => {
            common::skip_or_fail(format!("needs Landlock ABI {LANDLOCK_MIN_ABI} or later (kernel: {other:?})"));
            false
        }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid takes no arguments, touches no memory and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A temporary directory with files to protect, and a bundle under it.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        // readable by everyone: one test runs the loader as nobody
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Fixture { dir }
    }

    fn path(&self, rel: &str) -> String {
        format!("{}/{rel}", self.dir.path().display())
    }

    /// Files (with their path as content) and directories under the temp dir.
    fn files(&self, rels: &[&str]) {
        for rel in rels {
            let p = PathBuf::from(self.path(rel));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, format!("{rel}\n")).unwrap();
        }
    }

    /// Writes OUT/index.json with target ns/w/c (enforcement as given) naming OUT/landlock/c.json = plan.
    fn bundle(&self, enforcement: &str, plan: &Value) -> String {
        let out = self.path("out");
        std::fs::create_dir_all(format!("{out}/landlock")).unwrap();
        let index = json!({ "version": 1, "targets": [{
            "namespace": "ns", "workload": "w", "container": "c", "host": false,
            "enforcement": enforcement, "landlock": "landlock/c.json", "policies": [],
        }]});
        std::fs::write(format!("{out}/index.json"), serde_json::to_string_pretty(&index).unwrap()).unwrap();
        std::fs::write(format!("{out}/landlock/c.json"), serde_json::to_string_pretty(plan).unwrap()).unwrap();
        out
    }
}

/// A plan for target ns/w/c with one rule (index 0) for grants and drops to name.
fn plan(abi: u32, layers: Value, drops: Value) -> Value {
    json!({
        "version": 1, "target": "ns/w/c", "abi": abi, "layers": layers, "drop_capabilities": drops,
        "rules": [{ "policy": "KubeArmorPolicy/ns/test", "at": "spec.file.matchPaths[0]", "file": "p.yaml",
                    "line": 1, "action": "Block" }],
    })
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn exec_as(loader: &Path, out: &str, script: &str, uid: Option<u32>) -> Run {
    let mut cmd = Command::new(loader);
    cmd.args(["exec", "--lsm", "landlock", "--bundle", out, "--target", "ns/w/c", "--", "/bin/sh", "-c", script]);
    if let Some(id) = uid {
        std::os::unix::process::CommandExt::uid(&mut cmd, id);
        std::os::unix::process::CommandExt::gid(&mut cmd, id);
    }
    let o = cmd.output().unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    }
}

fn exec(out: &str, script: &str) -> Run {
    exec_as(Path::new(env!("CARGO_BIN_EXE_armor-loader")), out, script, None)
}

/// A layer denying `right` on the excluded paths, as the lowering writes it (refer handled and
/// granted on `/`).
fn deny_layer(right: &str, excluded: Value) -> Value {
    json!([{ "name": format!("deny {right}"), "handled": [right, "refer"], "grants": [
        { "kind": "beneath", "path": "/", "access": ["refer"], "rule": null },
        { "kind": "except", "access": [right], "excluded": excluded },
    ]}])
}

/// An `except` grant: the excluded file cannot be read, its sibling and the rest of the system can.
#[test]
fn except_denies_only_the_excluded_file() {
    if !landlock_or_skip() {
        return;
    }
    let f = Fixture::new();
    f.files(&["a/secret", "a/other", "b/secret"]);
    let layers = deny_layer("read_file", json!([{ "path": f.path("a/secret"), "shallow": false, "rule": 0 }]));
    let out = f.bundle("enabled", &plan(2, layers, json!([])));
    let r = exec(
        &out,
        &format!(
            "cat {0}/a/secret; echo secret=$?; cat {0}/a/other {0}/b/secret /etc/hostname >/dev/null; echo rest=$?; \
             echo more >>{0}/a/secret; echo append=$?",
            f.dir.path().display()
        ),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&format!("{}: Permission denied", f.path("a/secret"))), "{}", r.stderr);
    assert!(r.stdout.contains("secret=1\nrest=0\nappend=0\n"), "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("armor-loader: landlock: ns/w/c: 1 layer(s)"), "{}", r.stderr);
}

/// A shallow excluded directory: its files are denied, its subdirectories are not, nor a file
/// of the same name elsewhere.
#[test]
fn shallow_exclusion_denies_only_the_files_directly_in_it() {
    if !landlock_or_skip() {
        return;
    }
    let f = Fixture::new();
    f.files(&["d/f", "d/sub/g", "d/sub/deeper/h", "e/f"]);
    let layers = deny_layer("read_file", json!([{ "path": f.path("d"), "shallow": true, "rule": 0 }]));
    let out = f.bundle("enabled", &plan(2, layers, json!([])));
    let t = f.dir.path().display();
    let r = exec(&out, &format!("cat {t}/d/f; echo f=$?; cat {t}/d/sub/g {t}/d/sub/deeper/h {t}/e/f; echo rest=$?"));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("f=1\nd/sub/g\nd/sub/deeper/h\ne/f\nrest=0\n"), "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&format!("{t}/d/f: Permission denied")), "{}", r.stderr);
}

/// `files_in`: the files of a directory as listed at apply time, not its subdirectories, not a
/// file created later, not a link's target elsewhere.
#[test]
fn files_in_grants_the_files_listed_at_apply_time() {
    if !landlock_or_skip() {
        return;
    }
    let f = Fixture::new();
    f.files(&["fi/one", "fi/two", "fi/sub/three", "elsewhere"]);
    std::os::unix::fs::symlink(f.path("elsewhere"), f.path("fi/link")).unwrap();
    // read_file handled: the shell, its libraries and ld.so's cache must be readable too
    let layers = json!([{ "name": "allow-list file", "handled": ["read_file", "refer"], "grants": [
        { "kind": "beneath", "path": "/", "access": ["refer"], "rule": null },
        { "kind": "beneath", "path": "/usr", "access": ["read_file"], "rule": null },
        { "kind": "beneath", "path": "/etc", "access": ["read_file"], "rule": null },
        { "kind": "files_in", "dir": f.path("fi"), "access": ["read_file"], "rule": 0 },
    ]}]);
    let out = f.bundle("enabled", &plan(2, layers, json!([])));
    let t = f.dir.path().display();
    let r = exec(
        &out,
        &format!(
            "cat {t}/fi/one {t}/fi/two; echo files=$?; cat {t}/fi/sub/three; echo sub=$?; cat {t}/fi/link; echo link=$?; \
             cat {t}/elsewhere; echo elsewhere=$?; echo new >{t}/fi/new; cat {t}/fi/new; echo new=$?"
        ),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("fi/one\nfi/two\nfiles=0\nsub=1\nlink=1\nelsewhere=1\nnew=1\n"),
        "{}{}",
        r.stdout,
        r.stderr
    );
}

/// `beneath` as an allow-list of executables (only `execute` handled: it is checked on the binary
/// and on ld.so, not on libraries): granted binaries run, others are refused (126).
#[test]
fn beneath_allow_list_of_executables() {
    if !landlock_or_skip() {
        return;
    }
    let f = Fixture::new();
    let real = |p: &str| std::fs::canonicalize(p).unwrap().display().to_string();
    let layers = json!([{ "name": "allow-list process", "handled": ["execute"], "grants": [
        { "kind": "beneath", "path": real("/bin/sh"), "access": ["execute"], "rule": 0 },
        { "kind": "beneath", "path": real("/usr/bin/cat"), "access": ["execute"], "rule": 0 },
        // ld.so: /usr/lib on merged-/usr systems, /lib elsewhere (then /usr/lib may be missing)
        { "kind": "beneath", "path": "/usr/lib", "access": ["execute"], "rule": 0 },
        { "kind": "beneath", "path": "/lib", "access": ["execute"], "rule": 0 },
    ]}]);
    let out = f.bundle("enabled", &plan(1, layers, json!([])));
    let r = exec(&out, "cat /etc/hostname >/dev/null; echo cat=$?; /usr/bin/id; echo id=$?");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("cat=0\nid=126\n"), "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("Permission denied"), "{}", r.stderr);
    // the loader's own exec of a refused command: 126; a missing one: 127; else the command's status
    let loader = env!("CARGO_BIN_EXE_armor-loader");
    for (cmd, code) in
        [(&["/usr/bin/id"][..], 126), (&["/nonexistent/cmd"][..], 127), (&["/bin/sh", "-c", "exit 7"][..], 7)]
    {
        let o = Command::new(loader)
            .args(["exec", "--lsm", "landlock", "--bundle", &out, "--target", "ns/w/c", "--"])
            .args(cmd)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(code), "{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
}

/// Missing `beneath` and `files_in` paths, and paths through a symbolic link, are reported and
/// skipped; the rest of the plan applies.
#[test]
fn missing_and_linked_paths_are_reported_and_skipped() {
    if !landlock_or_skip() {
        return;
    }
    let f = Fixture::new();
    f.files(&["real/x"]);
    std::os::unix::fs::symlink(f.path("real"), f.path("link")).unwrap();
    let layers = deny_layer("read_file", json!([{ "path": f.path("real/x"), "shallow": false, "rule": 0 }]));
    let mut layers = layers.as_array().unwrap().clone();
    layers.push(json!({ "name": "write", "handled": ["write_file"], "grants": [
        { "kind": "beneath", "path": "/", "access": ["write_file"], "rule": null },
        { "kind": "beneath", "path": f.path("missing"), "access": ["write_file"], "rule": 0 },
        { "kind": "beneath", "path": f.path("link/x"), "access": ["write_file"], "rule": 0 },
        { "kind": "files_in", "dir": f.path("nodir"), "access": ["write_file"], "rule": 0 },
    ]}));
    let out = f.bundle("enabled", &plan(2, json!(layers), json!([])));
    let t = f.dir.path().display();
    let r = exec(&out, &format!("cat {t}/real/x; echo x=$?; echo ok"));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("x=1\nok\n"), "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("3 path(s) skipped"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("{t}/missing (not found)")), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("{t}/link/x (symbolic link at {t}/link)")), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("{t}/nodir (not found)")), "{}", r.stderr);
}

/// A symbolic link on the way to an excluded path is not followed: it is reported, and the
/// file it leads to stays readable through it (the exclusion names the link's path, which the
/// kernel never checks).
#[test]
fn a_link_on_the_way_to_an_excluded_path_is_reported() {
    if !landlock_or_skip() {
        return;
    }
    let f = Fixture::new();
    f.files(&["real/secret"]);
    std::os::unix::fs::symlink(f.path("real"), f.path("link")).unwrap();
    let layers = deny_layer("read_file", json!([{ "path": f.path("link/secret"), "shallow": false, "rule": 0 }]));
    let out = f.bundle("enabled", &plan(2, layers, json!([])));
    let r = exec(&out, &format!("cat {}/link/secret", f.dir.path().display()));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!("1 symbolic link(s) on the way to excluded paths not followed: {}", f.path("link"))),
        "{}",
        r.stderr
    );
}

/// Landlock attaches rules to inodes: a rule on another name of an excluded file (a hard link in
/// a directory the walk grants) would grant the excluded path too, so that name gets no rule and
/// is reported.
#[test]
fn a_hard_link_of_an_excluded_file_is_not_granted() {
    if !landlock_or_skip() {
        return;
    }
    let f = Fixture::new();
    f.files(&["a/secret", "a/other", "b/x"]);
    std::fs::hard_link(f.path("a/secret"), f.path("a/alias")).unwrap();
    std::fs::hard_link(f.path("a/secret"), f.path("b/alias")).unwrap();
    let layers = deny_layer("read_file", json!([{ "path": f.path("a/secret"), "shallow": false, "rule": 0 }]));
    let out = f.bundle("enabled", &plan(2, layers, json!([])));
    let t = f.dir.path().display();
    let r = exec(
        &out,
        &format!("cat {t}/a/secret; echo secret=$?; cat {t}/a/alias; echo alias=$?; cat {t}/a/other {t}/b/alias; echo rest=$?"),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // b/alias is granted through its directory (b), which is a path rule: the excluded name is not
    assert!(r.stdout.contains("secret=1\nalias=1\na/other\na/secret\nrest=0\n"), "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&format!("1 other name(s) of excluded paths not granted: {t}/a/alias")), "{}", r.stderr);
}

fn cap_bit(status: &str, field: &str, cap: u32) -> bool {
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let mask = u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap();
    mask & (1 << cap) != 0
}

/// A dropped capability is gone from the bounding, effective, permitted, inheritable and ambient
/// sets: root cannot chroot. Without the drop it can.
#[test]
fn dropped_capability_cannot_be_used_by_root() {
    if !landlock_or_skip() {
        return;
    }
    if !is_root() {
        common::skip_or_fail("needs root (a capability to drop)");
        return;
    }
    if !Path::new("/usr/sbin/chroot").exists() {
        common::skip_or_fail("needs /usr/sbin/chroot (coreutils)");
        return;
    }
    let f = Fixture::new();
    let script = "/usr/sbin/chroot / /bin/true; echo chroot=$?; cat /proc/self/status";
    let out = f.bundle("enabled", &plan(0, json!([]), json!([{ "name": "sys_chroot", "number": 18, "rule": 0 }])));
    let r = exec(&out, script);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("chroot=125"), "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("Operation not permitted"), "{}", r.stderr);
    assert!(r.stderr.contains("0 layer(s), 0 rule(s) (-); capabilities dropped: sys_chroot"), "{}", r.stderr);
    for field in ["CapBnd:", "CapEff:", "CapPrm:", "CapInh:", "CapAmb:"] {
        assert!(!cap_bit(&r.stdout, field, 18), "{field} still has sys_chroot: {}", r.stdout);
    }
    assert!(cap_bit(&r.stdout, "CapEff:", 21), "sys_admin was not dropped: {}", r.stdout);
    assert!(r.stdout.contains("NoNewPrivs:\t1"), "{}", r.stdout);
    // control: another capability dropped, chroot works
    let out = f.bundle("enabled", &plan(0, json!([]), json!([{ "name": "net_raw", "number": 13, "rule": 0 }])));
    let r = exec(&out, script);
    assert!(r.stdout.contains("chroot=0"), "{}{}", r.stdout, r.stderr);
}

/// An unprivileged loader (nobody, no capability) applies the rulesets and skips the bounding-set
/// drop it is not allowed to make.
#[test]
fn an_unprivileged_loader_enforces_the_plan() {
    if !landlock_or_skip() {
        return;
    }
    if !is_root() {
        common::skip_or_fail("needs root (to run the loader as nobody)");
        return;
    }
    let f = Fixture::new();
    f.files(&["a/secret", "a/other"]);
    // the loader where nobody can run it (the build directory may be private)
    let loader = PathBuf::from(f.path("armor-loader"));
    if std::fs::hard_link(env!("CARGO_BIN_EXE_armor-loader"), &loader).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_armor-loader"), &loader).unwrap();
    }
    let layers = deny_layer("read_file", json!([{ "path": f.path("a/secret"), "shallow": false, "rule": 0 }]));
    let out = f.bundle("enabled", &plan(2, layers, json!([{ "name": "sys_chroot", "number": 18, "rule": 0 }])));
    let t = f.dir.path().display();
    let r = exec_as(&loader, &out, &format!("id -u; cat {t}/a/secret; echo secret=$?; cat {t}/a/other"), Some(65534));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("65534\nsecret=1\na/other\n"), "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("capabilities dropped: sys_chroot"), "{}", r.stderr);
}

/// A target whose enforcement is not `enabled` runs unenforced, and says so.
#[test]
fn an_audited_target_runs_unenforced() {
    if !landlock_or_skip() {
        return;
    }
    let f = Fixture::new();
    f.files(&["a/secret"]);
    let layers = deny_layer("read_file", json!([{ "path": f.path("a/secret"), "shallow": false, "rule": 0 }]));
    let out = f.bundle("audited", &plan(2, layers, json!([])));
    let r = exec(&out, &format!("cat {}", f.path("a/secret")));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("enforcement audited: running unenforced"), "{}", r.stderr);
    let out = f.bundle("enabled", &plan(0, json!([]), json!([])));
    let r = exec(&out, "true");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("no layer and no capability drop: running unenforced"), "{}", r.stderr);
}

/// Bad plans are refused with a clear message and exit 1, and the command never runs.
#[test]
fn bad_plans_are_refused_before_anything_runs() {
    if !landlock_or_skip() {
        return;
    }
    let f = Fixture::new();
    let good =
        plan(2, deny_layer("read_file", json!([{ "path": "/nonexistent", "shallow": false, "rule": 0 }])), json!([]));
    let mut unknown = good.clone();
    unknown["layers"][0]["grants"][0]["extra"] = json!(1);
    let mut v2 = good.clone();
    v2["version"] = json!(2);
    let mut unhandled = good.clone();
    unhandled["layers"][0]["grants"][1]["access"] = json!(["read_file", "write_file"]);
    let mut relative = good.clone();
    relative["layers"][0]["grants"][1]["excluded"][0]["path"] = json!("etc/shadow");
    let ran = f.path("ran");
    for (plan, expect) in [
        (unknown, "unknown field `extra`"),
        (v2, "Landlock plan version 2 (this build reads 1)"),
        (unhandled, "layer `deny read_file` grants write_file without handling it"),
        (relative, "bad path in Landlock plan: \"etc/shadow\""),
    ] {
        let out = f.bundle("enabled", &plan);
        let r = exec(&out, &format!("touch {ran}"));
        assert_eq!(r.code, 1, "{expect}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(expect) && r.stderr.contains("landlock/c.json"), "{expect}: {}", r.stderr);
        assert!(!Path::new(&ran).exists(), "{expect}: the command ran");
    }
    // a target without a plan
    let out = f.bundle("enabled", &good);
    let index = format!("{out}/index.json");
    let text = std::fs::read_to_string(&index).unwrap().replace("\"landlock\": \"landlock/c.json\",", "");
    std::fs::write(&index, text).unwrap();
    let r = exec(&out, &format!("touch {ran}"));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("landlock not usable: ns/w/c has no landlock artifact"), "{}", r.stderr);
    assert!(!Path::new(&ran).exists(), "the command ran without its plan");
}

/// Rulesets built in this (multi-threaded) test process restrict nothing here; a forked child
/// enforces them with `restrict`.
#[test]
fn rulesets_restrict_only_the_process_that_enforces_them() {
    if !landlock_or_skip() {
        return;
    }
    let f = Fixture::new();
    f.files(&["a/secret"]);
    let secret = f.path("a/secret");
    let p = plan(2, deny_layer("read_file", json!([{ "path": secret, "shallow": false, "rule": 0 }])), json!([]));
    let plan = armorc_compiler::landlock::Plan::decode(p.to_string().as_bytes()).unwrap();
    let rulesets = armor_runtime::landlock::build(&plan).unwrap();
    assert!(rulesets.report.rules[0] > 1, "{:?}", rulesets.report);
    let c_secret = std::ffi::CString::new(secret.clone()).unwrap();
    // SAFETY: the child only makes system calls (restrict, open, _exit) on memory prepared
    // before the fork (the rulesets, the path), and always ends in _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above.
        unsafe {
            let code = match rulesets.restrict() {
                Err(_) => 2,
                Ok(()) => match libc::open(c_secret.as_ptr(), libc::O_RDONLY) {
                    fd if fd >= 0 => 0,
                    _ if *libc::__errno_location() == libc::EACCES => 1,
                    _ => 3,
                },
            };
            libc::_exit(code);
        }
    }
    let mut status = 0;
    // SAFETY: status is a live c_int; pid is our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(libc::WEXITSTATUS(status), 1, "the child could read {secret} (or restrict failed)");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "a/secret\n", "building restricted this process");
}

/// `probe` names landlock usable, with the kernel's ABI.
#[test]
fn probe_names_landlock_usable() {
    if !landlock_or_skip() {
        return;
    }
    let o = Command::new(env!("CARGO_BIN_EXE_armor-loader")).args(["probe", "--format", "json"]).output().unwrap();
    assert!(o.status.success());
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["enforcers"]["landlock"]["usable"], json!(true), "{doc}");
    let abi = landlock_abi().unwrap();
    assert!(doc["enforcers"]["landlock"]["reason"].as_str().unwrap().contains(&format!("Landlock ABI {abi}")), "{doc}");
}

/// A plan whose network part refuses the protocol `number` (tcp 6, udp 17) for rule 0.
fn refusing_protocol(number: u32) -> Value {
    let mut p = plan(0, json!([]), json!([]));
    p["network"] = json!({ "types": [], "protocols": [{ "number": number, "verdict": "deny", "rule": 0 }],
                           "default": "allow" });
    p
}

/// A TCP listener on 127.0.0.1 counting the connections it accepts.
fn listener() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for _ in l.incoming() {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (port, accepted)
}

/// bash's /dev/tcp (socket + connect) and /dev/udp (socket + connect, which UDP does without
/// sending anything) as `tcp=ok|no udp=ok|no`.
fn tcp_udp_script(port: u16) -> String {
    format!(
        "exec /bin/bash -c 'if exec 3<>/dev/tcp/127.0.0.1/{port}; then echo tcp=ok; else echo tcp=no; fi; \
         if exec 4<>/dev/udp/127.0.0.1/9; then echo udp=ok; else echo udp=no; fi'"
    )
}

/// Block tcp under Landlock alone (the loader not root: no socket program): a TCP connect to a
/// local listener is refused (EACCES), a UDP socket still works; the same command without the
/// network part connects.
#[test]
fn landlock_refuses_tcp_connect_but_not_udp() {
    if !landlock_or_skip() {
        return;
    }
    let abi = landlock_abi().unwrap();
    if abi < 4 {
        return common::skip_or_fail(format!("needs Landlock ABI 4 (TCP rules), kernel: {abi}"));
    }
    let f = Fixture::new();
    // as root, the loader runs as nobody, so the socket program cannot be attached
    let loader = PathBuf::from(f.path("armor-loader"));
    if std::fs::hard_link(env!("CARGO_BIN_EXE_armor-loader"), &loader).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_armor-loader"), &loader).unwrap();
    }
    let uid = is_root().then_some(65534);
    let (port, accepted) = listener();
    let out = f.bundle("enabled", &refusing_protocol(6));
    let r = exec_as(&loader, &out, &tcp_udp_script(port), uid);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "tcp=no\nudp=ok\n", "{}", r.stderr);
    assert!(r.stderr.contains("Permission denied"), "connect refused by Landlock (EACCES): {}", r.stderr);
    assert!(r.stderr.contains("TCP connect and bind refused"), "{}", r.stderr);
    assert!(
        r.stderr.contains("warning: socket creation is not refused (Landlock still refuses TCP connect and bind)")
            && r.stderr.contains("not enforced: KubeArmorPolicy/ns/test spec.file.matchPaths[0]"),
        "{}",
        r.stderr
    );
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0, "a connection reached the listener");
    // the control: without the network part the same command connects
    let out = f.bundle("enabled", &plan(0, json!([]), json!([])));
    let r = exec_as(&loader, &out, &tcp_udp_script(port), uid);
    assert_eq!(r.stdout, "tcp=ok\nudp=ok\n", "{}", r.stderr);
}

/// Block udp as root: the socket program refuses socket(AF_INET, SOCK_DGRAM) with EPERM in the
/// command's cgroup, TCP still connects; the cgroup is gone when the command ends, even though
/// it left a process behind (killed with the cgroup).
#[test]
fn socket_program_refuses_udp_sockets() {
    if !landlock_or_skip() {
        return;
    }
    if !is_root() {
        return common::skip_or_fail("needs root (cgroup creation, BPF program loading)");
    }
    let f = Fixture::new();
    let (port, _) = listener();
    let out = f.bundle("enabled", &refusing_protocol(17));
    let script = format!("sleep 600 & {}", tcp_udp_script(port));
    let started = std::time::Instant::now();
    let r = exec(&out, &script);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "tcp=ok\nudp=no\n", "{}", r.stderr);
    assert!(r.stderr.contains("Operation not permitted"), "socket() refused with EPERM: {}", r.stderr);
    let cgroup = r
        .stderr
        .lines()
        .find_map(|l| l.split_once("socket program attached to ").map(|(_, d)| d.to_string()))
        .unwrap_or_else(|| panic!("no socket program attached: {}", r.stderr));
    assert!(!Path::new(&cgroup).exists(), "{cgroup} left behind");
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "the left-behind sleep was waited for");
    // the loader's own sockets are not affected
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
}

/// The workload and policy of `armor_exec_runs_a_patched_pod_command`.
const POD_POLICY: &str = "apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: web-lockdown, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  process: {matchPaths: [{path: /usr/bin/id}]}
  file: {matchPaths: [{path: /etc/passwd}]}
  action: Block
";
const POD_WORKLOAD: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: shell, image: debian, command: [/bin/sh, -c], args: ['cat /etc/group >/dev/null && echo read-ok; cat /etc/passwd']}
        - {name: id, image: debian, command: [/usr/bin/id]}
        - {name: entrypoint, image: debian}
";

/// The strings of the sequence under `key` (none when it is absent).
fn yaml_strings(node: &armorc_compiler::yaml::Node, key: &str) -> Vec<String> {
    node.get(key).and_then(|n| n.as_seq()).unwrap_or(&[]).iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

/// A pod as Kubernetes would run it after compile's Landlock patch (`lower::landlock_patch`, as
/// `armorc compile --target landlock` writes it) is merged into its workload by kustomize (a real
/// strategic merge): each container's merged command + args run from a temporary root standing
/// in for `/`, armor-exec copied there by its own `--install` (the init container's job), the
/// plans written from the merged ConfigMap's data. The blocked exec fails with 126, the blocked
/// open with EACCES, the allowed ones work; the container without `command` is K005.
#[test]
fn armor_exec_runs_a_patched_pod_command() {
    use armorc_compiler::lower::{landlock as lower_landlock, landlock_patch};
    use armorc_compiler::source::SourceFile;
    if !landlock_or_skip() {
        return;
    }
    let Some(kubectl) = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("kubectl")).find(|p| p.is_file()))
    else {
        common::skip_or_fail("kubectl missing (Debian package kubernetes-client, .ci/install-deploy.sh)");
        return;
    };
    let checked = armorc_compiler::check_source(SourceFile::new("policy.yaml", POD_POLICY));
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
    let mut workloads = armorc_compiler::workload::Workloads::default();
    workloads.read(&SourceFile::new("workload.yaml", POD_WORKLOAD)).unwrap();
    let composed = armorc_compiler::compose::compose(&checked.policies, &workloads, &Default::default());
    let plans: Vec<_> = composed
        .targets
        .iter()
        .map(|t| {
            let applied: Vec<_> = t.policies.iter().map(|&i| &checked.policies[i]).collect();
            (t.clone(), lower_landlock::lower_target(t, &applied).unwrap().plan)
        })
        .collect();
    let patched = landlock_patch::patches(&plans, &workloads, landlock_patch::DEFAULT_IMAGE).unwrap();
    let [k005] = &patched.findings[..] else { panic!("{:?}", patched.findings) };
    assert!(k005.message.contains("container entrypoint has no `command`"), "{}", k005.message);

    let tmp = tempfile::tempdir().unwrap();
    let k = tmp.path().join("k");
    std::fs::create_dir(&k).unwrap();
    std::fs::write(k.join("workload.yaml"), POD_WORKLOAD).unwrap();
    let [(_, patch), (_, configmap)] = &patched.files[..] else { panic!("{:?}", patched.files) };
    std::fs::write(k.join("patch.yaml"), patch).unwrap();
    std::fs::write(k.join("plans.yaml"), configmap).unwrap();
    std::fs::write(
        k.join("kustomization.yaml"),
        "resources: [workload.yaml, plans.yaml]\npatchesStrategicMerge: [patch.yaml]\n",
    )
    .unwrap();
    let out = Command::new(kubectl).arg("kustomize").arg(&k).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let merged = String::from_utf8(out.stdout).unwrap();

    // The pod's filesystem: /armorc/bin (the emptyDir) and /armorc/plans (the ConfigMap).
    let root = tmp.path().join("root");
    let (bin, plan_dir) = (root.join("armorc/bin"), root.join("armorc/plans"));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&plan_dir).unwrap();
    let install = Command::new(env!("CARGO_BIN_EXE_armor-exec")).arg("--install").arg(&bin).output().unwrap();
    assert!(install.status.success(), "{}", String::from_utf8_lossy(&install.stderr));
    let mut pods = BTreeMap::new();
    for doc in armorc_compiler::yaml::Documents::new(&merged) {
        let node = doc.root.unwrap();
        match node.get("kind").and_then(|k| k.as_str()) {
            Some("ConfigMap") => {
                for e in node.get("data").unwrap().as_map().unwrap() {
                    std::fs::write(plan_dir.join(&e.key), e.value.as_str().unwrap()).unwrap();
                }
            }
            Some("Deployment") => {
                let spec = node.get("spec").and_then(|s| s.get("template")).and_then(|t| t.get("spec")).unwrap();
                for c in spec.get("containers").unwrap().as_seq().unwrap() {
                    let argv: Vec<String> = [yaml_strings(c, "command"), yaml_strings(c, "args")].concat();
                    pods.insert(c.get("name").unwrap().as_str().unwrap().to_string(), argv);
                }
            }
            other => panic!("unexpected {other:?} in\n{merged}"),
        }
    }
    assert_eq!(pods["entrypoint"], Vec::<String>::new(), "not wrapped");
    let run = |name: &str| {
        let argv: Vec<String> = pods[name]
            .iter()
            .map(|a| match a.strip_prefix("/armorc/") {
                Some(rest) => root.join("armorc").join(rest).display().to_string(),
                None => a.clone(),
            })
            .collect();
        assert_eq!(
            argv[..4],
            [
                bin.join("armor-exec").display().to_string(),
                "--plan".into(),
                plan_dir.join(format!("{name}.json")).display().to_string(),
                "--".into()
            ]
        );
        let o = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run("shell");
    assert_eq!(stdout, "read-ok\n", "{stderr}");
    assert!(stderr.contains("/etc/passwd: Permission denied"), "{stderr}");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("armor-exec: landlock: shop/web/shell:"), "{stderr}");
    let (code, _, stderr) = run("id");
    assert_eq!(code, Some(126), "{stderr}");
    assert!(stderr.contains("armor-exec: /usr/bin/id: exec refused"), "{stderr}");
}

/// armor-exec stays the command's parent when it attaches the socket program (as root): a
/// SIGTERM sent to it, as a container runtime stops a pod, reaches the command, which ends the
/// way its trap says (exit 7); armor-exec exits with that status.
#[test]
fn armor_exec_passes_sigterm_on_to_the_command() {
    use std::io::BufRead;
    if !landlock_or_skip() {
        return;
    }
    if !is_root() {
        return common::skip_or_fail("needs root (the socket program: armor-exec then stays the parent)");
    }
    let f = Fixture::new();
    let out = f.bundle("enabled", &refusing_protocol(17));
    // Ends by itself after about 10 s (printing `timeout`) when the SIGTERM does not reach it.
    let script =
        "trap 'echo term; exit 7' TERM; echo ready; i=0; while [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; \
                  echo timeout";
    let mut child = Command::new(env!("CARGO_BIN_EXE_armor-exec"))
        .args(["--plan", &format!("{out}/landlock/c.json"), "--", "/bin/sh", "-c", script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    // SAFETY: kill to the child this test spawned.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("socket program attached to "), "armor-exec did not stay the parent: {stderr}");
    assert_eq!(rest, "term\n", "{stderr}");
    assert_eq!(status.code(), Some(7), "{stderr}");
}
