//! Semantic lints: findings the API server cannot see, all warnings, each with a stable L code
//! (docs/diagnostics.md). They run on the typed AST of every KubeArmor document, errors or not.

use crate::ast::{self, Meta, Node, Str};
use crate::check::patterns;
use crate::check::DiagnosticSink;
use crate::codes::Code;
use crate::ir::{self, Action, PolicyKind};
use crate::normalize::CONTAINER_LABEL;
use crate::source::Span;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// `has_errors`: the document already has errors, so rule lists may be incomplete (no L010).
pub fn lint(sink: &mut DiagnosticSink, doc: &ast::Document, has_errors: bool) {
    let rules = collect_rules(doc);
    if !has_errors {
        no_rules(sink, doc);
    }
    protocols(sink, doc);
    capabilities(sink, doc);
    container_names(sink, doc);
    process_paths(sink, doc);
    from_sources(sink, &rules);
    path_lengths(sink, &rules);
    flags(sink, doc);
    patterns_ignored(sink, doc);
    duplicates(sink, &rules);
    allow_under_block(sink, &rules);
    dns(sink, doc);
    one_letter_keys(sink, doc);
    host_capabilities(sink, doc);
    expressions(sink, doc);
    native_apparmor(sink, doc);
    syscall_only_action(sink, doc);
    presets(sink, doc);
}

/// One rule as the lints compare them: category, kind, normalized target, source, action.
struct RuleView<'a> {
    category: &'static str,
    kind: &'static str,
    /// Borrowed from the AST unless normalizing changed it (lower case, trimmed dots).
    target: Cow<'a, str>,
    target_span: Span,
    recursive: bool,
    /// `None` = global rule; `Some(None)` = fromSource item without a path.
    source: Option<Option<&'a Str>>,
    source_span: Option<Span>,
    action: Action,
    /// (readOnly, ownerOnly)
    flags: (bool, bool),
}

fn resolve_action(rule: &Meta, section: &Meta, spec: &Meta) -> Action {
    [rule, section, spec].into_iter().find_map(|m| m.action.as_ref()).map_or(Action::Block, |a| a.node)
}

fn yes(f: &Option<Node<bool>>) -> bool {
    f.as_ref().is_some_and(|b| b.node)
}

/// `s` in ASCII lower case, copied only when it has upper-case letters.
fn lower_case(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// A rule's fields that `collect_rules` records, before fromSource expansion.
struct Item<'a> {
    category: &'static str,
    kind: &'static str,
    target: Option<(Cow<'a, str>, Span)>,
    recursive: bool,
    sources: &'a [Node<ast::Source>],
    action: Action,
    /// (readOnly, ownerOnly)
    flags: (bool, bool),
}

/// One view per (rule, fromSource item), or one per rule without fromSource.
fn push<'a>(out: &mut Vec<RuleView<'a>>, it: Item<'a>) {
    let Some((target, target_span)) = it.target else { return };
    let view = |source, source_span| RuleView {
        category: it.category,
        kind: it.kind,
        target: target.clone(),
        target_span,
        recursive: it.recursive,
        source,
        source_span,
        action: it.action,
        flags: it.flags,
    };
    if it.sources.is_empty() {
        out.push(view(None, None));
    }
    for s in it.sources {
        out.push(view(Some(s.node.path.as_ref()), Some(s.loc)));
    }
}

