//! SARIF 2.1.0 output for code-scanning services. URIs are relative to `Options::base_dir` (the
//! git top-level) through the `SRCROOT` base id; columns are Unicode code points.

use super::{code_title, position, severity_word, LintReport, Options};
use crate::codes::Code;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const BASE_ID: &str = "SRCROOT";
/// Longest span whose text is included as `region.snippet`.
pub const SNIPPET_BYTES: usize = 1024;
/// Where the rules come from (KubeArmor's policy specification); to be replaced by armorc's own
/// homepage once it has one.
const INFORMATION_URI: &str = "https://docs.kubearmor.io/kubearmor/specification/security_policy_specification";

pub fn render(report: &LintReport, options: &Options) -> String {
    // One rule per code that occurs, in code order; results point at their rule by index.
    let (shown, hidden) = super::shown(report, options.max_findings);
    let mut rules: BTreeMap<Code, &crate::diag::Diagnostic> = BTreeMap::new();
    for d in &shown {
        rules.entry(d.code).or_insert(d);
    }
    let index: BTreeMap<Code, usize> = rules.keys().enumerate().map(|(i, c)| (*c, i)).collect();
    let rules_json: Vec<Value> = rules
        .iter()
        .map(|(code, first)| {
            let title = code_title(*code);
            json!({
                "id": code.as_str(),
                "name": pascal_case(&title),
                "shortDescription": { "text": title },
                "fullDescription": { "text": title },
                "help": { "text": format!("{title}. Every code is explained with a failing and a passing example in docs/diagnostics.md of armorc.") },
                "defaultConfiguration": { "level": severity_word(first.severity) },
                "properties": { "tags": ["kubearmor", "policy"] },
            })
        })
        .collect();
    let results: Vec<Value> = shown
        .iter()
        .map(|d| {
            let (start, end) = position(d);
            let mut region = json!({
                "startLine": start.line,
                "startColumn": start.column,
                "endLine": end.line,
                "endColumn": end.column,
            });
            // Only short spans carry their text: a snippet per finding must not copy the file.
            if let Some(span) = d.span.filter(|s| s.len() <= SNIPPET_BYTES) {
                if let Some(snippet) = d.file.text.get(span.start..span.end) {
                    region["snippet"] = json!({ "text": snippet });
                }
            }
            let mut message = d.message.clone();
            if let Some(help) = &d.help {
                message.push_str("\nhelp: ");
                message.push_str(help);
            }
            json!({
                "ruleId": d.code.as_str(),
                "ruleIndex": index[&d.code],
                "level": severity_word(d.severity),
                "message": { "text": message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": artifact_location(&d.file.name, options),
                        "region": region,
                    }
                }],
            })
        })
        .collect();
    let mut log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "armorc",
                "informationUri": INFORMATION_URI,
                "version": options.version,
                "semanticVersion": options.version,
                "rules": rules_json,
            }},
            "originalUriBaseIds": { BASE_ID: { "uri": file_uri(&options.base_dir, true) } },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let not_shown: usize = hidden.iter().map(|(_, n)| n).sum();
    if not_shown > 0 {
        // A property bag: findings beyond --max-findings per file are counted, not listed.
        log["runs"][0]["properties"] = json!({ "notShown": not_shown, "maxFindingsPerFile": options.max_findings });
    }
    let mut text = serde_json::to_string_pretty(&log).expect("json values serialize");
    text.push('\n');
    text
}

/// A relative URI under `SRCROOT` when the file lies below the base directory, else an absolute
/// `file:` URI. Paths are normalized lexically (symlinks are not resolved: the link's own path is
/// the one in the repository).
fn artifact_location(name: &str, options: &Options) -> Value {
    if name == "-" {
        return json!({ "uri": "stdin" });
    }
    let absolute = normalize(&options.cwd.join(name));
    let base = normalize(&options.base_dir);
    match absolute.strip_prefix(&base) {
        Ok(relative) => json!({ "uri": encode_path(relative), "uriBaseId": BASE_ID }),
        Err(_) => json!({ "uri": file_uri(&absolute, false) }),
    }
}

/// `duplicate mapping key` -> `DuplicateMappingKey` (SARIF rule friendly names).
fn pascal_case(title: &str) -> String {
    let mut out = String::new();
    for word in
        title.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty() && !matches!(*w, "a" | "an" | "the"))
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            // An acronym (CRD -> Crd) is lowered: a Pascal-case identifier has no two capitals in
            // a row. Camel-case words (fromSource) keep their humps.
            let acronym = !word.bytes().any(|b| b.is_ascii_lowercase());
            out.push(first.to_ascii_uppercase());
            out.extend(chars.map(|c| if acronym { c.to_ascii_lowercase() } else { c }));
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'R');
    }
    out
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn file_uri(path: &Path, directory: bool) -> String {
    let mut uri = format!("file://{}", encode_path(path));
    if directory && !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// Percent-encode a path for a URI (RFC 3986 unreserved characters and `/` stay as they are).
fn encode_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            color: false,
            width: 100,
            base_dir: "/repo".into(),
            cwd: "/repo/sub".into(),
            version: "0".into(),
            max_findings: 100,
        }
    }

    #[test]
    fn uris_are_relative_to_the_base() {
        let o = options();
        assert_eq!(artifact_location("a b.yaml", &o), json!({"uri": "sub/a%20b.yaml", "uriBaseId": "SRCROOT"}));
        assert_eq!(artifact_location("../x/./y.yml", &o), json!({"uri": "x/y.yml", "uriBaseId": "SRCROOT"}));
        assert_eq!(artifact_location("/etc/p.yaml", &o), json!({"uri": "file:///etc/p.yaml"}));
        assert_eq!(file_uri(Path::new("/repo"), true), "file:///repo/");
        assert_eq!(pascal_case("fromSource item without a path"), "FromSourceItemWithoutPath");
        assert_eq!(pascal_case("value does not match the CRD pattern"), "ValueDoesNotMatchCrdPattern");
        assert_eq!(pascal_case("Allow under a Block directory: BPF-LSM"), "AllowUnderBlockDirectoryBpfLsm");
    }
}
