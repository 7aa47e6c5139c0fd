//! A spanned YAML tree built from `saphyr-parser` events, one document at a time.
//!
//! Why our own tree: we need byte spans on every key and value, duplicate keys as findings
//! (not silent overwrites), bounded alias expansion, a nesting cap (so dropping a tree can never
//! overflow the stack) and a document size limit. Scalars are resolved with the YAML 1.2 core
//! schema (plain `yes` is a string). `null`, `~` and empty values become `Value::Null`; the checker
//! treats them as absent, as the API server prunes them.

use crate::source::Span;
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, StrInput};
use std::collections::HashMap;

/// etcd's default object size limit; the API server refuses larger objects.
pub const MAX_DOCUMENT_BYTES: usize = 1536 * 1024;
/// Nesting cap. Policies need fewer than 10 levels; the cap keeps recursion in drops and walks safe.
pub const MAX_DEPTH: usize = 128;
/// Nodes an alias expansion may add to one document ("billion laughs" guard).
pub const MAX_ALIAS_NODES: usize = 100_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }
    /// The value of `key` in a mapping, if present and not null.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|e| e.key == key).map(|e| &e.value).filter(|v| !v.is_null())
    }
    /// `get` for taking values out of a tree that is about to be dropped.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.value {
            Value::Map(m) => m.iter_mut().find(|e| e.key == key).map(|e| &mut e.value).filter(|v| !v.is_null()),
            _ => None,
        }
    }
    /// A short name for the value's JSON type, as the API server would name it.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "array",
            Value::Map(_) => "object",
        }
    }
    fn count(&self) -> usize {
        1 + match &self.value {
            Value::Seq(s) => s.iter().map(Node::count).sum(),
            Value::Map(m) => m.iter().map(|e| 1 + e.value.count()).sum(),
            _ => 0,
        }
    }
}

/// A YAML-level finding inside a document (the document is still returned when possible).
#[derive(Clone, Debug, PartialEq)]
pub struct YamlIssue {
    pub kind: IssueKind,
    pub span: Span,
    pub message: String,
    /// For duplicate keys: where the key first appeared.
    pub related: Option<Span>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssueKind {
    /// Not valid YAML; parsing of the stream stops here.
    Syntax,
    DuplicateKey,
    TooLarge,
    TooDeep,
    AliasBudget,
    /// A mapping key that is not a scalar (cannot become a JSON object key).
    ComplexKey,
}

/// One document of the stream. `root` is `None` when the document was abandoned (too large,
/// too deep, alias bomb) or cut by a syntax error; the issue says why.
#[derive(Debug)]
pub struct Document {
    pub root: Option<Node>,
    pub span: Span,
    pub issues: Vec<YamlIssue>,
}

/// Converts saphyr's character indices into byte offsets. Events arrive almost in order, so a
/// cursor that walks from its last position is linear overall.
struct Offsets<'a> {
    text: &'a str,
    ascii: bool,
    char_pos: usize,
    byte_pos: usize,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Self {
        Offsets { text, ascii: text.is_ascii(), char_pos: 0, byte_pos: 0 }
    }
    #[inline]
    fn byte(&mut self, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(self.text.len());
        }
        if char_index < self.char_pos / 2 {
            self.char_pos = 0;
            self.byte_pos = 0;
        }
        let bytes = self.text.as_bytes();
        while self.char_pos < char_index && self.byte_pos < bytes.len() {
            self.byte_pos += utf8_width(bytes[self.byte_pos]);
            self.char_pos += 1;
        }
        while self.char_pos > char_index && self.byte_pos > 0 {
            self.byte_pos -= 1;
            while self.byte_pos > 0 && !self.text.is_char_boundary(self.byte_pos) {
                self.byte_pos -= 1;
            }
            self.char_pos -= 1;
        }
        self.byte_pos.min(bytes.len())
    }
    fn span(&mut self, s: saphyr_parser::Span) -> Span {
        let start = self.byte(s.start.index());
        let end = self.byte(s.end.index());
        Span::new(start, end)
    }
}