fn collect_rules<'a>(doc: &'a ast::Document) -> Vec<RuleView<'a>> {
    let spec = &doc.spec.meta;
    // Sized once (an upper bound: it also counts syscall and device rules); this list is made
    // and dropped per document, and regrowing it churns the allocator.
    let mut out = Vec::with_capacity(crate::normalize::expected_rules(&doc.spec));
    let mut add = |category, kind, target, recursive, sources, action, flags| {
        push(&mut out, Item { category, kind, target, recursive, sources, action, flags })
    };
    let t = |s: &'a Option<Str>| s.as_ref().map(|s| (Cow::Borrowed(s.node.as_str()), s.loc));
    let fl = |ro: &Option<Node<bool>>, oo: &Option<Node<bool>>| (yes(ro), yes(oo));
    if let Some(p) = &doc.spec.process {
        let sec = &p.node.meta;
        for r in &p.node.match_paths {
            let n = &r.node;
            let a = resolve_action(&n.meta, sec, spec);
            let (kind, target) = match &n.execname {
                Some(e) => ("execname", Some((Cow::Borrowed(e.node.as_str()), e.loc))),
                None => ("path", t(&n.path)),
            };
            add("process", kind, target, false, &n.from_source, a, fl(&None, &n.owner_only));
        }
        for r in &p.node.match_directories {
            let n = &r.node;
            let a = resolve_action(&n.meta, sec, spec);
            add("process", "dir", t(&n.dir), yes(&n.recursive), &n.from_source, a, fl(&None, &n.owner_only));
        }
        for r in &p.node.match_patterns {
            let n = &r.node;
            let a = resolve_action(&n.meta, sec, spec);
            add("process", "pattern", t(&n.pattern), false, &[], a, fl(&None, &n.owner_only));
        }
    }
    if let Some(f) = &doc.spec.file {
        let sec = &f.node.meta;
        for r in &f.node.match_paths {
            let n = &r.node;
            let a = resolve_action(&n.meta, sec, spec);
            add("file", "path", t(&n.path), false, &n.from_source, a, fl(&n.read_only, &n.owner_only));
        }
        for r in &f.node.match_directories {
            let n = &r.node;
            let a = resolve_action(&n.meta, sec, spec);
            add("file", "dir", t(&n.dir), yes(&n.recursive), &n.from_source, a, fl(&n.read_only, &n.owner_only));
        }
        for r in &f.node.match_patterns {
            let n = &r.node;
            let a = resolve_action(&n.meta, sec, spec);
            add("file", "pattern", t(&n.pattern), false, &[], a, fl(&n.read_only, &n.owner_only));
        }
    }
    if let Some(net) = &doc.spec.network {
        let sec = &net.node.meta;
        for r in &net.node.match_protocols {
            let n = &r.node;
            let a = resolve_action(&n.meta, sec, spec);
            let target = n.protocol.as_ref().map(|p| (lower_case(&p.node), p.loc));
            add("network", "protocol", target, false, &n.from_source, a, (false, false));
        }
        for r in &net.node.match_dns_queries {
            let n = &r.node;
            let a = resolve_action(&n.meta, sec, spec);
            let target = n.domain.as_ref().map(|d| (Cow::Borrowed(d.node.trim_matches('.')), d.loc));
            add("dns", "domain", target, false, &n.from_source, a, (false, false));
        }
    }
    if let Some(c) = &doc.spec.capabilities {
        let sec = &c.node.meta;
        for r in &c.node.match_capabilities {
            let n = &r.node;
            let a = resolve_action(&n.meta, sec, spec);
            let target = n.capability.as_ref().map(|c| {
                let lower = c.node.to_ascii_lowercase();
                (Cow::Owned(lower.strip_prefix("cap_").unwrap_or(&lower).to_string()), c.loc)
            });
            add("capabilities", "capability", target, false, &n.from_source, a, (false, false));
        }
    }
    out
}

fn source_text<'a>(s: &Option<Option<&'a Str>>) -> Option<&'a str> {
    s.as_ref().map(|p| p.map_or("", |p| p.node.as_str()))
}

/// L010: a policy whose spec holds no rule at all.
fn no_rules(sink: &mut DiagnosticSink, doc: &ast::Document) {
    let s = &doc.spec;
    let count = s
        .process
        .as_ref()
        .map_or(0, |p| p.node.match_paths.len() + p.node.match_directories.len() + p.node.match_patterns.len())
        + s.file
            .as_ref()
            .map_or(0, |f| f.node.match_paths.len() + f.node.match_directories.len() + f.node.match_patterns.len())
        + s.network.as_ref().map_or(0, |n| n.node.match_protocols.len() + n.node.match_dns_queries.len())
        + s.capabilities.as_ref().map_or(0, |c| c.node.match_capabilities.len())
        + s.syscalls.as_ref().map_or(0, |c| c.node.match_syscalls.len() + c.node.match_paths.len())
        + s.device.as_ref().map_or(0, |d| d.node.match_device.len())
        + s.presets.len()
        + usize::from(s.apparmor.as_ref().is_some_and(|a| !a.node.trim().is_empty()));
    if count == 0 {
        let d = sink.report(Code::L010, Some(doc.kind.loc), format!("{} has no rules", doc.kind.node.as_str()));
        d.label = Some("policy without rules".into());
        d.help = Some(
            "add process, file, network, capabilities, syscalls or presets rules; an empty policy does nothing".into(),
        );
    }
}

/// Values of a comma-expandable list as KubeArmor reads them: (item index, part, part span).
/// Returns `expanded = false` when only the first item decides and it has no comma.
fn comma_parts(values: &[Option<&Str>]) -> (bool, Vec<(usize, String, Span)>) {
    let expanded = values.first().copied().flatten().is_some_and(|v| v.node.contains(','));
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let Some(v) = v else { continue };
        if expanded {
            out.extend(v.node.split(',').map(|p| (i, p.replace(' ', ""), v.loc)));
        } else {
            out.push((i, v.node.clone(), v.loc));
        }
    }
    (expanded, out)
}

fn not_expanded(sink: &mut DiagnosticSink, what: &str, v: &Str) {
    let d = sink.report(
        Code::L014,
        Some(v.loc),
        format!(
            "{what} `{}` is not split on `,`: KubeArmor expands comma lists only when the first item has one",
            v.node
        ),
    );
    d.label = Some("used as one value".into());
    d.help = Some("write one item per value".into());
}

