//! The Landlock ruleset plan: what `armorc compile --target landlock` writes per target and
//! `armor-loader exec --lsm landlock` applies (docs/landlock-plan.md). A plan is a list of
//! Landlock layers (each one `landlock_create_ruleset` + rules + `landlock_restrict_self`), plus
//! the capabilities to drop. Grants that name directories to enumerate (`files_in`, `except`) are
//! expanded by the loader at apply time, inside the target's filesystem.

use serde::{Deserialize, Serialize};

/// The plan format version this build reads and writes.
pub const PLAN_VERSION: u32 = 1;
/// Layers a plan may hold: Landlock stacks at most 16 per process; some are left to the runtime.
pub const MAX_LAYERS: usize = 8;
/// Grants per layer and excluded paths per `except` grant (bounded work for the loader).
pub const MAX_GRANTS: usize = 4096;

/// A Landlock filesystem access right (`LANDLOCK_ACCESS_FS_*`), by its kernel name in lower case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Right {
    Execute,
    WriteFile,
    ReadFile,
    ReadDir,
    RemoveDir,
    RemoveFile,
    MakeChar,
    MakeDir,
    MakeReg,
    MakeSock,
    MakeFifo,
    MakeBlock,
    MakeSym,
    Refer,
    Truncate,
}

impl Right {
    pub const ALL: [Right; 15] = [
        Right::Execute,
        Right::WriteFile,
        Right::ReadFile,
        Right::ReadDir,
        Right::RemoveDir,
        Right::RemoveFile,
        Right::MakeChar,
        Right::MakeDir,
        Right::MakeReg,
        Right::MakeSock,
        Right::MakeFifo,
        Right::MakeBlock,
        Right::MakeSym,
        Right::Refer,
        Right::Truncate,
    ];

    /// The kernel's bit (`1 << n` in the order of linux/landlock.h).
    pub fn bit(self) -> u64 {
        1 << (Right::ALL.iter().position(|&r| r == self).expect("ALL lists every right") as u64)
    }

    /// The first Landlock ABI version that knows the right.
    pub fn abi(self) -> u32 {
        match self {
            Right::Refer => 2,
            Right::Truncate => 3,
            _ => 1,
        }
    }

    /// Rights a rule on a non-directory may carry (the kernel refuses others there).
    pub fn applies_to_files(self) -> bool {
        matches!(self, Right::Execute | Right::WriteFile | Right::ReadFile | Right::Truncate)
    }

    pub fn name(self) -> &'static str {
        match self {
            Right::Execute => "execute",
            Right::WriteFile => "write_file",
            Right::ReadFile => "read_file",
            Right::ReadDir => "read_dir",
            Right::RemoveDir => "remove_dir",
            Right::RemoveFile => "remove_file",
            Right::MakeChar => "make_char",
            Right::MakeDir => "make_dir",
            Right::MakeReg => "make_reg",
            Right::MakeSock => "make_sock",
            Right::MakeFifo => "make_fifo",
            Right::MakeBlock => "make_block",
            Right::MakeSym => "make_sym",
            Right::Refer => "refer",
            Right::Truncate => "truncate",
        }
    }
}

/// One target's plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub version: u32,
    /// `<namespace>/<workload>/<container>` or `host`.
    pub target: String,
    /// The lowest Landlock ABI that has every right the layers handle (0: nothing to apply).
    pub abi: u32,
    pub layers: Vec<Layer>,
    /// Capabilities removed from the bounding, inheritable and ambient sets before the exec.
    pub drop_capabilities: Vec<DropCapability>,
    /// The rules grants and drops name (`rule` fields index it).
    pub rules: Vec<RuleInfo>,
}

/// One `landlock_create_ruleset`: the rights it handles are denied except where a grant allows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// What the layer is for: `deny execute`, `allow-list process`, ...
    pub name: String,
    pub handled: Vec<Right>,
    pub grants: Vec<Grant>,
}

