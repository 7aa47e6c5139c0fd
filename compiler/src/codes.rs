//! Stable diagnostic codes. Every code is listed in docs/diagnostics.md with a failing and a
//! passing example. Families: Y = YAML, S = schema (what the API server enforces),
//! L = semantic lints, C = composition, A = AppArmor.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Code {
    /// Not valid YAML.
    Y001,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Y001 => "Y001",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
