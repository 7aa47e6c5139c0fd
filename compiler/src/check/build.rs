//! Spanned YAML tree -> typed AST. Tolerant: values of the wrong type were reported by the
//! schema check and are simply left out here.

use crate::ast::*;
use crate::ir::Action;
use crate::yaml::{self, Value};

fn text(n: &yaml::Node, key: &str) -> Option<Str> {
    let v = n.get(key)?;
    Some(Node::new(v.as_str()?.to_string(), v.span))
}

fn flag(n: &yaml::Node, key: &str) -> Option<Node<bool>> {
    let v = n.get(key)?;
    match v.value {
        Value::Bool(b) => Some(Node::new(b, v.span)),
        _ => None,
    }
}

fn int(n: &yaml::Node, key: &str) -> Option<Node<i64>> {
    let v = n.get(key)?;
    match v.value {
        Value::Int(i) => Some(Node::new(i, v.span)),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Some(Node::new(f as i64, v.span)),
        _ => None,
    }
}

fn action(n: &yaml::Node, key: &str) -> Option<Node<Action>> {
    let v = n.get(key)?;
    let a = match v.as_str()? {
        "Allow" => Action::Allow,
        "Audit" => Action::Audit,
        "Block" => Action::Block,
        _ => return None,
    };
    Some(Node::new(a, v.span))
}

fn strings(n: &yaml::Node, key: &str) -> Vec<Str> {
    n.get(key)
        .and_then(|v| v.as_seq())
        .map(|items| items.iter().filter_map(|i| Some(Node::new(i.as_str()?.to_string(), i.span))).collect())
        .unwrap_or_default()
}

/// Mapping items of a list field, each converted by `f`.
fn items<T>(n: &yaml::Node, key: &str, f: impl Fn(&yaml::Node) -> T) -> Vec<Node<T>> {
    n.get(key)
        .and_then(|v| v.as_seq())
        .map(|list| list.iter().filter(|i| i.as_map().is_some()).map(|i| Node::new(f(i), i.span)).collect())
        .unwrap_or_default()
}

fn section<T>(n: &yaml::Node, key: &str, f: impl Fn(&yaml::Node) -> T) -> Option<Node<T>> {
    let v = n.get(key)?;
    v.as_map()?;
    Some(Node::new(f(v), v.span))
}

fn meta(n: &yaml::Node) -> Meta {
    Meta { severity: int(n, "severity"), tags: strings(n, "tags"), message: text(n, "message"), action: action(n, "action") }
}

fn sources(n: &yaml::Node) -> Vec<Node<Source>> {
    items(n, "fromSource", |s| Source { path: text(s, "path") })
}

fn labels(n: &yaml::Node) -> Labels {
    let entries = n
        .as_map()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            let v = e.value.as_str()?;
            Some((Node::new(e.key.clone(), e.key_span), Node::new(v.to_string(), e.value.span)))
        })
        .collect();
    Labels { entries }
}

fn directory(n: &yaml::Node) -> Directory {
    Directory {
        dir: text(n, "dir"),
        recursive: flag(n, "recursive"),
        read_only: flag(n, "readOnly"),
        owner_only: flag(n, "ownerOnly"),
        pts: flag(n, "pts"),
        from_source: sources(n),
        meta: meta(n),
    }
}

fn pattern(n: &yaml::Node) -> Pattern {
    Pattern { pattern: text(n, "pattern"), read_only: flag(n, "readOnly"), owner_only: flag(n, "ownerOnly"), meta: meta(n) }
}

fn syscall_rule(n: &yaml::Node) -> SyscallRule {
    SyscallRule {
        syscalls: strings(n, "syscall"),
        path: text(n, "path"),
        recursive: flag(n, "recursive"),
        from_source: items(n, "fromSource", |s| SyscallSource {
            path: text(s, "path"),
            dir: text(s, "dir"),
            recursive: flag(s, "recursive"),
        }),
    }
}

pub fn spec(n: &yaml::Node) -> Spec {
    Spec {
        selector: section(n, "selector", |s| Selector {
            match_labels: section(s, "matchLabels", labels),
            match_expressions: items(s, "matchExpressions", |e| MatchExpression {
                key: text(e, "key"),
                operator: text(e, "operator"),
                values: strings(e, "values"),
            }),
        }),
        node_selector: n.get("nodeSelector").and_then(|ns| section(ns, "matchLabels", labels)),
        process: section(n, "process", |p| Process {
            match_paths: items(p, "matchPaths", |r| ProcessPath {
                path: text(r, "path"),
                execname: text(r, "execname"),
                owner_only: flag(r, "ownerOnly"),
                pts: flag(r, "pts"),
                allowed_args: r.get("allowedArgs").filter(|a| a.as_seq().is_some()).map(|a| Node::new(strings(r, "allowedArgs"), a.span)),
                from_source: sources(r),
                meta: meta(r),
            }),
            match_directories: items(p, "matchDirectories", directory),
            match_patterns: items(p, "matchPatterns", pattern),
            meta: meta(p),
        }),
        file: section(n, "file", |f| File {
            match_paths: items(f, "matchPaths", |r| FilePath {
                path: text(r, "path"),
                read_only: flag(r, "readOnly"),
                owner_only: flag(r, "ownerOnly"),
                pts: flag(r, "pts"),
                from_source: sources(r),
                meta: meta(r),
            }),
            match_directories: items(f, "matchDirectories", directory),
            match_patterns: items(f, "matchPatterns", pattern),
            meta: meta(f),
        }),
        network: section(n, "network", |s| Network {
            match_protocols: items(s, "matchProtocols", |r| ProtocolRule {
                protocol: text(r, "protocol"),
                pts: flag(r, "pts"),
                from_source: sources(r),
                meta: meta(r),
            }),
            match_dns_queries: items(s, "matchDNSQueries", |r| DnsRule { domain: text(r, "domain"), from_source: sources(r), meta: meta(r) }),
            meta: meta(s),
        }),
        capabilities: section(n, "capabilities", |s| Capabilities {
            match_capabilities: items(s, "matchCapabilities", |r| CapabilityRule {
                capability: text(r, "capability"),
                from_source: sources(r),
                meta: meta(r),
            }),
            meta: meta(s),
        }),
        syscalls: section(n, "syscalls", |s| Syscalls {
            match_syscalls: items(s, "matchSyscalls", syscall_rule),
            match_paths: items(s, "matchPaths", syscall_rule),
            meta: meta(s),
        }),
        presets: items(n, "presets", |p| Preset { name: text(p, "name"), action: action(p, "action") }),
        device: section(n, "device", |d| Device {
            match_device: items(d, "matchDevice", |r| DeviceRule {
                class: text(r, "class"),
                sub_class: int(r, "subClass"),
                protocol: int(r, "protocol"),
                level: int(r, "level"),
                meta: meta(r),
            }),
            meta: meta(d),
        }),
        apparmor: text(n, "apparmor"),
        meta: meta(n),
    }
}
