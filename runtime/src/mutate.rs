//! Query generation by mutating map-image entries (never from the model's answers): parent,
//! child, sibling, trailing slash, deep paths past 64 bytes, 199- and 200-byte paths, unknown
//! source, owner and tty flips, socket types and protocols, capabilities, allowedArgs.
//! Also builds images from policy YAML with the compiler's front-end and BPF lowering.

use armorc_compiler::compose::{Enforcement, Posture, PostureAction, Target};
use armorc_compiler::image::*;
use armorc_compiler::ir::{Policy, PolicyKind};
use armorc_compiler::model::{Op, Query};
use armorc_compiler::source::SourceFile;

/// xorshift64*: small, seeded, reproducible.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The ops decided on a path: every op but `socket` and `capable` (the last two of `Op::ALL`).
const PATH_OPS: &[Op] = Op::ALL.split_at(12).0;
const SOCK_TYPES: [u32; 8] = [0, 1, 2, 3, 4, 5, 6, 10];
const PROTOCOLS: [u32; 7] = [0, 1, 6, 17, 58, 132, 255];
const UNKNOWN_SOURCE: &str = "/opt/unknown/bin/tool";

fn parent(p: &str) -> String {
    let t = p.trim_end_matches('/');
    match t.rfind('/') {
        Some(i) => t[..=i].to_string(),
        None => "/".to_string(),
    }
}

/// A path of exactly `len` bytes under `base` (a directory prefix), if `base` is short enough.
fn sized(base: &str, len: usize) -> Option<String> {
    let dir = if base.ends_with('/') { base.to_string() } else { format!("{base}/") };
    if dir.len() + 1 > len {
        return None;
    }
    let mut p = dir;
    while p.len() < len {
        // 30-byte components keep adding directory levels until the length is reached
        let room = len - p.len();
        if room > 31 {
            p.push_str(&"d".repeat(30));
            p.push('/');
        } else {
            p.push_str(&"f".repeat(room));
        }
    }
    Some(p)
}

/// Path variants of a path or directory-prefix entry.
fn path_variants(text: &str) -> Vec<String> {
    let mut v = vec![text.to_string()];
    let is_dir = text.ends_with('/');
    let p = parent(text);
    v.push(p.clone());
    v.push(p.trim_end_matches('/').to_string());
    if is_dir {
        v.push(format!("{text}file"));
        v.push(format!("{text}sub/file"));
        v.push(text.trim_end_matches('/').to_string());
    } else {
        v.push(format!("{text}/"));
        v.push(format!("{text}/child"));
        v.push(format!("{p}sibling"));
        v.push(format!("{text}x"));
    }
    // deeper than the 64-byte walk KubeArmor has
    let deep =
        format!("{}/{}/leaf", text.trim_end_matches('/'), "component-of-a-deep-tree/".repeat(3).trim_end_matches('/'));
    v.push(deep);
    for len in [199, 200, 201] {
        if let Some(s) = sized(if is_dir { text } else { &p }, len) {
            v.push(s);
        }
    }
    v.retain(|s| !s.is_empty() && s.len() <= MAX_PATH);
    v
}

fn source_choices(entry_source: Option<&str>) -> Vec<Vec<u8>> {
    let mut s = vec![Vec::new(), UNKNOWN_SOURCE.as_bytes().to_vec()];
    if let Some(src) = entry_source {
        s.push(src.as_bytes().to_vec());
        s.push(src.as_bytes().to_vec());
    }
    s
}

fn flags(rng: &mut Rng, q: &mut Query, sources: &[Vec<u8>]) {
    q.source = rng.pick(sources).clone();
    q.owner = rng.coin();
    q.tty = rng.coin();
}

/// About `per_entry` queries for every entry of `image`.
pub fn queries(image: &MapImage, rng: &mut Rng, per_entry: usize) -> Vec<Query> {
    let mut out = Vec::new();
    for e in &image.entries {
        let sources = source_choices(e.source_text());
        match e.key.kind {
            KIND_PATH => {
                let variants = path_variants(e.main_text());
                for i in 0..per_entry {
                    let path = &variants[i % variants.len()];
                    let op = if rng.below(3) == 0 { Op::Exec } else { *rng.pick(PATH_OPS) };
                    let mut q = Query { path: path.as_bytes().to_vec(), ..Query::new(op) };
                    flags(rng, &mut q, &sources);
                    out.push(q);
                }
            }
            KIND_EXECNAME => {
                let name = e.main_text();
                let paths = [
                    format!("/usr/local/bin/{name}"),
                    format!("/{name}"),
                    format!("/bin/{name}x"),
                    format!("/opt/{name}/bin"),
                ];
                for i in 0..per_entry {
                    let mut q = Query { path: paths[i % paths.len()].as_bytes().to_vec(), ..Query::new(Op::Exec) };
                    flags(rng, &mut q, &sources);
                    out.push(q);
                }
            }
            KIND_ARG => {
                let exe = e.main_text();
                let arg = e.arg_text().unwrap_or("").to_string();
                let argsets = [
                    vec![arg.clone()],
                    vec![arg.clone(), "--other".into()],
                    vec![],
                    vec!["--other".into()],
                    vec![arg.clone(), arg],
                ];
                for i in 0..per_entry {
                    let mut q = Query { path: exe.as_bytes().to_vec(), ..Query::new(Op::Exec) };
                    q.args = argsets[i % argsets.len()].iter().map(|a| a.as_bytes().to_vec()).collect();
                    flags(rng, &mut q, &sources);
                    out.push(q);
                }
            }
            KIND_NET_TYPE | KIND_NET_PROTO => {
                for _ in 0..per_entry {
                    let mut q = Query::new(Op::Socket);
                    let n = e.key.len;
                    if e.key.kind == KIND_NET_TYPE {
                        q.sock_type = if rng.coin() { n } else { *rng.pick(&SOCK_TYPES) };
                        q.protocol = *rng.pick(&PROTOCOLS);
                    } else {
                        q.protocol = if rng.coin() { n } else { *rng.pick(&PROTOCOLS) };
                        q.sock_type = *rng.pick(&SOCK_TYPES);
                    }
                    flags(rng, &mut q, &sources);
                    out.push(q);
                }
            }
            KIND_CAPABILITY => {
                for i in 0..per_entry {
                    let mut q = Query::new(Op::Capable);
                    q.capability = e.key.len + (i % 2) as u32;
                    flags(rng, &mut q, &sources);
                    out.push(q);
                }
            }
            _ => {
                // posture (and DNS, which no hook here looks up): unrelated paths, sockets, caps
                for _ in 0..per_entry {
                    let mut q = match rng.below(4) {
                        0 => Query {
                            sock_type: *rng.pick(&SOCK_TYPES),
                            protocol: *rng.pick(&PROTOCOLS),
                            ..Query::new(Op::Socket)
                        },
                        1 => Query { capability: rng.below(41) as u32, ..Query::new(Op::Capable) },
                        _ => Query {
                            path: format!("/nowhere/{}/x", rng.below(1000)).into_bytes(),
                            ..Query::new(*rng.pick(PATH_OPS))
                        },
                    };
                    flags(rng, &mut q, &sources);
                    out.push(q);
                }
            }
        }
    }
    out
}

