//! Stable diagnostic codes. Every code is listed in docs/diagnostics.md with a failing and a
//! passing example. Families: Y = YAML, S = schema (what the API server enforces),
//! L = semantic lints, C = composition, A = AppArmor.

use crate::diag::Severity;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Code {
    /// Not valid YAML.
    Y001,
    /// duplicate mapping key.
    Y002,
    /// file is not valid UTF-8.
    Y003,
    /// document larger than 1.5 MiB.
    Y004,
    /// nesting too deep.
    Y005,
    /// alias expansion too large or unknown anchor.
    Y006,
    /// mapping key is not a scalar.
    Y007,
    /// unknown field.
    S001,
    /// wrong type.
    S002,
    /// required field missing.
    S003,
    /// value not in the allowed set.
    S004,
    /// value does not match the CRD pattern.
    S005,
    /// number out of range.
    S006,
    /// path longer than 200 characters.
    S007,
    /// too many items.
    S008,
    /// missing or wrong apiVersion.
    S101,
    /// unknown security.kubearmor.com kind.
    S102,
    /// metadata.name missing or not a DNS-1123 subdomain.
    S103,
    /// metadata.namespace on a cluster-scoped kind.
    S104,
    /// invalid metadata field.
    S105,
    /// protocol passes the CRD pattern but is not a protocol.
    L001,
    /// capability passes the CRD pattern but is not a capability name.
    L002,
    /// container.name selector without brackets or with empty items.
    L003,
    /// execname with fromSource is never matched by BPF-LSM.
    L004,
    /// path longer than 199 bytes never matches.
    L005,
    /// flag has no effect here.
    L006,
    /// matchPatterns are ignored by BPF-LSM.
    L007,
    /// duplicate rule.
    L008,
    /// conflicting rules for the same target.
    L009,
    /// policy has no rules.
    L010,
    /// Allow under a Block directory: BPF-LSM and AppArmor decide differently.
    L011,
    /// process.matchPaths item with neither path nor execname.
    L012,
    /// fromSource item without a path.
    L013,
    /// comma list that KubeArmor does not expand.
    L014,
    /// execname with allowedArgs never matches.
    L015,
    /// one-letter name collides with a BPF-LSM posture key.
    L016,
    /// host capability rules are not enforced by BPF-LSM.
    L017,
    /// NotIn after In is ignored.
    L018,
    /// native apparmor rules hide the policy's other rules from alerts.
    L019,
    /// DNS domain is matched case-sensitively or has dots KubeArmor trims.
    L020,
    /// protocol all drops pts.
    L021,
    /// syscall rules are monitor-only.
    L022,
    /// unknown preset name.
    L023,
    /// unknown field with a null value (pruned by the API server).
    L024,
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
            Code::Y002 => "Y002",
            Code::Y003 => "Y003",
            Code::Y004 => "Y004",
            Code::Y005 => "Y005",
            Code::Y006 => "Y006",
            Code::Y007 => "Y007",
            Code::S001 => "S001",
            Code::S002 => "S002",
            Code::S003 => "S003",
            Code::S004 => "S004",
            Code::S005 => "S005",
            Code::S006 => "S006",
            Code::S007 => "S007",
            Code::S008 => "S008",
            Code::S101 => "S101",
            Code::S102 => "S102",
            Code::S103 => "S103",
            Code::S104 => "S104",
            Code::S105 => "S105",
            Code::L001 => "L001",
            Code::L002 => "L002",
            Code::L003 => "L003",
            Code::L004 => "L004",
            Code::L005 => "L005",
            Code::L006 => "L006",
            Code::L007 => "L007",
            Code::L008 => "L008",
            Code::L009 => "L009",
            Code::L010 => "L010",
            Code::L011 => "L011",
            Code::L012 => "L012",
            Code::L013 => "L013",
            Code::L014 => "L014",
            Code::L015 => "L015",
            Code::L016 => "L016",
            Code::L017 => "L017",
            Code::L018 => "L018",
            Code::L019 => "L019",
            Code::L020 => "L020",
            Code::L021 => "L021",
            Code::L022 => "L022",
            Code::L023 => "L023",
            Code::L024 => "L024",
            Code::C001 => "C001",
            Code::C002 => "C002",
            Code::C003 => "C003",
        }
    }
}

// Front-end codes (Y, S, L): default severity, title and CRD mirroring. Other families add
// their arms here too.
impl Code {
    /// The severity a finding of this code has (error = the API server would reject it).
    pub fn default_severity(self) -> Severity {
        match self {
            Code::Y001 => Severity::Error,
            Code::Y002 => Severity::Error,
            Code::Y003 => Severity::Error,
            Code::Y004 => Severity::Error,
            Code::Y005 => Severity::Error,
            Code::Y006 => Severity::Error,
            Code::Y007 => Severity::Error,
            Code::S001 => Severity::Error,
            Code::S002 => Severity::Error,
            Code::S003 => Severity::Error,
            Code::S004 => Severity::Error,
            Code::S005 => Severity::Error,
            Code::S006 => Severity::Error,
            Code::S007 => Severity::Error,
            Code::S008 => Severity::Error,
            Code::S101 => Severity::Error,
            Code::S102 => Severity::Error,
            Code::S103 => Severity::Error,
            Code::S104 => Severity::Warning,
            Code::S105 => Severity::Error,
            Code::L001 => Severity::Warning,
            Code::L002 => Severity::Warning,
            Code::L003 => Severity::Warning,
            Code::L004 => Severity::Warning,
            Code::L005 => Severity::Warning,
            Code::L006 => Severity::Warning,
            Code::L007 => Severity::Warning,
            Code::L008 => Severity::Warning,
            Code::L009 => Severity::Warning,
            Code::L010 => Severity::Warning,
            Code::L011 => Severity::Warning,
            Code::L012 => Severity::Warning,
            Code::L013 => Severity::Warning,
            Code::L014 => Severity::Warning,
            Code::L015 => Severity::Warning,
            Code::L016 => Severity::Warning,
            Code::L017 => Severity::Warning,
            Code::L018 => Severity::Warning,
            Code::L019 => Severity::Warning,
            Code::L020 => Severity::Warning,
            Code::L021 => Severity::Warning,
            Code::L022 => Severity::Warning,
            Code::L023 => Severity::Warning,
            Code::L024 => Severity::Warning,
            Code::C001 => Severity::Warning,
            Code::C002 => Severity::Error,
            Code::C003 => Severity::Warning,
        }
    }

