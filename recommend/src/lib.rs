//! `armorc recommend`: image sources, layer index, template library, matching, rendering, reports.

pub mod index;
pub use index::{EntryKind, FileIndex, IndexError, Limits, OsRelease};
pub mod image;
pub use image::{load_image, ImageLoadError, LoadOptions, LoadedImage};
// H6: template library, matching, rendering, reports, orchestration
pub mod armortest;
pub mod matching;
pub mod readcap;
pub mod render;
pub mod report;
pub mod run;
pub mod templates;
pub mod workload;