/// Map images from one YAML source: all its policies on one container target (or the host if
/// they are all host policies), under the given posture.
pub fn images_from_yaml(name: &str, text: &str, posture: Posture) -> Vec<MapImage> {
    let checked = armorc_compiler::check_source(SourceFile::new(name, text));
    if checked.policies.is_empty() {
        return vec![];
    }
    vec![image_for(&checked.policies, posture)]
}

pub fn image_for(policies: &[Policy], posture: Posture) -> MapImage {
    let refs: Vec<&Policy> = policies.iter().collect();
    armorc_compiler::lower::bpf::lower_target(&target_for(policies, posture), &refs)
}

/// The one target all of `policies` apply to (a container, or the host if they are all host
/// policies), under `posture`: what the generated images and profiles are lowered for.
pub fn target_for(policies: &[Policy], posture: Posture) -> Target {
    let host = policies.iter().all(|p| p.kind == PolicyKind::KubeArmorHostPolicy);
    Target {
        namespace: (!host).then(|| "ns".to_string()),
        workload: (!host).then(|| "w".to_string()),
        workload_kind: (!host).then(|| "Deployment".to_string()),
        container: (!host).then(|| "c".to_string()),
        host,
        enforcement: Enforcement::Enabled,
        posture,
        policies: (0..policies.len()).collect(),
    }
}

/// Postures to cycle through (block, audit, mixed).
pub fn postures() -> [Posture; 3] {
    use PostureAction::*;
    [
        Posture { file: Block, network: Block, capabilities: Block },
        Posture { file: Audit, network: Audit, capabilities: Audit },
        Posture { file: Block, network: Audit, capabilities: Block },
    ]
}

/// A static executable that exits 0 (exec targets of the live tests and the bench: no loader,
/// no libraries to open, so an exec is exactly one file_open and one bprm check).
pub fn tiny_elf() -> Vec<u8> {
    #[cfg(target_arch = "x86_64")]
    let code: &[u8] = &[0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05]; // exit(0)
    #[cfg(target_arch = "aarch64")]
    let code: &[u8] = &[0xa8, 0x0b, 0x80, 0xd2, 0x00, 0x00, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4]; // exit(0)
    elf_running(code)
}

/// A static executable that spins until killed: a process of the test's own architecture that
/// stays (a tool such as `sleep` may run emulated in the arm64 lab, where its exe is the emulator).
pub fn spinning_elf() -> Vec<u8> {
    #[cfg(target_arch = "x86_64")]
    let code: &[u8] = &[0xeb, 0xfe]; // jmp .
    #[cfg(target_arch = "aarch64")]
    let code: &[u8] = &[0x00, 0x00, 0x00, 0x14]; // b .
    elf_running(code)
}

/// An ELF executable for this machine whose one segment is `code`, entered at its first byte.
fn elf_running(code: &[u8]) -> Vec<u8> {
    #[cfg(target_arch = "x86_64")]
    let machine: u16 = 62;
    #[cfg(target_arch = "aarch64")]
    let machine: u16 = 183;
    let base: u64 = 0x400000;
    let entry = base + 120;
    let mut e = Vec::new();
    e.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&machine.to_le_bytes());
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&entry.to_le_bytes());
    e.extend_from_slice(&64u64.to_le_bytes()); // phoff
    e.extend_from_slice(&0u64.to_le_bytes()); // shoff
    e.extend_from_slice(&0u32.to_le_bytes()); // flags
    for v in [64u16, 56, 1, 64, 0, 0] {
        e.extend_from_slice(&v.to_le_bytes()); // ehsize phentsize phnum shentsize shnum shstrndx
    }
    let size = 120 + code.len() as u64;
    e.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e.extend_from_slice(&5u32.to_le_bytes()); // R+X
    for v in [0u64, base, base, size, size, 0x1000] {
        e.extend_from_slice(&v.to_le_bytes()); // offset vaddr paddr filesz memsz align
    }
    e.extend_from_slice(code);
    e
}
