//! The fast path of [`read_events`](super::read_events): one event on one line as producers write
//! it (string values without escapes, integers, the `Owner` object, any JSON under unknown keys), read
//! without serde's visitors. Anything else (an escape, `null`, a float where an integer belongs, a
//! duplicate field, malformed JSON, ...) returns `None`, and the line goes to serde_json and
//! `Event`'s derived `Deserialize`, which define the result and write the error messages: this
//! path only ever returns what they would return (`tests::fast_path_agrees_with_serde`).
//!
//! Why: serde_json's field matching and visitors were about a third of `armorc summary`'s time
//! (BENCHMARKS.md, "summary").

use super::{Event, Owner};
use std::borrow::Cow;

/// Deeper unknown values go to serde_json (its own limit is 128).
const MAX_DEPTH: u32 = 64;

/// Where a known field's value goes.
enum Slot<'e, 'a> {
    Str(&'e mut Cow<'a, str>),
    Int(&'e mut i64),
    Owner(&'e mut Option<Owner<'a>>),
}

/// The field `key` names (as `Event`'s derive spells it: PascalCase plus its renames) and its bit
/// among the fields seen; `None` for unknown keys.
fn slot<'e, 'a>(ev: &'e mut Event<'a>, key: &str) -> Option<(u32, Slot<'e, 'a>)> {
    use Slot::{Int, Str};
    Some(match key {
        "Timestamp" => (0, Int(&mut ev.timestamp)),
        "UpdatedTime" => (1, Str(&mut ev.updated_time)),
        "ClusterName" => (2, Str(&mut ev.cluster_name)),
        "HostName" => (3, Str(&mut ev.host_name)),
        "NamespaceName" => (4, Str(&mut ev.namespace_name)),
        "PodName" => (5, Str(&mut ev.pod_name)),
        "Labels" => (6, Str(&mut ev.labels)),
        "ContainerName" => (7, Str(&mut ev.container_name)),
        "ContainerID" => (8, Str(&mut ev.container_id)),
        "ContainerImage" => (9, Str(&mut ev.container_image)),
        "HostPID" => (10, Int(&mut ev.host_pid)),
        "HostPPID" => (11, Int(&mut ev.host_ppid)),
        "PID" => (12, Int(&mut ev.pid)),
        "PPID" => (13, Int(&mut ev.ppid)),
        "UID" => (14, Int(&mut ev.uid)),
        "ProcessName" => (15, Str(&mut ev.process_name)),
        "ParentProcessName" => (16, Str(&mut ev.parent_process_name)),
        "Type" => (17, Str(&mut ev.kind)),
        "Source" => (18, Str(&mut ev.source)),
        "Operation" => (19, Str(&mut ev.operation)),
        "Resource" => (20, Str(&mut ev.resource)),
        "Data" => (21, Str(&mut ev.data)),
        "Result" => (22, Str(&mut ev.result)),
        "Action" => (23, Str(&mut ev.action)),
        "PolicyName" => (24, Str(&mut ev.policy_name)),
        "Enforcer" => (25, Str(&mut ev.enforcer)),
        "Cwd" => (26, Str(&mut ev.cwd)),
        "Owner" => (27, Slot::Owner(&mut ev.owner)),
        _ => return None,
    })
}

/// The keys `slot` knows, for the test against the derive's field list.
#[cfg(test)]
pub(super) const KEYS: [&str; 28] = [
    "Timestamp",
    "UpdatedTime",
    "ClusterName",
    "HostName",
    "NamespaceName",
    "PodName",
    "Labels",
    "ContainerName",
    "ContainerID",
    "ContainerImage",
    "HostPID",
    "HostPPID",
    "PID",
    "PPID",
    "UID",
    "ProcessName",
    "ParentProcessName",
    "Type",
    "Source",
    "Operation",
    "Resource",
    "Data",
    "Result",
    "Action",
    "PolicyName",
    "Enforcer",
    "Cwd",
    "Owner",
];

/// `text` (one trimmed line, valid UTF-8) as an event, or `None`: let serde_json decide.
pub(super) fn parse(text: &str) -> Option<Event<'_>> {
    let mut p = Parser { text, i: 0 };
    let mut ev = Event::default();
    let mut seen = 0u32;
    p.ws();
    p.eat(b'{')?;
    p.ws();
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            let key = p.string()?;
            p.ws();
            p.eat(b':')?;
            p.ws();
            match slot(&mut ev, key) {
                Some((bit, slot)) => {
                    // A duplicate field is serde's error to write.
                    if seen & (1 << bit) != 0 {
                        return None;
                    }
                    seen |= 1 << bit;
                    match slot {
                        Slot::Str(s) => *s = Cow::Borrowed(p.string()?),
                        Slot::Int(n) => *n = p.int()?,
                        Slot::Owner(o) => *o = Some(p.owner()?),
                    }
                }
                None => p.skip_value(0)?,
            }
            p.ws();
            match p.next()? {
                b',' => p.ws(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    p.ws();
    (p.i == text.len()).then_some(ev)
}

struct Parser<'a> {
    text: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// JSON's whitespace.
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// A string without escapes or control characters (those are serde_json's to read or refuse).
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let len = plain_len(self.text.as_bytes().get(start..)?)?;
        self.i = start + len + 1;
        // Both ends are ASCII quotes, so char boundaries.
        self.text.get(start..start + len)
    }

