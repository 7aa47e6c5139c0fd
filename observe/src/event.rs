//! KubeArmor's event JSON, read as a stream.
//!
//! Telemetry (`Type: ContainerLog` / `HostLog`) and alerts (`MatchedPolicy`, `MatchedHostPolicy`,
//! ...) share one object shape (KubeArmor's getting-started/kubearmor-events.md); `armor-loader`
//! writes the same field names. Input is JSON lines (`karmor logs --json`, `armor-loader
//! --events`) or pretty-printed objects one after another (KubeArmor's docs); gzip is detected by
//! its magic bytes; `-` is standard input. Fields are borrowed from the line buffer where the JSON
//! has no escapes, so memory stays flat however many events a file holds.
//!
//! Lines are parsed in place in the reader's buffer. A one-line event of the usual shape goes
//! through `fast` (no serde visitors); anything else, and every error, through serde_json and the
//! derived `Deserialize` below, which define what an event is.

mod fast;

use serde::Deserialize;
use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// One event. Every field is optional in the input (KubeArmor versions differ); missing ones are
/// empty or zero. Unknown fields (`ATags`, `cluster_id`, ...) are ignored.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Event<'a> {
    pub timestamp: i64,
    #[serde(borrow)]
    pub updated_time: Cow<'a, str>,
    #[serde(borrow)]
    pub cluster_name: Cow<'a, str>,
    #[serde(borrow)]
    pub host_name: Cow<'a, str>,
    #[serde(borrow)]
    pub namespace_name: Cow<'a, str>,
    #[serde(borrow)]
    pub pod_name: Cow<'a, str>,
    /// `k=v,k=v`
    #[serde(borrow)]
    pub labels: Cow<'a, str>,
    #[serde(borrow)]
    pub container_name: Cow<'a, str>,
    #[serde(rename = "ContainerID", borrow)]
    pub container_id: Cow<'a, str>,
    #[serde(borrow)]
    pub container_image: Cow<'a, str>,
    #[serde(rename = "HostPID")]
    pub host_pid: i64,
    #[serde(rename = "HostPPID")]
    pub host_ppid: i64,
    #[serde(rename = "PID")]
    pub pid: i64,
    #[serde(rename = "PPID")]
    pub ppid: i64,
    #[serde(rename = "UID")]
    pub uid: i64,
    #[serde(borrow)]
    pub process_name: Cow<'a, str>,
    #[serde(borrow)]
    pub parent_process_name: Cow<'a, str>,
    /// `ContainerLog`, `HostLog`, `MatchedPolicy`, `MatchedHostPolicy`, `SystemEvent`, ...
    #[serde(rename = "Type", borrow)]
    pub kind: Cow<'a, str>,
    /// The acting process (its path, sometimes followed by its arguments).
    #[serde(borrow)]
    pub source: Cow<'a, str>,
    /// `Process`, `File`, `Network`, `Capabilities`, `Syscall`
    #[serde(borrow)]
    pub operation: Cow<'a, str>,
    /// The object: a path, or for Network `key=value` pairs (`remoteip=.. port=.. protocol=..`).
    #[serde(borrow)]
    pub resource: Cow<'a, str>,
    /// `syscall=SYS_OPENAT flags=O_RDONLY`, `kprobe=tcp_connect domain=AF_INET`, ...
    #[serde(borrow)]
    pub data: Cow<'a, str>,
    /// `Passed`, `Permission denied`, ...
    #[serde(borrow)]
    pub result: Cow<'a, str>,
    #[serde(borrow)]
    pub action: Cow<'a, str>,
    #[serde(borrow)]
    pub policy_name: Cow<'a, str>,
    #[serde(borrow)]
    pub enforcer: Cow<'a, str>,
    /// The process's working directory, when the producer records it.
    #[serde(borrow)]
    pub cwd: Cow<'a, str>,
    /// The pod's controller, as KubeArmor records it (`{"Name": .., "Namespace": .., "Ref":
    /// "Deployment"}`); none when the producer does not record it (or writes `null`).
    #[serde(borrow)]
    pub owner: Option<Owner<'a>>,
}

/// KubeArmor's `Owner` object: the workload a pod belongs to.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Owner<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(borrow)]
    pub namespace: Cow<'a, str>,
    /// `Deployment`, `StatefulSet`, `DaemonSet`, `ReplicaSet`, `Job`, `CronJob`, `Pod`, ...
    #[serde(rename = "Ref", borrow)]
    pub kind: Cow<'a, str>,
}

