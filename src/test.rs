//! `armorc test`: policy test files (`*.armortest.yaml`, docs/testing.md). Each file names
//! policies and workloads; they are compiled in memory as `armorc compile` compiles them (lint's
//! reading and checks, the composition, the BPF-LSM and Landlock lowerings), and each case's
//! expected decision is compared with the answer `armorc query` gives for that operation (and
//! `audit` where one of the target's Audit rules matches an allowed operation).
//! Nothing is written to disk; the report goes to stdout.

mod kernel;

use crate::collect::{self, InputArgs};
use crate::Status;
use armorc_compiler::check::suggest;
use armorc_compiler::compose::{self, ComposeOptions, Composition, Posture};
use armorc_compiler::diag::Severity;
use armorc_compiler::image::{MapImage, MAX_ENTRIES};
use armorc_compiler::inputs::{self, Excludes};
use armorc_compiler::ir::{Action, Policy};
use armorc_compiler::landlock::Plan;
use armorc_compiler::lower;
use armorc_compiler::model::{self, landlock, Query};
use armorc_compiler::query::{answer_operation, parse_object, to_line};
use armorc_compiler::render::{self, display_name};
use armorc_compiler::source::{SourceFile, Span};
use armorc_compiler::workload::{WorkloadError, Workloads};
use armorc_compiler::yaml::{self, Node, Value};
use serde_json::{json, Map, Value as Json};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

const AFTER_LONG_HELP: &str = "\
A test file (docs/testing.md):
  policies: [\"ksp-block-shells.yaml\", \"dir/*.yaml\"]  # relative to the test file; * ? **
                                                     # (a template's policy.yaml.hbs: rendered
                                                     # for recommend's sample target)
  workloads: [\"deploy.yaml\", {inline: \"<yaml>\"}]     # optional
  posture: block                                     # optional, as compile --default-posture
  host_posture: audit                                # optional, as --host-default-posture
  node_labels: \"kubernetes.io/hostname=n1\"           # optional: makes the `host` target
  cases:
    - name: shells are blocked
      target: shop/web/nginx      # NAMESPACE/WORKLOAD/CONTAINER (as index.json) or host
      op: exec                    # the ops and fields of `armorc query`
      path: /bin/bash
      expect: deny                # allow | deny | audit
      enforcer: bpf               # bpf (default) | landlock

Directories are searched recursively for *.armortest.yaml (hidden directories skipped).

Exit status:
  0  every case passed
  1  a case failed, or a test file is broken (its file, line and column are shown), or no test
     file was found
  2  usage error, or a PATH that cannot be read";

#[derive(clap::Args)]
#[command(after_long_help = AFTER_LONG_HELP)]
pub struct Args {
    /// Test files, or directories searched for `*.armortest.yaml`.
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Human)]
    pub format: FormatArg,
    /// Run every case for real through `armor-loader exec --op` in its target (as root), under one
    /// enforcer, from a bundle compiled into a temporary directory; what cannot be set up here is
    /// skipped with the reason.
    #[arg(long)]
    pub kernel: bool,
    /// With --kernel: the enforcer (default: what `armor-loader probe` chooses).
    #[arg(long, value_name = "LSM", requires = "kernel", value_parser = ["bpf", "apparmor", "landlock"])]
    pub lsm: Option<String>,
    /// With --kernel: the armor-loader to run (default: beside armorc, else on PATH).
    #[arg(long, value_name = "PATH", requires = "kernel")]
    pub loader: Option<std::path::PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    Human,
    Json,
    Junit,
}

/// Files a walk takes as test files.
const SUFFIXES: [&str; 2] = [".armortest.yaml", ".armortest.yml"];
/// Test files are never policies or workloads, even in a directory or glob that holds them.
const TEST_GLOBS: [&str; 2] = ["*.armortest.yaml", "*.armortest.yml"];
const TOP_FIELDS: [&str; 7] = ["version", "policies", "workloads", "posture", "host_posture", "node_labels", "cases"];
const CASE_FIELDS: [&str; 13] = [
    "name",
    "target",
    "op",
    "path",
    "source",
    "owner",
    "tty",
    "args",
    "type",
    "protocol",
    "capability",
    "expect",
    "enforcer",
];
/// The case fields that make the query (`armorc query`'s line fields).
const QUERY_FIELDS: [&str; 9] = ["op", "path", "source", "owner", "tty", "args", "type", "protocol", "capability"];
/// Targets listed in a "no such target" error before the rest is counted.
const MAX_LISTED_TARGETS: usize = 30;

/// What stops a test file from running: a place (when there is one) and a message.
#[derive(Clone, Debug)]
struct Problem {
    file: String,
    /// 1-based line and column.
    at: Option<(usize, usize)>,
    message: String,
}

impl Problem {
    fn at(src: &SourceFile, span: Span, message: impl Into<String>) -> Problem {
        let lc = src.line_col(span.start);
        Problem { file: src.name.clone(), at: Some((lc.line, lc.column)), message: message.into() }
    }

