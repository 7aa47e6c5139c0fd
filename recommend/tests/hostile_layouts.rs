//! Hostile OCI layouts (issue 15, round two), crafted here byte by byte: descriptor sizes that lie,
//! blobs that are not regular files, ambiguous indexes, bad whiteouts, unknown media types and
//! layout versions, a report path outside `-o`, control characters in file names, endless inputs.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod layout_support;

use armorc_recommend::report::Format;
use armorc_recommend::run::{self, ImagesRead, Job, Loaded, Options};
use armorc_recommend::{load_image, templates, ImageLoadError, LoadOptions};
use layout_support::{image, layer, layout, tagged, write_index};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn load_err(spec: &str) -> String {
    load_image(spec, &LoadOptions::default()).unwrap_err().to_string()
}

fn blob_file(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap())
}

fn options(out: &Path, report: PathBuf) -> Options {
    Options {
        out_dir: out.to_path_buf(),
        report,
        format: Format::Text,
        tags: vec![],
        namespace: None,
        labels: BTreeMap::from([("app".to_string(), "x".to_string())]),
        node_labels: None,
        action: None,
        explain: true,
        legacy_karmor: false,
        allow_generic: false,
        progress: false,
        with_tests: false,
    }
}

/// Runs `armorc recommend`'s library path with the real loader, on a thread with a deadline: a
/// hang fails the test instead of stalling the suite.
fn run_images(
    images: &[String],
    out: &Path,
    deadline: Duration,
) -> (armorc_recommend::report::RecommendReport, ImagesRead) {
    let (tx, rx) = std::sync::mpsc::channel();
    let images = images.to_vec();
    let out = out.to_path_buf();
    std::thread::spawn(move || {
        let lib = templates::builtin().unwrap();
        let jobs: Vec<Job> = images.iter().map(|i| Job { image: i.clone(), workload: None }).collect();
        let loader =
            |spec: &str, _| -> Result<Loaded, ImageLoadError> { Ok(load_image(spec, &LoadOptions::default())?.into()) };
        let result = run::run(&jobs, &lib, &options(&out, out.join("report.txt")), &loader).unwrap();
        let _ = tx.send(result);
    });
    rx.recv_timeout(deadline).expect("recommend finished before the deadline")
}

#[test]
fn declared_sizes_must_match_the_blob_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let files = layer(&[("usr/", "d"), ("usr/bin/apt-get", "f")]);
    let real = files.len() as i64;
    for (n, size) in [real - 10, real + 10, -1, i64::MAX, 0].into_iter().enumerate() {
        let dir = tmp.path().join(format!("layer-{n}"));
        let spec = layout(&dir, std::slice::from_ref(&files), |m| m["layers"][0]["size"] = json!(size));
        let err = load_err(&spec);
        // 2^63-1 is refused before any read, as over the uncompressed limit.
        let why = if size == i64::MAX { "limit max-uncompressed-bytes" } else { "declared size" };
        assert!(err.contains(why), "layer size {size}: {err}");
    }
    // The config and the manifest (index entry) are held to their sizes too.
    let dir = tmp.path().join("config");
    let spec = layout(&dir, std::slice::from_ref(&files), |m| {
        let s = m["config"]["size"].as_i64().unwrap();
        m["config"]["size"] = json!(s + 1);
    });
    assert!(load_err(&spec).contains("declared size"), "{}", load_err(&spec));
    let dir = tmp.path().join("manifest");
    let mut entry = image(&dir, std::slice::from_ref(&files), |_| {});
    entry["size"] = json!(entry["size"].as_i64().unwrap() - 1);
    write_index(&dir, vec![tagged(entry, "v1")]);
    let err = load_err(&format!("oci:{}:v1", dir.display()));
    assert!(err.contains("declared size"), "{err}");
    // The honest layout loads.
    let dir = tmp.path().join("good");
    let spec = layout(&dir, &[files], |_| {});
    assert!(load_image(&spec, &LoadOptions::default()).unwrap().index.is_file("/usr/bin/apt-get"));
}

