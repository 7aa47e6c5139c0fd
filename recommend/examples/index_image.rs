//! Loads one image into a file index and prints a summary (used by benches/recommend.sh).
//!
//! usage: index_image [--plain-http HOST]... [--platform os/arch[/variant]] [--list] SPEC
//! Prints `entries=N digest=D platform=P os=ID:VERSION peak_rss_kb=K`; exit 1 on error.

use armorc_recommend::image::{load_image, LoadOptions};

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut opts = LoadOptions::default();
    let mut spec = None;
    let mut list = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--plain-http" => opts.plain_http.push(args.next().unwrap_or_default()),
            "--platform" => opts.platform = args.next(),
            "--list" => list = true,
            _ if spec.is_none() && !arg.starts_with("--") => spec = Some(arg),
            _ => {
                eprintln!("usage: index_image [--plain-http HOST]... [--platform P] [--list] SPEC");
                std::process::exit(2);
            }
        }
    }
    let Some(spec) = spec else {
        eprintln!("usage: index_image [--plain-http HOST]... [--platform P] [--list] SPEC");
        std::process::exit(2);
    };
    match load_image(&spec, &opts) {
        Ok(img) => {
            if list {
                for path in img.index.paths() {
                    println!("{path}");
                }
            }
            let os =
                img.os_release.as_ref().map(|o| format!("{}:{}", o.id, o.version_id)).unwrap_or_else(|| "-".into());
            println!(
                "entries={} digest={} platform={} os={os} peak_rss_kb={}",
                img.index.len(),
                img.digest,
                img.platform,
                peak_rss_kb()
            );
        }
        Err(e) => {
            eprintln!("error: {spec}: {e}");
            std::process::exit(1);
        }
    }
}