/// L001 (and L014, L021): protocol values that pass the CRD's unanchored pattern but are not protocols.
fn protocols(sink: &mut DiagnosticSink, doc: &ast::Document) {
    let Some(net) = &doc.spec.network else { return };
    let items = &net.node.match_protocols;
    let values: Vec<Option<&Str>> = items.iter().map(|r| r.node.protocol.as_ref()).collect();
    let (expanded, parts) = comma_parts(&values);
    for (i, part, span) in parts {
        let raw = values[i].expect("part of a value");
        if !patterns::protocol(&raw.node) {
            continue; // S005 already
        }
        if !expanded && part.contains(',') {
            not_expanded(sink, "protocol", raw);
            continue;
        }
        let lower = part.to_ascii_lowercase();
        let consistent_case = part == lower || part == part.to_ascii_uppercase();
        if ir::Protocol::parse(&lower).is_none() || !consistent_case {
            let d = sink.report(
                Code::L001,
                Some(span),
                format!("`{part}` is not a protocol; BPF-LSM treats it like `all`"),
            );
            d.label = Some("passes the CRD pattern, but is no protocol".into());
            d.help = Some(format!("use one of: {}", patterns::PROTOCOL_TOKENS.join(", ")));
        } else if lower == "all" && items[i].node.pts.as_ref().is_some_and(|p| !p.node) {
            let pts = items[i].node.pts.as_ref().expect("checked");
            let d = sink.report(
                Code::L021,
                Some(pts.loc),
                "`pts: false` is dropped when `protocol: all` is expanded into socket types".into(),
            );
            d.label = Some("only applies to the all-zero key".into());
            d.help = Some("list the protocols explicitly to keep `pts: false`".into());
        }
    }
}

/// L002 (and L014): capability values that pass the unanchored pattern but are not capability names.
fn capabilities(sink: &mut DiagnosticSink, doc: &ast::Document) {
    let Some(caps) = &doc.spec.capabilities else { return };
    let values: Vec<Option<&Str>> = caps.node.match_capabilities.iter().map(|r| r.node.capability.as_ref()).collect();
    let (expanded, parts) = comma_parts(&values);
    for (i, part, span) in parts {
        let raw = values[i].expect("part of a value");
        if !patterns::capability(&raw.node) {
            continue;
        }
        if !expanded && part.contains(',') {
            not_expanded(sink, "capability", raw);
            continue;
        }
        let lower = part.to_ascii_lowercase();
        if let Some(bare) = lower.strip_prefix("cap_") {
            if ir::capability_number(bare).is_some() {
                let d = sink.report(
                    Code::L002,
                    Some(span),
                    format!(
                        "`{part}` has a `cap_` prefix: BPF-LSM strips it, AppArmor emits it verbatim (invalid rule)"
                    ),
                );
                d.label = Some("prefixed capability".into());
                d.help = Some(format!("write `{bare}`"));
                continue;
            }
        }
        if lower != part || ir::capability_number(&lower).is_none() {
            let d = sink.report(
                Code::L002,
                Some(span),
                format!("`{part}` is not a capability name; BPF-LSM maps unknown names to CAP_CHOWN"),
            );
            d.label = Some("passes the CRD pattern, but is no capability".into());
            d.help = Some("use a lower-case name such as `net_raw` or `sys_admin`".into());
        }
    }
}

/// The part of a span on its first line: item spans can cover many lines.
fn first_line(text: &str, span: Span) -> Span {
    let line_end = text.get(span.start..span.end).and_then(|t| t.find('\n')).map_or(span.end, |i| span.start + i);
    Span::new(span.start, line_end.min(span.end))
}

/// Byte offset of a scalar's content inside the source (after an opening quote), when the
/// content is written literally.
fn content_start(text: &str, span: Span, value: &str) -> Option<usize> {
    let raw = text.get(span.start..span.end)?;
    if raw == value {
        return Some(span.start);
    }
    let quoted =
        (raw.starts_with('"') || raw.starts_with('\'')) && raw.get(1..raw.len().saturating_sub(1)) == Some(value);
    quoted.then_some(span.start + 1)
}

/// L003: `kubearmor.io/container.name` without `[...]` or with empty items.
fn container_names(sink: &mut DiagnosticSink, doc: &ast::Document) {
    let Some(sel) = &doc.spec.selector else { return };
    let Some(labels) = &sel.node.match_labels else { return };
    for (k, v) in &labels.node.entries {
        if k.node != CONTAINER_LABEL {
            continue;
        }
        let list = armorc_grammar::selector::parse(&v.node);
        if !list.bracketed {
            let selected: Vec<&str> = list.items.iter().map(|i| i.name.as_str()).collect();
            let d = sink.report(Code::L003, Some(v.loc), format!("`{}` is not a `[...]` list", v.node));
            d.label = Some(if selected.is_empty() {
                "selects every container".to_string()
            } else {
                format!(
                    "KubeArmor drops the first and last character: selects {}",
                    selected.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
                )
            });
            d.help = Some(format!("write `\"[{}]\"`", v.node.trim_matches(|c| c == '[' || c == ']')));
            continue;
        }
        let base = content_start(&sink.file.text, v.loc, &v.node);
        for off in list.empty_items {
            let span = base.map_or(v.loc, |b| Span::new(b + off, b + off + 1));
            let d = sink.report(Code::L003, Some(span), format!("empty item in container list `{}`", v.node));
            d.label = Some("empty item (skipped)".into());
            d.help = Some("remove the extra `,`".into());
        }
    }
}

