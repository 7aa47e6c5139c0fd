//! bpf/armor.h is the kernel mirror of compiler/src/image.rs (key kinds, posture, mask bits, the
//! key and value layout) and compiler/src/model.rs (limits, ops, steps, who decided, the result
//! word). This test reads every `#define NAME VALUE` of armor.h and compares it with the Rust
//! constant it mirrors; a define the Rust side has no counterpart for must be listed in `C_ONLY`
//! with a reason, so a new define fails here until it is compared or listed. The layouts of
//! `struct armor_key` and `struct armor_value` are computed from their field lists (C natural
//! alignment) and checked against `Key::to_bytes`/`Value::to_bytes` field by field.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

use armorc_compiler::image::{self, Key, Value, KEY_SIZE, VALUE_SIZE};
use armorc_compiler::model::{self, By, Decision, Op, Step};
use std::collections::{BTreeMap, BTreeSet};

const ARMOR_H: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../bpf/armor.h"));

/// Defines of armor.h with no Rust counterpart in this crate, and why.
const C_ONLY: &[(&str, &str)] = &[
    ("__ARMOR_H__", "include guard"),
    (
        "MAX_TARGETS",
        "max_entries of the outer map armor_targets (bpf/maps.h): how many containers a node's \
         loader can key; the compiler writes one image per target and has no node-wide limit",
    ),
];

/// `#define NAME VALUE` lines (comments removed; VALUE empty for a bare `#define NAME`).
fn defines() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in ARMOR_H.lines() {
        let Some(rest) = line.trim_start().strip_prefix("#define") else { continue };
        let rest = rest.split("/*").next().unwrap().split("//").next().unwrap().trim();
        let (name, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "armor.h: cannot read {line:?} (function-like macros need a case here)"
        );
        assert!(out.insert(name.to_string(), value.trim().to_string()).is_none(), "armor.h defines {name} twice");
    }
    out
}

/// An integer literal as C spells it: decimal or 0x hex, with optional u/U/l/L suffixes.
fn c_integer(text: &str) -> Option<u64> {
    let digits = text.trim_end_matches(['u', 'U', 'l', 'L']);
    match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => digits.parse().ok(),
    }
}

fn step_define(step: Step) -> &'static str {
    match step {
        Step::None => "STEP_NONE",
        Step::ExactSource => "STEP_EXACT_SRC",
        Step::DirSource => "STEP_DIR_SRC",
        Step::Exact => "STEP_EXACT",
        Step::Execname => "STEP_EXECNAME",
        Step::Dir => "STEP_DIR",
        Step::TypeSource => "STEP_TYPE_SRC",
        Step::ProtoSource => "STEP_PROTO_SRC",
        Step::Type => "STEP_TYPE",
        Step::Proto => "STEP_PROTO",
        Step::CapSource => "STEP_CAP_SRC",
        Step::Cap => "STEP_CAP",
    }
}

fn by_define(by: By) -> &'static str {
    match by {
        By::Default => "BY_DEFAULT",
        By::Rule => "BY_RULE",
        By::Posture => "BY_POSTURE",
    }
}

/// Every step and every `By` of the model: all the values the result word's fields can decode to.
fn model_steps_and_bys() -> (Vec<Step>, Vec<By>) {
    let steps = (0..16).filter_map(|n| Decision::from_word(n << 4)).map(|d| d.step).collect();
    let bys = (0..4).filter_map(|n| Decision::from_word(n << 2)).map(|d| d.by).collect();
    (steps, bys)
}

fn decision(deny: bool, audit: bool) -> Decision {
    Decision { deny, audit, by: By::Default, step: Step::None, rule: None }
}

