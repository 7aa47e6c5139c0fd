//! Schema-guided mutations of KubeArmor documents for the CRD differential test. Each mutation
//! targets one thing the CRD enforces (or one thing that should stay valid) at a place the schema
//! says it applies, so the generated set exercises every constraint kind, not random noise.

use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One step of a path into a document.
#[derive(Clone, Debug)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// An object of the document together with the schema that describes it.
#[derive(Clone, Debug)]
struct Node {
    path: Vec<Seg>,
    /// Path with indices dropped, e.g. `spec.process.matchPaths` (to compare kinds).
    schema_path: String,
    schema: Value,
}

/// A property of an object node (present or not) with its schema.
#[derive(Clone, Debug)]
struct Slot {
    node: usize,
    name: String,
    schema: Value,
    present: bool,
}

/// Mutation families, in the order the generator draws them.
pub const KINDS: [&str; 14] = [
    "enum_case",
    "severity_range",
    "delete_required",
    "unknown_field_typo",
    "path_shape",
    "dir_shape",
    "list_length",
    "protocol_variant",
    "capability_variant",
    "wrong_type",
    "null_insertion",
    "selector_key",
    "foreign_field",
    "valid_change",
];

pub struct Mutation {
    pub kind: &'static str,
    /// What was changed and where, e.g. `spec.file.matchPaths.path = "etc/passwd"`.
    pub detail: String,
    pub doc: Value,
}

const PATH_PATTERN: &str = r"^\/+.*[^\/]$";
const DIR_PATTERN: &str = r"^\/$|^\/.*\/$";
const SYSCALL_PATH_PATTERN: &str = r"(^\/+.*[^\/]$)|(^\/$|^\/.*\/$)";
const EXECNAME_PATTERN: &str = r"^[^\/]+$";

/// Property names per schema path, per kind: lets `foreign_field` add a field that exists at the
/// same place in another KubeArmor kind (nodeSelector in a KubeArmorPolicy, matchLabels in a
/// cluster policy selector, ...).
pub struct FieldIndex {
    by_kind: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

impl FieldIndex {
    pub fn new(schemas: &BTreeMap<String, Value>) -> FieldIndex {
        let mut by_kind = BTreeMap::new();
        for (kind, schema) in schemas {
            let mut paths = BTreeMap::new();
            index_schema(schema, "", &mut paths);
            by_kind.insert(kind.clone(), paths);
        }
        FieldIndex { by_kind }
    }

    fn foreign(&self, kind: &str, schema_path: &str) -> Vec<String> {
        let own = self.by_kind.get(kind).and_then(|p| p.get(schema_path)).cloned().unwrap_or_default();
        let mut out = BTreeSet::new();
        for (other, paths) in &self.by_kind {
            if other == kind {
                continue;
            }
            if let Some(props) = paths.get(schema_path) {
                out.extend(props.difference(&own).cloned());
            }
        }
        out.into_iter().collect()
    }
}

fn index_schema(schema: &Value, path: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        let entry = out.entry(path.to_string()).or_default();
        entry.extend(props.keys().cloned());
        for (name, child) in props {
            index_schema(child, &join(path, name), out);
        }
    }
    if let Some(items) = schema.get("items") {
        index_schema(items, path, out);
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Walk the document and its schema together, collecting object nodes (below the root: the root's
/// apiVersion, kind and metadata are left alone so the document stays the same kind).
fn collect(doc: &Value, schema: &Value) -> (Vec<Node>, Vec<Slot>) {
    let mut nodes = Vec::new();
    let mut slots = Vec::new();
    if let Some(spec) = doc.get("spec") {
        if let Some(spec_schema) = schema.pointer("/properties/spec") {
            walk(spec, spec_schema, vec![Seg::Key("spec".into())], "spec".into(), &mut nodes, &mut slots);
        }
    }
    (nodes, slots)
}

fn walk(
    value: &Value,
    schema: &Value,
    path: Vec<Seg>,
    schema_path: String,
    nodes: &mut Vec<Node>,
    slots: &mut Vec<Slot>,
) {
    match value {
        Value::Object(map) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else { return };
            let node = nodes.len();
            nodes.push(Node { path: path.clone(), schema_path: schema_path.clone(), schema: schema.clone() });
            for (name, prop_schema) in props {
                let child = map.get(name);
                slots.push(Slot { node, name: name.clone(), schema: prop_schema.clone(), present: child.is_some() });
                if let Some(child) = child {
                    let mut p = path.clone();
                    p.push(Seg::Key(name.clone()));
                    walk(child, prop_schema, p, join(&schema_path, name), nodes, slots);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    let mut p = path.clone();
                    p.push(Seg::Index(i));
                    walk(item, item_schema, p, schema_path.clone(), nodes, slots);
                }
            }
        }
        _ => {}
    }
}

fn get_mut<'a>(doc: &'a mut Value, path: &[Seg]) -> &'a mut Value {
    let mut cur = doc;
    for seg in path {
        cur = match seg {
            Seg::Key(k) => cur.get_mut(k.as_str()).expect("path key"),
            Seg::Index(i) => cur.get_mut(*i).expect("path index"),
        };
    }
    cur
}

