//! In-memory squashed file tree of a container image: paths, types, modes, sizes and link
//! targets, never file contents. Loaders (recommend::image) feed it layer by layer; the
//! matcher queries it with symlink resolution (usr-merge, busybox applets).
//!
//! Paths are stored absolute and normalized (`/usr/bin/sh`); the root `/` is implicit.

use std::collections::BTreeMap;

/// Type and metadata of one entry, as recorded in the layer tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File {
        mode: u32,
        size: u64,
    },
    Dir {
        mode: u32,
    },
    /// Target exactly as written in the layer (relative to the link's directory, or absolute
    /// meaning relative to the image root).
    Symlink {
        target: String,
    },
    /// Absolute, normalized path of the entry this one is a hard link to.
    Hardlink {
        target: String,
    },
    /// Devices, fifos and other special files.
    Other,
}

/// Distribution identity read from `/etc/os-release` (or `/usr/lib/os-release`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsRelease {
    pub id: String,
    pub version_id: String,
}

impl OsRelease {
    /// Parses the `KEY=value` format of os-release(5); `None` when `ID` is missing.
    pub fn parse(text: &str) -> Option<OsRelease> {
        let mut id = None;
        let mut version_id = String::new();
        for line in text.lines() {
            let line = line.trim();
            let Some((key, value)) = line.split_once('=') else { continue };
            let value = unquote(value.trim());
            match key.trim() {
                "ID" => id = Some(value),
                "VERSION_ID" => version_id = value,
                _ => {}
            }
        }
        id.filter(|s| !s.is_empty()).map(|id| OsRelease { id, version_id })
    }
}

fn unquote(v: &str) -> String {
    let inner =
        if v.len() >= 2 && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\''))) {
            &v[1..v.len() - 1]
        } else {
            v
        };
    inner.replace("\\\"", "\"").replace("\\\\", "\\").replace("\\$", "$").replace("\\`", "`")
}

/// Resource bounds for one image; every one is named in the error that trips it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `max-entries`: entries in the squashed tree.
    pub max_entries: usize,
    /// `max-path-bytes`: bytes in one path.
    pub max_path_bytes: usize,
    /// `max-symlink-hops`: links followed while resolving one path.
    pub max_symlink_hops: u32,
    /// `max-uncompressed-bytes`: uncompressed layer bytes per image.
    pub max_uncompressed_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 1_000_000,
            max_path_bytes: 4096,
            max_symlink_hops: 40,
            max_uncompressed_bytes: 32 * 1024 * 1024 * 1024,
        }
    }
}

/// Why an entry or a layer operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// The path contains `..`, which could escape the image root.
    #[error("hostile entry `{0}`: path contains `..`")]
    DotDot(String),
    /// Layer entries must be relative; an absolute path is a hostile or broken tar.
    #[error("hostile entry `{0}`: absolute path in layer")]
    Absolute(String),
    /// Empty path, NUL byte or other malformed name.
    #[error("malformed entry path `{}`", .0.escape_debug())]
    Malformed(String),
    /// A whiteout naming no entry: `.wh.`, `.wh..` or `.wh...`.
    #[error("hostile entry `{0}`: whiteout marker names no entry (`.wh.<name>` or `.wh..wh..opq`)")]
    BareWhiteout(String),
    /// A limit was exceeded: (limit name, limit value, offending path).
    #[error("limit {name}={limit} exceeded at `{path}` (raise it with --{name})")]
    Limit { name: &'static str, limit: u64, path: String },
    /// Resolving a symlink went round in circles (or exceeded the hop limit).
    #[error("symlink loop at `{path}`: not resolved after {hops} hops (limit max-symlink-hops)")]
    SymlinkLoop { path: String, hops: u32 },
}

#[derive(Debug, Clone)]
struct Node {
    kind: EntryKind,
    /// Layer that last wrote this entry; whiteouts only remove entries of lower layers.
    layer: u32,
}

/// Squashed tree of an image (see module docs).
#[derive(Debug, Clone, Default)]
pub struct FileIndex {
    nodes: BTreeMap<Box<str>, Node>,
    limits: Limits,
    layer: u32,
    os_release: Option<OsRelease>,
    /// Every regular file any layer wrote, in order, repeats and later-deleted ones included,
    /// plus regular whiteout markers: karmor's file list (`--legacy-karmor`).
    layer_files: Vec<Box<str>>,
}

