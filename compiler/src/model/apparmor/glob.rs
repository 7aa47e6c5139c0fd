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

/// Alternatives a glob may expand to; more (nested `{,}` groups multiply) is refused rather than
/// expanded without bound.
pub const MAX_ALTERNATIVES: usize = 1024;

#[derive(Clone, Debug)]
pub struct Glob {
    alternatives: Vec<Vec<Tok>>,
    /// The literal text every alternative starts with: a path without it cannot match.
    prefix: String,
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
        let alternatives = expand(&toks)?;
        let prefix = common_literal_prefix(&alternatives);
        Ok(Glob { alternatives, prefix, exact })
    }

    /// The path an exact glob matches.
    pub fn literal(&self) -> Option<String> {
        if !self.exact {
            return None;
        }
        self.alternatives[0].iter().map(|t| if let Tok::Lit(c) = t { Some(*c) } else { None }).collect()
    }

    pub fn matches(&self, path: &str) -> bool {
        if !path.starts_with(&self.prefix) {
            return false;
        }
        let p: Vec<char> = path.chars().collect();
        self.alternatives.iter().any(|alt| match_nfa(alt, &p))
    }
}

fn common_literal_prefix(alternatives: &[Vec<Tok>]) -> String {
    let literal = |alt: &Vec<Tok>| -> Vec<char> {
        alt.iter().map_while(|t| if let Tok::Lit(c) = t { Some(*c) } else { None }).collect()
    };
    let mut iter = alternatives.iter();
    let Some(first) = iter.next() else { return String::new() };
    let mut prefix = literal(first);
    for alt in iter {
        let other = literal(alt);
        let same = prefix.iter().zip(&other).take_while(|(a, b)| a == b).count();
        prefix.truncate(same);
    }
    prefix.into_iter().collect()
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

/// Flatten alternations into plain token sequences (at most MAX_ALTERNATIVES).
fn expand(toks: &[Tok]) -> Result<Vec<Vec<Tok>>, String> {
    let mut acc: Vec<Vec<Tok>> = vec![vec![]];
    for t in toks {
        match t {
            Tok::Alt(branches) => {
                let mut next = Vec::new();
                for prefix in &acc {
                    for b in branches {
                        for tail in expand(b)? {
                            if next.len() >= MAX_ALTERNATIVES {
                                return Err(format!("more than {MAX_ALTERNATIVES} alternatives"));
                            }
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
    Ok(acc)
}

/// Whether `toks` (no alternation left) matches all of `p`: the tokens run as an NFA over the
/// path, one set of positions per character, so time is bounded by tokens x characters whatever
/// the stars (a backtracking matcher is exponential on `*a*a*a...`).
fn match_nfa(toks: &[Tok], p: &[char]) -> bool {
    // A whole-component star must match at least one character, and not `/`: the same as one
    // `?` followed by the star.
    let mut states: Vec<State> = Vec::with_capacity(toks.len() + 1);
    for t in toks {
        match t {
            Tok::Star { deep, after_slash } => {
                if *after_slash {
                    states.push(State::One);
                }
                states.push(State::Star(*deep));
            }
            Tok::Lit(c) => states.push(State::Lit(*c)),
            Tok::One => states.push(State::One),
            Tok::Class { negate, items } => states.push(State::Class(*negate, items)),
            Tok::Alt(_) => return false, // expanded before matching
        }
    }
    let n = states.len();
    let mut current = vec![false; n + 1];
    let mut next = vec![false; n + 1];
    current[0] = true;
    close(&states, &mut current);
    for &c in p {
        next.iter_mut().for_each(|s| *s = false);
        for i in 0..n {
            if !current[i] {
                continue;
            }
            match states[i] {
                State::Lit(l) if l == c => next[i + 1] = true,
                State::One if c != '/' => next[i + 1] = true,
                State::Class(negate, items) if c != '/' && items.iter().any(|&(a, b)| a <= c && c <= b) != negate => {
                    next[i + 1] = true
                }
                State::Star(deep) if deep || c != '/' => next[i] = true,
                _ => {}
            }
        }
        close(&states, &mut next);
        if !next.iter().any(|&s| s) {
            return false;
        }
        std::mem::swap(&mut current, &mut next);
    }
    current[n]
}

#[derive(Clone, Copy)]
enum State<'a> {
    Lit(char),
    One,
    Class(bool, &'a [(char, char)]),
    /// `*` (false) or `**` (true): zero or more characters.
    Star(bool),
}

/// A star may match nothing: reaching it also reaches the state after it.
fn close(states: &[State], set: &mut [bool]) {
    for i in 0..states.len() {
        if set[i] && matches!(states[i], State::Star(_)) {
            set[i + 1] = true;
        }
    }
}
