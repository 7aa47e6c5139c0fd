//! Benchmark driver (benches/apparmor.sh): lower the whole policy-template corpus to AppArmor
//! profiles (front-end, composition against generated workloads, lowering) and write each profile
//! and its source map into OUT. Usage: aa_corpus_gen OUT

#[path = "../tests/aa_corpus/mod.rs"]
mod aa_corpus;

use std::io::Write;

fn main() {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: aa_corpus_gen OUT");
        std::process::exit(2);
    };
    let out = std::path::PathBuf::from(out);
    let dir = aa_corpus::corpus_dir();
    if !dir.exists() {
        eprintln!("error: corpus not found at {}", dir.display());
        std::process::exit(2);
    }
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("error: {}: {e}", out.display());
        std::process::exit(2);
    }
    let (mut written, mut policies) = (0, 0);
    for file in aa_corpus::yaml_files(&dir) {
        let run = aa_corpus::run_file(&file);
        policies += run.policies;
        if std::env::var_os("AA_VERBOSE").is_some() {
            eprintln!("{}: {} policies, {} profiles", file.display(), run.policies, run.profiles.len());
        }
        for p in run.profiles {
            // Profiles of different corpus files share names (generated workloads), so each file
            // is numbered.
            let stem = format!("{written:04}-{}", p.file_name);
            for (name, text) in [(stem.clone(), &p.text), (format!("{stem}.map.json"), &p.map_json)] {
                let path = out.join(name);
                let result = std::fs::File::create(&path).and_then(|mut f| f.write_all(text.as_bytes()));
                if let Err(e) = result {
                    eprintln!("error: {}: {e}", path.display());
                    std::process::exit(2);
                }
            }
            written += 1;
        }
    }
    eprintln!("{written} profiles ({policies} lint-clean policies)");
}
