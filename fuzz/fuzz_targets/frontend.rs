//! The YAML front-end as `armorc lint`/`compile` run it: bytes -> `SourceFile` (invalid UTF-8 ->
//! Y003) -> `check_source` and `lint_source` -> suppressions -> every renderer (human, json,
//! sarif, github). Oracles: no panic; spans inside the text on char boundaries; lint_source finds
//! what check_source finds; json and sarif output is JSON.
#![no_main]

use armorc_compiler::codes::Code;
use armorc_compiler::inputs;
use armorc_compiler::render::{self, Format, Options, LintReport};
use armorc_compiler::suppress::{self, Config, Suppressions};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

fn options(max_findings: usize, width: usize) -> Options {
    Options {
        color: false,
        width,
        base_dir: PathBuf::from("/repo"),
        cwd: PathBuf::from("/repo/sub"),
        version: "0.0.0-fuzz".into(),
        max_findings,
    }
}

fuzz_target!(|data: &[u8]| {
    let loaded = inputs::from_bytes("dir/policy.yaml", data.to_vec());
    let text = loaded.source.text.clone();
    let mut report = LintReport { files: 1, ..LintReport::default() };
    match loaded.not_utf8 {
        Some(d) => report.diagnostics.push(d),
        None => {
            let checked = armorc_compiler::check_source(loaded.source.clone());
            let linted = armorc_compiler::lint_source(loaded.source.clone());
            assert_eq!(checked.diagnostics.len(), linted.diagnostics.len(), "lint_source differs from check_source");
            assert!(linted.policies.is_empty());
            report.documents = checked.documents;
            report.skipped = checked.skipped;
            report.diagnostics = checked.diagnostics;
        }
    }
    for d in &report.diagnostics {
        let spans = d.span.iter().copied().chain(d.related.iter().map(|(s, _)| *s));
        for s in spans {
            assert!(s.start <= s.end && s.end <= text.len(), "{:?} span {s:?} outside {} bytes", d.code, text.len());
            assert!(
                text.is_char_boundary(s.start) && text.is_char_boundary(s.end),
                "{:?} span {s:?} splits a char",
                d.code
            );
        }
    }
    let (comments, _bad) = Suppressions::parse(&text, |c| Code::parse(c).is_some());
    report.suppressed = suppress::apply(&mut report.diagnostics, &comments, &Config::default());

    // Narrow terminals and "print every finding" too (the input's length picks, so corpus entries
    // keep their meaning).
    let (max, width) = match data.len() % 3 {
        0 => (render::MAX_FINDINGS_PER_FILE, 100),
        1 => (0, 40),
        _ => (3, 20),
    };
    let opts = options(max, width);
    for format in [Format::Human, Format::Json, Format::Sarif, Format::Github] {
        let out = render::render(format, &report, &opts);
        if matches!(format, Format::Json | Format::Sarif) {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&out) {
                panic!("{format:?} output is not JSON: {e}");
            }
        }
    }
    let _ = render::human::summary(&report);
});
