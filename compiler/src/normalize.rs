//! AST -> `ir::Policy`, as KubeArmor ingests policies (reference §1.11): severity, tags, message
//! and action inherit rule -> section -> spec (spec action defaults to Block; syscalls are
//! always Audit); comma lists expand only when the first item contains `,`; each fromSource item
//! becomes its own rule; the container selector list is parsed with the pest grammar.

use crate::ast::{self, Meta};
use crate::ir::{self, Action, Expression, ExpressionKey, Operator, Origin, Rule, RuleTarget, Selector};
use crate::source::{SourceFile, Span};
use std::collections::BTreeMap;

pub const CONTAINER_LABEL: &str = "kubearmor.io/container.name";

struct Ctx<'a> {
    file: &'a SourceFile,
    spec: &'a Meta,
    rules: Vec<Rule>,
}

/// Values of one rule after inheritance (before fromSource expansion).
struct Resolved {
    action: Action,
    severity: u8,
    tags: Vec<String>,
    message: String,
}

impl Ctx<'_> {
    fn origin(&self, span: Span, at: String) -> Origin {
        let lc = self.file.line_col(span.start);
        Origin { file: self.file.name.clone(), line: lc.line, column: lc.column, at }
    }

    fn resolve(&self, section: &Meta, rule: &Meta) -> Resolved {
        let pick = |f: &dyn Fn(&Meta) -> Option<i64>| f(rule).or_else(|| f(section)).or_else(|| f(self.spec));
        let severity = pick(&|m: &Meta| m.severity.as_ref().map(|s| s.node).filter(|s| *s != 0)).unwrap_or(0);
        let tags = [rule, section, self.spec]
            .into_iter()
            .find(|m| !m.tags.is_empty())
            .map(|m| m.tags.iter().map(|t| t.node.clone()).collect())
            .unwrap_or_default();
        let message = [rule, section, self.spec]
            .into_iter()
            .find_map(|m| m.message.as_ref().filter(|s| !s.node.is_empty()))
            .map(|m| m.node.clone())
            .unwrap_or_default();
        let action =
            [rule, section, self.spec].into_iter().find_map(|m| m.action.as_ref()).map_or(Action::Block, |a| a.node);
        Resolved { action, severity: severity.clamp(0, 255) as u8, tags, message }
    }

    /// One IR rule per fromSource item (or one global rule). Every rule but the last gets
    /// copies; the last takes the values themselves (most rules have no fromSource at all).
    fn push(&mut self, target: RuleTarget, r: Resolved, sources: &[ast::Node<ast::Source>], span: Span, at: String) {
        let origin = self.origin(span, at);
        let path = |s: &ast::Node<ast::Source>| s.node.path.as_ref().map(|p| p.node.clone()).unwrap_or_default();
        let (last, rest) = match sources.split_last() {
            Some((last, rest)) => (Some(path(last)), rest),
            None => (None, sources),
        };
        for s in rest {
            self.rules.push(Rule {
                target: target.clone(),
                source: Some(path(s)),
                action: r.action,
                severity: r.severity,
                tags: r.tags.clone(),
                message: r.message.clone(),
                origin: origin.clone(),
            });
        }
        self.rules.push(Rule {
            target,
            source: last,
            action: r.action,
            severity: r.severity,
            tags: r.tags,
            message: r.message,
            origin,
        });
    }
}

/// How many IR rules `normalize` makes: one per fromSource item, or one per rule item (comma
/// lists may add a few). The list is then allocated once at its final size: regrowing it per
/// policy leaves half-used blocks behind, and with 10,000 policies that is real memory.
pub(crate) fn expected_rules(spec: &ast::Spec) -> usize {
    fn count<T>(items: &[ast::Node<T>], sources: impl Fn(&T) -> usize) -> usize {
        items.iter().map(|i| sources(&i.node).max(1)).sum()
    }
    let from = |s: &[ast::Node<ast::Source>]| s.len();
    let process = spec.process.as_ref().map_or(0, |p| {
        let p = &p.node;
        count(&p.match_paths, |r| from(&r.from_source))
            + count(&p.match_directories, |r| from(&r.from_source))
            + p.match_patterns.len()
    });
    let file = spec.file.as_ref().map_or(0, |f| {
        let f = &f.node;
        count(&f.match_paths, |r| from(&r.from_source))
            + count(&f.match_directories, |r| from(&r.from_source))
            + f.match_patterns.len()
    });
    let network = spec.network.as_ref().map_or(0, |n| {
        count(&n.node.match_protocols, |r| from(&r.from_source))
            + count(&n.node.match_dns_queries, |r| from(&r.from_source))
    });
    let capabilities =
        spec.capabilities.as_ref().map_or(0, |c| count(&c.node.match_capabilities, |r| from(&r.from_source)));
    let syscalls = spec.syscalls.as_ref().map_or(0, |s| {
        count(&s.node.match_syscalls, |r| r.from_source.len()) + count(&s.node.match_paths, |r| r.from_source.len())
    });
    let device = spec.device.as_ref().map_or(0, |d| d.node.match_device.len());
    process + file + network + capabilities + syscalls + device
}

