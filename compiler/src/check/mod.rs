//! Document-level checks: which documents are KubeArmor policies, apiVersion, kind, metadata,
//! then the CRD schema of `spec` (`validate.rs`) and the typed AST (`build.rs`).

pub mod build;
pub mod patterns;
pub mod schema;
pub mod suggest;
pub mod syscalls;
pub mod validate;

use crate::ast;
use crate::codes::Code;
use crate::diag::{Diagnostic, Severity};
use crate::ir::PolicyKind;
use crate::source::{SourceFile, Span};
use crate::yaml::{self, Value};
use std::sync::Arc;
use validate::Path;

pub const API_VERSION: &str = "security.kubearmor.com/v1";
const GROUP: &str = "security.kubearmor.com";

/// Collects findings for one source file.
pub struct DiagnosticSink {
    pub file: Arc<SourceFile>,
    pub diagnostics: Vec<Diagnostic>,
}

impl DiagnosticSink {
    pub fn new(file: Arc<SourceFile>) -> Self {
        DiagnosticSink { file, diagnostics: Vec::new() }
    }

    /// Adds a finding with the code's default severity; set `label`/`help`/`related` on the result.
    pub fn report(&mut self, code: Code, span: Option<Span>, message: String) -> &mut Diagnostic {
        self.diagnostics.push(Diagnostic {
            code,
            severity: code.default_severity(),
            message,
            file: self.file.clone(),
            span,
            label: None,
            help: None,
            related: Vec::new(),
        });
        self.diagnostics.last_mut().expect("just pushed")
    }

    pub fn errors_since(&self, mark: usize) -> usize {
        self.diagnostics[mark..].iter().filter(|d| d.severity == Severity::Error).count()
    }
}

/// What a document turned out to be.
pub enum DocumentOutcome {
    /// A KubeArmor policy (possibly with errors; the AST is tolerant).
    Policy(Box<ast::Document>),
    /// A `security.kubearmor.com` document we reject (unknown kind); counted as a document.
    Rejected,
    /// Another kind, no kind, or KubeArmorNetworkPolicy.
    Skipped,
    /// An empty document (`---` followed by nothing).
    Empty,
}

fn kind_of(name: &str) -> Option<PolicyKind> {
    match name {
        "KubeArmorPolicy" => Some(PolicyKind::KubeArmorPolicy),
        "KubeArmorHostPolicy" => Some(PolicyKind::KubeArmorHostPolicy),
        "KubeArmorClusterPolicy" => Some(PolicyKind::KubeArmorClusterPolicy),
        _ => None,
    }
}