/// L004, L012, L015: process.matchPaths items that BPF-LSM never matches as written.
fn process_paths(sink: &mut DiagnosticSink, doc: &ast::Document) {
    let Some(p) = &doc.spec.process else { return };
    for r in &p.node.match_paths {
        let n = &r.node;
        if n.path.is_none() && n.execname.is_none() {
            let d = sink.report(
                Code::L012,
                Some(first_line(&sink.file.text, r.loc)),
                "process.matchPaths item has neither `path` nor `execname`".into(),
            );
            d.label = Some("matches nothing (all-zero BPF key, invalid AppArmor line)".into());
            d.help = Some("add `path: /absolute/binary` or `execname: name`".into());
        }
        if let Some(e) = &n.execname {
            if let Some(src) = n.from_source.first() {
                let src_line = first_line(&sink.file.text, src.loc);
                let d = sink.report(
                    Code::L004,
                    Some(e.loc),
                    "`execname` with `fromSource` is written to the BPF map but never looked up".into(),
                );
                d.label = Some("never matched by BPF-LSM".into());
                d.help = Some("use `path:` with the absolute binary path when combining with fromSource".into());
                d.related.push((src_line, "fromSource here".into()));
            }
            if let Some(args) = &n.allowed_args {
                let d = sink.report(
                    Code::L015,
                    Some(args.loc),
                    "`allowedArgs` with `execname` never matches: the kernel keys arguments by full path".into(),
                );
                d.label = Some("never matched".into());
                d.help = Some("use `path:` instead of `execname:`".into());
                d.related.push((e.loc, "execname here".into()));
            }
        }
    }
}

/// L013: fromSource items without a path.
fn from_sources(sink: &mut DiagnosticSink, rules: &[RuleView]) {
    let mut seen = HashSet::new();
    for r in rules {
        if let (Some(None), Some(span)) = (&r.source, r.source_span) {
            if !seen.insert(span) {
                continue;
            }
            let d = sink.report(
                Code::L013,
                Some(first_line(&sink.file.text, span)),
                "fromSource item has no `path`".into(),
            );
            d.label = Some("global rule in BPF-LSM, dropped by AppArmor".into());
            d.help = Some("add `path: /absolute/binary`, or remove the item".into());
        }
    }
}

/// L005: paths the kernel can never match (truncated at 199 bytes; directory walk limited to
/// the first 64 bytes).
fn path_lengths(sink: &mut DiagnosticSink, rules: &[RuleView]) {
    let mut seen = HashSet::new();
    for r in rules.iter().filter(|r| matches!(r.kind, "path" | "dir")) {
        let len = r.target.len();
        // Only findings need de-duplicating (fromSource copies of one rule share its span; a
        // span always has the same text, so a skipped span could never have been reported).
        let long = len > 199 || (r.kind == "dir" && len > 64);
        if !long || !seen.insert(r.target_span) {
            continue;
        }
        if len > 199 {
            let d = sink.report(Code::L005, Some(r.target_span), format!("{} is {len} bytes; KubeArmor's BPF-LSM enforcer compares at most 199 bytes, so it never matches there (armorc's own map images match up to 1,024)", r.kind));
            d.label = Some("too long to match".into());
            d.help = Some("use a shorter path or a parent directory rule".into());
        } else if r.kind == "dir" && len > 64 {
            let d = sink.report(Code::L005, Some(r.target_span), format!("directory is {len} bytes; KubeArmor's BPF-LSM directory walk only looks at the first 64 bytes of a path (armorc's own map images have no such limit)"));
            d.label = Some("contents never matched by KubeArmor's BPF-LSM".into());
            d.help = Some("use a directory within the first 64 bytes, or list the files with matchPaths".into());
        }
    }
    for r in rules {
        if let (Some(Some(src)), Some(_)) = (&r.source, r.source_span) {
            if src.node.len() > 199 && seen.insert(src.loc) {
                let d = sink.report(
                    Code::L005,
                    Some(src.loc),
                    format!(
                        "fromSource path is {} bytes; KubeArmor's BPF-LSM enforcer compares at most 199 bytes",
                        src.node.len()
                    ),
                );
                d.label = Some("too long to match".into());
            }
        }
    }
}