const ROOT: EntryKind = EntryKind::Dir { mode: 0o755 };

/// Why `resolve` stopped.
enum Unresolved {
    Missing,
    Loop(u32),
}

impl FileIndex {
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> Self {
        FileIndex { nodes: BTreeMap::new(), limits, layer: 0, os_release: None, layer_files: Vec::new() }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Starts the next layer: later whiteouts remove only entries written before this call.
    pub fn begin_layer(&mut self) {
        self.layer += 1;
    }

    /// Adds or replaces an entry. Accepts `/a/b`, `a/b` and `./a/b`; missing parent directories
    /// are created (mode 0755) as tar extraction would. A non-directory replacing a directory
    /// removes the directory's subtree.
    pub fn insert(&mut self, path: &str, kind: EntryKind) -> Result<(), IndexError> {
        let path = self.normalize_entry(path)?;
        if path == "/" {
            return Ok(()); // the root always exists; its own entry carries nothing we use
        }
        let kind = match kind {
            EntryKind::Hardlink { target } => EntryKind::Hardlink { target: self.normalize_entry(&target)? },
            EntryKind::Symlink { target } => {
                if target.is_empty() || target.contains('\0') {
                    return Err(IndexError::Malformed(format!("{path} -> {target}")));
                }
                if target.len() > self.limits.max_path_bytes {
                    return Err(self.limit("max-path-bytes", self.limits.max_path_bytes as u64, &path));
                }
                EntryKind::Symlink { target }
            }
            other => other,
        };
        self.ensure_parents(&path)?;
        let is_dir = matches!(kind, EntryKind::Dir { .. });
        if matches!(kind, EntryKind::File { .. }) {
            self.layer_files.push(path.as_str().into());
        }
        if let Some(old) = self.nodes.get(path.as_str()) {
            if matches!(old.kind, EntryKind::Dir { .. }) && !is_dir {
                self.remove_subtree_children(&path, u32::MAX);
            }
        } else if self.nodes.len() >= self.limits.max_entries {
            return Err(self.limit("max-entries", self.limits.max_entries as u64, &path));
        }
        self.nodes.insert(path.into_boxed_str(), Node { kind, layer: self.layer });
        Ok(())
    }

    /// Applies a whiteout: removes `path` and everything under it written by lower layers.
    pub fn whiteout(&mut self, path: &str) -> Result<(), IndexError> {
        let path = self.normalize_entry(path)?;
        if path == "/" {
            return Err(IndexError::Malformed(path));
        }
        let layer = self.layer;
        if self.nodes.get(path.as_str()).is_some_and(|n| n.layer < layer) {
            self.nodes.remove(path.as_str());
        }
        self.remove_subtree_children(&path, layer);
        Ok(())
    }

    /// Applies an opaque-directory marker: hides every child of `dir` from lower layers.
    pub fn opaque(&mut self, dir: &str) -> Result<(), IndexError> {
        let dir = self.normalize_entry(dir)?;
        if dir != "/" {
            self.ensure_parents(&dir)?;
            if !self.nodes.contains_key(dir.as_str()) {
                self.insert(&dir, EntryKind::Dir { mode: 0o755 })?;
            }
        }
        self.remove_subtree_children(&dir, self.layer);
        Ok(())
    }

    /// Sets the distribution identity (the loader reads /etc/os-release while streaming).
    pub fn set_os_release(&mut self, os: Option<OsRelease>) {
        self.os_release = os;
    }

    pub fn os_release(&self) -> Option<OsRelease> {
        self.os_release.clone()
    }

    /// The entry at `path` itself, without following links.
    pub fn lookup(&self, path: &str) -> Option<&EntryKind> {
        let p = normalize_query(path)?;
        if p == "/" {
            return Some(&ROOT);
        }
        self.nodes.get(p.as_str()).map(|n| &n.kind)
    }

    /// Follows symlinks (in every component) and hard links; returns the final path and its
    /// entry. `None` when missing, dangling or looping.
    pub fn resolve(&self, path: &str) -> Option<(String, &EntryKind)> {
        self.resolve_inner(path).ok()
    }

    /// Like `resolve`, but a loop is an error rather than "missing".
    pub fn resolve_checked(&self, path: &str) -> Result<Option<(String, &EntryKind)>, IndexError> {
        match self.resolve_inner(path) {
            Ok(found) => Ok(Some(found)),
            Err(Unresolved::Missing) => Ok(None),
            Err(Unresolved::Loop(hops)) => Err(IndexError::SymlinkLoop { path: path.to_string(), hops }),
        }
    }

    pub fn exists(&self, path: &str) -> bool {
        self.resolve(path).is_some()
    }

    pub fn is_dir(&self, path: &str) -> bool {
        matches!(self.resolve(path), Some((_, EntryKind::Dir { .. })))
    }

    pub fn is_file(&self, path: &str) -> bool {
        matches!(self.resolve(path), Some((_, EntryKind::File { .. })))
    }

    /// A regular file (after links) with any execute bit.
    pub fn is_executable(&self, path: &str) -> bool {
        matches!(self.resolve(path), Some((_, EntryKind::File { mode, .. })) if mode & 0o111 != 0)
    }

    /// Every path in the tree (not the root), sorted bytewise.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(|k| &**k)
    }

