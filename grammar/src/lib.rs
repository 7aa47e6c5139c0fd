//! pest grammars for strings embedded in YAML: container selector lists (`[a, b]`, `selector`)
//! and template preconditions (`precondition`). Callers turn pest positions into absolute spans.
pub mod precondition;
pub mod selector;