impl Event<'_> {
    /// Telemetry of a container or the host (not an alert): what `summary` and `discover` read.
    pub fn is_log(&self) -> bool {
        matches!(&*self.kind, "ContainerLog" | "HostLog")
    }

    /// Whether the operation succeeded (`Passed`, or no result recorded).
    pub fn passed(&self) -> bool {
        self.result.is_empty() || self.result == "Passed"
    }

    /// The value of `key=` in Resource or Data (`remoteip`, `port`, `protocol`, `flags`, `syscall`,
    /// `kprobe`, `domain`, `sin_port`, ...), the first one found.
    pub fn field(&self, key: &str) -> Option<&str> {
        field_of(&self.resource, key).or_else(|| field_of(&self.data, key))
    }

    /// The process path of Source without arguments (KubeArmor writes `/usr/bin/rm /root/x`).
    pub fn source_path(&self) -> &str {
        without_arguments(&self.source)
    }

    /// The path of Resource without arguments: a Process event's Resource is the command line
    /// (`/bin/sh -ec vault status`).
    pub fn resource_path(&self) -> &str {
        without_arguments(&self.resource)
    }
}

/// An absolute path followed by arguments, cut at the first space.
fn without_arguments(text: &str) -> &str {
    let s = text.trim();
    match s.find(' ') {
        Some(i) if s.starts_with('/') => &s[..i],
        _ => s,
    }
}

/// `key=value` in a list separated by spaces or commas (KubeArmor's DNS visibility writes
/// `kfunc=UDP_SENDMSG,domain=..,daddr=..`).
fn field_of<'s>(text: &'s str, key: &str) -> Option<&'s str> {
    text.split(|c: char| c.is_ascii_whitespace() || c == ',')
        .find_map(|kv| kv.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

/// Where an event came from, for error messages and the evidence window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    /// 1-based line of the event's first line.
    pub line: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: {source}", file.display())]
    Open {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {source}", file.display())]
    Io {
        file: PathBuf,
        line: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: not a KubeArmor event: {message}", file.display())]
    Syntax { file: PathBuf, line: usize, column: usize, message: String },
}

/// Open an input (`-` is standard input), gunzipping it when it starts with gzip's magic bytes.
fn open(path: &Path) -> Result<Box<dyn BufRead>, ReadError> {
    let raw: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path).map_err(|source| ReadError::Open { file: path.into(), source })?)
    };
    let mut buffered = BufReader::with_capacity(1 << 16, raw);
    let gzip = buffered
        .fill_buf()
        .map_err(|source| ReadError::Io { file: path.into(), line: 1, source })?
        .starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        Box::new(BufReader::with_capacity(1 << 16, flate2::bufread::MultiGzDecoder::new(buffered)))
    } else {
        Box::new(buffered)
    })
}

/// Call `f` with each event of each input, in order. Stops at the first unreadable input or
/// malformed event (the error names file, line and column) or at the first error of `f`.
pub fn read_events<E: From<ReadError>>(
    inputs: &[PathBuf],
    mut f: impl FnMut(&Location, &Event<'_>) -> Result<(), E>,
) -> Result<(), E> {
    for input in inputs {
        read_one(input, &mut f)?;
    }
    Ok(())
}

fn read_one<E: From<ReadError>>(
    path: &Path,
    f: &mut impl FnMut(&Location, &Event<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let mut reader = open(path)?;
    let mut lines = Lines { path, pending: String::new(), loc: Location { file: path.to_path_buf(), line: 0 } };
    let mut line_no = 0usize;
    // Only a line that crosses the end of the reader's buffer is copied, into `bytes`.
    let mut bytes = Vec::new();
    let io = |line: usize| move |source| ReadError::Io { file: path.into(), line, source };
    loop {
        let buf = reader.fill_buf().map_err(io(line_no + 1))?;
        if buf.is_empty() {
            break;
        }
        line_no += 1;
        if let Some(end) = memchr::memchr(b'\n', buf) {
            // The common case: the whole line is in the buffer, read in place.
            let done = lines.line(&buf[..=end], line_no, f);
            reader.consume(end + 1);
            done?;
        } else {
            bytes.clear();
            reader.read_until(b'\n', &mut bytes).map_err(io(line_no))?;
            lines.line(&bytes, line_no, f)?;
        }
    }
    if !lines.pending.trim().is_empty() {
        return Err(ReadError::Syntax {
            file: path.into(),
            line: lines.loc.line,
            column: 1,
            message: "the object starting here never ends".into(),
        }
        .into());
    }
    Ok(())
}

/// The per-line state of one input.
struct Lines<'p> {
    path: &'p Path,
    /// A pretty-printed object spans lines: they gather here until it parses.
    pending: String,
    /// Where the event being read starts.
    loc: Location,
}

impl Lines<'_> {
    /// One line (with its newline, if any), numbered `line_no`.
    fn line<E: From<ReadError>>(
        &mut self,
        bytes: &[u8],
        line_no: usize,
        f: &mut impl FnMut(&Location, &Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let path = self.path;
        // Invalid UTF-8 is bad input like any other: named by line and column.
        let line = std::str::from_utf8(bytes).map_err(|e| {
            let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
            ReadError::Syntax {
                file: path.into(),
                line: line_no,
                column: valid.chars().count() + 1,
                message: "invalid UTF-8".into(),
            }
        })?;
        if self.pending.is_empty() {
            let text = line.trim();
            if text.is_empty() {
                return Ok(());
            }
            self.loc.line = line_no;
            if let Some(ev) = fast::parse(text) {
                return f(&self.loc, &ev);
            }
            match serde_json::from_str::<Event<'_>>(text) {
                Ok(ev) => f(&self.loc, &ev),
                Err(e) if e.is_eof() => {
                    self.pending.push_str(line);
                    Ok(())
                }
                Err(e) => Err(syntax(path, line_no, line, &e).into()),
            }
        } else {
            self.pending.push_str(line);
            match serde_json::from_str::<Event<'_>>(&self.pending) {
                Ok(ev) => {
                    f(&self.loc, &ev)?;
                    self.pending.clear();
                    Ok(())
                }
                Err(e) if e.is_eof() => Ok(()),
                Err(e) => Err(syntax(path, self.loc.line + e.line() - 1, "", &e).into()),
            }
        }
    }
}