/// `field[i]`, the `at` of an origin. There is one per IR rule, and `format!` (or `write!`)
/// costs several times this loop over the digits.
fn indexed(field: &str, i: usize) -> String {
    let digits = i.checked_ilog10().unwrap_or(0) + 1;
    let mut at = String::with_capacity(field.len() + digits as usize + 2);
    at.push_str(field);
    at.push('[');
    for d in (0..digits).rev() {
        at.push(char::from(b'0' + (i / 10usize.pow(d) % 10) as u8));
    }
    at.push(']');
    at
}

fn flag(f: &Option<ast::Node<bool>>) -> bool {
    f.as_ref().is_some_and(|b| b.node)
}

fn pts_false(f: &Option<ast::Node<bool>>) -> bool {
    f.as_ref().is_some_and(|b| !b.node)
}

fn text(s: &Option<ast::Str>) -> String {
    s.as_ref().map(|s| s.node.clone()).unwrap_or_default()
}

/// KubeArmor's comma expansion: only when the first item's value contains `,`; then every item
/// is split on `,` (spaces removed) into copies.
pub fn comma_expand<T>(items: &[ast::Node<T>], value: impl Fn(&T) -> Option<&str>) -> Vec<(usize, String)> {
    let first_has_comma = items.first().and_then(|i| value(&i.node)).is_some_and(|v| v.contains(','));
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let v = value(&item.node).unwrap_or("");
        if first_has_comma {
            out.extend(v.split(',').map(|p| (i, p.replace(' ', ""))));
        } else {
            out.push((i, v.to_string()));
        }
    }
    out
}

