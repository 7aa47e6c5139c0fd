//! `armorc query`: ask the reference decision model what a map image decides. Reads query lines
//! (JSON, one per line) from a file or stdin, or one query from flags; prints exactly one JSON
//! answer line per query line, in order (`{"error":..}` for a bad line, exit 1 at the end).
//! Answers are for real operations (`Model::decide_operation`): an exec is also the open of the
//! file it runs, and the live bprm hook cannot read argv; the hooks behind it are listed.
//! `--enforcer landlock --plan PLAN` answers what Landlock decides with a compiled plan applied
//! (`model::landlock`; docs/landlock-plan.md lists what each operation needs).

use crate::Status;
use armorc_compiler::image::MapImage;
use armorc_compiler::landlock::Plan;
use armorc_compiler::model::{landlock, Model, Query};
use armorc_compiler::query::{answer_operation, error_answer, parse_line, parse_object, read_line};
use serde_json::{json, Map};
use std::io::{BufRead, Write};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Which enforcer's decisions: bpf (a map image) or landlock (a Landlock plan).
    #[arg(long, value_enum, default_value_t = EnforcerArg::Bpf)]
    enforcer: EnforcerArg,
    /// Map image (a .img file written by `armorc compile`), for --enforcer bpf.
    #[arg(long, required_if_eq("enforcer", "bpf"), conflicts_with = "plan")]
    image: Option<PathBuf>,
    /// Landlock plan (OUT/landlock/....json), for --enforcer landlock.
    #[arg(long, required_if_eq("enforcer", "landlock"))]
    plan: Option<PathBuf>,
    /// With --enforcer landlock: answer as armor-loader enforces the plan when it cannot attach
    /// its socket program (not root): Landlock alone, socket creation never refused.
    #[arg(long, requires = "plan")]
    unprivileged: bool,
    /// Query lines (JSON); `-` or absent = stdin. Not with --op.
    file: Option<PathBuf>,
    /// One query: the op (exec, open, write, unlink, mkdir, rmdir, rename, chmod, truncate, link,
    /// symlink, mknod, socket, capable).
    #[arg(long)]
    op: Option<String>,
    #[arg(long, requires = "op")]
    path: Option<String>,
    /// Executable of the task (for exec: the parent's).
    #[arg(long, requires = "op")]
    source: Option<String>,
    #[arg(long, requires = "op")]
    owner: bool,
    #[arg(long, requires = "op")]
    tty: bool,
    /// An argument (argv[1..]); repeat for more.
    #[arg(long = "arg", requires = "op")]
    args: Vec<String>,
    /// Socket type: stream, dgram, raw, ... or a number.
    #[arg(long = "type", requires = "op")]
    sock_type: Option<String>,
    /// Protocol: tcp, udp, icmp, icmpv6, sctp or a number.
    #[arg(long, requires = "op")]
    protocol: Option<String>,
    /// Capability: net_raw, CAP_NET_RAW, ... or a number.
    #[arg(long, requires = "op")]
    capability: Option<String>,
    /// For socket: the new socket connects to this port (Landlock decides TCP connects).
    #[arg(long, requires = "op", conflicts_with = "bind")]
    connect: Option<u16>,
    /// For socket: the new socket is bound to this port (Landlock decides TCP binds).
    #[arg(long, requires = "op")]
    bind: Option<u16>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnforcerArg {
    Bpf,
    Landlock,
}

/// What answers the queries.
enum Engine {
    Bpf(MapImage),
    /// The plan, and whether the socket program is left out (`--unprivileged`).
    Landlock(Plan, bool),
}

impl Engine {
    fn load(args: &Args) -> Result<Engine, String> {
        let read = |path: &std::path::Path| {
            armorc_compiler::inputs::read_file_capped(path, armorc_compiler::inputs::MAX_INPUT_BYTES)
                .map_err(|e| format!("{}: {}", path.display(), armorc_compiler::inputs::io_message(&e)))
        };
        match (args.enforcer, &args.image, &args.plan) {
            (EnforcerArg::Bpf, Some(path), _) => {
                MapImage::decode(&read(path)?).map(Engine::Bpf).map_err(|e| format!("{}: {e}", path.display()))
            }
            (EnforcerArg::Landlock, _, Some(path)) => Plan::decode(&read(path)?)
                .map(|p| Engine::Landlock(p, args.unprivileged))
                .map_err(|e| format!("{}: {e}", path.display())),
            _ => Err("--enforcer bpf needs --image, --enforcer landlock needs --plan".into()),
        }
    }

