//! `armorc recommend --with-tests`: an `armorc test` file (docs/testing.md) beside each written
//! policy, its cases derived from the policy's own rules: every Block or Audit rule on a path
//! (process and file `matchPaths`, `matchDirectories`, `execname`) is a case on that path
//! expecting `deny` or `audit`, and one case on a path no rule covers expects `allow`. The cases
//! target a pod built from the job (the workload container recommend wrote the policy for, or the
//! image's container), inline in the test file, so `armorc test OUT` runs them as they are.

use armorc_compiler::compose::selects_container;
use armorc_compiler::ir::{Action, Policy, Rule, RuleTarget};
use armorc_compiler::source::SourceFile;
use serde_json::json;
use std::collections::BTreeMap;

/// The container a written policy is for: the test file's workload (a Pod) and its target name.
#[derive(Clone, Debug)]
pub struct TestPod {
    pub namespace: String,
    /// The workload's name (a DNS-1123 subdomain).
    pub name: String,
    /// A DNS-1123 label.
    pub container: String,
    pub image: String,
    /// The pod's labels: every label the policy selects by.
    pub labels: BTreeMap<String, String>,
}

/// One case: the operation and what the rule says of it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Case {
    name: String,
    op: &'static str,
    path: String,
    source: Option<String>,
    expect: &'static str,
}

/// Why no test file is written beside a policy (a report note).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoTest {
    #[error("a host policy (its test would need the node)")]
    Host,
    #[error("the policy does not select the container it was written for")]
    NotSelected,
    #[error("no Block or Audit rule on a path to derive a case from")]
    NoCase,
}

/// Paths tried, in order, for the case no rule covers.
const UNCOVERED: [&str; 3] =
    ["/opt/armorc-test/uncovered", "/usr/local/libexec/armorc-test/uncovered", "/armorc-test/uncovered"];

/// The test file for the policy `file` (its name beside the test file) holding `text`, for `pod`.
pub fn test_file(file: &str, text: &str, pod: &TestPod) -> Result<String, NoTest> {
    let checked = armorc_compiler::check_source(SourceFile::new(file, text));
    let [policy] = &checked.policies[..] else { return Err(NoTest::NoCase) };
    if matches!(policy.selector, armorc_compiler::ir::Selector::Host { .. }) {
        return Err(NoTest::Host);
    }
    if !selects_container(policy, &pod.namespace, &pod.labels, &pod.container) {
        return Err(NoTest::NotSelected);
    }
    let cases = cases(policy);
    if cases.is_empty() {
        return Err(NoTest::NoCase);
    }
    let target = format!("{}/{}/{}", pod.namespace, pod.name, pod.container);
    let workload = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod.name, "namespace": pod.namespace, "labels": pod.labels},
        "spec": {"containers": [{"name": pod.container, "image": pod.image}]},
    });
    // Every value JSON-quoted (the workload is one line of JSON): valid YAML whatever it holds.
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let mut out = format!(
        "# armorc test file (docs/testing.md) written by `armorc recommend --with-tests`: cases derived\n\
         # from the rules of {file}, for the container it was written for. Run: armorc test DIR\n\
         version: 1\npolicies: [{}]\nworkloads:\n  - inline: |\n      {workload}\ncases:\n",
        q(file),
    );
    for c in &cases {
        out.push_str(&format!(
            "  - name: {}\n    target: {}\n    op: {}\n    path: {}\n",
            q(&c.name),
            q(&target),
            c.op,
            q(&c.path)
        ));
        if let Some(s) = &c.source {
            out.push_str(&format!("    source: {}\n", q(s)));
        }
        out.push_str(&format!("    expect: {}\n", c.expect));
    }
    Ok(out)
}

/// The operation a path rule is about and the path to try: a file inside a directory, the
/// executable's usual place for an execname; writes for readOnly rules (reads stay allowed).
fn operation(target: &RuleTarget) -> Option<(&'static str, String)> {
    match target {
        RuleTarget::ProcessPath { path, allowed_args, pts_false: false, .. } if allowed_args.is_empty() => {
            Some(("exec", path.clone()))
        }
        RuleTarget::ProcessExecname { name, allowed_args, pts_false: false, .. } if allowed_args.is_empty() => {
            Some(("exec", format!("/usr/bin/{name}")))
        }
        RuleTarget::ProcessDir { dir, pts_false: false, .. } => Some(("exec", format!("{dir}armorc-test"))),
        RuleTarget::FilePath { path, read_only, pts_false: false, .. } => {
            Some((if *read_only { "write" } else { "open" }, path.clone()))
        }
        RuleTarget::FileDir { dir, read_only, pts_false: false, .. } => {
            Some((if *read_only { "write" } else { "open" }, format!("{dir}armorc-test")))
        }
        _ => None,
    }
}

/// How strongly a case's expectation holds: a Block rule on an operation decides over an Audit
/// rule, which decides over a readOnly rule's read.
fn rank(expect: &str) -> u8 {
    match expect {
        "deny" => 2,
        "audit" => 1,
        _ => 0,
    }
}

