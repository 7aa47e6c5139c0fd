//! AppArmor lexical details: escaping literal paths, quoting, and profile names.

/// Characters that are glob syntax in AppArmor paths (apparmor.d(5)) or start a variable (`@{`),
/// escaped with `\` so a literal path matches only itself.
const GLOB_SPECIAL: &[char] = &['\\', '*', '?', '[', ']', '{', '}', '@', '^', '"'];

/// A literal path (matchPaths, fromSource, directory prefixes) as AppArmor glob text that matches
/// exactly that path.
pub fn escape_literal(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if GLOB_SPECIAL.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Quote a path when it holds anything beyond the characters every AppArmor version accepts bare.
/// Inside quotes only `"` (already escaped by the caller for literals) and control characters need
/// care; control characters become octal escapes, which the parser decodes.
pub fn quote_path(glob: &str) -> String {
    let bare = !glob.is_empty()
        && glob.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+*?[]{},^\\@:~=%$|".contains(c))
        && commas_only_in_alternations(glob)
        // An escaped backslash bare can swallow the following space.
        && !glob.contains("\\\\");
    if bare {
        return glob.to_string();
    }
    let mut out = String::with_capacity(glob.len() + 2);
    out.push('"');
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // A `\` already escapes the next character; keep the pair, except that an escaped
            // backslash is written `\134` (the parser decodes it to the same glob escape), since
            // the lexer takes `\\"` at the end of a string for an escaped quote.
            '\\' => match chars.next() {
                Some('\\') => out.push_str("\\134"),
                Some(n) => {
                    out.push('\\');
                    push_quoted_char(&mut out, n);
                }
                None => out.push_str("\\134"),
            },
            '"' => out.push_str("\\\""),
            c => push_quoted_char(&mut out, c),
        }
    }
    out.push('"');
    out
}

/// `{a,b}` commas are glob syntax and fine bare; any other comma would end the rule.
fn commas_only_in_alternations(glob: &str) -> bool {
    let mut depth = 0usize;
    let mut escaped = false;
    for c in glob.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => return false,
            _ => {}
        }
    }
    true
}

fn push_quoted_char(out: &mut String, c: char) {
    if c.is_control() && (c as u32) < 0x80 {
        out.push_str(&format!("\\{:03o}", c as u32));
    } else {
        out.push(c);
    }
}

/// A profile name safe to write unquoted and to use as a file name: `[A-Za-z0-9._-]`, other
/// characters become `_`, and `..` (refused by loaders as a path escape) is broken up.
pub fn sanitize_profile_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' { c } else { '_' })
        .collect();
    while out.contains("..") {
        out = out.replace("..", "._");
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// The part of a sub-profile name derived from a fromSource path: runs of characters outside
/// `[A-Za-z0-9]` become one `_` (`/usr/bin/python3.11` -> `usr_bin_python3_11`).
pub fn source_suffix(source: &str) -> String {
    let mut out = String::new();
    for c in source.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_matches('_');
    if trimmed.is_empty() {
        "root".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_glob_characters() {
        assert_eq!(escape_literal("/a*b/c?{d}[e]@x"), "/a\\*b/c\\?\\{d\\}\\[e\\]\\@x");
        assert_eq!(escape_literal("/plain/path"), "/plain/path");
    }

    #[test]
    fn quotes_spaces_commas_and_controls() {
        assert_eq!(quote_path("/usr/bin/ls"), "/usr/bin/ls");
        assert_eq!(quote_path("/a b"), "\"/a b\"");
        assert_eq!(quote_path("/a,b"), "\"/a,b\"");
        assert_eq!(quote_path("/a\nb"), "\"/a\\012b\"");
        assert_eq!(quote_path(&escape_literal("/a\"b")), "\"/a\\\"b\"");
        assert_eq!(quote_path("/a#b"), "\"/a#b\"");
        assert_eq!(quote_path("/etc/{,*}"), "/etc/{,*}");
        assert_eq!(quote_path(&escape_literal("/a\\")), "\"/a\\134\"");
    }

    #[test]
    fn sanitizes_names() {
        assert_eq!(sanitize_profile_name("kubearmor-ns-web-nginx"), "kubearmor-ns-web-nginx");
        assert_eq!(sanitize_profile_name("kubearmor-a/b-..-c"), "kubearmor-a_b-._-c");
        assert_eq!(source_suffix("/usr/bin/python3.11"), "usr_bin_python3_11");
        assert_eq!(source_suffix("/"), "root");
    }
}
