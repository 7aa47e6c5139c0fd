//! Rendering one template for one target with handlebars (no HTML escaping, strict mode, values
//! quoted by the `yaml` helper), re-emitted as plain block YAML, then proving the result: it must parse as one YAML document that
//! carries exactly the name, namespace and selector we asked for, and pass the compiler with no
//! error or warning. Nothing that fails is ever written.

use crate::templates::yamltree::Node;
use crate::templates::{PolicyKind, Template};
use handlebars::{Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Who a rendered policy is for.
#[derive(Clone, Debug, Default)]
pub struct RenderTarget {
    /// Name prefix (image and/or workload), already sanitized or not; joined with the template name.
    pub name_base: String,
    pub namespace: Option<String>,
    /// `selector.matchLabels` of namespaced policies.
    pub labels: BTreeMap<String, String>,
    /// `nodeSelector.matchLabels` of host policies (`--node-labels`).
    pub node_labels: BTreeMap<String, String>,
    /// `--action`: replaces every Block/Audit action.
    pub action: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Rendered {
    pub name: String,
    pub text: String,
    /// `spec.action` of the rendered policy.
    pub action: String,
}

/// DNS-1123 label from arbitrary text: lower-case, `[a-z0-9-]`, at most 63 characters; a cut
/// name ends with 8 hex digits of the full text's SHA-256 so distinct inputs stay distinct.
pub fn dns_name(text: &str) -> String {
    let mut s = String::new();
    for c in text.to_lowercase().chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' };
        if !(c == '-' && s.ends_with('-')) {
            s.push(c);
        }
    }
    let s = s.trim_matches('-').to_string();
    let s = if s.is_empty() { "x".to_string() } else { s };
    if s.len() <= 63 {
        return s;
    }
    let hash = Sha256::digest(text.as_bytes());
    let hex: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", s[..54].trim_end_matches('-'))
}

/// Kubernetes label key: optional DNS-subdomain prefix and `/`, then a name of at most 63.
pub fn valid_label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok =
        prefix.is_none_or(|p| !p.is_empty() && p.len() <= 253 && p.split('.').all(crate::templates::is_dns_label));
    prefix_ok && !name.is_empty() && valid_label_value(name)
}

/// Kubernetes label value: empty, or at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
pub fn valid_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && v.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && v.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric()))
}

fn yaml_helper(h: &Helper, _: &Handlebars, _: &Context, _: &mut RenderContext, out: &mut dyn Output) -> HelperResult {
    let v = h.param(0).ok_or(RenderErrorReason::ParamNotFoundForIndex("yaml", 0))?;
    // Strict mode does not cover helper arguments: refuse unknown variables here.
    if v.is_value_missing() {
        return Err(RenderErrorReason::Other(format!(
            "unknown variable `{}`",
            v.relative_path().map_or("?", |p| p.as_str())
        ))
        .into());
    }
    // JSON is valid YAML flow syntax: every string comes out double-quoted and escaped.
    out.write(&serde_json::to_string(v.value()).map_err(|e| RenderErrorReason::Other(e.to_string()))?)?;
    Ok(())
}

fn action_helper(
    h: &Helper,
    _: &Handlebars,
    ctx: &Context,
    _: &mut RenderContext,
    out: &mut dyn Output,
) -> HelperResult {
    let default = h
        .param(0)
        .and_then(|p| p.value().as_str().map(str::to_string))
        .ok_or(RenderErrorReason::ParamNotFoundForIndex("action", 0))?;
    let chosen = match ctx.data().get("action_override").and_then(Value::as_str) {
        // Allow rules stay Allow: turning an allow-list into Audit would change what it permits.
        Some(o) if default != "Allow" => o.to_string(),
        _ => default,
    };
    out.write(&serde_json::to_string(&chosen).expect("string"))?;
    Ok(())
}

fn registry() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.register_escape_fn(handlebars::no_escape);
    hb.set_strict_mode(true);
    hb.register_helper("yaml", Box::new(yaml_helper));
    hb.register_helper("action", Box::new(action_helper));
    hb
}

