//! Query lines and answers for the reference decision model (`armorc query`, `armor-loader
//! verify`). A query line is one JSON object:
//! `{"op":..,"path":..,"source":..,"owner":bool,"tty":bool,"args":[..],"type":..,"protocol":..,
//! "capability":..}`; absent fields: owner/tty false, no source, no args.

use crate::image::{MapImage, MAX_PATH};
use crate::model::{Decision, Op, Operation, Query, MAX_ARGS, MAX_ARG_LEN};
use serde_json::{json, Map, Value as Json};

/// Bytes of one query line (`armorc query` reads lines as they come, so this bounds its memory).
pub const MAX_LINE_BYTES: u64 = 1 << 20;

/// The next line of `reader` (without its newline) into `buf`; `Ok(false)` at the end. A line
/// over `MAX_LINE_BYTES` is an error: nothing past the limit is read.
pub fn read_line<R: std::io::BufRead + ?Sized>(reader: &mut R, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    use std::io::{BufRead, Read};
    buf.clear();
    let n = reader.take(MAX_LINE_BYTES + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if buf.len() as u64 > MAX_LINE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("longer than {} bytes, the limit for a query line (docs/limits.md)", MAX_LINE_BYTES),
        ));
    }
    Ok(true)
}

/// Socket type names (SOCK_*).
pub const SOCK_TYPES: [(&str, u32); 7] =
    [("stream", 1), ("dgram", 2), ("raw", 3), ("rdm", 4), ("seqpacket", 5), ("dccp", 6), ("packet", 10)];
/// Protocol names (IPPROTO_*).
pub const PROTOCOLS: [(&str, u32); 5] = [("icmp", 1), ("tcp", 6), ("udp", 17), ("icmpv6", 58), ("sctp", 132)];
/// Capability names in Linux numbering (CAP_CHOWN = 0 ...).
pub const CAPABILITIES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

fn number_or_name(v: &Json, field: &str, names: &[(&str, u32)]) -> Result<u32, String> {
    match v {
        Json::Number(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("{field}: expected a non-negative number, got {n}")),
        Json::String(s) => {
            let lower = s.to_ascii_lowercase();
            names.iter().find(|(n, _)| *n == lower).map(|(_, v)| *v).ok_or_else(|| {
                let known: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
                format!("{field}: unknown value {s:?} (expected one of {} or a number)", known.join(", "))
            })
        }
        _ => Err(format!("{field}: expected a string or a number")),
    }
}

/// Capability number from `net_raw`, `CAP_NET_RAW` or a number.
pub fn capability_number(v: &Json) -> Result<u32, String> {
    if let Json::String(s) = v {
        let lower = s.to_ascii_lowercase();
        let name = lower.strip_prefix("cap_").unwrap_or(&lower);
        return CAPABILITIES
            .iter()
            .position(|c| *c == name)
            .map(|i| i as u32)
            .ok_or_else(|| format!("capability: unknown capability {s:?}"));
    }
    number_or_name(v, "capability", &[])
}

fn string(v: &Json, field: &str) -> Result<Vec<u8>, String> {
    v.as_str().map(|s| s.as_bytes().to_vec()).ok_or_else(|| format!("{field}: expected a string"))
}

fn boolean(v: &Json, field: &str) -> Result<bool, String> {
    v.as_bool().ok_or_else(|| format!("{field}: expected true or false"))
}

/// Parse one query line.
pub fn parse_line(line: &str) -> Result<Query, String> {
    let v: Json = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Json::Object(obj) = v else { return Err("expected a JSON object".into()) };
    parse_object(&obj)
}

/// Parse a query from a JSON object (also used for the single-query flags).
pub fn parse_object(obj: &Map<String, Json>) -> Result<Query, String> {
    let op_name = obj.get("op").and_then(Json::as_str).ok_or("missing \"op\" (a string)")?;
    let op = Op::parse(op_name).ok_or_else(|| {
        let ops: Vec<&str> = Op::ALL.iter().map(|o| o.name()).collect();
        format!("op: unknown op {op_name:?} (expected one of {})", ops.join(", "))
    })?;
    let mut q = Query::new(op);
    for (k, v) in obj {
        if v.is_null() {
            continue;
        }
        match k.as_str() {
            "op" => {}
            "path" => q.path = string(v, "path")?,
            "source" => q.source = string(v, "source")?,
            "owner" => q.owner = boolean(v, "owner")?,
            "tty" => q.tty = boolean(v, "tty")?,
            "args" => {
                let Json::Array(items) = v else { return Err("args: expected an array of strings".into()) };
                q.args = items.iter().map(|a| string(a, "args[]")).collect::<Result<_, _>>()?;
            }
            "type" => q.sock_type = number_or_name(v, "type", &SOCK_TYPES)?,
            "protocol" => q.protocol = number_or_name(v, "protocol", &PROTOCOLS)?,
            "capability" => q.capability = capability_number(v)?,
            other => return Err(format!("unknown field {other:?}")),
        }
    }
    check(&q, obj)?;
    Ok(q)
}

