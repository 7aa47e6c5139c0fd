//! `armorc lint` on hostile input: binary junk, invalid UTF-8, a 50 MB multi-document stream,
//! 10,000-deep nesting, alias bombs, an empty file, a directory without YAML. Each gives a clear
//! result, nothing panics, the child's peak memory stays under 200 MB, and the other files of the
//! same run are still checked.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

use serde_json::Value;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const MAX_RSS_BYTES: u64 = 200 * 1024 * 1024;
const BIG_STREAM_BYTES: usize = 50 * 1024 * 1024;
const NESTING: usize = 10_000;

/// A policy with one known schema error (lower-case `block`), so we can see it was checked.
const CANARY: &str = "apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: canary
  namespace: default
spec:
  selector:
    matchLabels:
      app: canary
  process:
    matchPaths:
      - path: /bin/sh
  action: block
";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    max_rss: u64,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not one JSON object ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr)
        })
    }
    /// No panic and a normal exit; then, separately, the memory bound (checked last in the
    /// hostile run so its other findings show first).
    fn assert_no_panic(&self, what: &str) {
        assert_ne!(self.code, 101, "{what}: armorc panicked:\n{}", self.stderr);
        assert!(!self.stderr.contains("panicked"), "{what}: armorc panicked:\n{}", self.stderr);
        assert!(self.code >= 0, "{what}: armorc was killed by a signal ({})", -self.code);
    }
    fn assert_memory_bounded(&self, what: &str) {
        assert!(self.max_rss < MAX_RSS_BYTES, "{what}: peak RSS {} MB is over 200 MB", self.max_rss / (1024 * 1024));
    }
}

/// Run `armorc lint ARGS...` and measure its peak RSS with wait4 (only this child is waited for).
fn lint(args: &[&str], cwd: &Path) -> Run {
    armorc(&["lint"], args, cwd, Stdio::null())
}

/// Run `armorc SUBCOMMAND... ARGS...` with `stdin`, measuring its peak RSS.
#[allow(clippy::zombie_processes)] // reaped by wait4, which clippy cannot see
fn armorc(subcommand: &[&str], args: &[&str], cwd: &Path, stdin: Stdio) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_armorc"))
        .args(subcommand)
        .args(args)
        .current_dir(cwd)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn armorc");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        out.read_to_end(&mut s).map(|_| s)
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        err.read_to_end(&mut s).map(|_| s)
    });
    let mut status = 0;
    // SAFETY: libc::rusage is plain integers and timevals, for which all-zero bytes are valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: status and usage are live, writable out-pointers; pid is our own child, not yet
    // reaped (Child::wait is never called on it).
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4 failed: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -libc::WTERMSIG(status) };
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap().unwrap()).into_owned();
    // ru_maxrss is in KiB on Linux.
    Run { code, stdout, stderr, max_rss: usage.ru_maxrss as u64 * 1024 }
}

/// Deterministic junk bytes (xorshift), with NULs and invalid UTF-8 sequences.
fn junk(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// One valid, lint-clean policy of the 50 MB stream.
fn stream_policy(i: usize) -> String {
    format!(
        "---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: block-shell-{i}
  namespace: team-{}
spec:
  severity: 5
  selector:
    matchLabels:
      app: web-{i}
  process:
    matchPaths:
      - path: /usr/bin/curl-{i}
  file:
    matchPaths:
      - path: /etc/app-{i}/secret.conf
  action: Block
",
        i % 50
    )
}

fn write_big_stream(path: &Path) -> usize {
    let mut w = BufWriter::new(std::fs::File::create(path).unwrap());
    let (mut written, mut docs) = (0, 0);
    while written < BIG_STREAM_BYTES {
        let doc = stream_policy(docs);
        w.write_all(doc.as_bytes()).unwrap();
        written += doc.len();
        docs += 1;
    }
    w.flush().unwrap();
    docs
}

fn billion_laughs() -> String {
    let mut s =
        String::from("apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: lol\nspec:\n");
    s.push_str("  a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        s.push_str(&format!("  a{i}: &a{i} [{}]\n", [prev.as_str(); 10].join(",")));
    }
    s.push_str("  action: Block\n");
    s
}

/// Files of one run: name -> contents.
fn hostile_files(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut files = Vec::new();
    let mut put = |name: &str, bytes: &[u8], what: &'static str| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        files.push((p, what));
    };
    put("junk.yaml", &junk(64 * 1024), "binary junk");
    let mut bad_utf8 = CANARY.replace("canary", "latin").into_bytes();
    let at = bad_utf8.len() - 3;
    bad_utf8.splice(at..at, [0xff, 0xfe, b'x']);
    put("invalid-utf8.yaml", &bad_utf8, "invalid UTF-8");
    let deep_seq = format!("kind: KubeArmorPolicy\nspec: {}{}\n", "[".repeat(NESTING), "]".repeat(NESTING));
    put("deep-seq.yaml", deep_seq.as_bytes(), "10,000-deep flow sequences");
    let deep_map = format!("kind: KubeArmorPolicy\nspec: {}x{}\n", "{a: ".repeat(NESTING), "}".repeat(NESTING));
    put("deep-map.yaml", deep_map.as_bytes(), "10,000-deep flow mappings");
    // `- - - x`: each `- ` opens a block sequence inside the previous one.
    let deep_block = format!("kind: KubeArmorPolicy\nspec:\n{}x\n", "- ".repeat(NESTING));
    put("deep-block.yaml", deep_block.as_bytes(), "10,000 nested block sequences");
    put("alias-bomb.yaml", billion_laughs().as_bytes(), "billion laughs");
    put("empty.yaml", b"", "empty file");
    files
}

