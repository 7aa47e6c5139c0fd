//! Which files a run reads and how their bytes become `SourceFile`s.
//!
//! PATH arguments expand to files: a file is taken as named (a symlink named on the command line
//! is followed), a directory is walked recursively for `*.yaml`/`*.yml` in sorted order (symlinks
//! inside it are followed only with `follow`), `-` is stdin. Excluded paths are dropped, and an
//! excluded directory is not entered. Every input keeps the path as reached from its argument,
//! which is the `file` of its diagnostics.

use crate::codes::Code;
use crate::diag::{Diagnostic, Severity};
use crate::source::{SourceFile, Span};
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// One file to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Stdin,
    /// `name` is the path as reached from the argument (the argument joined with the walked names).
    File {
        name: String,
        path: PathBuf,
    },
}

impl Input {
    pub fn name(&self) -> &str {
        match self {
            Input::Stdin => "-",
            Input::File { name, .. } => name,
        }
    }
}

/// A path that could not be read or walked (an I/O error: exit 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", crate::render::display_name(&self.path), self.message)
    }
}

/// An exclude glob `Excludes::new` refuses.
#[derive(Debug, thiserror::Error)]
pub enum ExcludeError {
    #[error("invalid exclude glob `{0}`: empty")]
    Empty(String),
    #[error("invalid exclude glob `{glob}`: {kind}")]
    Invalid { glob: String, kind: globset::ErrorKind },
    /// Building the set of globs failed.
    #[error("invalid exclude glob: {0}")]
    Set(#[from] globset::Error),
}

/// Exclude globs. A glob without `/` matches any single path component (a file or directory name
/// anywhere, like `vendor` or `*.tmpl.yaml`); a glob with `/` matches the whole path as reached
/// (leading `./` ignored), `*` stays inside one component and `**` crosses them.
#[derive(Debug, Default)]
pub struct Excludes {
    by_component: Option<GlobSet>,
    by_path: Option<GlobSet>,
}

impl Excludes {
    pub fn new<S: AsRef<str>>(globs: &[S]) -> Result<Self, ExcludeError> {
        let mut component = GlobSetBuilder::new();
        let mut path = GlobSetBuilder::new();
        let (mut any_component, mut any_path) = (false, false);
        for glob in globs {
            let text = glob.as_ref();
            let trimmed = text.strip_prefix("./").unwrap_or(text).trim_end_matches('/');
            if trimmed.is_empty() {
                return Err(ExcludeError::Empty(text.to_string()));
            }
            let compiled: Glob = GlobBuilder::new(trimmed)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| ExcludeError::Invalid { glob: text.to_string(), kind: e.kind().clone() })?;
            if trimmed.contains('/') {
                path.add(compiled);
                any_path = true;
            } else {
                component.add(compiled);
                any_component = true;
            }
        }
        let build = |b: GlobSetBuilder, any: bool| -> Result<Option<GlobSet>, ExcludeError> {
            if !any {
                return Ok(None);
            }
            Ok(Some(b.build()?))
        };
        Ok(Excludes { by_component: build(component, any_component)?, by_path: build(path, any_path)? })
    }

    pub fn is_empty(&self) -> bool {
        self.by_component.is_none() && self.by_path.is_none()
    }

    /// True when `path` (as reached from an argument) is excluded.
    pub fn matches(&self, path: &Path) -> bool {
        if let Some(set) = &self.by_component {
            let hit = path.components().any(|c| match c {
                Component::Normal(name) => set.is_match(Path::new(name)),
                _ => false,
            });
            if hit {
                return true;
            }
        }
        if let Some(set) = &self.by_path {
            let normalized: PathBuf = path.components().filter(|c| !matches!(c, Component::CurDir)).collect();
            if set.is_match(&normalized) {
                return true;
            }
        }
        false
    }
}

#[derive(Debug, Default)]
pub struct Expanded {
    pub inputs: Vec<Input>,
    pub errors: Vec<InputError>,
    /// Symlinks met in a directory walk and not followed (no `--follow`), for a note.
    pub skipped_symlinks: Vec<String>,
}

/// Expand PATH arguments into inputs, in argument order; each directory in sorted order.
pub fn expand<S: AsRef<str>>(args: &[S], follow: bool, excludes: &Excludes) -> Expanded {
    let mut out = Expanded::default();
    let mut seen: HashSet<String> = HashSet::new();
    for arg in args {
        let arg = arg.as_ref();
        if arg == "-" {
            if seen.insert("-".to_string()) {
                out.inputs.push(Input::Stdin);
            }
            continue;
        }
        let path = Path::new(arg);
        // A path named on the command line is followed even if it is a symlink.
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                out.errors.push(InputError { path: arg.to_string(), message: io_message(&e) });
                continue;
            }
        };
        if excludes.matches(path) {
            continue;
        }
        if meta.is_dir() {
            walk(path, follow, excludes, &mut out, &mut seen);
        } else if seen.insert(arg.to_string()) {
            out.inputs.push(Input::File { name: arg.to_string(), path: path.to_path_buf() });
        }
    }
    out
}

