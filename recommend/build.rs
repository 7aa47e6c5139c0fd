//! Embeds the template library (`../templates`) into the crate: every file becomes
//! `(relative path, include_str!(absolute path))` in `$OUT_DIR/builtin_templates.rs`; test files
//! (`*.armortest.yaml`) are left out.

use std::path::{Path, PathBuf};

/// `*.armortest.yaml` beside a template is its `armorc test` file, not part of the library (as
/// `templates::is_test_file` decides for libraries read from a directory).
fn is_test_file(p: &Path) -> bool {
    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".armortest.yaml"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "hbs") && !is_test_file(&p) {
            out.push(p);
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    walk(&root, &mut files);
    // An empty built-in library would only show later, as `recommend` finding no templates.
    assert!(!files.is_empty(), "no template files under {} (unreadable or missing)", root.display());
    let mut code = String::from("pub static BUILTIN: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f.strip_prefix(&root).expect("under root").to_string_lossy().replace('\\', "/");
        let abs = f.canonicalize().expect("canonical path");
        code.push_str(&format!("    ({rel:?}, include_str!({:?})),\n", abs.display().to_string()));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("builtin_templates.rs");
    std::fs::write(out, code).expect("write builtin_templates.rs");
}