    /// One line saying what the code is about (docs/diagnostics.md has examples).
    pub fn title(self) -> &'static str {
        match self {
            Code::Y001 => "not valid YAML",
            Code::Y002 => "duplicate mapping key",
            Code::Y003 => "file is not valid UTF-8",
            Code::Y004 => "document larger than 1.5 MiB",
            Code::Y005 => "nesting too deep",
            Code::Y006 => "alias expansion too large or unknown anchor",
            Code::Y007 => "mapping key is not a scalar",
            Code::S001 => "unknown field",
            Code::S002 => "wrong type",
            Code::S003 => "required field missing",
            Code::S004 => "value not in the allowed set",
            Code::S005 => "value does not match the CRD pattern",
            Code::S006 => "number out of range",
            Code::S007 => "path longer than 200 characters",
            Code::S008 => "too many items",
            Code::S101 => "missing or wrong apiVersion",
            Code::S102 => "unknown security.kubearmor.com kind",
            Code::S103 => "metadata.name missing or not a DNS-1123 subdomain",
            Code::S104 => "metadata.namespace on a cluster-scoped kind",
            Code::S105 => "invalid metadata field",
            Code::L001 => "protocol passes the CRD pattern but is not a protocol",
            Code::L002 => "capability passes the CRD pattern but is not a capability name",
            Code::L003 => "container.name selector without brackets or with empty items",
            Code::L004 => "execname with fromSource is never matched by BPF-LSM",
            Code::L005 => "path longer than 199 bytes never matches",
            Code::L006 => "flag has no effect here",
            Code::L007 => "matchPatterns are ignored by BPF-LSM",
            Code::L008 => "duplicate rule",
            Code::L009 => "conflicting rules for the same target",
            Code::L010 => "policy has no rules",
            Code::L011 => "Allow under a Block directory: BPF-LSM and AppArmor decide differently",
            Code::L012 => "process.matchPaths item with neither path nor execname",
            Code::L013 => "fromSource item without a path",
            Code::L014 => "comma list that KubeArmor does not expand",
            Code::L015 => "execname with allowedArgs never matches",
            Code::L016 => "one-letter name collides with a BPF-LSM posture key",
            Code::L017 => "host capability rules are not enforced by BPF-LSM",
            Code::L018 => "NotIn after In is ignored",
            Code::L019 => "native apparmor rules hide the policy's other rules from alerts",
            Code::L020 => "DNS domain is matched case-sensitively or has dots KubeArmor trims",
            Code::L021 => "protocol all drops pts",
            Code::L022 => "syscall rules are monitor-only",
            Code::L023 => "unknown preset name",
            Code::L024 => "unknown field with a null value, dropped by the API server",
            Code::C001 => "policy selects no container",
            Code::C002 => "map image over capacity",
            Code::C003 => "Allow under another policy's Block directory: BPF-LSM and AppArmor decide differently",
        }
    }

    /// True for codes that mirror the CRD's JSON-schema checks (patterns, enums, types, required,
    /// unknown fields, ranges, lengths); the CRD differential test compares exactly these.
    pub fn is_schema_level(self) -> bool {
        matches!(
            self,
            Code::S001 | Code::S002 | Code::S003 | Code::S004 | Code::S005 | Code::S006 | Code::S007 | Code::S008
        )
    }
}

impl Code {
    /// Every code, in documentation order.
    pub const ALL: &'static [Code] = &[
        Code::Y001,
        Code::Y002,
        Code::Y003,
        Code::Y004,
        Code::Y005,
        Code::Y006,
        Code::Y007,
        Code::S001,
        Code::S002,
        Code::S003,
        Code::S004,
        Code::S005,
        Code::S006,
        Code::S007,
        Code::S008,
        Code::S101,
        Code::S102,
        Code::S103,
        Code::S104,
        Code::S105,
        Code::L001,
        Code::L002,
        Code::L003,
        Code::L004,
        Code::L005,
        Code::L006,
        Code::L007,
        Code::L008,
        Code::L009,
        Code::L010,
        Code::L011,
        Code::L012,
        Code::L013,
        Code::L014,
        Code::L015,
        Code::L016,
        Code::L017,
        Code::L018,
        Code::L019,
        Code::L020,
        Code::L021,
        Code::L022,
        Code::L023,
        Code::L024,
        Code::C001,
        Code::C002,
        Code::C003,
    ];

    /// The code spelled `text` (as in suppression comments and armorc.toml), if there is one.
    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn all_lists_every_code_once_and_parse_round_trips() {
        let mut seen = std::collections::HashSet::new();
        for &c in Code::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert_eq!(Code::parse(c.as_str()), Some(c));
        }
        assert_eq!(Code::parse("S999"), None);
        assert_eq!(Code::parse("s101"), None);
    }
}