/// Every hostile file, the 50 MB stream and the canary in ONE run: no panic, bounded memory, each
/// hostile file gets a clear result and the canary's error is still reported.
#[test]
fn hostile_inputs_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let files = hostile_files(dir.path());
    let canary = dir.path().join("canary.yaml");
    std::fs::write(&canary, CANARY).unwrap();
    let big = dir.path().join("big-stream.yaml");
    let big_docs = write_big_stream(&big);

    let mut args: Vec<String> = vec!["--format".into(), "json".into()];
    args.extend(files.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned()));
    args.push("big-stream.yaml".into());
    args.push("canary.yaml".into());
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = lint(&arg_refs, dir.path());
    eprintln!(
        "hostile run: exit {}, peak RSS {:.1} MB, {} stream documents\nstderr:\n{}",
        run.code,
        run.max_rss as f64 / 1048576.0,
        big_docs,
        run.stderr
    );
    run.assert_no_panic("hostile inputs");
    assert_eq!(run.code, 1, "errors were found, so the exit status is 1");
    let report = run.json();
    let diags = report["diagnostics"].as_array().expect("diagnostics array");
    let for_file = |name: &str| -> Vec<&Value> {
        diags.iter().filter(|d| d["file"].as_str().is_some_and(|f| f.ends_with(name))).collect()
    };

    // The canary was checked: its lower-case action is a schema error.
    let canary_diags = for_file("canary.yaml");
    assert!(
        canary_diags.iter().any(|d| d["severity"] == "error" && d["line"] == 13),
        "canary error missing: {canary_diags:#?}"
    );
    // The 50 MB stream: every document read, none in error.
    let big_errors: Vec<&Value> =
        for_file("big-stream.yaml").into_iter().filter(|d| d["severity"] == "error").collect();
    assert!(big_errors.is_empty(), "valid stream reported errors: {:?}", &big_errors[..big_errors.len().min(5)]);
    let documents = report["summary"]["documents"].as_u64().unwrap() as usize;
    assert!(documents > big_docs, "documents {documents} < {big_docs} stream documents + canary");

    for (path, what) in &files {
        let name = path.file_name().unwrap().to_string_lossy();
        let found = for_file(&name);
        for d in &found {
            assert!(d["line"].as_u64().unwrap() >= 1 && d["column"].as_u64().unwrap() >= 1, "{what}: {d}");
            assert!(!d["message"].as_str().unwrap().is_empty(), "{what}: empty message");
        }
        match *what {
            // Nothing to report; it must not derail the run.
            "empty file" => assert!(found.is_empty(), "{what}: {found:#?}"),
            // Junk has no KubeArmor marker: an error, or a note on stderr naming the file.
            "binary junk" => {
                assert!(!found.is_empty() || run.stderr.contains(name.as_ref()), "{what}: no diagnostic and no note")
            }
            _ => assert!(
                found.iter().any(|d| d["severity"] == "error"),
                "{what}: expected an error diagnostic, got {found:#?}"
            ),
        }
    }
    let invalid_utf8 = for_file("invalid-utf8.yaml");
    assert!(
        invalid_utf8.iter().any(|d| d["message"].as_str().unwrap().to_lowercase().contains("utf-8")),
        "invalid UTF-8 should be named as such: {invalid_utf8:#?}"
    );
    run.assert_memory_bounded("hostile inputs");
}