pub fn normalize(doc: &ast::Document, file: &SourceFile) -> ir::Policy {
    let spec = &doc.spec;
    let mut cx = Ctx { file, spec: &spec.meta, rules: Vec::with_capacity(expected_rules(spec)) };
    let none = Meta::default();

    if let Some(p) = &spec.process {
        let sec = &p.node.meta;
        for (i, r) in p.node.match_paths.iter().enumerate() {
            let n = &r.node;
            let res = cx.resolve(sec, &n.meta);
            let args: Vec<String> =
                n.allowed_args.as_ref().map(|a| a.node.iter().map(|s| s.node.clone()).collect()).unwrap_or_default();
            let target = match &n.execname {
                Some(e) => RuleTarget::ProcessExecname {
                    name: e.node.clone(),
                    owner_only: flag(&n.owner_only),
                    pts_false: pts_false(&n.pts),
                    allowed_args: args,
                },
                None => RuleTarget::ProcessPath {
                    path: text(&n.path),
                    owner_only: flag(&n.owner_only),
                    pts_false: pts_false(&n.pts),
                    allowed_args: args,
                },
            };
            cx.push(target, res, &n.from_source, r.loc, indexed("spec.process.matchPaths", i));
        }
        for (i, r) in p.node.match_directories.iter().enumerate() {
            let n = &r.node;
            let res = cx.resolve(sec, &n.meta);
            let target = RuleTarget::ProcessDir {
                dir: text(&n.dir),
                recursive: flag(&n.recursive),
                owner_only: flag(&n.owner_only),
                pts_false: pts_false(&n.pts),
            };
            cx.push(target, res, &n.from_source, r.loc, indexed("spec.process.matchDirectories", i));
        }
        for (i, r) in p.node.match_patterns.iter().enumerate() {
            let n = &r.node;
            let res = cx.resolve(sec, &n.meta);
            let target = RuleTarget::ProcessPattern { pattern: text(&n.pattern), owner_only: flag(&n.owner_only) };
            cx.push(target, res, &[], r.loc, indexed("spec.process.matchPatterns", i));
        }
    }
    if let Some(f) = &spec.file {
        let sec = &f.node.meta;
        for (i, r) in f.node.match_paths.iter().enumerate() {
            let n = &r.node;
            let res = cx.resolve(sec, &n.meta);
            let target = RuleTarget::FilePath {
                path: text(&n.path),
                read_only: flag(&n.read_only),
                owner_only: flag(&n.owner_only),
                pts_false: pts_false(&n.pts),
            };
            cx.push(target, res, &n.from_source, r.loc, indexed("spec.file.matchPaths", i));
        }
        for (i, r) in f.node.match_directories.iter().enumerate() {
            let n = &r.node;
            let res = cx.resolve(sec, &n.meta);
            let target = RuleTarget::FileDir {
                dir: text(&n.dir),
                recursive: flag(&n.recursive),
                read_only: flag(&n.read_only),
                owner_only: flag(&n.owner_only),
                pts_false: pts_false(&n.pts),
            };
            cx.push(target, res, &n.from_source, r.loc, indexed("spec.file.matchDirectories", i));
        }
        for (i, r) in f.node.match_patterns.iter().enumerate() {
            let n = &r.node;
            let res = cx.resolve(sec, &n.meta);
            let target = RuleTarget::FilePattern {
                pattern: text(&n.pattern),
                read_only: flag(&n.read_only),
                owner_only: flag(&n.owner_only),
            };
            cx.push(target, res, &[], r.loc, indexed("spec.file.matchPatterns", i));
        }
    }
    if let Some(net) = &spec.network {
        let sec = &net.node.meta;
        let protocols = &net.node.match_protocols;
        for (i, value) in comma_expand(protocols, |r| r.protocol.as_ref().map(|p| p.node.as_str())) {
            let r = &protocols[i];
            let res = cx.resolve(sec, &r.node.meta);
            let protocol = value.to_ascii_lowercase();
            let known = ir::Protocol::parse(&protocol);
            let target = RuleTarget::Protocol { protocol, known, pts_false: pts_false(&r.node.pts) };
            cx.push(target, res, &r.node.from_source, r.loc, indexed("spec.network.matchProtocols", i));
        }
        let dns = &net.node.match_dns_queries;
        for (i, value) in comma_expand(dns, |r| r.domain.as_ref().map(|p| p.node.as_str())) {
            let r = &dns[i];
            let res = cx.resolve(sec, &r.node.meta);
            let target = RuleTarget::Dns { domain: value.trim_matches('.').to_string() };
            cx.push(target, res, &r.node.from_source, r.loc, indexed("spec.network.matchDNSQueries", i));
        }
    }
    if let Some(caps) = &spec.capabilities {
        let sec = &caps.node.meta;
        let list = &caps.node.match_capabilities;
        for (i, value) in comma_expand(list, |r| r.capability.as_ref().map(|p| p.node.as_str())) {
            let r = &list[i];
            let res = cx.resolve(sec, &r.node.meta);
            let lower = value.to_ascii_lowercase();
            let name = lower.strip_prefix("cap_").unwrap_or(&lower).to_string();
            let number = ir::capability_number(&name);
            cx.push(
                RuleTarget::Capability { name, number },
                res,
                &r.node.from_source,
                r.loc,
                indexed("spec.capabilities.matchCapabilities", i),
            );
        }
    }
    if let Some(sys) = &spec.syscalls {
        let sec = &sys.node.meta;
        let lists = [("matchSyscalls", &sys.node.match_syscalls), ("matchPaths", &sys.node.match_paths)];
        for (field, list) in lists {
            for (i, r) in list.iter().enumerate() {
                let n = &r.node;
                let mut res = cx.resolve(sec, &none);
                res.action = Action::Audit;
                let syscalls: Vec<String> = n.syscalls.iter().map(|s| s.node.clone()).collect();
                let at = format!("spec.syscalls.{field}[{i}]");
                let origin = cx.origin(r.loc, at);
                let add = |source: Option<String>, source_dir: Option<String>, source_recursive: bool| Rule {
                    target: RuleTarget::Syscall {
                        syscalls: syscalls.clone(),
                        path: n.path.as_ref().map(|p| p.node.clone()),
                        recursive: flag(&n.recursive),
                        source_dir,
                        source_recursive,
                    },
                    source,
                    action: res.action,
                    severity: res.severity,
                    tags: res.tags.clone(),
                    message: res.message.clone(),
                    origin: origin.clone(),
                };
                if n.from_source.is_empty() {
                    let rule = add(None, None, false);
                    cx.rules.push(rule);
                } else {
                    for s in &n.from_source {
                        let s = &s.node;
                        let rule = add(
                            s.path.as_ref().map(|p| p.node.clone()),
                            s.dir.as_ref().map(|d| d.node.clone()),
                            flag(&s.recursive),
                        );
                        cx.rules.push(rule);
                    }
                }
            }
        }
    }
    if let Some(dev) = &spec.device {
        let sec = &dev.node.meta;
        for (i, r) in dev.node.match_device.iter().enumerate() {
            let n = &r.node;
            let res = cx.resolve(sec, &n.meta);
            let int32 =
                |v: &Option<ast::Node<i64>>| v.as_ref().map(|v| v.node.clamp(i32::MIN as i64, i32::MAX as i64) as i32);
            let target = RuleTarget::Device {
                class: text(&n.class),
                sub_class: int32(&n.sub_class),
                protocol: int32(&n.protocol),
                level: int32(&n.level),
            };
            cx.push(target, res, &[], r.loc, indexed("spec.device.matchDevice", i));
        }
    }

    let spec_action = spec.meta.action.as_ref().map_or(Action::Block, |a| a.node);
    let presets = spec
        .presets
        .iter()
        .enumerate()
        .map(|(i, p)| ir::Preset {
            name: text(&p.node.name),
            action: p.node.action.as_ref().map_or(spec_action, |a| a.node),
            origin: cx.origin(p.loc, indexed("spec.presets", i)),
        })
        .collect();
    let apparmor = spec
        .apparmor
        .as_ref()
        .map(|a| {
            a.node
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| ir::NativeLine { text: l.to_string(), origin: cx.origin(a.loc, "spec.apparmor".into()) })
                .collect()
        })
        .unwrap_or_default();

    ir::Policy {
        kind: doc.kind.node,
        name: text(&doc.name),
        namespace: doc.namespace.as_ref().map(|n| n.node.clone()),
        origin: cx.origin(doc.loc, String::new()),
        selector: selector(doc),
        rules: cx.rules,
        apparmor,
        presets,
    }
}

