//! An order-preserving YAML tree for converting legacy policy files into our template form, and
//! a block-style emitter: strings always double-quoted (generated template bodies) or only where
//! YAML would misread them (rendered policies, as kubectl writes them).

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
    /// Text emitted verbatim (a handlebars expression in a generated template).
    Raw(String),
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match self {
            Node::Map(m) => m.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Insert or replace `key` in a map, keeping its position when it exists.
    pub fn set(&mut self, key: &str, value: Node) {
        if let Node::Map(m) = self {
            if let Some(slot) = m.iter_mut().find(|(k, _)| k == key) {
                slot.1 = value;
            } else {
                m.push((key.to_string(), value));
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Node> {
        if let Node::Map(m) = self {
            if let Some(i) = m.iter().position(|(k, _)| k == key) {
                return Some(m.remove(i).1);
            }
        }
        None
    }

    /// Block-style YAML text, two-space indentation, every string double-quoted (template bodies
    /// generated from legacy policies: a string can never be misread or carry markup).
    pub fn emit(&self) -> String {
        self.emit_with(Strings::Quoted)
    }

    /// Block-style YAML as kubectl writes it: strings plain unless YAML (1.1 or 1.2) would read
    /// them as something else, then double-quoted (rendered policies).
    pub fn emit_block(&self) -> String {
        self.emit_with(Strings::WhenNeeded)
    }

    fn emit_with(&self, strings: Strings) -> String {
        let mut out = String::new();
        match self {
            Node::Map(m) if !m.is_empty() => emit_map(m, 0, strings, &mut out),
            Node::Seq(s) if !s.is_empty() => emit_seq(s, 0, strings, &mut out),
            other => {
                out.push_str(&scalar(other, strings));
                out.push('\n');
            }
        }
        out
    }
}

/// How strings are written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Strings {
    Quoted,
    WhenNeeded,
}

fn scalar(n: &Node, strings: Strings) -> String {
    match n {
        Node::Null => "null".into(),
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        Node::Float(f) => serde_json::to_string(f).unwrap_or_else(|_| "null".into()),
        Node::Str(s) if strings == Strings::WhenNeeded && plain_is_safe(s) => s.clone(),
        Node::Str(s) => double_quoted(s),
        Node::Raw(r) => r.clone(),
        Node::Seq(_) => "[]".into(),
        Node::Map(_) => "{}".into(),
    }
}

/// Can `s` be written as a plain scalar and read back as the same string, by YAML 1.2 and 1.1
/// readers alike? Conservative: anything that could be a number, bool, null, indicator, comment,
/// mapping or escape is quoted.
fn plain_is_safe(s: &str) -> bool {
    const WORDS: [&str; 17] = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", "=", "<<", ".inf", ".nan", "-.inf", "+.inf",
        "",
    ];
    let Some(first) = s.chars().next() else { return false };
    !WORDS.contains(&s.to_ascii_lowercase().as_str())
        && !first.is_ascii_digit()
        && !"-?:,[]{}#&*!|>'\"%@`+.<= ".contains(first)
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.chars().any(|c| c.is_control() || !printable(c))
}

/// YAML's printable set (spec 5.1); anything else must be escaped inside double quotes.
fn printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && c != '\u{feff}'
}

/// A YAML double-quoted scalar: `"` and `\` escaped, every non-printable or control character as
/// `\xXX`/`\uXXXX`/`\UXXXXXXXX` (JSON's escaping misses DEL, C1 and BOM).
pub fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || !printable(c) => match c as u32 {
                n @ 0..=0xff => out.push_str(&format!("\\x{n:02x}")),
                n @ 0x100..=0xffff => out.push_str(&format!("\\u{n:04x}")),
                n => out.push_str(&format!("\\U{n:08x}")),
            },
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn emit_map(m: &[(String, Node)], indent: usize, strings: Strings, out: &mut String) {
    for (k, v) in m {
        out.push_str(&" ".repeat(indent));
        out.push_str(&key(k));
        out.push(':');
        match v {
            Node::Map(inner) if !inner.is_empty() => {
                out.push('\n');
                emit_map(inner, indent + 2, strings, out);
            }
            Node::Seq(items) if !items.is_empty() => {
                out.push('\n');
                emit_seq(items, indent + 2, strings, out);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other, strings));
                out.push('\n');
            }
        }
    }
}

