//! Shared by the CLI integration tests: the one way a test skips when its environment lacks
//! something it needs, and the one way to run the built `armorc`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Run the built `armorc` with `args` from the workspace root.
#[allow(dead_code)] // not every test file that shares this module runs armorc this way
pub fn armorc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_armorc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run armorc")
}

/// Run the built `armorc` with `args`, `stdin` written to its standard input.
#[allow(dead_code)] // not every test file that shares this module feeds armorc's stdin
pub fn armorc_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_armorc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run armorc");
    // armorc may exit (bad image) before reading stdin: a broken pipe here is not the test's subject
    let _ = child.stdin.take().expect("piped stdin").write_all(stdin.as_bytes());
    child.wait_with_output().expect("wait for armorc")
}

/// For a test that cannot run here because something it needs is missing (a tool, the shared
/// corpus `../shared/corpus`, root): the caller then returns, or leaves out the part that needs
/// it. Locally this prints `skipped: <test>: <reason>`. Under CI (`CI=true`), where
/// .ci/install-*.sh provides everything, it panics with the reason instead: a missing
/// dependency must fail the run, not pass it unnoticed.
#[allow(dead_code)] // not every test file that shares this module skips
pub fn skip_or_fail(reason: impl std::fmt::Display) {
    // The test harness names each test's thread after the test.
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("(unnamed test)");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: {reason} (CI=true: CI provides what the tests need, so nothing may be skipped)");
    }
    eprintln!("skipped: {test}: {reason}");
}

/// The first `tool` on PATH.
#[allow(dead_code)] // not every test file that shares this module looks tools up
pub fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| std::path::Path::new(d).join(tool)).find(|p| p.is_file())
}

/// Every file under `dir`: its path relative to `dir` and its bytes, sorted by path.
#[allow(dead_code)] // not every test file that shares this module compares output trees
pub fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.push((p.strip_prefix(base).unwrap().display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
