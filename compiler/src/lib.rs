//! armorc's compiler: YAML -> AST (spans) -> diagnostics -> IR -> lowerings.
//! See docs/architecture.md for how the modules fit together.

pub mod ast;
pub mod check;
pub mod codes;
pub mod compose;
pub mod diag;
pub mod divergence;
mod frontend;
pub mod image;
pub mod image_paths;
pub mod inputs;
pub mod ir;
pub mod landlock;
pub mod lints;
pub mod lower;
pub mod model;
pub mod normalize;
pub mod outputs;
pub mod query;
pub mod render;
pub mod source;
pub mod suppress;
pub mod workload;
pub mod yaml;

use std::sync::Arc;

/// The result of checking one source (every document in it).
#[derive(Debug, Default)]
pub struct Checked {
    /// Every finding, in source order (errors and warnings; suppression is applied by the caller).
    pub diagnostics: Vec<diag::Diagnostic>,
    /// Normalized policies of the KubeArmor documents that have no error.
    pub policies: Vec<ir::Policy>,
    /// Number of KubeArmor documents (KubeArmorPolicy, KubeArmorHostPolicy, KubeArmorClusterPolicy).
    pub documents: usize,
    /// Documents of other kinds, without kind, or KubeArmorNetworkPolicy (not checked yet).
    pub skipped: usize,
    /// Human notes such as "skipped: not YAML and no KubeArmor marker (Helm template?)".
    pub notes: Vec<String>,
}

/// Parse, validate and normalize one source file (a multi-document stream), one document at a time.
pub fn check_source(file: Arc<source::SourceFile>) -> Checked {
    frontend::check_source(file, true)
}

/// `check_source` without normalization: the same findings and counts, `policies` left empty.
/// For `armorc lint`, so memory stays bounded by the largest document even for huge streams.
pub fn lint_source(file: Arc<source::SourceFile>) -> Checked {
    frontend::check_source(file, false)
}
