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

/// Every mask bit above; any other bit is undefined and rejected on read.
pub const KNOWN_MASK: u16 = EXEC | WRITE | READ | OWNER | DIR | RECURSIVE | HINT | DENY | ARGSET | PTS;

/// Paths longer than this are never matched by the kernel (it sees at most this many bytes).
pub const MAX_PATH: usize = 1024;

/// Entries per target: the size of each kernel rule map (`INNER_CAPACITY` in bpf/armor.h), the
/// default and the maximum of `armorc compile --capacity`; `decode` and the loader refuse more.
pub const MAX_ENTRIES: usize = 4096;

/// The entry text of a posture key, by category (`Key::len`).
pub fn posture_text(category: u32) -> Option<&'static str> {
    Some(match category {
        POSTURE_PROCESS => "posture:process",
        POSTURE_FILE => "posture:file",
        POSTURE_NETWORK => "posture:network",
        POSTURE_CAPABILITY => "posture:capabilities",
        POSTURE_DNS => "posture:dns",
        _ => return None,
    })
}

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
        let (path_a, path_b) = hash_ab(bytes);
        Key { kind, len: bytes.len() as u32, path_a, path_b, source: source.map(source_hash).unwrap_or(0) }
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
    /// Orders keys as their `to_bytes` compare (the canonical order), in two integer compares:
    /// the bytes read as big-endian numbers.
    pub(crate) fn byte_order(&self) -> (u128, u128) {
        let b = self.to_bytes();
        (u128::from_be_bytes(field::<0, _, _>(&b)), u128::from_be_bytes(field::<16, _, _>(&b)))
    }
    pub fn from_bytes(b: &[u8; KEY_SIZE]) -> Key {
        Key {
            kind: b[0],
            len: u32::from_le_bytes(field::<4, _, _>(b)),
            path_a: u64::from_le_bytes(field::<8, _, _>(b)),
            path_b: u64::from_le_bytes(field::<16, _, _>(b)),
            source: u64::from_le_bytes(field::<24, _, _>(b)),
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
            process: u16::from_le_bytes(field::<0, _, _>(b)),
            file: u16::from_le_bytes(field::<2, _, _>(b)),
            rule: u32::from_le_bytes(field::<4, _, _>(b)),
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

/// `(hash_a(bytes), hash_b(bytes))` in one pass: the two multiply chains run side by side.
pub(crate) fn hash_ab(bytes: &[u8]) -> (u64, u64) {
    hash_ab_extend(HASH_AB_EMPTY, bytes)
}

/// `hash_ab` of the empty string.
pub(crate) const HASH_AB_EMPTY: (u64, u64) = (FNV_OFFSET, B_OFFSET);

/// `hash_ab(prefix + bytes)` from `state = hash_ab(prefix)`.
pub(crate) fn hash_ab_extend(state: (u64, u64), bytes: &[u8]) -> (u64, u64) {
    bytes.iter().fold(state, |(a, b), &x| (hash_a_step(a, x), hash_b_step(b, x)))
}

/// Hash of a fromSource executable path; never 0 (0 means "no source").
pub fn source_hash(bytes: &[u8]) -> u64 {
    let (a, b) = hash_ab(bytes);
    let h = a ^ b.rotate_left(32);
    if h == 0 {
        1
    } else {
        h
    }
}

/// One entry of a map image: the kernel key and value, plus the text it stands for (path, dir
/// prefix, `tcp`, `net_raw`, `posture:file`, ...), which `explain` shows and the kernel never sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: Key,
    pub value: Value,
    pub text: String,
}

impl Entry {
    /// The key's text without its fields: the path, directory prefix, exec name, protocol,
    /// capability, domain, `posture:<category>`, or (arg entries) the executable path.
    pub fn main_text(&self) -> &str {
        self.fields().map_or_else(|| self.text.split('\t').next().unwrap_or(""), |f| f.0)
    }
    /// The `source=` field: the fromSource path of a sourced entry.
    pub fn source_text(&self) -> Option<&str> {
        self.fields().map_or_else(|| self.field("source="), |f| f.2)
    }
    /// The `arg=` field of an allowedArgs entry.
    pub fn arg_text(&self) -> Option<&str> {
        self.fields().map_or_else(|| self.field("arg="), |f| f.1)
    }
    fn field(&self, name: &str) -> Option<&str> {
        self.text.split('\t').skip(1).find_map(|f| f.strip_prefix(name))
    }

    /// `(main, arg, source)` of the text, split where the key says (so a tab inside a path does
    /// not split it): a sourced key's text ends with `\tsource=<path>` (for a path-like key
    /// right after its `len` bytes, else at the last such field), an arg key's main text is
    /// followed by `\targ=` and exactly `len` bytes. `None` if the text cannot be the key's.
    fn fields(&self) -> Option<(&str, Option<&str>, Option<&str>)> {
        const SOURCE: &str = "\tsource=";
        const ARG: &str = "\targ=";
        let text = self.text.as_str();
        let path_like = matches!(self.key.kind, KIND_PATH | KIND_EXECNAME | KIND_DNS);
        let (head, source) = if self.key.source == 0 {
            (text, None)
        } else if path_like {
            let head = text.get(..self.key.len as usize)?;
            (head, Some(text[head.len()..].strip_prefix(SOURCE)?))
        } else {
            let at = text.rfind(SOURCE)?;
            (&text[..at], Some(&text[at + SOURCE.len()..]))
        };
        if self.key.kind != KIND_ARG {
            return Some((head, None, source));
        }
        let arg_at = head.len().checked_sub(self.key.len as usize)?;
        let arg = head.get(arg_at..)?;
        let main = head[..arg_at].strip_suffix(ARG)?;
        Some((main, Some(arg), source))
    }

    /// Whether the key, the value and the text agree as docs/map-image.md defines them.
    fn check(&self) -> Result<(), EntryError> {
        let (key, value) = (&self.key, &self.value);
        let Some((main, arg, source)) = self.fields() else {
            return Err(EntryError::TextDoesNotFit(short(&self.text)));
        };
        let undefined = (value.process | value.file) & !KNOWN_MASK;
        if undefined != 0 {
            return Err(EntryError::UndefinedBits(undefined));
        }
        if source.map_or(0, |s| source_hash(s.as_bytes())) != key.source {
            return Err(EntryError::SourceHash);
        }
        let numbered = |name: Option<&str>| -> Result<(), EntryError> {
            if key.path_a != 0 || key.path_b != 0 {
                return Err(EntryError::NumberedWithHashes);
            }
            if value.file != 0 {
                return Err(EntryError::FileMaskNotPath);
            }
            match name {
                Some(n) if n == main => Ok(()),
                _ => Err(EntryError::NotTheName { text: short(main), number: key.len }),
            }
        };
        match key.kind {
            KIND_PATH | KIND_EXECNAME | KIND_DNS => {
                if main.len() != key.len as usize || hash_ab(main.as_bytes()) != (key.path_a, key.path_b) {
                    return Err(EntryError::PathHashes(short(main)));
                }
                if key.kind != KIND_PATH && value.file != 0 {
                    return Err(EntryError::FileMaskNotPath);
                }
                Ok(())
            }
            KIND_ARG => {
                let arg = arg.unwrap_or("");
                if key.path_a != hash_a(main.as_bytes()) || key.path_b != hash_a(arg.as_bytes()) {
                    return Err(EntryError::ArgHashes(short(&self.text)));
                }
                if value.file != 0 {
                    return Err(EntryError::FileMaskNotPath);
                }
                Ok(())
            }
            KIND_NET_TYPE => numbered(name_of(&crate::query::SOCK_TYPES, key.len)),
            KIND_NET_PROTO => numbered(name_of(&crate::query::PROTOCOLS, key.len)),
            KIND_CAPABILITY => {
                let name = crate::query::CAPABILITIES.get(key.len as usize).copied();
                // Unknown names were lowered to CAP_CHOWN, as KubeArmor does (lower::bpf).
                if key.len == 0 && main.starts_with("chown (unknown name ") && main.ends_with(')') {
                    return numbered(Some(main));
                }
                numbered(name)
            }
            KIND_POSTURE => {
                numbered(posture_text(key.len))?;
                if key.source != 0 || value.rule != u32::MAX {
                    return Err(EntryError::PostureSourceOrRule);
                }
                if value.process != POSTURE_BLOCK && value.process != POSTURE_AUDIT {
                    return Err(EntryError::PostureValue(value.process));
                }
                Ok(())
            }
            kind => Err(EntryError::UnknownKind(kind)),
        }
    }
}

/// The name of `number` in a (name, number) table.
fn name_of(table: &[(&'static str, u32)], number: u32) -> Option<&'static str> {
    table.iter().find(|(_, n)| *n == number).map(|(name, _)| *name)
}

/// The first 80 characters of a text, for error messages.
fn short(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The rule an entry came from (the provenance table; not loaded into the kernel), with what a
/// KubeArmor alert names of it. `Default` is the empty record (no severity, tags, message, action).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RuleRef {
    /// `<kind>/<namespace or ->/<name>`
    pub policy: String,
    /// `spec.file.matchPaths[0]`
    pub at: String,
    pub file: String,
    pub line: usize,
    /// 1..=10 as resolved in the IR (rule > section > spec); 0 = none (and in version 1 files).
    pub severity: u8,
    /// Resolved tags; empty in version 1 files.
    pub tags: Vec<String>,
    /// Resolved message; empty in version 1 files.
    pub message: String,
    /// `Block`, `Allow` or `Audit`, as the IR rule's action; empty in version 1 files.
    pub action: String,
}

/// The `RuleRef::action` texts a file may hold (besides empty).
pub const RULE_ACTIONS: [&str; 3] = ["Allow", "Audit", "Block"];
/// The highest `RuleRef::severity` a file may hold (the CRD's maximum).
pub const MAX_SEVERITY: u8 = 10;

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

/// Mask bit names, in bit order (for `explain` and error messages).
pub const MASK_NAMES: [(u16, &str); 10] = [
    (EXEC, "EXEC"),
    (WRITE, "WRITE"),
    (READ, "READ"),
    (OWNER, "OWNER"),
    (DIR, "DIR"),
    (RECURSIVE, "RECURSIVE"),
    (HINT, "HINT"),
    (DENY, "DENY"),
    (ARGSET, "ARGSET"),
    (PTS, "PTS"),
];

/// `READ|OWNER`, `-` for 0; unknown bits are shown as hex.
pub fn mask_to_string(mask: u16) -> String {
    if mask == 0 {
        return "-".to_string();
    }
    let mut names: Vec<String> = MASK_NAMES.iter().filter(|(b, _)| mask & b != 0).map(|(_, n)| n.to_string()).collect();
    let known = MASK_NAMES.iter().fold(0u16, |acc, (b, _)| acc | b);
    if mask & !known != 0 {
        names.push(format!("{:#06x}", mask & !known));
    }
    names.join("|")
}

/// Key kind name for `explain`.
pub fn kind_name(kind: u8) -> &'static str {
    match kind {
        KIND_PATH => "path",
        KIND_EXECNAME => "execname",
        KIND_NET_TYPE => "net-type",
        KIND_NET_PROTO => "net-proto",
        KIND_CAPABILITY => "capability",
        KIND_POSTURE => "posture",
        KIND_DNS => "dns",
        KIND_ARG => "arg",
        _ => "unknown",
    }
}

/// File magic (8 bytes).
pub const MAGIC: [u8; 8] = *b"ARMORIMG";
/// The format version this code writes. It reads this one and `FORMAT_VERSION_V1`.
pub const FORMAT_VERSION: u16 = 2;
/// The previous format version, still read: provenance records without severity, action, tags
/// and message (decoded as 0 and empty).
pub const FORMAT_VERSION_V1: u16 = 1;
/// Byte-order mark, written in the file's byte order (little-endian: `FF FE`).
pub const BYTE_ORDER_MARK: u16 = 0xFEFF;
/// Key layout id: the 32-byte `Key` and 8-byte `Value` above.
pub const KEY_LAYOUT_V1: u16 = 1;
/// Size of the fixed header.
pub const HEADER_SIZE: usize = 72;
/// Header bytes covered by the checksum (everything before the checksum itself).
const HEADER_CHECKED: usize = 40;

/// Why a map-image file was rejected. Each message says what was expected and what was found.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MapImageError {
    #[error("not an armorc map image (bad magic; expected \"ARMORIMG\")")]
    BadMagic,
    #[error("truncated map image: {0}")]
    Truncated(String),
    #[error("map image format version {found}, this armorc reads versions 1 to {expected}")]
    Version { found: u16, expected: u16 },
    #[error("map image byte order mark {0:#06x} is not little-endian (0xfeff)")]
    ByteOrder(u16),
    #[error("map image key layout {layout} (key {key_size} bytes, value {value_size} bytes) is not layout 1 (32/8)")]
    KeyLayout { layout: u16, key_size: u16, value_size: u16 },
    #[error("map image checksum mismatch (file corrupted): header says {expected}, content hashes to {found}")]
    Checksum { expected: String, found: String },
    #[error("corrupted map image: {0}")]
    Corrupt(String),
    #[error("map image has {found} entries, more than the {max} a target may hold")]
    TooManyEntries { found: usize, max: usize },
    #[error("map image entry {entry} has unknown key kind {kind} (kinds are 1 to 8)")]
    UnknownKind { entry: usize, kind: u8 },
    #[error("map image entry {entry}: {reason}")]
    BadEntry { entry: usize, reason: EntryError },
}

/// Why one entry's key, value and text disagree (docs/map-image.md).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("text {0:?} does not fit its key")]
    TextDoesNotFit(String),
    #[error("undefined mask bits {0:#06x}")]
    UndefinedBits(u16),
    #[error("source hash does not match the text's source= path")]
    SourceHash,
    #[error("a numbered key with non-zero hashes")]
    NumberedWithHashes,
    #[error("a file mask on a key that is not a path")]
    FileMaskNotPath,
    #[error("text {text:?} is not the name of number {number}")]
    NotTheName { text: String, number: u32 },
    #[error("key length or hashes do not match the text {0:?}")]
    PathHashes(String),
    #[error("arg key hashes do not match the text {0:?}")]
    ArgHashes(String),
    #[error("a posture key with a source or a rule")]
    PostureSourceOrRule,
    #[error("posture value {0} is neither block (1) nor audit (2)")]
    PostureValue(u16),
    #[error("unknown key kind {0}")]
    UnknownKind(u8),
}

impl MapImage {
    /// Encode in the versioned file format of docs/map-image.md. Entries are written sorted by
    /// key bytes; if two entries share a key the later one wins (last writer wins, as in a map).
    pub fn encode(&self) -> Vec<u8> {
        let entries = canonical_entries(&self.entries);
        let str_len = |s: &str| 4 + s.len();
        let payload_len = entries.len() * (KEY_SIZE + VALUE_SIZE)
            + str_len(&self.target)
            + entries.iter().map(|e| str_len(&e.text)).sum::<usize>()
            + self
                .rules
                .iter()
                .map(|r| {
                    str_len(&r.policy)
                        + str_len(&r.at)
                        + str_len(&r.file)
                        + 8
                        + 1
                        + str_len(&r.action)
                        + 4
                        + r.tags.iter().map(|t| str_len(t)).sum::<usize>()
                        + str_len(&r.message)
                })
                .sum::<usize>();

        // One buffer, sized exactly: the header, a checksum placeholder, then the payload.
        let mut out = Vec::with_capacity(HEADER_SIZE + payload_len);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&BYTE_ORDER_MARK.to_le_bytes());
        out.extend_from_slice(&KEY_LAYOUT_V1.to_le_bytes());
        out.extend_from_slice(&(KEY_SIZE as u16).to_le_bytes());
        out.extend_from_slice(&(VALUE_SIZE as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.rules.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(payload_len as u64).to_le_bytes());
        debug_assert_eq!(out.len(), HEADER_CHECKED);
        out.extend_from_slice(&[0u8; HEADER_SIZE - HEADER_CHECKED]);

        for e in &entries {
            out.extend_from_slice(&e.key.to_bytes());
            out.extend_from_slice(&e.value.to_bytes());
        }
        put_str(&mut out, &self.target);
        for e in &entries {
            put_str(&mut out, &e.text);
        }
        for r in &self.rules {
            put_str(&mut out, &r.policy);
            put_str(&mut out, &r.at);
            put_str(&mut out, &r.file);
            out.extend_from_slice(&(r.line as u64).to_le_bytes());
            out.push(r.severity);
            put_str(&mut out, &r.action);
            out.extend_from_slice(&(r.tags.len() as u32).to_le_bytes());
            for t in &r.tags {
                put_str(&mut out, t);
            }
            put_str(&mut out, &r.message);
        }
        debug_assert_eq!(out.len(), HEADER_SIZE + payload_len);

        let sum = checksum(&out[..HEADER_CHECKED], &out[HEADER_SIZE..]);
        out[HEADER_CHECKED..HEADER_SIZE].copy_from_slice(&sum);
        out
    }

    /// Decode and validate a map-image file. Rejects anything that is not exactly what
    /// `encode` writes: wrong magic, version, byte order or key layout, a truncated or
    /// over-long file, a checksum mismatch, more than `MAX_ENTRIES` entries, unsorted or
    /// duplicate keys, an unknown key kind, undefined mask bits, a key that is not the one its
    /// text gives (length, hashes, source hash, number name, posture), dangling rule indexes,
    /// a severity above 10 or an unknown action. Version 1 files are read too: their rules get
    /// severity 0 and empty tags, message and action.
    pub fn decode(bytes: &[u8]) -> Result<MapImage, MapImageError> {
        if bytes.len() < MAGIC.len() || bytes[..8] != MAGIC {
            return Err(MapImageError::BadMagic);
        }
        if bytes.len() < HEADER_SIZE {
            return Err(MapImageError::Truncated(format!("{} bytes, the header alone is {HEADER_SIZE}", bytes.len())));
        }
        let u16_at = |o: usize| array_at(bytes, o, "header").map(u16::from_le_bytes);
        let u32_at = |o: usize| array_at(bytes, o, "header").map(u32::from_le_bytes);
        let version = u16_at(8)?;
        if version != FORMAT_VERSION && version != FORMAT_VERSION_V1 {
            return Err(MapImageError::Version { found: version, expected: FORMAT_VERSION });
        }
        let bom = u16_at(10)?;
        if bom != BYTE_ORDER_MARK {
            return Err(MapImageError::ByteOrder(bom));
        }
        let (layout, key_size, value_size) = (u16_at(12)?, u16_at(14)?, u16_at(16)?);
        if layout != KEY_LAYOUT_V1 || key_size as usize != KEY_SIZE || value_size as usize != VALUE_SIZE {
            return Err(MapImageError::KeyLayout { layout, key_size, value_size });
        }
        if u16_at(18)? != 0 || u32_at(28)? != 0 {
            return Err(MapImageError::Corrupt("reserved header fields are not zero".into()));
        }
        let entry_count = u32_at(20)? as usize;
        if entry_count > MAX_ENTRIES {
            return Err(MapImageError::TooManyEntries { found: entry_count, max: MAX_ENTRIES });
        }
        let rule_count = u32_at(24)? as usize;
        let payload_len = u64::from_le_bytes(array_at(bytes, 32, "header")?);
        let payload = &bytes[HEADER_SIZE..];
        if (payload.len() as u64) < payload_len {
            return Err(MapImageError::Truncated(format!(
                "header announces {payload_len} bytes after the header, the file has {}",
                payload.len()
            )));
        }
        if payload.len() as u64 > payload_len {
            return Err(MapImageError::Corrupt(format!(
                "{} unexpected bytes after the announced end of the file",
                payload.len() as u64 - payload_len
            )));
        }
        let expected: [u8; HEADER_SIZE - HEADER_CHECKED] = array_at(bytes, HEADER_CHECKED, "header")?;
        let found = checksum(&bytes[..HEADER_CHECKED], payload);
        if expected != found {
            return Err(MapImageError::Checksum { expected: hex(&expected), found: hex(&found) });
        }

        let mut r = Reader { bytes: payload, pos: 0 };
        let records = r.take(
            entry_count
                .checked_mul(KEY_SIZE + VALUE_SIZE)
                .ok_or_else(|| MapImageError::Corrupt(format!("entry count {entry_count} is impossible")))?,
            "entry table",
        )?;
        let mut raw = Vec::with_capacity(entry_count);
        let mut previous: Option<[u8; KEY_SIZE]> = None;
        let mut records = Reader { bytes: records, pos: 0 };
        for i in 0..entry_count {
            let kb: [u8; KEY_SIZE] = records.array("entry table")?;
            let vb: [u8; VALUE_SIZE] = records.array("entry table")?;
            if let Some(p) = previous {
                if p >= kb {
                    return Err(MapImageError::Corrupt(format!(
                        "entry {i} is not in canonical order (keys must be strictly ascending)"
                    )));
                }
            }
            if kb[1..4] != [0, 0, 0] {
                return Err(MapImageError::Corrupt(format!("entry {i} has non-zero key padding")));
            }
            if !(KIND_PATH..=KIND_ARG).contains(&kb[0]) {
                return Err(MapImageError::UnknownKind { entry: i, kind: kb[0] });
            }
            previous = Some(kb);
            let value = Value::from_bytes(&vb);
            if value.rule != u32::MAX && value.rule as usize >= rule_count {
                return Err(MapImageError::Corrupt(format!(
                    "entry {i} refers to rule {} but the provenance table has {rule_count}",
                    value.rule
                )));
            }
            raw.push((Key::from_bytes(&kb), value));
        }
        let target = r.string("target")?;
        let mut entries = Vec::with_capacity(entry_count);
        for (i, (key, value)) in raw.into_iter().enumerate() {
            let text = r.string("entry text")?;
            let entry = Entry { key, value, text };
            entry.check().map_err(|reason| MapImageError::BadEntry { entry: i, reason })?;
            entries.push(entry);
        }
        let mut rules = Vec::with_capacity(rule_count.min(payload.len()));
        for _ in 0..rule_count {
            let policy = r.string("rule policy")?;
            let at = r.string("rule location")?;
            let file = r.string("rule file")?;
            let line = u64::from_le_bytes(r.array("rule line")?);
            let line = usize::try_from(line).map_err(|_| MapImageError::Corrupt("rule line out of range".into()))?;
            let mut rule = RuleRef { policy, at, file, line, ..RuleRef::default() };
            if version != FORMAT_VERSION_V1 {
                read_rule_v2(&mut r, &mut rule)?;
            }
            rules.push(rule);
        }
        if r.pos != payload.len() {
            return Err(MapImageError::Corrupt(format!("{} unread bytes at the end", payload.len() - r.pos)));
        }
        Ok(MapImage { target, entries, rules })
    }
}

/// The fields version 2 adds to a provenance record: `severity: u8, action: string,
/// tags: u32 count + strings, message: string`.
fn read_rule_v2(r: &mut Reader<'_>, rule: &mut RuleRef) -> Result<(), MapImageError> {
    let [severity] = r.array("rule severity")?;
    if severity > MAX_SEVERITY {
        return Err(MapImageError::Corrupt(format!("rule severity {severity} is above {MAX_SEVERITY}")));
    }
    let action = r.string("rule action")?;
    if !action.is_empty() && !RULE_ACTIONS.contains(&action.as_str()) {
        return Err(MapImageError::Corrupt(format!("rule action {action:?} is not one of Allow, Audit, Block")));
    }
    let count = u32::from_le_bytes(r.array("rule tag count")?) as usize;
    // Every tag takes at least its 4-byte length: a count beyond that cannot be honest, and the
    // capacity stays bounded by the file size.
    if count > r.remaining() / 4 {
        return Err(MapImageError::Corrupt(format!("rule tag count {count} runs past the end of the file")));
    }
    let mut tags = Vec::with_capacity(count);
    for _ in 0..count {
        tags.push(r.string("rule tag")?);
    }
    let message = r.string("rule message")?;
    (rule.severity, rule.action, rule.tags, rule.message) = (severity, action, tags, message);
    Ok(())
}

/// The format version a map-image file declares (header bytes 8..10); `None` if it is too short.
/// Meaningful once `MapImage::decode` accepted the file.
pub fn format_version(bytes: &[u8]) -> Option<u16> {
    array_at(bytes, 8, "header").ok().map(u16::from_le_bytes)
}

/// Entries sorted by key bytes, the last of equal keys kept.
fn canonical_entries(entries: &[Entry]) -> Vec<&Entry> {
    // Lowering already produces canonical order: then there is nothing to sort.
    if entries.windows(2).all(|w| w[0].key.byte_order() < w[1].key.byte_order()) {
        return entries.iter().collect();
    }
    let mut keyed: Vec<(_, usize)> = entries.iter().enumerate().map(|(i, e)| (e.key.byte_order(), i)).collect();
    keyed.sort_unstable();
    let mut out: Vec<&Entry> = Vec::with_capacity(keyed.len());
    for (n, (key, i)) in keyed.iter().enumerate() {
        if keyed.get(n + 1).is_some_and(|(next, _)| next == key) {
            continue;
        }
        out.push(&entries[*i]);
    }
    out
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn checksum(header: &[u8], payload: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(header);
    h.update(payload);
    h.finalize().into()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The `N` bytes of `bytes` at `at`; an input too short for them is an error, never a panic.
fn array_at<const N: usize>(bytes: &[u8], at: usize, what: &str) -> Result<[u8; N], MapImageError> {
    bytes
        .get(at..)
        .and_then(<[u8]>::first_chunk::<N>)
        .copied()
        .ok_or_else(|| MapImageError::Corrupt(format!("{what} runs past the end of the file")))
}

/// The `N` bytes at `AT` of a fixed-size record; checked at compile time, so it cannot fail.
fn field<const AT: usize, const N: usize, const M: usize>(record: &[u8; M]) -> [u8; N] {
    const { assert!(AT + N <= M) };
    std::array::from_fn(|i| record[AT + i])
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], MapImageError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| MapImageError::Corrupt(format!("{what} runs past the end of the file")))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], MapImageError> {
        let a = array_at(self.bytes, self.pos, what)?;
        self.pos += N;
        Ok(a)
    }
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }
    fn string(&mut self, what: &str) -> Result<String, MapImageError> {
        let len = u32::from_le_bytes(self.array(what)?) as usize;
        let b = self.take(len, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| MapImageError::Corrupt(format!("{what} is not UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MapImage {
        MapImage {
            target: "ns/web/nginx".into(),
            entries: vec![
                Entry {
                    key: Key::path(KIND_PATH, b"/bin/sh", None),
                    value: Value { process: EXEC | DENY, file: 0, rule: 0 },
                    text: "/bin/sh".into(),
                },
                Entry {
                    key: Key::number(KIND_POSTURE, POSTURE_FILE, None),
                    value: Value { process: POSTURE_BLOCK, file: 0, rule: u32::MAX },
                    text: "posture:file".into(),
                },
                Entry {
                    key: Key::path(KIND_PATH, b"/etc/", Some(b"/bin/cat")),
                    value: Value { process: 0, file: READ | DIR, rule: 1 },
                    text: "/etc/\tsource=/bin/cat".into(),
                },
            ],
            rules: vec![
                RuleRef {
                    policy: "KubeArmorPolicy/ns/p".into(),
                    at: "spec.process.matchPaths[0]".into(),
                    file: "p.yaml".into(),
                    line: 7,
                    severity: 5,
                    tags: vec!["NIST".into(), "MITRE_T1059".into()],
                    message: "shell blocked".into(),
                    action: "Block".into(),
                },
                RuleRef {
                    policy: "KubeArmorPolicy/ns/p".into(),
                    at: "spec.file.matchDirectories[0]".into(),
                    file: "p.yaml".into(),
                    line: 12,
                    action: "Allow".into(),
                    ..RuleRef::default()
                },
            ],
        }
    }

    fn canonical(mut img: MapImage) -> MapImage {
        img.entries.sort_by_key(|e| e.key.to_bytes());
        img
    }

    #[test]
    fn round_trip_is_canonical_and_stable() {
        let img = sample();
        let bytes = img.encode();
        let back = MapImage::decode(&bytes).unwrap();
        assert_eq!(back, canonical(img.clone()));
        // Entry order of the input does not change the bytes.
        let mut shuffled = img.clone();
        shuffled.entries.reverse();
        assert_eq!(shuffled.encode(), bytes);
        assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn empty_image_round_trips() {
        let img = MapImage { target: "host".into(), ..Default::default() };
        assert_eq!(MapImage::decode(&img.encode()).unwrap(), img);
    }

    #[test]
    fn duplicate_keys_keep_the_last() {
        let mut img = sample();
        let mut dup = img.entries[0].clone();
        dup.value.process = EXEC;
        img.entries.push(dup);
        let back = MapImage::decode(&img.encode()).unwrap();
        assert_eq!(back.entries.len(), 3);
        let e = back.entries.iter().find(|e| e.text == "/bin/sh").unwrap();
        assert_eq!(e.value.process, EXEC);
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            let err = MapImage::decode(&bytes[..n]).unwrap_err();
            match (n, &err) {
                (0..=7, MapImageError::BadMagic) => {}
                (_, MapImageError::Truncated(_)) => {}
                _ => panic!("length {n}: unexpected {err}"),
            }
        }
    }

    #[test]
    fn every_single_byte_flip_is_rejected() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x20;
            assert!(MapImage::decode(&b).is_err(), "flip at byte {i} was accepted");
        }
    }

    #[test]
    fn other_version_is_named() {
        let good = sample().encode();
        assert_eq!(format_version(&good), Some(FORMAT_VERSION));
        for v in [0u16, 3, 9, 0x0102] {
            let mut b = good.clone();
            b[8..10].copy_from_slice(&v.to_le_bytes());
            let err = MapImage::decode(&b).unwrap_err();
            assert_eq!(err, MapImageError::Version { found: v, expected: 2 });
            assert!(err.to_string().contains(&format!("version {v}, this armorc reads versions 1 to 2")), "{err}");
        }
    }

    /// Offset (in the file) of the provenance table of `img`'s encoding.
    fn rules_offset(img: &MapImage) -> usize {
        let entries = canonical_entries(&img.entries);
        HEADER_SIZE
            + entries.len() * (KEY_SIZE + VALUE_SIZE)
            + 4
            + img.target.len()
            + entries.iter().map(|e| 4 + e.text.len()).sum::<usize>()
    }

    /// `img` as a version 1 file (provenance `policy, at, file, line` only), as armorc wrote it before.
    fn encode_v1(img: &MapImage) -> Vec<u8> {
        let v2 = img.encode();
        let mut b = v2[..rules_offset(img)].to_vec();
        for r in &img.rules {
            put_str(&mut b, &r.policy);
            put_str(&mut b, &r.at);
            put_str(&mut b, &r.file);
            b.extend_from_slice(&(r.line as u64).to_le_bytes());
        }
        b[8..10].copy_from_slice(&FORMAT_VERSION_V1.to_le_bytes());
        let payload_len = (b.len() - HEADER_SIZE) as u64;
        b[32..40].copy_from_slice(&payload_len.to_le_bytes());
        reseal(b)
    }

    /// `img` with what version 1 cannot hold cleared.
    fn as_v1(mut img: MapImage) -> MapImage {
        for r in &mut img.rules {
            (r.severity, r.tags, r.message, r.action) = (0, vec![], String::new(), String::new());
        }
        img
    }

    #[test]
    fn version_1_files_are_still_read() {
        let v1 = encode_v1(&sample());
        assert_eq!(format_version(&v1), Some(1));
        let back = MapImage::decode(&v1).unwrap();
        assert_eq!(back, as_v1(canonical(sample())));
        assert!(back.rules.iter().all(|r| r.severity == 0 && r.tags.is_empty() && r.message.is_empty()));
        assert!(back.rules.iter().all(|r| r.action.is_empty()));
        // Re-encoding writes version 2, which reads back the same.
        let v2 = back.encode();
        assert_eq!(format_version(&v2), Some(FORMAT_VERSION));
        assert_eq!(MapImage::decode(&v2).unwrap(), back);
        // An empty version 1 image too.
        let empty = MapImage { target: "host".into(), ..Default::default() };
        assert_eq!(MapImage::decode(&encode_v1(&empty)).unwrap(), empty);
    }

    #[test]
    fn version_1_damage_is_rejected() {
        let v1 = encode_v1(&sample());
        for n in 0..v1.len() {
            assert!(MapImage::decode(&v1[..n]).is_err(), "length {n} accepted");
        }
        for i in 0..v1.len() {
            let mut b = v1.clone();
            b[i] ^= 0x20;
            assert!(MapImage::decode(&b).is_err(), "flip at byte {i} was accepted");
        }
        // A version 2 payload under a version 1 header (checksum recomputed) and the reverse
        // leave bytes unread or run out.
        let mut b = sample().encode();
        b[8] = 1;
        assert!(matches!(MapImage::decode(&reseal(b)), Err(MapImageError::Corrupt(_))));
        let mut b = v1.clone();
        b[8] = 2;
        assert!(matches!(MapImage::decode(&reseal(b)), Err(MapImageError::Corrupt(_))));
    }

    #[test]
    fn version_2_rule_fields_are_checked() {
        let img = sample();
        let good = img.encode();
        let r0 = &img.rules[0];
        // The first record's severity byte, then its action string.
        let severity = rules_offset(&img) + 12 + r0.policy.len() + r0.at.len() + r0.file.len() + 8;
        let action = severity + 1;
        let tags = action + 4 + r0.action.len();
        assert_eq!(good[severity], 5);
        assert_eq!(&good[action + 4..tags], b"Block");
        assert_eq!(good[tags..tags + 4], 2u32.to_le_bytes());

        let mut b = good.clone();
        b[severity] = 11;
        let err = MapImage::decode(&reseal(b)).unwrap_err();
        assert!(err.to_string().contains("severity 11"), "{err}");
        let mut b = good.clone();
        b[action + 4..tags].copy_from_slice(b"Bleck");
        let err = MapImage::decode(&reseal(b)).unwrap_err();
        assert!(err.to_string().contains("\"Bleck\""), "{err}");
        for count in [3u32, 1 << 20, u32::MAX] {
            let mut b = good.clone();
            b[tags..tags + 4].copy_from_slice(&count.to_le_bytes());
            let err = MapImage::decode(&reseal(b)).unwrap_err();
            assert!(matches!(err, MapImageError::Corrupt(_)), "{count}: {err}");
        }
        // Fewer tags than written: the rest is misread and the file does not end where it should.
        let mut b = good.clone();
        b[tags..tags + 4].copy_from_slice(&1u32.to_le_bytes());
        assert!(MapImage::decode(&reseal(b)).is_err());
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        let mut b = sample().encode();
        b.push(0);
        assert!(matches!(MapImage::decode(&b), Err(MapImageError::Corrupt(_))));
    }

    #[test]
    fn short_input_is_an_error_not_a_panic() {
        assert_eq!(array_at::<4>(&[1, 2, 3, 4], 0, "x"), Ok([1, 2, 3, 4]));
        assert_eq!(
            array_at::<4>(&[1, 2, 3], 0, "x"),
            Err(MapImageError::Corrupt("x runs past the end of the file".into()))
        );
        assert!(array_at::<1>(&[1], 2, "x").is_err());
        assert!(array_at::<1>(&[1], usize::MAX, "x").is_err());
        let mut r = Reader { bytes: &[1, 0, 0, 0, 9], pos: 0 };
        assert_eq!(r.array::<4>("len").map(u32::from_le_bytes), Ok(1));
        assert!(r.array::<4>("len").is_err());
        assert_eq!(r.pos, 4, "a failed read consumes nothing");
    }

    #[test]
    fn key_and_value_bytes_round_trip() {
        let key = Key { kind: 7, len: 0x0102_0304, path_a: u64::MAX - 1, path_b: 42, source: 1 << 63 };
        assert_eq!(Key::from_bytes(&key.to_bytes()), key);
        let value = Value { process: 0xbeef, file: 3, rule: u32::MAX };
        assert_eq!(Value::from_bytes(&value.to_bytes()), value);
    }

    /// Recompute the checksum, as someone crafting a file would, so structural checks are reached.
    fn reseal(mut b: Vec<u8>) -> Vec<u8> {
        let sum = checksum(&b[..HEADER_CHECKED], &b[HEADER_SIZE..]);
        b[HEADER_CHECKED..HEADER_SIZE].copy_from_slice(&sum);
        b
    }

    #[test]
    fn crafted_files_with_valid_checksums_are_rejected() {
        let good = sample().encode();
        // Entry count far beyond the file: no huge allocation, a clear error.
        let mut b = good.clone();
        b[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            MapImage::decode(&reseal(b)),
            Err(MapImageError::TooManyEntries { found: u32::MAX as usize, max: MAX_ENTRIES })
        );
        let mut b = good.clone();
        b[20..24].copy_from_slice(&(MAX_ENTRIES as u32).to_le_bytes());
        assert!(matches!(MapImage::decode(&reseal(b)), Err(MapImageError::Corrupt(m)) if m.contains("entry table")));
        // Rule count beyond the file.
        let mut b = good.clone();
        b[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = MapImage::decode(&reseal(b)).unwrap_err();
        assert!(matches!(err, MapImageError::Corrupt(_)), "{err}");
        // A rule index outside the provenance table.
        let mut b = good.clone();
        b[HEADER_SIZE + KEY_SIZE + 4..HEADER_SIZE + KEY_SIZE + 8].copy_from_slice(&7u32.to_le_bytes());
        let err = MapImage::decode(&reseal(b)).unwrap_err();
        assert!(err.to_string().contains("refers to rule 7"), "{err}");
        // Keys out of order.
        let mut b = good.clone();
        let rec = KEY_SIZE + VALUE_SIZE;
        let (first, second) =
            (b[HEADER_SIZE..HEADER_SIZE + rec].to_vec(), b[HEADER_SIZE + rec..HEADER_SIZE + 2 * rec].to_vec());
        b[HEADER_SIZE..HEADER_SIZE + rec].copy_from_slice(&second);
        b[HEADER_SIZE + rec..HEADER_SIZE + 2 * rec].copy_from_slice(&first);
        assert!(MapImage::decode(&reseal(b)).unwrap_err().to_string().contains("canonical order"));
        // A string length past the end.
        let mut b = good.clone();
        let strings = HEADER_SIZE + 3 * rec;
        b[strings..strings + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(MapImage::decode(&reseal(b)).unwrap_err().to_string().contains("runs past the end"));
    }

    #[test]
    fn random_damage_never_panics() {
        let good = sample().encode();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let v1 = encode_v1(&sample());
        for round in 0..4000 {
            let mut b = if round % 2 == 0 { good.clone() } else { v1.clone() };
            for _ in 0..1 + next() % 4 {
                let i = (next() % b.len() as u64) as usize;
                b[i] = next() as u8;
            }
            let cut = (next() % (b.len() as u64 + 1)) as usize;
            b.truncate(cut.max(HEADER_SIZE.min(b.len())));
            let _ = MapImage::decode(&b);
            let _ = MapImage::decode(&reseal(b));
        }
    }

    #[test]
    fn hash_ab_is_both_hashes() {
        for s in ["", "/", "/usr/bin/", "/etc/ssh/sshd_config", "é/ü"] {
            assert_eq!(hash_ab(s.as_bytes()), (hash_a(s.as_bytes()), hash_b(s.as_bytes())));
            let (head, tail) = s.as_bytes().split_at(s.len() / 2);
            assert_eq!(hash_ab_extend(hash_ab(head), tail), hash_ab(s.as_bytes()));
        }
    }

    #[test]
    fn byte_order_matches_key_bytes() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Small field ranges too, so equal leading fields are common.
        let keys: Vec<Key> = (0..400)
            .map(|i| {
                let small = i % 2 == 0;
                let field = |x: u64| if small { x % 3 } else { x };
                Key {
                    kind: (next() % 3) as u8,
                    len: field(next()) as u32,
                    path_a: field(next()),
                    path_b: field(next()),
                    source: field(next()),
                }
            })
            .collect();
        for a in &keys {
            for b in &keys {
                assert_eq!(a.byte_order().cmp(&b.byte_order()), a.to_bytes().cmp(&b.to_bytes()), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn mask_names() {
        assert_eq!(mask_to_string(READ | OWNER), "READ|OWNER");
        assert_eq!(mask_to_string(0), "-");
        assert_eq!(mask_to_string(0x8000), "0x8000");
    }

    /// Valid checksums, but fields the format doc does not allow: each is a typed error.
    #[test]
    fn strict_decode_checks_every_entry_field() {
        let good = sample().encode();
        let rec = KEY_SIZE + VALUE_SIZE;
        // Unknown kinds: the first entry (smallest key) to 0, the last (posture) to 9, 127, 255,
        // so the order stays canonical and only the kind is wrong.
        for (entry, kind) in [(0usize, 0u8), (2, 9), (2, 127), (2, 255)] {
            let mut b = good.clone();
            b[HEADER_SIZE + entry * rec] = kind;
            assert_eq!(MapImage::decode(&reseal(b)), Err(MapImageError::UnknownKind { entry, kind }), "kind {kind}");
        }
        let entry = |key: Key, process: u16, file: u16, rule: u32, text: &str| Entry {
            key,
            value: Value { process, file, rule },
            text: text.into(),
        };
        let path = |s: &str| Key::path(KIND_PATH, s.as_bytes(), None);
        let bad = [
            (entry(path("/a"), 0, READ | 0x0400, u32::MAX, "/a"), "undefined mask bits 0x0400"),
            (entry(path("/a"), 0x8000, 0, u32::MAX, "/a"), "undefined mask bits 0x8000"),
            (entry(path("/a"), 0, READ, u32::MAX, "/b"), "do not match the text"),
            (entry(Key { len: 9, ..path("/a") }, 0, READ, u32::MAX, "/a"), "do not match the text"),
            (entry(Key::path(KIND_PATH, b"/abc", Some(b"/x")), 0, READ, u32::MAX, "/a"), "does not fit its key"),
            (entry(path("/a"), 0, READ, u32::MAX, "/a\tsource=/bin/sh"), "do not match the text"),
            (
                entry(Key::path(KIND_PATH, b"/a", Some(b"/bin/sh")), 0, READ, u32::MAX, "/a\tsource=/bin/x"),
                "source hash",
            ),
            (entry(Key::number(KIND_NET_PROTO, 6, None), DENY, 0, u32::MAX, "udp"), "not the name of number 6"),
            (entry(Key::number(KIND_NET_TYPE, 1, None), DENY, READ, u32::MAX, "stream"), "file mask"),
            (entry(Key::number(KIND_CAPABILITY, 99, None), DENY, 0, u32::MAX, "x"), "not the name of number 99"),
            (
                entry(Key { path_a: 1, ..Key::number(KIND_CAPABILITY, 13, None) }, DENY, 0, u32::MAX, "net_raw"),
                "hashes",
            ),
            (entry(Key::number(KIND_POSTURE, POSTURE_FILE, None), 3, 0, u32::MAX, "posture:file"), "posture value 3"),
            (entry(Key::number(KIND_POSTURE, 9, None), 1, 0, u32::MAX, "posture:file"), "not the name of number 9"),
            (
                entry(
                    Key { kind: KIND_ARG, len: 2, path_a: hash_a(b"/bin/ls"), path_b: hash_a(b"-l"), source: 0 },
                    ARGSET,
                    0,
                    u32::MAX,
                    "/bin/ls\targ=-a",
                ),
                "arg key hashes",
            ),
        ];
        for (e, want) in bad {
            let img = MapImage { target: "t".into(), entries: vec![e.clone()], rules: Vec::new() };
            let err = MapImage::decode(&img.encode()).unwrap_err();
            assert!(matches!(err, MapImageError::BadEntry { entry: 0, .. }), "{e:?}: {err}");
            assert!(err.to_string().contains(want), "{e:?}: {err}");
        }
        // What lowering writes is accepted, a tab inside a path included.
        let good = [
            entry(Key::path(KIND_PATH, b"/a\tb", Some(b"/bin/x")), 0, READ, u32::MAX, "/a\tb\tsource=/bin/x"),
            entry(
                Key { kind: KIND_ARG, len: 2, path_a: hash_a(b"/bin/ls"), path_b: hash_a(b"-l"), source: 0 },
                ARGSET,
                0,
                u32::MAX,
                "/bin/ls\targ=-l",
            ),
            entry(Key::number(KIND_CAPABILITY, 0, None), DENY, 0, u32::MAX, "chown (unknown name foo)"),
            entry(Key::number(KIND_NET_TYPE, 10, Some(b"/bin/x")), DENY, 0, u32::MAX, "packet\tsource=/bin/x"),
        ];
        let img = MapImage { target: "t".into(), entries: good.to_vec(), rules: Vec::new() };
        let back = MapImage::decode(&img.encode()).unwrap();
        let tab = back.entries.iter().find(|e| e.key.kind == KIND_PATH).unwrap();
        assert_eq!((tab.main_text(), tab.source_text()), ("/a\tb", Some("/bin/x")));
        let arg = back.entries.iter().find(|e| e.key.kind == KIND_ARG).unwrap();
        assert_eq!((arg.main_text(), arg.arg_text(), arg.source_text()), ("/bin/ls", Some("-l"), None));
    }
}
