//! Map-image entries: the key and value layout our BPF programs look up (bpf/armor.h mirrors it),
//! and the path hashes both sides compute. The file format around the entries (header, canonical
//! order, provenance table) is documented in docs/map-image.md.
//!
//! Keys are fixed 32-byte records instead of KubeArmor's 400-byte `{path[200], source[200]}`:
//! the kernel hashes every `/`-prefix of a path in one pass, so the directory walk is not limited
//! to 64 bytes and each lookup hashes 32 bytes instead of 400. A `kind` byte keeps paths,
//! exec names, network, capability, DNS, argument and posture keys apart (no collisions between
//! posture markers and one-letter names).

/// Key kinds.
pub const KIND_PATH: u8 = 1;
pub const KIND_EXECNAME: u8 = 2;
pub const KIND_NET_TYPE: u8 = 3;
pub const KIND_NET_PROTO: u8 = 4;
pub const KIND_CAPABILITY: u8 = 5;
pub const KIND_POSTURE: u8 = 6;
pub const KIND_DNS: u8 = 7;
pub const KIND_ARG: u8 = 8;

/// Posture categories (the `len` field of a KIND_POSTURE key).
pub const POSTURE_PROCESS: u32 = 1;
pub const POSTURE_FILE: u32 = 2;
pub const POSTURE_NETWORK: u32 = 3;
pub const POSTURE_CAPABILITY: u32 = 4;
pub const POSTURE_DNS: u32 = 5;
/// Posture values (in `Value::process`).
pub const POSTURE_BLOCK: u16 = 1;
pub const POSTURE_AUDIT: u16 = 2;

/// Mask bits, as KubeArmor's `RULE_*` (reference §3.3).
pub const EXEC: u16 = 0x0001;
pub const WRITE: u16 = 0x0002;
pub const READ: u16 = 0x0004;
pub const OWNER: u16 = 0x0008;
pub const DIR: u16 = 0x0010;
pub const RECURSIVE: u16 = 0x0020;
pub const HINT: u16 = 0x0040;
pub const DENY: u16 = 0x0080;
pub const ARGSET: u16 = 0x0100;
pub const PTS: u16 = 0x0200;

/// Paths longer than this are never matched by the kernel (it sees at most this many bytes).
pub const MAX_PATH: usize = 1024;

/// 32-byte key, little-endian:
/// `{u8 kind; u8 pad[3]; u32 len; u64 path_a; u64 path_b; u64 source}`.
/// For KIND_PATH/EXECNAME/DNS: `len` = byte length, `path_a`/`path_b` = `hash_a`/`hash_b` of the bytes.
/// For NET_TYPE/NET_PROTO/CAPABILITY/POSTURE: `len` = the number, hashes 0.
/// For ARG: `path_a` = `hash_a(exec path)`, `path_b` = `hash_a(argument)`, `len` = argument length.
/// `source` = `source_hash(fromSource path)`, 0 = global.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Key {
    pub kind: u8,
    pub len: u32,
    pub path_a: u64,
    pub path_b: u64,
    pub source: u64,
}

pub const KEY_SIZE: usize = 32;
pub const VALUE_SIZE: usize = 8;

impl Key {
    pub fn path(kind: u8, bytes: &[u8], source: Option<&[u8]>) -> Key {
        Key {
            kind,
            len: bytes.len() as u32,
            path_a: hash_a(bytes),
            path_b: hash_b(bytes),
            source: source.map(source_hash).unwrap_or(0),
        }
    }
    pub fn number(kind: u8, n: u32, source: Option<&[u8]>) -> Key {
        Key { kind, len: n, path_a: 0, path_b: 0, source: source.map(source_hash).unwrap_or(0) }
    }
    pub fn to_bytes(&self) -> [u8; KEY_SIZE] {
        let mut b = [0u8; KEY_SIZE];
        b[0] = self.kind;
        b[4..8].copy_from_slice(&self.len.to_le_bytes());
        b[8..16].copy_from_slice(&self.path_a.to_le_bytes());
        b[16..24].copy_from_slice(&self.path_b.to_le_bytes());
        b[24..32].copy_from_slice(&self.source.to_le_bytes());
        b
    }
    pub fn from_bytes(b: &[u8; KEY_SIZE]) -> Key {
        Key {
            kind: b[0],
            len: u32::from_le_bytes(b[4..8].try_into().unwrap()),
            path_a: u64::from_le_bytes(b[8..16].try_into().unwrap()),
            path_b: u64::from_le_bytes(b[16..24].try_into().unwrap()),
            source: u64::from_le_bytes(b[24..32].try_into().unwrap()),
        }
    }
}

/// 8-byte value: `{u16 process; u16 file; u32 rule}`. `rule` indexes the image's provenance
/// table (u32::MAX = none); network, capability, DNS and posture entries use `process`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Value {
    pub process: u16,
    pub file: u16,
    pub rule: u32,
}

impl Value {
    pub fn to_bytes(&self) -> [u8; VALUE_SIZE] {
        let mut b = [0u8; VALUE_SIZE];
        b[0..2].copy_from_slice(&self.process.to_le_bytes());
        b[2..4].copy_from_slice(&self.file.to_le_bytes());
        b[4..8].copy_from_slice(&self.rule.to_le_bytes());
        b
    }
    pub fn from_bytes(b: &[u8; VALUE_SIZE]) -> Value {
        Value {
            process: u16::from_le_bytes([b[0], b[1]]),
            file: u16::from_le_bytes([b[2], b[3]]),
            rule: u32::from_le_bytes(b[4..8].try_into().unwrap()),
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const B_OFFSET: u64 = 0x9e37_79b9_7f4a_7c15;
const B_MULT: u64 = 0xff51_afd7_ed55_8ccd;

/// FNV-1a 64. The kernel updates it byte by byte and snapshots it at every `/`.
pub fn hash_a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| hash_a_step(h, b))
}
#[inline]
pub fn hash_a_step(h: u64, b: u8) -> u64 {
    (h ^ b as u64).wrapping_mul(FNV_PRIME)
}

/// A second, independent 64-bit hash (xor, multiply, xor-shift per byte).
pub fn hash_b(bytes: &[u8]) -> u64 {
    bytes.iter().fold(B_OFFSET, |h, &b| hash_b_step(h, b))
}
#[inline]
pub fn hash_b_step(h: u64, b: u8) -> u64 {
    let h = (h ^ b as u64).wrapping_mul(B_MULT);
    h ^ (h >> 29)
}

/// Hash of a fromSource executable path; never 0 (0 means "no source").
pub fn source_hash(bytes: &[u8]) -> u64 {
    let h = hash_a(bytes) ^ hash_b(bytes).rotate_left(32);
    if h == 0 { 1 } else { h }
}

/// One entry of a map image: the kernel key and value, plus the text it stands for (path, dir
/// prefix, `tcp`, `net_raw`, `posture:file`, ...), which `explain` shows and the kernel never sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: Key,
    pub value: Value,
    pub text: String,
}

/// The rule an entry came from (the provenance table; not loaded into the kernel).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleRef {
    /// `<kind>/<namespace or ->/<name>`
    pub policy: String,
    /// `spec.file.matchPaths[0]`
    pub at: String,
    pub file: String,
    pub line: usize,
}

/// A map image for one container or the host. `entries` are in canonical order (sorted by key
/// bytes), so identical input gives identical bytes. The file encoding is in docs/map-image.md.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MapImage {
    /// `<namespace>/<workload>/<container>` or `host`.
    pub target: String,
    pub entries: Vec<Entry>,
    /// Indexed by `Value::rule`.
    pub rules: Vec<RuleRef>,
}
