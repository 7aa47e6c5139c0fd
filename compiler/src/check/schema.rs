//! The CRD schemas of KubeArmorPolicy, KubeArmorHostPolicy and KubeArmorClusterPolicy as data
//! (reference §1, checked field by field against the CRDs). One table drives type, required,
//! enum, pattern, range, length and unknown-field checks, and the "did you mean" candidates.

use super::syscalls::SYSCALLS;

pub enum Ty {
    Str(Text),
    Bool,
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    Array {
        item: &'static Ty,
        max_items: Option<usize>,
    },
    Object(&'static Object),
    /// `matchLabels`: an object whose values are strings.
    StringMap,
}

/// String constraints. Patterns are checked by hand (see `patterns.rs`), with Go regexp semantics
/// as the API server uses them.
#[derive(Clone, Copy)]
pub enum Text {
    Any,
    Enum(&'static [&'static str]),
    /// `^\/+.*[^\/]$`, maxLength 200.
    MatchPath,
    /// `^\/$|^\/.*\/$`
    Dir,
    /// `(^\/+.*[^\/]$)|(^\/$|^\/.*\/$)`
    SyscallPath,
    /// `^[^\/]+$`
    Execname,
    /// `(tcp|TCP|...|all|ALL)$`, unanchored at the start.
    Protocol,
    /// `(chown|...|mac_admin)$`, unanchored at the start.
    Capability,
}

/// Which of severity/tags/message/action an object has besides its own fields.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Meta {
    None,
    /// severity, tags, message, action.
    Full,
    /// syscalls: severity, tags, message (no action).
    NoAction,
}

pub struct Object {
    pub fields: &'static [Field],
    pub meta: Meta,
}

pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
}

pub const ACTIONS: &[&str] = &["Allow", "Audit", "Block"];

const fn opt(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, required: false }
}
const fn req(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, required: true }
}

const STR: Ty = Ty::Str(Text::Any);
const BOOL: Ty = Ty::Bool;
const SEVERITY: Ty = Ty::Int { min: Some(1), max: Some(10) };
const STR_LIST: Ty = Ty::Array { item: &STR, max_items: None };

pub static META_FIELDS: [Field; 4] = [
    opt("severity", SEVERITY),
    opt("tags", STR_LIST),
    opt("message", STR),
    opt("action", Ty::Str(Text::Enum(ACTIONS))),
];

static FROM_SOURCE: Object = Object { fields: &[opt("path", Ty::Str(Text::MatchPath))], meta: Meta::None };
const FROM_SOURCE_LIST: Ty = Ty::Array { item: &Ty::Object(&FROM_SOURCE), max_items: None };

static PROCESS_PATH: Object = Object {
    fields: &[
        opt("path", Ty::Str(Text::MatchPath)),
        opt("execname", Ty::Str(Text::Execname)),
        opt("ownerOnly", BOOL),
        opt("pts", BOOL),
        opt("allowedArgs", Ty::Array { item: &STR, max_items: Some(20) }),
        opt("fromSource", FROM_SOURCE_LIST),
    ],
    meta: Meta::Full,
};
static PROCESS_DIR: Object = Object {
    fields: &[
        req("dir", Ty::Str(Text::Dir)),
        opt("recursive", BOOL),
        opt("ownerOnly", BOOL),
        opt("pts", BOOL),
        opt("fromSource", FROM_SOURCE_LIST),
    ],
    meta: Meta::Full,
};
static PROCESS_PATTERN: Object = Object { fields: &[req("pattern", STR), opt("ownerOnly", BOOL)], meta: Meta::Full };
static PROCESS: Object = Object {
    fields: &[
        opt("matchPaths", Ty::Array { item: &Ty::Object(&PROCESS_PATH), max_items: None }),
        opt("matchDirectories", Ty::Array { item: &Ty::Object(&PROCESS_DIR), max_items: None }),
        opt("matchPatterns", Ty::Array { item: &Ty::Object(&PROCESS_PATTERN), max_items: None }),
    ],
    meta: Meta::Full,
};

