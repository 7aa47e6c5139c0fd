//! `check_source`: the front-end pipeline for one file, one document at a time:
//! YAML tree -> document checks -> typed AST -> lints -> IR (only for documents without errors).

use crate::check::{self, DiagnosticSink, DocumentOutcome};
use crate::codes::Code;
use crate::source::SourceFile;
use crate::yaml::{Documents, IssueKind, YamlIssue};
use crate::{lints, normalize, Checked};
use std::sync::Arc;

/// Text that marks a file as meant for KubeArmor even when it does not parse.
fn has_kubearmor_marker(text: &str) -> bool {
    text.contains("security.kubearmor.com") || text.contains("kind: KubeArmor")
}

fn issue_code(kind: IssueKind) -> Code {
    match kind {
        IssueKind::Syntax => Code::Y001,
        IssueKind::DuplicateKey => Code::Y002,
        IssueKind::TooLarge => Code::Y004,
        IssueKind::TooDeep => Code::Y005,
        IssueKind::AliasBudget => Code::Y006,
        IssueKind::ComplexKey => Code::Y007,
    }
}

fn report_issue(sink: &mut DiagnosticSink, issue: &YamlIssue) {
    let d = sink.report(issue_code(issue.kind), Some(issue.span), issue.message.clone());
    d.label = Some(
        match issue.kind {
            IssueKind::Syntax => "here",
            IssueKind::DuplicateKey => "duplicate key",
            IssueKind::TooLarge => "document starts here",
            IssueKind::TooDeep => "too deep",
            IssueKind::AliasBudget => "alias",
            IssueKind::ComplexKey => "collection used as a key",
        }
        .into(),
    );
    d.help = match issue.kind {
        IssueKind::Syntax => {
            Some("the cause can be above this point: an unclosed `[`, `{` or quote, or wrong indentation".into())
        }
        IssueKind::DuplicateKey => {
            Some("the API server rejects duplicate fields; keep one (the first is used here)".into())
        }
        IssueKind::TooLarge => Some("split the stream into smaller documents".into()),
        _ => None,
    };
    if let Some(first) = issue.related {
        d.related.push((first, "first defined here".into()));
    }
}

/// `normalize = false` skips building IR (the lint command does not need it).
pub fn check_source(file: Arc<SourceFile>, normalize: bool) -> Checked {
    let mut out = Checked::default();
    let mut sink = DiagnosticSink::new(file.clone());
    let marker = has_kubearmor_marker(&file.text);
    for doc in Documents::new(&file.text) {
        let mark = sink.diagnostics.len();
        let Some(mut root) = doc.root else {
            // Syntax error, or a document abandoned as too large, too deep or an alias bomb.
            let syntax_only = doc.issues.iter().all(|i| i.kind == IssueKind::Syntax);
            if syntax_only && !marker {
                let first = doc.issues.first().map(|i| i.message.as_str()).unwrap_or("invalid YAML");
                return Checked {
                    notes: vec![format!(
                        "{}: skipped: not YAML and no KubeArmor marker (Helm template?): {first}",
                        file.name
                    )],
                    ..Checked::default()
                };
            }
            for issue in &doc.issues {
                report_issue(&mut sink, issue);
            }
            if marker {
                out.documents += 1;
            } else {
                out.skipped += 1;
            }
            continue;
        };
        let outcome = check::check_document(&mut sink, &mut root, doc.span);
        let kubearmor = matches!(outcome, DocumentOutcome::Policy(_) | DocumentOutcome::Rejected);
        if kubearmor {
            for issue in &doc.issues {
                report_issue(&mut sink, issue);
            }
        }
        match outcome {
            DocumentOutcome::Empty => {}
            DocumentOutcome::Skipped => out.skipped += 1,
            DocumentOutcome::Rejected => out.documents += 1,
            DocumentOutcome::Policy(ast) => {
                out.documents += 1;
                let has_errors = sink.errors_since(mark) > 0;
                lints::lint(&mut sink, &ast, has_errors);
                if normalize && sink.errors_since(mark) == 0 {
                    out.policies.push(normalize::normalize(&ast, &file));
                }
            }
        }
        // Findings of one document in source order; file-level ones first.
        sink.diagnostics[mark..].sort_by_key(|d| d.span.map_or((0, 0), |s| (s.start, s.end)));
        drop(root);
    }
    out.diagnostics = sink.diagnostics;
    out
}

#[cfg(test)]
mod tests {
    use crate::source::SourceFile;

    #[test]
    fn lint_source_matches_check_source_without_ir() {
        let text = "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: a}\nspec:\n  file:\n    matchPaths: [{path: /a}, {path: /a}]\n---\nkind: Deployment\n---\napiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: b}\nspec: {action: block}\n";
        let full = crate::check_source(SourceFile::new("t.yaml", text));
        let lint = crate::lint_source(SourceFile::new("t.yaml", text));
        let codes = |c: &crate::Checked| c.diagnostics.iter().map(|d| (d.code, d.span)).collect::<Vec<_>>();
        assert_eq!(codes(&full), codes(&lint));
        assert_eq!((full.documents, full.skipped, full.policies.len()), (2, 1, 1));
        assert_eq!((lint.documents, lint.skipped, lint.policies.len()), (2, 1, 0));
    }

    #[test]
    fn documents_after_a_broken_one_are_not_lost_before_it() {
        let text = "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: a}\nspec: {file: {matchPaths: [{path: /a}]}}\n---\nkind: KubeArmorPolicy\nspec: [\n";
        let c = crate::check_source(SourceFile::new("t.yaml", text));
        assert_eq!(c.policies.len(), 1);
        assert_eq!(c.documents, 2);
        assert_eq!(c.diagnostics.iter().map(|d| d.code.to_string()).collect::<Vec<_>>(), ["Y001"]);
    }

    #[test]
    fn hostile_documents_are_abandoned_and_the_stream_continues() {
        let deep = format!("kind: KubeArmorPolicy\nspec: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
        let c = crate::check_source(SourceFile::new("t.yaml", deep));
        assert!(c.diagnostics.iter().any(|d| matches!(d.code.to_string().as_str(), "Y005" | "Y001")));
        let big = format!(
            "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {{name: a}}\nspec:\n  tags: [{}]\n---\napiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {{name: b}}\nspec: {{file: {{matchPaths: [{{path: /a}}]}}}}\n",
            vec!["tag"; 400_000].join(", ")
        );
        let c = crate::check_source(SourceFile::new("t.yaml", big));
        assert_eq!(c.diagnostics.iter().map(|d| d.code.to_string()).collect::<Vec<_>>(), ["Y004"]);
        assert_eq!((c.documents, c.policies.len()), (2, 1));
    }
}