#[test]
fn a_3_gb_blob_declared_as_1_kb_fails_fast() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("huge");
    let files = layer(&[("usr/bin/apt-get", "f")]);
    let spec = layout(&dir, std::slice::from_ref(&files), |m| m["layers"][0]["size"] = json!(1024));
    let digest = format!("sha256:{:x}", Sha256::digest(&files));
    // Sparse: 3 GB of zeros that take no disk space.
    std::fs::OpenOptions::new().write(true).open(blob_file(&dir, &digest)).unwrap().set_len(3 << 30).unwrap();
    let start = Instant::now();
    let err = load_err(&spec);
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    assert!(err.contains("declared size 1024 bytes, but the blob has 3221225472 bytes"), "{err}");
}

#[test]
fn non_regular_blobs_are_refused_and_the_good_image_is_still_written() {
    let tmp = tempfile::tempdir().unwrap();
    let files = layer(&[("usr/", "d"), ("usr/bin/apt-get", "f")]);
    let digest = format!("sha256:{:x}", Sha256::digest(&files));
    let zero = tmp.path().join("zero");
    let zero_spec = layout(&zero, std::slice::from_ref(&files), |_| {});
    std::fs::remove_file(blob_file(&zero, &digest)).unwrap();
    std::os::unix::fs::symlink("/dev/zero", blob_file(&zero, &digest)).unwrap();
    let fifo = tmp.path().join("fifo");
    let fifo_spec = layout(&fifo, std::slice::from_ref(&files), |_| {});
    std::fs::remove_file(blob_file(&fifo, &digest)).unwrap();
    let c = std::ffi::CString::new(blob_file(&fifo, &digest).to_str().unwrap()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let good = tmp.path().join("good");
    let good_spec = layout(&good, &[files], |_| {});

    let out = tmp.path().join("out");
    let (report, code) = run_images(&[zero_spec, fifo_spec, good_spec], &out, Duration::from_secs(60));
    assert_eq!(code, ImagesRead::SomeFailed);
    for bad in &report.images[..2] {
        let err = bad.error.as_deref().unwrap();
        assert!(err.contains("not a regular file"), "{err}");
    }
    assert!(report.images[2].error.is_none());
    assert!(out.join("good-v1/apt-dpkg-exec.yaml").is_file());
}

#[test]
fn two_untagged_manifests_for_one_platform_are_an_error_listing_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("two");
    let platform = json!({"os": "linux", "architecture": "amd64"});
    let mut a = image(&dir, &[layer(&[("a", "f")])], |_| {});
    let mut b = image(&dir, &[layer(&[("b", "f")])], |_| {});
    a["platform"] = platform.clone();
    b["platform"] = platform;
    write_index(&dir, vec![a.clone(), b.clone()]);
    let err = load_err(&format!("oci:{}", dir.display()));
    for d in [&a["digest"], &b["digest"]] {
        assert!(err.contains(d.as_str().unwrap()), "{err}");
    }
    assert!(err.contains("several images for linux/amd64"), "{err}");
    // Tagged, each is reachable by its tag.
    write_index(&dir, vec![tagged(a, "one"), tagged(b, "two")]);
    let one = load_image(&format!("oci:{}:one", dir.display()), &LoadOptions::default()).unwrap();
    assert!(one.index.is_file("/a"));
}

#[test]
fn whiteouts_naming_dot_or_dotdot_are_both_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    for (n, marker) in ["etc/.wh..", "etc/.wh...", "etc/.wh."].into_iter().enumerate() {
        let dir = tmp.path().join(format!("w{n}"));
        let spec = layout(&dir, &[layer(&[("etc/", "d"), ("etc/passwd", "f")]), layer(&[(marker, "f")])], |_| {});
        let err = load_err(&spec);
        assert!(err.contains("whiteout marker names no entry"), "{marker}: {err}");
    }
    // The real markers still work: `.wh.<name>` deletes name, `.wh..wh..opq` empties the directory.
    let dir = tmp.path().join("ok");
    let spec = layout(
        &dir,
        &[
            layer(&[("etc/", "d"), ("etc/passwd", "f"), ("etc/group", "f"), ("opt/x/1", "f")]),
            layer(&[("etc/.wh.passwd", "f"), ("opt/x/.wh..wh..opq", "f"), ("opt/x/2", "f")]),
        ],
        |_| {},
    );
    let image = load_image(&spec, &LoadOptions::default()).unwrap();
    let paths: Vec<&str> = image.index.paths().collect();
    assert_eq!(paths, ["/etc", "/etc/group", "/opt", "/opt/x", "/opt/x/2"]);
}