/// `root` is left partly emptied: the AST takes its strings.
pub fn check_document(sink: &mut DiagnosticSink, root: &mut yaml::Node, doc_span: Span) -> DocumentOutcome {
    if root.is_null() {
        return DocumentOutcome::Empty;
    }
    if root.as_map().is_none() {
        return DocumentOutcome::Skipped;
    }
    let kind_node = root.get("kind");
    let api_version = root.get("apiVersion");
    let Some(kind_name) = kind_node.and_then(|k| k.as_str()) else { return DocumentOutcome::Skipped };
    let kind_span = kind_node.map_or(doc_span, |k| k.span);
    let Some(kind) = kind_of(kind_name) else {
        if kind_name == "KubeArmorNetworkPolicy" {
            return DocumentOutcome::Skipped;
        }
        let group = api_version.and_then(|a| a.as_str()).and_then(|a| a.split('/').next());
        // A KubeArmor-looking kind without our group is most likely a typo of ours too.
        if group == Some(GROUP) || kind_name.starts_with("KubeArmor") {
            let d = sink.report(Code::S102, Some(kind_span), format!("`{kind_name}` is not a kind of {GROUP}"));
            d.label = Some("unknown kind".into());
            let known = ["KubeArmorPolicy", "KubeArmorHostPolicy", "KubeArmorClusterPolicy", "KubeArmorNetworkPolicy"];
            d.help = Some(match suggest::closest(kind_name, known) {
                Some(k) => format!("did you mean `{k}`?"),
                None => format!("known kinds: {}", known.join(", ")),
            });
            return DocumentOutcome::Rejected;
        }
        return DocumentOutcome::Skipped;
    };

    check_api_version(sink, api_version, kind_name, kind_span);
    for e in root.as_map().unwrap_or_default() {
        if !schema::TOP_LEVEL.contains(&e.key.as_str()) && e.value.is_null() {
            validate::pruned_unknown_field(sink, e.key_span, &e.key, &schema::TOP_LEVEL, &Path::Root("(top level)"));
        } else if !schema::TOP_LEVEL.contains(&e.key.as_str()) {
            let d = sink.report(
                Code::S001,
                Some(e.key_span),
                format!("unknown field `{}` at the top of the document", e.key),
            );
            d.label = Some("unknown field".into());
            d.help = Some(match suggest::closest(&e.key, schema::TOP_LEVEL) {
                Some(s) => format!("did you mean `{s}`?"),
                None if e.key.to_ascii_lowercase().ends_with("version") => "did you mean `apiVersion`?".into(),
                None => format!("known fields: {}", schema::TOP_LEVEL.join(", ")),
            });
        }
    }
    let (name, namespace) = check_metadata(sink, root, kind, kind_span);

    let spec_schema = match kind {
        PolicyKind::KubeArmorPolicy => &schema::POLICY_SPEC,
        PolicyKind::KubeArmorHostPolicy => &schema::HOST_POLICY_SPEC,
        PolicyKind::KubeArmorClusterPolicy => &schema::CLUSTER_POLICY_SPEC,
    };
    let spec_node = root.get("spec");
    if let Some(spec) = spec_node {
        validate::check_object(sink, spec, spec_schema, &Path::Root("spec"));
    }
    if let Some(status) = root.get("status") {
        validate::check_object(sink, status, &schema::STATUS, &Path::Root("status"));
    }
    let api_version = api_version.and_then(|a| Some(ast::Node::new(a.as_str()?.to_string(), a.span)));
    let spec = root.get_mut("spec").filter(|s| s.as_map().is_some()).map(build::spec).unwrap_or_default();
    DocumentOutcome::Policy(Box::new(ast::Document {
        kind: ast::Node::new(kind, kind_span),
        api_version,
        name,
        namespace,
        loc: doc_span,
        spec,
    }))
}

fn check_api_version(sink: &mut DiagnosticSink, api_version: Option<&yaml::Node>, kind: &str, kind_span: Span) {
    match api_version {
        None => {
            let d = sink.report(Code::S101, Some(kind_span), format!("`{kind}` document has no `apiVersion`"));
            d.label = Some("apiVersion missing for this kind".into());
            d.help = Some(format!("add `apiVersion: {API_VERSION}`"));
        }
        Some(v) if v.as_str() != Some(API_VERSION) => {
            let shown = v.as_str().map_or_else(|| v.type_name().to_string(), |s| format!("`{s}`"));
            let d = sink.report(Code::S101, Some(v.span), format!("apiVersion {shown} is not `{API_VERSION}`"));
            d.label = Some("wrong apiVersion".into());
            d.help = Some(format!("{kind} is served only as `{API_VERSION}`"));
        }
        Some(_) => {}
    }
}

const METADATA_FIELDS: [&str; 15] = [
    "name",
    "namespace",
    "labels",
    "annotations",
    "generateName",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "finalizers",
    "managedFields",
    "selfLink",
];

