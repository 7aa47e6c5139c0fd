//! BPF decision and apply benchmark (BENCHMARKS.md "## BPF decision and apply"). Root needed.
//!
//!   cargo run --release -p armor-loader --example bpf_bench
//!
//! Decision cost: median over 1,000 queries (12-component paths: half exact hits, a quarter
//! directory hits, a quarter posture) of BPF_PROG_TEST_RUN means at repeat=10000, beside a
//! single-lookup floor (armor_floor: one outer + one inner lookup) measured in the same run.
//! Apply: 1,000 images of 200 entries plus one of 4,096 (new inner map, fill, swap), entries/s.

use armor_runtime::kernel::Harness;
use armor_runtime::mutate::{self, Rng};
use armorc_compiler::compose::{Posture, PostureAction};
use armorc_compiler::image::*;
use armorc_compiler::model::{By, Model, Op, Query, Step};
use std::time::{Duration, Instant};

const REPEAT: u32 = 10_000;
const KEY: (u32, u32) = (100, 100);

fn comps(prefix: &str, i: usize, n: usize) -> String {
    (0..n).map(|c| format!("/{prefix}{i}c{c}")).collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    armor_runtime::ensure_bpffs()?;
    let mut harness = Harness::load()?;

    // policy: 500 exact file paths and 250 recursive directories (6 levels), Allow, block posture
    let mut yaml = String::from(
        "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: bench\n  namespace: b\nspec:\n  selector:\n    matchLabels:\n      app: b\n  file:\n    matchPaths:\n",
    );
    for i in 0..500 {
        yaml += &format!("      - path: {}\n", comps("e", i, 12));
    }
    yaml += "    matchDirectories:\n";
    for i in 0..250 {
        yaml += &format!("      - dir: {}/\n        recursive: true\n", comps("d", i, 6));
    }
    yaml += "  action: Allow\n";
    let posture =
        Posture { file: PostureAction::Block, network: PostureAction::Block, capabilities: PostureAction::Block };
    let image = mutate::images_from_yaml("bench.yaml", &yaml, posture).remove(0);
    harness.targets.apply(KEY, &image)?;
    let model = Model::new(&image);

    let mut queries = Vec::new();
    for i in 0..500 {
        queries.push((Query { path: comps("e", i, 12).into_bytes(), ..Query::new(Op::Open) }, "exact"));
    }
    for i in 0..250 {
        let p = format!("{}{}", comps("d", i, 6), comps("x", i, 6));
        queries.push((Query { path: p.into_bytes(), ..Query::new(Op::Open) }, "dir"));
    }
    for i in 0..250 {
        queries.push((Query { path: comps("p", i, 12).into_bytes(), ..Query::new(Op::Open) }, "posture"));
    }
    let mut all = Vec::new();
    let mut by_class: std::collections::BTreeMap<&str, Vec<Duration>> = Default::default();
    for (q, class) in &queries {
        let (d, t) = harness.run(q, KEY, REPEAT)?;
        assert_eq!(d, model.decide(q), "kernel and model disagree on {class}");
        let expected = match *class {
            "exact" => (By::Rule, Step::Exact),
            "dir" => (By::Rule, Step::Dir),
            _ => (By::Posture, Step::None),
        };
        assert_eq!((d.by, d.step), expected, "query class {class} decided differently");
        all.push(t);
        by_class.entry(class).or_default().push(t);
    }
    // floor: one lookup of an existing key, measured in the same run
    let k = image.entries[image.entries.len() / 2].key.to_bytes();
    let mut floor = Vec::new();
    for _ in 0..100 {
        let (found, t) = harness.floor(KEY, k, REPEAT)?;
        assert!(found);
        floor.push(t);
    }
    let floor = median(floor);
    let med = median(all);
    println!("image: {} entries; {} queries x repeat {REPEAT}", image.entries.len(), queries.len());
    println!("decision median: {} ns (target < 500 ns)", med.as_nanos());
    for (class, v) in by_class {
        let n = v.len();
        println!("  {class:>8} median: {} ns ({n} queries)", median(v).as_nanos());
    }
    println!(
        "single-lookup floor: {} ns; ratio decision/floor: {:.2}",
        floor.as_nanos(),
        med.as_nanos() as f64 / floor.as_nanos() as f64
    );
    harness.targets.remove(KEY)?;

    // apply: 1,000 images of 200 entries plus one of 4,096
    let mut rng = Rng::new(42);
    let mk = |n: usize, rng: &mut Rng| MapImage {
        target: "bench".into(),
        entries: (0..n)
            .map(|_| Entry {
                key: Key::path(KIND_PATH, format!("/p/{}", rng.next_u64()).as_bytes(), None),
                value: Value { process: 0, file: READ, rule: u32::MAX },
                text: String::new(),
            })
            .collect(),
        rules: vec![],
    };
    let mut images: Vec<MapImage> = (0..1000).map(|_| mk(200, &mut rng)).collect();
    images.push(mk(4096, &mut rng));
    let entries: usize = images.iter().map(|i| i.entries.len()).sum();
    let items: Vec<_> = images.iter().enumerate().map(|(i, img)| ((1000 + i as u32, 1), img)).collect();
    // the fill part alone (create + batch write), for the breakdown
    let start = Instant::now();
    let fds: Vec<_> = images.iter().map(armor_runtime::kernel::fill_inner).collect::<anyhow::Result<_>>()?;
    let fill = start.elapsed();
    drop(fds);
    let start = Instant::now();
    harness.targets.apply_many(&items)?;
    let took = start.elapsed();
    // one by one, for comparison (each swap waits for its own RCU grace period)
    let start1 = Instant::now();
    for (key, img) in items.iter().take(50) {
        harness.targets.apply(*key, img)?;
    }
    let one = start1.elapsed() / 50;
    println!(
        "apply: {} images, {entries} entries in {:.1} ms = {:.0} entries/s (target: all < 200 ms)",
        images.len(),
        took.as_secs_f64() * 1e3,
        entries as f64 / took.as_secs_f64()
    );
    println!("  of which filling rule maps: {:.1} ms", fill.as_secs_f64() * 1e3);
    println!("apply one at a time: {:.2} ms per image (RCU grace period per swap)", one.as_secs_f64() * 1e3);
    for i in 0..images.len() {
        harness.targets.remove((1000 + i as u32, 1))?;
    }
    Ok(())
}