fn selector(t: &Template, target: &RenderTarget) -> Value {
    match t.kind {
        PolicyKind::KubeArmorPolicy => json!({ "matchLabels": target.labels }),
        PolicyKind::KubeArmorClusterPolicy => {
            let mut exprs = t.cluster_expressions.clone();
            if let Some(ns) = &target.namespace {
                exprs.push(json!({"key": "namespace", "operator": "In", "values": [ns]}));
            }
            json!({ "matchExpressions": exprs })
        }
        PolicyKind::KubeArmorHostPolicy => json!({}),
    }
}

/// `line:column: ` when known.
fn at(location: &Option<(usize, usize)>) -> String {
    location.map(|(line, column)| format!("{line}:{column}: ")).unwrap_or_default()
}

/// Why a template could not be rendered for a target, or its rendering failed the proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("namespace {0:?} is not a DNS-1123 label")]
    Namespace(String),
    #[error("label {key:?}={value:?} is not a valid Kubernetes label")]
    Label { key: String, value: String },
    /// handlebars refused the template or the data (`reason`: its message).
    #[error("rendering failed: {reason}")]
    Handlebars { reason: String },
    #[error("rendered policy is not valid YAML: {}{reason}", at(location))]
    NotYaml { location: Option<(usize, usize)>, reason: String },
    #[error("rendered text holds {0} YAML documents, expected 1")]
    DocumentCount(usize),
    #[error("re-emitting the rendered policy as block YAML changed its content")]
    BlockStyleChanged,
    #[error("rendered kind {rendered} differs from the template's {expected}")]
    Kind { rendered: String, expected: String },
    #[error("rendered metadata does not carry exactly the requested name/namespace")]
    Metadata,
    #[error("rendered nodeSelector differs from the requested node labels")]
    NodeSelector,
    #[error("rendered selector differs from the requested one (the template must use {{{{yaml selector}}}})")]
    Selector,
    /// The compiler's first finding on the rendered text.
    #[error("rendered policy fails validation ({count} finding(s)); first: {}{severity} {message}", at(location))]
    Validation { count: usize, location: Option<(usize, usize)>, severity: String, message: String },
    #[error(
        "the compiler accepted {policies} of {documents} KubeArmor document(s) in the rendered text, expected 1 of 1"
    )]
    Accepted { policies: usize, documents: usize },
}

fn not_yaml(e: &serde_saphyr::Error) -> RenderError {
    RenderError::NotYaml {
        location: e.location().map(|l| (l.line() as usize, l.column() as usize)),
        reason: e.without_snippet().to_string().lines().next().unwrap_or("").to_string(),
    }
}

/// Render and prove one policy.
pub fn render(t: &Template, target: &RenderTarget) -> Result<Rendered, RenderError> {
    if let Some(ns) = &target.namespace {
        if !crate::templates::is_dns_label(ns) {
            return Err(RenderError::Namespace(ns.clone()));
        }
    }
    for (k, v) in target.labels.iter().chain(target.node_labels.iter()) {
        // The container-name selector value is ours (`[name]`), everything else must be a label.
        let value_ok = if k == "kubearmor.io/container.name" {
            v.len() >= 2
                && v.starts_with('[')
                && v.ends_with(']')
                && valid_label_value(&v[1..v.len() - 1].replace(", ", "-"))
        } else {
            valid_label_value(v)
        };
        if !valid_label_key(k) || !value_ok {
            return Err(RenderError::Label { key: k.clone(), value: v.clone() });
        }
    }
    let name = dns_name(&format!("{}-{}", target.name_base, t.name));
    // Host policies are cluster-scoped: no namespace; cluster policies likewise.
    let namespace = match t.kind {
        PolicyKind::KubeArmorPolicy => target.namespace.clone(),
        _ => None,
    };
    let mut metadata = json!({ "name": name });
    if let Some(ns) = &namespace {
        metadata["namespace"] = json!(ns);
    }
    let data = json!({
        "name": name,
        "namespace": namespace,
        "metadata": metadata,
        "selector": selector(t, target),
        "node_selector": { "matchLabels": target.node_labels },
        "severity": t.severity,
        "tags": t.tags,
        "action_override": target.action,
    });
    let raw =
        registry().render_template(&t.body, &data).map_err(|e| RenderError::Handlebars { reason: e.to_string() })?;
    let text = block_style(&raw)?;
    let action = verify(t, &text, &name, namespace.as_deref(), &data)?;
    Ok(Rendered { name, text, action })
}