/// L006: flags that have no effect where they are written.
fn flags(sink: &mut DiagnosticSink, doc: &ast::Document) {
    let pts_true = |sink: &mut DiagnosticSink, pts: &Option<Node<bool>>| {
        if let Some(p) = pts.as_ref().filter(|p| p.node) {
            let d = sink.report(
                Code::L006,
                Some(p.loc),
                "`pts: true` has no effect; only `pts: false` changes enforcement".into(),
            );
            d.label = Some("no effect".into());
            d.help = Some("remove it, or write `pts: false` to forbid access from a terminal".into());
        }
    };
    let spec = &doc.spec.meta;
    if let Some(p) = &doc.spec.process {
        for r in &p.node.match_paths {
            pts_true(sink, &r.node.pts);
        }
        for r in &p.node.match_directories {
            pts_true(sink, &r.node.pts);
            let allow = resolve_action(&r.node.meta, &p.node.meta, spec) == Action::Allow;
            if let Some(o) = r.node.owner_only.as_ref().filter(|o| o.node && allow) {
                let d = sink.report(
                    Code::L006,
                    Some(o.loc),
                    "`ownerOnly` on an Allow process directory is dropped by AppArmor (BPF-LSM enforces it)".into(),
                );
                d.label = Some("enforced differently".into());
                d.help = Some("list the binaries with matchPaths to keep ownerOnly under AppArmor".into());
            }
        }
    }
    if let Some(f) = &doc.spec.file {
        for r in &f.node.match_paths {
            pts_true(sink, &r.node.pts);
        }
        for r in &f.node.match_directories {
            pts_true(sink, &r.node.pts);
        }
    }
    if let Some(n) = &doc.spec.network {
        for r in &n.node.match_protocols {
            pts_true(sink, &r.node.pts);
        }
    }
    if let Some(s) = &doc.spec.syscalls {
        for r in &s.node.match_paths {
            let n = &r.node;
            if let (Some(rec), Some(path)) = (n.recursive.as_ref().filter(|r| r.node), &n.path) {
                if !path.node.ends_with('/') {
                    let d = sink.report(
                        Code::L006,
                        Some(rec.loc),
                        format!("`recursive` has no effect on the file path `{}`", path.node),
                    );
                    d.label = Some("no effect".into());
                    d.help = Some("recursive applies to directories (paths ending in `/`)".into());
                }
            }
        }
        for r in s.node.match_paths.iter().chain(&s.node.match_syscalls) {
            for src in &r.node.from_source {
                if let Some(rec) = src.node.recursive.as_ref().filter(|r| r.node && src.node.dir.is_none()) {
                    let d = sink.report(
                        Code::L006,
                        Some(rec.loc),
                        "`recursive` in fromSource has no effect without `dir`".into(),
                    );
                    d.label = Some("no effect".into());
                    d.help = Some("recursive applies to fromSource `dir`".into());
                }
            }
        }
    }
}

/// L007: matchPatterns are ignored by BPF-LSM (AppArmor only); one finding per list.
fn patterns_ignored(sink: &mut DiagnosticSink, doc: &ast::Document) {
    let lists = [
        ("process", doc.spec.process.as_ref().map(|p| &p.node.match_patterns)),
        ("file", doc.spec.file.as_ref().map(|f| &f.node.match_patterns)),
    ];
    for (section, list) in lists {
        let Some(first) = list.and_then(|l| l.first()) else { continue };
        let n = list.map_or(0, Vec::len);
        let span = first.node.pattern.as_ref().map_or(first.loc, |p| p.loc);
        let d = sink.report(
            Code::L007,
            Some(span),
            format!("{section}.matchPatterns ({n} item(s)) are ignored by BPF-LSM; only AppArmor enforces them"),
        );
        d.label = Some("not enforced on BPF-LSM nodes".into());
        d.help = Some("use matchPaths or matchDirectories where possible".into());
    }
}

/// L008 duplicate and L009 conflicting rules: same category, target and source in one policy.
fn duplicates<'a>(sink: &mut DiagnosticSink, rules: &'a [RuleView<'a>]) {
    type Key<'a> = (&'a str, &'a str, &'a str, bool, Option<&'a str>);
    let key = |r: &'a RuleView| -> Key<'a> { (r.category, r.kind, &*r.target, r.recursive, source_text(&r.source)) };
    // Policies are usually small: a linear scan beats hashing until the list gets long.
    let mut first_of: HashMap<Key, usize> = HashMap::new();
    for (i, r) in rules.iter().enumerate() {
        let first = if rules.len() <= 64 {
            &rules[rules[..i].iter().position(|o| key(o) == key(r)).unwrap_or(i)]
        } else {
            &rules[*first_of.entry(key(r)).or_insert(i)]
        };
        if std::ptr::eq(first, r) {
            continue;
        }
        let from = source_text(&r.source).map(|s| format!(" from `{s}`")).unwrap_or_default();
        if first.action == r.action {
            let d = sink.report(
                Code::L008,
                Some(r.target_span),
                format!("duplicate {} rule for `{}`{from}", r.category, r.target),
            );
            d.label = Some("same target and action as an earlier rule".into());
            d.help = Some(if first.flags != r.flags {
                "the flags differ: AppArmor keeps the first rule's flags, BPF-LSM the last; merge them".into()
            } else {
                "remove one of them".into()
            });
            d.related.push((first.target_span, "first rule".into()));
        } else {
            let d = sink.report(
                Code::L009,
                Some(r.target_span),
                format!(
                    "conflicting {} rules for `{}`{from}: {:?} here, {:?} earlier",
                    r.category, r.target, r.action, first.action
                ),
            );
            d.label = Some(format!("{:?}", r.action));
            d.help =
                Some("BPF-LSM keeps the last rule written, AppArmor applies deny over allow; keep one action".into());
            d.related.push((first.target_span, format!("{:?}", first.action)));
        }
    }
}

