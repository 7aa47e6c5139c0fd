//! Policies against the files of container images (`armorc lint --image`, codes I001-I005):
//! a path rule whose path goes through a symlink (the kernel matches the resolved path), a path
//! that exists in no given image, a matchPaths entry that is a directory or a matchDirectories
//! entry that is a file, an `execname` that names no executable.
//!
//! The compiler never depends on the image loaders: an image is anything implementing
//! [`ImageFiles`] (armorc implements it over recommend's squashed `FileIndex`; the fixture test
//! over a small table). Checks run over a policy's IR; each finding points at the rule's value in
//! the source (found from the rule's origin), so renderers and suppressions treat it like any
//! other finding.

use crate::codes::Code;
use crate::diag::Diagnostic;
use crate::ir::{self, RuleTarget};
use crate::source::{SourceFile, Span};
use std::collections::HashSet;
use std::sync::Arc;

/// The kind of one entry of an image's file tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    /// A regular file.
    File,
    /// A symbolic link with its target as written.
    Symlink(String),
    /// A hard link (the kernel sees the link's own path: not a symlink).
    Hardlink,
    /// Devices, fifos, sockets.
    Other,
}

/// What the checks ask of an image's file tree. Paths are absolute and normalized (`/usr/bin`).
pub trait ImageFiles {
    /// The image as named on the command line.
    fn name(&self) -> &str;
    /// The entry at `path` itself, no link followed (`/` is a directory).
    fn lookup(&self, path: &str) -> Option<Kind>;
    /// `path` with symlinks (in every component) and hard links followed: the final path and
    /// its kind (never a link); `None` when missing, dangling or looping. By default symlinks
    /// only, component by component over `lookup` (an image index overrides it with its own,
    /// which also follows hard links).
    fn resolve(&self, path: &str) -> Option<(String, Kind)> {
        let components = |p: &str| p.split('/').filter(|c| !c.is_empty()).rev().map(String::from).collect::<Vec<_>>();
        let mut pending = components(path);
        let (mut current, mut kind, mut hops) = (String::new(), Kind::Dir, 0);
        while let Some(c) = pending.pop() {
            if kind != Kind::Dir {
                return None;
            }
            let candidate = format!("{current}/{c}");
            match self.lookup(&candidate)? {
                Kind::Symlink(target) => {
                    hops += 1;
                    if hops > 40 {
                        return None;
                    }
                    if target.starts_with('/') {
                        current.clear();
                    }
                    pending.extend(components(&target));
                }
                other => {
                    current = candidate;
                    kind = other;
                }
            }
        }
        Some((if current.is_empty() { "/".into() } else { current }, kind))
    }
    /// Whether a regular file with an execute bit (or a hard link to one) has the file name `name`.
    fn has_executable_named(&self, name: &str) -> bool;
}

/// Paths that exist only at run time (kernel filesystems, tmpfs mounts): I002 stays silent there.
pub const RUNTIME_PATHS: [&str; 6] = ["/proc", "/sys", "/dev", "/run", "/tmp", "/var/run"];

/// Most symlinks replaced while spelling a path as the kernel sees it (each replacement is
/// itself resolved by the image's `resolve`, which has its own hop limit).
const MAX_LINKS: usize = 64;

/// Whether a path names a file or a directory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// `path` of process/file matchPaths.
    Path,
    /// `dir` of matchDirectories.
    Dir,
    /// A fromSource `path`: the executable of the source process.
    Source,
}