    fn answer(&self, model: &Option<Model>, q: &Query) -> String {
        match (self, model) {
            (Engine::Bpf(image), Some(model)) => answer_operation(image, &model.decide_operation(q)),
            (Engine::Landlock(plan, unprivileged), _) => {
                let m = if *unprivileged { landlock::Model::unprivileged(plan) } else { landlock::Model::new(plan) };
                landlock::answer_line(plan, &m.decide(q))
            }
            (Engine::Bpf(_), None) => unreachable!("a map image always has its model"),
        }
    }
}

fn flag_query(a: &Args, op: &str) -> Map<String, serde_json::Value> {
    let mut o = Map::new();
    o.insert("op".into(), json!(op));
    let text = |v: &Option<String>| v.as_ref().map(|s| json!(s));
    // numbers given as text become JSON numbers, so "--protocol 6" works like "protocol":6
    let num_or_text = |v: &Option<String>| v.as_ref().map(|s| s.parse::<u32>().map(|n| json!(n)).unwrap_or(json!(s)));
    for (k, v) in [
        ("path", text(&a.path)),
        ("source", text(&a.source)),
        ("type", num_or_text(&a.sock_type)),
        ("protocol", num_or_text(&a.protocol)),
        ("capability", num_or_text(&a.capability)),
    ] {
        if let Some(v) = v {
            o.insert(k.into(), v);
        }
    }
    if a.owner {
        o.insert("owner".into(), json!(true));
    }
    if a.tty {
        o.insert("tty".into(), json!(true));
    }
    if !a.args.is_empty() {
        o.insert("args".into(), json!(a.args));
    }
    for (k, v) in [("connect", a.connect), ("bind", a.bind)] {
        if let Some(port) = v {
            o.insert(k.into(), json!(port));
        }
    }
    o
}

pub fn run(args: Args) -> Status {
    if args.op.is_some() && args.file.is_some() {
        eprintln!("armorc query: give query lines (FILE or stdin) or --op flags, not both");
        return Status::Usage;
    }
    let engine = match Engine::load(&args) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("armorc query: {e}");
            return Status::Failure;
        }
    };
    let model = match &engine {
        Engine::Bpf(image) => Some(Model::new(image)),
        Engine::Landlock(..) => None,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = false;
    let mut emit = |line: Result<String, String>, out: &mut dyn Write| {
        let v = line.unwrap_or_else(|e| {
            failed = true;
            error_answer(&e)
        });
        writeln!(out, "{v}")
    };

    let result = if let Some(op) = &args.op {
        let q = parse_object(&flag_query(&args, op)).map(|q| engine.answer(&model, &q)).map_err(|e| e.to_string());
        emit(q, &mut out)
    } else {
        let (name, mut reader): (String, Box<dyn BufRead>) = match &args.file {
            None => ("-".into(), Box::new(std::io::stdin().lock())),
            Some(p) if p.as_os_str() == "-" => ("-".into(), Box::new(std::io::stdin().lock())),
            Some(p) => match std::fs::File::open(p) {
                Ok(f) => (p.display().to_string(), Box::new(std::io::BufReader::new(f))),
                Err(e) => {
                    eprintln!("armorc query: {}: {e}", p.display());
                    return Status::Failure;
                }
            },
        };
        let mut r = Ok(());
        let mut buf = Vec::new();
        for i in 0.. {
            match read_line(&mut reader, &mut buf) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let _ = out.flush();
                    eprintln!("armorc query: {name}: line {}: {}", i + 1, armorc_compiler::inputs::io_message(&e));
                    return Status::Failure;
                }
            }
            let line = match std::str::from_utf8(&buf) {
                Ok(l) => l,
                Err(_) => {
                    let _ = out.flush();
                    eprintln!("armorc query: {name}: line {}: not UTF-8", i + 1);
                    return Status::Failure;
                }
            };
            let a = parse_line(line).map(|q| engine.answer(&model, &q)).map_err(|e| format!("line {}: {e}", i + 1));
            r = emit(a, &mut out);
            if r.is_err() {
                break;
            }
        }
        r
    };
    if let Err(e) = result.and_then(|_| out.flush()) {
        eprintln!("armorc query: writing: {e}");
        return Status::Failure;
    }
    drop(out);
    if failed {
        Status::Failure
    } else {
        Status::Success
    }
}