/// The rendered text re-emitted as plain block YAML (kubectl's style): the `yaml` helper inserts
/// JSON flow values, which are safe but unusual to read. The tree is parsed and written back
/// with strings quoted only where YAML would misread them, and must read back as the same tree.
fn block_style(raw: &str) -> Result<String, RenderError> {
    let parse =
        |text: &str| -> Result<Vec<Node>, RenderError> { serde_saphyr::from_multiple(text).map_err(|e| not_yaml(&e)) };
    let docs = parse(raw)?;
    let [doc] = docs.as_slice() else {
        return Err(RenderError::DocumentCount(docs.len()));
    };
    let text = doc.emit_block();
    if parse(&text)?.as_slice() != std::slice::from_ref(doc) {
        return Err(RenderError::BlockStyleChanged);
    }
    Ok(text)
}

/// Post-conditions on the rendered text (see module docs). Returns `spec.action`.
fn verify(t: &Template, text: &str, name: &str, namespace: Option<&str>, data: &Value) -> Result<String, RenderError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| not_yaml(&e))?;
    let [doc] = docs.as_slice() else {
        return Err(RenderError::DocumentCount(docs.len()));
    };
    let kind = format!("{:?}", t.kind);
    if doc["kind"] != json!(kind) {
        return Err(RenderError::Kind { rendered: doc["kind"].to_string(), expected: kind });
    }
    if doc["metadata"]["name"] != json!(name) || doc["metadata"].get("namespace").and_then(Value::as_str) != namespace {
        return Err(RenderError::Metadata);
    }
    match t.kind {
        PolicyKind::KubeArmorHostPolicy => {
            if doc["spec"]["nodeSelector"] != data["node_selector"] {
                return Err(RenderError::NodeSelector);
            }
        }
        _ => {
            if doc["spec"]["selector"] != data["selector"] {
                return Err(RenderError::Selector);
            }
        }
    }
    let file = armorc_compiler::source::SourceFile::new(format!("{}.yaml", name), text.to_string());
    let checked = armorc_compiler::check_source(file.clone());
    if let Some(d) = checked.diagnostics.first() {
        return Err(RenderError::Validation {
            count: checked.diagnostics.len(),
            location: d.span.map(|s| file.line_col(s.start)).map(|lc| (lc.line, lc.column)),
            severity: format!("{:?}", d.severity),
            message: d.message.to_string(),
        });
    }
    if checked.documents != 1 || checked.policies.len() != 1 {
        return Err(RenderError::Accepted { policies: checked.policies.len(), documents: checked.documents });
    }
    Ok(doc["spec"]["action"].as_str().unwrap_or("Block").to_string())
}

/// The sample target every template is rendered for when a library is loaded, and by
/// `armorc test` (docs/testing.md): namespace `default`, `app: sample`, node `node-1`.
pub fn sample_target() -> RenderTarget {
    RenderTarget {
        name_base: "sample".into(),
        namespace: Some("default".into()),
        labels: BTreeMap::from([("app".to_string(), "sample".to_string())]),
        node_labels: BTreeMap::from([("kubernetes.io/hostname".to_string(), "node-1".to_string())]),
        action: None,
    }
}

/// Library validation: render with the sample target and prove the result.
pub fn self_check(t: &Template) -> Result<(), RenderError> {
    render(t, &sample_target()).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels_and_capped() {
        assert_eq!(dns_name("Registry:5000/App_x.1@sha256"), "registry-5000-app-x-1-sha256");
        let long = dns_name(&"a".repeat(100));
        assert_eq!(long.len(), 63);
        assert_ne!(long, dns_name(&"a".repeat(101)));
        assert!(crate::templates::is_dns_label(&long));
    }

    #[test]
    fn label_syntax() {
        assert!(valid_label_key("app.kubernetes.io/name"));
        assert!(valid_label_key("app"));
        assert!(!valid_label_key("bad key"));
        assert!(!valid_label_value("x\ny: z"));
        assert!(!valid_label_value("a: b"));
        assert!(valid_label_value(""));
    }
}