    fn text(&self) -> String {
        match self.at {
            Some((line, column)) => format!("{}:{line}:{column}: {}", display_name(&self.file), self.message),
            None => format!("{}: {}", display_name(&self.file), self.message),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Enforcer {
    Bpf,
    Landlock,
}

impl Enforcer {
    fn name(self) -> &'static str {
        match self {
            Enforcer::Bpf => "bpf",
            Enforcer::Landlock => "landlock",
        }
    }
}

struct Case {
    name: String,
    line: usize,
    column: usize,
    target: String,
    target_span: Span,
    query: Query,
    /// `allow`, `deny` or `audit`.
    expect: &'static str,
    enforcer: Enforcer,
}

enum Workload {
    Path(String, Span),
    /// The YAML text, and the span of the string holding it.
    Inline(String, Span),
}

/// A parsed test file.
struct Spec {
    policies: Vec<(String, Span)>,
    policies_key: Span,
    workloads: Vec<Workload>,
    options: ComposeOptions,
    cases: Vec<Case>,
}

/// A policy rule as answers name it.
struct Rule {
    policy: String,
    at: String,
    file: String,
    line: usize,
}

impl Rule {
    fn text(&self) -> String {
        format!("{} {} ({}:{})", self.policy, self.at, display_name(&self.file), self.line)
    }

    fn json(&self) -> Json {
        json!({"policy": self.policy, "at": self.at, "file": self.file, "line": self.line})
    }
}

/// One case's outcome.
struct CaseResult {
    case: Case,
    /// `allow`, `deny`, `audit`, or `error` (a kernel run that decided nothing).
    actual: &'static str,
    /// `kernel (bpf)`: the answer is the kernel's (`--kernel`), not the model's.
    kernel: Option<String>,
    /// Why the case was not run here (`--kernel`): neither passed nor failed.
    skipped: Option<String>,
    rule: Option<Rule>,
    /// The answer line, exactly as `armorc query` prints it.
    answer: String,
    time: Duration,
}

impl CaseResult {
    fn passed(&self) -> bool {
        self.skipped.is_none() && self.actual == self.case.expect
    }

    fn failed(&self) -> bool {
        self.skipped.is_none() && !self.passed()
    }

    /// `bpf`, or `kernel (bpf)` for a kernel run.
    fn enforcer(&self) -> String {
        self.kernel.clone().unwrap_or_else(|| self.case.enforcer.name().to_string())
    }
}

/// One test file's outcome: problems (the file is broken; no case ran) or results.
struct FileReport {
    file: String,
    problems: Vec<Problem>,
    results: Vec<CaseResult>,
    time: Duration,
}

pub fn run(args: Args) -> Status {
    let files = match find(&args.paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("armorc test: {e}");
            return Status::Usage;
        }
    };
    if files.is_empty() {
        eprintln!("armorc test: no test file (*.armortest.yaml) found in {}", args.paths.join(", "));
        return Status::Failure;
    }
    let kernel = match args.kernel.then(|| kernel::Kernel::new(args.loader.as_deref(), args.lsm.as_deref())) {
        Some(Err(e)) => {
            eprintln!("armorc test --kernel: {e}");
            return Status::Usage;
        }
        Some(Ok(k)) => Some(k),
        None => None,
    };
    let reports: Vec<FileReport> = files.iter().map(|f| run_file(f, kernel.as_ref())).collect();
    let text = match args.format {
        FormatArg::Human => human(&reports),
        FormatArg::Json => {
            let mut t = serde_json::to_string_pretty(&report_json(&reports)).expect("reports are JSON");
            t.push('\n');
            t
        }
        FormatArg::Junit => junit(&reports),
    };
    if let Err(e) = crate::write_stdout(&text) {
        eprintln!("armorc test: cannot write output: {e}");
        return Status::Usage;
    }
    let (passed, failed, skipped, broken) = counts(&reports);
    if args.format != FormatArg::Human {
        eprintln!("armorc test: {}", summary(passed, failed, skipped, broken));
    }
    if failed > 0 || broken > 0 {
        Status::Failure
    } else {
        Status::Success
    }
}

/// Passed, failed and skipped cases, and broken files.
fn counts(reports: &[FileReport]) -> (usize, usize, usize, usize) {
    let results = reports.iter().flat_map(|r| &r.results);
    let passed = results.clone().filter(|r| r.passed()).count();
    let failed = results.clone().filter(|r| r.failed()).count();
    let skipped = results.filter(|r| r.skipped.is_some()).count();
    let broken = reports.iter().filter(|r| !r.problems.is_empty()).count();
    (passed, failed, skipped, broken)
}

fn summary(passed: usize, failed: usize, skipped: usize, broken: usize) -> String {
    let mut s = format!("{passed} passed; {failed} failed");
    if skipped > 0 {
        s.push_str(&format!("; {skipped} skipped"));
    }
    if broken > 0 {
        s.push_str(&format!("; {broken} broken test file{}", if broken == 1 { "" } else { "s" }));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Finding test files, and the files a test file names.

/// Test files in argument order: a file as named, a directory walked in sorted order.
fn find(paths: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for arg in paths {
        let meta = std::fs::metadata(arg).map_err(|e| format!("{arg}: {}", inputs::io_message(&e)))?;
        if meta.is_dir() {
            walk(Path::new(arg), arg, &mut out).map_err(|e| format!("{arg}: {e}"))?;
        } else {
            out.push(arg.clone());
        }
    }
    let mut seen = HashSet::new();
    out.retain(|f| seen.insert(f.clone()));
    Ok(out)
}

/// Hidden entries (`.git`) are skipped, and symlinks are not followed (no cycles).
fn walk(dir: &Path, name: &str, out: &mut Vec<String>) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .and_then(|d| d.collect::<std::io::Result<Vec<_>>>())
        .map_err(|e| format!("{}: {}", display_name(name), inputs::io_message(&e)))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with('.') {
            continue;
        }
        let path = join(name, &file_name);
        let kind = entry.file_type().map_err(|e| format!("{path}: {}", inputs::io_message(&e)))?;
        if kind.is_dir() {
            walk(&entry.path(), &path, out)?;
        } else if kind.is_file() && SUFFIXES.iter().any(|s| file_name.ends_with(s)) {
            out.push(path);
        }
    }
    Ok(())
}

/// `dir/name` as the user reads it (`name` alone when `dir` is empty).
fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Paths matching `pattern`, sorted: `*` and `?` match within one name, `**` any number of
/// directories; a pattern without them is the path itself, if it exists. Hidden names match
/// only a pattern part that starts with `.`.
fn glob(pattern: &str) -> Vec<String> {
    let (root, rest) = match pattern.strip_prefix('/') {
        Some(rest) => ("/", rest),
        None => ("", pattern),
    };
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let mut out = Vec::new();
    expand_glob(root.to_string(), &parts, &mut out);
    out.sort();
    out.dedup();
    out
}

fn expand_glob(prefix: String, parts: &[&str], out: &mut Vec<String>) {
    let Some((first, rest)) = parts.split_first() else {
        if !prefix.is_empty() {
            out.push(prefix);
        }
        return;
    };
    let wild = |p: &str| p.contains(['*', '?']);
    if !wild(first) {
        let path = join(&prefix, first);
        if std::fs::symlink_metadata(&path).is_ok() {
            expand_glob(path, rest, out);
        }
        return;
    }
    let dir = if prefix.is_empty() { "." } else { prefix.as_str() };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut names: Vec<(String, bool)> = entries
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.file_type().is_ok_and(|t| t.is_dir())))
        .collect();
    names.sort();
    if *first == "**" {
        expand_glob(prefix.clone(), rest, out);
        for (name, _) in names.iter().filter(|(n, is_dir)| *is_dir && !n.starts_with('.')) {
            expand_glob(join(&prefix, name), parts, out);
        }
        return;
    }
    for (name, is_dir) in names {
        if name.starts_with('.') && !first.starts_with('.') || !wildcard(first, &name) {
            continue;
        }
        if rest.is_empty() || is_dir {
            expand_glob(join(&prefix, &name), rest, out);
        }
    }
}

