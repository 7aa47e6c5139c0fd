//! `discover` over the fixture events (tests/fixtures/discover/): the rendered YAML and the report
//! as snapshots (snapshots/discover/), and what --min-count does to coverage.
#![allow(clippy::unwrap_used)]

use armorc_compiler::source::SourceFile;
use armorc_compiler::workload::Workloads;
use armorc_observe::discover::report::{finish, Output};
use armorc_observe::discover::{Action, Collector, Options};
use armorc_observe::event::{read_events, ReadError};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/discover").join(name)
}

fn discover(options: &Options) -> Output {
    let text = std::fs::read_to_string(fixture("workloads.yaml")).unwrap();
    let mut workloads = Workloads::default();
    workloads.read(&SourceFile::new("workloads.yaml", text)).unwrap();
    let mut collector = Collector::new(Some(&workloads));
    read_events::<ReadError>(&[fixture("events.jsonl")], |_, ev| {
        collector.observe(ev);
        Ok(())
    })
    .unwrap();
    finish(collector, options, "armorc discover events.jsonl --workloads workloads.yaml -o OUT").unwrap()
}

fn options(min_count: u64) -> Options {
    Options { action: Action::Allow, min_count, agg_children: 10 }
}

#[test]
fn fixture_policies_and_report() {
    let out = discover(&options(1));
    let names: Vec<&str> = out.files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        names,
        [
            "shop/api-api.kubearmorpolicy.yaml",
            "shop/db-postgres.kubearmorpolicy.yaml",
            "shop/web-nginx.kubearmorpolicy.yaml",
            "shop/api.networkpolicy.yaml",
            "shop/db.networkpolicy.yaml",
            "shop/web.networkpolicy.yaml",
        ]
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../snapshots/discover");
    insta::with_settings!({ snapshot_path => dir, prepend_module_to_snapshot => false }, {
        for (path, text) in &out.files {
            insta::assert_snapshot!(path.replace('/', "__"), text);
        }
        insta::assert_snapshot!("report_json", serde_json::to_string_pretty(&out.report).unwrap());
    });
    // Every used event is allowed by its own policy when nothing is dropped.
    for p in &out.report.kubearmor_policies {
        assert_eq!((p.coverage.allowed, p.coverage.denied), (p.events_used, 0), "{}", p.workload);
    }
    for n in &out.report.network_policies {
        assert_eq!(n.coverage.denied, 0, "{}", n.workload);
    }
}

#[test]
fn min_count_drops_rows_and_coverage_says_so() {
    let out = discover(&options(2));
    let web = out.report.kubearmor_policies.iter().find(|p| p.workload == "web").unwrap();
    assert!(web.rules.dropped_by_min_count > 0);
    // The dropped rows' events are denied by the model, the kept ones (seen 2+ times) allowed:
    // index.html and access.log (3 each), /proc/ (2), tcp (5), udp (2); and the two capability
    // uses (seen once each): no capability rule is left, so capabilities are not allow-listed.
    assert!(web.coverage.denied > 0 && web.coverage.allowed > 0, "{:?}", web.coverage);
    assert_eq!(web.coverage.allowed + web.coverage.denied, web.events_used);
    assert_eq!(web.coverage.allowed, 17, "{:?}", web.coverage);
    let web_net = out.report.network_policies.iter().find(|n| n.workload == "web").unwrap();
    // the connection to api:8080 was seen once
    assert_eq!(web_net.dropped_by_min_count, 1);
    assert!(web_net.coverage.denied > 0);
}