fn check(q: &Query, obj: &Map<String, Json>) -> Result<(), String> {
    let has = |f: &str| obj.get(f).is_some_and(|v| !v.is_null());
    if q.op.has_path() && !has("path") {
        return Err(format!("op {}: missing \"path\"", q.op.name()));
    }
    if q.op == Op::Socket && !has("type") && !has("protocol") {
        return Err("op socket: give \"type\" and/or \"protocol\"".into());
    }
    if q.op == Op::Capable && !has("capability") {
        return Err("op capable: missing \"capability\"".into());
    }
    if q.path.len() > MAX_PATH {
        return Err(format!("path: {} bytes, longer than the kernel's {MAX_PATH}", q.path.len()));
    }
    if q.source.len() > MAX_PATH {
        return Err(format!("source: {} bytes, longer than the kernel's {MAX_PATH}", q.source.len()));
    }
    if q.args.len() > MAX_ARGS {
        return Err(format!("args: {} arguments, more than the kernel checks ({MAX_ARGS})", q.args.len()));
    }
    if let Some(a) = q.args.iter().find(|a| a.len() > MAX_ARG_LEN) {
        return Err(format!("args: an argument of {} bytes, longer than {MAX_ARG_LEN}", a.len()));
    }
    Ok(())
}

/// The answer line for a decision, fields in the documented order:
/// `{"decision":..,"audit":..,"rule":{"policy","at","file","line"}|null,"by":..}`.
pub fn answer(image: &MapImage, d: &Decision) -> String {
    let s = |v: &str| Json::from(v).to_string();
    let rule = match d.rule.and_then(|i| image.rules.get(i as usize)) {
        Some(r) => {
            format!(r#"{{"policy":{},"at":{},"file":{},"line":{}}}"#, s(&r.policy), s(&r.at), s(&r.file), r.line)
        }
        None => "null".into(),
    };
    format!(
        r#"{{"decision":"{}","audit":{},"rule":{rule},"by":"{}"}}"#,
        if d.deny { "deny" } else { "allow" },
        d.audit,
        d.by.name()
    )
}

/// The answer line for a real operation: `answer` of the deciding hook, plus, when the kernel
/// runs more than one hook for it (exec: file_open then bprm; write: file_open then
/// file_permission), `"hooks":[{"hook":..,"decision":..,"by":..},..]` in kernel order.
pub fn answer_operation(image: &MapImage, op: &Operation) -> String {
    let mut line = answer(image, &op.decision);
    if op.hooks.len() > 1 {
        let hooks: Vec<String> = op
            .hooks
            .iter()
            .map(|(h, d)| {
                format!(
                    r#"{{"hook":"{}","decision":"{}","by":"{}"}}"#,
                    h.name(),
                    if d.deny { "deny" } else { "allow" },
                    d.by.name()
                )
            })
            .collect();
        line.pop();
        line.push_str(&format!(r#","hooks":[{}]}}"#, hooks.join(",")));
    }
    line
}

/// The answer line for a bad query line.
pub fn error_answer(msg: &str) -> String {
    json!({ "error": msg }).to_string()
}

/// A query back as a JSON line (for reports and generated query files).
pub fn to_line(q: &Query) -> String {
    let mut o = Map::new();
    o.insert("op".into(), json!(q.op.name()));
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if q.op.has_path() {
        o.insert("path".into(), json!(s(&q.path)));
    }
    if !q.source.is_empty() {
        o.insert("source".into(), json!(s(&q.source)));
    }
    if q.owner {
        o.insert("owner".into(), json!(true));
    }
    if q.tty {
        o.insert("tty".into(), json!(true));
    }
    if !q.args.is_empty() {
        o.insert("args".into(), json!(q.args.iter().map(|a| s(a)).collect::<Vec<_>>()));
    }
    if q.op == Op::Socket {
        o.insert("type".into(), json!(q.sock_type));
        o.insert("protocol".into(), json!(q.protocol));
    }
    if q.op == Op::Capable {
        o.insert("capability".into(), json!(q.capability));
    }
    Json::Object(o).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_defaults() {
        let q = parse_line(r#"{"op":"exec","path":"/bin/ls"}"#).unwrap();
        assert_eq!((q.op, q.owner, q.tty, q.source.len(), q.args.len()), (Op::Exec, false, false, 0, 0));
        let q = parse_line(r#"{"op":"socket","type":"stream","protocol":"tcp","tty":true}"#).unwrap();
        assert_eq!((q.sock_type, q.protocol, q.tty), (1, 6, true));
        let q = parse_line(r#"{"op":"capable","capability":"CAP_NET_RAW"}"#).unwrap();
        assert_eq!(q.capability, 13);
        assert_eq!(parse_line(&to_line(&q)).unwrap(), q);
    }

    #[test]
    fn rejects_bad_lines() {
        for (line, msg) in [
            ("{", "not JSON"),
            (r#"{"op":"fly","path":"/"}"#, "unknown op"),
            (r#"{"op":"exec"}"#, "missing \"path\""),
            (r#"{"op":"exec","path":"/x","owner":"yes"}"#, "owner"),
            (r#"{"op":"capable","capability":"net_rawx"}"#, "unknown capability"),
            (r#"{"op":"exec","path":"/x","colour":1}"#, "unknown field"),
        ] {
            let e = parse_line(line).unwrap_err();
            assert!(e.contains(msg), "{line}: {e}");
        }
        let long = format!(r#"{{"op":"open","path":"/{}"}}"#, "a".repeat(MAX_PATH));
        assert!(parse_line(&long).unwrap_err().contains("longer"));
    }
}