/// Adds `case`, or makes the case on the same operation the stronger of the two.
fn add(out: &mut Vec<Case>, case: Case) {
    match out.iter_mut().find(|c| c.op == case.op && c.path == case.path && c.source == case.source) {
        Some(c) if rank(case.expect) > rank(c.expect) => *c = case,
        Some(_) => {}
        None => out.push(case),
    }
}

fn cases(policy: &Policy) -> Vec<Case> {
    let mut out: Vec<Case> = Vec::new();
    for rule in &policy.rules {
        let expect = match rule.action {
            Action::Block => "deny",
            Action::Audit => "audit",
            Action::Allow => continue,
        };
        let Some((op, path)) = operation(&rule.target) else { continue };
        let source = rule.source.clone().filter(|s| !s.is_empty());
        let verb = if expect == "deny" { "denied" } else { "audited" };
        let name = format!("{op} {path} is {verb} ({})", rule.origin.at);
        add(&mut out, Case { name, op, path: path.clone(), source: source.clone(), expect });
        if op == "write" {
            // A readOnly rule leaves reads alone.
            let name = format!("open {path} is allowed ({} is readOnly)", rule.origin.at);
            add(&mut out, Case { name, op: "open", path, source, expect: "allow" });
        }
    }
    if out.is_empty() {
        return out;
    }
    // Allow-lists make every other operation audited or denied, patterns may cover anything:
    // the uncovered case only where the rules say plainly what they cover.
    let plain = policy.rules.iter().all(|r| {
        r.action != Action::Allow
            && !matches!(r.target, RuleTarget::ProcessPattern { .. } | RuleTarget::FilePattern { .. })
    });
    let op = if out.iter().any(|c| c.op == "exec") { "exec" } else { "open" };
    if let Some(path) = UNCOVERED.iter().find(|p| !policy.rules.iter().any(|r| covers(r, p))).filter(|_| plain) {
        out.push(Case {
            name: format!("{op} {path} is allowed (no rule covers it)"),
            op,
            path: path.to_string(),
            source: None,
            expect: "allow",
        });
    }
    out
}

/// Whether `rule` names `path`: the path itself, a directory above it, its file name.
fn covers(rule: &Rule, path: &str) -> bool {
    let below =
        |dir: &str, recursive: bool| path.strip_prefix(dir).is_some_and(|rest| recursive || !rest.contains('/'));
    match &rule.target {
        RuleTarget::ProcessPath { path: p, .. } | RuleTarget::FilePath { path: p, .. } => p == path,
        RuleTarget::ProcessExecname { name, .. } => path.rsplit('/').next() == Some(name.as_str()),
        RuleTarget::ProcessDir { dir, recursive, .. } | RuleTarget::FileDir { dir, recursive, .. } => {
            below(dir, *recursive)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> TestPod {
        TestPod {
            namespace: "shop".into(),
            name: "web".into(),
            container: "nginx".into(),
            image: "nginx:1.27".into(),
            labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
        }
    }

    const POLICY: &str = "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  selector: {matchLabels: {app: web}}\n  process:\n    matchPaths:\n      - path: /usr/bin/curl\n      - execname: apk\n        action: Audit\n    matchDirectories:\n      - dir: /opt/\n        recursive: true\n  file:\n    matchDirectories:\n      - dir: /etc/ssl/\n        readOnly: true\n  action: Block\n";

    #[test]
    fn cases_follow_the_rules() {
        let text = test_file("p.yaml", POLICY, &pod()).unwrap();
        let cases: Vec<(&str, &str, &str)> = text
            .split("  - name: ")
            .skip(1)
            .map(|c| {
                let field = |k: &str| c.lines().find_map(|l| l.trim().strip_prefix(k)).unwrap();
                (field("op: "), field("path: "), field("expect: "))
            })
            .collect();
        assert_eq!(
            cases,
            [
                ("exec", "\"/usr/bin/curl\"", "deny"),
                ("exec", "\"/usr/bin/apk\"", "audit"),
                ("exec", "\"/opt/armorc-test\"", "deny"),
                ("write", "\"/etc/ssl/armorc-test\"", "deny"),
                ("open", "\"/etc/ssl/armorc-test\"", "allow"),
                // /opt/ is blocked recursively: the next candidate.
                ("exec", "\"/usr/local/libexec/armorc-test/uncovered\"", "allow"),
            ],
            "{text}"
        );
        assert!(text.contains("target: \"shop/web/nginx\""), "{text}");
    }

    #[test]
    fn no_test_where_nothing_can_be_derived() {
        let other = TestPod { labels: BTreeMap::from([("app".to_string(), "db".to_string())]), ..pod() };
        assert_eq!(test_file("p.yaml", POLICY, &other), Err(NoTest::NotSelected));
        let caps = POLICY.replace(
            "  process:\n    matchPaths:\n      - path: /usr/bin/curl\n      - execname: apk\n        action: Audit\n    matchDirectories:\n      - dir: /opt/\n        recursive: true\n  file:\n    matchDirectories:\n      - dir: /etc/ssl/\n        readOnly: true\n",
            "  capabilities:\n    matchCapabilities:\n      - capability: net_raw\n",
        );
        assert_eq!(test_file("p.yaml", &caps, &pod()), Err(NoTest::NoCase));
    }
}