/// The findings of `policy` (from `file`) against `images`, in rule order, each once. `mounts`
/// are further run-time paths (the volume mounts of the workload containers the images are for):
/// like `RUNTIME_PATHS`, nothing beneath them is reported missing (I002).
pub fn check(
    policy: &ir::Policy,
    file: &Arc<SourceFile>,
    images: &[&dyn ImageFiles],
    mounts: &[String],
) -> Vec<Diagnostic> {
    let mut out = Checker { file, images, mounts, seen: HashSet::new(), found: Vec::new() };
    if images.is_empty() {
        return out.found;
    }
    for rule in &policy.rules {
        let main = match &rule.target {
            RuleTarget::ProcessPath { path, .. } | RuleTarget::FilePath { path, .. } => Some((path, Expect::Path)),
            RuleTarget::ProcessDir { dir, .. } | RuleTarget::FileDir { dir, .. } => Some((dir, Expect::Dir)),
            RuleTarget::ProcessExecname { name, .. } => {
                out.execname(rule, name);
                None
            }
            _ => None,
        };
        let Some((value, expect)) = main else { continue };
        out.path(rule, value, expect);
        if let Some(source) = rule.source.as_deref().filter(|s| !s.is_empty()) {
            out.path(rule, source, Expect::Source);
        }
    }
    out.found
}

/// `armorc compile --resolve-symlinks`: `policy` with, after each path rule whose path (or
/// fromSource path) goes through a symlink in one of `images`, a copy of the rule spelled as the
/// kernel sees it (`/bin/ls` -> `/usr/bin/ls`), so both spellings are enforced. The copy keeps
/// the rule's origin: source maps and alerts name the rule as written. The number of rules added
/// is returned with it.
pub fn resolve_symlinks(policy: &ir::Policy, images: &[&dyn ImageFiles]) -> (ir::Policy, usize) {
    let mut out = policy.clone();
    out.rules.clear();
    let mut added = 0;
    for rule in &policy.rules {
        out.rules.push(rule.clone());
        let (value, is_dir) = match &rule.target {
            RuleTarget::ProcessPath { path, .. } | RuleTarget::FilePath { path, .. } => (path.as_str(), false),
            RuleTarget::ProcessDir { dir, .. } | RuleTarget::FileDir { dir, .. } => (dir.as_str(), true),
            _ => ("", false),
        };
        let targets: Vec<String> = resolved_spellings(images, value, is_dir);
        let sources: Vec<String> = match rule.source.as_deref() {
            Some(s) if !s.is_empty() => resolved_spellings(images, s, false),
            _ => Vec::new(),
        };
        // every combination of the written and the resolved spellings, the written one first
        let target_options = std::iter::once(None).chain(targets.into_iter().map(Some));
        for target in target_options {
            let source_options = std::iter::once(None).chain(sources.iter().cloned().map(Some));
            for source in source_options {
                if target.is_none() && source.is_none() {
                    continue; // the rule itself
                }
                let mut copy = rule.clone();
                if let Some(t) = &target {
                    set_path(&mut copy.target, t.clone());
                }
                if let Some(s) = source {
                    copy.source = Some(s);
                }
                if !out.rules.contains(&copy) {
                    out.rules.push(copy);
                    added += 1;
                }
            }
        }
    }
    (out, added)
}

/// The distinct spellings the kernel sees for `value` in `images`, when it goes through a symlink.
fn resolved_spellings(images: &[&dyn ImageFiles], value: &str, is_dir: bool) -> Vec<String> {
    let trimmed = value.trim_end_matches('/');
    if trimmed.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for image in images {
        if let Some(via) = through_symlink(*image, trimmed) {
            let spelled = if is_dir && via.resolved != "/" { format!("{}/", via.resolved) } else { via.resolved };
            if spelled != value && !out.contains(&spelled) {
                out.push(spelled);
            }
        }
    }
    out
}

fn set_path(target: &mut RuleTarget, new: String) {
    match target {
        RuleTarget::ProcessPath { path, .. } | RuleTarget::FilePath { path, .. } => *path = new,
        RuleTarget::ProcessDir { dir, .. } | RuleTarget::FileDir { dir, .. } => *dir = new,
        _ => {}
    }
}

