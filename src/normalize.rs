//! `armorc normalize`: print the resolved policies (`ir::Policy`) as one JSON array.

use crate::collect::{collect, InputArgs};
use crate::write_stdout;
use crate::Status;
use armorc_compiler::diag::Severity;
use armorc_compiler::render::{self, LintReport};

const AFTER_LONG_HELP: &str = "\
Inputs are read as by `armorc lint` (files, directories, `-`, --exclude, --follow, armorc.toml).
Defaults and inheritance are resolved (severity, tags, message and action from rule -> section ->
spec; spec action defaults to Block), comma lists are expanded as KubeArmor does, and container
selector lists are parsed. Files with lint errors are refused: the errors are printed to stderr
and nothing is printed to stdout. Suppression comments do not hide errors here.

Exit status: 0 printed, 1 lint errors or no KubeArmor document, 2 usage, configuration or I/O error.";

#[derive(clap::Args)]
#[command(after_long_help = AFTER_LONG_HELP)]
pub struct Args {
    /// Files or directories to read; `-` reads standard input.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<String>,
    #[command(flatten)]
    pub inputs: InputArgs,
}

pub fn run(args: Args) -> Status {
    let outcome = match collect(&args.paths, &args.inputs, false) {
        Ok(o) => o,
        Err(message) => {
            eprintln!("armorc normalize: {message}");
            return Status::Usage;
        }
    };
    outcome.print_notes();
    if !outcome.io_errors.is_empty() {
        return Status::Usage;
    }
    let errors: Vec<_> = outcome.report.diagnostics.iter().filter(|d| d.severity == Severity::Error).cloned().collect();
    if !errors.is_empty() {
        let shown = LintReport { diagnostics: errors, ..LintReport::default() };
        let mut options = render::Options::detect(env!("CARGO_PKG_VERSION"));
        options.color = false; // stderr may not be the terminal stdout is
        let text = render::human::render(&shown, &options);
        // The summary line of a report of errors only would miscount documents: drop it.
        let body = text.trim_end().rsplit_once('\n').map(|(b, _)| b).unwrap_or("");
        eprintln!("{body}");
        eprintln!("armorc normalize: refused: {} error(s) in the input; nothing printed", shown.diagnostics.len());
        return Status::Failure;
    }
    if outcome.report.documents == 0 {
        eprintln!(
            "armorc normalize: no KubeArmor document found ({} read)",
            crate::plural(outcome.report.files, "file")
        );
        return Status::Failure;
    }
    let mut text = match serde_json::to_string_pretty(&outcome.policies) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("armorc normalize: cannot serialize policies: {e}");
            return Status::Usage;
        }
    };
    text.push('\n');
    if let Err(e) = write_stdout(&text) {
        eprintln!("armorc normalize: cannot write output: {e}");
        return Status::Usage;
    }
    Status::Success
}