/// `*` (any run of characters) and `?` (one character) against one name.
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was, and the name position it matched up to: backtrack there.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

// ---------------------------------------------------------------------------------------------
// Reading a test file.

fn run_file(file: &str, kernel: Option<&kernel::Kernel>) -> FileReport {
    let start = Instant::now();
    let mut report =
        FileReport { file: file.to_string(), problems: Vec::new(), results: Vec::new(), time: Duration::ZERO };
    match load_and_run(file, kernel) {
        Ok(results) => report.results = results,
        Err(problems) => report.problems = problems,
    }
    report.time = start.elapsed();
    report
}

fn load_and_run(file: &str, kernel: Option<&kernel::Kernel>) -> Result<Vec<CaseResult>, Vec<Problem>> {
    let whole = |message: String| vec![Problem { file: file.to_string(), at: None, message }];
    let bytes = inputs::read_file_capped(Path::new(file), inputs::MAX_INPUT_BYTES)
        .map_err(|e| whole(inputs::io_message(&e)))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        whole(format!(
            "not UTF-8: byte 0x{:02x} at offset {}",
            e.as_bytes()[e.utf8_error().valid_up_to()],
            e.utf8_error().valid_up_to()
        ))
    })?;
    let src = SourceFile::new(file, text);
    let spec = parse(&src)?;
    let built = build(file, &src, &spec)?;
    let node_labels = spec.options.node_labels.clone();
    let mut results = run_cases(&src, spec, &built)?;
    let Some(kernel) = kernel else { return Ok(results) };
    let dir = kernel::Kernel::bundle(&built, node_labels.as_ref())
        .map_err(|message| vec![Problem { file: file.to_string(), at: None, message }])?;
    let label = kernel.label();
    for r in &mut results {
        let start = Instant::now();
        // run_cases found exactly one target of this name
        let Some(target) = built.composition.targets.iter().find(|t| t.name() == r.case.target) else { continue };
        let (actual, answer, skipped) = match kernel.run(dir.path(), &r.case, target, &built.policies) {
            kernel::Answer::Decided(actual, answer) => (actual, answer, None),
            kernel::Answer::Error(m) => ("error", json!({"kernel": kernel.lsm, "error": m}).to_string(), None),
            kernel::Answer::Skipped(m) => ("skipped", json!({"kernel": kernel.lsm, "skipped": m}).to_string(), Some(m)),
        };
        // the kernel names no rule
        (r.actual, r.answer, r.skipped, r.rule) = (actual, answer, skipped, None);
        r.kernel = Some(label.clone());
        r.time = start.elapsed();
    }
    Ok(results)
}