static FILE_PATH: Object = Object {
    fields: &[
        req("path", Ty::Str(Text::MatchPath)),
        opt("readOnly", BOOL),
        opt("ownerOnly", BOOL),
        opt("pts", BOOL),
        opt("fromSource", FROM_SOURCE_LIST),
    ],
    meta: Meta::Full,
};
static FILE_DIR: Object = Object {
    fields: &[
        req("dir", Ty::Str(Text::Dir)),
        opt("recursive", BOOL),
        opt("readOnly", BOOL),
        opt("ownerOnly", BOOL),
        opt("pts", BOOL),
        opt("fromSource", FROM_SOURCE_LIST),
    ],
    meta: Meta::Full,
};
static FILE_PATTERN: Object =
    Object { fields: &[req("pattern", STR), opt("readOnly", BOOL), opt("ownerOnly", BOOL)], meta: Meta::Full };
static FILE: Object = Object {
    fields: &[
        opt("matchPaths", Ty::Array { item: &Ty::Object(&FILE_PATH), max_items: None }),
        opt("matchDirectories", Ty::Array { item: &Ty::Object(&FILE_DIR), max_items: None }),
        opt("matchPatterns", Ty::Array { item: &Ty::Object(&FILE_PATTERN), max_items: None }),
    ],
    meta: Meta::Full,
};

static PROTOCOL: Object = Object {
    fields: &[req("protocol", Ty::Str(Text::Protocol)), opt("pts", BOOL), opt("fromSource", FROM_SOURCE_LIST)],
    meta: Meta::Full,
};
static HOST_PROTOCOL: Object = Object {
    fields: &[req("protocol", Ty::Str(Text::Protocol)), req("fromSource", FROM_SOURCE_LIST)],
    meta: Meta::Full,
};
static DNS: Object = Object { fields: &[req("domain", STR), opt("fromSource", FROM_SOURCE_LIST)], meta: Meta::Full };
static NETWORK: Object = Object {
    fields: &[
        opt("matchProtocols", Ty::Array { item: &Ty::Object(&PROTOCOL), max_items: None }),
        opt("matchDNSQueries", Ty::Array { item: &Ty::Object(&DNS), max_items: None }),
    ],
    meta: Meta::Full,
};
static HOST_NETWORK: Object = Object {
    fields: &[
        opt("matchProtocols", Ty::Array { item: &Ty::Object(&HOST_PROTOCOL), max_items: None }),
        opt("matchDNSQueries", Ty::Array { item: &Ty::Object(&DNS), max_items: None }),
    ],
    meta: Meta::Full,
};

static CAPABILITY: Object = Object {
    fields: &[req("capability", Ty::Str(Text::Capability)), opt("fromSource", FROM_SOURCE_LIST)],
    meta: Meta::Full,
};
static HOST_CAPABILITY: Object = Object {
    fields: &[req("capability", Ty::Str(Text::Capability)), req("fromSource", FROM_SOURCE_LIST)],
    meta: Meta::Full,
};
static CAPABILITIES: Object = Object {
    fields: &[opt("matchCapabilities", Ty::Array { item: &Ty::Object(&CAPABILITY), max_items: None })],
    meta: Meta::Full,
};
static HOST_CAPABILITIES: Object = Object {
    fields: &[opt("matchCapabilities", Ty::Array { item: &Ty::Object(&HOST_CAPABILITY), max_items: None })],
    meta: Meta::Full,
};

const SYSCALL_LIST: Ty = Ty::Array { item: &Ty::Str(Text::Enum(&SYSCALLS)), max_items: None };
static SYSCALL_SOURCE: Object = Object {
    fields: &[opt("path", Ty::Str(Text::MatchPath)), opt("dir", STR), opt("recursive", BOOL)],
    meta: Meta::None,
};
const SYSCALL_SOURCE_LIST: Ty = Ty::Array { item: &Ty::Object(&SYSCALL_SOURCE), max_items: None };
static MATCH_SYSCALL: Object =
    Object { fields: &[opt("syscall", SYSCALL_LIST), opt("fromSource", SYSCALL_SOURCE_LIST)], meta: Meta::None };
static SYSCALL_PATH: Object = Object {
    fields: &[
        opt("path", Ty::Str(Text::SyscallPath)),
        opt("recursive", BOOL),
        opt("syscall", SYSCALL_LIST),
        opt("fromSource", SYSCALL_SOURCE_LIST),
    ],
    meta: Meta::None,
};
static SYSCALLS_SECTION: Object = Object {
    fields: &[
        opt("matchSyscalls", Ty::Array { item: &Ty::Object(&MATCH_SYSCALL), max_items: None }),
        opt("matchPaths", Ty::Array { item: &Ty::Object(&SYSCALL_PATH), max_items: None }),
    ],
    meta: Meta::NoAction,
};