fn emit_seq(items: &[Node], indent: usize, strings: Strings, out: &mut String) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            Node::Map(m) if !m.is_empty() => {
                // First pair on the dash line, the rest aligned under it.
                let mut first = String::new();
                emit_map(m, indent + 2, strings, &mut first);
                out.push(' ');
                out.push_str(first.trim_start_matches(' '));
            }
            Node::Seq(s) if !s.is_empty() => {
                out.push('\n');
                emit_seq(s, indent + 2, strings, out);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other, strings));
                out.push('\n');
            }
        }
    }
}

/// Keys follow the plain-scalar rule too (a bare `on:` or `yes:` key is a bool to YAML 1.1).
fn key(k: &str) -> String {
    if plain_is_safe(k) {
        k.to_string()
    } else {
        double_quoted(k)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Node, E> {
        i64::try_from(v).map(Node::Int).map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut v = Vec::new();
        while let Some(n) = a.next_element()? {
            v.push(n);
        }
        Ok(Node::Seq(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut v = Vec::new();
        while let Some((k, n)) = a.next_entry::<Node, Node>()? {
            let k = match k {
                Node::Str(s) => s,
                other => scalar(&other, Strings::Quoted),
            };
            v.push((k, n));
        }
        Ok(Node::Map(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_order_and_quotes_strings() {
        let text = "b: 1\na:\n  - x: \"y: z\"\n    w: true\n  - plain\nc: {}\n";
        let n: Node = serde_saphyr::from_str(text).unwrap();
        let out = n.emit();
        assert_eq!(out, "b: 1\na:\n  - x: \"y: z\"\n    w: true\n  - \"plain\"\nc: {}\n");
        let back: Node = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(back, n);
    }

    #[test]
    fn block_style_quotes_only_what_yaml_would_misread() {
        let s = |x: &str| Node::Str(x.into());
        let map = |pairs: Vec<(&str, Node)>| Node::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
        let odd = [
            "yes",
            "No",
            "on",
            "~",
            "null",
            "1.25",
            "0755",
            "+1",
            ".5",
            "a: b",
            "x #y",
            "",
            " x",
            "x:",
            "- x",
            "[x]",
            "{x}",
            "*x",
            "&x",
            "!x",
            "|x",
            ">x",
            "%x",
            "@x",
            "`x",
            "'x",
            "\"x",
            "x\ny",
            "x\u{7f}y",
            "x\u{85}y",
            "\u{feff}x",
        ];
        let n = map(vec![
            ("metadata", map(vec![("name", s("nginx-apt")), ("namespace", s("shop"))])),
            ("selector", map(vec![("matchLabels", map(vec![("kubearmor.io/container.name", s("[nginx]"))]))])),
            ("tags", Node::Seq(vec![s("MITRE"), s("PCI_DSS_2.2.4"), s("/etc/shadow-")])),
            ("severity", Node::Int(5)),
            ("on", Node::Bool(true)),
            ("odd", Node::Seq(odd.iter().map(|o| s(o)).collect())),
        ]);
        let text = n.emit_block();
        assert!(text.starts_with(
            "metadata:\n  name: nginx-apt\n  namespace: shop\nselector:\n  matchLabels:\n    kubearmor.io/container.name: \"[nginx]\"\ntags:\n  - MITRE\n  - PCI_DSS_2.2.4\n  - /etc/shadow-\nseverity: 5\n\"on\": true\nodd:\n"
        ), "{text}");
        assert_eq!(text.matches("  - \"").count(), odd.len(), "every odd string is quoted: {text}");
        let back: Node = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back, n);
    }
}
