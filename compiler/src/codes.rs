//! Stable diagnostic codes. Every code is listed in docs/diagnostics.md with a failing and a
//! passing example. Families: Y = YAML, S = schema (what the API server enforces),
//! L = semantic lints, C = composition, D = divergence between the enforcers, K = Landlock,
//! I = paths against container images (`armorc lint --image`).
//!
//! The table at the bottom is the one place a code is declared: `codes!` turns each row
//! `(CODE, Severity, "title")` into the `Code` variant (named by its code, so the variant, its
//! `as_str`, its serde name and its `Display` are the same text), its default severity, its title
//! and its place in `Code::ALL` (documentation order). Add a code by adding a row.

use crate::diag::Severity;
use serde::Serialize;

/// Expands the code table (one row per code) into `Code`, `as_str`, `default_severity`, `title`
/// and `ALL`.
macro_rules! codes {
    ($(($code:ident, $severity:ident, $title:literal),)+) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        pub enum Code {
            $(
                #[doc = concat!($title, ".")]
                $code,
            )+
        }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[$(Code::$code,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$code => stringify!($code),)+
                }
            }

            /// The severity a finding of this code has (error = the API server would reject it).
            pub fn default_severity(self) -> Severity {
                match self {
                    $(Code::$code => Severity::$severity,)+
                }
            }

            /// One line saying what the code is about (docs/diagnostics.md has examples).
            pub fn title(self) -> &'static str {
                match self {
                    $(Code::$code => $title,)+
                }
            }
        }
    };
}

codes! {
    // YAML
    (Y001, Error, "not valid YAML"),
    (Y002, Error, "duplicate mapping key"),
    (Y003, Error, "file is not valid UTF-8"),
    (Y004, Error, "document larger than 1.5 MiB"),
    (Y005, Error, "nesting too deep"),
    (Y006, Error, "alias expansion too large or unknown anchor"),
    (Y007, Error, "mapping key is not a scalar"),
    // Schema (what the API server enforces) and object metadata
    (S001, Error, "unknown field"),
    (S002, Error, "wrong type"),
    (S003, Error, "required field missing"),
    (S004, Error, "value not in the allowed set"),
    (S005, Error, "value does not match the CRD pattern"),
    (S006, Error, "number out of range"),
    (S007, Error, "path longer than 200 characters"),
    (S008, Error, "too many items"),
    (S101, Error, "missing or wrong apiVersion"),
    (S102, Error, "unknown security.kubearmor.com kind"),
    (S103, Error, "metadata.name missing or not a DNS-1123 subdomain"),
    (S104, Warning, "metadata.namespace on a cluster-scoped kind"),
    (S105, Error, "invalid metadata field"),
    // Semantic lints
    (L001, Warning, "protocol passes the CRD pattern but is not a protocol"),
    (L002, Warning, "capability passes the CRD pattern but is not a capability name"),
    (L003, Warning, "container.name selector without brackets or with empty items"),
    (L004, Warning, "execname with fromSource is never matched by BPF-LSM"),
    (L005, Warning, "path longer than 199 bytes never matches"),
    (L006, Warning, "flag has no effect here"),
    (L007, Warning, "matchPatterns are ignored by BPF-LSM"),
    (L008, Warning, "duplicate rule"),
    (L009, Warning, "conflicting rules for the same target"),
    (L010, Warning, "policy has no rules"),
    (L011, Warning, "Allow under a Block directory: BPF-LSM and AppArmor decide differently"),
    (L012, Warning, "process.matchPaths item with neither path nor execname"),
    (L013, Warning, "fromSource item without a path"),
    (L014, Warning, "comma list that KubeArmor does not expand"),
    (L015, Warning, "execname with allowedArgs never matches"),
    (L016, Warning, "one-letter name collides with a BPF-LSM posture key"),
    (L017, Warning, "host capability rules are not enforced by BPF-LSM"),
    (L018, Warning, "NotIn after In is ignored"),
    (L019, Warning, "native apparmor rules hide the policy's other rules from alerts"),
    (L020, Warning, "DNS domain is matched case-sensitively or has dots KubeArmor trims"),
    (L021, Warning, "protocol all drops pts"),
    (L022, Warning, "syscall rules are monitor-only"),
    (L023, Warning, "unknown preset name"),
    (L024, Warning, "unknown field with a null value, dropped by the API server"),
    // Composition (armorc compile)
    (C001, Warning, "policy selects no container"),
    (C002, Error, "map image over capacity"),
    (C003, Warning, "Allow under another policy's Block directory: BPF-LSM and AppArmor decide differently"),
    // Divergence between the enforcers (armorc compile --target all)
    (D001, Warning, "BPF-LSM and AppArmor decide a rule differently"),
    (D002, Warning, "exec also opens the binary: BPF-LSM checks the open, AppArmor only the exec"),
    (D003, Warning, "readOnly Block: BPF-LSM allows the read, AppArmor may deny it"),
    (D004, Warning, "rule under a Block: BPF-LSM applies the first match and allows, AppArmor denies"),
    (D005, Warning, "non-recursive directory under a recursive one is dead in BPF-LSM"),
    (D006, Warning, "fromSource rule binds in AppArmor only after an exec inside the profile"),
    (D007, Warning, "readOnly/ownerOnly do not cover unlink, rename, chmod, truncate in BPF-LSM"),
    (D008, Warning, "AppArmor names directories with a trailing slash: path rule misses mkdir/rmdir"),
    (D009, Warning, "pts-limited Block: AppArmor cannot see terminals"),
    (D010, Warning, "BPF-LSM and Landlock decide an operation differently"),
    // Landlock (armorc compile --target landlock or all): what a plan cannot express
    (K001, Warning, "rule without a fixed path: not enforced by Landlock"),
    (K002, Warning, "rule condition Landlock cannot see: not enforced by Landlock"),
    (K003, Warning, "network rule: not enforced by Landlock"),
    (K004, Warning, "Landlock Block also covers files created later on the way to the path"),
    (K005, Warning, "container without `command`: its Landlock plan cannot be applied in the pod"),
    // Images (armorc lint --image): the policy's paths against the files of the images
    (I001, Warning, "path goes through a symlink in the image: the kernel sees the resolved path"),
    (I002, Warning, "path exists in no given image"),
    (I003, Error, "matchPaths or fromSource path is a directory in the image"),
    (I004, Error, "matchDirectories entry is not a directory in the image"),
    (I005, Warning, "execname matches no executable in the image"),
}

impl Code {
    /// True for codes that mirror the CRD's JSON-schema checks (patterns, enums, types, required,
    /// unknown fields, ranges, lengths); the CRD differential test compares exactly these.
    pub fn is_schema_level(self) -> bool {
        matches!(
            self,
            Code::S001 | Code::S002 | Code::S003 | Code::S004 | Code::S005 | Code::S006 | Code::S007 | Code::S008
        )
    }

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