    /// An integer that fits `i64`, as serde_json reads one for an `i64` field (`-0`, which it reads
    /// as a float, and `i64::MIN` go to serde_json).
    fn int(&mut self) -> Option<i64> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let start = self.i;
        let mut value: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        let digits = self.i - start;
        if digits == 0 || (digits > 1 && self.text.as_bytes()[start] == b'0') {
            return None;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let value = i64::try_from(value).ok()?;
        match (negative, value) {
            (true, 0) => None,
            (true, v) => Some(-v),
            (false, v) => Some(v),
        }
    }

    /// Any JSON value, checked and skipped (an unknown field's).
    /// KubeArmor's `Owner` object: its three strings, other keys skipped (`null` and duplicates
    /// are serde's).
    fn owner(&mut self) -> Option<Owner<'a>> {
        let mut owner = Owner::default();
        let mut seen = 0u8;
        self.eat(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Some(owner);
        }
        loop {
            let key = self.string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            let field = match key {
                "Name" => Some((1, &mut owner.name)),
                "Namespace" => Some((2, &mut owner.namespace)),
                "Ref" => Some((4, &mut owner.kind)),
                _ => None,
            };
            match field {
                Some((bit, value)) => {
                    if seen & bit != 0 {
                        return None;
                    }
                    seen |= bit;
                    *value = Cow::Borrowed(self.string()?);
                }
                None => self.skip_value(1)?,
            }
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b'}' => return Some(owner),
                _ => return None,
            }
        }
    }

    fn skip_value(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => {
                self.i += 1;
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.string()?;
                    self.ws();
                    self.eat(b':')?;
                    self.ws();
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => self.ws(),
                        b'}' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => self.ws(),
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.i + word.len();
        (self.text.as_bytes().get(self.i..end)? == word.as_bytes()).then(|| self.i = end)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.digit()?;
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.digit()?;
            self.digits();
        }
        Some(())
    }

    fn digit(&mut self) -> Option<()> {
        self.next()?.is_ascii_digit().then_some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
    }
}

/// The length of a string's body up to its closing quote, or `None` when a backslash or a control
/// character comes first (or no quote does). Strings are short (20-130 bytes), too short for
/// memchr's vector setup to pay: 16 bytes at a time with SSE2 (every x86-64 has it), else 8.
fn plain_len(bytes: &[u8]) -> Option<usize> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        // SAFETY: plain_len_sse2 only needs SSE2, which this build enables for every function
        // (the cfg above): the CPU running it has it.
        unsafe { plain_len_sse2(bytes) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        plain_len_swar(bytes, 0)
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn plain_len_sse2(bytes: &[u8]) -> Option<usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let quote = _mm_set1_epi8(b'"' as i8);
    let backslash = _mm_set1_epi8(b'\\' as i8);
    let below_space = _mm_set1_epi8(0x1f);
    let mut chunks = bytes.chunks_exact(16);
    let mut offset = 0;
    for chunk in chunks.by_ref() {
        // SAFETY: `chunk` is 16 readable bytes (chunks_exact), and loadu has no alignment needs.
        let v = unsafe { _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>()) };
        // Bytes <= 0x1f unsigned: max(v, 0x1f) == 0x1f.
        let control = _mm_cmpeq_epi8(_mm_max_epu8(v, below_space), below_space);
        let hits = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)), control);
        let mask = _mm_movemask_epi8(hits);
        if mask != 0 {
            let at = offset + mask.trailing_zeros() as usize;
            return (bytes[at] == b'"').then_some(at);
        }
        offset += 16;
    }
    plain_len_swar(chunks.remainder(), offset)
}