fn utf8_width(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// A collection being built.
enum Open {
    Seq {
        start: Span,
        anchor: usize,
        items: Vec<Node>,
    },
    /// `pending_key`: the key waiting for its value; `None` text = a collection used as a key,
    /// whose value is dropped.
    /// `index`: key -> position, built once a mapping is large (keeps duplicate checks linear).
    Map {
        start: Span,
        anchor: usize,
        entries: Vec<Entry>,
        pending_key: Option<(Option<String>, Span)>,
        index: Option<HashMap<String, usize>>,
    },
}

/// Reads documents from a stream one at a time.
pub struct Documents<'a> {
    parser: Parser<'a, StrInput<'a>>,
    offsets: Offsets<'a>,
    done: bool,
}

impl<'a> Documents<'a> {
    pub fn new(text: &'a str) -> Self {
        Documents { parser: Parser::new_from_str(text), offsets: Offsets::new(text), done: false }
    }

    fn syntax(&mut self, e: ScanError) -> YamlIssue {
        let at = self.offsets.byte(e.marker().index());
        YamlIssue {
            kind: IssueKind::Syntax,
            span: Span::new(at, at),
            message: format!("invalid YAML: {}", e.info()),
            related: None,
        }
    }

    /// Reads events until the next document starts; returns `None` at the end of the stream.
    fn next_document_start(&mut self) -> Option<Result<Span, YamlIssue>> {
        loop {
            match self.parser.next_event()? {
                Err(e) => return Some(Err(self.syntax(e))),
                Ok((Event::DocumentStart(_), span)) => return Some(Ok(self.offsets.span(span))),
                Ok((Event::StreamEnd, _)) => return None,
                Ok(_) => {}
            }
        }
    }

    fn read_document(&mut self, start: Span) -> Document {
        let mut b = Builder::default();
        let mut doc_end = start.end;
        loop {
            let (event, raw_span) = match self.parser.next_event() {
                None => break,
                Some(Err(e)) => {
                    let issue = self.syntax(e);
                    self.done = true;
                    b.issues.push(issue);
                    return Document { root: None, span: Span::new(start.start, doc_end), issues: b.issues };
                }
                Some(Ok(ev)) => ev,
            };
            let span = self.offsets.span(raw_span);
            doc_end = doc_end.max(span.end);
            if matches!(event, Event::DocumentEnd) {
                break;
            }
            if matches!(event, Event::StreamEnd) {
                self.done = true;
                break;
            }
            if b.abandoned {
                continue;
            }
            if span.end.saturating_sub(start.start) > MAX_DOCUMENT_BYTES {
                b.abandon(
                    IssueKind::TooLarge,
                    Span::new(start.start, start.start),
                    format!(
                        "document is larger than {} bytes (etcd's default object size limit of 1.5 MiB)",
                        MAX_DOCUMENT_BYTES
                    ),
                );
                continue;
            }
            b.event(event, span);
        }
        let root = if b.abandoned { None } else { b.root.take() };
        Document { root, span: Span::new(start.start, doc_end), issues: b.issues }
    }
}

impl Iterator for Documents<'_> {
    type Item = Document;
    fn next(&mut self) -> Option<Document> {
        if self.done {
            return None;
        }
        match self.next_document_start() {
            None => {
                self.done = true;
                None
            }
            Some(Err(issue)) => {
                self.done = true;
                Some(Document { root: None, span: issue.span, issues: vec![issue] })
            }
            Some(Ok(start)) => Some(self.read_document(start)),
        }
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    root: Option<Node>,
    anchors: HashMap<usize, (Node, usize)>,
    alias_nodes: usize,
    issues: Vec<YamlIssue>,
    abandoned: bool,
}

impl Builder {
    fn abandon(&mut self, kind: IssueKind, span: Span, message: String) {
        self.issues.push(YamlIssue { kind, span, message, related: None });
        self.abandoned = true;
        // Drop what was built so far now; depth is capped so this cannot recurse too far.
        self.stack.clear();
        self.anchors.clear();
        self.root = None;
    }