/// Each compared define and the value the Rust side gives it.
fn expected() -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    let mut add = |name: &str, value: u64| out.push((name.to_string(), value));

    for (name, kind) in [
        ("KIND_PATH", image::KIND_PATH),
        ("KIND_EXECNAME", image::KIND_EXECNAME),
        ("KIND_NET_TYPE", image::KIND_NET_TYPE),
        ("KIND_NET_PROTO", image::KIND_NET_PROTO),
        ("KIND_CAPABILITY", image::KIND_CAPABILITY),
        ("KIND_POSTURE", image::KIND_POSTURE),
        ("KIND_DNS", image::KIND_DNS),
        ("KIND_ARG", image::KIND_ARG),
    ] {
        add(name, kind.into());
    }

    for (name, category) in [
        ("POSTURE_PROCESS", image::POSTURE_PROCESS),
        ("POSTURE_FILE", image::POSTURE_FILE),
        ("POSTURE_NETWORK", image::POSTURE_NETWORK),
        ("POSTURE_CAPABILITY", image::POSTURE_CAPABILITY),
        ("POSTURE_DNS", image::POSTURE_DNS),
    ] {
        add(name, category.into());
    }
    add("POSTURE_BLOCK", image::POSTURE_BLOCK.into());
    add("POSTURE_AUDIT", image::POSTURE_AUDIT.into());

    for (name, bit) in [
        ("M_EXEC", image::EXEC),
        ("M_WRITE", image::WRITE),
        ("M_READ", image::READ),
        ("M_OWNER", image::OWNER),
        ("M_DIR", image::DIR),
        ("M_RECURSIVE", image::RECURSIVE),
        ("M_HINT", image::HINT),
        ("M_DENY", image::DENY),
        ("M_ARGSET", image::ARGSET),
        ("M_PTS", image::PTS),
    ] {
        add(name, bit.into());
    }

    add("MAX_PATH", image::MAX_PATH as u64);
    // Each rule map's size: the entries per target decode, the loader and --capacity allow.
    add("INNER_CAPACITY", image::MAX_ENTRIES as u64);
    add("MAX_DIRS", model::MAX_DIRS as u64);
    add("MAX_ARGS", model::MAX_ARGS as u64);
    add("MAX_ARG_LEN", model::MAX_ARG_LEN as u64);

    for op in Op::ALL {
        add(&format!("OP_{}", op.name().to_ascii_uppercase()), op.code().into());
    }
    // The LSM-only op (file_permission with MAY_WRITE alone; the model decides it as
    // Hook::FilePermission) follows the model's ops: a new model op must not take its number.
    add("OP_PERMISSION", Op::ALL.len() as u64 + 1);

    let (steps, bys) = model_steps_and_bys();
    for step in steps {
        add(step_define(step), step as u64);
    }
    for by in bys {
        add(by_define(by), by as u64);
    }

    add("RES_DENY", decision(true, false).to_word().into());
    add("RES_AUDIT", decision(false, true).to_word().into());
    out
}

#[test]
fn every_define_is_compared_or_listed_as_c_only() {
    let defines = defines();
    let expected = expected();
    let mut compared = BTreeSet::new();
    let mut wrong = Vec::new();
    for (name, value) in &expected {
        assert!(compared.insert(name.as_str()), "{name} compared twice");
        match defines.get(name) {
            None => wrong.push(format!("{name}: the Rust side has it, bpf/armor.h does not define it")),
            Some(text) => match c_integer(text) {
                Some(v) if v == *value => {}
                Some(v) => wrong.push(format!("{name}: armor.h {v} ({text}), Rust {value}")),
                None => wrong.push(format!("{name}: armor.h value {text:?} is not an integer literal")),
            },
        }
    }
    for (name, reason) in C_ONLY {
        assert!(!reason.is_empty(), "{name}: C_ONLY needs a reason");
        assert!(!compared.contains(name), "{name} is both compared and listed as C-only");
        assert!(defines.contains_key(*name), "C_ONLY lists {name}, which armor.h no longer defines");
    }
    let c_only: BTreeSet<&str> = C_ONLY.iter().map(|(n, _)| *n).collect();
    for name in defines.keys() {
        if !compared.contains(name.as_str()) && !c_only.contains(name.as_str()) {
            wrong.push(format!("{name}: new define; compare it with its Rust constant or list it in C_ONLY"));
        }
    }
    assert!(wrong.is_empty(), "bpf/armor.h and compiler/src/{{image,model}}.rs disagree:\n{}", wrong.join("\n"));
    // Sanity: the parse found the families at all.
    assert!(defines.len() >= 60, "only {} defines read from armor.h", defines.len());
}

#[test]
fn mask_names_match_the_m_defines() {
    let defines = defines();
    for (bit, name) in image::MASK_NAMES {
        let define = format!("M_{name}");
        assert_eq!(defines.get(&define).and_then(|t| c_integer(t)), Some(bit.into()), "{define}");
    }
    let m_defines = defines.keys().filter(|n| n.starts_with("M_")).count();
    assert_eq!(m_defines, image::MASK_NAMES.len(), "MASK_NAMES (explain) misses an M_* bit");
}

