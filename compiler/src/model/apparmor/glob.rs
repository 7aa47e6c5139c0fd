//! AppArmor path globs, written from apparmor.d(5) "Globbing": `*` (any characters except `/`),
//! `**` (any characters including `/`), `?` (one character except `/`), `[abc]`, `[a-c]`, `[^a]`,
//! `{a,b}` alternation (nestable), `\` escapes. A `*` or `**` that is a whole path component
//! (right after a `/` and followed by `/` or the end) must match at least one character, and
//! not `/`: `/dir/*` and `/dir/**` do not match `/dir/` itself (hence KubeArmor's `{,*}`
//! suffixes), while `/bin/*sh` matches `/bin/sh`. A class matches `/` when it lists it, and a
//! negated class when it does not. Shared with the loader (runtime::apparmor maps kernel-log paths
//! to profile lines with it).

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
    /// Each alternative compiled to NFA states (alternation expanded), with its longest literal
    /// run: a path without that text cannot match the alternative.
    alternatives: Vec<(Vec<State>, String)>,
    /// The literal text every alternative starts with: a path without it cannot match.
    prefix: String,
    /// The literal text every alternative ends with.
    suffix: String,
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
        if exact {
            // Compared as text: no states to build (most profile lines are exact paths).
            let literal: String = toks.iter().map(|t| if let Tok::Lit(c) = t { *c } else { '\0' }).collect();
            return Ok(Glob { alternatives: Vec::new(), prefix: literal.clone(), suffix: literal, exact });
        }
        let expanded = expand(&toks)?;
        let prefix = common_literal_prefix(&expanded);
        let reversed: Vec<Vec<Tok>> = expanded.iter().map(|alt| alt.iter().rev().cloned().collect()).collect();
        let suffix = common_literal_prefix(&reversed).chars().rev().collect();
        let alternatives = expanded.iter().map(|alt| (compile(alt), longest_literal(alt))).collect();
        Ok(Glob { alternatives, prefix, suffix, exact })
    }

    /// The path an exact glob matches.
    pub fn literal(&self) -> Option<String> {
        self.literal_str().map(str::to_string)
    }

    /// `literal`, borrowed.
    pub fn literal_str(&self) -> Option<&str> {
        self.exact.then_some(self.prefix.as_str())
    }

    pub fn matches(&self, path: &str) -> bool {
        if self.exact {
            return path == self.prefix;
        }
        self.could_match(path)
            && self
                .alternatives
                .iter()
                .any(|(states, needle)| path.contains(needle.as_str()) && match_nfa(states, path))
    }

    /// The literal run every match contains, for a glob with one alternative (`/apk` in
    /// `/**/apk*`).
    pub fn needle(&self) -> Option<&str> {
        match self.alternatives.as_slice() {
            [(_, needle)] => Some(needle),
            _ => None,
        }
    }

    /// The literal text every path it matches starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A cheap test: false means the glob cannot match `path` (it lacks the literal prefix or
    /// suffix every alternative has, or the longest literal run of each alternative); true means
    /// it may. Profiles' `/**/name*` lines meet every path: the run (`/name`) rules most out.
    pub fn could_match(&self, path: &str) -> bool {
        path.starts_with(&self.prefix)
            && path.ends_with(&self.suffix)
            && (self.exact || self.alternatives.iter().any(|(_, needle)| path.contains(needle.as_str())))
    }
}

fn longest_literal(alt: &[Tok]) -> String {
    let (mut best, mut run) = (String::new(), String::new());
    for t in alt {
        match t {
            Tok::Lit(c) => run.push(*c),
            _ => {
                if run.len() > best.len() {
                    best = std::mem::take(&mut run);
                }
                run.clear();
            }
        }
    }
    if run.len() > best.len() {
        best = run;
    }
    best
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

/// One NFA state: what the next character must be.
#[derive(Clone, Debug)]
enum State {
    Lit(char),
    /// Any character but `/`.
    One,
    Class(bool, Vec<(char, char)>),
    /// `*` (false) or `**` (true): zero or more characters.
    Star(bool),
}

/// Tokens (no alternation left) as NFA states. A whole-component star must match at least one
/// character, and not `/`: the same as one `?` followed by the star.
fn compile(toks: &[Tok]) -> Vec<State> {
    let mut states = Vec::with_capacity(toks.len() + 1);
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
            Tok::Class { negate, items } => states.push(State::Class(*negate, items.clone())),
            // Expanded before compiling; an alternation left here could match nothing.
            Tok::Alt(_) => states.push(State::Class(false, Vec::new())),
        }
    }
    states
}

