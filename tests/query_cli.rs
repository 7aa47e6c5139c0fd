//! `armorc query` end to end: answers, single-query flags, bad lines, bad images.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use armorc_compiler::image::*;
use std::process::Command;

fn e(key: Key, process: u16, file: u16, rule: u32, text: &str) -> Entry {
    Entry { key, value: Value { process, file, rule }, text: text.into() }
}

/// Reference §3.11's worked image in our key layout, with provenance.
fn image_file(dir: &std::path::Path) -> std::path::PathBuf {
    let p = |s: &str| Key::path(KIND_PATH, s.as_bytes(), None);
    let rule = |at: &str, line| RuleRef {
        policy: "KubeArmorPolicy/shop/worked".into(),
        at: at.into(),
        file: "worked.yaml".into(),
        line,
        ..RuleRef::default()
    };
    let img = MapImage {
        target: "shop/web/app".into(),
        entries: vec![
            e(p("/"), EXEC | RECURSIVE | HINT, READ | HINT | DENY, 0, "/"),
            e(p("/usr/"), EXEC | RECURSIVE | HINT, 0, 0, "/usr/"),
            e(p("/usr/bin"), EXEC | RECURSIVE, 0, 0, "/usr/bin"),
            e(p("/usr/bin/"), EXEC | DIR | RECURSIVE, 0, 0, "/usr/bin/"),
            e(p("/usr/bin/apt"), EXEC | DENY, 0, 1, "/usr/bin/apt"),
            e(p("/etc"), 0, READ | DENY, 2, "/etc"),
            e(p("/etc/"), 0, READ | DIR | DENY, 2, "/etc/"),
            e(Key::number(KIND_CAPABILITY, 13, None), DENY, 0, 3, "net_raw"),
            e(Key::number(KIND_POSTURE, POSTURE_PROCESS, None), POSTURE_BLOCK, 0, u32::MAX, "posture:process"),
            e(Key::number(KIND_POSTURE, POSTURE_FILE, None), POSTURE_AUDIT, 0, u32::MAX, "posture:file"),
        ],
        rules: vec![
            rule("spec.process.matchDirectories[0]", 9),
            rule("spec.process.matchPaths[0]", 12),
            rule("spec.file.matchDirectories[0]", 15),
            rule("spec.capabilities.matchCapabilities[0]", 18),
        ],
    };
    let path = dir.join("worked.img");
    std::fs::write(&path, img.encode()).unwrap();
    path
}

fn armorc(args: &[&str], stdin: &str) -> (i32, String, String) {
    let out = common::armorc_with_stdin(args, stdin);
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn answers_one_line_per_query_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let img = image_file(dir.path());
    let input = [
        r#"{"op":"exec","path":"/usr/bin/apt"}"#,
        r#"{"op":"exec","path":"/usr/bin/ls"}"#,
        r#"{"op":"exec","path":"/opt/x"}"#,
        r#"{"op":"open","path":"/etc/passwd"}"#,
        r#"{"op":"write","path":"/etc/passwd"}"#,
        r#"{"op":"open","path":"/var/lib/x"}"#,
        r#"{"op":"capable","capability":"net_raw"}"#,
        r#"{"op":"socket","type":"stream","protocol":"tcp"}"#,
    ]
    .join("\n");
    let (code, out, err) = armorc(&["query", "--image", img.to_str().unwrap()], &input);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{"decision":"deny","audit":false,"rule":{"policy":"KubeArmorPolicy/shop/worked","at":"spec.process.matchPaths[0]","file":"worked.yaml","line":12},"by":"rule","hooks":[{"hook":"file_open","decision":"allow","by":"posture"},{"hook":"bprm_check_security","decision":"deny","by":"rule"}]}"#,
            r#"{"decision":"allow","audit":false,"rule":{"policy":"KubeArmorPolicy/shop/worked","at":"spec.process.matchDirectories[0]","file":"worked.yaml","line":9},"by":"rule","hooks":[{"hook":"file_open","decision":"allow","by":"posture"},{"hook":"bprm_check_security","decision":"allow","by":"rule"}]}"#,
            r#"{"decision":"deny","audit":false,"rule":null,"by":"posture","hooks":[{"hook":"file_open","decision":"allow","by":"posture"},{"hook":"bprm_check_security","decision":"deny","by":"posture"}]}"#,
            r#"{"decision":"allow","audit":false,"rule":{"policy":"KubeArmorPolicy/shop/worked","at":"spec.file.matchDirectories[0]","file":"worked.yaml","line":15},"by":"rule"}"#,
            r#"{"decision":"deny","audit":false,"rule":{"policy":"KubeArmorPolicy/shop/worked","at":"spec.file.matchDirectories[0]","file":"worked.yaml","line":15},"by":"rule","hooks":[{"hook":"file_open","decision":"allow","by":"rule"},{"hook":"file_permission","decision":"deny","by":"rule"}]}"#,
            r#"{"decision":"allow","audit":true,"rule":null,"by":"posture"}"#,
            r#"{"decision":"deny","audit":false,"rule":{"policy":"KubeArmorPolicy/shop/worked","at":"spec.capabilities.matchCapabilities[0]","file":"worked.yaml","line":18},"by":"rule"}"#,
            r#"{"decision":"allow","audit":false,"rule":null,"by":"default"}"#,
        ]
    );
}

