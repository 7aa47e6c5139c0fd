//! Front-end throughput against its floor, in one run: `saphyr-parser` producing the event
//! stream alone (no tree, no checks) vs `lint_source` and `check_source` over the same files.
//! Usage: cargo run --release -p armorc-compiler --example frontend_bench [DIR] [ROUNDS]
//! (default DIR ../shared/corpus/policy-templates, KubeArmorPolicy files only; see BENCHMARKS.md).

use armorc_compiler::source::SourceFile;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let Ok(ty) = e.file_type() else { continue };
        if ty.is_dir() {
            yaml_files(&p, out);
        } else if ty.is_file() && matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus/policy-templates").to_string());
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(50);
    let mut paths = Vec::new();
    yaml_files(Path::new(&dir), &mut paths);
    let files: Vec<(String, String)> = paths
        .iter()
        .filter_map(|p| Some((p.display().to_string(), std::fs::read_to_string(p).ok()?)))
        .filter(|(_, t)| t.lines().any(|l| l.trim_end() == "kind: KubeArmorPolicy"))
        .collect();
    let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
    let (mut floor, mut lint, mut check) = (Vec::new(), Vec::new(), Vec::new());
    let mut sink = 0usize;
    for _ in 0..rounds {
        let t = Instant::now();
        for (_, text) in &files {
            let mut p = saphyr_parser::Parser::new_from_str(text);
            while let Some(Ok(_)) = p.next_event() {
                sink += 1;
            }
        }
        floor.push(t.elapsed());
        let t = Instant::now();
        for (name, text) in &files {
            sink += armorc_compiler::lint_source(SourceFile::new(name.as_str(), text.as_str())).diagnostics.len();
        }
        lint.push(t.elapsed());
        let t = Instant::now();
        for (name, text) in &files {
            sink += armorc_compiler::check_source(SourceFile::new(name.as_str(), text.as_str())).policies.len();
        }
        check.push(t.elapsed());
    }
    let (f, l, c) = (median(floor), median(lint), median(check));
    println!(
        "{} KubeArmorPolicy files, {:.1} KiB, {rounds} rounds (median), checksum {sink}",
        files.len(),
        bytes as f64 / 1024.0
    );
    println!("saphyr-parser events only : {:>8.2} ms", f.as_secs_f64() * 1e3);
    println!(
        "lint_source               : {:>8.2} ms  ({:.2}x the floor)",
        l.as_secs_f64() * 1e3,
        l.as_secs_f64() / f.as_secs_f64()
    );
    println!(
        "check_source (with IR)    : {:>8.2} ms  ({:.2}x the floor)",
        c.as_secs_f64() * 1e3,
        c.as_secs_f64() / f.as_secs_f64()
    );
}
