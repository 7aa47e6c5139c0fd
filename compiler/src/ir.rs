//! Normalized policies: the contract between the front-end and the lowerings.
//!
//! Produced by `normalize` from a lint-clean AST. Defaults and inheritance are resolved
//! (rule -> section -> spec for severity, tags, message, action; spec action defaults to Block),
//! comma lists are expanded as KubeArmor does, container selector lists are parsed, and every
//! `fromSource` item becomes its own rule. Rules keep the order KubeArmor lowers them in:
//! process.matchPaths, process.matchDirectories, process.matchPatterns, file.matchPaths,
//! file.matchDirectories, file.matchPatterns, network.matchProtocols, network.matchDNSQueries,
//! capabilities.matchCapabilities, then syscalls and device rules (monitor-only).

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum PolicyKind {
    KubeArmorPolicy,
    KubeArmorHostPolicy,
    KubeArmorClusterPolicy,
}

impl PolicyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::KubeArmorPolicy => "KubeArmorPolicy",
            PolicyKind::KubeArmorHostPolicy => "KubeArmorHostPolicy",
            PolicyKind::KubeArmorClusterPolicy => "KubeArmorClusterPolicy",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Action {
    Allow,
    Audit,
    Block,
}

/// Where something came from: the file (as reached from the argument), the 1-based position of
/// its YAML node, and its path inside the document (`spec.file.matchPaths[0]`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Origin {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub kind: PolicyKind,
    pub name: String,
    /// KubeArmorPolicy only; `None` when the document has none (kubectl fills in the context's).
    pub namespace: Option<String>,
    /// Position of the document (its first line).
    pub origin: Origin,
    pub selector: Selector,
    pub rules: Vec<Rule>,
    /// `spec.apparmor`, split into trimmed non-empty lines (AppArmor only; BPF ignores them).
    pub apparmor: Vec<NativeLine>,
    pub presets: Vec<Preset>,
}