fn object_at<'a>(doc: &'a mut Value, path: &[Seg]) -> &'a mut Map<String, Value> {
    get_mut(doc, path).as_object_mut().expect("object node")
}

fn pick<T: Clone>(items: &[T], n: u32) -> Option<T> {
    if items.is_empty() {
        None
    } else {
        Some(items[n as usize % items.len()].clone())
    }
}

fn pattern_of(schema: &Value) -> Option<&str> {
    schema.get("pattern").and_then(Value::as_str)
}

fn type_of(schema: &Value) -> &str {
    schema.get("type").and_then(Value::as_str).unwrap_or("")
}

/// Apply mutation family `kind` (index into `KINDS`) at the `site`-th applicable place with the
/// `variant`-th value. `None` when the document has no place for that family.
pub fn mutate(
    seed: &Value,
    schema: &Value,
    fields: &FieldIndex,
    kind: usize,
    site: u32,
    variant: u32,
) -> Option<Mutation> {
    let doc_kind = seed.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
    let (nodes, slots) = collect(seed, schema);
    let mut doc = seed.clone();
    let name = KINDS[kind % KINDS.len()];
    let where_ = |slot: &Slot| join(&nodes[slot.node].schema_path, &slot.name);
    // Sets `slot` to `value` and describes it.
    let set = |doc: &mut Value, slot: &Slot, value: Value| -> String {
        let detail = format!("{} = {}", where_(slot), value);
        object_at(doc, &nodes[slot.node].path).insert(slot.name.clone(), value);
        detail
    };
    let slots_where = |f: &dyn Fn(&Slot) -> bool| -> Vec<Slot> { slots.iter().filter(|s| f(s)).cloned().collect() };

    let detail = match name {
        "enum_case" => {
            let candidates = slots_where(&|s| {
                s.schema.get("enum").is_some() || (s.present && s.schema.pointer("/items/enum").is_some())
            });
            let slot = pick(&candidates, site)?;
            if let Some(values) = slot.schema.get("enum").and_then(Value::as_array) {
                let base = values[variant as usize % values.len()].as_str()?.to_string();
                let changed = change_case(&base, variant / 3);
                set(&mut doc, &slot, Value::String(changed))
            } else {
                let list = object_at(&mut doc, &nodes[slot.node].path).get_mut(&slot.name)?.as_array_mut()?;
                if list.is_empty() {
                    return None;
                }
                let i = variant as usize % list.len();
                let changed = change_case(list[i].as_str()?, variant / 3);
                list[i] = Value::String(changed.clone());
                format!("{}[{i}] = {changed:?}", where_(&slot))
            }
        }
        "severity_range" => {
            let candidates = slots_where(&|s| s.schema.get("minimum").is_some() || s.schema.get("maximum").is_some());
            let slot = pick(&candidates, site)?;
            let values = [json!(0), json!(11), json!("5"), json!(1), json!(10), json!(-3), json!(100), json!(5)];
            set(&mut doc, &slot, pick(&values, variant)?)
        }
        "delete_required" => {
            let mut candidates = Vec::new();
            for node in &nodes {
                for req in node.schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                    let req = req.as_str()?.to_string();
                    if get_mut(&mut doc, &node.path).get(&req).is_some() {
                        candidates.push((node.clone(), req));
                    }
                }
            }
            let (node, req) = pick(&candidates, site)?;
            object_at(&mut doc, &node.path).remove(&req);
            format!("delete {}", join(&node.schema_path, &req))
        }
        "unknown_field_typo" => {
            let candidates = slots_where(&|s| s.present);
            let slot = pick(&candidates, site)?;
            let node = &nodes[slot.node];
            let props = node.schema.get("properties").and_then(Value::as_object)?;
            let typo = typo_of(&slot.name, variant).filter(|t| !props.contains_key(t))?;
            let value = get_mut(&mut doc, &node.path).get(&slot.name).cloned()?;
            let map = object_at(&mut doc, &node.path);
            if variant.is_multiple_of(2) {
                // A misspelt key instead of the real one (`recurive: true`).
                map.remove(&slot.name);
            }
            map.insert(typo.clone(), value);
            format!("{} -> {typo}", join(&node.schema_path, &slot.name))
        }
        "path_shape" => {
            let candidates = slots_where(&|s| {
                matches!(pattern_of(&s.schema), Some(PATH_PATTERN | SYSCALL_PATH_PATTERN | EXECNAME_PATTERN))
            });
            let slot = pick(&candidates, site)?;
            let long = |n: usize| format!("/{}", "a".repeat(n - 1));
            let values = [
                json!("bin/sh"),
                json!("/bin/sh/"),
                json!(long(199)),
                json!(long(200)),
                json!(long(201)),
                json!("//usr//bin/env"),
                json!("/"),
                json!(""),
                json!("/opt/with space/x"),
                // 200 characters but more than 200 bytes: maxLength counts characters.
                json!(format!("/{}", "é".repeat(199))),
                json!(format!("/{}", "é".repeat(200))),
                json!("sh"),
                // `.` differs between regex dialects for these (Go's matches them, ECMAScript's not).
                json!("/a\rb"),
                json!("/a\u{2028}b"),
            ];
            set(&mut doc, &slot, pick(&values, variant)?)
        }
        "dir_shape" => {
            let candidates =
                slots_where(&|s| matches!(pattern_of(&s.schema), Some(DIR_PATTERN | SYSCALL_PATH_PATTERN)));
            let slot = pick(&candidates, site)?;
            let values =
                [json!("/etc"), json!("/"), json!("etc/"), json!("//"), json!("/var/log/"), json!(""), json!("/a b/")];
            set(&mut doc, &slot, pick(&values, variant)?)
        }
        "list_length" => {
            let candidates = slots_where(&|s| s.schema.get("maxItems").is_some());
            let slot = pick(&candidates, site)?;
            let lengths = [20usize, 21, 0, 1, 25, 19];
            let n = pick(&lengths, variant)?;
            let list: Vec<Value> = (0..n).map(|i| json!(format!("--arg{i}"))).collect();
            set(&mut doc, &slot, Value::Array(list)).split(" = ").next().map(|w| format!("{w} = [{n} items]"))?
        }
        "protocol_variant" => {
            let candidates = slots_where(&|s| pattern_of(&s.schema).is_some_and(|p| p.contains("icmpv6")));
            let slot = pick(&candidates, site)?;
            let values = [
                "xtcp", "Tcp", "tcp,udp", "udp,tcp", "TCP", "icmpv6", "tcpx", "all", "ICMP", "tcp ", "udp,xtcp", "tcp",
            ];
            set(&mut doc, &slot, json!(pick(&values, variant)?))
        }
        "capability_variant" => {
            let candidates = slots_where(&|s| pattern_of(&s.schema).is_some_and(|p| p.contains("net_raw")));
            let slot = pick(&candidates, site)?;
            let values = [
                "cap_net_raw",
                "net_raw",
                "NET_RAW",
                "CAP_NET_RAW",
                "sys_admin,net_raw",
                "xnet_raw",
                "net_raw ",
                "kill",
                "setfcap",
                "net-raw",
            ];
            set(&mut doc, &slot, json!(pick(&values, variant)?))
        }
        "wrong_type" => {
            let candidates = slots_where(&|s| !type_of(&s.schema).is_empty());
            let slot = pick(&candidates, site)?;
            let values: Vec<Value> = match type_of(&slot.schema) {
                "string" => vec![json!(7), json!(true), json!(["x"]), json!({"a": "b"})],
                "integer" => vec![json!("high"), json!(true), json!([5]), json!({"v": 5}), json!(2.5)],
                "boolean" => vec![json!("true"), json!(1), json!([true]), json!({"b": true}), json!("yes")],
                "array" => vec![json!("x"), json!(3), json!({"a": "b"}), json!(false)],
                "object" => vec![json!("x"), json!(["x"]), json!(3), json!(true)],
                _ => return None,
            };
            set(&mut doc, &slot, pick(&values, variant)?)
        }
        "null_insertion" => {
            let candidates = slots_where(&|_| true);
            let slot = pick(&candidates, site)?;
            let list = object_at(&mut doc, &nodes[slot.node].path).get_mut(&slot.name).and_then(Value::as_array_mut);
            match list {
                // A null list item (`- ` alone): not pruned by the API server.
                Some(list) if variant.is_multiple_of(3) => {
                    list.push(Value::Null);
                    format!("{}[+] = null item", where_(&slot))
                }
                _ => set(&mut doc, &slot, Value::Null),
            }
        }
        "selector_key" => {
            let candidates = slots_where(&|s| {
                s.schema.get("enum").and_then(Value::as_array).is_some_and(|e| e.contains(&json!("label")))
            });
            let slot = pick(&candidates, site)?;
            let values = ["namespace", "label", "Label", "labels", "Namespace"];
            set(&mut doc, &slot, json!(pick(&values, variant)?))
        }
        "foreign_field" => {
            let candidates: Vec<(usize, String)> = nodes
                .iter()
                .enumerate()
                .flat_map(|(i, n)| fields.foreign(&doc_kind, &n.schema_path).into_iter().map(move |f| (i, f)))
                .collect();
            let (node, field) = pick(&candidates, site)?;
            let value = match field.as_str() {
                "nodeSelector" | "selector" => json!({"matchLabels": {"kubernetes.io/hostname": "node1"}}),
                "matchLabels" => json!({"app": "web"}),
                "device" => json!({"matchDevice": [{"class": "USB"}]}),
                "presets" => json!([{"name": "filelessExec"}]),
                _ => json!("x"),
            };
            object_at(&mut doc, &nodes[node].path).insert(field.clone(), value);
            format!("add {} (from another kind)", join(&nodes[node].schema_path, &field))
        }
        "valid_change" => {
            let candidates = slots_where(&|s| valid_value(&s.schema, 0).is_some());
            let slot = pick(&candidates, site)?;
            let value = valid_value(&slot.schema, variant)?;
            set(&mut doc, &slot, value)
        }
        _ => unreachable!("unknown mutation kind {name}"),
    };
    Some(Mutation { kind: name, detail, doc })
}