/// Depth-first walk with an explicit stack (no recursion limit); entries sorted by name.
fn walk(root: &Path, follow: bool, excludes: &Excludes, out: &mut Expanded, seen: &mut HashSet<String>) {
    // Directory identities on the path from the root, to stop symlink cycles under --follow.
    struct Frame {
        entries: std::vec::IntoIter<PathBuf>,
        id: Option<(u64, u64)>,
    }
    let mut stack: Vec<Frame> = Vec::new();
    match list_dir(root) {
        Ok(entries) => stack.push(Frame { entries: entries.into_iter(), id: dir_id(root) }),
        Err(e) => {
            out.errors.push(InputError { path: root.display().to_string(), message: io_message(&e) });
            return;
        }
    }
    while let Some(frame) = stack.last_mut() {
        let Some(entry) = frame.entries.next() else {
            stack.pop();
            continue;
        };
        if excludes.matches(&entry) {
            continue;
        }
        let name = entry.display().to_string();
        let link_meta = match std::fs::symlink_metadata(&entry) {
            Ok(m) => m,
            Err(e) => {
                out.errors.push(InputError { path: name, message: io_message(&e) });
                continue;
            }
        };
        let meta = if link_meta.file_type().is_symlink() {
            if !follow {
                if is_yaml_name(&entry) || std::fs::metadata(&entry).map(|m| m.is_dir()).unwrap_or(false) {
                    out.skipped_symlinks.push(name);
                }
                continue;
            }
            match std::fs::metadata(&entry) {
                Ok(m) => m,
                Err(e) => {
                    out.errors.push(InputError { path: name, message: format!("broken symlink: {}", io_message(&e)) });
                    continue;
                }
            }
        } else {
            link_meta
        };
        if meta.is_dir() {
            let id = dir_id(&entry);
            if id.is_some() && stack.iter().any(|f| f.id == id) {
                continue; // a symlink back to an ancestor: already being walked
            }
            match list_dir(&entry) {
                Ok(entries) => stack.push(Frame { entries: entries.into_iter(), id }),
                Err(e) => out.errors.push(InputError { path: name, message: io_message(&e) }),
            }
        } else if meta.is_file() && is_yaml_name(&entry) && seen.insert(name.clone()) {
            out.inputs.push(Input::File { name, path: entry });
        }
    }
}

fn list_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        names.push(entry?.file_name());
    }
    names.sort();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

#[cfg(unix)]
fn dir_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn dir_id(path: &Path) -> Option<(u64, u64)> {
    let _ = path;
    None
}

fn is_yaml_name(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// An I/O error message without Rust's " (os error N)" suffix.
pub fn io_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// What reading an input gives: its source, and a diagnostic when the bytes are not UTF-8 (then
/// the source holds the lossy text, only for rendering; it must not be checked).
#[derive(Debug)]
pub struct Loaded {
    pub source: Arc<SourceFile>,
    pub not_utf8: Option<Diagnostic>,
}

/// Bytes read from one policy or workload file (or stdin), from a map image, from a queries
/// file: far above any real input (a document may not exceed 1.5 MiB), so a device or a
/// runaway file is refused with an error instead of growing until the OOM killer. docs/limits.md.
pub const MAX_INPUT_BYTES: u64 = 64 << 20;
/// Bytes read from `armorc.toml` (`--config`).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// `64 MiB`, `1 MiB`, `512 bytes`.
pub fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// The error for an input over `cap` bytes (the message names the limit; callers add the file).
fn too_large(cap: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("larger than {}, the limit for this input (docs/limits.md)", size_text(cap)),
    )
}

/// Everything `reader` yields, or an error once it passes `cap` bytes (nothing more is read).
pub fn read_capped(reader: impl Read, cap: u64) -> std::io::Result<Vec<u8>> {
    read_capped_sized(reader, cap, None)
}

/// `read_capped` with the expected size when known (a regular file's length): the buffer is
/// allocated once. Unknown sizes reserve the cap itself: untouched pages cost no memory, and
/// the buffer never doubles (a doubling copy would briefly hold twice the data).
fn read_capped_sized(reader: impl Read, cap: u64, size: Option<u64>) -> std::io::Result<Vec<u8>> {
    let reserve = size.map_or(cap, |s| s.min(cap)).saturating_add(1);
    let mut buf = Vec::with_capacity(usize::try_from(reserve).unwrap_or(usize::MAX));
    reader.take(cap + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(too_large(cap));
    }
    Ok(buf)
}