fn expressions(list: &[ast::Node<ast::MatchExpression>]) -> Vec<Expression> {
    list.iter()
        .filter_map(|e| {
            let e = &e.node;
            let key = match e.key.as_ref()?.node.as_str() {
                "label" => ExpressionKey::Label,
                "namespace" => ExpressionKey::Namespace,
                _ => return None,
            };
            let operator = match e.operator.as_ref()?.node.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                _ => return None,
            };
            Some(Expression { key, operator, values: e.values.iter().map(|v| v.node.clone()).collect() })
        })
        .collect()
}

fn selector(doc: &ast::Document) -> Selector {
    let spec = &doc.spec;
    match doc.kind.node {
        ir::PolicyKind::KubeArmorHostPolicy => Selector::Host {
            node_labels: spec
                .node_selector
                .as_ref()
                .map(|l| l.node.entries.iter().map(|(k, v)| (k.node.clone(), v.node.clone())).collect())
                .unwrap_or_default(),
        },
        ir::PolicyKind::KubeArmorClusterPolicy => Selector::Cluster {
            expressions: spec.selector.as_ref().map(|s| expressions(&s.node.match_expressions)).unwrap_or_default(),
        },
        ir::PolicyKind::KubeArmorPolicy => {
            let mut match_labels = BTreeMap::new();
            let mut containers = Vec::new();
            let sel = spec.selector.as_ref().map(|s| &s.node);
            for (k, v) in
                sel.and_then(|s| s.match_labels.as_ref()).map(|l| l.node.entries.as_slice()).unwrap_or_default()
            {
                if k.node == CONTAINER_LABEL {
                    containers = armorc_grammar::selector::parse(&v.node).items.into_iter().map(|i| i.name).collect();
                } else {
                    match_labels.insert(k.node.clone(), v.node.clone());
                }
            }
            Selector::Namespaced {
                match_labels,
                expressions: sel.map(|s| expressions(&s.match_expressions)).unwrap_or_default(),
                containers,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ir::{Action, Protocol, RuleTarget, Selector};
    use crate::source::SourceFile;

    #[test]
    fn indexed_writes_every_digit() {
        for i in [0, 7, 10, 99, 100, 4096, usize::MAX] {
            assert_eq!(super::indexed("spec.file.matchPaths", i), format!("spec.file.matchPaths[{i}]"));
        }
    }

    fn policies(text: &str) -> Vec<crate::ir::Policy> {
        let checked = crate::check_source(SourceFile::new("t.yaml", text));
        let errors: Vec<_> = checked
            .diagnostics
            .iter()
            .filter(|d| d.severity == crate::diag::Severity::Error)
            .map(|d| &d.message)
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        checked.policies
    }

    const HEAD: &str = "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: p\n";

    #[test]
    fn inheritance_rule_section_spec() {
        let p = &policies(&format!(
            "{HEAD}spec:\n  severity: 2\n  tags: [spec]\n  message: spec msg\n  process:\n    severity: 5\n    action: Audit\n    matchPaths:\n      - path: /bin/a\n        tags: [rule]\n      - path: /bin/b\n        action: Allow\n        severity: 9\n  file:\n    matchPaths:\n      - path: /etc/x\n"
        ))[0];
        let r = &p.rules;
        assert_eq!(
            (r[0].severity, r[0].action, r[0].tags.clone(), r[0].message.as_str()),
            (5, Action::Audit, vec!["rule".to_string()], "spec msg")
        );
        assert_eq!((r[1].severity, r[1].action, r[1].tags.clone()), (9, Action::Allow, vec!["spec".to_string()]));
        // Spec action defaults to Block; severity from spec.
        assert_eq!((r[2].severity, r[2].action), (2, Action::Block));
        assert_eq!(r[0].origin.at, "spec.process.matchPaths[0]");
        assert_eq!((r[0].origin.line, r[0].origin.column), (13, 9));
        assert_eq!(p.namespace, None);
    }

    #[test]
    fn comma_expansion_only_from_the_first_item() {
        let p = &policies(&format!(
            "{HEAD}spec:\n  network:\n    matchProtocols:\n      - protocol: tcp, udp\n      - protocol: icmp\n  capabilities:\n    matchCapabilities:\n      - capability: net_raw\n      - capability: chown,sys_admin\n"
        ))[0];
        let protos: Vec<_> = p
            .rules
            .iter()
            .filter_map(|r| match &r.target {
                RuleTarget::Protocol { protocol, known, .. } => Some((protocol.clone(), *known)),
                _ => None,
            })
            .collect();
        assert_eq!(
            protos,
            vec![
                ("tcp".into(), Some(Protocol::Tcp)),
                ("udp".into(), Some(Protocol::Udp)),
                ("icmp".into(), Some(Protocol::Icmp))
            ]
        );
        let caps: Vec<_> = p
            .rules
            .iter()
            .filter_map(|r| match &r.target {
                RuleTarget::Capability { name, number } => Some((name.clone(), *number)),
                _ => None,
            })
            .collect();
        // Not expanded: the first item has no comma.
        assert_eq!(caps, vec![("net_raw".into(), Some(13)), ("chown,sys_admin".into(), None)]);
    }

    #[test]
    fn from_source_items_become_rules_and_execname_wins() {
        let p = &policies(&format!(
            "{HEAD}spec:\n  process:\n    matchPaths:\n      - path: /bin/x\n        execname: x\n      - path: /bin/y\n        pts: false\n        fromSource:\n          - path: /bin/a\n          - {{}}\n  network:\n    matchDNSQueries:\n      - domain: .example.com.\n"
        ))[0];
        assert!(matches!(&p.rules[0].target, RuleTarget::ProcessExecname { name, .. } if name == "x"));
        assert_eq!(p.rules[1].source.as_deref(), Some("/bin/a"));
        assert_eq!(p.rules[2].source.as_deref(), Some(""));
        assert!(
            matches!(&p.rules[2].target, RuleTarget::ProcessPath { path, pts_false: true, .. } if path == "/bin/y")
        );
        assert!(matches!(&p.rules[3].target, RuleTarget::Dns { domain } if domain == "example.com"));
    }

    #[test]
    fn selectors_and_containers() {
        let p = &policies(&format!(
            "{HEAD}  namespace: web\nspec:\n  selector:\n    matchLabels:\n      app: web\n      kubearmor.io/container.name: \"[a, b,,]\"\n    matchExpressions:\n      - key: label\n        operator: NotIn\n        values: [tier=db]\n  file:\n    matchPaths: [{{path: /etc/x}}]\n"
        ))[0];
        match &p.selector {
            Selector::Namespaced { match_labels, expressions, containers } => {
                assert_eq!(match_labels.len(), 1);
                assert_eq!(containers, &vec!["a".to_string(), "b".to_string()]);
                assert_eq!(expressions[0].values, vec!["tier=db".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.id(), "KubeArmorPolicy/web/p");
    }

    #[test]
    fn syscalls_are_audit_and_apparmor_lines_trimmed() {
        let p = &policies(&format!(
            "{HEAD}spec:\n  apparmor: |\n    deny /x r,\n\n     deny /y w,\n  syscalls:\n    severity: 3\n    matchPaths:\n      - path: /etc/\n        recursive: true\n        syscall: [unlink]\n        fromSource:\n          - dir: /bin/\n"
        ))[0];
        assert_eq!(p.apparmor.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(), ["deny /x r,", "deny /y w,"]);
        let r = &p.rules[0];
        assert_eq!((r.action, r.severity), (Action::Audit, 3));
        assert!(matches!(&r.target, RuleTarget::Syscall { source_dir: Some(d), recursive: true, .. } if d == "/bin/"));
    }
}
