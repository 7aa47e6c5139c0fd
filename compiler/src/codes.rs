//! Stable diagnostic codes. Every code is listed in docs/diagnostics.md with a failing and a
//! passing example. Families: Y = YAML, S = schema (what the API server enforces),
//! L = semantic lints, C = composition, A = AppArmor.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Code {
    /// Not valid YAML.
    Y001,
    /// a policy selects no container (or host).
    C001,
    /// a target's map image is over capacity.
    C002,
    /// an Allow of one policy under a Block directory of another: BPF-LSM and AppArmor decide differently.
    C003,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Y001 => "Y001",
            Code::C001 => "C001",
            Code::C002 => "C002",
            Code::C003 => "C003",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
