//! Typed AST of a KubeArmor policy document (reference §1): every field, every node with its span.
//!
//! Built by `check::build` from a spanned YAML tree. The builder is tolerant: a field with the
//! wrong type (already reported by the schema check) is left out, so lints can still run over
//! the rest of the document. Strings are kept as written; `normalize` resolves defaults.

use crate::ir::{Action, PolicyKind};
use crate::source::Span;

/// A value with the span of its YAML node (cedar's `Node<T>{node, loc}` style).
#[derive(Clone, Debug, PartialEq)]
pub struct Node<T> {
    pub node: T,
    pub loc: Span,
}

impl<T> Node<T> {
    pub fn new(node: T, loc: Span) -> Self {
        Node { node, loc }
    }
}

pub type Str = Node<String>;

#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub kind: Node<PolicyKind>,
    pub api_version: Option<Str>,
    pub name: Option<Str>,
    pub namespace: Option<Str>,
    /// The whole document.
    pub loc: Span,
    pub spec: Spec,
}

/// severity/tags/message/action, present at spec, section and rule level.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Meta {
    pub severity: Option<Node<i64>>,
    pub tags: Vec<Str>,
    pub message: Option<Str>,
    pub action: Option<Node<Action>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spec {
    pub selector: Option<Node<Selector>>,
    /// KubeArmorHostPolicy only.
    pub node_selector: Option<Node<Labels>>,
    pub process: Option<Node<Process>>,
    pub file: Option<Node<File>>,
    pub network: Option<Node<Network>>,
    pub capabilities: Option<Node<Capabilities>>,
    pub syscalls: Option<Node<Syscalls>>,
    pub presets: Vec<Node<Preset>>,
    /// KubeArmorHostPolicy only.
    pub device: Option<Node<Device>>,
    pub apparmor: Option<Str>,
    pub meta: Meta,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selector {
    /// KubeArmorPolicy only.
    pub match_labels: Option<Node<Labels>>,
    pub match_expressions: Vec<Node<MatchExpression>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Labels {
    /// (key, value) in document order; key spans point at the key.
    pub entries: Vec<(Str, Str)>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct MatchExpression {
    pub key: Option<Str>,
    pub operator: Option<Str>,
    pub values: Vec<Str>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Source {
    /// `None` when the item has no path (an empty mapping or only nulls).
    pub path: Option<Str>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Process {
    pub match_paths: Vec<Node<ProcessPath>>,
    pub match_directories: Vec<Node<Directory>>,
    pub match_patterns: Vec<Node<Pattern>>,
    pub meta: Meta,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessPath {
    pub path: Option<Str>,
    pub execname: Option<Str>,
    pub owner_only: Option<Node<bool>>,
    pub pts: Option<Node<bool>>,
    pub allowed_args: Option<Node<Vec<Str>>>,
    pub from_source: Vec<Node<Source>>,
    pub meta: Meta,
}

/// process/file matchDirectories item (`read_only` is file only).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Directory {
    pub dir: Option<Str>,
    pub recursive: Option<Node<bool>>,
    pub read_only: Option<Node<bool>>,
    pub owner_only: Option<Node<bool>>,
    pub pts: Option<Node<bool>>,
    pub from_source: Vec<Node<Source>>,
    pub meta: Meta,
}

/// process/file matchPatterns item (`read_only` is file only).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pattern {
    pub pattern: Option<Str>,
    pub read_only: Option<Node<bool>>,
    pub owner_only: Option<Node<bool>>,
    pub meta: Meta,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct File {
    pub match_paths: Vec<Node<FilePath>>,
    pub match_directories: Vec<Node<Directory>>,
    pub match_patterns: Vec<Node<Pattern>>,
    pub meta: Meta,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilePath {
    pub path: Option<Str>,
    pub read_only: Option<Node<bool>>,
    pub owner_only: Option<Node<bool>>,
    pub pts: Option<Node<bool>>,
    pub from_source: Vec<Node<Source>>,
    pub meta: Meta,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Network {
    pub match_protocols: Vec<Node<ProtocolRule>>,
    pub match_dns_queries: Vec<Node<DnsRule>>,
    pub meta: Meta,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProtocolRule {
    pub protocol: Option<Str>,
    pub pts: Option<Node<bool>>,
    pub from_source: Vec<Node<Source>>,
    pub meta: Meta,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DnsRule {
    pub domain: Option<Str>,
    pub from_source: Vec<Node<Source>>,
    pub meta: Meta,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Capabilities {
    pub match_capabilities: Vec<Node<CapabilityRule>>,
    pub meta: Meta,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CapabilityRule {
    pub capability: Option<Str>,
    pub from_source: Vec<Node<Source>>,
    pub meta: Meta,
}

/// `syscalls` has no action at any level (monitor-only).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Syscalls {
    pub match_syscalls: Vec<Node<SyscallRule>>,
    pub match_paths: Vec<Node<SyscallRule>>,
    pub meta: Meta,
}

/// A matchSyscalls item (`path` and `recursive` unset) or a syscalls.matchPaths item.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyscallRule {
    pub syscalls: Vec<Str>,
    pub path: Option<Str>,
    pub recursive: Option<Node<bool>>,
    pub from_source: Vec<Node<SyscallSource>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyscallSource {
    pub path: Option<Str>,
    pub dir: Option<Str>,
    pub recursive: Option<Node<bool>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Preset {
    pub name: Option<Str>,
    pub action: Option<Node<Action>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Device {
    pub match_device: Vec<Node<DeviceRule>>,
    pub meta: Meta,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceRule {
    pub class: Option<Str>,
    pub sub_class: Option<Node<i64>>,
    pub protocol: Option<Node<i64>>,
    pub level: Option<Node<i64>>,
    pub meta: Meta,
}