/// Whether `path` (a file path or directory) lies under directory `dir`.
fn under(dir: &str, recursive: bool, path: &str) -> bool {
    let Some(rest) = path.strip_prefix(dir) else { return false };
    if rest.is_empty() {
        return false;
    }
    recursive || !rest.trim_end_matches('/').contains('/')
}

/// L011: an Allow rule under a Block directory of the same policy where the LSMs disagree:
/// BPF-LSM looks exact paths up first and lets a deeper recursive directory replace a shallower
/// one, so it allows; AppArmor applies deny over allow, so it denies. (A non-recursive Allow
/// directory under a recursive Block one is denied by both.)
fn allow_under_block(sink: &mut DiagnosticSink, rules: &[RuleView]) {
    let disagree = |allow: &RuleView, block: &RuleView| match allow.kind {
        "path" => true,
        _ => allow.recursive && block.recursive,
    };
    let allows = |r: &&RuleView| r.action == Action::Allow && matches!(r.kind, "path" | "dir");
    if !rules.iter().any(|r| allows(&r)) {
        return; // most policies have no Allow rule: skip the index
    }
    // Block directories by (category, source, dir); each Allow looks up its ancestors only.
    let mut blocks: HashMap<(&str, Option<&str>, &str), Vec<&RuleView>> = HashMap::new();
    for b in rules.iter().filter(|r| r.action == Action::Block && r.kind == "dir") {
        blocks.entry((b.category, source_text(&b.source), &*b.target)).or_default().push(b);
    }
    if blocks.is_empty() {
        return;
    }
    for allow in rules.iter().filter(allows) {
        let ancestors = allow.target.trim_end_matches('/').match_indices('/').map(|(i, _)| &allow.target[..=i]);
        let block = ancestors
            .filter_map(|dir| blocks.get(&(allow.category, source_text(&allow.source), dir)))
            .flatten()
            .copied()
            .find(|b| under(&b.target, b.recursive, &allow.target) && disagree(allow, b));
        if let Some(b) = block {
            let d = sink.report(
                Code::L011,
                Some(allow.target_span),
                format!(
                    "Allow `{}` is inside the Block directory `{}`: BPF-LSM allows it, AppArmor denies it",
                    allow.target, b.target
                ),
            );
            d.label = Some("enforced differently by the two LSMs".into());
            d.help = Some("narrow the Block directory, or accept that AppArmor nodes deny this path".into());
            d.related.push((b.target_span, "Block directory".into()));
        }
    }
}

/// L014, L016, L020: DNS domains.
fn dns(sink: &mut DiagnosticSink, doc: &ast::Document) {
    let Some(net) = &doc.spec.network else { return };
    let values: Vec<Option<&Str>> = net.node.match_dns_queries.iter().map(|r| r.node.domain.as_ref()).collect();
    let (expanded, parts) = comma_parts(&values);
    for (i, part, span) in parts {
        let raw = values[i].expect("part of a value");
        if !expanded && part.contains(',') {
            not_expanded(sink, "domain", raw);
            continue;
        }
        let trimmed = part.trim_matches('.');
        if trimmed != part {
            let d = sink.report(
                Code::L020,
                Some(span),
                format!("leading or trailing dots of `{part}` are removed by KubeArmor"),
            );
            d.label = Some("matched as a different name".into());
            d.help = Some(format!("write `{trimmed}`"));
        } else if trimmed.chars().any(|c| c.is_ascii_uppercase()) {
            let d = sink.report(
                Code::L020,
                Some(span),
                format!("`{part}` has upper-case letters; BPF-LSM compares DNS names case-sensitively"),
            );
            d.label = Some("queries in lower case will not match".into());
            d.help = Some(format!("write `{}`", trimmed.to_ascii_lowercase()));
        } else if trimmed.len() > 63 {
            let d = sink.report(
                Code::L020,
                Some(span),
                format!("`{part}` is longer than the 63 characters BPF-LSM decodes from a query"),
            );
            d.label = Some("never matched".into());
        }
    }
}