fn parse(src: &SourceFile) -> Result<Spec, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut root = None;
    for doc in yaml::Documents::new(&src.text) {
        for issue in &doc.issues {
            problems.push(Problem::at(src, issue.span, &issue.message));
        }
        match (doc.root, &root) {
            (Some(node), None) if !node.is_null() => root = Some(node),
            (Some(node), Some(_)) if !node.is_null() => {
                problems.push(Problem::at(src, node.span, "a test file holds one YAML document"));
            }
            _ => {}
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let Some(root) = root else {
        return Err(vec![Problem::at(src, Span::new(0, 0), "empty test file: expected `policies` and `cases`")]);
    };
    let Some(entries) = root.as_map() else {
        return Err(vec![Problem::at(src, root.span, format!("expected a mapping, got {}", root.type_name()))]);
    };
    let mut spec = Spec {
        policies: Vec::new(),
        policies_key: root.span,
        workloads: Vec::new(),
        options: ComposeOptions::default(),
        cases: Vec::new(),
    };
    let (mut posture, mut host_posture, mut have) = (None, None, HashSet::new());
    let string = |e: &yaml::Entry, problems: &mut Vec<Problem>| match e.value.as_str() {
        Some(s) => Some((s.to_string(), e.value.span)),
        None => {
            problems.push(Problem::at(
                src,
                e.value.span,
                format!("{}: expected a string, got {}", e.key, e.value.type_name()),
            ));
            None
        }
    };
    for e in entries {
        have.insert(e.key.as_str());
        match e.key.as_str() {
            "version" => {
                if e.value.value != Value::Int(1) {
                    problems.push(Problem::at(src, e.value.span, "version: this armorc reads version 1"));
                }
            }
            "policies" => {
                spec.policies_key = e.key_span;
                for (i, item) in seq(src, e, &mut problems).iter().enumerate() {
                    match item.as_str() {
                        Some(s) => spec.policies.push((s.to_string(), item.span)),
                        None => problems.push(Problem::at(
                            src,
                            item.span,
                            format!("policies[{i}]: expected a path or glob (a string), got {}", item.type_name()),
                        )),
                    }
                }
            }
            "workloads" => {
                for (i, item) in seq(src, e, &mut problems).iter().enumerate() {
                    match workload_item(item) {
                        Some(w) => spec.workloads.push(w),
                        None => problems.push(Problem::at(
                            src,
                            item.span,
                            format!("workloads[{i}]: expected a path or glob (a string) or {{inline: <YAML text>}}"),
                        )),
                    }
                }
            }
            "posture" => posture = string(e, &mut problems),
            "host_posture" => host_posture = string(e, &mut problems),
            "node_labels" => {
                if let Some((text, span)) = string(e, &mut problems) {
                    match compose::parse_labels(&text) {
                        Ok(labels) => spec.options.node_labels = Some(labels),
                        Err(m) => problems.push(Problem::at(src, span, format!("node_labels: {m}"))),
                    }
                }
            }
            "cases" => {
                let items = seq(src, e, &mut problems);
                if e.value.as_seq().is_some_and(<[Node]>::is_empty) {
                    problems.push(Problem::at(src, e.value.span, "cases: no case"));
                }
                let mut names: HashMap<String, usize> = HashMap::new();
                for (i, item) in items.iter().enumerate() {
                    if let Some(case) = parse_case(src, i, item, &mut problems) {
                        if let Some(first) = names.insert(case.name.clone(), i) {
                            let span = item.get("name").map_or(item.span, |n| n.span);
                            let message =
                                format!("cases[{i}].name: `{}` is also the name of cases[{first}]", case.name);
                            problems.push(Problem::at(src, span, message));
                        }
                        spec.cases.push(case);
                    }
                }
            }
            other => problems.push(Problem::at(src, e.key_span, unknown_field(other, "a test file", &TOP_FIELDS))),
        }
    }
    for required in ["policies", "cases"] {
        if !have.contains(required) {
            problems.push(Problem::at(src, root.span, format!("missing `{required}`")));
        }
    }
    if let Some((text, span)) = posture {
        match compose::parse_posture(&text, Posture::default()) {
            Ok(p) => spec.options.posture = p,
            Err(m) => problems.push(Problem::at(src, span, format!("posture: {m}"))),
        }
    }
    if let Some((text, span)) = host_posture {
        match compose::parse_posture(&text, spec.options.posture) {
            Ok(p) => spec.options.host_posture = Some(p),
            Err(m) => problems.push(Problem::at(src, span, format!("host_posture: {m}"))),
        }
    }
    if problems.is_empty() {
        return Ok(spec);
    }
    problems.sort_by_key(|p| p.at);
    Err(problems)
}

/// The items of a sequence field (a problem if it is something else).
fn seq<'a>(src: &SourceFile, e: &'a yaml::Entry, problems: &mut Vec<Problem>) -> &'a [Node] {
    match &e.value.value {
        Value::Seq(items) => items,
        _ => {
            problems.push(Problem::at(
                src,
                e.value.span,
                format!("{}: expected a list, got {}", e.key, e.value.type_name()),
            ));
            &[]
        }
    }
}

fn workload_item(item: &Node) -> Option<Workload> {
    if let Some(s) = item.as_str() {
        return Some(Workload::Path(s.to_string(), item.span));
    }
    match item.as_map()? {
        [e] if e.key == "inline" => e.value.as_str().map(|t| Workload::Inline(t.to_string(), e.value.span)),
        _ => None,
    }
}

fn unknown_field(name: &str, of: &str, known: &[&str]) -> String {
    let hint = match suggest::closest(name, known.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? "),
        None => String::new(),
    };
    format!("unknown field `{name}` in {of} ({hint}known: {})", known.join(", "))
}

fn parse_case(src: &SourceFile, i: usize, node: &Node, problems: &mut Vec<Problem>) -> Option<Case> {
    let Some(entries) = node.as_map() else {
        problems.push(Problem::at(src, node.span, format!("cases[{i}]: expected a mapping, got {}", node.type_name())));
        return None;
    };
    let before = problems.len();
    let mut query = Map::new();
    let mut spans: HashMap<&str, Span> = HashMap::new();
    let (mut name, mut target, mut expect, mut enforcer) = (None, None, None, Enforcer::Bpf);
    for e in entries {
        let key = e.key.as_str();
        spans.insert(key, e.value.span);
        if QUERY_FIELDS.contains(&key) {
            query.insert(key.to_string(), to_json(&e.value));
            continue;
        }
        if !CASE_FIELDS.contains(&key) {
            problems.push(Problem::at(
                src,
                e.key_span,
                format!("cases[{i}]: {}", unknown_field(key, "a case", &CASE_FIELDS)),
            ));
            // A typo (`expct`) is reported once, not also as a missing `expect`.
            if let Some(meant) = suggest::closest(key, CASE_FIELDS) {
                spans.entry(meant).or_insert(e.key_span);
            }
            continue;
        }
        let Some(text) = e.value.as_str() else {
            let message = format!("cases[{i}].{key}: expected a string, got {}", e.value.type_name());
            problems.push(Problem::at(src, e.value.span, message));
            continue;
        };
        match key {
            "name" => name = Some(text.to_string()),
            "target" => target = Some((text.to_string(), e.value.span)),
            "expect" => match ["allow", "deny", "audit"].into_iter().find(|w| *w == text) {
                Some(w) => expect = Some(w),
                None => problems.push(Problem::at(
                    src,
                    e.value.span,
                    format!("cases[{i}].expect: `{text}` is not a decision (expected allow, deny or audit)"),
                )),
            },
            "enforcer" => match text {
                "bpf" => enforcer = Enforcer::Bpf,
                "landlock" => enforcer = Enforcer::Landlock,
                _ => problems.push(Problem::at(
                    src,
                    e.value.span,
                    format!("cases[{i}].enforcer: unknown enforcer `{text}` (expected bpf or landlock)"),
                )),
            },
            _ => unreachable!("every case field is handled"),
        }
    }
    for (field, missing) in [("name", name.is_none()), ("target", target.is_none()), ("expect", expect.is_none())] {
        if missing && !spans.contains_key(field) {
            problems.push(Problem::at(src, node.span, format!("cases[{i}]: missing `{field}`")));
        }
    }
    if !spans.contains_key("op") {
        problems.push(Problem::at(src, node.span, format!("cases[{i}]: missing `op`")));
    }
    // The query's own checks, exactly as `armorc query` makes them; messages start with the field.
    let parsed = match parse_object(&query) {
        Ok(q) => Some(q),
        Err(_) if !query.contains_key("op") => None,
        Err(m) => {
            // `path: ...`, `args[]: ...` name a field; `op exec: missing "path"` names the case.
            let field = m.field().unwrap_or("");
            match spans.get(field).filter(|_| QUERY_FIELDS.contains(&field)) {
                Some(span) => problems.push(Problem::at(src, *span, format!("cases[{i}].{m}"))),
                None => problems.push(Problem::at(src, node.span, format!("cases[{i}]: {m}"))),
            }
            None
        }
    };
    if problems.len() > before {
        return None;
    }
    let lc = src.line_col(node.span.start);
    let (target, target_span) = target?;
    Some(Case {
        name: name?,
        line: lc.line,
        column: lc.column,
        target,
        target_span,
        query: parsed?,
        expect: expect?,
        enforcer,
    })
}