    fn event(&mut self, event: Event<'_>, span: Span) {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.as_ref().map(|t| t.suffix.clone());
                let is_key = matches!(self.stack.last(), Some(Open::Map { pending_key: None, .. }));
                if is_key && anchor == 0 {
                    // Keys keep their text whatever the scalar type, as JSON conversion does.
                    if let Some(Open::Map { pending_key, .. }) = self.stack.last_mut() {
                        *pending_key = Some((Some(text.into_owned()), span));
                    }
                    return;
                }
                let node = Node { span, value: resolve_scalar(text, style, tag.as_deref()) };
                if anchor > 0 {
                    self.anchors.insert(anchor, (node.clone(), 1));
                }
                if is_key {
                    let key = match &node.value {
                        Value::Str(s) => s.clone(),
                        _ => self_text(&node),
                    };
                    if let Some(Open::Map { pending_key, .. }) = self.stack.last_mut() {
                        *pending_key = Some((Some(key), span));
                    }
                    return;
                }
                self.push(node);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.abandon(IssueKind::TooDeep, span, format!("nesting deeper than {MAX_DEPTH} levels"));
                    return;
                }
                if matches!(event, Event::SequenceStart(..)) {
                    self.stack.push(Open::Seq { start: span, anchor, items: Vec::new() });
                } else {
                    self.stack.push(Open::Map {
                        start: span,
                        anchor,
                        entries: Vec::new(),
                        pending_key: None,
                        index: None,
                    });
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = self.stack.pop() else { return };
                // Flow collections end at their `]`/`}`; block ones at their last item.
                let close = if span.is_empty() { 0 } else { span.end };
                let (node, anchor) = match open {
                    Open::Seq { start, anchor, items } => {
                        let end = items.last().map_or(start.end, |n| n.span.end).max(start.end).max(close);
                        (Node { span: Span::new(start.start, end), value: Value::Seq(items) }, anchor)
                    }
                    Open::Map { start, anchor, entries, .. } => {
                        let end = entries.last().map_or(start.end, |e| e.value.span.end).max(start.end).max(close);
                        (Node { span: Span::new(start.start, end), value: Value::Map(merge_keys(entries)) }, anchor)
                    }
                };
                if anchor > 0 {
                    let count = node.count();
                    self.anchors.insert(anchor, (node.clone(), count));
                }
                self.push(node);
            }
            Event::Alias(id) => {
                let Some((node, count)) = self.anchors.get(&id) else {
                    self.abandon(IssueKind::AliasBudget, span, "alias refers to an unknown anchor".into());
                    return;
                };
                self.alias_nodes += count;
                if self.alias_nodes > MAX_ALIAS_NODES {
                    self.abandon(
                        IssueKind::AliasBudget,
                        span,
                        format!("aliases expand to more than {MAX_ALIAS_NODES} nodes (alias bomb?)"),
                    );
                    return;
                }
                let mut node = node.clone();
                node.span = span;
                if let (Some(Open::Map { pending_key: p @ None, .. }), Value::Str(text)) =
                    (self.stack.last_mut(), &node.value)
                {
                    *p = Some((Some(text.clone()), span));
                    return;
                }
                self.push(node);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::DocumentEnd => {}
        }
    }

    fn push(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq { items, .. }) => items.push(node),
            Some(Open::Map { entries, pending_key, index, .. }) => match pending_key.take() {
                None => {
                    // A completed collection in key position: JSON has no such keys.
                    self.issues.push(YamlIssue {
                        kind: IssueKind::ComplexKey,
                        span: node.span,
                        message: "mapping key is a collection; keys must be scalars".into(),
                        related: None,
                    });
                    *pending_key = Some((None, node.span));
                }
                Some((None, _)) => {}
                Some((Some(key), key_span)) => {
                    let existing = match index {
                        Some(ix) => ix.get(&key).copied(),
                        None => entries.iter().position(|e| e.key == key),
                    };
                    if let Some(first) = existing {
                        self.issues.push(YamlIssue {
                            kind: IssueKind::DuplicateKey,
                            span: key_span,
                            message: format!("duplicate key `{key}`"),
                            related: Some(entries[first].key_span),
                        });
                        // Keep the first value: later checks then see one consistent object.
                        return;
                    }
                    match index {
                        Some(ix) => {
                            ix.insert(key.clone(), entries.len());
                        }
                        None if entries.len() >= 16 => {
                            let mut ix: HashMap<String, usize> =
                                entries.iter().enumerate().map(|(i, e)| (e.key.clone(), i)).collect();
                            ix.insert(key.clone(), entries.len());
                            *index = Some(ix);
                        }
                        None => {}
                    }
                    entries.push(Entry { key, key_span, value: node });
                }
            },
        }
    }
}