/// L016: one-letter execnames or domains collide with the BPF-LSM posture keys `e`..`i`.
fn one_letter_keys(sink: &mut DiagnosticSink, doc: &ast::Document) {
    let check = |sink: &mut DiagnosticSink, s: &Str, what: &str| {
        if matches!(s.node.as_str(), "e" | "f" | "g" | "h" | "i") {
            let d = sink.report(
                Code::L016,
                Some(s.loc),
                format!("{what} `{}` has the same BPF-LSM map key as a default-posture marker", s.node),
            );
            d.label = Some("collides with a posture key".into());
            d.help = Some("use a full path instead".into());
        }
    };
    if let Some(p) = &doc.spec.process {
        for e in p.node.match_paths.iter().filter_map(|r| r.node.execname.as_ref()) {
            check(sink, e, "execname");
        }
    }
    if let Some(n) = &doc.spec.network {
        for d in n.node.match_dns_queries.iter().filter_map(|r| r.node.domain.as_ref()) {
            check(sink, d, "domain");
        }
    }
}

/// L017: host capability rules are not enforced by BPF-LSM.
fn host_capabilities(sink: &mut DiagnosticSink, doc: &ast::Document) {
    if doc.kind.node != PolicyKind::KubeArmorHostPolicy {
        return;
    }
    let Some(c) = &doc.spec.capabilities else { return };
    if c.node.match_capabilities.is_empty() {
        return;
    }
    let d = sink.report(
        Code::L017,
        Some(c.loc),
        "capabilities rules of a KubeArmorHostPolicy are not enforced by BPF-LSM".into(),
    );
    d.label = Some("AppArmor only".into());
    d.help = Some("on BPF-LSM hosts these rules only produce alerts".into());
}

/// L018: a NotIn expression after an In expression of the same key is ignored.
fn expressions(sink: &mut DiagnosticSink, doc: &ast::Document) {
    let Some(sel) = &doc.spec.selector else { return };
    let list = &sel.node.match_expressions;
    fn op(e: &Node<ast::MatchExpression>) -> Option<&str> {
        e.node.operator.as_ref().map(|o| o.node.as_str())
    }
    fn key(e: &Node<ast::MatchExpression>) -> Option<&str> {
        e.node.key.as_ref().map(|k| k.node.as_str())
    }
    let at = |x: &Node<ast::MatchExpression>| x.node.operator.as_ref().map_or(x.loc, |o| o.loc);
    // First In expression per key seen so far.
    let mut first_in: HashMap<Option<&str>, &Node<ast::MatchExpression>> = HashMap::new();
    for e in list {
        match op(e) {
            Some("In") => {
                first_in.entry(key(e)).or_insert(e);
            }
            Some("NotIn") => {
                if let Some(first) = first_in.get(&key(e)) {
                    let d = sink.report(
                        Code::L018,
                        Some(at(e)),
                        "`NotIn` after an `In` expression is ignored by KubeArmor".into(),
                    );
                    d.label = Some("ignored".into());
                    d.help = Some("put NotIn expressions before In expressions".into());
                    d.related.push((at(first), "In expression".into()));
                }
            }
            _ => {}
        }
    }
}

/// L019: a non-empty `apparmor` field hides every other rule of the policy from alert matching.
fn native_apparmor(sink: &mut DiagnosticSink, doc: &ast::Document) {
    let Some(a) = doc.spec.apparmor.as_ref().filter(|a| !a.node.trim().is_empty()) else { return };
    let s = &doc.spec;
    let other = s.process.is_some() || s.file.is_some() || s.network.is_some() || s.capabilities.is_some();
    if other {
        let d = sink.report(
            Code::L019,
            Some(a.loc),
            "with native `apparmor` rules, KubeArmor's alert matcher skips the policy's other rules".into(),
        );
        d.label = Some("other rules raise no policy alerts".into());
        d.help = Some("put native AppArmor rules in a policy of their own".into());
    }
}

/// L022: an action on a policy whose only rules are syscalls (monitor-only, always Audit).
fn syscall_only_action(sink: &mut DiagnosticSink, doc: &ast::Document) {
    let s = &doc.spec;
    let Some(action) = &s.meta.action else { return };
    let only_syscalls = s.syscalls.is_some()
        && s.process.is_none()
        && s.file.is_none()
        && s.network.is_none()
        && s.capabilities.is_none()
        && s.device.is_none()
        && s.presets.is_empty();
    if only_syscalls && action.node != Action::Audit {
        let d = sink.report(
            Code::L022,
            Some(action.loc),
            format!("syscall rules are monitor-only; `action: {:?}` has no effect", action.node),
        );
        d.label = Some("no effect".into());
        d.help = Some("syscall rules always raise Audit alerts; remove the action".into());
    }
}

const KNOWN_PRESETS: [&str; 5] = ["protectEnv", "filelessExec", "exec", "protectProc", "anonymousMapExec"];