#[test]
fn flags_give_one_query() {
    let dir = tempfile::tempdir().unwrap();
    let img = image_file(dir.path());
    let (code, out, _) =
        armorc(&["query", "--image", img.to_str().unwrap(), "--op", "exec", "--path", "/usr/bin/apt"], "");
    assert_eq!(code, 0);
    assert!(
        out.starts_with(r#"{"decision":"deny","audit":false,"rule":{"policy":"KubeArmorPolicy/shop/worked""#),
        "{out}"
    );
    let (code, out, _) =
        armorc(&["query", "--image", img.to_str().unwrap(), "--op", "capable", "--capability", "CAP_NET_RAW"], "");
    assert_eq!((code, out.lines().count()), (0, 1));
    assert!(out.contains(r#""decision":"deny""#));
}

#[test]
fn bad_lines_answer_error_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let img = image_file(dir.path());
    let input =
        "{\"op\":\"exec\",\"path\":\"/bin/ls\"}\nnot json\n{\"op\":\"fly\"}\n{\"op\":\"open\",\"path\":\"/etc/x\"}\n";
    let (code, out, _) = armorc(&["query", "--image", img.to_str().unwrap(), "-"], input);
    assert_eq!(code, 1);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].contains("\"decision\""));
    assert!(lines[1].starts_with(r#"{"error":"line 2: not JSON"#), "{}", lines[1]);
    assert!(lines[2].starts_with(r#"{"error":"line 3: op: unknown op"#), "{}", lines[2]);
    assert!(lines[3].contains("\"decision\""));
}

#[test]
fn bad_images_are_rejected_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let img = image_file(dir.path());
    let bytes = std::fs::read(&img).unwrap();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("truncated", bytes[..bytes.len() - 5].to_vec(), "truncated"),
        (
            "corrupt",
            {
                let mut b = bytes.clone();
                let n = b.len() - 3;
                b[n] ^= 0xff;
                b
            },
            "checksum",
        ),
        (
            "version",
            {
                let mut b = bytes.clone();
                b[8] = 9;
                b
            },
            "version",
        ),
    ];
    for (name, b, msg) in cases {
        let p = dir.path().join(format!("{name}.img"));
        std::fs::write(&p, b).unwrap();
        let (code, out, err) = armorc(&["query", "--image", p.to_str().unwrap()], r#"{"op":"exec","path":"/bin/ls"}"#);
        assert_eq!(code, 1, "{name}");
        assert!(out.is_empty(), "{name}: {out}");
        assert!(err.contains(msg) && err.contains(&format!("{name}.img")), "{name}: {err}");
    }
}

/// A queries file or stdin without a line end (/dev/zero) stops at the line cap with an error
/// naming the input and line (it used to grow until the OOM killer).
#[test]
fn endless_query_lines_stop_at_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let img = image_file(dir.path());
    let img = img.to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_armorc")).args(["query", "--image", img, "/dev/zero"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/dev/zero: line 1: longer than 1048576 bytes"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_armorc"))
        .args(["query", "--image", img])
        .stdin(std::fs::File::open("/dev/zero").unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("-: line 1: longer than"), "{stderr}");
    // A map image read from a device stops at the input cap.
    let out = Command::new(env!("CARGO_BIN_EXE_armorc")).args(["query", "--image", "/dev/zero"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/dev/zero: larger than 64 MiB"), "{stderr}");
}

/// `--enforcer landlock --plan`: what Landlock decides with a compiled plan, with the rule and
/// the layer behind a refusal; a bad plan is refused without output.
#[test]
fn landlock_plans_answer_with_layer_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let compiled = common::armorc(&[
        "compile",
        "compiler/tests/fixtures/compile/policies",
        "--workloads",
        "compiler/tests/fixtures/compile/workloads",
        "--target",
        "landlock",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(compiled.status.code(), Some(0), "{}", String::from_utf8_lossy(&compiled.stderr));
    let plan = out.join("landlock/shop/web/nginx.json");
    let input = [
        r#"{"op":"open","path":"/etc/shadow"}"#,
        r#"{"op":"open","path":"/etc/motd"}"#,
        r#"{"op":"exec","path":"/usr/bin/apt"}"#,
        r#"{"op":"chmod","path":"/etc/shadow"}"#,
    ]
    .join("\n");
    let (code, stdout, err) = armorc(&["query", "--enforcer", "landlock", "--plan", plan.to_str().unwrap()], &input);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].starts_with(
            r#"{"decision":"deny","rule":{"policy":"KubeArmorPolicy/shop/web-file","at":"spec.file.matchPaths[0]""#
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with(r#""layer":"deny read_file","right":"read_file","checked":"/etc/shadow"}"#),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], r#"{"decision":"allow","rule":null,"layer":null,"right":null,"checked":null}"#);
    assert!(
        lines[2].contains(r#""decision":"deny""#) && lines[2].contains(r#""layer":"deny execute""#),
        "{}",
        lines[2]
    );
    assert!(lines[3].starts_with(r#"{"decision":"allow""#), "chmod is not a Landlock right: {}", lines[3]);

    // sockets: the plan refuses raw sockets (the socket program, as root); TCP is allowed
    let sockets =
        [r#"{"op":"socket","type":"raw","protocol":"icmp"}"#, r#"{"op":"socket","type":"stream","connect":80}"#]
            .join("\n");
    let path = plan.to_str().unwrap();
    let (code, stdout, err) = armorc(&["query", "--enforcer", "landlock", "--plan", path], &sockets);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with(r#"{"decision":"deny","rule":{"policy":"KubeArmorPolicy/shop/web-net","at":"spec.network.matchProtocols[3]""#)
            && lines[0].ends_with(r#""layer":"socket program","right":"socket_create","checked":"type 3 protocol 1"}"#),
        "{stdout}"
    );
    assert!(lines[1].starts_with(r#"{"decision":"allow""#), "{stdout}");
    // --unprivileged: without the socket program nothing refuses raw sockets
    let (code, stdout, err) = armorc(&["query", "--enforcer", "landlock", "--plan", path, "--unprivileged"], &sockets);
    assert_eq!(
        (code, stdout.lines().filter(|l| l.starts_with(r#"{"decision":"allow""#)).count()),
        (0, 2),
        "{stdout}{err}"
    );
    // connect and bind are for sockets
    let (code, stdout, _) =
        armorc(&["query", "--enforcer", "landlock", "--plan", path], r#"{"op":"open","path":"/x","bind":1}"#);
    assert_eq!(code, 1);
    assert!(stdout.contains("are for op socket"), "{stdout}");

    // the plan is read strictly: damage is an error, nothing is answered
    let text = std::fs::read_to_string(&plan).unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, text.replacen("\"version\": 1", "\"version\": 2", 1)).unwrap();
    let (code, stdout, err) = armorc(&["query", "--enforcer", "landlock", "--plan", bad.to_str().unwrap()], &input);
    assert_eq!((code, stdout.as_str()), (1, ""), "{err}");
    assert!(err.contains("bad.json: Landlock plan version 2"), "{err}");
    // each enforcer needs its own artifact
    let (code, _, err) = armorc(&["query", "--enforcer", "landlock", "--image", plan.to_str().unwrap()], "");
    assert_ne!(code, 0, "{err}");
}