    /// Records a regular file a layer carried that is not part of the tree (a whiteout marker).
    pub fn record_layer_file(&mut self, path: &str) -> Result<(), IndexError> {
        let path = self.normalize_entry(path)?;
        self.layer_files.push(path.into_boxed_str());
        Ok(())
    }

    /// Every regular file of every layer, in layer order (see the field).
    pub fn layer_files(&self) -> impl Iterator<Item = &str> {
        self.layer_files.iter().map(|p| &**p)
    }

    /// Every entry with its path, sorted bytewise.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &EntryKind)> {
        self.nodes.iter().map(|(k, n)| (&**k, &n.kind))
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Rejects the tree if any symlink loops; dangling links are allowed (they are common).
    pub fn check_links(&self) -> Result<(), IndexError> {
        for (path, node) in &self.nodes {
            if matches!(node.kind, EntryKind::Symlink { .. } | EntryKind::Hardlink { .. }) {
                self.resolve_checked(path)?;
            }
        }
        Ok(())
    }

    fn limit(&self, name: &'static str, limit: u64, path: &str) -> IndexError {
        IndexError::Limit { name, limit, path: path.to_string() }
    }

    /// Normalizes an entry name given to the index (never empty).
    fn normalize_entry(&self, raw: &str) -> Result<String, IndexError> {
        if raw.is_empty() {
            return Err(IndexError::Malformed(String::new()));
        }
        normalize_entry_name(raw, &self.limits)
    }

    fn ensure_parents(&mut self, path: &str) -> Result<(), IndexError> {
        let mut end = 0;
        while let Some(pos) = path[end + 1..].find('/') {
            end += 1 + pos;
            let parent = &path[..end];
            match self.nodes.get(parent) {
                Some(Node { kind: EntryKind::Dir { .. }, .. }) => continue,
                // A link or file in the way: tar would follow a dir symlink; for indexing we
                // keep the link and record the child under its literal path.
                Some(_) => continue,
                None => {
                    if self.nodes.len() >= self.limits.max_entries {
                        return Err(self.limit("max-entries", self.limits.max_entries as u64, path));
                    }
                    self.nodes.insert(parent.into(), Node { kind: EntryKind::Dir { mode: 0o755 }, layer: self.layer });
                }
            }
        }
        Ok(())
    }

