//! Template preconditions: a small boolean language over file-index tests (docs/templates.md).
//!
//! ```text
//! all(executable("/usr/bin/mysql"), any(file("/etc/mysql/my.cnf"), dir("/etc/mysql/conf.d")))
//! ```
//! Tests: `exists`, `file`, `dir`, `executable`; combinators `all`, `any`, `not`; constants
//! `true`/`false`; a bare string is `exists(..)`. Patterns are anchored absolute paths with globs:
//! `*` and `?` within one segment, `[a-z]`/`[!x]` classes, `**` as a whole segment (zero or more
//! segments), `{a,b}` alternatives (may contain `/`). Every node keeps its byte span.

use pest::Parser;
use std::fmt;

#[derive(pest_derive::Parser)]
#[grammar = "grammars/precondition.pest"]
struct PreconditionParser;

/// Byte range `[start, end)` in the precondition text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestKind {
    /// Any entry (after following symlinks).
    Exists,
    /// A regular file (after following symlinks).
    File,
    /// A directory (after following symlinks).
    Dir,
    /// A regular file with an execute bit (after following symlinks).
    Executable,
}

impl TestKind {
    pub fn name(self) -> &'static str {
        match self {
            TestKind::Exists => "exists",
            TestKind::File => "file",
            TestKind::Dir => "dir",
            TestKind::Executable => "executable",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    All(Vec<Expr>, Span),
    Any(Vec<Expr>, Span),
    Not(Box<Expr>, Span),
    Const(bool, Span),
    Test { kind: TestKind, pattern: Pattern, span: Span },
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::All(_, s) | Expr::Any(_, s) | Expr::Not(_, s) | Expr::Const(_, s) => *s,
            Expr::Test { span, .. } => *span,
        }
    }
}

/// Canonical text form (used in reports and for the legacy translation).
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, name: &str, items: &[Expr]| {
            write!(f, "{name}(")?;
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, ", ")?;
                }
                write!(f, "{e}")?;
            }
            write!(f, ")")
        };
        match self {
            Expr::All(v, _) => list(f, "all", v),
            Expr::Any(v, _) => list(f, "any", v),
            Expr::Not(e, _) => write!(f, "not({e})"),
            Expr::Const(b, _) => write!(f, "{b}"),
            Expr::Test { kind, pattern, .. } => write!(f, "{}({})", kind.name(), quote(&pattern.text)),
        }
    }
}

/// Double-quote a pattern for the precondition language.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// One glob token inside a path segment.
#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Char(char),
    Star,
    Question,
    /// `[...]`: (negated, ranges).
    Class(bool, Vec<(char, char)>),
}

#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Literal(String),
    Glob(Vec<Tok>),
    /// `**`: zero or more whole segments.
    AnyDepth,
}

/// An anchored absolute path pattern (after `{a,b}` expansion: one or more alternatives).
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    /// The pattern as written (escapes removed).
    pub text: String,
    alternatives: Vec<Vec<Segment>>,
}

/// Limit on `{a,b}` expansion so a hostile template cannot blow up matching.
const MAX_ALTERNATIVES: usize = 64;

impl Pattern {
    /// Parse one pattern; errors carry a byte offset range relative to `text`.
    pub fn parse(text: &str) -> Result<Pattern, (String, Span)> {
        let whole = Span { start: 0, end: text.len() };
        if !text.starts_with('/') && !text.starts_with('{') {
            return Err(("a pattern must be an absolute path starting with `/`".into(), whole));
        }
        let expanded = expand_braces(text)?;
        let mut alternatives = Vec::new();
        for alt in &expanded {
            alternatives.push(parse_alternative(alt).map_err(|m| (m, whole))?);
        }
        Ok(Pattern { text: text.to_string(), alternatives })
    }

    /// True when the pattern has no glob characters (each alternative is one exact path).
    pub fn is_literal(&self) -> bool {
        self.alternatives.iter().all(|a| a.iter().all(|s| matches!(s, Segment::Literal(_))))
    }

    /// The exact paths, when `is_literal()`.
    pub fn literal_paths(&self) -> Vec<String> {
        self.alternatives.iter().map(|a| join(a, a.len())).collect()
    }

    /// For each alternative: the longest literal directory prefix (`/` when none) and whether the
    /// whole alternative is literal. Used to walk the index below the prefix only.
    pub fn prefixes(&self) -> Vec<String> {
        self.alternatives
            .iter()
            .map(|a| {
                let n = a.iter().take_while(|s| matches!(s, Segment::Literal(_))).count();
                join(a, n)
            })
            .collect()
    }

    /// Does an absolute, normalized path match (anchored at both ends)?
    pub fn matches(&self, path: &str) -> bool {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.alternatives.iter().any(|a| match_segments(a, &segs))
    }

