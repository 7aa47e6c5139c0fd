//! `armorc explain FILE`: detects the artifact type and shows what it contains and where each
//! entry came from. Map images (by magic): entries with kind, key text, source, decoded masks and
//! provenance. AppArmor profiles: each line with the rule that produced it (from `<FILE>.map.json`).
//! `index.json`: one line per target. A Landlock plan: its layers, grants and drops. `--divergence OUT`: where BPF-LSM and AppArmor decide
//! differently, per target (OUT/divergence.json, written by `compile --target all`).

use crate::Status;
use armorc_compiler::compose::target_name;
use armorc_compiler::image::{self, Entry, MapImage};
use armorc_compiler::landlock::{Grant, Plan, Right, Verdict};
use armorc_compiler::query::{PROTOCOLS, SOCK_TYPES};
use armorc_compiler::{inputs, lower};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A map image (`OUT/bpf/...img`) or an AppArmor profile (`OUT/apparmor/<profile>`, with its
    /// `.map.json` beside it).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// FILE is a compile output directory (or its divergence.json): list, per target, the rules
    /// BPF-LSM and AppArmor (or Landlock, where its plan applies) decide differently, with both
    /// answers (D001-D010, docs/diagnostics.md).
    #[arg(long)]
    pub divergence: bool,
}

pub fn run(args: Args) -> Status {
    if args.divergence {
        let path = if args.file.is_dir() { args.file.join("divergence.json") } else { args.file.clone() };
        let name = path.display().to_string();
        let bytes = match inputs::read_file_capped(&path, inputs::MAX_INPUT_BYTES) {
            Ok(b) => b,
            Err(e) => {
                eprintln!(
                    "armorc explain: {name}: {} (written by `armorc compile --target all`)",
                    inputs::io_message(&e)
                );
                return Status::Usage;
            }
        };
        return match serde_json::from_slice::<serde_json::Value>(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|v| explain_divergence(&v))
        {
            Ok(text) => print(&text),
            Err(e) => {
                eprintln!("armorc explain: {name}: {e}");
                Status::Failure
            }
        };
    }
    let name = args.file.display().to_string();
    let bytes = match inputs::read_file_capped(&args.file, inputs::MAX_INPUT_BYTES) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("armorc explain: {name}: {}", inputs::io_message(&e));
            return Status::Usage;
        }
    };
    let text = if bytes.starts_with(&image::MAGIC) {
        match MapImage::decode(&bytes) {
            Ok(img) => explain_image(&img, image::format_version(&bytes).unwrap_or(image::FORMAT_VERSION)),
            Err(e) => {
                eprintln!("armorc explain: {name}: {e}");
                return Status::Failure;
            }
        }
    } else {
        let Ok(profile) = String::from_utf8(bytes) else {
            eprintln!("armorc explain: {name}: neither a map image (no ARMORIMG magic) nor a text file");
            return Status::Failure;
        };
        let json = serde_json::from_str::<serde_json::Value>(&profile).ok();
        if json.as_ref().is_some_and(|v| v.get("layers").is_some() && v.get("abi").is_some()) {
            return match Plan::decode(profile.as_bytes()) {
                Ok(plan) => print(&explain_plan(&plan)),
                Err(e) => {
                    eprintln!("armorc explain: {name}: {e}");
                    Status::Failure
                }
            };
        }
        if let Some(index) = json.filter(|v| v.get("targets").is_some() && v.get("version").is_some()) {
            match explain_index(&index) {
                Ok(text) => return print(&text),
                Err(e) => {
                    eprintln!("armorc explain: {name}: {e}");
                    return Status::Failure;
                }
            }
        }
        let map_path = PathBuf::from(format!("{name}.map.json"));
        let map = inputs::read_file_capped(&map_path, inputs::MAX_INPUT_BYTES)
            .and_then(|b| String::from_utf8(b).map_err(|_| std::io::Error::other("not UTF-8")));
        match map {
            Ok(map) => lower::apparmor::explain(&profile, &map),
            Err(_) if !profile.contains("profile ") => {
                eprintln!("armorc explain: {name}: not a map image or an AppArmor profile");
                return Status::Failure;
            }
            Err(e) => {
                eprintln!(
                    "armorc explain: {}: {} (the source map written beside the profile)",
                    map_path.display(),
                    inputs::io_message(&e)
                );
                return Status::Failure;
            }
        }
    };
    print(&text)
}

fn print(text: &str) -> Status {
    match crate::write_stdout(text) {
        Ok(()) => Status::Success,
        Err(e) => {
            eprintln!("armorc explain: cannot write output: {e}");
            Status::Usage
        }
    }
}