/// The bytes of the file at `path`, at most `cap`. A FIFO or device named as a file is opened
/// without blocking (a FIFO nobody writes to reads as empty instead of hanging the run) and
/// then read like a pipe: `<(command)` works, `/dev/zero` stops at the cap. Sockets and
/// directories are refused by `open`.
pub fn read_file_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    if kind.is_dir() {
        return Err(std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"));
    }
    if kind.is_file() {
        // Known size: refused before reading anything.
        if meta.len() > cap {
            return Err(too_large(cap));
        }
        return read_capped_sized(file, cap, Some(meta.len()));
    }
    if kind.is_fifo() || kind.is_char_device() || kind.is_block_device() {
        // Back to blocking reads: open has returned, so only a writer that never writes (as
        // on stdin) can still make the read wait.
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: fd is open (owned by `file` for this whole block); F_GETFL/F_SETFL only read
        // and set its status flags.
        let rc = unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags < 0 {
                flags
            } else {
                libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK)
            }
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    read_capped(file, cap)
}

/// Read an input's bytes (at most `MAX_INPUT_BYTES`). An I/O error is returned as an
/// `InputError` (exit 2).
pub fn load(input: &Input) -> Result<Loaded, InputError> {
    let bytes = match input {
        Input::Stdin => read_capped(std::io::stdin().lock(), MAX_INPUT_BYTES)
            .map_err(|e| InputError { path: "-".into(), message: io_message(&e) })?,
        Input::File { name, path } => read_file_capped(path, MAX_INPUT_BYTES)
            .map_err(|e| InputError { path: name.clone(), message: io_message(&e) })?,
    };
    Ok(from_bytes(input.name(), bytes))
}

/// Turn bytes into a source; invalid UTF-8 becomes a diagnostic at the first bad byte.
pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Loaded {
    match String::from_utf8(bytes) {
        Ok(text) => Loaded { source: SourceFile::new(name, text), not_utf8: None },
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bad = e.as_bytes()[at];
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let source = SourceFile::new(name, text);
            // The lossy text keeps the valid prefix byte for byte; U+FFFD is 3 bytes long.
            let span = Span::new(at, at + '\u{FFFD}'.len_utf8());
            let diagnostic = Diagnostic {
                code: NOT_UTF8,
                severity: Severity::Error,
                message: format!("file is not valid UTF-8: byte 0x{bad:02x} at offset {at}"),
                file: source.clone(),
                span: Some(span),
                label: Some("not UTF-8".into()),
                help: Some(
                    "Kubernetes manifests must be UTF-8 text; re-encode the file (e.g. `iconv -t UTF-8`)".into(),
                ),
                related: Vec::new(),
            };
            Loaded { source, not_utf8: Some(diagnostic) }
        }
    }
}

/// The code for input that is not UTF-8.
const NOT_UTF8: Code = Code::Y003;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_and_path_globs() {
        let ex = Excludes::new(&["vendor", "*.tmpl.yaml", "examples/bad/**", "./a/b"]).unwrap();
        assert!(ex.matches(Path::new("x/vendor/p.yaml")));
        assert!(ex.matches(Path::new("x/y.tmpl.yaml")));
        assert!(!ex.matches(Path::new("x/y.yaml")));
        assert!(ex.matches(Path::new("./examples/bad/deep/p.yaml")));
        assert!(!ex.matches(Path::new("other/examples/bad/p.yaml")));
        assert!(ex.matches(Path::new("a/b")));
        assert!(!ex.matches(Path::new("a/bc")));
        assert!(Excludes::new(&["a/[b"]).is_err());
    }

    fn names(expanded: &Expanded) -> Vec<String> {
        expanded.inputs.iter().map(|i| i.name().to_string()).collect()
    }

    #[test]
    fn expand_walks_sorted_prunes_excluded_and_reports_missing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p");
        for name in ["b.yaml", "a/z.yml", "a/b/c.yaml", "skip/x.yaml", "note.txt"] {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x: 1\n").unwrap();
        }
        let arg = root.display().to_string();
        let missing = dir.path().join("missing.yaml").display().to_string();
        let ex = Excludes::new(&["skip"]).unwrap();
        let out = expand(&[arg.clone(), "-".into(), missing.clone(), arg.clone()], false, &ex);
        let expected: Vec<String> =
            ["a/b/c.yaml", "a/z.yml", "b.yaml"].iter().map(|n| format!("{arg}/{n}")).chain(["-".to_string()]).collect();
        assert_eq!(names(&out), expected, "sorted, recursive, excluded dir pruned, duplicates once");
        assert_eq!(out.errors, vec![InputError { path: missing, message: "No such file or directory".into() }]);
        // A file named explicitly is read whatever its extension.
        let txt = root.join("note.txt").display().to_string();
        assert_eq!(names(&expand(std::slice::from_ref(&txt), false, &Excludes::default())), vec![txt]);
    }

    #[test]
    fn invalid_utf8_points_at_first_bad_byte() {
        let loaded = from_bytes("x.yaml", b"kind: a\nname: \xff\xfe\n".to_vec());
        let d = loaded.not_utf8.expect("diagnostic");
        let lc = d.file.line_col(d.span.unwrap().start);
        assert_eq!((lc.line, lc.column), (2, 7));
        assert!(d.message.contains("0xff"));
        assert!(from_bytes("y.yaml", b"ok: 1\n".to_vec()).not_utf8.is_none());
    }
}
