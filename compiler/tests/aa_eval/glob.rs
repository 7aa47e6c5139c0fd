//! AppArmor path globs, written from apparmor.d(5) "Globbing": `*` (any characters except `/`),
//! `**` (any characters including `/`), `?` (one character except `/`), `[abc]`, `[a-c]`, `[^a]`,
//! `{a,b}` alternation (nestable), `\` escapes. A `*` or `**` that is a whole path component
//! (right after a `/` and followed by `/` or the end) must match at least one character, and
//! not `/`: `/dir/*` and `/dir/**` do not match `/dir/` itself (hence KubeArmor's `{,*}`
//! suffixes), while `/bin/*sh` matches `/bin/sh`.

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Lit(char),
    /// `*` (deep = false) or `**` (deep = true).
    Star {
        deep: bool,
        after_slash: bool,
    },
    One,
    Class {
        negate: bool,
        items: Vec<(char, char)>,
    },
    Alt(Vec<Vec<Tok>>),
}

#[derive(Clone, Debug)]
pub struct Glob {
    alternatives: Vec<Vec<Tok>>,
    /// No glob syntax at all: an exact rule (exact x rules dominate glob x rules).
    pub exact: bool,
}

impl Glob {
    pub fn parse(text: &str) -> Result<Glob, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut pos = 0;
        let toks = parse_seq(&chars, &mut pos, false)?;
        if pos != chars.len() {
            return Err(format!("unbalanced `}}` in {text:?}"));
        }
        let exact = toks.iter().all(|t| matches!(t, Tok::Lit(_)));
        Ok(Glob { alternatives: expand(&toks), exact })
    }

    /// The path an exact glob matches.
    pub fn literal(&self) -> Option<String> {
        if !self.exact {
            return None;
        }
        self.alternatives[0].iter().map(|t| if let Tok::Lit(c) = t { Some(*c) } else { None }).collect()
    }

    pub fn matches(&self, path: &str) -> bool {
        let p: Vec<char> = path.chars().collect();
        self.alternatives.iter().any(|alt| match_at(alt, &p))
    }
}

fn parse_seq(c: &[char], pos: &mut usize, in_alt: bool) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    while *pos < c.len() {
        let ch = c[*pos];
        match ch {
            '}' | ',' if in_alt => return Ok(out),
            '\\' => {
                let next = *c.get(*pos + 1).ok_or("trailing `\\`")?;
                out.push(Tok::Lit(next));
                *pos += 2;
            }
            '*' => {
                let after_slash = *pos > 0 && c[*pos - 1] == '/';
                let deep = c.get(*pos + 1) == Some(&'*');
                *pos += if deep { 2 } else { 1 };
                // Runs of more stars behave like `**`.
                while c.get(*pos) == Some(&'*') {
                    *pos += 1;
                }
                let component_end = matches!(c.get(*pos), None | Some('/'));
                out.push(Tok::Star { deep, after_slash: after_slash && component_end });
            }
            '?' => {
                out.push(Tok::One);
                *pos += 1;
            }
            '[' => {
                *pos += 1;
                let negate = c.get(*pos) == Some(&'^');
                if negate {
                    *pos += 1;
                }
                let mut items = Vec::new();
                loop {
                    let a = *c.get(*pos).ok_or("unterminated `[`")?;
                    if a == ']' && !items.is_empty() {
                        *pos += 1;
                        break;
                    }
                    let a = if a == '\\' {
                        *pos += 1;
                        *c.get(*pos).ok_or("unterminated `[`")?
                    } else {
                        a
                    };
                    if c.get(*pos + 1) == Some(&'-') && c.get(*pos + 2).is_some_and(|&b| b != ']') {
                        items.push((a, c[*pos + 2]));
                        *pos += 3;
                    } else {
                        items.push((a, a));
                        *pos += 1;
                    }
                }
                out.push(Tok::Class { negate, items });
            }
            '{' => {
                *pos += 1;
                let mut branches = Vec::new();
                loop {
                    branches.push(parse_seq(c, pos, true)?);
                    match c.get(*pos) {
                        Some(',') => *pos += 1,
                        Some('}') => {
                            *pos += 1;
                            break;
                        }
                        _ => return Err("unterminated `{`".into()),
                    }
                }
                out.push(Tok::Alt(branches));
            }
            _ => {
                out.push(Tok::Lit(ch));
                *pos += 1;
            }
        }
    }
    Ok(out)
}

/// Flatten alternations into plain token sequences.
fn expand(toks: &[Tok]) -> Vec<Vec<Tok>> {
    let mut acc: Vec<Vec<Tok>> = vec![vec![]];
    for t in toks {
        match t {
            Tok::Alt(branches) => {
                let mut next = Vec::new();
                for prefix in &acc {
                    for b in branches {
                        for tail in expand(b) {
                            let mut v = prefix.clone();
                            v.extend(tail);
                            next.push(v);
                        }
                    }
                }
                acc = next;
            }
            t => acc.iter_mut().for_each(|v| v.push(t.clone())),
        }
    }
    acc
}

fn match_at(toks: &[Tok], p: &[char]) -> bool {
    let Some((first, rest)) = toks.split_first() else { return p.is_empty() };
    match first {
        Tok::Lit(c) => p.first() == Some(c) && match_at(rest, &p[1..]),
        Tok::One => p.first().is_some_and(|&c| c != '/') && match_at(rest, &p[1..]),
        Tok::Class { negate, items } => {
            p.first().is_some_and(|&c| {
                let inside = items.iter().any(|&(a, b)| a <= c && c <= b);
                c != '/' && inside != *negate
            }) && match_at(rest, &p[1..])
        }
        Tok::Star { deep, after_slash } => {
            let min = usize::from(*after_slash);
            if *after_slash && p.first() == Some(&'/') {
                return false;
            }
            let mut n = 0;
            loop {
                if n >= min && match_at(rest, &p[n..]) {
                    return true;
                }
                if n == p.len() || (!deep && p[n] == '/') {
                    return false;
                }
                n += 1;
            }
        }
        Tok::Alt(_) => unreachable!("expanded"),
    }
}
