//! Semantic lints: findings the API server cannot see (warnings). Each has a stable L code.

use crate::ast;
use crate::check::Sink;
use crate::codes::Code;

pub fn lint(sink: &mut Sink, doc: &ast::Document) {
    no_rules(sink, doc);
}

/// L010: a policy whose spec holds no rule at all.
fn no_rules(sink: &mut Sink, doc: &ast::Document) {
    let s = &doc.spec;
    let count = s.process.as_ref().map_or(0, |p| p.node.match_paths.len() + p.node.match_directories.len() + p.node.match_patterns.len())
        + s.file.as_ref().map_or(0, |f| f.node.match_paths.len() + f.node.match_directories.len() + f.node.match_patterns.len())
        + s.network.as_ref().map_or(0, |n| n.node.match_protocols.len() + n.node.match_dns_queries.len())
        + s.capabilities.as_ref().map_or(0, |c| c.node.match_capabilities.len())
        + s.syscalls.as_ref().map_or(0, |c| c.node.match_syscalls.len() + c.node.match_paths.len())
        + s.device.as_ref().map_or(0, |d| d.node.match_device.len())
        + s.presets.len()
        + usize::from(s.apparmor.as_ref().is_some_and(|a| !a.node.trim().is_empty()));
    if count == 0 {
        let d = sink.report(Code::L010, Some(doc.kind.loc), format!("{} has no rules", doc.kind.node.as_str()));
        d.label = Some("policy without rules".into());
        d.help = Some("add process, file, network, capabilities, syscalls or presets rules; an empty policy does nothing".into());
    }
}
