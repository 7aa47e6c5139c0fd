//! The report as pretty JSON (shape: docs/observe.md, "JSON").

use super::Report;
use std::io::{self, Write};

pub fn render(r: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, r).map_err(io::Error::other)?;
    out.write_all(b"\n")
}
