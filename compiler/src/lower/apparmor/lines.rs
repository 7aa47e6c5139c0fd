//! One AppArmor rule record -> profile lines (reference §4.5, with our fixes).

use super::rules::{AaRule, Category, Key};
use super::syntax::{escape_literal, quote_path};
use crate::ir::Protocol;
use std::collections::BTreeMap;

/// The qualifier of every line that denies on behalf of a policy rule: `audit` makes the kernel
/// log each denial (`apparmor="DENIED"`), which plain `deny` rules never do (they are quiet).
/// The baseline denies of the post section are no policy's and stay plain `deny`.
const DENY: &str = "audit deny";

/// Sub-profile names by fromSource path.
pub type SubProfiles = BTreeMap<String, String>;

/// The glob text of a path-like key (unquoted).
fn glob(key: &Key) -> Option<String> {
    Some(match key {
        Key::Path(p) => escape_literal(p),
        Key::Dir { dir, recursive } => {
            format!("{}{}", escape_literal(dir), if *recursive { "{,**}" } else { "{,*}" })
        }
        Key::Pattern(p) => p.clone(),
        Key::Execname(n) => format!("/**/{}", escape_literal(n)),
        _ => return None,
    })
}

/// How an allowed exec of `key` runs: into the source's sub-profile when the exact path is a
/// fromSource, else inheriting the current profile. Globs never transition, so AppArmor never
/// sees two overlapping globs with different x modifiers (a parser error).
pub fn exec_mode(key: &Key, subs: &SubProfiles) -> String {
    match key {
        Key::Path(p) => match subs.get(p) {
            Some(name) => format!("px -> {name}"),
            None => "ix".to_string(),
        },
        _ => "ix".to_string(),
    }
}

/// The dispatcher line entering a source's sub-profile.
pub fn dispatch_line(source: &str, sub: &str) -> String {
    format!("{} px -> {sub},", quote_path(&escape_literal(source)))
}

pub fn rule_lines(rule: &AaRule, subs: &SubProfiles) -> Vec<String> {
    match rule.category {
        Category::File => file_lines(rule),
        Category::Process => process_lines(rule, subs),
        Category::Network => network_lines(rule),
        Category::Capability => capability_lines(rule),
    }
}

/// A rule AppArmor cannot express, kept as a comment naming it.
fn not_lowered(r: &AaRule) -> Option<Vec<String>> {
    let verb = if r.deny { "Block" } else { "Allow" };
    match &r.key {
        Key::NotAGlob { pattern, why } => Some(vec![format!("# {verb} pattern {pattern:?} {why}; not lowered")]),
        Key::Nothing => Some(vec![format!("# {verb} process rule with neither path nor execname: nothing to lower")]),
        _ => None,
    }
}

fn file_lines(r: &AaRule) -> Vec<String> {
    if let Some(l) = not_lowered(r) {
        return l;
    }
    let Some(g) = glob(&r.key) else { return vec![] };
    let x = quote_path(&g);
    match (r.deny, r.read_only, r.owner_only) {
        (true, true, true) => vec![format!("{DENY} owner {x} klw,"), format!("{DENY} other {x} klmrw,")],
        (true, false, true) => vec![format!("owner {x} klmrw,"), format!("{DENY} other {x} klmrw,")],
        (true, true, false) => vec![format!("{DENY} {x} klw,")],
        (true, false, false) => vec![format!("{DENY} {x} klmrw,")],
        // Allow+ownerOnly also denies everyone else and Allow+readOnly also denies writes, as
        // the rule says and BPF-LSM enforces (KubeArmor's AppArmor lines leave both to the
        // `file,` header). See docs/semantics.md.
        (false, true, true) => {
            vec![format!("owner {x} klr,"), format!("{DENY} owner {x} w,"), format!("{DENY} other {x} klmrw,")]
        }
        (false, false, true) => vec![format!("owner {x} klmrw,"), format!("{DENY} other {x} klmrw,")],
        (false, true, false) => vec![format!("{x} klr,"), format!("{DENY} {x} w,")],
        (false, false, false) => vec![format!("{x} klmrw,")],
    }
}

fn process_lines(r: &AaRule, subs: &SubProfiles) -> Vec<String> {
    if let Some(l) = not_lowered(r) {
        return l;
    }
    let Some(g) = glob(&r.key) else { return vec![] };
    let x = quote_path(&g);
    let mode = exec_mode(&r.key, subs);
    match (r.deny, r.owner_only) {
        (true, true) => vec![format!("owner {x} {mode},"), format!("{DENY} other {x} x,")],
        (true, false) => vec![format!("{DENY} {x} x,")],
        (false, true) => vec![format!("owner {x} {mode},"), format!("{DENY} other {x} x,")],
        (false, false) => vec![format!("{x} {mode},")],
    }
}

fn network_lines(r: &AaRule) -> Vec<String> {
    let Key::Protocol { name, known } = &r.key else { return vec![] };
    let deny = if r.deny { format!("{DENY} ") } else { String::new() };
    let word = match known {
        // `all`, and strings that are no protocol (lowered like `all`, as BPF-LSM does).
        Some(Protocol::All) | None => return vec![format!("{deny}network,")],
        Some(Protocol::Tcp) => "tcp",
        Some(Protocol::Udp) => "udp",
        Some(Protocol::Icmp) => "icmp",
        Some(Protocol::Raw) => "raw",
        Some(Protocol::Stream) => "stream",
        Some(Protocol::Dgram) => "dgram",
        Some(Protocol::Rdm) => "rdm",
        Some(Protocol::Seqpacket) => "seqpacket",
        Some(Protocol::Packet) => "packet",
        // apparmor_parser 3.0 has no keyword for these; see docs/semantics.md.
        Some(Protocol::Icmpv6 | Protocol::Sctp | Protocol::Dccp) => {
            return vec![format!(
                "# {} network {name:?}: AppArmor network rules cannot name this protocol; not enforced",
                if r.deny { "Block" } else { "Allow" }
            )];
        }
    };
    vec![format!("{deny}network {word},")]
}

fn capability_lines(r: &AaRule) -> Vec<String> {
    let Key::Capability { name, known } = &r.key else { return vec![] };
    if !known {
        return vec![format!("# capability {name:?} is not a Linux capability; not lowered")];
    }
    let deny = if r.deny { format!("{DENY} ") } else { String::new() };
    vec![format!("{deny}capability {name},")]
}