/// L023: preset names KubeArmor does not know.
fn presets(sink: &mut DiagnosticSink, doc: &ast::Document) {
    for p in &doc.spec.presets {
        let Some(name) = &p.node.name else {
            let d = sink.report(Code::L023, Some(first_line(&sink.file.text, p.loc)), "preset without a `name`".into());
            d.label = Some("no name".into());
            d.help = Some(format!("known presets: {}", KNOWN_PRESETS.join(", ")));
            continue;
        };
        if !KNOWN_PRESETS.contains(&name.node.as_str()) {
            let d = sink.report(Code::L023, Some(name.loc), format!("unknown preset `{}`", name.node));
            d.label = Some("not a KubeArmor preset".into());
            d.help = Some(match crate::check::suggest::closest(&name.node, KNOWN_PRESETS) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known presets: {}", KNOWN_PRESETS.join(", ")),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::under;
    use crate::source::SourceFile;

    fn codes(spec: &str) -> Vec<String> {
        let text = format!(
            "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {{name: p}}\nspec:\n{spec}"
        );
        crate::check_source(SourceFile::new("t.yaml", text)).diagnostics.iter().map(|d| d.code.to_string()).collect()
    }

    #[test]
    fn duplicates_small_and_large_policies() {
        for n in [3, 100] {
            let mut spec = String::from("  file:\n    matchPaths:\n");
            for i in 0..n {
                spec.push_str(&format!("      - path: /f{i}\n"));
            }
            spec.push_str("      - path: /f1\n      - path: /f2\n        action: Allow\n      - path: /f1\n        fromSource: [{path: /bin/x}]\n");
            assert_eq!(codes(&spec), ["L008", "L009"], "{n} rules");
        }
    }

    #[test]
    fn allow_under_block_only_where_the_lsms_disagree() {
        let spec = |allow: &str| {
            format!("  file:\n    matchDirectories:\n      - dir: /etc/\n        recursive: true\n      - {allow}\n        action: Allow\n")
        };
        assert_eq!(codes(&spec("dir: /etc/ssl/\n        recursive: true")), ["L011"]);
        assert_eq!(codes(&spec("dir: /etc/ssl/")), Vec::<String>::new());
        let path = "  file:\n    matchDirectories:\n      - dir: /etc/\n    matchPaths:\n      - path: /etc/hosts\n        action: Allow\n      - path: /etc/a/b\n        action: Allow\n";
        assert_eq!(codes(path), ["L011"]);
    }

    #[test]
    fn large_policies_are_linted_in_linear_time() {
        let mut spec = String::from("  file:\n    matchDirectories:\n");
        for i in 0..5000 {
            spec.push_str(&format!("      - dir: /d{i}/\n        recursive: true\n"));
        }
        spec.push_str("    matchPaths:\n");
        for i in 0..5000 {
            spec.push_str(&format!("      - path: /d{i}/f\n        action: Allow\n"));
        }
        let found = codes(&spec);
        assert_eq!(found.len(), 5000);
        assert!(found.iter().all(|c| c == "L011"));
    }

    #[test]
    fn directory_containment() {
        assert!(under("/etc/", true, "/etc/a/b"));
        assert!(under("/etc/", false, "/etc/a"));
        assert!(under("/etc/", false, "/etc/a/"));
        assert!(!under("/etc/", false, "/etc/a/b"));
        assert!(!under("/etc/", true, "/etc/"));
        assert!(!under("/etc/", true, "/etcx/a"));
    }

    #[test]
    fn comma_lists_and_protocol_values() {
        assert_eq!(
            codes("  network:\n    matchProtocols:\n      - protocol: tcp,xudp\n      - protocol: udp\n"),
            ["L001"]
        );
        assert_eq!(
            codes("  network:\n    matchProtocols:\n      - protocol: TCP\n      - protocol: all\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            codes("  network:\n    matchDNSQueries:\n      - domain: a.com\n      - domain: b.com,c.com\n"),
            ["L014"]
        );
        assert_eq!(codes("  capabilities:\n    matchCapabilities:\n      - capability: xnet_raw\n"), ["L002"]);
        assert_eq!(codes("  capabilities:\n    matchCapabilities:\n      - capability: CAP_net_raw\n"), ["L002"]);
    }

    #[test]
    fn container_list_empty_items_point_inside_the_scalar() {
        let text = "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: p}\nspec:\n  selector:\n    matchLabels:\n      kubearmor.io/container.name: \"[a,,b]\"\n  file: {matchPaths: [{path: /x}]}\n";
        let c = crate::check_source(SourceFile::new("t.yaml", text));
        let d = &c.diagnostics[0];
        assert_eq!(d.code.to_string(), "L003");
        let span = d.span.unwrap();
        // The empty item sits between the two commas; the label points at the extra one.
        assert_eq!(&text[span.start - 4..span.end], "\"[a,,");
    }
}