struct Checker<'a> {
    file: &'a Arc<SourceFile>,
    images: &'a [&'a dyn ImageFiles],
    mounts: &'a [String],
    /// (code, span, message) already reported: fromSource items repeat their rule's target.
    seen: HashSet<(Code, Option<Span>, String)>,
    found: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn report(&mut self, code: Code, span: Option<Span>, message: String, label: String, help: String) {
        if !self.seen.insert((code, span, message.clone())) {
            return;
        }
        self.found.push(Diagnostic {
            code,
            severity: code.default_severity(),
            message,
            file: self.file.clone(),
            span,
            label: Some(label),
            help: Some(help),
            related: Vec::new(),
        });
    }

    fn execname(&mut self, rule: &ir::Rule, name: &str) {
        if name.is_empty() || self.images.iter().any(|i| i.has_executable_named(name)) {
            return;
        }
        let span = value_span(self.file, &rule.origin, name, false);
        self.report(
            Code::I005,
            span,
            format!("no executable file named `{name}` in {}: this rule matches nothing there", names(self.images)),
            "no such executable".into(),
            "execname is compared with the file name of the binary the kernel executes, after symlinks \
             (a `sh` -> `busybox` link executes `busybox`); check the spelling, or use the executable's \
             real name"
                .into(),
        );
    }

    fn path(&mut self, rule: &ir::Rule, value: &str, expect: Expect) {
        if value.is_empty() {
            return;
        }
        let span = value_span(self.file, &rule.origin, value, expect == Expect::Source);
        let trimmed = value.trim_end_matches('/');
        let norm = if trimmed.is_empty() { "/" } else { trimmed };
        let what = match expect {
            Expect::Path => "path",
            Expect::Dir => "directory",
            Expect::Source => "fromSource path",
        };
        let spell = |p: &str| if expect == Expect::Dir && p != "/" { format!("{p}/") } else { p.to_string() };
        // Each distinct spelling, with the images that give it.
        let mut linked: Vec<(Via, Vec<&str>)> = Vec::new();
        let mut wrong_kind: Vec<&str> = Vec::new();
        let mut exists = false;
        for image in self.images {
            if let Some((_, kind)) = image.resolve(norm) {
                exists = true;
                let wrong = match expect {
                    Expect::Path | Expect::Source => kind == Kind::Dir,
                    Expect::Dir => kind != Kind::Dir,
                };
                if wrong {
                    wrong_kind.push(image.name());
                }
            }
            if let Some(key) = through_symlink(*image, norm) {
                match linked.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, images)) => images.push(image.name()),
                    None => linked.push((key, vec![image.name()])),
                }
            }
        }
        for (Via { resolved, link, target }, images) in linked {
            let resolved = spell(&resolved);
            self.report(
                Code::I001,
                span,
                format!(
                    "{what} `{value}` goes through the symlink `{link}` -> `{target}` in {}: the kernel sees \
                     `{resolved}`, so this rule never matches there",
                    list(&images)
                ),
                format!("the kernel sees `{resolved}`"),
                format!(
                    "enforcement matches the resolved path: add `{resolved}` as another rule (both spellings \
                     enforced), or replace `{value}` with it"
                ),
            );
        }
        if !wrong_kind.is_empty() {
            let (code, message, label, help) = match expect {
                Expect::Path => (
                    Code::I003,
                    format!("matchPaths names `{value}`, a directory in {}: it matches no file", list(&wrong_kind)),
                    "a directory".to_string(),
                    format!(
                        "matchPaths matches files only: use matchDirectories with `{}/` (with `recursive: true` \
                         for everything below it)",
                        norm.trim_end_matches('/')
                    ),
                ),
                Expect::Source => (
                    Code::I003,
                    format!(
                        "fromSource names `{value}`, a directory in {}: it is never the executable of a process",
                        list(&wrong_kind)
                    ),
                    "a directory".to_string(),
                    "fromSource `path` names the executable of the source process: give a file".to_string(),
                ),
                Expect::Dir => (
                    Code::I004,
                    format!("matchDirectories names `{value}`, not a directory in {}", list(&wrong_kind)),
                    "not a directory".to_string(),
                    format!("matchDirectories matches directories only: use matchPaths with `{norm}`"),
                ),
            };
            self.report(code, span, message, label, help);
        }
        if !exists && !is_runtime(norm, self.mounts) {
            self.report(
                Code::I002,
                span,
                format!(
                    "{what} `{value}` exists in no given image ({}): this rule matches nothing",
                    names(self.images)
                ),
                "in no image".into(),
                "check the spelling; a file created at run time (a volume, a file the application writes) is \
                 fine: suppress with `# armorc: ignore[I002] reason`"
                    .into(),
            );
        }
    }
}

