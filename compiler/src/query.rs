//! Query lines and answers for the reference decision model (`armorc query`, `armor-loader
//! verify`). A query line is one JSON object:
//! `{"op":..,"path":..,"source":..,"owner":bool,"tty":bool,"args":[..],"type":..,"protocol":..,
//! "capability":..,"connect":..|"bind":..}`; absent fields: owner/tty false, no source, no args,
//! no connect or bind (a port, for op socket: what the new socket does next).

use crate::image::{MapImage, MAX_PATH};
use crate::model::{Decision, Op, Operation, Query, SocketCall, MAX_ARGS, MAX_ARG_LEN};
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

/// What is wrong with a query line or object. `Display` is the message `armorc query` answers
/// with (`{"error":..}`); a message about one field starts with that field's name.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("expected a JSON object")]
    NotObject,
    #[error("missing \"op\" (a string)")]
    MissingOp,
    #[error("op: unknown op {0:?} (expected one of {ops})", ops = op_names())]
    UnknownOp(String),
    #[error("unknown field {0:?}")]
    UnknownField(String),
    #[error("{field}: expected a string")]
    NotString { field: &'static str },
    #[error("{field}: expected true or false")]
    NotBool { field: &'static str },
    #[error("args: expected an array of strings")]
    ArgsNotArray,
    #[error("{field}: expected a string or a number")]
    NotStringOrNumber { field: &'static str },
    #[error("{field}: expected a non-negative number, got {got}")]
    NotNonNegative { field: &'static str, got: serde_json::Number },
    #[error("{field}: unknown value {value:?} (expected one of {known} or a number)", known = value_names(.names))]
    UnknownName { field: &'static str, value: String, names: &'static [(&'static str, u32)] },
    #[error("{field}: expected a port number (0-65535)")]
    NotPort { field: &'static str },
    #[error("\"connect\" and \"bind\" are for op socket, and only one of them")]
    SocketCall,
    #[error("capability: unknown capability {0:?}")]
    UnknownCapability(String),
    #[error("op {op}: missing \"path\"")]
    MissingPath { op: &'static str },
    #[error("op socket: give \"type\" and/or \"protocol\"")]
    MissingSocketKind,
    #[error("op capable: missing \"capability\"")]
    MissingCapability,
    #[error("{field}: {len} bytes, longer than the kernel's {MAX_PATH}")]
    TooLong { field: &'static str, len: usize },
    #[error("args: {0} arguments, more than the kernel checks ({MAX_ARGS})")]
    TooManyArgs(usize),
    #[error("args: an argument of {0} bytes, longer than {MAX_ARG_LEN}")]
    ArgTooLong(usize),
}

impl QueryError {
    /// The query field the error is about (`args` for `args[]`), if it is about one field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            QueryError::UnknownOp(_) => Some("op"),
            QueryError::NotString { field }
            | QueryError::NotBool { field }
            | QueryError::NotStringOrNumber { field }
            | QueryError::NotNonNegative { field, .. }
            | QueryError::UnknownName { field, .. }
            | QueryError::TooLong { field, .. }
            | QueryError::NotPort { field } => Some(field.trim_end_matches("[]")),
            QueryError::ArgsNotArray | QueryError::TooManyArgs(_) | QueryError::ArgTooLong(_) => Some("args"),
            QueryError::UnknownCapability(_) => Some("capability"),
            QueryError::NotJson(_)
            | QueryError::NotObject
            | QueryError::MissingOp
            | QueryError::UnknownField(_)
            | QueryError::MissingPath { .. }
            | QueryError::MissingSocketKind
            | QueryError::SocketCall
            | QueryError::MissingCapability => None,
        }
    }
}

fn op_names() -> String {
    Op::ALL.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ")
}

fn value_names(names: &[(&str, u32)]) -> String {
    names.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

fn number_or_name(v: &Json, field: &'static str, names: &'static [(&'static str, u32)]) -> Result<u32, QueryError> {
    match v {
        Json::Number(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| QueryError::NotNonNegative { field, got: n.clone() }),
        Json::String(s) => {
            let lower = s.to_ascii_lowercase();
            names.iter().find(|(n, _)| *n == lower).map(|(_, v)| *v).ok_or_else(|| QueryError::UnknownName {
                field,
                value: s.clone(),
                names,
            })
        }
        _ => Err(QueryError::NotStringOrNumber { field }),
    }
}

/// Capability number from `net_raw`, `CAP_NET_RAW` or a number.
pub fn capability_number(v: &Json) -> Result<u32, QueryError> {
    if let Json::String(s) = v {
        let lower = s.to_ascii_lowercase();
        let name = lower.strip_prefix("cap_").unwrap_or(&lower);
        return CAPABILITIES
            .iter()
            .position(|c| *c == name)
            .map(|i| i as u32)
            .ok_or_else(|| QueryError::UnknownCapability(s.clone()));
    }
    number_or_name(v, "capability", &[])
}

fn string(v: &Json, field: &'static str) -> Result<Vec<u8>, QueryError> {
    v.as_str().map(|s| s.as_bytes().to_vec()).ok_or(QueryError::NotString { field })
}

fn boolean(v: &Json, field: &'static str) -> Result<bool, QueryError> {
    v.as_bool().ok_or(QueryError::NotBool { field })
}

/// Parse one query line.
pub fn parse_line(line: &str) -> Result<Query, QueryError> {
    let v: Json = serde_json::from_str(line)?;
    let Json::Object(obj) = v else { return Err(QueryError::NotObject) };
    parse_object(&obj)
}

/// Parse a query from a JSON object (also used for the single-query flags).
pub fn parse_object(obj: &Map<String, Json>) -> Result<Query, QueryError> {
    let op_name = obj.get("op").and_then(Json::as_str).ok_or(QueryError::MissingOp)?;
    let op = Op::parse(op_name).ok_or_else(|| QueryError::UnknownOp(op_name.to_string()))?;
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
                let Json::Array(items) = v else { return Err(QueryError::ArgsNotArray) };
                q.args = items.iter().map(|a| string(a, "args[]")).collect::<Result<_, _>>()?;
            }
            "type" => q.sock_type = number_or_name(v, "type", &SOCK_TYPES)?,
            "protocol" => q.protocol = number_or_name(v, "protocol", &PROTOCOLS)?,
            "capability" => q.capability = capability_number(v)?,
            "connect" | "bind" => {
                let field = if k == "connect" { "connect" } else { "bind" };
                let port = v.as_u64().and_then(|n| u16::try_from(n).ok()).ok_or(QueryError::NotPort { field })?;
                if q.call.is_some() {
                    return Err(QueryError::SocketCall);
                }
                q.call = Some(if field == "connect" { SocketCall::Connect(port) } else { SocketCall::Bind(port) });
            }
            other => return Err(QueryError::UnknownField(other.to_string())),
        }
    }
    check(&q, obj)?;
    Ok(q)
}

fn check(q: &Query, obj: &Map<String, Json>) -> Result<(), QueryError> {
    let has = |f: &str| obj.get(f).is_some_and(|v| !v.is_null());
    if q.op.has_path() && !has("path") {
        return Err(QueryError::MissingPath { op: q.op.name() });
    }
    if q.op == Op::Socket && !has("type") && !has("protocol") {
        return Err(QueryError::MissingSocketKind);
    }
    if q.call.is_some() && q.op != Op::Socket {
        return Err(QueryError::SocketCall);
    }
    if q.op == Op::Capable && !has("capability") {
        return Err(QueryError::MissingCapability);
    }
    if q.path.len() > MAX_PATH {
        return Err(QueryError::TooLong { field: "path", len: q.path.len() });
    }
    if q.source.len() > MAX_PATH {
        return Err(QueryError::TooLong { field: "source", len: q.source.len() });
    }
    if q.args.len() > MAX_ARGS {
        return Err(QueryError::TooManyArgs(q.args.len()));
    }
    if let Some(a) = q.args.iter().find(|a| a.len() > MAX_ARG_LEN) {
        return Err(QueryError::ArgTooLong(a.len()));
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
        match q.call {
            Some(SocketCall::Connect(port)) => o.insert("connect".into(), json!(port)),
            Some(SocketCall::Bind(port)) => o.insert("bind".into(), json!(port)),
            None => None,
        };
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
        let q = parse_line(r#"{"op":"socket","type":"stream","connect":8080}"#).unwrap();
        assert_eq!(q.call, Some(SocketCall::Connect(8080)));
        assert_eq!(parse_line(&to_line(&q)).unwrap(), q);
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
            (r#"{"op":"socket","type":1,"connect":70000}"#, "connect: expected a port"),
            (r#"{"op":"socket","type":1,"bind":"80"}"#, "bind: expected a port"),
            (r#"{"op":"socket","type":1,"bind":80,"connect":80}"#, "only one of them"),
            (r#"{"op":"open","path":"/x","connect":80}"#, "for op socket"),
        ] {
            let e = parse_line(line).unwrap_err().to_string();
            assert!(e.contains(msg), "{line}: {e}");
        }
        let long = format!(r#"{{"op":"open","path":"/{}"}}"#, "a".repeat(MAX_PATH));
        assert!(parse_line(&long).unwrap_err().to_string().contains("longer"));
    }
}