fn syntax(path: &Path, line: usize, text: &str, e: &serde_json::Error) -> ReadError {
    // serde_json counts columns in the trimmed text: add back the leading blanks.
    let indent = text.len() - text.trim_start().len();
    ReadError::Syntax {
        file: path.into(),
        line,
        column: e.column() + if e.line() == 1 { indent } else { 0 },
        message: e.to_string().split(" at line ").next().unwrap_or_default().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(text: &[u8]) -> Result<Vec<(usize, String, String)>, ReadError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.json");
        std::fs::write(&path, text).unwrap();
        let mut out = Vec::new();
        read_events::<ReadError>(&[path], |loc, ev| {
            out.push((loc.line, ev.operation.to_string(), ev.resource.to_string()));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn json_lines_and_pretty_objects_mix() {
        let text = b"{\"Operation\":\"File\",\"Resource\":\"/etc/passwd\"}\n\n{\n  \"Operation\": \"Process\",\n  \"Owner\": {\"Name\": \"x\", \"Ref\": \"Deployment\", \"Extra\": 1},\n  \"Resource\": \"/bin/ls\"\n}\n{\"Operation\":\"Network\",\"Resource\":\"remoteip=10.0.0.1 port=80 protocol=TCP\"}\n";
        let got = collect(text).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (1, "File".into(), "/etc/passwd".into()));
        assert_eq!(got[1], (3, "Process".into(), "/bin/ls".into()));
        assert_eq!(got[2].0, 8);
    }

    #[test]
    fn gzip_is_detected() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"Operation\":\"File\",\"Resource\":\"/a\"}\n").unwrap();
        let got = collect(&gz.finish().unwrap()).unwrap();
        assert_eq!(got, vec![(1, "File".into(), "/a".into())]);
    }

    #[test]
    fn errors_name_line_and_column() {
        let err = collect(b"{\"Operation\":\"File\"}\n  {\"PID\": \"x\"}\n").unwrap_err();
        match err {
            ReadError::Syntax { line, column, .. } => assert_eq!((line, column), (2, 13)),
            other => panic!("{other}"),
        }
        let err = collect(b"{\"Operation\":\n\"File\"\n").unwrap_err();
        assert!(matches!(err, ReadError::Syntax { line: 1, .. }), "{err}");
        let err = collect(b"{}\n{\"Resource\":\"/\xc3\xa9\xff\"}\n").unwrap_err();
        match err {
            ReadError::Syntax { line, column, message, .. } => {
                assert_eq!((line, column, message.as_str()), (2, 16, "invalid UTF-8"))
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn fields_and_source_path() {
        let ev = Event {
            resource: "remoteip=10.0.0.1 port=80 protocol=TCP".into(),
            data: "kprobe=tcp_connect domain=AF_INET".into(),
            source: "/usr/bin/rm /root/.bash_history".into(),
            ..Event::default()
        };
        assert_eq!(ev.field("port"), Some("80"));
        assert_eq!(ev.field("domain"), Some("AF_INET"));
        assert_eq!(ev.field("remote"), None);
        assert_eq!(ev.source_path(), "/usr/bin/rm");
        let ev = Event {
            resource: "/bin/sh -ec vault status".into(),
            data: "kfunc=UDP_SENDMSG,domain=google.com,daddr=10.43.0.10,qtype=A".into(),
            ..Event::default()
        };
        assert_eq!(ev.resource_path(), "/bin/sh");
        assert_eq!(ev.field("daddr"), Some("10.43.0.10"));
        assert_eq!(ev.field("kfunc"), Some("UDP_SENDMSG"));
    }
}