    /// Like `matches`, with the leading literal prefix of the alternative replaced by
    /// `resolved_prefix` (the prefix after following symlinks, e.g. `/sbin` -> `/usr/sbin`).
    pub fn matches_below(&self, alternative_prefix: &str, resolved_prefix: &str, path: &str) -> bool {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let base: Vec<&str> = resolved_prefix.split('/').filter(|s| !s.is_empty()).collect();
        if segs.len() < base.len() || segs[..base.len()] != base[..] {
            return false;
        }
        let rest = &segs[base.len()..];
        self.alternatives.iter().any(|a| {
            let n = a.iter().take_while(|s| matches!(s, Segment::Literal(_))).count();
            join(a, n) == alternative_prefix && match_segments(&a[n..], rest)
        })
    }
}

fn join(segs: &[Segment], n: usize) -> String {
    let mut out = String::new();
    for s in &segs[..n] {
        if let Segment::Literal(l) = s {
            out.push('/');
            out.push_str(l);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn expand_braces(text: &str) -> Result<Vec<String>, (String, Span)> {
    let Some(open) = text.find('{') else {
        if let Some(close) = text.find('}') {
            return Err(("`}` without a matching `{`".into(), Span { start: close, end: close + 1 }));
        }
        return Ok(vec![text.to_string()]);
    };
    let close = match text[open..].find('}') {
        Some(c) => open + c,
        None => return Err(("`{` is never closed".into(), Span { start: open, end: open + 1 })),
    };
    let inner = &text[open + 1..close];
    if inner.contains('{') {
        return Err(("nested `{` alternatives are not supported".into(), Span { start: open, end: close + 1 }));
    }
    if !inner.contains(',') {
        return Err((
            "`{...}` needs at least two alternatives separated by `,`".into(),
            Span { start: open, end: close + 1 },
        ));
    }
    let mut out = Vec::new();
    for choice in inner.split(',') {
        let candidate = format!("{}{}{}", &text[..open], choice, &text[close + 1..]);
        for e in expand_braces(&candidate).map_err(|(m, _)| (m, Span { start: open, end: close + 1 }))? {
            out.push(e);
            if out.len() > MAX_ALTERNATIVES {
                return Err((
                    format!("more than {MAX_ALTERNATIVES} alternatives after `{{}}` expansion"),
                    Span { start: open, end: close + 1 },
                ));
            }
        }
    }
    Ok(out)
}

fn parse_alternative(path: &str) -> Result<Vec<Segment>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("`{path}` is not an absolute path"));
    };
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let mut segs = Vec::new();
    for seg in rest.split('/') {
        match seg {
            "" => {
                return Err(format!(
                    "`{path}` has an empty path segment (`//` or a trailing `/`; use dir(..) for directories)"
                ))
            }
            "." | ".." => return Err(format!("`{path}` contains a `{seg}` segment; write the normalized path")),
            "**" => segs.push(Segment::AnyDepth),
            s if s.contains("**") => return Err(format!("`**` must be a whole path segment in `{path}`")),
            s if s.contains(['*', '?', '[', ']']) => segs.push(Segment::Glob(parse_glob(s, path)?)),
            s => segs.push(Segment::Literal(s.to_string())),
        }
    }
    Ok(segs)
}

fn parse_glob(seg: &str, path: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut chars = seg.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::Question),
            ']' => return Err(format!("`]` without `[` in `{path}`")),
            '[' => {
                let negated = matches!(chars.peek(), Some('!') | Some('^'));
                if negated {
                    chars.next();
                }
                let mut ranges = Vec::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    if c == ']' && !ranges.is_empty() {
                        closed = true;
                        break;
                    }
                    if chars.peek() == Some(&'-') {
                        chars.next();
                        match chars.next() {
                            Some(']') | None => return Err(format!("unterminated range in `{path}`")),
                            Some(hi) if hi < c => return Err(format!("empty range `{c}-{hi}` in `{path}`")),
                            Some(hi) => ranges.push((c, hi)),
                        }
                    } else {
                        ranges.push((c, c));
                    }
                }
                if !closed {
                    return Err(format!("`[` is never closed in `{path}`"));
                }
                toks.push(Tok::Class(negated, ranges));
            }
            c => toks.push(Tok::Char(c)),
        }
    }
    Ok(toks)
}

