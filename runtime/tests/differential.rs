//! Kernel vs reference model, query by query (issue 3: differential test in CI, as root).
//! Images: every corpus policy file (../shared/corpus, skipped with a notice when absent) and our
//! fixtures, under three postures. Queries: mutations of each image's entries (armor_runtime::
//! mutate), never derived from the model's answers.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use armor_runtime::kernel::Harness;
use armor_runtime::mutate::{self, Rng};
use armor_runtime::verify::{self, describe};
use armorc_compiler::image::{MapImage, DENY};
use armorc_compiler::model::{Model, Query};
use armorc_compiler::query;
use std::collections::BTreeMap;
use std::path::Path;

#[test]
fn kernel_agrees_with_model() {
    if !common::root_or_skip() {
        return;
    }
    let images = common::images();
    let mut harness = Harness::load().expect("loading the harness");
    let mut rng = Rng::new(0x5eed_a77a);
    let (mut total, mut agree) = (0usize, 0usize);
    let mut mix: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    // Without the corpus (fixtures only) generate more queries per entry, so the run still
    // reaches the 10,000-query floor.
    let all_entries: usize = images.iter().map(|(_, img)| img.entries.len()).sum();
    let floor = 12_000usize.div_ceil(all_entries.max(1));
    for (name, img) in &images {
        let per_entry = (if img.entries.len() < 40 { 12 } else { 4 }).max(floor);
        let qs = mutate::queries(img, &mut rng, per_entry);
        let numbered: Vec<_> = qs.into_iter().enumerate().map(|(i, q)| (i + 1, Ok(q))).collect();
        let report = verify::verify(&mut harness, img, &numbered).expect("verify");
        total += report.queries;
        agree += report.agree;
        for (k, v) in report.mix {
            *mix.entry(k).or_default() += v;
        }
        for d in report.disagreements.iter().take(5) {
            failures.push(format!(
                "{name}: {}\n  kernel: {}\n  model:  {}",
                query::to_line(&d.query),
                describe(&d.kernel),
                describe(&d.model)
            ));
        }
        for (line, e) in report.errors.iter().take(5) {
            failures.push(format!("{name}: query {line}: {e}"));
        }
    }
    println!("{} images, {total} queries, {agree} agree, {} disagree", images.len(), total - agree);
    println!("decision mix (decision by who (lookup step)):");
    for (k, v) in &mix {
        println!("  {v:>7}  {k}");
    }
    assert!(failures.is_empty(), "{} problems, first ones:\n{}", failures.len(), failures.join("\n"));
    assert!(total >= 10_000, "only {total} queries");
    assert_eq!(total, agree);
    // the mix must exercise every decision path that matters
    for needed in [
        "by rule (exact)",
        "by rule (dir)",
        "by posture",
        "by default",
        "(exact+source)",
        "(execname)",
        "deny by rule",
        "allow+audit",
    ] {
        assert!(mix.keys().any(|k| k.contains(needed)), "no query decided {needed:?}");
    }
}

#[test]
fn sabotaged_kernel_copy_disagrees() {
    if !common::root_or_skip() {
        return;
    }
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bpf-rules.yaml")).unwrap();
    let img = mutate::images_from_yaml("bpf-rules.yaml", &text, mutate::postures()[0]).remove(0);
    let harness = Harness::load().unwrap();
    let mut harness = harness;
    let key = (7, 7);
    harness.targets.apply(key, &img).unwrap();
    // flip DENY on the first path entry that has it, in the kernel copy only
    let victim = img
        .entries
        .iter()
        .find(|e| {
            e.key.kind == armorc_compiler::image::KIND_PATH
                && (e.value.file | e.value.process) & DENY != 0
                && !e.main_text().ends_with('/')
        })
        .expect("a denying path entry");
    let mut inner = harness.targets.inner(key).unwrap();
    let mut v = victim.value;
    v.process ^= if v.process & DENY != 0 { DENY } else { 0 };
    v.file ^= if v.file & DENY != 0 { DENY } else { 0 };
    inner.insert(victim.key.to_bytes(), v.to_bytes(), 0).unwrap();

    let model = Model::new(&img);
    let single = MapImage { entries: vec![victim.clone()], ..img.clone() };
    let qs: Vec<Query> = mutate::queries(&single, &mut Rng::new(3), 200);
    let disagree = qs.iter().filter(|q| harness.decide(q, key).unwrap() != model.decide(q)).count();
    println!("sabotaged {:?}: {disagree} of {} queries disagree", victim.text, qs.len());
    assert!(disagree > 0, "flipping DENY on {:?} went unnoticed", victim.text);

    // restoring the entry restores agreement
    inner.insert(victim.key.to_bytes(), victim.value.to_bytes(), 0).unwrap();
    assert!(qs.iter().all(|q| harness.decide(q, key).unwrap() == model.decide(q)));
}
