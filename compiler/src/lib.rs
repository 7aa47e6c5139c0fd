//! armorc's compiler: YAML -> AST (spans) -> diagnostics -> IR -> lowerings.
//! See docs/architecture.md for how the modules fit together.

pub mod codes;
pub mod compose;
pub mod diag;
pub mod image;
pub mod ir;
pub mod source;