fn check_metadata(
    sink: &mut DiagnosticSink,
    root: &yaml::Node,
    kind: PolicyKind,
    kind_span: Span,
) -> (Option<ast::Str>, Option<ast::Str>) {
    let Some(meta) = root.get("metadata") else {
        let d = sink.report(Code::S103, Some(kind_span), "document has no `metadata.name`".into());
        d.label = Some("no metadata".into());
        d.help = Some("add `metadata: {name: my-policy}`".into());
        return (None, None);
    };
    if meta.as_map().is_none() {
        let d = sink.report(
            Code::S105,
            Some(meta.span),
            format!("`metadata` must be an object, found {}", meta.type_name()),
        );
        d.label = Some("expected object".into());
        return (None, None);
    }
    for e in meta.as_map().unwrap_or_default() {
        if !METADATA_FIELDS.contains(&e.key.as_str()) && e.value.is_null() {
            validate::pruned_unknown_field(sink, e.key_span, &e.key, &METADATA_FIELDS, &Path::Root("metadata"));
        } else if !METADATA_FIELDS.contains(&e.key.as_str()) {
            let d = sink.report(Code::S105, Some(e.key_span), format!("unknown field `{}` in `metadata`", e.key));
            d.label = Some("unknown field".into());
            d.help = Some(match suggest::closest(&e.key, METADATA_FIELDS) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "metadata holds name, namespace, labels and annotations".into(),
            });
        } else if matches!(e.key.as_str(), "labels" | "annotations") && !e.value.is_null() {
            check_string_map(sink, &e.value, &e.key);
        }
    }
    let name = match meta.get("name") {
        None if meta.get("generateName").is_some() => None,
        None => {
            let d = sink.report(Code::S103, Some(validate::node_head(meta)), "`metadata.name` is missing".into());
            d.label = Some("no name".into());
            d.help = Some("add `name:` with a lower-case DNS-1123 name such as `block-shell`".into());
            None
        }
        Some(n) => match n.as_str() {
            Some(s) if patterns::dns1123_subdomain(s) => Some(ast::Node::new(s.to_string(), n.span)),
            Some(s) => {
                let d =
                    sink.report(Code::S103, Some(n.span), format!("`metadata.name` `{s}` is not a DNS-1123 subdomain"));
                d.label = Some("invalid name".into());
                d.help = Some(format!(
                    "use lower-case letters, digits, `-` and `.`, starting and ending with a letter or digit, at most 253 characters{}",
                    suggested_name(s).map(|n| format!(" (e.g. `{n}`)")).unwrap_or_default()
                ));
                Some(ast::Node::new(s.to_string(), n.span))
            }
            None => {
                let d = sink.report(
                    Code::S103,
                    Some(n.span),
                    format!("`metadata.name` must be a string, found {}", n.type_name()),
                );
                d.label = Some("expected string".into());
                None
            }
        },
    };
    let namespace = meta.get("namespace").and_then(|n| {
        let Some(s) = n.as_str() else {
            let d = sink.report(
                Code::S105,
                Some(n.span),
                format!("`metadata.namespace` must be a string, found {}", n.type_name()),
            );
            d.label = Some("expected string".into());
            return None;
        };
        if kind != PolicyKind::KubeArmorPolicy {
            let d = sink.report(
                Code::S104,
                Some(n.span),
                format!("{} is cluster-scoped; the API server drops `metadata.namespace`", kind.as_str()),
            );
            d.label = Some("ignored".into());
            d.help = Some(match kind {
                PolicyKind::KubeArmorClusterPolicy => {
                    "remove it; select namespaces with `spec.selector.matchExpressions` (key `namespace`)".into()
                }
                _ => "remove it".into(),
            });
            return None;
        }
        if !patterns::dns1123_label(s) {
            let d = sink.report(
                Code::S105,
                Some(n.span),
                format!("`metadata.namespace` `{s}` is not a valid namespace name"),
            );
            d.label = Some("invalid namespace".into());
            d.help = Some(
                "namespaces are DNS-1123 labels: lower-case letters, digits and `-`, at most 63 characters".into(),
            );
        }
        Some(ast::Node::new(s.to_string(), n.span))
    });
    (name, namespace)
}

fn check_string_map(sink: &mut DiagnosticSink, node: &yaml::Node, field: &str) {
    let Some(entries) = node.as_map() else {
        let d = sink.report(
            Code::S105,
            Some(node.span),
            format!("`metadata.{field}` must be an object, found {}", node.type_name()),
        );
        d.label = Some("expected object".into());
        return;
    };
    for e in entries {
        if !matches!(e.value.value, Value::Str(_) | Value::Null) {
            let d = sink.report(
                Code::S105,
                Some(e.value.span),
                format!("`metadata.{field}.{}` must be a string, found {}", e.key, e.value.type_name()),
            );
            d.label = Some("expected string".into());
            d.help = Some("quote the value".into());
        }
    }
}