/// `OUT/index.json`: one line per target with its enforcement, artifacts and policy count.
/// OUT/divergence.json: per target, each divergence with its code, rule and both answers.
fn explain_divergence(file: &serde_json::Value) -> Result<String, String> {
    if file["version"] != 1 {
        return Err(format!("divergence.json version {} (this armorc reads version 1)", file["version"]));
    }
    let items = file["divergences"].as_array().ok_or("`divergences` is not an array")?;
    let targets = file["targets"].as_array().ok_or("`targets` is not an array")?;
    let mut out = String::new();
    let mut total = 0;
    for t in targets {
        let name = t["target"].as_str().unwrap_or("-");
        if let Some(why) = t["unanalysed"].as_str() {
            out.push_str(&format!("{name}: not analysed ({why})\n"));
            continue;
        }
        let ids = t["divergences"].as_array().ok_or("a target's `divergences` is not an array")?;
        total += ids.len();
        out.push_str(&format!("{name}: {} divergence(s)\n", ids.len()));
        for id in ids {
            let d = id.as_u64().and_then(|i| items.get(i as usize)).ok_or("a divergence index is out of range")?;
            let s = |k: &str| d[k].as_str().unwrap_or("-").to_string();
            let rule = &d["rule"];
            // D010 compares BPF-LSM with Landlock, the other codes with AppArmor.
            let other = if d["landlock"].is_string() { "Landlock" } else { "AppArmor" };
            out.push_str(&format!(
                "  {} {}:{}:{} {} {}\n    {}: {}\n    BPF-LSM {}\n    {other} {}\n    suggestion: {}\n",
                s("code"),
                rule["file"].as_str().unwrap_or("-"),
                rule["line"],
                rule["column"],
                s("policy"),
                rule["at"].as_str().unwrap_or("-"),
                s("why"),
                s("operation"),
                s("bpf"),
                s(&other.to_lowercase()),
                s("suggestion"),
            ));
        }
    }
    out.push_str(&format!("{total} divergence(s) in {} target(s)\n", targets.len()));
    Ok(out)
}

