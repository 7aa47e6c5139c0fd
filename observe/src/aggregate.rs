//! File paths aggregated by directory, one rule for `summary --agg` and `discover`
//! (docs/observe.md, "Aggregation"):
//! 1. volatile trees collapse to their root: `/proc/<pid>/...`, `/proc/self/...` and
//!    `/proc/thread-self/...` to `/proc/`; anything under `/tmp/`, `/var/tmp/`, `/dev/shm/` to
//!    that directory;
//! 2. a directory at depth 2 or more (`/usr/lib`, not `/usr`) with more than `max_children`
//!    distinct direct children among the observed paths collapses, with everything under it, to
//!    `dir/`; the shallowest such directory wins.
//!
//! A collapsed path ends with `/`; other paths are returned unchanged.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// The default threshold of rule 2.
pub const DEFAULT_MAX_CHILDREN: usize = 10;

const VOLATILE: [&str; 3] = ["/tmp/", "/var/tmp/", "/dev/shm/"];

/// Rule 1 alone: the volatile root `path` belongs to, if any.
pub fn volatile_root(path: &str) -> Option<&'static str> {
    if let Some(rest) = path.strip_prefix("/proc/") {
        let first = rest.split('/').next().unwrap_or_default();
        let per_process = (!first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()))
            || first == "self"
            || first == "thread-self";
        return per_process.then_some("/proc/");
    }
    VOLATILE.into_iter().find(|root| path.starts_with(root) && path.len() > root.len())
}

/// Collects the distinct paths, then says what each collapses to.
#[derive(Debug, Default)]
pub struct Aggregator {
    max_children: usize,
    /// directory (with trailing `/`) -> its distinct direct children seen
    children: HashMap<String, HashSet<String>>,
}

impl Aggregator {
    pub fn new(max_children: usize) -> Aggregator {
        Aggregator { max_children, children: HashMap::new() }
    }

    /// Record one observed absolute path.
    pub fn observe(&mut self, path: &str) {
        if volatile_root(path).is_some() || !path.starts_with('/') {
            return;
        }
        let mut dir_end = 0;
        for (i, _) in path.match_indices('/').skip(1) {
            let parent = &path[..dir_end + 1];
            let child = &path[dir_end + 1..i];
            self.add(parent, child);
            dir_end = i;
        }
        if dir_end + 1 < path.len() {
            self.add(&path[..dir_end + 1], &path[dir_end + 1..]);
        }
    }

    fn add(&mut self, parent: &str, child: &str) {
        match self.children.get_mut(parent) {
            Some(set) => {
                if !set.contains(child) {
                    set.insert(child.to_string());
                }
            }
            None => {
                self.children.insert(parent.to_string(), HashSet::from([child.to_string()]));
            }
        }
    }

    /// The collapsing directories, once every path is observed.
    pub fn finish(self) -> Collapse {
        let wide = self
            .children
            .into_iter()
            .filter(|(dir, kids)| dir.matches('/').count() >= 3 && kids.len() > self.max_children)
            .map(|(dir, _)| dir)
            .collect();
        Collapse { wide }
    }
}

/// What each path collapses to (`Aggregator::finish`).
#[derive(Debug, Default)]
pub struct Collapse {
    wide: HashSet<String>,
}

impl Collapse {
    /// No rule 2 (rule 1 still applies).
    pub fn volatile_only() -> Collapse {
        Collapse::default()
    }

    pub fn apply<'p>(&self, path: &'p str) -> Cow<'p, str> {
        if let Some(root) = volatile_root(path) {
            return Cow::Borrowed(root);
        }
        // Shallowest collapsing ancestor: walk the prefixes that end at a `/`, from the top.
        for (i, _) in path.match_indices('/').skip(2) {
            let dir = &path[..=i];
            if self.wide.contains(dir) && dir.len() < path.len() {
                return Cow::Borrowed(&path[..=i]);
            }
        }
        Cow::Borrowed(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_trees_collapse_to_their_root() {
        let c = Collapse::volatile_only();
        assert_eq!(c.apply("/proc/123/status"), "/proc/");
        assert_eq!(c.apply("/proc/self/fd/3"), "/proc/");
        assert_eq!(c.apply("/proc/meminfo"), "/proc/meminfo");
        assert_eq!(c.apply("/tmp/x/y"), "/tmp/");
        assert_eq!(c.apply("/tmp/"), "/tmp/");
        assert_eq!(c.apply("/dev/shm/q"), "/dev/shm/");
        assert_eq!(c.apply("/etc/passwd"), "/etc/passwd");
    }

    #[test]
    fn wide_directories_collapse_from_depth_two() {
        let mut agg = Aggregator::new(3);
        for i in 0..4 {
            agg.observe(&format!("/usr/lib/x86_64-linux-gnu/lib{i}.so"));
            agg.observe(&format!("/usr/share/f{i}"));
        }
        for i in 0..5 {
            agg.observe(&format!("/etc{i}"));
        }
        agg.observe("/usr/lib/os-release");
        let c = agg.finish();
        // /usr/share has 4 > 3 children; /usr/lib only 2; the root never collapses.
        assert_eq!(c.apply("/usr/share/f1"), "/usr/share/");
        assert_eq!(c.apply("/usr/share/new/deeper"), "/usr/share/");
        assert_eq!(c.apply("/usr/lib/x86_64-linux-gnu/lib0.so"), "/usr/lib/x86_64-linux-gnu/");
        assert_eq!(c.apply("/usr/lib/os-release"), "/usr/lib/os-release");
        assert_eq!(c.apply("/etc3"), "/etc3");
    }
}