/// What a layer allows. Paths are absolute, without a trailing `/`, `.` or `..` components.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Grant {
    /// A rule on `path` (a file, or a directory and everything beneath it) when it exists at
    /// apply time; a missing path is reported and skipped.
    Beneath { path: String, access: Vec<Right>, rule: Option<u32> },
    /// A rule on each entry of `dir` that is not a directory, as found at apply time.
    FilesIn { dir: String, access: Vec<Right>, rule: Option<u32> },
    /// Rules on everything that is not on the way to an excluded path: walking from `/` towards
    /// each excluded path, every other entry of each directory passed gets a rule. Entries below
    /// a `shallow` excluded directory that are directories get a rule too (only its files stay
    /// excluded). Symbolic links are never followed or granted.
    Except { access: Vec<Right>, excluded: Vec<Excluded> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Excluded {
    pub path: String,
    pub shallow: bool,
    pub rule: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropCapability {
    /// Lower case, without `cap_` (`net_raw`).
    pub name: String,
    pub number: u32,
    /// The Block rule, or `None` for a capability outside an allow-list.
    pub rule: Option<u32>,
}

/// A policy rule as alerts and answers name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleInfo {
    /// `<kind>/<namespace or ->/<name>`
    pub policy: String,
    /// `spec.file.matchPaths[0]`
    pub at: String,
    pub file: String,
    pub line: usize,
    /// `Block`, `Allow` or `Audit`.
    pub action: String,
}

impl Grant {
    pub fn access(&self) -> &[Right] {
        match self {
            Grant::Beneath { access, .. } | Grant::FilesIn { access, .. } | Grant::Except { access, .. } => access,
        }
    }
}

impl Plan {
    /// The plan as written to OUT: pretty JSON with a final newline.
    pub fn encode(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("plans are JSON");
        text.push('\n');
        text
    }

    /// Reads a plan strictly: the version, every path, every rule index and the limits are
    /// checked, so the loader never walks a path it did not mean to.
    pub fn decode(bytes: &[u8]) -> Result<Plan, String> {
        let plan: Plan = serde_json::from_slice(bytes).map_err(|e| format!("not a Landlock plan: {e}"))?;
        if plan.version != PLAN_VERSION {
            return Err(format!("Landlock plan version {} (this build reads {PLAN_VERSION})", plan.version));
        }
        if plan.layers.len() > MAX_LAYERS {
            return Err(format!("{} layers, more than {MAX_LAYERS}", plan.layers.len()));
        }
        let rule_ok = |r: u32| (r as usize) < plan.rules.len();
        let mut abi = 0;
        for layer in &plan.layers {
            if layer.handled.is_empty() {
                return Err(format!("layer `{}` handles no right", layer.name));
            }
            abi = layer.handled.iter().map(|r| r.abi()).fold(abi, u32::max);
            if layer.grants.len() > MAX_GRANTS {
                return Err(format!(
                    "layer `{}` has {} grants, more than {MAX_GRANTS}",
                    layer.name,
                    layer.grants.len()
                ));
            }
            for grant in &layer.grants {
                if let Some(r) = grant.access().iter().find(|r| !layer.handled.contains(r)) {
                    return Err(format!("layer `{}` grants {} without handling it", layer.name, r.name()));
                }
                match grant {
                    Grant::Beneath { path, rule, .. } | Grant::FilesIn { dir: path, rule, .. } => {
                        check_path(path)?;
                        if rule.is_some_and(|r| !rule_ok(r)) {
                            return Err(format!("{path}: rule index out of range"));
                        }
                    }
                    Grant::Except { excluded, .. } => {
                        if excluded.is_empty() || excluded.len() > MAX_GRANTS {
                            return Err(format!(
                                "layer `{}`: an except grant needs 1..={MAX_GRANTS} paths",
                                layer.name
                            ));
                        }
                        for x in excluded {
                            check_path(&x.path)?;
                            if x.path == "/" {
                                return Err("`/` cannot be excluded".into());
                            }
                            if !rule_ok(x.rule) {
                                return Err(format!("{}: rule index out of range", x.path));
                            }
                        }
                    }
                }
            }
        }
        if abi != plan.abi {
            return Err(format!("abi {} but the handled rights need {abi}", plan.abi));
        }
        for cap in &plan.drop_capabilities {
            if cap.number > 63 || cap.rule.is_some_and(|r| !rule_ok(r)) {
                return Err(format!("capability {}: bad number or rule", cap.name));
            }
        }
        Ok(plan)
    }
}

/// Plan paths: absolute, no empty, `.` or `..` component, no trailing `/` (but `/` itself), no NUL.
pub fn check_path(path: &str) -> Result<(), String> {
    let ok = path == "/"
        || (path.starts_with('/')
            && !path.ends_with('/')
            && !path.contains('\0')
            && path.len() <= crate::image::MAX_PATH
            && path[1..].split('/').all(|c| !c.is_empty() && c != "." && c != ".."));
    if ok {
        Ok(())
    } else {
        Err(format!("bad path in Landlock plan: {path:?}"))
    }
}