static PRESET: Object =
    Object { fields: &[opt("name", STR), opt("action", Ty::Str(Text::Enum(ACTIONS)))], meta: Meta::None };

static DEVICE_RULE: Object = Object {
    fields: &[
        req("class", STR),
        opt("subClass", Ty::Int { min: None, max: None }),
        opt("protocol", Ty::Int { min: None, max: None }),
        opt("level", Ty::Int { min: Some(1), max: None }),
    ],
    meta: Meta::Full,
};
static DEVICE: Object = Object {
    fields: &[opt("matchDevice", Ty::Array { item: &Ty::Object(&DEVICE_RULE), max_items: None })],
    meta: Meta::Full,
};

static EXPRESSION: Object = Object {
    fields: &[
        opt("key", Ty::Str(Text::Enum(&["label"]))),
        opt("operator", Ty::Str(Text::Enum(&["In", "NotIn"]))),
        opt("values", STR_LIST),
    ],
    meta: Meta::None,
};
static CLUSTER_EXPRESSION: Object = Object {
    fields: &[
        opt("key", Ty::Str(Text::Enum(&["namespace", "label"]))),
        opt("operator", Ty::Str(Text::Enum(&["In", "NotIn"]))),
        opt("values", STR_LIST),
    ],
    meta: Meta::None,
};
static SELECTOR: Object = Object {
    fields: &[
        opt("matchLabels", Ty::StringMap),
        opt("matchExpressions", Ty::Array { item: &Ty::Object(&EXPRESSION), max_items: None }),
    ],
    meta: Meta::None,
};
static CLUSTER_SELECTOR: Object = Object {
    fields: &[opt("matchExpressions", Ty::Array { item: &Ty::Object(&CLUSTER_EXPRESSION), max_items: None })],
    meta: Meta::None,
};
static NODE_SELECTOR: Object = Object { fields: &[opt("matchLabels", Ty::StringMap)], meta: Meta::None };

const PRESETS: Ty = Ty::Array { item: &Ty::Object(&PRESET), max_items: None };

pub static POLICY_SPEC: Object = Object {
    fields: &[
        opt("selector", Ty::Object(&SELECTOR)),
        opt("process", Ty::Object(&PROCESS)),
        opt("file", Ty::Object(&FILE)),
        opt("network", Ty::Object(&NETWORK)),
        opt("capabilities", Ty::Object(&CAPABILITIES)),
        opt("syscalls", Ty::Object(&SYSCALLS_SECTION)),
        opt("presets", PRESETS),
        opt("apparmor", STR),
    ],
    meta: Meta::Full,
};
pub static CLUSTER_POLICY_SPEC: Object = Object {
    fields: &[
        opt("selector", Ty::Object(&CLUSTER_SELECTOR)),
        opt("process", Ty::Object(&PROCESS)),
        opt("file", Ty::Object(&FILE)),
        opt("network", Ty::Object(&NETWORK)),
        opt("capabilities", Ty::Object(&CAPABILITIES)),
        opt("syscalls", Ty::Object(&SYSCALLS_SECTION)),
        opt("presets", PRESETS),
        opt("apparmor", STR),
    ],
    meta: Meta::Full,
};
pub static HOST_POLICY_SPEC: Object = Object {
    fields: &[
        req("nodeSelector", Ty::Object(&NODE_SELECTOR)),
        opt("process", Ty::Object(&PROCESS)),
        opt("file", Ty::Object(&FILE)),
        opt("network", Ty::Object(&HOST_NETWORK)),
        opt("capabilities", Ty::Object(&HOST_CAPABILITIES)),
        opt("syscalls", Ty::Object(&SYSCALLS_SECTION)),
        opt("device", Ty::Object(&DEVICE)),
        opt("apparmor", STR),
    ],
    meta: Meta::Full,
};

pub static STATUS: Object = Object { fields: &[opt("status", STR)], meta: Meta::None };

/// Fields at the top of every KubeArmor document.
pub const TOP_LEVEL: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];

impl Object {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().chain(self.meta_fields()).find(|f| f.name == name)
    }
    pub fn meta_fields(&self) -> &'static [Field] {
        match self.meta {
            Meta::None => &[],
            Meta::Full => &META_FIELDS,
            Meta::NoAction => &META_FIELDS[..3],
        }
    }
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().chain(self.meta_fields()).map(|f| f.name)
    }
}