fn suggested_name(s: &str) -> Option<String> {
    let fixed: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' })
        .collect();
    let fixed = fixed.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
    patterns::dns1123_subdomain(&fixed).then_some(fixed)
}

#[cfg(test)]
mod tests {
    use crate::source::SourceFile;

    /// (documents, skipped, codes) for a source text.
    fn run(text: &str) -> (usize, usize, Vec<String>) {
        let c = crate::check_source(SourceFile::new("t.yaml", text));
        (c.documents, c.skipped, c.diagnostics.iter().map(|d| d.code.to_string()).collect())
    }

    fn codes(text: &str) -> Vec<String> {
        run(text).2
    }

    const KSP: &str = "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: p\n";
    const HSP: &str = "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorHostPolicy\nmetadata:\n  name: h\n";
    const CSP: &str = "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorClusterPolicy\nmetadata:\n  name: c\n";

    #[test]
    fn kinds_are_counted() {
        assert_eq!(run(&format!("{KSP}spec:\n  file:\n    matchPaths: [{{path: /a}}]\n")), (1, 0, vec![]));
        assert_eq!(
            run("apiVersion: security.kubearmor.com/v1\nkind: KubeArmorNetworkPolicy\nmetadata: {name: n}\n"),
            (0, 1, vec![])
        );
        assert_eq!(
            run("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\nfoo: bar\n---\n"),
            (0, 2, vec![])
        );
        assert_eq!(
            run("apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolcy\nmetadata: {name: x}\n"),
            (1, 0, vec!["S102".into()])
        );
        assert_eq!(run("kind: KubeArmorHostPolcy\nmetadata: {name: x}\n"), (1, 0, vec!["S102".into()]));
        assert_eq!(run("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"), (0, 1, vec![]));
        // Any apiVersion on a KubeArmor kind: still checked, with S101.
        assert_eq!(
            run("kind: KubeArmorPolicy\nmetadata: {name: x}\nspec: {file: {matchPaths: [{path: /a}]}}\n"),
            (1, 0, vec!["S101".into()])
        );
        assert_eq!(codes("apiVersion: v1\nkind: KubeArmorPolicy\nmetadata: {name: x}\nspec: {file: {matchPaths: [{path: /a}]}}\n"), ["S101"]);
    }

    #[test]
    fn helm_templates_are_skipped_with_a_note() {
        let c = crate::check_source(SourceFile::new("t.yaml", "{{- if .Values.x }}\nkind: ConfigMap\n  bad: [\n"));
        assert_eq!((c.documents, c.skipped, c.diagnostics.len()), (0, 0, 0));
        assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
        // With a marker the syntax error is reported.
        let c = crate::check_source(SourceFile::new("t.yaml", "kind: KubeArmorPolicy\nspec: [\n"));
        assert_eq!(c.diagnostics[0].code.to_string(), "Y001");
        assert_eq!(c.documents, 1);
    }

    #[test]
    fn metadata_rules() {
        assert_eq!(
            codes(&format!(
                "{}spec:\n  file:\n    matchPaths: [{{path: /a}}]\n",
                KSP.replace("name: p", "name: Bad_Name")
            )),
            ["S103"]
        );
        assert_eq!(codes("apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {namespace: x}\nspec: {file: {matchPaths: [{path: /a}]}}\n"), ["S103"]);
        assert_eq!(
            codes(&format!("{CSP}  namespace: default\nspec:\n  file:\n    matchPaths: [{{path: /a}}]\n")),
            ["S104"]
        );
        assert_eq!(
            codes(&format!("{KSP}  nmespace: default\nspec:\n  file:\n    matchPaths: [{{path: /a}}]\n")),
            ["S105"]
        );
    }

