//! `armorc recommend`: image sources, layer index, template library, matching, rendering, reports.

pub mod index;
pub use index::{EntryKind, FileIndex, IndexError, Limits, OsRelease};
