//! The HTML report in headless Chromium with networking disabled: `--dump-dom` shows per-tag and
//! per-severity counts equal to the JSON report's, nothing points to http(s), and a screenshot is
//! not a single colour. Chromium comes from .ci/install-chromium.sh.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

#[path = "../../tests/common/browser.rs"]
mod browser;
mod common;

use armorc_recommend::image::{ImageLoadError, RegistryError};
use armorc_recommend::index::{EntryKind, FileIndex};
use armorc_recommend::report::Format;
use armorc_recommend::run::{self, ImagesRead, Job, Loaded, Options};
use armorc_recommend::templates;
use std::collections::BTreeMap;
use std::path::Path;

fn image(paths: &[&str]) -> FileIndex {
    let mut i = FileIndex::new();
    for p in paths {
        i.insert(p, EntryKind::File { mode: 0o755, size: 1 }).unwrap();
    }
    i.insert("/etc/nginx", EntryKind::Dir { mode: 0o755 }).unwrap();
    i
}

fn report(out: &Path, format: Format, name: &str) {
    let lib = templates::builtin().unwrap();
    let images: BTreeMap<&str, FileIndex> = BTreeMap::from([
        ("web:1", image(&["/usr/sbin/nginx", "/usr/bin/apt-get", "/usr/bin/curl", "/etc/os-release"])),
        ("db:2", image(&["/usr/bin/mysqldump", "/sbin/apk", "/usr/bin/ssh", "/etc/shadow"])),
    ]);
    let opts = Options {
        out_dir: out.to_path_buf(),
        report: out.join(name),
        format,
        tags: vec![],
        namespace: None,
        labels: BTreeMap::new(),
        node_labels: None,
        action: None,
        explain: true,
        legacy_karmor: false,
        allow_generic: false,
        progress: false,
        with_tests: false,
    };
    let loader = |spec: &str, _| -> Result<Loaded, ImageLoadError> {
        let index = images
            .get(spec)
            .ok_or_else(|| RegistryError::Request {
                host: spec.into(),
                what: "manifest".into(),
                reason: "no such image".into(),
            })?
            .clone();
        Ok(Loaded {
            reference: spec.into(),
            digest: "sha256:ab".into(),
            platform: "linux/amd64".into(),
            index,
            os_release: None,
        })
    };
    let jobs: Vec<Job> =
        ["web:1", "db:2", "gone:3"].iter().map(|i| Job { image: i.to_string(), workload: None }).collect();
    let (_, code) = run::run(&jobs, &lib, &opts, &loader).unwrap();
    assert_eq!(code, ImagesRead::SomeFailed, "gone:3 fails");
}

#[test]
fn html_report_in_headless_chromium_matches_json() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    report(&out, Format::Json, "report.json");
    report(&out, Format::Html, "report.html");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();

    // Self-contained: no src/href to the network, no scripts or external styles.
    for attr in ["src", "href"] {
        for v in browser::attributes(&html, attr) {
            assert!(!v.starts_with("http:") && !v.starts_with("https:") && !v.starts_with("//"), "{attr}={v}");
        }
    }
    assert!(!html.contains("<script") && !html.contains("<link"), "inline only");

    // Expected counts from the JSON report.
    let mut tags: BTreeMap<String, usize> = BTreeMap::new();
    let mut sev: BTreeMap<String, usize> = BTreeMap::new();
    for p in json["images"].as_array().unwrap().iter().flat_map(|i| i["policies"].as_array().unwrap()) {
        for t in p["tags"].as_array().unwrap() {
            *tags.entry(t.as_str().unwrap().to_string()).or_default() += 1;
        }
        *sev.entry(p["severity"].to_string()).or_default() += 1;
    }
    assert!(tags.len() > 5 && sev.len() > 2, "a meaningful report: {tags:?} {sev:?}");
    assert!(json["images"][2]["error"].as_str().unwrap().contains("gone:3"));

    let Some(browser) = browser::chromium() else {
        common::skip_or_fail("browser part: chromium not installed; run .ci/install-chromium.sh");
        return;
    };
    let profile = tmp.path().join("profile");
    let url = format!("file://{}", out.join("report.html").display());
    let dom = browser::headless(browser, &profile).arg("--dump-dom").arg(&url).output().unwrap();
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8(dom.stdout).unwrap();
    let seen_tags: BTreeMap<String, usize> = browser::attributes(&dom, "data-tag")
        .into_iter()
        .zip(
            dom.match_indices("class=\"tag-count\"")
                .map(|(i, _)| browser::attributes(&dom[i..], "data-count")[0].parse().unwrap()),
        )
        .map(|(t, n)| (t.replace("&amp;", "&"), n))
        .collect();
    assert_eq!(seen_tags, tags);
    let seen_sev: BTreeMap<String, usize> = browser::attributes(&dom, "data-severity")
        .into_iter()
        .zip(
            dom.match_indices("class=\"severity-count\"")
                .map(|(i, _)| browser::attributes(&dom[i..], "data-count")[0].parse().unwrap()),
        )
        .map(|(s, n)| (s.to_string(), n))
        .collect();
    assert_eq!(seen_sev, sev);

    let shot = tmp.path().join("shot.png");
    let o = browser::headless(browser, &profile)
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,900")
        .arg(&url)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let colours = browser::png_colours(&std::fs::read(&shot).unwrap());
    assert!(colours > 3, "screenshot has {colours} colour(s)");
}
