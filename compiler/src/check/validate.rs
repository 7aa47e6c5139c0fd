//! Schema validation of a document's `spec` (and `status`) against the CRD table in `schema.rs`:
//! types, required fields, enums, patterns, ranges, lengths and unknown fields, all findings in
//! one pass. `null` values of object fields are absent (the API server prunes them).

use super::patterns;
use super::schema::{Object, Text, Ty};
use super::suggest;
use super::DiagnosticSink;
use crate::codes::Code;
use crate::yaml::{Node, Value};

/// A field path such as `spec.process.matchPaths[0].path`, built only when a finding needs it.
pub enum Path<'a> {
    Root(&'static str),
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

pub fn check_object(sink: &mut DiagnosticSink, node: &Node, obj: &Object, path: &Path) {
    let Some(entries) = node.as_map() else {
        type_error(sink, node, "object", path);
        return;
    };
    for entry in entries {
        let field_path = Path::Field(path, &entry.key);
        let Some(field) = obj.field(&entry.key) else {
            let names: Vec<&str> = obj.names().collect();
            if entry.value.is_null() {
                // The API server prunes nulls before it looks for unknown fields.
                pruned_unknown_field(sink, entry.key_span, &entry.key, &names, path);
            } else {
                unknown_field(sink, entry.key_span, &entry.key, &names, path);
            }
            continue;
        };
        if entry.value.is_null() {
            continue;
        }
        check_value(sink, &entry.value, &field.ty, &field_path);
    }
    for field in obj.fields.iter().filter(|f| f.required) {
        if node.get(field.name).is_none() {
            let d = sink.report(
                Code::S003,
                Some(node_head(node)),
                format!("`{path}` is missing the required field `{}`", field.name),
            );
            d.label = Some(format!("`{}` required here", field.name));
            d.help = Some(required_help(field.name));
        }
    }
}

fn required_help(field: &str) -> String {
    match field {
        "fromSource" => "host policies need `fromSource` on matchProtocols and matchCapabilities items".into(),
        "nodeSelector" => {
            "a KubeArmorHostPolicy must say which nodes it applies to: add `nodeSelector: {matchLabels: ...}`".into()
        }
        _ => format!("add `{field}:`"),
    }
}

pub fn unknown_field(sink: &mut DiagnosticSink, key_span: crate::source::Span, key: &str, names: &[&str], path: &Path) {
    let help = match suggest::closest(key, names.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None if names.contains(&"matchLabels") => {
            format!(
                "labels go under `matchLabels` (`{path}.matchLabels.{key}`); known fields: {}",
                list(names.iter().copied())
            )
        }
        None => format!("known fields: {}", list(names.iter().copied())),
    };
    let d = sink.report(Code::S001, Some(key_span), format!("unknown field `{key}` in `{path}`"));
    d.label = Some("unknown field".into());
    d.help = Some(help);
}

/// An unknown field whose value is null: pruned by the API server, so only suspicious.
pub fn pruned_unknown_field(
    sink: &mut DiagnosticSink,
    key_span: crate::source::Span,
    key: &str,
    names: &[&str],
    path: &Path,
) {
    let d = sink.report(
        Code::L024,
        Some(key_span),
        format!("unknown field `{key}` in `{path}` has no value and is dropped"),
    );
    d.label = Some("unknown field, null value".into());
    d.help = Some(match suggest::closest(key, names.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? the items below may belong under it (check the indentation)"),
        None => "remove it, or indent the fields that belong under it".into(),
    });
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

fn check_value(sink: &mut DiagnosticSink, node: &Node, ty: &Ty, path: &Path) {
    match ty {
        Ty::Object(obj) => check_object(sink, node, obj, path),
        Ty::Bool => {
            if !matches!(node.value, Value::Bool(_)) {
                type_error(sink, node, "boolean", path);
            }
        }
        Ty::Int { min, max } => {
            let Some(v) = integer(node) else {
                type_error(sink, node, "integer", path);
                return;
            };
            let low = min.is_some_and(|m| v < m);
            let high = max.is_some_and(|m| v > m);
            if low || high {
                let range = match (min, max) {
                    (Some(a), Some(b)) => format!("between {a} and {b}"),
                    (Some(a), None) => format!("at least {a}"),
                    (None, Some(b)) => format!("at most {b}"),
                    (None, None) => String::new(),
                };
                let d = sink.report(Code::S006, Some(node.span), format!("`{path}` must be {range}, found {v}"));
                d.label = Some(format!("must be {range}"));
            }
        }
        Ty::Str(text) => {
            let Some(s) = node.as_str() else {
                type_error(sink, node, "string", path);
                return;
            };
            check_text(sink, node, s, *text, path);
        }
        Ty::Array { item, max_items } => {
            let Some(items) = node.as_seq() else {
                type_error(sink, node, "array", path);
                return;
            };
            if let Some(max) = max_items {
                if items.len() > *max {
                    let d = sink.report(
                        Code::S008,
                        Some(node_head(node)),
                        format!("`{path}` has {} items; the CRD allows at most {max}", items.len()),
                    );
                    d.label = Some(format!("more than {max} items"));
                }
            }
            for (i, it) in items.iter().enumerate() {
                check_value(sink, it, item, &Path::Index(path, i));
            }
        }
        Ty::StringMap => {
            let Some(entries) = node.as_map() else {
                type_error(sink, node, "object", path);
                return;
            };
            for e in entries {
                if !e.value.is_null() && e.value.as_str().is_none() {
                    type_error(sink, &e.value, "string", &Path::Field(path, &e.key));
                }
            }
        }
    }
}

/// An integer as JSON schema sees it: floats with no fractional part count.
fn integer(node: &Node) -> Option<i64> {
    match node.value {
        Value::Int(i) => Some(i),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Some(f as i64),
        _ => None,
    }
}

fn check_text(sink: &mut DiagnosticSink, node: &Node, s: &str, text: Text, path: &Path) {
    let (ok, expected): (bool, &str) = match text {
        Text::Any => return,
        Text::Enum(values) => {
            if !values.contains(&s) {
                let help = match suggest::closest(s, values.iter().copied()) {
                    Some(v) if values.len() > 10 => format!("did you mean `{v}`?"),
                    Some(v) => format!("did you mean `{v}`? allowed: {}", list(values.iter().copied())),
                    None if values.len() > 10 => "see the CRD for the allowed values".into(),
                    None => format!("allowed: {}", list(values.iter().copied())),
                };
                let d = sink.report(
                    Code::S004,
                    Some(node.span),
                    format!("`{path}` has value `{s}`, which the CRD does not allow"),
                );
                d.label = Some("not an allowed value".into());
                d.help = Some(help);
            }
            return;
        }
        Text::MatchPath => (patterns::match_path(s), "an absolute path not ending in `/` (`^\\/+.*[^\\/]$`)"),
        Text::Dir => (patterns::dir(s), "a directory: `/` or an absolute path ending in `/` (`^\\/$|^\\/.*\\/$`)"),
        Text::SyscallPath => (patterns::syscall_path(s), "an absolute path or directory"),
        Text::Execname => (patterns::execname(s), "a file name without `/` (`^[^\\/]+$`)"),
        Text::Protocol => {
            (patterns::protocol(s), "a protocol such as `tcp`, `UDP` or `all` (all lower or all upper case)")
        }
        Text::Capability => (patterns::capability(s), "a lower-case capability name such as `net_raw`"),
    };
    if !ok {
        let d = sink.report(
            Code::S005,
            Some(node.span),
            format!("`{path}` is `{s}`, which does not match the CRD pattern"),
        );
        d.label = Some(format!("expected {expected}"));
        d.help = Some(pattern_help(text, s));
    }
    if matches!(text, Text::MatchPath) && s.chars().count() > 200 {
        let d = sink.report(
            Code::S007,
            Some(node.span),
            format!("`{path}` is {} characters long; the CRD allows at most 200", s.chars().count()),
        );
        d.label = Some("longer than 200 characters".into());
    }
}

fn pattern_help(text: Text, s: &str) -> String {
    match text {
        Text::Dir if s.starts_with('/') => {
            format!("directories end with `/`: `{s}/`; for a single file use matchPaths")
        }
        Text::MatchPath if s.ends_with('/') && s.len() > 1 => {
            "paths must not end with `/`; for a directory use matchDirectories".into()
        }
        Text::Execname => "execname is a base name such as `bash`; use `path` for absolute paths".into(),
        Text::Protocol if patterns::protocol(&s.to_ascii_lowercase()) => {
            format!("write it all lower case: `{}`", s.to_ascii_lowercase())
        }
        Text::Capability if patterns::capability(&s.to_ascii_lowercase()) => {
            format!("write it lower case: `{}`", s.to_ascii_lowercase())
        }
        _ => "see docs/diagnostics.md".into(),
    }
}

pub fn type_error(sink: &mut DiagnosticSink, node: &Node, expected: &str, path: &Path) {
    let found = node.type_name();
    let d = sink.report(
        Code::S002,
        Some(node_head(node)),
        format!("`{path}` must be {} {expected}, found {found}", article(expected)),
    );
    d.label = Some(format!("expected {expected}"));
    d.help = Some(match (expected, &node.value) {
        ("string", Value::Int(_) | Value::Float(_) | Value::Bool(_)) => "quote the value to make it a string".into(),
        ("boolean", Value::Str(s)) if matches!(s.as_str(), "yes" | "no" | "on" | "off" | "y" | "n") => {
            "YAML 1.2 reads this as a string; write `true` or `false`".into()
        }
        ("boolean" | "integer", Value::Str(_)) => "remove the quotes".into(),
        ("array", Value::Map(_)) => "write the items as a list: each item starts with `- `".into(),
        ("array", _) => "write a list: `[a, b]` or items starting with `- `".into(),
        ("object", Value::Seq(_)) => "remove the `- `: this field is a mapping, not a list".into(),
        _ => format!("write {} {expected}", article(expected)),
    });
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// A collection's span can run over many lines; point at its first line only.
pub fn node_head(node: &Node) -> crate::source::Span {
    match &node.value {
        Value::Map(entries) => entries.first().map_or(node.span, |e| e.key_span),
        Value::Seq(items) => crate::source::Span::new(
            node.span.start,
            items.first().map_or(node.span.end, |i| i.span.start.max(node.span.start)),
        ),
        _ => node.span,
    }
}
