//! The one diagnostic shape every stage produces. Kinds are identified by a stable `Code`
//! (see `codes.rs` and docs/diagnostics.md); renderers live in `render/`.

use crate::codes::Code;
use crate::source::{SourceFile, Span};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The Kubernetes API server would reject the document, or it is not valid YAML.
    Error,
    /// Accepted by the API server but suspicious, ineffective, or enforced differently than written.
    Warning,
}

#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub file: Arc<SourceFile>,
    /// `None` = file-level finding, reported at 1:1.
    pub span: Option<Span>,
    /// Text of the label under the underlined span.
    pub label: Option<String>,
    pub help: Option<String>,
    /// Further labelled spans in the same file (e.g. the other rule of a conflict).
    pub related: Vec<(Span, String)>,
}