/// `plain_len` eight bytes at a time, for `bytes` found at `offset` of the string.
fn plain_len_swar(bytes: &[u8], offset: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    // A high bit for each byte that is zero (exact for the lowest such byte, which is all we use).
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = offset;
    for chunk in chunks.by_ref() {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        let hits = zero(v ^ (ONES * u64::from(b'"')))
            | zero(v ^ (ONES * u64::from(b'\\')))
            | (v.wrapping_sub(ONES * 0x20) & !v & HIGH);
        if hits != 0 {
            let at = (hits.trailing_zeros() / 8) as usize;
            return (chunk[at] == b'"').then_some(offset + at);
        }
        offset += 8;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        if b == b'"' {
            return Some(offset + i);
        }
        if b < 0x20 || b == b'\\' {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Event`'s field names as its derived `Deserialize` lists them (serde hands them to
    /// `deserialize_struct`).
    fn derived_fields() -> &'static [&'static str] {
        struct Fields(Option<&'static [&'static str]>);
        #[derive(Debug)]
        struct Stop;
        impl std::fmt::Display for Stop {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("stop")
            }
        }
        impl std::error::Error for Stop {}
        impl serde::de::Error for Stop {
            fn custom<T: std::fmt::Display>(_: T) -> Self {
                Stop
            }
        }
        impl<'de> serde::Deserializer<'de> for &mut Fields {
            type Error = Stop;
            fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
                Err(Stop)
            }
            fn deserialize_struct<V: serde::de::Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Stop> {
                self.0 = Some(fields);
                Err(Stop)
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
                option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
                ignored_any
            }
        }
        let mut fields = Fields(None);
        let _ = <Event<'_> as serde::Deserialize>::deserialize(&mut fields);
        fields.0.unwrap()
    }

    #[test]
    fn knows_every_field_of_the_derive() {
        let mut derived = derived_fields().to_vec();
        let mut ours = KEYS.to_vec();
        derived.sort_unstable();
        ours.sort_unstable();
        assert_eq!(ours, derived);
        // Every key reaches its own slot: a line naming each once with distinct values.
        let mut line = String::from("{");
        for (i, key) in KEYS.iter().enumerate() {
            let mut ev = Event::default();
            let value = match slot(&mut ev, key).unwrap().1 {
                Slot::Int(_) => format!("{}", 1000 + i),
                Slot::Str(_) => format!("\"v{i}\""),
                Slot::Owner(_) => format!("{{\"Name\":\"v{i}\",\"Extra\":[1,{{}}],\"Ref\":\"Deployment\"}}"),
            };
            line += &format!("{}\"{key}\":{value}", if i == 0 { "" } else { "," });
        }
        line += "}";
        let fast = parse(&line).unwrap();
        assert_eq!(fast, serde_json::from_str::<Event<'_>>(&line).unwrap());
        assert_eq!((fast.pid, &*fast.cwd), (1012, "v26"));
        assert_eq!(fast.owner.map(|o| (o.name, o.kind)), Some(("v27".into(), "Deployment".into())));
    }

    /// The fixtures' events (KubeArmor's samples) as single lines.
    fn sample_lines() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/events");
        let mut lines = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap();
                for value in serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>() {
                    lines.push(value.unwrap().to_string());
                }
            }
        }
        assert!(lines.len() > 10, "{}", lines.len());
        lines
    }

    /// When the fast path answers, serde_json gives the same event.
    fn agrees(text: &str) -> bool {
        match parse(text) {
            Some(fast) => {
                let slow = serde_json::from_str::<Event<'_>>(text);
                assert_eq!(Some(&fast), slow.as_ref().ok(), "{text:?}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn fast_path_agrees_with_serde() {
        let mut samples = sample_lines();
        samples.push(
            r#"{"ClusterName":"default","Owner":{"Ref":"Deployment","Name":"x","Items":[1,-2.5e3,true,false,null,[],{}]},"Timestamp":1714521600,"PID":-7,"UID":0,"Resource":"/etc/été café ✓","Type":"ContainerLog"}"#
                .into(),
        );
        samples.push(r#" { "Operation" : "File" , "Resource":"/tmp/x"  }  "#.into());
        samples.push("{}".into());
        // The plain shapes take the fast path.
        for line in &samples {
            assert!(agrees(line), "not read by the fast path: {line}");
        }
        // What it must leave to serde_json (an answer here would have to equal serde's).
        for line in [
            r#"{"Resource":"a\"b"}"#,
            r#"{"Resource":"a\u0041"}"#,
            "{\"Resource\":\"a\tb\"}",
            r#"{"Resource":null}"#,
            r#"{"PID":"7"}"#,
            r#"{"PID":1.0}"#,
            r#"{"PID":1e3}"#,
            r#"{"PID":-0}"#,
            r#"{"PID":01}"#,
            r#"{"PID":-9223372036854775808}"#,
            r#"{"PID":9223372036854775808}"#,
            r#"{"PID":99999999999999999999}"#,
            r#"{"PID":1,"PID":2}"#,
            r#"{"Type":"a","Type":"a"}"#,
            r#"{"Owner":{"a":"b\"c"}}"#,
            r#"{"Owner":tru}"#,
            r#"{"Owner":-}"#,
            r#"{"Owner":1.}"#,
            r#"{"Owner":[1,]}"#,
            r#"{"Owner":{"a":1,}}"#,
            r#"{"Resource":"/a",}"#,
            r#"{"Resource":"/a"} x"#,
            r#"{"Resource":"/a"}{}"#,
            r#"["File"]"#,
            r#"{"Resource":"/a""#,
            r#"{"Resource""/a"}"#,
            r#"{"Res\u006furce":"/a"}"#,
        ] {
            assert!(!agrees(line), "read by the fast path: {line}");
        }
        // Every cut and single-byte change of the samples: the fast path answers as serde does,
        // or leaves the line to it.
        let bytes = [b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b' ', b'0', b'-', b'.', b'e', b'n', 0x1f, b'a'];
        for line in samples.iter().take(12) {
            for cut in 0..line.len() {
                if let Some(head) = line.get(..cut) {
                    agrees(head);
                }
                for &b in &bytes {
                    let mut changed = line.clone().into_bytes();
                    changed[cut] = b;
                    if let Ok(changed) = String::from_utf8(changed) {
                        agrees(&changed);
                    }
                }
            }
        }
    }

    #[test]
    fn plain_len_stops_at_the_first_quote_backslash_or_control() {
        // The vector version where there is one, and the portable one everywhere.
        let check = |bytes: &[u8], want: Option<usize>| {
            assert_eq!(plain_len(bytes), want, "{bytes:?}");
            assert_eq!(plain_len_swar(bytes, 0), want, "{bytes:?}");
        };
        for len in 0..70 {
            for (special, want) in [(b'"', Some(len)), (b'\\', None), (0x00, None), (0x1f, None), (b'\n', None)] {
                let mut bytes = vec![b'a'; len];
                bytes.push(special);
                bytes.extend_from_slice(b"bc\"\\\x01zzzzzzzzzzzz");
                check(&bytes, want);
            }
            // Space, UTF-8 and DEL are plain.
            let mut bytes = " é\x7f".repeat(len).into_bytes();
            bytes.extend_from_slice(b"\xff\x80\"");
            check(&bytes, Some(bytes.len() - 1));
            check(&vec![b'a'; len], None);
        }
    }
}