/// `image `a`` or `images `a`, `b``.
fn list(images: &[&str]) -> String {
    let quoted: Vec<String> = images.iter().map(|i| format!("`{i}`")).collect();
    match quoted.len() {
        1 => format!("image {}", quoted[0]),
        _ => format!("images {}", quoted.join(", ")),
    }
}

fn names(images: &[&dyn ImageFiles]) -> String {
    list(&images.iter().map(|i| i.name()).collect::<Vec<_>>())
}

/// Under /proc, /sys, /dev, /run, /tmp, /var/run or one of `mounts` (the directory itself included).
fn is_runtime(path: &str, mounts: &[String]) -> bool {
    let beneath = |r: &str| {
        let r = r.trim_end_matches('/');
        path == r || path.strip_prefix(r).is_some_and(|rest| rest.starts_with('/'))
    };
    RUNTIME_PATHS.iter().any(|r| beneath(r)) || mounts.iter().any(|m| m.starts_with('/') && beneath(m))
}

/// How a path reaches the kernel through symlinks.
#[derive(Debug, PartialEq, Eq)]
struct Via {
    /// The path the kernel sees.
    resolved: String,
    /// The first symlink on the way, and its target as written.
    link: String,
    target: String,
}

/// When `path` goes through a symlink in `image`: how. Every link on the way is replaced by its
/// resolution; hard links are kept (the kernel sees their own path). `None` without a link, or
/// when a link dangles or loops.
fn through_symlink(image: &dyn ImageFiles, path: &str) -> Option<Via> {
    let mut current = path.to_string();
    let mut first: Option<(String, String)> = None;
    for _ in 0..MAX_LINKS {
        let Some((end, target)) = first_link(image, &current) else { break };
        let prefix = &current[..end];
        if first.is_none() {
            first = Some((prefix.to_string(), target));
        }
        let (resolved, _) = image.resolve(prefix)?;
        let rest = &current[end..];
        current = if resolved == "/" && !rest.is_empty() { rest.to_string() } else { format!("{resolved}{rest}") };
    }
    first.map(|(link, target)| Via { resolved: current, link, target })
}

/// The end (byte index) of the first component of `path` that is a symlink, and its target.
fn first_link(image: &dyn ImageFiles, path: &str) -> Option<(usize, String)> {
    let ends = path.match_indices('/').map(|(i, _)| i).skip(1).chain(std::iter::once(path.len()));
    for end in ends {
        if end <= 1 {
            continue;
        }
        match image.lookup(&path[..end])? {
            Kind::Symlink(target) => return Some((end, target)),
            Kind::Dir => continue,
            // A file in the middle: nothing below it exists.
            _ if end < path.len() => return None,
            _ => continue,
        }
    }
    None
}