/// Case changes of an enum value: lower, UPPER, first letter swapped.
fn change_case(value: &str, variant: u32) -> String {
    match variant % 3 {
        0 => value.to_lowercase(),
        1 => value.to_uppercase(),
        _ => {
            let mut chars = value.chars();
            match chars.next() {
                Some(c) if c.is_uppercase() => c.to_lowercase().chain(chars).collect(),
                Some(c) => c.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        }
    }
}

/// Plausible misspellings of a field name (`recursive` -> `recurive`, `readOnly` -> `readonly`).
fn typo_of(name: &str, variant: u32) -> Option<String> {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() < 3 {
        return None;
    }
    let mid = 1 + (variant as usize / 6) % (chars.len() - 2);
    let out: String = match (variant / 2) % 3 {
        // drop a letter
        0 => chars.iter().enumerate().filter(|(i, _)| *i != mid).map(|(_, c)| *c).collect(),
        // swap two neighbours
        1 => {
            let mut c = chars.clone();
            c.swap(mid, mid + 1);
            c.into_iter().collect()
        }
        // lower-case everything, or drop/add a plural `s`
        _ => {
            if name.chars().any(char::is_uppercase) {
                name.to_lowercase()
            } else if let Some(stripped) = name.strip_suffix('s') {
                stripped.to_string()
            } else {
                format!("{name}s")
            }
        }
    };
    (out != name).then_some(out)
}

/// A value the schema accepts, for changes that must keep the document valid.
fn valid_value(schema: &Value, variant: u32) -> Option<Value> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return pick(values, variant);
    }
    match (type_of(schema), pattern_of(schema)) {
        ("integer", _) if schema.get("maximum").is_some() => Some(json!(1 + variant % 10)),
        ("boolean", _) => Some(json!(variant.is_multiple_of(2))),
        ("string", Some(PATH_PATTERN)) => pick(&[json!("/usr/bin/env"), json!("/a"), json!("//x")], variant),
        ("string", Some(DIR_PATTERN)) => pick(&[json!("/tmp/"), json!("/")], variant),
        ("string", None) => pick(&[json!("some text"), json!("")], variant),
        ("array", _)
            if schema.pointer("/items/type") == Some(&json!("string")) && schema.pointer("/items/enum").is_none() =>
        {
            pick(&[json!(["a", "b"]), json!([])], variant)
        }
        _ => None,
    }
}