/// Wildcard matching without exponential backtracking: on a mismatch, resume just after the
/// last star, which then absorbs one more item (the classic two-pointer algorithm; correct because
/// a star matches any sequence). Used for `**` over segments and for `*` within a segment.
fn wildcard<P, T>(pat: &[P], items: &[T], is_star: impl Fn(&P) -> bool, one: impl Fn(&P, &T) -> bool) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    while i < items.len() {
        if p < pat.len() && is_star(&pat[p]) {
            resume = Some((p, i));
            p += 1;
        } else if p < pat.len() && one(&pat[p], &items[i]) {
            p += 1;
            i += 1;
        } else if let Some((sp, si)) = resume {
            p = sp + 1;
            i = si + 1;
            resume = Some((sp, si + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(is_star)
}

fn match_segments(pat: &[Segment], segs: &[&str]) -> bool {
    wildcard(
        pat,
        segs,
        |s| matches!(s, Segment::AnyDepth),
        |seg, s| match seg {
            Segment::Literal(l) => l == s,
            Segment::Glob(toks) => match_glob(toks, &s.chars().collect::<Vec<_>>()),
            Segment::AnyDepth => false,
        },
    )
}

fn match_glob(toks: &[Tok], s: &[char]) -> bool {
    wildcard(
        toks,
        s,
        |t| matches!(t, Tok::Star),
        |tok, c| match tok {
            Tok::Char(x) => x == c,
            Tok::Question => true,
            Tok::Class(neg, ranges) => ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *neg,
            Tok::Star => false,
        },
    )
}

/// A parse error: message and byte span in the precondition text.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    pub message: String,
    pub span: Span,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Parse a precondition expression.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let mut pairs = PreconditionParser::parse(Rule::precondition, text).map_err(|e| {
        let (start, end) = match e.location {
            pest::error::InputLocation::Pos(p) => (p, p),
            pest::error::InputLocation::Span((s, e)) => (s, e),
        };
        let message = match &e.variant {
            pest::error::ErrorVariant::ParsingError { positives, .. } if !positives.is_empty() => {
                let names: Vec<String> = positives.iter().map(|r| describe(*r)).collect();
                format!("expected {}", names.join(" or "))
            }
            _ => "syntax error".to_string(),
        };
        ParseError { message, span: Span { start, end } }
    })?;
    let top = pairs.next().expect("precondition rule");
    let expr = top.into_inner().next().expect("one expression");
    build(expr)
}

fn describe(rule: Rule) -> String {
    match rule {
        Rule::combinator | Rule::comb_name => "all(..)/any(..)/not(..)".into(),
        Rule::test | Rule::test_name => "a test (exists, file, dir, executable)".into(),
        Rule::string | Rule::chars => "a quoted path".into(),
        Rule::constant => "true/false".into(),
        Rule::EOI => "end of input".into(),
        r => format!("{r:?}"),
    }
}

fn span_of(p: &pest::iterators::Pair<'_, Rule>) -> Span {
    Span { start: p.as_span().start(), end: p.as_span().end() }
}

fn build(pair: pest::iterators::Pair<'_, Rule>) -> Result<Expr, ParseError> {
    let span = span_of(&pair);
    match pair.as_rule() {
        Rule::constant => Ok(Expr::Const(pair.as_str() == "true", span)),
        Rule::string => Ok(Expr::Test { kind: TestKind::Exists, pattern: pattern(pair)?, span }),
        Rule::test => {
            let mut inner = pair.into_inner();
            let kind = match inner.next().expect("test name").as_str() {
                "exists" => TestKind::Exists,
                "file" => TestKind::File,
                "dir" => TestKind::Dir,
                _ => TestKind::Executable,
            };
            Ok(Expr::Test { kind, pattern: pattern(inner.next().expect("string"))?, span })
        }
        Rule::combinator => {
            let mut inner = pair.into_inner();
            let name = inner.next().expect("combinator name").as_str().to_string();
            let args = inner.map(build).collect::<Result<Vec<_>, _>>()?;
            match name.as_str() {
                "not" if args.len() != 1 => {
                    Err(ParseError { message: format!("not(..) takes exactly one argument, got {}", args.len()), span })
                }
                "not" => Ok(Expr::Not(Box::new(args.into_iter().next().expect("one")), span)),
                _ if args.is_empty() => {
                    Err(ParseError { message: format!("{name}(..) needs at least one argument"), span })
                }
                "all" => Ok(Expr::All(args, span)),
                _ => Ok(Expr::Any(args, span)),
            }
        }
        r => unreachable!("unexpected rule {r:?}"),
    }
}

fn pattern(string: pest::iterators::Pair<'_, Rule>) -> Result<Pattern, ParseError> {
    let chars = string.into_inner().next().expect("chars");
    let base = chars.as_span().start();
    let raw = chars.as_str();
    // Unescape, remembering where each unescaped byte came from for error spans.
    let mut text = String::new();
    let mut origin = Vec::new();
    let mut it = raw.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let (c, at) = if c == '\\' { (it.next().map(|(_, c)| c).unwrap_or('\\'), i) } else { (c, i) };
        for _ in 0..c.len_utf8() {
            origin.push(base + at);
        }
        text.push(c);
    }
    origin.push(base + raw.len());
    Pattern::parse(&text).map_err(|(message, s)| ParseError {
        message,
        span: Span {
            start: origin[s.start.min(origin.len() - 1)],
            end: origin[s.end.min(origin.len() - 1)].max(origin[s.start.min(origin.len() - 1)]),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_expressions_with_spans() {
        let e = parse(r#"all(executable("/usr/bin/mysql"), not(dir("/etc/x")), "/a")"#).unwrap();
        assert_eq!(e.to_string(), r#"all(executable("/usr/bin/mysql"), not(dir("/etc/x")), exists("/a"))"#);
        let Expr::All(items, span) = &e else { panic!("{e:?}") };
        assert_eq!((span.start, items[1].span().start), (0, 34));
    }

    #[test]
    fn globs_are_anchored_and_segment_bound() {
        let p = Pattern::parse("/usr/bin/who").unwrap();
        assert!(p.matches("/usr/bin/who"));
        assert!(!p.matches("/usr/bin/whoami"));
        assert!(!p.matches("/opt/usr/bin/who"));
        let p = Pattern::parse("/usr/lib/python3*/site.py").unwrap();
        assert!(p.matches("/usr/lib/python3.11/site.py"));
        assert!(!p.matches("/usr/lib/python3.11/x/site.py"));
        let p = Pattern::parse("/usr/**/bin/node").unwrap();
        assert!(p.matches("/usr/bin/node"));
        assert!(p.matches("/usr/local/lib/x/bin/node"));
        let p = Pattern::parse("/{usr/,}bin/s[h]").unwrap();
        assert!(p.matches("/bin/sh") && p.matches("/usr/bin/sh") && !p.matches("/usr/local/bin/sh"));
        let p = Pattern::parse("/etc/*.conf").unwrap();
        assert!(p.matches("/etc/a.conf") && !p.matches("/etc/a/b.conf"));
        assert_eq!(p.prefixes(), vec!["/etc".to_string()]);
        let p = Pattern::parse("/bin/[!a-c]?").unwrap();
        assert!(p.matches("/bin/dd") && !p.matches("/bin/cp"));
    }

    #[test]
    fn errors_have_spans_and_reasons() {
        let src = r#"any(exists("/a"), bogus("/b"))"#;
        let e = parse(src).unwrap_err();
        assert_eq!(e.span.start, 18, "{e:?}");
        let e = parse(r#"file("relative/x")"#).unwrap_err();
        assert!(e.message.contains("absolute"), "{e:?}");
        assert_eq!(e.span.start, 6);
        let e = parse(r#"dir("/etc/x/")"#).unwrap_err();
        assert!(e.message.contains("empty path segment"), "{e:?}");
        assert!(parse(r#"file("/a/../b")"#).is_err());
        assert!(parse(r#"file("/a/b**")"#).is_err());
        assert!(parse(r#"file("/a/[b")"#).is_err());
        assert!(parse(r#"not(true, false)"#).unwrap_err().message.contains("exactly one"));
        assert!(parse(r#"all()"#).is_err());
        assert!(parse(r#"truex"#).is_err());
    }

    /// Arbitrary input never panics, and every error span lies inside the input.
    #[test]
    fn random_inputs_never_panic() {
        let alphabet: Vec<char> = "allnotanyexistsfiledirexecutable()\",/\\*?[]{}!^-ab .\n#é".chars().collect();
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..4_000 {
            let mut text = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            for candidate in [text.clone(), format!("file(\"/{text}\")"), format!("any(dir(\"/{text}\"))")] {
                if let Err(e) = parse(&candidate) {
                    assert!(e.span.start <= e.span.end && e.span.end <= candidate.len(), "{candidate:?}: {e:?}");
                }
            }
        }
    }

    /// Many stars against a long non-matching name stay fast (no exponential backtracking).
    #[test]
    fn stars_do_not_backtrack_exponentially() {
        let p = Pattern::parse(&format!("/{}b", "*a".repeat(30))).unwrap();
        assert!(!p.matches(&format!("/{}", "a".repeat(200))));
        assert!(p.matches(&format!("/{}b", "a".repeat(200))));
        let p = Pattern::parse(&format!("{}/z", "/**/a".repeat(20))).unwrap();
        assert!(!p.matches(&"/a".repeat(200)));
        assert!(p.matches(&format!("{}/z", "/a".repeat(30))));
    }

    #[test]
    fn literal_patterns_report_their_paths() {
        let p = Pattern::parse("/usr/{s,}bin/useradd").unwrap();
        assert!(p.is_literal());
        assert_eq!(p.literal_paths(), vec!["/usr/sbin/useradd", "/usr/bin/useradd"]);
    }
}
