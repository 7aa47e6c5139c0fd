//! The git template cache: `recommend update [--source URL] [--ref REV]` clones into a temporary
//! directory under the cache root, checks out REV, loads and validates the library, and only then
//! swaps the `current` symlink atomically. Reading the cache never touches the network.
//!
//! Layout: `$XDG_CACHE_HOME/armorc/templates/` (else `~/.cache/armorc/templates/`) holding
//! `current -> v-<commit>-<stamp>/` with `checkout/` (the worktree) and `source.json`.

use super::{LoadError, SourceInfo};
use std::path::{Path, PathBuf};

/// Why the template cache could not be read or updated. The library itself failing validation is
/// [`CacheError::Library`] (the cache is then left as it was).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Neither XDG_CACHE_HOME nor HOME is set.
    #[error("no cache directory: set XDG_CACHE_HOME or HOME")]
    NoCacheDir,
    #[error("{}: template cache is empty; run `armorc recommend update --source URL`", root.display())]
    Empty { root: PathBuf },
    #[error("no template repository known yet: pass `--source URL` (a git URL or path)")]
    NoSource,
    /// A git operation failed (`what`: the URL being cloned or the revision).
    #[error("{what}: {}", error.message())]
    Git { what: String, error: git2::Error },
    #[error("revision `{0}` not found in the template repository")]
    RevisionNotFound(String),
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{}: {error}", path.display())]
    Record { path: PathBuf, error: serde_json::Error },
    #[error(transparent)]
    Library(#[from] LoadError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |error| CacheError::Io { path: path.to_path_buf(), error }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Recorded {
    url: String,
    rev: Option<String>,
    commit: String,
}

/// The cache root; `None` when neither XDG_CACHE_HOME nor HOME is set.
pub fn cache_root() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        let p = PathBuf::from(x);
        if p.is_absolute() {
            return Some(p.join("armorc/templates"));
        }
    }
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".cache/armorc/templates"))
}

fn recorded(root: &Path) -> Option<Recorded> {
    let path = root.join("current/source.json");
    let text = crate::readcap::read_file_capped(&path, crate::readcap::MAX_CACHE_RECORD_BYTES).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether `update` has filled the cache.
pub fn is_filled(root: &Path) -> bool {
    root.join("current/source.json").is_file()
}

/// Load the cached library (offline).
pub fn load(root: &Path) -> Result<super::Library, CacheError> {
    let rec = recorded(root).ok_or_else(|| CacheError::Empty { root: root.to_path_buf() })?;
    let files = super::read_dir_files(&root.join("current/checkout"))?;
    Ok(super::load_files(&files, SourceInfo { kind: "cache".into(), location: rec.url, commit: Some(rec.commit) })?)
}

fn git_err(what: &str, error: git2::Error) -> CacheError {
    CacheError::Git { what: what.to_string(), error }
}

/// Resolve REV in a fresh clone: a remote branch, a tag, or any revision git understands.
fn resolve<'r>(repo: &'r git2::Repository, rev: &str) -> Result<git2::Object<'r>, CacheError> {
    for candidate in [format!("refs/remotes/origin/{rev}"), format!("refs/tags/{rev}"), rev.to_string()] {
        if let Ok(obj) = repo.revparse_single(&candidate) {
            return obj.peel(git2::ObjectType::Commit).map_err(|e| git_err(rev, e));
        }
    }
    Err(CacheError::RevisionNotFound(rev.to_string()))
}

/// Fetch, validate, swap. Returns what the cache now holds.
pub fn update(root: &Path, source: Option<&str>, rev: Option<&str>) -> Result<SourceInfo, CacheError> {
    let url = match source {
        Some(u) => u.to_string(),
        None => recorded(root).map(|r| r.url).ok_or(CacheError::NoSource)?,
    };
    std::fs::create_dir_all(root).map_err(io(root))?;
    let tmp = tempfile::Builder::new().prefix(".update-").tempdir_in(root).map_err(io(root))?;
    let checkout = tmp.path().join("checkout");
    // Full clone: libgit2 refuses shallow fetches over the local transport.
    let repo =
        git2::build::RepoBuilder::new().clone(&url, &checkout).map_err(|e| git_err(&format!("cloning {url}"), e))?;
    let commit = match rev {
        Some(r) => {
            let obj = resolve(&repo, r)?;
            repo.checkout_tree(&obj, Some(git2::build::CheckoutBuilder::new().force())).map_err(|e| git_err(r, e))?;
            repo.set_head_detached(obj.id()).map_err(|e| git_err(r, e))?;
            obj.id().to_string()
        }
        None => repo.head().and_then(|h| h.peel_to_commit()).map_err(|e| git_err("HEAD", e))?.id().to_string(),
    };
    // Validate before anything visible changes.
    let files = super::read_dir_files(&checkout)?;
    super::load_files(
        &files,
        SourceInfo { kind: "cache".into(), location: url.clone(), commit: Some(commit.clone()) },
    )?;
    let rec = Recorded { url: url.clone(), rev: rev.map(str::to_string), commit: commit.clone() };
    let record = tmp.path().join("source.json");
    let json = serde_json::to_vec_pretty(&rec).map_err(|error| CacheError::Record { path: record.clone(), error })?;
    std::fs::write(&record, json).map_err(io(tmp.path()))?;

    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let version = format!("v-{}-{stamp}", &commit[..12.min(commit.len())]);
    let kept = tmp.keep();
    std::fs::rename(&kept, root.join(&version)).map_err(io(root))?;
    let old = std::fs::read_link(root.join("current")).ok();
    let link_tmp = root.join(format!(".current-{stamp}"));
    std::os::unix::fs::symlink(&version, &link_tmp).map_err(io(&link_tmp))?;
    std::fs::rename(&link_tmp, root.join("current")).map_err(io(root))?;
    if let Some(old) = old.filter(|o| o.as_os_str() != version.as_str()) {
        let _ = std::fs::remove_dir_all(root.join(old));
    }
    Ok(SourceInfo { kind: "cache".into(), location: url, commit: Some(commit) })
}
