//! armorc: thin CLI over the compiler and recommend crates; one module per subcommand.

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

mod collect;
mod compile;
mod discover;
mod explain;
mod lint;
mod lint_image;
mod normalize;
mod query;
mod recommend;
mod summary;
mod test;

/// The exit statuses of `armorc`, one meaning each across subcommands (docs/cli.md and
/// docs/recommend.md list each subcommand's "Exit status").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Done: nothing reached `--deny`, compiled or up to date, printed, answered, every image read.
    Success = 0,
    /// The input was refused or failed: findings reaching `--deny`, lint errors, no KubeArmor
    /// document, a target over capacity, a query the model rejects, an unreadable image.
    Failure = 1,
    /// Usage, configuration or I/O error: nothing was written.
    Usage = 2,
    /// `compile --check`: OUT differs from what would be written.
    OutOfDate = 3,
}

// Compiling thousands of targets is allocation-heavy (strings, small maps): with glibc malloc the
// allocator was about a fifth of `compile`'s samples, and the compile benchmark 25% slower.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (libmimalloc-sys names only some options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[derive(Parser)]
#[command(name = "armorc", version, about = "Policy-as-code compiler and recommendation toolchain for KubeArmor", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate KubeArmor policies (YAML) with precise diagnostics.
    Lint(lint::Args),
    /// Print the resolved (normalized) policies.
    Normalize(normalize::Args),
    /// Compile policies and workloads into BPF-LSM map images and AppArmor profiles.
    Compile(compile::Args),
    /// Ask the reference decision model what a map image decides.
    Query(query::Args),
    /// Show what a compiled artifact contains and where each entry came from.
    Explain(explain::Args),
    /// Recommend policies for container images.
    Recommend(recommend::Args),
    /// Run policy test files (*.armortest.yaml): each case's expected decision against the model.
    Test(test::Args),
    /// Summarize KubeArmor events as karmor summary's tables: processes, files, connections, binds.
    Summary(summary::Args),
    /// Least-privilege KubeArmorPolicies and NetworkPolicies from observed KubeArmor events.
    Discover(discover::Args),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    // By default mimalloc returns freed memory to the kernel after 10 ms. A compile frees and
    // reallocates per-target buffers thousands of times, and each re-fault zeroes a whole huge
    // page (slow on VMs): keep freed memory for reuse instead; the process exits soon anyway.
    // SAFETY: mi_option_set takes no pointers: 15 is mi_option_purge_delay in the vendored
    // mimalloc.h and -1 its documented "never purge" value. It only stores the option, first thing
    // in main, before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    // Where transparent huge pages are "always" on (this VM; Debian's default is "madvise"), each
    // first touch of 2 MiB of heap has the kernel zero a whole huge page, and in a VM that page
    // may first have to be backed by the host: measured on the compile benchmark, 0.5-0.9 s of
    // system time against 0.2 s with small pages, and no more user time. Small pages for this
    // process only; the call cannot fail in a way that matters (old kernels: EINVAL, ignored).
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1 as libc::c_ulong, 0, 0, 0) };
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Lint(a) => lint::run(a),
        Command::Normalize(a) => normalize::run(a),
        Command::Compile(a) => compile::run(a),
        Command::Query(a) => query::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Recommend(a) => recommend::run(a),
        Command::Test(a) => test::run(a),
        Command::Summary(a) => summary::run(a),
        Command::Discover(a) => discover::run(a),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "armorc", &mut std::io::stdout());
            Status::Success
        }
    };
    ExitCode::from(code as u8)
}

/// `1 file`, `2 files`.
pub fn plural(n: usize, word: &str) -> String {
    armorc_compiler::render::human::plural(n, word)
}

/// Write all of stdout at once; a closed pipe (`| head`) is not an error worth a panic.
pub fn write_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