/// A YAML value as the JSON a query line would hold.
fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Null => Json::Null,
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Str(s) => json!(s),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(entries.iter().map(|e| (e.key.clone(), to_json(&e.value))).collect()),
    }
}

// ---------------------------------------------------------------------------------------------
// Compiling, as `armorc compile` does, in memory.

struct Built {
    composition: Composition,
    policies: Vec<armorc_compiler::ir::Policy>,
    workloads: Workloads,
}

/// `name` relative to the test file's directory (as reached: `tests/a.armortest.yaml` + `p.yaml`
/// is `tests/p.yaml`).
fn beside(test_file: &str, name: &str) -> String {
    if name.starts_with('/') {
        return name.to_string();
    }
    let dir = Path::new(test_file).parent().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
    clean(&join(&dir, name))
}

/// `a/b/../c` -> `a/c`, so names read as the files are (`pass/../policies/p.yaml` is
/// `policies/p.yaml`). A `..` after a symlink or a glob part stays: only there could it differ.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        let poppable = |parts: &[&str]| {
            parts.last().is_some_and(|last| {
                let here = parts.join("/");
                !matches!(*last, ".." | "") && !last.contains(['*', '?']) && !Path::new(&here).is_symlink()
            })
        };
        match part {
            "." if !parts.is_empty() => {}
            ".." if poppable(&parts) => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return ".".into();
    }
    parts.join("/")
}

