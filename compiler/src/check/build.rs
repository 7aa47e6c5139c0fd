//! Spanned YAML tree -> typed AST. Tolerant: values of the wrong type were reported by the
//! schema check and are simply left out here.

use crate::ast::*;
use crate::ir::Action;
use crate::yaml::{self, Value};

// The tree is dropped right after the AST is built, so strings are moved out of it, not copied.

fn text(n: &mut yaml::Node, key: &str) -> Option<Str> {
    let v = n.get_mut(key)?;
    match &mut v.value {
        Value::Str(s) => Some(Node::new(std::mem::take(s), v.span)),
        _ => None,
    }
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

fn strings(n: &mut yaml::Node, key: &str) -> Vec<Str> {
    let Some(Value::Seq(items)) = n.get_mut(key).map(|v| &mut v.value) else { return Vec::new() };
    items
        .iter_mut()
        .filter_map(|i| match &mut i.value {
            Value::Str(s) => Some(Node::new(std::mem::take(s), i.span)),
            _ => None,
        })
        .collect()
}

/// Mapping items of a list field, each converted by `f`.
fn items<T>(n: &mut yaml::Node, key: &str, f: impl Fn(&mut yaml::Node) -> T) -> Vec<Node<T>> {
    let Some(Value::Seq(list)) = n.get_mut(key).map(|v| &mut v.value) else { return Vec::new() };
    list.iter_mut().filter(|i| i.as_map().is_some()).map(|i| Node::new(f(i), i.span)).collect()
}

fn section<T>(n: &mut yaml::Node, key: &str, f: impl FnOnce(&mut yaml::Node) -> T) -> Option<Node<T>> {
    let v = n.get_mut(key)?;
    v.as_map()?;
    let span = v.span;
    Some(Node::new(f(v), span))
}

fn meta(n: &mut yaml::Node) -> Meta {
    Meta {
        severity: int(n, "severity"),
        tags: strings(n, "tags"),
        message: text(n, "message"),
        action: action(n, "action"),
    }
}

fn sources(n: &mut yaml::Node) -> Vec<Node<Source>> {
    items(n, "fromSource", |s| Source { path: text(s, "path") })
}

fn labels(n: &mut yaml::Node) -> Labels {
    let Value::Map(map) = &mut n.value else { return Labels::default() };
    let entries = map
        .iter_mut()
        .filter_map(|e| match &mut e.value.value {
            Value::Str(v) => {
                Some((Node::new(std::mem::take(&mut e.key), e.key_span), Node::new(std::mem::take(v), e.value.span)))
            }
            _ => None,
        })
        .collect();
    Labels { entries }
}

fn directory(n: &mut yaml::Node) -> Directory {
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

fn pattern(n: &mut yaml::Node) -> Pattern {
    Pattern {
        pattern: text(n, "pattern"),
        read_only: flag(n, "readOnly"),
        owner_only: flag(n, "ownerOnly"),
        meta: meta(n),
    }
}

fn syscall_rule(n: &mut yaml::Node) -> SyscallRule {
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

pub fn spec(n: &mut yaml::Node) -> Spec {
    Spec {
        selector: section(n, "selector", |s| Selector {
            match_labels: section(s, "matchLabels", labels),
            match_expressions: items(s, "matchExpressions", |e| MatchExpression {
                key: text(e, "key"),
                operator: text(e, "operator"),
                values: strings(e, "values"),
            }),
        }),
        node_selector: n.get_mut("nodeSelector").and_then(|ns| section(ns, "matchLabels", labels)),
        process: section(n, "process", |p| Process {
            match_paths: items(p, "matchPaths", |r| ProcessPath {
                path: text(r, "path"),
                execname: text(r, "execname"),
                owner_only: flag(r, "ownerOnly"),
                pts: flag(r, "pts"),
                allowed_args: {
                    let span = r.get("allowedArgs").filter(|a| a.as_seq().is_some()).map(|a| a.span);
                    span.map(|span| Node::new(strings(r, "allowedArgs"), span))
                },
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
            match_dns_queries: items(s, "matchDNSQueries", |r| DnsRule {
                domain: text(r, "domain"),
                from_source: sources(r),
                meta: meta(r),
            }),
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
