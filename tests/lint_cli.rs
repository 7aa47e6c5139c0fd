//! `armorc lint` / `armorc normalize` end to end: output formats (insta snapshots over the
//! diagnostics fixtures), exit codes, suppressions, inputs (symlinks, stdin, excludes) and SARIF
//! validation with @microsoft/sarif-multitool when installed (.ci/install-lint.sh).
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ARMORC: &str = env!("CARGO_BIN_EXE_armorc");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const FIXTURES: &str = "compiler/tests/fixtures/diagnostics";
const MULTITOOL: &str = "/opt/sarif-multitool/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn armorc(args: &[&str], cwd: &Path, stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(ARMORC)
        .args(args)
        .current_dir(cwd)
        .env_remove("NO_COLOR")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run armorc");
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let run = Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    };
    assert!(!run.stderr.contains("panicked"), "armorc panicked: {}", run.stderr);
    run
}

fn lint_in(dir: &Path, args: &[&str]) -> Run {
    let mut all = vec!["lint"];
    all.extend_from_slice(args);
    armorc(&all, dir, None)
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {}", run.stdout))
}

fn codes(value: &serde_json::Value) -> Vec<String> {
    value["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap().to_string()).collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

const CLEAN: &str = "\
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: clean
  namespace: default
spec:
  selector:
    matchLabels:
      app: web
  process:
    matchPaths:
      - path: /bin/sh
  action: Block
";

/// One schema error: the action enum is case-sensitive (line 13).
const ERROR: &str = "\
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: broken
  namespace: default
spec:
  selector:
    matchLabels:
      app: web
  process:
    matchPaths:
      - path: /bin/sh
  action: block
";

/// One warning only: metadata.namespace on a cluster-scoped kind (line 5).
const WARNING: &str = "\
apiVersion: security.kubearmor.com/v1
kind: KubeArmorHostPolicy
metadata:
  name: host
  namespace: default
spec:
  nodeSelector:
    matchLabels:
      kubernetes.io/os: linux
  process:
    matchPaths:
      - path: /usr/sbin/insmod
  action: Block
";

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n";

// ---------------------------------------------------------------- snapshots over the fixtures

fn fixtures_present() -> bool {
    let dir = Path::new(ROOT).join(FIXTURES);
    let present = dir.is_dir() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(false);
    assert!(present, "{FIXTURES} is missing: the front-end's diagnostics fixtures must be committed");
    present
}

fn fixtures_output(format: &str) -> Run {
    fixtures_present();
    let run = lint_in(Path::new(ROOT), &["--format", format, FIXTURES]);
    assert_eq!(run.code, 1, "fixtures contain errors: exit 1\n{}", run.stderr);
    run
}

fn snapshot(name: &str, text: &str) {
    // The tool's version (SARIF driver) changes with every release; SARIF's own "2.1.0" stays.
    let tool_version = format!(r#""(semanticVersion|version)": "{}""#, env!("CARGO_PKG_VERSION").replace('.', r"\."));
    insta::with_settings!({
        snapshot_path => "../snapshots",
        prepend_module_to_snapshot => false,
        filters => vec![
            (r#""uri": "file://[^"]*""#, r#""uri": "file://[SRCROOT]/""#),
            (tool_version.as_str(), r#""$1": "[VERSION]""#),
        ],
    }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn fixtures_human() {
    let run = fixtures_output("human");
    snapshot("lint_cli_fixtures_human", &run.stdout);
}

#[test]
fn fixtures_json() {
    let run = fixtures_output("json");
    let value = json(&run);
    // Every fixture code appears in its failing file and never in its passing one.
    for d in value["diagnostics"].as_array().unwrap() {
        let file = d["file"].as_str().unwrap();
        assert!(!file.ends_with("-pass.yaml"), "finding in a passing fixture: {d}");
    }
    for entry in std::fs::read_dir(Path::new(ROOT).join(FIXTURES)).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(code) = name.strip_suffix("-fail.yaml") {
            let hit = value["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["code"] == code && d["file"].as_str().unwrap().ends_with(&name));
            assert!(hit, "{name} does not produce {code}");
        }
    }
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    snapshot("lint_cli_fixtures_json", &pretty);
}

#[test]
fn fixtures_sarif() {
    let run = fixtures_output("sarif");
    let value = json(&run);
    assert_eq!(value["version"], "2.1.0");
    assert_eq!(value["runs"][0]["columnKind"], "unicodeCodePoints");
    let first = &value["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(first["uriBaseId"], "SRCROOT");
    assert!(first["uri"].as_str().unwrap().starts_with(FIXTURES), "{first}");
    snapshot("lint_cli_fixtures_sarif", &run.stdout);
}

#[test]
fn fixtures_github() {
    let run = fixtures_output("github");
    for line in run.stdout.lines() {
        assert!(line.starts_with("::error file=") || line.starts_with("::warning file="), "{line}");
    }
    snapshot("lint_cli_fixtures_github", &run.stdout);
}

#[test]
fn sarif_passes_multitool_validation_with_github_rules() {
    if !Path::new(MULTITOOL).exists() {
        common::skip_or_fail(format!("{MULTITOOL} not installed (run .ci/install-lint.sh)"));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The fixtures (every code) plus a warning and a file-level finding (invalid UTF-8).
    let mut log = fixtures_output("sarif").stdout;
    let extra = tempfile::tempdir().unwrap();
    write(extra.path(), "w.yaml", WARNING);
    std::fs::write(extra.path().join("bin.yaml"), b"kind: \xff\n").unwrap();
    let more = lint_in(extra.path(), &["--format", "sarif", "."]);
    for (i, text) in [std::mem::take(&mut log), more.stdout].into_iter().enumerate() {
        let input = dir.path().join(format!("in{i}.sarif"));
        let output = dir.path().join(format!("out{i}.sarif"));
        std::fs::write(&input, text).unwrap();
        let status = Command::new(MULTITOOL)
            .args(["validate", "--rule-kind", "Sarif;Gh", "--level", "Error;Warning;Note", "-o"])
            .arg(&output)
            .arg(&input)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "sarif-multitool failed to run");
        let verdict: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
        let failures: Vec<String> = verdict["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            // A missing level means the rule's default, "warning".
            .filter(|r| r["level"].as_str().unwrap_or("warning") != "note")
            .map(|r| format!("{} {}", r["ruleId"], r["message"]))
            .collect();
        assert!(failures.is_empty(), "sarif-multitool errors/warnings:\n{}", failures.join("\n"));
    }
}

// ---------------------------------------------------------------- examples and exit codes

#[test]
fn examples_lint_clean_with_deny_warning() {
    let run = lint_in(Path::new(ROOT), &["--deny", "warning", "--format", "json", "examples/"]);
    let value = json(&run);
    assert_eq!(value["diagnostics"], serde_json::json!([]), "{}", run.stdout);
    assert!(value["summary"]["documents"].as_u64().unwrap() >= 5);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "clean.yaml", CLEAN);
    write(d, "error.yaml", ERROR);
    write(d, "warning.yaml", WARNING);
    assert_eq!(lint_in(d, &["clean.yaml"]).code, 0);
    assert_eq!(lint_in(d, &["error.yaml"]).code, 1);
    assert_eq!(lint_in(d, &["warning.yaml"]).code, 0, "warnings do not reach the default --deny error");
    assert_eq!(lint_in(d, &["--deny", "warning", "warning.yaml"]).code, 1);
    assert_eq!(lint_in(d, &["--deny", "warning", "clean.yaml"]).code, 0);
    // Usage errors.
    let none = lint_in(d, &[]);
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("PATH"), "{}", none.stderr);
    assert_eq!(lint_in(d, &["--format", "xml", "clean.yaml"]).code, 2);
    // A missing path is an I/O error; 2 wins over 1 and the other files are still checked.
    let run = lint_in(d, &["--format", "json", "missing.yaml", "error.yaml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("missing.yaml: No such file or directory"), "{}", run.stderr);
    assert_eq!(codes(&json(&run)), vec!["S004"]);
}

#[test]
fn machine_formats_keep_stdout_clean() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "error.yaml", ERROR);
    write(d, "deploy.yaml", DEPLOYMENT);
    write(d, "note.yaml", "a: 1 # armorc: ignore[nope]\n");
    for format in ["json", "sarif"] {
        let run = lint_in(d, &["--format", format, "."]);
        json(&run); // exactly one JSON value, nothing else
        assert!(run.stderr.contains("note:"), "{}", run.stderr);
    }
    let run = lint_in(d, &["--format", "github", "."]);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    let run = lint_in(d, &["--format", "json", "."]);
    let summary = &json(&run)["summary"];
    assert_eq!(
        summary,
        &serde_json::json!({"files": 3, "documents": 1, "skipped": 2, "errors": 1, "warnings": 0, "suppressed": 0, "not_shown": 0})
    );
}

#[test]
fn json_positions_are_one_based_unicode_columns() {
    let dir = tempfile::tempdir().unwrap();
    let text = ERROR
        .replace("  name: broken\n", "  name: broken\n  labels:\n    note: \"日本語\"\n")
        .replace("action: block", "action:   block");
    write(dir.path(), "p.yaml", &text);
    let run = lint_in(dir.path(), &["--format", "json", "p.yaml"]);
    let d = &json(&run)["diagnostics"][0];
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(15), Some(13)), "{d}");
    assert_eq!((d["end_line"].as_u64(), d["end_column"].as_u64()), (Some(15), Some(18)), "{d}");
    assert_eq!(d["file"], "p.yaml");
    assert_eq!(d["severity"], "error");
    // A file-level finding (bad UTF-8 in the first byte) sits at 1:1.
    std::fs::write(dir.path().join("bin.yaml"), b"\xfe\xff").unwrap();
    let run = lint_in(dir.path(), &["--format", "json", "bin.yaml"]);
    let d = &json(&run)["diagnostics"][0];
    assert_eq!((d["code"].as_str(), d["line"].as_u64(), d["column"].as_u64()), (Some("Y003"), Some(1), Some(1)));
}

#[test]
fn no_kubearmor_document() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "deploy.yaml", DEPLOYMENT);
    let run = lint_in(dir.path(), &["deploy.yaml"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no KubeArmor document found"), "{}", run.stderr);
    assert_eq!(lint_in(dir.path(), &["--allow-empty", "deploy.yaml"]).code, 0);
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    write(&empty, "README.md", "# not yaml\n");
    let run = lint_in(dir.path(), &["--format", "json", "empty"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no KubeArmor document found (0 files read"), "{}", run.stderr);
    assert_eq!(json(&run)["summary"]["files"], 0);
}

#[test]
fn invalid_utf8_is_a_finding_and_other_files_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), b"kind: KubeArmorPolicy\nmetadata:\n  name: caf\xe9\n").unwrap();
    write(dir.path(), "b.yaml", ERROR);
    let run = lint_in(dir.path(), &["--format", "json", "."]);
    assert_eq!(run.code, 1);
    let value = json(&run);
    let d = &value["diagnostics"][0];
    assert_eq!((d["code"].as_str(), d["file"].as_str()), (Some("Y003"), Some("./a.yaml")));
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(3), Some(12)));
    assert_eq!(codes(&value), vec!["Y003", "S004"]);
}

// ---------------------------------------------------------------- suppressions

#[test]
fn suppression_comments() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "same-line.yaml", &ERROR.replace("action: block", "action: block # armorc: ignore[S004] migrating"));
    write(
        d,
        "line-above.yaml",
        &ERROR.replace("  action: block", "  # armorc: ignore[S101,S004] migrating\n  action: block"),
    );
    write(d, "wrong-code.yaml", &ERROR.replace("action: block", "action: block # armorc: ignore[S001]"));
    write(d, "too-far.yaml", &ERROR.replace("  action: block", "  # armorc: ignore[S004]\n\n  action: block"));
    let run = lint_in(d, &["--format", "json", "same-line.yaml", "line-above.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(json(&run)["summary"]["suppressed"], 2);
    for file in ["wrong-code.yaml", "too-far.yaml"] {
        let run = lint_in(d, &["--format", "json", file]);
        assert_eq!(run.code, 1, "{file}");
        assert_eq!(json(&run)["summary"]["suppressed"], 0, "{file}");
    }
    // A malformed suppression is reported and suppresses nothing.
    write(d, "typo.yaml", &ERROR.replace("action: block", "action: block # armorc: ignore[s004]"));
    let run = lint_in(d, &["typo.yaml"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("typo.yaml:13:17: note: unknown code `s004`"), "{}", run.stderr);
}

#[test]
fn config_file_ignores_and_excludes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "error.yaml", ERROR);
    write(d, "warning.yaml", WARNING);
    write(d, "vendor/error.yaml", ERROR);
    write(d, "armorc.toml", "ignore = [\"S104\"]\nexclude = [\"vendor\"]\n");
    let run = lint_in(d, &["--format", "json", "--deny", "warning", "."]);
    let value = json(&run);
    assert_eq!(codes(&value), vec!["S004"], "{}", run.stdout);
    assert_eq!(value["summary"]["suppressed"], 1);
    assert_eq!(value["summary"]["files"], 2);
    // --config names another file; the one in the current directory is then not read.
    write(d, "conf/strict.toml", "ignore = []\n");
    let run = lint_in(d, &["--format", "json", "--config", "conf/strict.toml", "warning.yaml"]);
    assert_eq!(codes(&json(&run)), vec!["S104"]);
    // Configuration errors name file, line and column, and exit 2.
    write(d, "conf/bad.toml", "ignore = [\"S004\"]\nexclud = [\"x\"]\n");
    let run = lint_in(d, &["--config", "conf/bad.toml", "error.yaml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("conf/bad.toml:2:1:"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(lint_in(d, &["--config", "conf/none.toml", "error.yaml"]).code, 2);
}

#[test]
fn exclude_globs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "p/clean.yaml", CLEAN);
    write(d, "p/error.yaml", ERROR);
    write(d, "p/charts/x/error.yaml", ERROR);
    write(d, "p/gen.tmpl.yaml", ERROR);
    let run = lint_in(d, &["--format", "json", "--exclude", "p/charts/**", "--exclude", "*.tmpl.yaml", "p"]);
    let files: Vec<String> =
        json(&run)["diagnostics"].as_array().unwrap().iter().map(|d| d["file"].as_str().unwrap().to_string()).collect();
    assert_eq!(files, vec!["p/error.yaml"]);
    assert_eq!(json(&run)["summary"]["files"], 2);
    assert_eq!(lint_in(d, &["--exclude", "a/[b", "p"]).code, 2);
}

// ---------------------------------------------------------------- inputs

#[cfg(unix)]
#[test]
fn symlinks_and_follow() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "real/error.yaml", ERROR);
    write(d, "tree/clean.yaml", CLEAN);
    symlink("../real/error.yaml", d.join("tree/link.yaml")).unwrap();
    symlink("../real", d.join("tree/linkdir")).unwrap();
    symlink("..", d.join("real/loop")).unwrap(); // a cycle, only reachable with --follow

    // A directory walk does not follow symlinks; it says so on stderr.
    let run = lint_in(d, &["--format", "json", "tree"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(json(&run)["summary"]["files"], 1);
    assert!(run.stderr.contains("tree/link.yaml: note: symlink not followed"), "{}", run.stderr);

    // --follow does, and stops at the cycle; `file` is the path as reached.
    let run = lint_in(d, &["--format", "json", "--follow", "tree"]);
    assert_eq!(run.code, 1);
    let files: Vec<String> =
        json(&run)["diagnostics"].as_array().unwrap().iter().map(|d| d["file"].as_str().unwrap().to_string()).collect();
    assert!(files.contains(&"tree/link.yaml".to_string()), "{files:?}");
    assert!(files.contains(&"tree/linkdir/error.yaml".to_string()), "{files:?}");

    // A symlink named on the command line is followed.
    let run = lint_in(d, &["--format", "json", "tree/link.yaml", "tree/linkdir"]);
    assert_eq!(run.code, 1);
    assert_eq!(json(&run)["diagnostics"][0]["file"], "tree/link.yaml");
    assert_eq!(json(&run)["diagnostics"][1]["file"], "tree/linkdir/error.yaml");
}

#[test]
fn directory_walk_is_sorted_and_recursive() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["b.yaml", "a/z.yml", "a/b/c.yaml", "c.YAML.txt", "0.yaml"] {
        write(d, &format!("p/{name}"), ERROR);
    }
    let run = lint_in(d, &["--format", "json", "p/"]);
    let files: Vec<String> =
        json(&run)["diagnostics"].as_array().unwrap().iter().map(|d| d["file"].as_str().unwrap().to_string()).collect();
    assert_eq!(files, vec!["p/0.yaml", "p/a/b/c.yaml", "p/a/z.yml", "p/b.yaml"]);
}

#[test]
fn stdin_input() {
    let run = armorc(&["lint", "--format", "json", "-"], Path::new(ROOT), Some(ERROR.as_bytes()));
    assert_eq!(run.code, 1);
    let value = json(&run);
    assert_eq!(value["diagnostics"][0]["file"], "-");
    assert_eq!(value["diagnostics"][0]["line"], 13);
    let run = armorc(&["lint", "-"], Path::new(ROOT), Some(CLEAN.as_bytes()));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn github_properties_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a,b:c.yaml", ERROR);
    let run = lint_in(dir.path(), &["--format", "github", "a,b:c.yaml"]);
    assert!(
        run.stdout.starts_with("::error file=a%2Cb%3Ac.yaml,line=13,col=11,endLine=13,endColumn=16,title=S004::"),
        "{}",
        run.stdout
    );
}

#[test]
fn human_output_has_location_snippet_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "error.yaml", ERROR);
    let run = lint_in(dir.path(), &["error.yaml"]);
    assert!(run.stdout.starts_with("error.yaml:13:11: error[S004]\n"), "{}", run.stdout);
    assert!(run.stdout.contains("[error.yaml:13:11]"), "{}", run.stdout);
    assert!(run.stdout.contains("13 │   action: block"), "{}", run.stdout);
    assert!(run.stdout.contains("help:"), "{}", run.stdout);
    assert!(
        run.stdout.ends_with("1 file, 1 KubeArmor document, 0 skipped: 1 error, 0 warnings, 0 suppressed\n"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains('\u{1b}'), "no colour when not a terminal");
}