fn build(file: &str, src: &SourceFile, spec: &Spec) -> Result<Built, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut paths = Vec::new();
    for (i, (pattern, span)) in spec.policies.iter().enumerate() {
        let found = glob(&beside(file, pattern));
        if found.is_empty() {
            problems.push(Problem::at(src, *span, format!("policies[{i}]: `{pattern}` matches no file")));
        }
        paths.extend(found);
    }
    if spec.policies.is_empty() {
        problems.push(Problem::at(src, spec.policies_key, "policies: no policy file named"));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // A template's `policy.yaml.hbs` is rendered for the sample target, as `armorc recommend`
    // renders it (docs/testing.md); every other file is read as compile reads policies.
    let (templates, paths): (Vec<String>, Vec<String>) = paths.into_iter().partition(|p| p.ends_with(".hbs"));
    let mut rendered = Vec::new();
    for template in &templates {
        match render_template(template) {
            Ok(policies) => rendered.extend(policies),
            Err(m) => problems.push(Problem { file: template.clone(), at: None, message: m }),
        }
    }
    let input_args =
        InputArgs { exclude: TEST_GLOBS.iter().map(|g| g.to_string()).collect(), follow: false, config: None };
    // Exactly compile's reading: lint's checks, suppressions and armorc.toml.
    let mut outcome = if paths.is_empty() {
        collect::Collected::default()
    } else {
        collect::collect(&paths, &input_args, true)
            .map_err(|m| vec![Problem::at(src, spec.policies_key, format!("policies: {m}"))])?
    };
    outcome.report.documents += rendered.len();
    outcome.policies.extend(rendered);
    for note in &outcome.notes {
        eprintln!("{note}");
    }
    for e in &outcome.io_errors {
        problems.push(Problem { file: e.path.clone(), at: None, message: e.message.clone() });
    }
    for d in outcome.report.diagnostics.iter().filter(|d| d.severity == Severity::Error) {
        let (start, _) = render::position(d);
        problems.push(Problem {
            file: d.file.name.clone(),
            at: Some((start.line, start.column)),
            message: format!("error[{}]: {}", d.code, d.message),
        });
    }
    if problems.is_empty() && outcome.report.documents == 0 {
        problems.push(Problem::at(src, spec.policies_key, "policies: no KubeArmor policy found"));
    }
    let workloads = read_workloads(file, src, spec, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let composition = compose::compose(&outcome.policies, &workloads, &spec.options);
    Ok(Built { composition, policies: outcome.policies, workloads })
}

/// The policy of the template whose `policy.yaml.hbs` is `path` (with its `meta.yaml` beside it),
/// rendered for recommend's sample target and proven as recommend proves it; its rules name
/// `path` and the lines of the rendered text.
fn render_template(path: &str) -> Result<Vec<Policy>, String> {
    use armorc_recommend::{render, templates};
    let dir = Path::new(path).parent().unwrap_or(Path::new("."));
    let template = templates::load_template_dir(dir).map_err(|e| format!("not a template: {e}"))?;
    let text = render::render(&template, &render::sample_target())
        .map_err(|e| format!("template `{}` does not render: {e}", template.name))?
        .text;
    Ok(armorc_compiler::check_source(SourceFile::new(path, text)).policies)
}

fn read_workloads(file: &str, src: &SourceFile, spec: &Spec, problems: &mut Vec<Problem>) -> Workloads {
    let mut workloads = Workloads::default();
    let excludes = Excludes::new(&TEST_GLOBS).expect("the test-file globs are valid");
    let mut ours = HashMap::new();
    for (i, w) in spec.workloads.iter().enumerate() {
        match w {
            Workload::Inline(text, span) => {
                if let Err(e) = workloads.read(&SourceFile::new(file, text.as_str())) {
                    problems.push(inline_problem(src, *span, text, i, &e));
                }
            }
            Workload::Path(pattern, span) => {
                let found = glob(&beside(file, pattern));
                if found.is_empty() {
                    problems.push(Problem::at(src, *span, format!("workloads[{i}]: `{pattern}` matches no file")));
                }
                let expanded = inputs::expand(&found, false, &excludes);
                for e in &expanded.errors {
                    problems.push(Problem { file: e.path.clone(), at: None, message: e.message.clone() });
                }
                for input in &expanded.inputs {
                    if crate::compile::inside_output_tree(Path::new(input.name()), &mut ours).is_some() {
                        continue;
                    }
                    match inputs::load(input) {
                        Ok(loaded) if loaded.not_utf8.is_none() => {
                            if let Err(e) = workloads.read(&loaded.source) {
                                let at = Some((e.location.line, e.location.column));
                                let message = format!("error: {}", e.message);
                                problems.push(Problem { file: e.location.file.clone(), at, message });
                            }
                        }
                        Ok(_) => {
                            problems.push(Problem { file: input.name().into(), at: None, message: "not UTF-8".into() })
                        }
                        Err(e) => problems.push(Problem { file: e.path, at: None, message: e.message }),
                    }
                }
            }
        }
    }
    workloads
}

/// An error in an inline workload, placed in the test file where the text stands there verbatim
/// (a literal block `inline: |`: the file's lines less the block's indentation), else at the
/// string with the position inside it.
fn inline_problem(src: &SourceFile, span: Span, text: &str, i: usize, e: &WorkloadError) -> Problem {
    let start = src.line_col(span.start);
    let (line, column) = (e.location.line, e.location.column);
    let file_line = start.line + line - 1;
    if let Some(want) = text.lines().nth(line - 1).filter(|_| file_line <= src.line_count()) {
        let have = &src.text[src.line_range(file_line - 1)];
        if have.chars().skip(start.column - 1).eq(want.chars()) {
            let at = Some((file_line, column + start.column - 1));
            return Problem { file: src.name.clone(), at, message: format!("workloads[{i}]: error: {}", e.message) };
        }
    }
    Problem::at(src, span, format!("workloads[{i}] (inline, its line {line}, column {column}): error: {}", e.message))
}

// ---------------------------------------------------------------------------------------------
// Running the cases.

/// A target's map image and its model (built once per target, only for targets a case names).
struct BpfTarget {
    image: MapImage,
    model: model::Model,
    /// The target's `action: Audit` rules alone, lowered as Block rules: what they match is what
    /// KubeArmor reports (BPF-LSM enforces none of them, so the target's own image skips them).
    /// `None` without Audit rules.
    audits: Option<(MapImage, model::Model)>,
}

/// The Audit rules of `policies` as Block rules (everything else left out), or `None`.
fn audit_rules_as_block(policies: &[&Policy]) -> Option<Vec<Policy>> {
    let audited: Vec<Policy> = policies
        .iter()
        .filter_map(|p| {
            let rules: Vec<_> = p
                .rules
                .iter()
                .filter(|r| r.action == Action::Audit)
                .map(|r| armorc_compiler::ir::Rule { action: Action::Block, ..r.clone() })
                .collect();
            (!rules.is_empty()).then(|| Policy { rules, presets: Vec::new(), ..(*p).clone() })
        })
        .collect();
    (!audited.is_empty()).then_some(audited)
}

fn run_cases(src: &SourceFile, spec: Spec, built: &Built) -> Result<Vec<CaseResult>, Vec<Problem>> {
    let targets = &built.composition.targets;
    let names: Vec<String> = targets.iter().map(compose::Target::name).collect();
    let mut problems = Vec::new();
    let mut bpf: HashMap<usize, BpfTarget> = HashMap::new();
    let mut plans: HashMap<usize, Plan> = HashMap::new();
    let mut chosen = Vec::new();
    for (i, case) in spec.cases.iter().enumerate() {
        let matching: Vec<usize> = (0..names.len()).filter(|&t| names[t] == case.target).collect();
        let at = match matching.as_slice() {
            [t] => *t,
            [] => {
                problems.push(Problem::at(
                    src,
                    case.target_span,
                    no_target(i, &case.target, &names, spec.options.node_labels.is_some()),
                ));
                continue;
            }
            _ => {
                let message = format!(
                    "cases[{i}].target: {} targets are named `{}` (workload names must be unique per namespace, across kinds)",
                    matching.len(),
                    case.target
                );
                problems.push(Problem::at(src, case.target_span, message));
                continue;
            }
        };
        chosen.push(at);
        let applied: Vec<&armorc_compiler::ir::Policy> =
            targets[at].policies.iter().map(|&p| &built.policies[p]).collect();
        match case.enforcer {
            Enforcer::Bpf if !bpf.contains_key(&at) => {
                let image = lower::bpf::lower_target(&targets[at], &applied);
                if image.entries.len() > MAX_ENTRIES {
                    let message = format!(
                        "cases[{i}].target: target {} needs {} map entries, over the {MAX_ENTRIES} a kernel rule map holds (armorc compile refuses it); its policies: {}",
                        case.target,
                        image.entries.len(),
                        lower::bpf::contributing_policies(&image).join(", ")
                    );
                    problems.push(Problem::at(src, case.target_span, message));
                }
                let model = model::Model::new(&image);
                let audits = audit_rules_as_block(&applied).map(|audited| {
                    let audited: Vec<&Policy> = audited.iter().collect();
                    let image = lower::bpf::lower_target(&targets[at], &audited);
                    let model = model::Model::new(&image);
                    (image, model)
                });
                bpf.insert(at, BpfTarget { image, model, audits });
            }
            Enforcer::Landlock if !plans.contains_key(&at) => {
                match lower::landlock::lower_target(&targets[at], &applied) {
                    Ok(lowered) => {
                        plans.insert(at, lowered.plan);
                    }
                    Err(m) => problems.push(Problem::at(
                        src,
                        case.target_span,
                        format!("cases[{i}].target: {}: {m}", case.target),
                    )),
                }
            }
            _ => {}
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut results = Vec::new();
    for (case, at) in spec.cases.into_iter().zip(chosen) {
        let start = Instant::now();
        let (actual, rule, answer) = match case.enforcer {
            Enforcer::Bpf => {
                let t = &bpf[&at];
                let op = t.model.decide_operation(&case.query);
                let mut d = op.decision;
                let mut image = &t.image;
                let actual = if d.deny {
                    "deny"
                } else if d.audit {
                    "audit"
                } else if let Some(audited) = t.audits.as_ref().and_then(|(image, model)| {
                    let d = model.decide_operation(&case.query).decision;
                    d.deny.then_some((image, d))
                }) {
                    // Allowed, and an Audit rule matches: KubeArmor reports it.
                    (image, d) = audited;
                    "audit"
                } else {
                    "allow"
                };
                let rule = d.rule.and_then(|r| image.rules.get(r as usize)).map(|r| Rule {
                    policy: r.policy.clone(),
                    at: r.at.clone(),
                    file: r.file.clone(),
                    line: r.line,
                });
                (actual, rule, answer_operation(&t.image, &op))
            }
            Enforcer::Landlock => {
                let plan = &plans[&at];
                let a = landlock::Model::new(plan).decide(&case.query);
                let rule = a.rule.and_then(|r| plan.rules.get(r as usize)).map(|r| Rule {
                    policy: r.policy.clone(),
                    at: r.at.clone(),
                    file: r.file.clone(),
                    line: r.line,
                });
                (if a.deny { "deny" } else { "allow" }, rule, landlock::answer_line(plan, &a))
            }
        };
        results.push(CaseResult { case, actual, kernel: None, skipped: None, rule, answer, time: start.elapsed() });
    }
    Ok(results)
}

/// `cases[i].target: no target `x` (did you mean ...?); the targets: ...`.
fn no_target(i: usize, wanted: &str, names: &[String], host: bool) -> String {
    let mut message = format!("cases[{i}].target: no target `{wanted}`");
    if let Some(s) = suggest::closest(wanted, names.iter().map(String::as_str)) {
        message.push_str(&format!(" (did you mean `{s}`?)"));
    }
    if wanted == "host" && !host {
        message.push_str("; the host is a target only with `node_labels`");
    }
    if names.is_empty() {
        message.push_str("; the policies and workloads make no target");
        return message;
    }
    let listed: Vec<&str> = names.iter().take(MAX_LISTED_TARGETS).map(String::as_str).collect();
    message.push_str(&format!("; the targets: {}", listed.join(", ")));
    if names.len() > MAX_LISTED_TARGETS {
        message.push_str(&format!(" and {} more", names.len() - MAX_LISTED_TARGETS));
    }
    message
}

// ---------------------------------------------------------------------------------------------
// Output.

fn test_name(file: &str, case: &str) -> String {
    format!("{}::{}", display_name(file), display_name(case))
}

/// cargo test's shape: a line per case, then each failure's details, then the result line.
fn human(reports: &[FileReport]) -> String {
    let mut out = String::new();
    let mut failed = Vec::new();
    for r in reports {
        if !r.problems.is_empty() {
            let _ = writeln!(out, "test {} ... ERROR", display_name(&r.file));
            for p in &r.problems {
                let _ = writeln!(out, "  {}", p.text());
            }
            continue;
        }
        for res in &r.results {
            let word = match &res.skipped {
                Some(why) => format!("skipped: {}", display_name(why)),
                None if res.passed() => "ok".to_string(),
                None => "FAILED".to_string(),
            };
            let via = res.kernel.as_ref().map(|k| format!(" [{k}]")).unwrap_or_default();
            let _ = writeln!(out, "test {}{via} ... {word}", test_name(&r.file, &res.case.name));
            if res.failed() {
                failed.push((r.file.as_str(), res));
            }
        }
    }
    if !failed.is_empty() {
        out.push_str("\nfailures:\n");
        for (file, res) in &failed {
            let c = &res.case;
            let _ = writeln!(out, "\n---- {} ----", test_name(file, &c.name));
            let _ = writeln!(
                out,
                "{}:{}:{}: target {}, enforcer {}",
                display_name(file),
                c.line,
                c.column,
                c.target,
                res.enforcer()
            );
            let _ = writeln!(out, "  query:    {}", to_line(&c.query));
            let _ = writeln!(out, "  expected: {}", c.expect);
            let _ = writeln!(out, "  actual:   {}", res.actual);
            let rule = res.rule.as_ref().map_or_else(|| "none".to_string(), Rule::text);
            let _ = writeln!(out, "  rule:     {rule}");
            let _ = writeln!(out, "  answer:   {}", res.answer);
        }
        out.push_str("\nfailures:\n");
        for (file, res) in &failed {
            let _ = writeln!(out, "    {}", test_name(file, &res.case.name));
        }
    }
    let (passed, failed, skipped, broken) = counts(reports);
    let verdict = if failed == 0 && broken == 0 { "ok" } else { "FAILED" };
    let _ = writeln!(out, "\ntest result: {verdict}. {}", summary(passed, failed, skipped, broken));
    out
}

fn report_json(reports: &[FileReport]) -> Json {
    let (passed, failed, skipped, broken) = counts(reports);
    let files: Vec<Json> = reports
        .iter()
        .map(|r| {
            let errors: Vec<Json> = r
                .problems
                .iter()
                .map(|p| {
                    json!({"file": p.file, "line": p.at.map(|a| a.0), "column": p.at.map(|a| a.1), "message": p.message})
                })
                .collect();
            let cases: Vec<Json> = r
                .results
                .iter()
                .map(|res| {
                    let c = &res.case;
                    json!({
                        "name": c.name,
                        "line": c.line,
                        "column": c.column,
                        "target": c.target,
                        "enforcer": res.enforcer(),
                        "query": serde_json::from_str::<Json>(&to_line(&c.query)).expect("query lines are JSON"),
                        "expect": c.expect,
                        "actual": res.actual,
                        "passed": res.passed(),
                        "skipped": res.skipped,
                        "rule": res.rule.as_ref().map(Rule::json),
                        "answer": serde_json::from_str::<Json>(&res.answer).expect("answer lines are JSON"),
                    })
                })
                .collect();
            json!({"file": r.file, "errors": errors, "cases": cases})
        })
        .collect();
    json!({
        "version": 1,
        "summary": {"files": reports.len(), "broken": broken, "cases": passed + failed + skipped, "passed": passed, "failed": failed, "skipped": skipped},
        "files": files,
    })
}

/// JUnit XML that both common schemas accept (Jenkins' junit.xsd and Apache Ant's, as checked
/// in tests/test_cli.rs): a testsuite per test file, a testcase per case; a broken test file
/// is one testcase with an `<error>`.
fn junit(reports: &[FileReport]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    let timestamp = utc_now();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    for (id, r) in reports.iter().enumerate() {
        let file = xml(&r.file);
        let failures = r.results.iter().filter(|res| res.failed()).count();
        let (tests, errors) = if r.problems.is_empty() { (r.results.len(), 0) } else { (1, 1) };
        let _ = writeln!(
            out,
            "  <testsuite name=\"{file}\" package=\"armorc\" id=\"{id}\" tests=\"{tests}\" failures=\"{failures}\" \
             errors=\"{errors}\" time=\"{:.6}\" timestamp=\"{timestamp}\" hostname=\"{}\">",
            r.time.as_secs_f64(),
            xml(&hostname)
        );
        let _ = writeln!(out, "    <properties>\n      <property name=\"file\" value=\"{file}\"/>\n    </properties>");
        if !r.problems.is_empty() {
            let text: Vec<String> = r.problems.iter().map(Problem::text).collect();
            let _ = writeln!(
                out,
                "    <testcase name=\"(test file)\" classname=\"{file}\" time=\"{:.6}\">\n      <error message=\"{}\" \
                 type=\"broken test file\">{}</error>\n    </testcase>",
                r.time.as_secs_f64(),
                xml(&text[0]),
                xml(&text.join("\n"))
            );
        }
        for res in &r.results {
            let c = &res.case;
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{file}\" time=\"{:.6}\"",
                xml(&c.name),
                res.time.as_secs_f64()
            );
            if res.passed() {
                out.push_str("/>\n");
                continue;
            }
            if let Some(why) = &res.skipped {
                let _ = writeln!(out, ">\n      <skipped message=\"{}\"/>\n    </testcase>", xml(why));
                continue;
            }
            let rule = res.rule.as_ref().map_or_else(|| "none".to_string(), Rule::text);
            let details = format!(
                "{}:{}:{}: target {}, enforcer {}\nquery: {}\nexpected: {}\nactual: {}\nrule: {rule}\nanswer: {}",
                r.file,
                c.line,
                c.column,
                c.target,
                res.enforcer(),
                to_line(&c.query),
                c.expect,
                res.actual,
                res.answer
            );
            let message = format!("expected {}, got {} (rule: {rule})", c.expect, res.actual);
            let _ = writeln!(
                out,
                ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                xml(&message),
                res.actual,
                xml(&details)
            );
        }
        out.push_str("    <system-out></system-out>\n    <system-err></system-err>\n  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Text for an XML attribute or element. XML 1.0 cannot hold most control characters even as
/// references: they are written as `\u{..}` text, as in our other outputs.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // kept in element text, and kept (not normalized to spaces) in attributes
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || matches!(c, '\u{fffe}' | '\u{ffff}') => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SS` in UTC (the JUnit timestamp form, without a zone).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's days_from_civil, inverted).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        for (p, n, want) in [
            ("*.yaml", "a.yaml", true),
            ("*.yaml", "a.yml", false),
            ("a?c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*", "", true),
            ("ksp-*", "ksp-web.yaml", true),
        ] {
            assert_eq!(wildcard(p, n), want, "{p} {n}");
        }
    }

    #[test]
    fn cleans_parent_parts() {
        assert_eq!(clean("tests/pass/../policies/*.yaml"), "tests/policies/*.yaml");
        assert_eq!(clean("../p.yaml"), "../p.yaml");
        assert_eq!(clean("a/../../p.yaml"), "../p.yaml");
        assert_eq!(clean("/x/../etc/p.yaml"), "/etc/p.yaml");
        assert_eq!(clean("./p.yaml"), "./p.yaml");
        assert_eq!(clean("a/*/../p.yaml"), "a/*/../p.yaml");
    }

    #[test]
    fn xml_escapes() {
        assert_eq!(xml("a<b>&\"'\u{1b}"), "a&lt;b&gt;&amp;&quot;&apos;\\u{1b}");
    }
}