/// The span of `value` in the rule item at `origin`: its first occurrence as a whole value in
/// the item's lines (after the item's `fromSource` key for a source path); else the rest of the
/// item's first line.
fn value_span(file: &SourceFile, origin: &ir::Origin, value: &str, in_source: bool) -> Option<Span> {
    if origin.line == 0 || origin.line > file.line_count() {
        return None;
    }
    let first = origin.line - 1;
    let range = file.line_range(first);
    let line = &file.text[range.clone()];
    let indent = origin.column.saturating_sub(1);
    let start = range.start + line.char_indices().nth(indent).map_or(line.len(), |(i, _)| i);
    // The item ends before the next non-blank, non-comment line indented less than its column.
    let mut end = range.end;
    for index in first + 1..file.line_count() {
        let r = file.line_range(index);
        let text = &file.text[r.clone()];
        let body = text.trim_start_matches([' ', '\t']);
        if !(body.is_empty() || body.starts_with('#')) && text.chars().count() - body.chars().count() < indent {
            break;
        }
        end = r.end;
    }
    let item = &file.text[start..end];
    let from = if in_source { item.find("fromSource").unwrap_or(0) } else { 0 };
    let boundary = |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || "/._-+@~".contains(c));
    let found = item[from..]
        .match_indices(value)
        .map(|(i, _)| from + i)
        .find(|&i| boundary(item[..i].chars().next_back()) && boundary(item[i + value.len()..].chars().next()));
    Some(match found {
        Some(i) => Span::new(start + i, start + i + value.len()),
        None => Span::new(start, range.end.max(start)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A tiny tree: path -> kind; resolution follows symlinks component by component.
    struct Tree(BTreeMap<&'static str, Kind>);

    impl ImageFiles for Tree {
        fn name(&self) -> &str {
            "t"
        }
        fn lookup(&self, path: &str) -> Option<Kind> {
            if path == "/" {
                return Some(Kind::Dir);
            }
            self.0.get(path).cloned()
        }
        fn has_executable_named(&self, name: &str) -> bool {
            self.0.iter().any(|(p, k)| *k == Kind::File && p.rsplit('/').next() == Some(name))
        }
    }

    fn tree() -> Tree {
        Tree(BTreeMap::from([
            ("/bin", Kind::Symlink("usr/bin".into())),
            ("/usr", Kind::Dir),
            ("/usr/bin", Kind::Dir),
            ("/usr/bin/ls", Kind::File),
            ("/usr/bin/sh", Kind::Symlink("dash".into())),
            ("/usr/bin/dash", Kind::File),
            ("/var", Kind::Dir),
            ("/var/run", Kind::Symlink("/run".into())),
            ("/run", Kind::Dir),
        ]))
    }

    #[test]
    fn links_are_replaced_in_every_component() {
        let t = tree();
        let at = |p| through_symlink(&t, p).map(|v| (v.resolved, v.link));
        assert_eq!(at("/bin/ls"), Some(("/usr/bin/ls".into(), "/bin".into())));
        assert_eq!(at("/bin/sh"), Some(("/usr/bin/dash".into(), "/bin".into())));
        assert_eq!(at("/usr/bin/sh"), Some(("/usr/bin/dash".into(), "/usr/bin/sh".into())));
        assert_eq!(at("/bin"), Some(("/usr/bin".into(), "/bin".into())));
        assert_eq!(at("/var/run/x.sock"), Some(("/run/x.sock".into(), "/var/run".into())));
        assert_eq!(at("/usr/bin/ls"), None);
        assert_eq!(at("/nope/x"), None);
        assert_eq!(at("/usr/bin/ls/x"), None);
    }

    #[test]
    fn runtime_paths_are_whole_components() {
        assert!(is_runtime("/proc/1/status", &[]) && is_runtime("/tmp", &[]) && is_runtime("/var/run/a", &[]));
        assert!(!is_runtime("/procfs/x", &[]) && !is_runtime("/etc", &[]));
        let mounts = ["/data/".to_string(), "/srv/www".to_string(), "relative".to_string()];
        assert!(is_runtime("/data", &mounts) && is_runtime("/data/a/b", &mounts) && is_runtime("/srv/www/x", &mounts));
        assert!(
            !is_runtime("/database", &mounts) && !is_runtime("/srv", &mounts) && !is_runtime("/relative/x", &mounts)
        );
    }

    #[test]
    fn spans_point_at_the_value_inside_the_item() {
        let text = "spec:\n  process:\n    matchPaths:\n      - path: /bin/lsx\n      - path: /bin/ls\n        fromSource:\n          - path: /bin/ls\n";
        let file = SourceFile::new("t.yaml", text);
        let origin = |line| ir::Origin { file: "t.yaml".into(), line, column: 9, at: String::new() };
        let span = value_span(&file, &origin(5), "/bin/ls", false).unwrap();
        assert_eq!(file.line_col(span.start).line, 5);
        assert_eq!(&text[span.start..span.end], "/bin/ls");
        let span = value_span(&file, &origin(5), "/bin/ls", true).unwrap();
        assert_eq!(file.line_col(span.start).line, 7);
        // Not in its own item (escaped spelling): the item's first line, not the next item.
        let span = value_span(&file, &origin(4), "/bin/ls", false).unwrap();
        assert_eq!(&text[span.start..span.end], "path: /bin/lsx");
    }
}