#[test]
fn long_help_explains_formats_suppressions_and_exit_codes() {
    let run = armorc(&["lint", "--help"], Path::new(ROOT), None);
    assert_eq!(run.code, 0);
    for needle in
        ["--format", "sarif", "github", "# armorc: ignore[CODE]", "armorc.toml", "Exit status", "--follow", "--exclude"]
    {
        assert!(run.stdout.contains(needle), "--help lacks {needle}");
    }
}

// ---------------------------------------------------------------- normalize

#[test]
fn normalize_prints_policies_or_refuses() {
    let run = armorc(&["normalize", "examples"], Path::new(ROOT), None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let policies: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let list = policies.as_array().unwrap();
    assert!(list.len() >= 5);
    assert!(list.iter().any(|p| p["kind"] == "KubeArmorHostPolicy"));

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "clean.yaml", CLEAN);
    write(dir.path(), "error.yaml", &ERROR.replace("action: block", "action: block # armorc: ignore[S004]"));
    let run = armorc(&["normalize", "."], dir.path(), None);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "", "no partial output");
    assert!(run.stderr.contains("error[S004]"), "{}", run.stderr);
    let run = armorc(&["normalize", "clean.yaml"], dir.path(), None);
    assert_eq!(run.code, 0);
    let policies: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(policies[0]["name"], "clean");
    assert_eq!(policies[0]["rules"][0]["action"], "Block");
}

#[test]
fn completions_cover_lint_options() {
    for shell in ["bash", "zsh", "fish"] {
        let run = armorc(&["completions", shell], Path::new(ROOT), None);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(run.stdout.contains("lint") && run.stdout.contains("deny") && run.stdout.contains("sarif"), "{shell}");
    }
}