impl Policy {
    /// `<kind>/<namespace or ->/<name>`, the id used in index.json, query answers and provenance.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.kind.as_str(), self.namespace.as_deref().unwrap_or("-"), self.name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NativeLine {
    pub text: String,
    pub origin: Origin,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Preset {
    pub name: String,
    pub action: Action,
    pub origin: Origin,
}

/// A `label` matchExpression value is a full `key=value` string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Selector {
    /// KubeArmorPolicy `selector`. `containers` comes from `kubearmor.io/container.name`
    /// (removed from `match_labels`); empty = every container.
    Namespaced { match_labels: BTreeMap<String, String>, expressions: Vec<Expression>, containers: Vec<String> },
    /// KubeArmorClusterPolicy `selector.matchExpressions` (keys `namespace` and `label`).
    Cluster { expressions: Vec<Expression> },
    /// KubeArmorHostPolicy `nodeSelector.matchLabels`.
    Host { node_labels: BTreeMap<String, String> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Expression {
    pub key: ExpressionKey,
    pub operator: Operator,
    pub values: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ExpressionKey {
    Label,
    Namespace,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Operator {
    In,
    NotIn,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub target: RuleTarget,
    /// One `fromSource` path; `None` = global rule. An empty fromSource path is kept as
    /// `Some("")` so each lowering can apply its documented treatment.
    pub source: Option<String>,
    pub action: Action,
    /// 0 when no level sets it (KubeArmor has no default).
    pub severity: u8,
    pub tags: Vec<String>,
    pub message: String,
    pub origin: Origin,
}

/// What a rule matches: a process or file path, directory or pattern, a protocol, a capability...
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum RuleTarget {
    /// process.matchPaths with `path`.
    ProcessPath {
        path: String,
        owner_only: bool,
        pts_false: bool,
        allowed_args: Vec<String>,
    },
    /// process.matchPaths with `execname` (takes precedence over `path`, as in BPF-LSM).
    ProcessExecname {
        name: String,
        owner_only: bool,
        pts_false: bool,
        allowed_args: Vec<String>,
    },
    ProcessDir {
        dir: String,
        recursive: bool,
        owner_only: bool,
        pts_false: bool,
    },
    ProcessPattern {
        pattern: String,
        owner_only: bool,
    },
    FilePath {
        path: String,
        read_only: bool,
        owner_only: bool,
        pts_false: bool,
    },
    FileDir {
        dir: String,
        recursive: bool,
        read_only: bool,
        owner_only: bool,
        pts_false: bool,
    },
    FilePattern {
        pattern: String,
        read_only: bool,
        owner_only: bool,
    },
    /// `protocol` lower-cased; `known` is None for strings that pass the CRD's unanchored
    /// pattern but are no protocol (`xtcp`), which KubeArmor's BPF-LSM lowers like `all`.
    Protocol {
        protocol: String,
        known: Option<Protocol>,
        pts_false: bool,
    },
    /// Domain with leading/trailing dots trimmed (case kept, as KubeArmor does).
    Dns {
        domain: String,
    },
    /// Name lower-cased without a `cap_` prefix; `number` is None for unknown names.
    Capability {
        name: String,
        number: Option<u8>,
    },
    /// Monitor-only; never enforced.
    Syscall {
        syscalls: Vec<String>,
        path: Option<String>,
        recursive: bool,
        source_dir: Option<String>,
        source_recursive: bool,
    },
    /// Host device rules (USB handler); not lowered by either backend.
    Device {
        class: String,
        sub_class: Option<i32>,
        protocol: Option<i32>,
        level: Option<i32>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Sctp,
    Raw,
    Stream,
    Dgram,
    Rdm,
    Seqpacket,
    Dccp,
    Packet,
    All,
}

impl Protocol {
    pub fn parse(lower: &str) -> Option<Protocol> {
        Some(match lower {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "icmp" => Protocol::Icmp,
            "icmpv6" => Protocol::Icmpv6,
            "sctp" => Protocol::Sctp,
            "raw" => Protocol::Raw,
            "stream" => Protocol::Stream,
            "dgram" => Protocol::Dgram,
            "rdm" => Protocol::Rdm,
            "seqpacket" => Protocol::Seqpacket,
            "dccp" => Protocol::Dccp,
            "packet" => Protocol::Packet,
            "all" => Protocol::All,
            _ => return None,
        })
    }
}

/// Linux capability numbers (include/uapi/linux/capability.h), by name without `cap_`.
pub const CAPABILITIES: [(&str, u8); 41] = [
    ("chown", 0),
    ("dac_override", 1),
    ("dac_read_search", 2),
    ("fowner", 3),
    ("fsetid", 4),
    ("kill", 5),
    ("setgid", 6),
    ("setuid", 7),
    ("setpcap", 8),
    ("linux_immutable", 9),
    ("net_bind_service", 10),
    ("net_broadcast", 11),
    ("net_admin", 12),
    ("net_raw", 13),
    ("ipc_lock", 14),
    ("ipc_owner", 15),
    ("sys_module", 16),
    ("sys_rawio", 17),
    ("sys_chroot", 18),
    ("sys_ptrace", 19),
    ("sys_pacct", 20),
    ("sys_admin", 21),
    ("sys_boot", 22),
    ("sys_nice", 23),
    ("sys_resource", 24),
    ("sys_time", 25),
    ("sys_tty_config", 26),
    ("mknod", 27),
    ("lease", 28),
    ("audit_write", 29),
    ("audit_control", 30),
    ("setfcap", 31),
    ("mac_override", 32),
    ("mac_admin", 33),
    ("syslog", 34),
    ("wake_alarm", 35),
    ("block_suspend", 36),
    ("audit_read", 37),
    ("perfmon", 38),
    ("bpf", 39),
    ("checkpoint_restore", 40),
];

pub fn capability_number(name: &str) -> Option<u8> {
    CAPABILITIES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}