    #[test]
    fn host_policy_requirements() {
        assert_eq!(codes(&format!("{HSP}spec:\n  file:\n    matchPaths: [{{path: /a}}]\n")), ["S003"]);
        let net = format!("{HSP}spec:\n  nodeSelector: {{matchLabels: {{a: b}}}}\n  network:\n    matchProtocols:\n      - protocol: tcp\n        pts: false\n");
        assert_eq!(codes(&net), ["S003", "S001"]);
        let sel = format!("{HSP}spec:\n  nodeSelector: {{matchLabels: {{a: b}}}}\n  selector: {{matchLabels: {{a: b}}}}\n  file:\n    matchPaths: [{{path: /a}}]\n");
        assert_eq!(codes(&sel), ["S001"]);
    }

    #[test]
    fn cluster_selector_keys() {
        let ok = format!("{CSP}spec:\n  selector:\n    matchExpressions:\n      - key: namespace\n        operator: In\n        values: [a]\n  file:\n    matchPaths: [{{path: /a}}]\n");
        assert_eq!(codes(&ok), Vec::<String>::new());
        assert_eq!(codes(&ok.replace(CSP, KSP)), ["S004"]);
        assert_eq!(
            codes(&format!(
                "{CSP}spec:\n  selector:\n    matchLabels: {{a: b}}\n  file:\n    matchPaths: [{{path: /a}}]\n"
            )),
            ["S001"]
        );
    }

    #[test]
    fn types_nulls_and_patterns() {
        let doc = |body: &str| format!("{KSP}spec:\n{body}");
        // Nulls are absent, including required ones (then S003).
        assert_eq!(
            codes(&doc("  severity:\n  file:\n    matchPaths: [{path: /a, readOnly: ~}]\n")),
            Vec::<String>::new()
        );
        assert_eq!(codes(&doc("  file:\n    matchPaths: [{path: null}]\n")), ["S003"]);
        // A null array item is not pruned.
        assert_eq!(codes(&doc("  file:\n    matchPaths:\n      -\n      - path: /a\n")), ["S002"]);
        assert_eq!(codes(&doc("  file:\n    matchPaths: [{path: /a, readOnly: yes}]\n")), ["S002"]);
        assert_eq!(codes(&doc("  severity: 5.0\n  file:\n    matchPaths: [{path: /a}]\n")), Vec::<String>::new());
        assert_eq!(codes(&doc("  severity: '5'\n  file:\n    matchPaths: [{path: /a}]\n")), ["S002"]);
        assert_eq!(codes(&doc("  severity: 0\n  file:\n    matchPaths: [{path: /a}]\n")), ["S006"]);
        assert_eq!(codes(&doc("  network:\n    matchProtocols: [{protocol: Tcp}]\n")), ["S005"]);
        assert_eq!(codes(&doc("  network:\n    matchProtocols: [{protocol: xtcp}]\n")), ["L001"]);
        assert_eq!(codes(&doc("  capabilities:\n    matchCapabilities: [{capability: NET_RAW}]\n")), ["S005"]);
        assert_eq!(codes(&doc("  syscalls:\n    matchSyscalls: [{syscall: [openat, opneat]}]\n")), ["S004"]);
        assert_eq!(
            codes(&doc("  syscalls:\n    matchPaths: [{path: /tmp/, syscall: [unlink]}]\n    action: Block\n")),
            ["S001"]
        );
        assert_eq!(codes(&doc("  process:\n    matchPaths: [{execname: /bin/sh}]\n")), ["S005"]);
        assert_eq!(codes(&doc("  file:\n    matchPaths: {path: /a}\n")), ["S002"]);
        assert_eq!(
            codes(&format!("{KSP}spec:\n  file:\n    matchPaths: [{{path: /a}}]\nstatus:\n  status: OK\n  extra: 1\n")),
            ["S001"]
        );
    }

    #[test]
    fn every_finding_of_a_document_in_one_pass_in_source_order() {
        let text = format!("{KSP}spec:\n  action: block\n  severity: 11\n  file:\n    matchPaths:\n      - path: etc\n        readOnly: 1\n        recursive: true\n");
        assert_eq!(codes(&text), ["S004", "S006", "S005", "S002", "S001"]);
    }
}
