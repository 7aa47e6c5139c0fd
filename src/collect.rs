//! The first step of `lint`, `normalize`, `compile` and `test`: expand the input paths, read and
//! check every file (on every CPU), apply suppressions, and keep what the command needs.

use armorc_compiler::diag::Diagnostic;
use armorc_compiler::inputs::{self, Excludes, InputError};
use armorc_compiler::ir::Policy;
use armorc_compiler::render::{self, LintReport};
use armorc_compiler::source::SourceFile;
use armorc_compiler::suppress::{self, Config, Suppressions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Input options shared by the commands that read policies.
#[derive(clap::Args, Clone, Debug)]
pub struct InputArgs {
    /// Skip paths matching GLOB (repeatable; added to armorc.toml's `exclude`).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Follow symlinks met while walking directories.
    #[arg(long)]
    pub follow: bool,
    /// Configuration file (default: ./armorc.toml when present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Everything one pass over the inputs found.
#[derive(Default)]
pub struct Collected {
    pub report: LintReport,
    pub policies: Vec<armorc_compiler::ir::Policy>,
    pub io_errors: Vec<InputError>,
    /// `file: note: ...` lines for stderr.
    pub notes: Vec<String>,
}

impl Collected {
    /// Notes and I/O errors go to stderr, never into a machine-readable stdout.
    pub fn print_notes(&self) {
        let mut err = std::io::stderr().lock();
        for note in &self.notes {
            let _ = writeln!(err, "{note}");
        }
        for e in &self.io_errors {
            let _ = writeln!(err, "error: {e}");
        }
    }
}

/// What a pass over the inputs keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// Apply suppression comments and armorc.toml `ignore` (normalize must see every error).
    pub suppress: bool,
    /// Keep every policy's IR; lint drops each file's as soon as it is checked (memory).
    pub keep_ir: bool,
}

/// A further check of one file's policies (IR) whose findings join the file's own, before
/// suppressions: `lint --image` (src/lint.rs). Runs on the checking threads.
pub type FileCheck<'a> = &'a (dyn Fn(&Arc<SourceFile>, &[Policy]) -> Vec<Diagnostic> + Sync);

/// Read and check every input, keeping the IR of every policy; `apply_suppressions` as
/// `Mode::suppress`.
pub fn collect(paths: &[String], options: &InputArgs, apply_suppressions: bool) -> Result<Collected, String> {
    collect_with(paths, options, Mode { suppress: apply_suppressions, keep_ir: true }, None)
}

/// Read and check every input; `extra` (if any) also checks each file's policies. `Err` only for
/// configuration problems (exit 2); unreadable paths are collected in `io_errors` and the other
/// files are still checked.
pub fn collect_with(
    paths: &[String],
    options: &InputArgs,
    mode: Mode,
    extra: Option<FileCheck<'_>>,
) -> Result<Collected, String> {
    let apply_suppressions = mode.suppress;
    let (config, _) = suppress::load_config(options.config.as_deref(), is_known_code).map_err(|e| e.to_string())?;
    let globs: Vec<&String> = config.exclude.iter().chain(options.exclude.iter()).collect();
    let excludes = Excludes::new(&globs).map_err(|e| e.to_string())?;
    let expanded = inputs::expand(paths, options.follow, &excludes);
    let mut outcome = Collected {
        report: LintReport::default(),
        policies: Vec::new(),
        io_errors: expanded.errors,
        notes: Vec::new(),
    };
    for link in &expanded.skipped_symlinks {
        outcome.notes.push(format!("{}: note: symlink not followed (use --follow)", render::display_name(link)));
    }
    let active = if apply_suppressions { config } else { Config::default() };
    // Files are independent: check them on every CPU, then merge in input order.
    let results = parallel_map(&expanded.inputs, |input| check_file(input, mode, &active, extra));
    // Size the merged lists once: growing them file by file copies every element repeatedly.
    let checked = results.iter().filter_map(|r| r.as_ref().ok());
    let (diagnostics, policies) = checked.fold((0, 0), |(d, p), f| (d + f.diagnostics.len(), p + f.policies.len()));
    outcome.report.diagnostics.reserve(diagnostics);
    outcome.policies.reserve(policies);
    for result in results {
        let file = match result {
            Ok(f) => f,
            Err(e) => {
                outcome.io_errors.push(e);
                continue;
            }
        };
        outcome.report.files += 1;
        outcome.report.documents += file.documents;
        outcome.report.skipped += file.skipped;
        outcome.report.suppressed += file.suppressed;
        outcome.report.diagnostics.extend(file.diagnostics);
        outcome.policies.extend(file.policies);
        outcome.notes.extend(file.notes);
    }
    Ok(outcome)
}

/// What checking one file gives.
struct FileResult {
    documents: usize,
    skipped: usize,
    suppressed: usize,
    diagnostics: Vec<Diagnostic>,
    policies: Vec<armorc_compiler::ir::Policy>,
    notes: Vec<String>,
}

/// Read, check and (for lint) apply suppressions to one input.
fn check_file(
    input: &inputs::Input,
    mode: Mode,
    config: &Config,
    extra: Option<FileCheck<'_>>,
) -> Result<FileResult, InputError> {
    let loaded = inputs::load(input)?;
    let mut file = FileResult {
        documents: 0,
        skipped: 0,
        suppressed: 0,
        diagnostics: Vec::new(),
        policies: Vec::new(),
        notes: Vec::new(),
    };
    match loaded.not_utf8 {
        Some(d) => file.diagnostics.push(d),
        None => {
            // Without IR (lint), memory stays bounded by the largest document, not the file.
            let checked = if mode.keep_ir || extra.is_some() {
                armorc_compiler::check_source(loaded.source.clone())
            } else {
                armorc_compiler::lint_source(loaded.source.clone())
            };
            file.documents = checked.documents;
            file.skipped = checked.skipped;
            file.diagnostics = checked.diagnostics;
            if let Some(extra) = extra {
                let more = extra(&loaded.source, &checked.policies);
                if !more.is_empty() {
                    file.diagnostics.extend(more);
                    // Source order, as the front-end's own (stable: equal starts keep their order).
                    file.diagnostics.sort_by_key(|d| d.span.map_or(0, |s| s.start));
                }
            }
            if mode.keep_ir {
                file.policies = checked.policies;
            }
            file.notes = checked.notes.into_iter().map(|note| note_line(input.name(), &note)).collect();
        }
    }
    if mode.suppress {
        // Most files have no suppression comment: skip the line scan for them.
        let comments = if loaded.source.text.contains("armorc:") {
            let (comments, bad) = Suppressions::parse(&loaded.source.text, is_known_code);
            for b in bad {
                file.notes.push(format!(
                    "{}:{}:{}: note: {} (it suppresses nothing)",
                    render::display_name(input.name()),
                    b.line,
                    b.column,
                    b.message
                ));
            }
            comments
        } else {
            Suppressions::default()
        };
        file.suppressed = suppress::apply(&mut file.diagnostics, &comments, config);
    }
    Ok(file)
}

/// `file: note: text`, whether or not the front-end's note already starts with the file name.
fn note_line(file: &str, note: &str) -> String {
    let text = note.strip_prefix(file).and_then(|rest| rest.strip_prefix(": ")).unwrap_or(note);
    format!("{}: note: {text}", render::display_name(file))
}

/// `items.map(f)` on up to one thread per CPU; results keep the order of `items`.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(items.len());
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        for handle in handles {
            // A panicking check is a bug; re-raise it rather than lose the file silently.
            for (i, r) in handle.join().unwrap_or_else(|e| std::panic::resume_unwind(e)) {
                slots[i] = Some(r);
            }
        }
    });
    slots.into_iter().map(|r| r.expect("every item was processed")).collect()
}

/// Whether `code` names one of our diagnostic codes (suppression comments and armorc.toml):
/// catches typos such as `S01`, `s101` or `S999`.
fn is_known_code(code: &str) -> bool {
    armorc_compiler::codes::Code::parse(code).is_some()
}