fn explain_index(index: &serde_json::Value) -> Result<String, String> {
    if index["version"] != 1 {
        return Err(format!("index.json version {} (this armorc reads version 1)", index["version"]));
    }
    let targets = index["targets"].as_array().ok_or("`targets` is not an array")?;
    let mut out = format!("compile index: {} target(s)\n", targets.len());
    for t in targets {
        let s = |k: &str| t[k].as_str().unwrap_or("-").to_string();
        let name =
            target_name(t["host"] == true, t["namespace"].as_str(), t["workload"].as_str(), t["container"].as_str());
        let policies = t["policies"].as_array().map(|p| p.len()).unwrap_or(0);
        let mut line = format!("{name}: {} policies, {}", policies, s("enforcement"));
        if let Some(reason) = t["reason"].as_str() {
            line.push_str(&format!(" ({reason})"));
        }
        if let Some(bpf) = t["bpf"].as_str() {
            line.push_str(&format!(", bpf {bpf} ({} entries)", t["bpf_entries"]));
        }
        if let Some(profile) = t["apparmor_profile"].as_str() {
            line.push_str(&format!(", apparmor {profile}"));
        }
        if let Some(plan) = t["landlock"].as_str() {
            line.push_str(&format!(", landlock {plan}"));
        }
        if let Some(n) = t["divergences"].as_u64() {
            line.push_str(&format!(", {n} divergence(s)"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// A Landlock plan: per layer what it handles and grants, each exclusion with its rule; the drops.
fn explain_plan(plan: &Plan) -> String {
    let rule = |r: Option<u32>| match r.and_then(|r| plan.rules.get(r as usize)) {
        Some(r) => format!(" [{} {} {}:{}]", r.policy, r.at, r.file, r.line),
        None => String::new(),
    };
    let rights = |rs: &[Right]| rs.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ");
    let mut out = format!(
        "Landlock plan for {} (ABI {}): {} layer(s), {} capability drop(s)\n",
        plan.target,
        plan.abi,
        plan.layers.len(),
        plan.drop_capabilities.len()
    );
    for (i, layer) in plan.layers.iter().enumerate() {
        out.push_str(&format!("layer {} `{}`: handles {}\n", i + 1, layer.name, rights(&layer.handled)));
        for grant in &layer.grants {
            match grant {
                Grant::Beneath { path, access, rule: r } => {
                    out.push_str(&format!("  {}: {path} and below{}\n", rights(access), rule(*r)))
                }
                Grant::FilesIn { dir, access, rule: r } => {
                    out.push_str(&format!("  {}: the files in {dir}{}\n", rights(access), rule(*r)))
                }
                Grant::Except { access, excluded } => {
                    out.push_str(&format!("  {}: everything but\n", rights(access)));
                    for x in excluded {
                        let what = if x.shallow { " (its files)" } else { "" };
                        out.push_str(&format!("    {}{what}{}\n", x.path, rule(Some(x.rule))));
                    }
                }
            }
        }
    }
    for c in &plan.drop_capabilities {
        let why = if c.rule.is_some() { rule(c.rule) } else { " [not in the allow-list]".to_string() };
        out.push_str(&format!("drop capability {} ({}){why}\n", c.name, c.number));
    }
    if let Some(net) = &plan.network {
        let tcp = if net.refuses_tcp() { "refused (Landlock ABI 4)" } else { "allowed" };
        let verdict = |v: Verdict| if v == Verdict::Deny { "deny" } else { "allow" };
        out.push_str(&format!(
            "sockets (the loader's socket program, as root): otherwise {}; TCP connect and bind {tcp}\n",
            verdict(net.default)
        ));
        let name = |names: &[(&'static str, u32)], n: u32| names.iter().find(|(_, v)| *v == n).map_or("?", |(s, _)| s);
        for (what, list, names) in [("type", &net.types, &SOCK_TYPES[..]), ("protocol", &net.protocols, &PROTOCOLS[..])]
        {
            for r in list {
                let (n, v) = (r.number, verdict(r.verdict));
                out.push_str(&format!("  {what} {} ({n}): {v}{}\n", name(names, n), rule(Some(r.rule))));
            }
        }
    }
    out
}

/// One aligned row per entry, in the file's canonical order. `version` is the file's format version.
pub fn explain_image(img: &MapImage, version: u16) -> String {
    let mut rows: Vec<[String; 6]> = vec![["KIND", "KEY", "SOURCE", "PROCESS", "FILE", "RULE"].map(String::from)];
    for e in &img.entries {
        rows.push(row(img, e));
    }
    let mut widths = [0usize; 6];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = format!(
        "map image for {}: {} entries, {} rules (format {}, key layout {})\n",
        img.target,
        img.entries.len(),
        img.rules.len(),
        version,
        image::KEY_LAYOUT_V1
    );
    for r in &rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn row(img: &MapImage, e: &Entry) -> [String; 6] {
    let kind = image::kind_name(e.key.kind).to_string();
    let key = match e.arg_text() {
        Some(arg) => format!("{} arg {arg:?}", e.main_text()),
        None if e.main_text().is_empty() => "\"\"".to_string(),
        None => e.main_text().to_string(),
    };
    let source = e.source_text().unwrap_or("-").to_string();
    let (process, file) = if e.key.kind == image::KIND_POSTURE {
        let p = match e.value.process {
            image::POSTURE_BLOCK => "block".to_string(),
            image::POSTURE_AUDIT => "audit".to_string(),
            other => format!("{other:#x}?"),
        };
        (p, "-".to_string())
    } else {
        (image::mask_to_string(e.value.process), image::mask_to_string(e.value.file))
    };
    let rule = match img.rules.get(e.value.rule as usize) {
        Some(r) => format!("{} {} ({}:{}){}", r.policy, r.at, r.file, r.line, alert_fields(r)),
        None => "-".to_string(),
    };
    [kind, key, source, process, file, rule]
}

/// What an alert names of a rule, after its provenance: ` Block, severity 5, tags [..], message ".."`
/// (only the fields set; nothing for a version 1 image's rules).
fn alert_fields(r: &image::RuleRef) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !r.action.is_empty() {
        parts.push(r.action.clone());
    }
    if r.severity != 0 {
        parts.push(format!("severity {}", r.severity));
    }
    if !r.tags.is_empty() {
        parts.push(format!("tags [{}]", r.tags.join(", ")));
    }
    if !r.message.is_empty() {
        parts.push(format!("message {:?}", r.message));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" {}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use armorc_compiler::image::{Key, RuleRef, Value, DENY, EXEC, KIND_PATH};

    fn img(rule: RuleRef) -> MapImage {
        MapImage {
            target: "host".into(),
            entries: vec![Entry {
                key: Key::path(KIND_PATH, b"/bin/sh", None),
                value: Value { process: EXEC | DENY, file: 0, rule: 0 },
                text: "/bin/sh".into(),
            }],
            rules: vec![rule],
        }
    }

    #[test]
    fn rule_column_names_the_alert_fields() {
        let rule = RuleRef {
            policy: "KubeArmorHostPolicy/-/p".into(),
            at: "spec.process.matchPaths[0]".into(),
            file: "p.yaml".into(),
            line: 7,
            severity: 5,
            tags: vec!["NIST".into(), "MITRE".into()],
            message: "no \"sh\"".into(),
            action: "Block".into(),
        };
        let text = explain_image(&img(rule.clone()), 2);
        assert!(text.starts_with("map image for host: 1 entries, 1 rules (format 2, key layout 1)\n"), "{text}");
        assert!(
            text.contains(
                "KubeArmorHostPolicy/-/p spec.process.matchPaths[0] (p.yaml:7) Block, severity 5, tags [NIST, MITRE], message \"no \\\"sh\\\"\"\n"
            ),
            "{text}"
        );
        // A version 1 image's rules carry none of them.
        let v1 = RuleRef { severity: 0, tags: vec![], message: String::new(), action: String::new(), ..rule };
        let text = explain_image(&img(v1), 1);
        assert!(text.contains("(format 1, key layout 1)"), "{text}");
        assert!(text.ends_with("(p.yaml:7)\n"), "{text}");
    }
}