/// Whether the states match all of `path`: one set of live states per character, so time is
/// bounded by states x characters whatever the stars (a backtracking matcher is exponential on
/// `*a*a*a...`). Sets of up to 127 states are a bit mask, longer ones a vector.
fn match_nfa(states: &[State], path: &str) -> bool {
    let n = states.len();
    if n < 128 {
        let mut current: u128 = close(states, 1);
        for c in path.chars() {
            let mut next: u128 = 0;
            let mut live = current;
            while live != 0 {
                let i = live.trailing_zeros() as usize;
                live &= live - 1;
                if i < n {
                    match step(&states[i], c) {
                        Step::Advance => next |= 1 << (i + 1),
                        Step::Stay => next |= 1 << i,
                        Step::Dead => {}
                    }
                }
            }
            current = close(states, next);
            if current == 0 {
                return false;
            }
        }
        return current & (1 << n) != 0;
    }
    let mut current = vec![false; n + 1];
    current[0] = true;
    close_vec(states, &mut current);
    for c in path.chars() {
        let mut next = vec![false; n + 1];
        for i in (0..n).filter(|&i| current[i]) {
            match step(&states[i], c) {
                Step::Advance => next[i + 1] = true,
                Step::Stay => next[i] = true,
                Step::Dead => {}
            }
        }
        close_vec(states, &mut next);
        if !next.iter().any(|&s| s) {
            return false;
        }
        current = next;
    }
    current[n]
}

enum Step {
    Advance,
    Stay,
    Dead,
}

fn step(state: &State, c: char) -> Step {
    match state {
        State::Lit(l) if *l == c => Step::Advance,
        State::One if c != '/' => Step::Advance,
        // A class decides `/` as any other character (`[^a]` matches it), as apparmor_parser
        // compiles classes.
        State::Class(negate, items) if items.iter().any(|&(a, b)| a <= c && c <= b) != *negate => Step::Advance,
        State::Star(deep) if *deep || c != '/' => Step::Stay,
        _ => Step::Dead,
    }
}

/// A star may match nothing: reaching it also reaches the state after it.
fn close(states: &[State], mut set: u128) -> u128 {
    for (i, s) in states.iter().enumerate() {
        if set & (1 << i) != 0 && matches!(s, State::Star(_)) {
            set |= 1 << (i + 1);
        }
    }
    set
}

fn close_vec(states: &[State], set: &mut [bool]) {
    for (i, s) in states.iter().enumerate() {
        if set[i] && matches!(s, State::Star(_)) {
            set[i + 1] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_cost_tokens_times_characters() {
        // A backtracking matcher takes exponential time here; the NFA answers at once.
        let g = Glob::parse(&format!("/{}b", "*a".repeat(30))).unwrap();
        let path = format!("/{}", "a".repeat(200));
        let t = std::time::Instant::now();
        assert!(!g.matches(&path));
        assert!(g.matches(&format!("{path}b")));
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        // More than 127 states: the vector form.
        let long = Glob::parse(&format!("/{}", "?".repeat(150))).unwrap();
        assert!(long.matches(&format!("/{}", "x".repeat(150))));
        assert!(!long.matches(&format!("/{}", "x".repeat(149))));
    }

    #[test]
    fn alternatives_are_capped_and_literals_reject() {
        let many = "{a,b}".repeat(11); // 2^11 alternatives
        assert!(Glob::parse(&format!("/{many}")).is_err());
        let g = Glob::parse("/etc/{ssl,ssh}/**/*.conf").unwrap();
        assert!(g.matches("/etc/ssh/x/y.conf"));
        assert!(!g.matches("/etc/ssh/x/y.key"));
        assert!(!g.could_match("/var/ssh/x/y.conf"));
        assert_eq!(Glob::parse("/bin/sh").unwrap().literal().as_deref(), Some("/bin/sh"));
    }

    #[test]
    fn classes_decide_slash_and_variables_fold_it() {
        // As apparmor_parser compiles them (and as the loader's kernel-log matching needs).
        assert!(Glob::parse("/a/x[^b]y").unwrap().matches("/a/x/y"));
        assert!(Glob::parse("/a/x[/]y").unwrap().matches("/a/x/y"));
        assert!(!Glob::parse("/a/x[^/]y").unwrap().matches("/a/x/y"));
        let path_glob = crate::model::apparmor::path_glob;
        assert!(path_glob("@{HOME}/.ssh/**").unwrap().matches("/root/.ssh/id"));
        assert!(path_glob("@{PROC}/@{pid}/status").unwrap().matches("/proc/4242/status"));
        assert!(!path_glob("@{PROC}/@{pid}/status").unwrap().matches("/proc/self/status"));
    }
}