#[test]
fn result_word_layout_matches_the_comment() {
    // armor.h: bit0 deny, bit1 audit, bits2-3 by, bits4-7 step, bits8-31 rule index + 1 (0 = none).
    let defines = defines();
    let define = |name: &str| c_integer(&defines[name]).unwrap() as u32;
    let d = Decision { deny: true, audit: false, by: By::Posture, step: Step::Cap, rule: Some(41) };
    assert_eq!(d.to_word(), define("RES_DENY") | define("BY_POSTURE") << 2 | define("STEP_CAP") << 4 | 42 << 8);
    assert_eq!(Decision::from_word(d.to_word()), Some(d));
    let (steps, bys) = model_steps_and_bys();
    assert_eq!(steps.len(), defines.keys().filter(|n| n.starts_with("STEP_")).count());
    assert_eq!(bys.len(), defines.keys().filter(|n| n.starts_with("BY_")).count());
    assert!(steps.iter().all(|&s| (s as u32) < 16), "a step does not fit bits 4-7");
    assert!(bys.iter().all(|&b| (b as u32) < 4), "a By does not fit bits 2-3");
}

/// Field name, offset and size of a C struct of fixed-width integers, laid out with natural
/// alignment; and the struct's size.
fn c_struct(name: &str) -> (Vec<(String, usize, usize)>, usize) {
    let defines = defines();
    let start = ARMOR_H.find(&format!("struct {name} {{")).unwrap_or_else(|| panic!("armor.h has no struct {name}"));
    let body = &ARMOR_H[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find("};").unwrap()];
    let (mut fields, mut offset, mut align_max) = (Vec::new(), 0usize, 1usize);
    for line in body.lines() {
        let line = line.split("/*").next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        let (ty, decl) = line.trim_end_matches(';').split_once(' ').unwrap();
        let size = match ty {
            "__u8" | "char" => 1,
            "__u16" => 2,
            "__u32" => 4,
            "__u64" => 8,
            other => panic!("struct {name}: field type {other} (add its size here)"),
        };
        let (field, count) = match decl.split_once('[') {
            Some((field, dim)) => {
                let dim = dim.trim_end_matches(']');
                let n = c_integer(dim).or_else(|| defines.get(dim).and_then(|t| c_integer(t)));
                (field, n.unwrap_or_else(|| panic!("struct {name}: array size {dim}")) as usize)
            }
            None => (decl, 1),
        };
        offset = offset.next_multiple_of(size);
        align_max = align_max.max(size);
        fields.push((field.trim().to_string(), offset, size * count));
        offset += size * count;
    }
    (fields, offset.next_multiple_of(align_max))
}

/// Checks `bytes` (a Rust encoding) against the C layout: each named field holds `values[field]`
/// little-endian, padding is zero, and the sizes agree.
fn check_layout(name: &str, bytes: &[u8], values: &[(&str, u64)]) {
    let (fields, size) = c_struct(name);
    assert_eq!(bytes.len(), size, "struct {name} is {size} bytes, the Rust encoding {}", bytes.len());
    let mut seen = BTreeSet::new();
    for (field, offset, len) in &fields {
        let got = &bytes[*offset..offset + len];
        if field.starts_with("pad") {
            assert!(got.iter().all(|&b| b == 0), "struct {name}.{field} at {offset}: padding is not zero");
            continue;
        }
        let (_, want) = values
            .iter()
            .find(|(f, _)| f == field)
            .unwrap_or_else(|| panic!("struct {name}.{field}: no Rust field mapped to it"));
        let mut le = [0u8; 8];
        le[..*len].copy_from_slice(got);
        assert_eq!(u64::from_le_bytes(le), *want, "struct {name}.{field} at offset {offset} ({len} bytes)");
        seen.insert(field.as_str());
    }
    for (f, _) in values {
        assert!(seen.contains(f), "struct {name} has no field {f}");
    }
}

#[test]
fn key_and_value_layouts_match_the_c_structs() {
    assert_eq!(c_struct("armor_key").1, KEY_SIZE);
    assert_eq!(KEY_SIZE, 32);
    assert_eq!(c_struct("armor_value").1, VALUE_SIZE);
    assert_eq!(VALUE_SIZE, 8);

    // Distinct bytes in every field, so a swapped or shifted field shows.
    let key = Key {
        kind: 0x8a,
        len: 0x1122_3344,
        path_a: 0x0102_0304_0506_0708,
        path_b: 0x1112_1314_1516_1718,
        source: 0x2122_2324_2526_2728,
    };
    check_layout(
        "armor_key",
        &key.to_bytes(),
        &[
            ("kind", key.kind.into()),
            ("len", key.len.into()),
            ("a", key.path_a),
            ("b", key.path_b),
            ("source", key.source),
        ],
    );
    assert_eq!(Key::from_bytes(&key.to_bytes()), key);

    let value = Value { process: 0x0102, file: 0x0304, rule: 0x0506_0708 };
    check_layout(
        "armor_value",
        &value.to_bytes(),
        &[("process", value.process.into()), ("file", value.file.into()), ("rule", value.rule.into())],
    );
    assert_eq!(Value::from_bytes(&value.to_bytes()), value);
}