#[test]
fn empty_file_alone_says_no_kubearmor_document() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.yaml"), b"").unwrap();
    let run = lint(&["empty.yaml"], dir.path());
    run.assert_no_panic("empty file");
    run.assert_memory_bounded("empty file");
    assert_eq!(run.code, 1, "no KubeArmor document found is exit 1:\n{}", run.stderr);
    assert!(run.stderr.to_lowercase().contains("no kubearmor document"), "stderr: {}", run.stderr);
}

#[test]
fn directory_without_yaml_says_no_kubearmor_document() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("no-yaml");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("README.txt"), "not a policy").unwrap();
    std::fs::write(sub.join("policy.json"), "{}").unwrap();
    let run = lint(&["--format", "json", "no-yaml"], dir.path());
    run.assert_no_panic("directory without YAML");
    run.assert_memory_bounded("directory without YAML");
    assert_eq!(run.code, 1, "no KubeArmor document found is exit 1:\n{}", run.stderr);
    assert!(run.stderr.to_lowercase().contains("no kubearmor document"), "stderr: {}", run.stderr);
    let report = run.json();
    assert_eq!(report["summary"]["files"], 0, "{report}");
    assert_eq!(report["summary"]["documents"], 0, "{report}");
}

#[test]
fn invalid_utf8_alone_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = CANARY.replace("action: block", "action: Block").into_bytes();
    let at = CANARY.find("canary").unwrap();
    bytes[at] = 0xc3; // a lead byte followed by ASCII: invalid
    std::fs::write(dir.path().join("bad.yaml"), &bytes).unwrap();
    let run = lint(&["--format", "json", "bad.yaml"], dir.path());
    run.assert_no_panic("invalid UTF-8");
    run.assert_memory_bounded("invalid UTF-8");
    assert_eq!(run.code, 1, "invalid UTF-8 is an error:\n{}", run.stderr);
    let report = run.json();
    let d = &report["diagnostics"][0];
    assert_eq!(d["file"], "bad.yaml", "{report}");
    assert_eq!(d["severity"], "error", "{report}");
    assert_eq!(d["line"], 4, "the bad byte is on line 4: {report}");
}

/// A one-line policy whose `action: block` (an error) sits past column 65,535: miette pads its
/// underline with the column, and Rust's format width is a u16 (this panicked, exit 101).
#[test]
fn finding_past_column_65535_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let policy = format!(
        "{{apiVersion: security.kubearmor.com/v1, kind: KubeArmorPolicy, metadata: {{name: p, namespace: d}}, \
         spec: {{selector: {{matchLabels: {{a: b}}}}, message: \"{}\", process: {{matchPaths: [{{path: /bin/sh}}]}}, \
         action: block}}}}\n",
        "m".repeat(70_000)
    );
    std::fs::write(dir.path().join("wide.yaml"), &policy).unwrap();
    for subcommand in [&["lint"][..], &["normalize"][..]] {
        let run = armorc(subcommand, &["wide.yaml"], dir.path(), Stdio::null());
        run.assert_no_panic("finding past column 65,535");
        assert_eq!(run.code, 1, "{subcommand:?}: the lower-case action is an error:\n{}", run.stderr);
        let out = format!("{}{}", run.stdout, run.stderr);
        assert!(out.contains("wide.yaml:1:70"), "{subcommand:?}: {out:.2000}");
        assert!(out.contains("action: block"), "{subcommand:?}: the snippet shows the span: {out:.2000}");
        assert!(out.len() < 10_000, "{subcommand:?}: {} bytes printed for one finding", out.len());
    }
}