    /// Removes entries strictly under `dir` whose layer is below `below_layer`.
    fn remove_subtree_children(&mut self, dir: &str, below_layer: u32) {
        let prefix = if dir == "/" { String::from("/") } else { format!("{dir}/") };
        let doomed: Vec<Box<str>> = self
            .nodes
            .range::<str, _>((std::ops::Bound::Included(prefix.as_str()), std::ops::Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, n)| n.layer < below_layer)
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    fn resolve_inner(&self, path: &str) -> Result<(String, &EntryKind), Unresolved> {
        let start = normalize_query(path).ok_or(Unresolved::Missing)?;
        // Pending components, last element = next to visit.
        let mut pending: Vec<String> = start.split('/').rev().filter(|c| !c.is_empty()).map(String::from).collect();
        let mut current = String::new(); // "" is the root
        let mut hops = 0u32;
        let mut kind: &EntryKind = &ROOT;
        while let Some(comp) = pending.pop() {
            if !matches!(kind, EntryKind::Dir { .. }) {
                return Err(Unresolved::Missing); // a file used as a directory
            }
            match comp.as_str() {
                "." => continue,
                ".." => {
                    let cut = current.rfind('/').unwrap_or(0);
                    current.truncate(cut);
                    kind = &ROOT; // every ancestor on the walked path is a directory
                    continue;
                }
                _ => {}
            }
            let candidate = format!("{current}/{comp}");
            let node = self.nodes.get(candidate.as_str()).ok_or(Unresolved::Missing)?;
            match &node.kind {
                EntryKind::Symlink { target } => {
                    hops += 1;
                    if hops > self.limits.max_symlink_hops {
                        return Err(Unresolved::Loop(hops - 1));
                    }
                    if target.starts_with('/') {
                        current.clear();
                    }
                    pending.extend(target.split('/').rev().filter(|c| !c.is_empty()).map(String::from));
                    kind = &ROOT;
                }
                EntryKind::Hardlink { target } => {
                    hops += 1;
                    if hops > self.limits.max_symlink_hops {
                        return Err(Unresolved::Loop(hops - 1));
                    }
                    current.clear();
                    pending.extend(target.split('/').rev().filter(|c| !c.is_empty()).map(String::from));
                    kind = &ROOT;
                }
                other => {
                    current = candidate;
                    kind = other;
                }
            }
        }
        if current.is_empty() {
            current.push('/');
        }
        Ok((current, kind))
    }
}

/// A layer entry name as the index keys it, `/a/b`: bounded length, no NUL, no `..`; `.` and
/// empty components dropped (`./a//b` is `/a/b`, `./` is `/`). The layer parser and the index
/// both check names with it, so a name the parser accepts is one the index accepts.
pub(crate) fn normalize_entry_name(raw: &str, limits: &Limits) -> Result<String, IndexError> {
    if raw.len() > limits.max_path_bytes {
        let path = raw.chars().take(80).collect();
        return Err(IndexError::Limit { name: "max-path-bytes", limit: limits.max_path_bytes as u64, path });
    }
    if raw.contains('\0') {
        return Err(IndexError::Malformed(raw.to_string()));
    }
    let mut out = String::with_capacity(raw.len() + 1);
    for comp in raw.split('/') {
        match comp {
            "" | "." => {}
            ".." => return Err(IndexError::DotDot(raw.to_string())),
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Query paths are forgiving: relative means relative to the root.
fn normalize_query(path: &str) -> Option<String> {
    if path.contains('\0') {
        return None;
    }
    let mut out = String::with_capacity(path.len() + 1);
    for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        out.push('/');
        out.push_str(comp);
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(mode: u32) -> EntryKind {
        EntryKind::File { mode, size: 10 }
    }
    fn link(t: &str) -> EntryKind {
        EntryKind::Symlink { target: t.into() }
    }

    #[test]
    fn usr_merge_and_busybox_resolve() {
        let mut ix = FileIndex::new();
        ix.insert("usr/bin/busybox", file(0o755)).unwrap();
        ix.insert("bin", link("usr/bin")).unwrap();
        ix.insert("usr/bin/sh", link("busybox")).unwrap();
        ix.insert("usr/sbin/nologin", link("/bin/busybox")).unwrap();
        assert_eq!(ix.resolve("/bin/sh").unwrap().0, "/usr/bin/busybox");
        assert!(ix.is_executable("/bin/sh"));
        assert!(ix.is_executable("/usr/sbin/nologin"));
        assert!(ix.is_dir("/bin"));
        assert!(ix.is_dir("/"));
        assert!(!ix.is_file("/bin"));
        assert!(!ix.exists("/bin/sh/x"));
        assert_eq!(ix.lookup("/bin"), Some(&link("usr/bin")));
        let paths: Vec<&str> = ix.paths().collect();
        assert_eq!(
            paths,
            ["/bin", "/usr", "/usr/bin", "/usr/bin/busybox", "/usr/bin/sh", "/usr/sbin", "/usr/sbin/nologin"]
        );
    }

    #[test]
    fn dotdot_in_link_target_is_clamped_at_root() {
        let mut ix = FileIndex::new();
        ix.insert("etc/passwd", file(0o644)).unwrap();
        ix.insert("a/b", link("../../../../etc/passwd")).unwrap();
        assert_eq!(ix.resolve("/a/b").unwrap().0, "/etc/passwd");
        assert!(!ix.is_executable("/a/b"));
    }

    #[test]
    fn hardlinks_resolve_to_target() {
        let mut ix = FileIndex::new();
        ix.insert("usr/bin/perl5.36", file(0o755)).unwrap();
        ix.insert("usr/bin/perl", EntryKind::Hardlink { target: "./usr/bin/perl5.36".into() }).unwrap();
        assert!(ix.is_executable("/usr/bin/perl"));
        assert_eq!(ix.lookup("/usr/bin/perl"), Some(&EntryKind::Hardlink { target: "/usr/bin/perl5.36".into() }));
    }

    #[test]
    fn loops_are_detected() {
        let mut ix = FileIndex::new();
        ix.insert("a", link("b")).unwrap();
        ix.insert("b", link("a")).unwrap();
        ix.insert("c", link("missing")).unwrap();
        assert!(ix.resolve("/a").is_none());
        assert!(matches!(ix.resolve_checked("/a"), Err(IndexError::SymlinkLoop { .. })));
        assert_eq!(ix.resolve_checked("/c").unwrap(), None);
        let err = ix.check_links().unwrap_err();
        assert!(err.to_string().contains("max-symlink-hops"), "{err}");
    }

    #[test]
    fn hostile_names_rejected() {
        let mut ix = FileIndex::new();
        assert!(matches!(ix.insert("a/../../etc", file(0)), Err(IndexError::DotDot(_))));
        assert!(matches!(ix.insert("", file(0)), Err(IndexError::Malformed(_))));
        let long = "a/".repeat(3000);
        let err = ix.insert(&long, file(0)).unwrap_err();
        assert!(err.to_string().contains("max-path-bytes=4096"), "{err}");
    }

    #[test]
    fn entry_limit_is_named() {
        let mut ix = FileIndex::with_limits(Limits { max_entries: 3, ..Limits::default() });
        ix.insert("a/b", file(0)).unwrap();
        ix.insert("a/c", file(0)).unwrap();
        let err = ix.insert("a/d", file(0)).unwrap_err();
        assert!(err.to_string().contains("max-entries=3"), "{err}");
    }

    #[test]
    fn whiteouts_and_opaque_dirs_only_hide_lower_layers() {
        let mut ix = FileIndex::new();
        ix.begin_layer();
        ix.insert("etc/a", file(0o644)).unwrap();
        ix.insert("etc/sub/b", file(0o644)).unwrap();
        ix.insert("opt/x/1", file(0o644)).unwrap();
        ix.insert("opt/x/2", file(0o644)).unwrap();
        ix.begin_layer();
        ix.insert("opt/x/3", file(0o644)).unwrap();
        ix.opaque("opt/x").unwrap();
        ix.whiteout("etc/sub").unwrap();
        ix.insert("etc/new", file(0o644)).unwrap();
        let paths: Vec<&str> = ix.paths().collect();
        assert_eq!(paths, ["/etc", "/etc/a", "/etc/new", "/opt", "/opt/x", "/opt/x/3"]);
    }

    #[test]
    fn file_replacing_dir_drops_subtree() {
        let mut ix = FileIndex::new();
        ix.insert("d/x", file(0o644)).unwrap();
        ix.begin_layer();
        ix.insert("d", link("/elsewhere")).unwrap();
        assert_eq!(ix.paths().collect::<Vec<_>>(), ["/d"]);
    }

    #[test]
    fn os_release_parsing() {
        let os = OsRelease::parse("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\n").unwrap();
        assert_eq!(os, OsRelease { id: "alpine".into(), version_id: "3.20.3".into() });
        let os = OsRelease::parse("ID=\"ubuntu\"\nVERSION_ID='24.04'").unwrap();
        assert_eq!(os.version_id, "24.04");
        assert!(OsRelease::parse("NAME=x").is_none());
    }
}