/// YAML 1.2 core schema resolution. Quoted and block scalars are always strings.
/// YAML merge keys (`<<: *base` or `<<: [*a, *b]`), which kubectl's YAML reader applies: explicit
/// keys win, then the merged mappings in order. A `<<` whose value is not mappings stays a key.
fn merge_keys(entries: Vec<Entry>) -> Vec<Entry> {
    let mergeable = |n: &Node| match &n.value {
        Value::Map(_) => true,
        Value::Seq(items) => items.iter().all(|i| matches!(i.value, Value::Map(_))),
        _ => false,
    };
    if !entries.iter().any(|e| e.key == "<<" && mergeable(&e.value)) {
        return entries;
    }
    let (merges, mut out): (Vec<Entry>, Vec<Entry>) =
        entries.into_iter().partition(|e| e.key == "<<" && mergeable(&e.value));
    let mut seen: std::collections::HashSet<String> = out.iter().map(|e| e.key.clone()).collect();
    for merge in merges {
        let maps = match merge.value.value {
            Value::Map(m) => vec![m],
            Value::Seq(items) => items
                .into_iter()
                .filter_map(|i| match i.value {
                    Value::Map(m) => Some(m),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        for entry in maps.into_iter().flatten() {
            if seen.insert(entry.key.clone()) {
                out.push(entry);
            }
        }
    }
    out
}

/// The text of an anchored scalar used as a key (rare: `&k 1: v`).
fn self_text(node: &Node) -> String {
    match &node.value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Str(s) => s.clone(),
        Value::Seq(_) | Value::Map(_) => String::new(),
    }
}

fn resolve_scalar(text: std::borrow::Cow<'_, str>, style: ScalarStyle, tag: Option<&str>) -> Value {
    match tag {
        Some("str") => return Value::Str(text.into_owned()),
        Some("null") => return Value::Null,
        _ => {}
    }
    if style != ScalarStyle::Plain && tag.is_none() {
        return Value::Str(text.into_owned());
    }
    match &*text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(v) = parse_int(&text) {
        return v;
    }
    if is_float(&text) {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(text.into_owned())
}

fn parse_int(text: &str) -> Option<Value> {
    let (digits, radix) = if let Some(h) = text.strip_prefix("0x") {
        (h, 16)
    } else if let Some(o) = text.strip_prefix("0o") {
        (o, 8)
    } else {
        let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
        if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return Some(match text.parse::<i64>() {
            Ok(i) => Value::Int(i),
            // Too big for i64: still a number, never a string.
            Err(_) => Value::Float(text.parse::<f64>().unwrap_or(f64::INFINITY)),
        });
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some(match i64::from_str_radix(digits, radix) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::Float(f64::INFINITY),
    })
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_float(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - s;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str) -> Vec<Document> {
        Documents::new(text).collect()
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let text = "a: 1\nb:\n  - 'x'\n  - y\n";
        let d = docs(text);
        assert_eq!(d.len(), 1);
        let root = d[0].root.as_ref().unwrap();
        let m = root.as_map().unwrap();
        assert_eq!(&text[m[0].key_span.start..m[0].key_span.end], "a");
        assert_eq!(m[0].value.value, Value::Int(1));
        let seq = m[1].value.as_seq().unwrap();
        assert_eq!(&text[seq[1].span.start..seq[1].span.end], "y");
        assert_eq!(seq[0].as_str(), Some("x"));
        assert_eq!(&text[seq[0].span.start..seq[0].span.end], "'x'");
        let d = docs("f: [1, 2]\ng: {a: b}\n");
        let r = d[0].root.as_ref().unwrap();
        let f = r.get("f").unwrap().span;
        assert_eq!(&"f: [1, 2]"[f.start..f.end], "[1, 2]");
    }

    #[test]
    fn core_schema_scalars() {
        let d = docs("a: yes\nb: true\nc: ~\nd:\ne: 0x1f\nf: 1.5\ng: '3'\nh: -7\n");
        let r = d[0].root.as_ref().unwrap();
        assert_eq!(r.get("a").unwrap().value, Value::Str("yes".into()));
        assert_eq!(r.get("b").unwrap().value, Value::Bool(true));
        assert!(r.get("c").is_none());
        assert!(r.get("d").is_none());
        assert_eq!(r.get("e").unwrap().value, Value::Int(31));
        assert_eq!(r.get("f").unwrap().value, Value::Float(1.5));
        assert_eq!(r.get("g").unwrap().value, Value::Str("3".into()));
        assert_eq!(r.get("h").unwrap().value, Value::Int(-7));
    }

    #[test]
    fn duplicate_keys_are_reported() {
        let d = docs("a: 1\nb: 2\na: 3\n");
        assert_eq!(d[0].issues.len(), 1);
        assert_eq!(d[0].issues[0].kind, IssueKind::DuplicateKey);
        assert_eq!(d[0].issues[0].span, Span::new(10, 11));
        assert_eq!(d[0].root.as_ref().unwrap().get("a").unwrap().value, Value::Int(1));
    }

    #[test]
    fn duplicate_checks_stay_linear_in_large_mappings() {
        let mut text = String::new();
        for i in 0..120_000 {
            text.push_str(&format!("k{}: 1\n", i % 60_000));
        }
        let d = docs(&text);
        assert_eq!(d[0].issues.len(), 60_000);
        let second_k0 = text.match_indices("k0: 1\n").nth(1).unwrap().0;
        assert_eq!(d[0].issues[0].span.start, second_k0);
        assert_eq!(d[0].root.as_ref().unwrap().as_map().unwrap().len(), 60_000);
    }

    #[test]
    fn multi_document_streams() {
        let d = docs("a: 1\n---\nb: 2\n...\n---\nc: 3\n");
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn non_ascii_offsets_are_bytes() {
        let text = "é: ü\nk: v\n";
        let d = docs(text);
        let m = d[0].root.as_ref().unwrap().as_map().unwrap().to_vec();
        assert_eq!(&text[m[1].key_span.start..m[1].key_span.end], "k");
        assert_eq!(&text[m[0].value.span.start..m[0].value.span.end], "ü");
    }

    #[test]
    fn deep_nesting_is_capped() {
        let mut text = String::new();
        for _ in 0..10_000 {
            text.push('[');
        }
        for _ in 0..10_000 {
            text.push(']');
        }
        let d = docs(&text);
        assert!(d[0].issues.iter().any(|i| i.kind == IssueKind::TooDeep || i.kind == IssueKind::Syntax));
        let mut block = String::new();
        for i in 0..10_000 {
            block.push_str(&" ".repeat(i));
            block.push_str("- \n");
        }
        let d = docs(&block);
        assert!(d[0].issues.iter().any(|i| i.kind == IssueKind::TooDeep || i.kind == IssueKind::Syntax));
    }

    #[test]
    fn alias_bombs_are_stopped() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
        let mut prev = "a";
        for n in names {
            text.push_str(&format!("{n}: &{n} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = n;
        }
        let d = docs(&text);
        assert!(d[0].root.is_none());
        assert_eq!(d[0].issues[0].kind, IssueKind::AliasBudget);
    }

    #[test]
    fn collection_keys_are_reported_and_dropped() {
        let d = docs("a: 1\n? [x, y]\n: 2\nb: 3\n");
        assert_eq!(d[0].issues.len(), 1);
        assert_eq!(d[0].issues[0].kind, IssueKind::ComplexKey);
        let r = d[0].root.as_ref().unwrap();
        assert_eq!(r.as_map().unwrap().len(), 2);
        assert_eq!(r.get("b").unwrap().value, Value::Int(3));
    }

    #[test]
    fn merge_keys_are_applied() {
        let d = docs("base: &b {action: Block, severity: 3}\nrule:\n  <<: *b\n  severity: 5\n  path: /x\n");
        let rule = d[0].root.as_ref().unwrap().get("rule").unwrap().clone();
        assert!(d[0].issues.is_empty());
        assert_eq!(rule.get("severity").unwrap().value, Value::Int(5));
        assert_eq!(rule.get("action").unwrap().as_str(), Some("Block"));
        assert!(rule.get("<<").is_none());
        let d = docs("a: {<<: 5}\n");
        assert!(d[0].root.as_ref().unwrap().get("a").unwrap().get("<<").is_some());
    }

    #[test]
    fn syntax_errors_have_positions() {
        let d = docs("a: 1\nb: [1, 2\n");
        let last = d.last().unwrap();
        assert_eq!(last.issues[0].kind, IssueKind::Syntax);
    }
}
