//! The serialized query the test-run harness reads (bpf/armor.h `struct armor_query_hdr`,
//! then path, source and argument bytes). Only raw bytes and numbers: the kernel computes every
//! hash and key itself.

use armorc_compiler::model::{Query, MAX_ARGS};

/// Bytes the kernel strips as the Ethernet header before the socket filter sees the packet.
const ETH_HLEN: usize = 14;
const HDR: usize = 48;
/// Largest packet BPF_PROG_TEST_RUN accepts for a socket filter (a page minus head/tailroom),
/// with margin.
pub const MAX_PACKET: usize = 3400;

/// The packet for one query against the target map at `key` ({pid ns, mnt ns}).
pub fn encode(q: &Query, key: (u32, u32)) -> Result<Vec<u8>, String> {
    if q.args.len() > MAX_ARGS {
        return Err(format!("{} arguments, the harness takes {MAX_ARGS}", q.args.len()));
    }
    let mut p = vec![0u8; ETH_HLEN];
    p.push(q.op.code());
    p.push(q.owner as u8);
    p.push(q.tty as u8);
    p.push(q.args.len() as u8);
    p.extend_from_slice(&(q.path.len() as u16).to_le_bytes());
    p.extend_from_slice(&(q.source.len() as u16).to_le_bytes());
    for n in [q.sock_type, q.protocol, q.capability, key.0, key.1] {
        p.extend_from_slice(&n.to_le_bytes());
    }
    let mut lens = [0u8; MAX_ARGS];
    for (l, a) in lens.iter_mut().zip(&q.args) {
        *l = u8::try_from(a.len()).map_err(|_| "argument longer than 255 bytes".to_string())?;
    }
    p.extend_from_slice(&lens);
    debug_assert_eq!(p.len(), ETH_HLEN + HDR);
    p.extend_from_slice(&q.path);
    p.extend_from_slice(&q.source);
    for a in &q.args {
        p.extend_from_slice(a);
    }
    if p.len() > MAX_PACKET {
        return Err(format!("query of {} bytes exceeds the test-run packet limit ({MAX_PACKET})", p.len()));
    }
    Ok(p)
}
