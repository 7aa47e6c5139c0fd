//! pest grammars embedded in YAML strings: container selector lists (`[a, b]`), path globs,
//! and template preconditions. Callers turn pest positions into absolute spans.
pub mod precondition;
pub mod selector;
