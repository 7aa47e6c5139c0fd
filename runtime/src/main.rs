//! armor-loader: load our BPF programs, apply map images to targets, verify decisions.
//!
//!   armor-loader probe
//!   armor-loader apply IMG (--pid-ns N --mnt-ns M | --host) [--pin-dir DIR]
//!   armor-loader remove (--pid-ns N --mnt-ns M | --host) [--pin-dir DIR]
//!   armor-loader verify IMG QUERIES.jsonl

use anyhow::{anyhow, bail, Context, Result};
use armor_runtime::kernel::{Harness, Targets, HOST};
use armor_runtime::{probe, read_image, verify};
use armorc_compiler::query;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage:
  armor-loader probe
  armor-loader apply IMG (--pid-ns N --mnt-ns M | --host) [--pin-dir DIR]
  armor-loader remove (--pid-ns N --mnt-ns M | --host) [--pin-dir DIR]
  armor-loader verify IMG QUERIES.jsonl";

struct Opts {
    positional: Vec<String>,
    pid_ns: Option<u32>,
    mnt_ns: Option<u32>,
    host: bool,
    pin_dir: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts { positional: vec![], pid_ns: None, mnt_ns: None, host: false, pin_dir: None };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| anyhow!("{name} needs a value"));
        match a.as_str() {
            "--pid-ns" => o.pid_ns = Some(value(a)?.parse().context("--pid-ns: not a number")?),
            "--mnt-ns" => o.mnt_ns = Some(value(a)?.parse().context("--mnt-ns: not a number")?),
            "--host" => o.host = true,
            "--pin-dir" => o.pin_dir = Some(value(a)?.into()),
            s if s.starts_with("--") => bail!("unknown option {s}"),
            _ => o.positional.push(a.clone()),
        }
    }
    Ok(o)
}

fn target_key(o: &Opts) -> Result<(u32, u32)> {
    match (o.host, o.pid_ns, o.mnt_ns) {
        (true, None, None) => Ok(HOST),
        (false, Some(p), Some(m)) if (p, m) != HOST => Ok((p, m)),
        (false, Some(_), Some(_)) => bail!("{{0,0}} is the host: use --host"),
        _ => bail!("give --pid-ns N --mnt-ns M, or --host"),
    }
}

fn run(args: &[String]) -> Result<u8> {
    let Some(cmd) = args.first() else { bail!("{USAGE}") };
    let o = parse(&args[1..])?;
    match (cmd.as_str(), o.positional.len()) {
        ("probe", 0) => cmd_probe(),
        ("apply", 1) => {
            let image = read_image(o.positional[0].as_ref())?; // rejected before the kernel is touched
            let key = target_key(&o)?;
            let mut targets = Targets::pinned(o.pin_dir.as_deref())?;
            targets.apply(key, &image)?;
            println!(
                "applied {} ({} entries) to {{pid_ns {}, mnt_ns {}}}",
                image.target,
                image.entries.len(),
                key.0,
                key.1
            );
            Ok(0)
        }
        ("remove", 0) => {
            let key = target_key(&o)?;
            let mut targets = Targets::pinned(o.pin_dir.as_deref())?;
            if targets.remove(key)? {
                println!("removed {{pid_ns {}, mnt_ns {}}}", key.0, key.1);
            } else {
                println!("no rule map for {{pid_ns {}, mnt_ns {}}}", key.0, key.1);
            }
            Ok(0)
        }
        ("verify", 2) => cmd_verify(&o.positional[0], &o.positional[1]),
        _ => bail!("{USAGE}"),
    }
}

fn cmd_probe() -> Result<u8> {
    match probe::active_lsms() {
        Ok(l) => println!(
            "lsm: {} (bpf {})",
            l.join(","),
            if l.iter().any(|s| s == "bpf") { "active" } else { "not active" }
        ),
        Err(e) => println!("lsm: unknown ({e:#})"),
    }
    let btf = std::path::Path::new("/sys/kernel/btf/vmlinux").exists();
    println!("btf: /sys/kernel/btf/vmlinux {}", if btf { "present" } else { "missing" });
    armor_runtime::ensure_bpffs()?;
    let mut obj = probe::open_lsm_object()?;
    println!("object: maps created, CO-RE relocations applied");
    for (name, hook, r) in probe::try_load_lsm(&mut obj)? {
        match r {
            Ok(()) => println!("loaded: {name} (lsm/{hook})"),
            Err(e) => println!("skipped: {name} (lsm/{hook}): {e}"),
        }
    }
    Ok(0)
}

fn cmd_verify(img: &str, queries: &str) -> Result<u8> {
    let image = read_image(img.as_ref())?;
    let text = std::fs::read_to_string(queries).map_err(|e| anyhow!("{queries}: {e}"))?;
    let parsed = verify::parse_queries(&text);
    armor_runtime::ensure_bpffs()?;
    let mut harness = Harness::load()?;
    let report = verify::verify(&mut harness, &image, &parsed)?;
    println!("{}", report.summary());
    for d in &report.disagreements {
        println!(
            "{queries}:{}: {}\n  kernel: {}\n  model:  {}",
            d.line,
            query::to_line(&d.query),
            verify::describe(&d.kernel),
            verify::describe(&d.model)
        );
    }
    for (line, e) in &report.errors {
        println!("{queries}:{line}: error: {e}");
    }
    Ok(if report.ok() { 0 } else { 1 })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("armor-loader: {e:#}");
            ExitCode::from(1)
        }
    }
}