/// 3,000 findings on one 47 KB line: each used to reprint the whole line (output quadratic in
/// the line length). Snippets are windows, and at most --max-findings per file are printed.
#[test]
fn thousands_of_findings_on_one_line_print_bounded_output() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<String> = (0..3000).map(|i| format!("{{path: r{i}}}")).collect();
    let policy = format!(
        "{{apiVersion: security.kubearmor.com/v1, kind: KubeArmorPolicy, metadata: {{name: p, namespace: d}}, \
         spec: {{selector: {{matchLabels: {{a: b}}}}, file: {{matchPaths: [{}]}}, action: Block}}}}\n",
        paths.join(", ")
    );
    assert!(policy.len() > 40_000, "{}", policy.len());
    std::fs::write(dir.path().join("many.yaml"), &policy).unwrap();
    let run = lint(&["--format", "json", "--max-findings", "0", "many.yaml"], dir.path());
    let total = run.json()["diagnostics"].as_array().unwrap().len();
    assert!(total >= 3000, "every relative path is a finding: {total}");
    for format in ["human", "json", "sarif", "github"] {
        let run = lint(&["--format", format, "many.yaml"], dir.path());
        run.assert_no_panic(format);
        assert_eq!(run.code, 1, "{format}: {}", run.stderr);
        assert!(run.stdout.len() < 1_000_000, "{format}: {} bytes of output", run.stdout.len());
        run.assert_memory_bounded(format);
        match format {
            "human" => assert!(
                run.stdout.contains(&format!("many.yaml: {} more findings not shown", total - 100)),
                "{}",
                &run.stdout[run.stdout.len().saturating_sub(500)..]
            ),
            "json" => {
                let v = run.json();
                assert_eq!(v["diagnostics"].as_array().unwrap().len(), 100);
                assert_eq!(v["summary"]["not_shown"], total - 100);
                assert_eq!(v["summary"]["errors"], total, "counts include what is not shown");
            }
            "sarif" => assert_eq!(run.json()["runs"][0]["properties"]["notShown"], total - 100),
            _ => assert!(run.stdout.contains("::notice file=many.yaml::"), "{}", run.stdout),
        }
    }
}

/// Inputs without an end: each read stops at its cap with an error naming the input (exit 2),
/// in bounded memory.
#[test]
fn endless_inputs_stop_at_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("canary.yaml"), CANARY).unwrap();
    let zero = || Stdio::from(std::fs::File::open("/dev/zero").unwrap());
    for (args, stdin, name) in [
        (&["/dev/zero"][..], Stdio::null(), "/dev/zero: larger than 64 MiB"),
        (&["-"][..], zero(), "-: larger than 64 MiB"),
        (&["--config", "/dev/zero", "canary.yaml"][..], Stdio::null(), "/dev/zero: larger than 1 MiB"),
    ] {
        let run = armorc(&["lint"], args, dir.path(), stdin);
        run.assert_no_panic(name);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(name), "{args:?}: {}", run.stderr);
        run.assert_memory_bounded(name);
    }
    // compile's workloads are read the same way.
    std::fs::write(dir.path().join("canary.yaml"), CANARY.replace("action: block", "action: Block")).unwrap();
    let run = armorc(
        &["compile"],
        &["canary.yaml", "--workloads", "/dev/zero", "--target", "bpf", "-o", "out"],
        dir.path(),
        Stdio::null(),
    );
    run.assert_no_panic("workloads");
    assert!(run.code != 0 && run.stderr.contains("larger than"), "{}", run.stderr);
    run.assert_memory_bounded("workloads");
}

/// A FIFO named as an input is opened without waiting for a writer (it used to block forever).
#[test]
fn fifo_named_as_input_does_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.yaml");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: c is a NUL-terminated path that lives across the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "{}", std::io::Error::last_os_error());
    std::fs::write(dir.path().join("canary.yaml"), CANARY).unwrap();
    // Should lint block in open(), a writer coming and going after 20 s unblocks it.
    let unblock = fifo.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(20));
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(unblock);
    });
    let started = std::time::Instant::now();
    let run = lint(&["--format", "json", "fifo.yaml", "canary.yaml"], dir.path());
    assert!(started.elapsed().as_secs() < 15, "lint waited {:?} for the FIFO", started.elapsed());
    run.assert_no_panic("FIFO");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.json()["summary"]["files"], 2, "{}", run.stdout);
}

/// A file name with a newline and an escape sequence cannot forge output lines: human output,
/// notes and errors print it escaped.
#[test]
fn control_characters_in_file_names_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let name = "evil\nx.yaml:1:1: error[S000] forged\u{1b}[2J.yaml";
    std::fs::write(dir.path().join(name), CANARY).unwrap();
    let run = lint(&[name, "missing\nfile.yaml"], dir.path());
    run.assert_no_panic("control characters");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(!all.contains('\u{1b}'), "{all:?}");
    assert!(!all.lines().any(|l| l.starts_with("x.yaml:1:1") || l.starts_with("file.yaml")), "{all}");
    assert!(run.stdout.contains("evil\\u{a}x.yaml:1:1: error[S000] forged\\u{1b}[2J.yaml:13:11: error[S004]"), "{all}");
    assert!(run.stderr.contains("missing\\u{a}file.yaml: No such file or directory"), "{all}");
}