#[test]
fn unknown_layer_media_types_and_layout_versions_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let files = layer(&[("a", "f")]);
    for mt in ["application/vnd.cncf.helm.chart.content.v1.tar+gzip", "", "application/octet-stream"] {
        let dir = tmp.path().join(format!("mt{}", mt.len()));
        let spec = layout(&dir, std::slice::from_ref(&files), |m| m["layers"][0]["mediaType"] = json!(mt));
        let err = load_err(&spec);
        assert!(err.contains("unsupported media type"), "{mt}: {err}");
    }
    let dir = tmp.path().join("version");
    let spec = layout(&dir, &[files], |_| {});
    for (marker, ok) in
        [(r#"{"imageLayoutVersion":"9.9"}"#, false), ("{}", false), (r#"{"imageLayoutVersion":"1.0.0"}"#, true)]
    {
        std::fs::write(dir.join("oci-layout"), marker).unwrap();
        match load_image(&spec, &LoadOptions::default()) {
            Ok(_) => assert!(ok, "{marker} accepted"),
            Err(e) => assert!(!ok && e.to_string().contains("oci-layout"), "{marker}: {e}"),
        }
    }
}

#[test]
fn the_report_cannot_be_written_outside_the_output_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("a/b/out");
    for name in ["/abs/x", "../../x", "sub/../../x", "", "."] {
        assert!(run::report_path(&out, Path::new(name)).is_err(), "{name:?}");
    }
    assert_eq!(run::report_path(&out, Path::new("r/report.md")).unwrap(), out.join("r/report.md"));
    let lib = templates::builtin().unwrap();
    let loader = |_: &str, _| -> Result<Loaded, ImageLoadError> { Err(ImageLoadError::WorkerStopped) };
    // A report path built by hand (library callers) is held to the same rule.
    let escape = tmp.path().join("a/x.txt");
    let err = run::run(&[], &lib, &options(&out, out.join("../../x.txt")), &loader).unwrap_err();
    assert!(err.to_string().contains("-r"), "{err}");
    assert!(!escape.exists());
    // A symlinked subdirectory of -o pointing elsewhere is refused too.
    std::fs::create_dir_all(&out).unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("link")).unwrap();
    let err = run::run(&[], &lib, &options(&out, out.join("link/r.txt")), &loader).unwrap_err();
    assert!(err.to_string().contains("outside"), "{err}");
    assert!(!elsewhere.join("r.txt").exists());
}

#[test]
fn control_characters_in_file_names_are_escaped_in_text_and_markdown() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = layout(&tmp.path().join("ctl"), &[layer(&[("a\nForged | line\x1b[31m/../b", "f")])], |_| {});
    let out = tmp.path().join("out");
    let (report, code) = run_images(&[spec], &out, Duration::from_secs(60));
    assert_eq!(code, ImagesRead::SomeFailed);
    assert!(report.images[0].error.as_deref().unwrap().contains('\n'), "the JSON keeps the real name");
    for format in [Format::Text, Format::Markdown] {
        let text = report.render(format);
        assert!(!text.contains("\nForged") && !text.contains('\x1b'), "{text}");
        assert!(text.contains(r"a\nForged"), "{text}");
    }
}

#[test]
fn endless_docker_config_is_refused_with_its_name() {
    let opts = LoadOptions { docker_config: Some("/dev/zero".into()), ..LoadOptions::default() };
    let start = Instant::now();
    // The config is read before any network access.
    let err = load_image("localhost:1/x:1", &opts).unwrap_err().to_string();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(err.contains("/dev/zero") && err.contains("limit"), "{err}");
}
