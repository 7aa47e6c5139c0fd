//! `armorc summary` end to end: KubeArmor's own event samples (from its docs, in
//! tests/fixtures/events/) read without error, stdin and gzip, filters and `--since`, `--agg`,
//! errors that name file, line and column and write nothing, and the HTML report in headless
//! Chromium (charts equal to the JSON report, no network request, no console message).
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

#[path = "common/browser.rs"]
mod browser;
mod common;

use armorc_observe::time::{format_rfc3339, now_micros};
use common::{armorc, armorc_with_stdin};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Output;

/// KubeArmor's samples: kubearmor-events.md (every telemetry and alert sample),
/// workload_visibility.md, dns_visibility.md (its array written as objects), and three alerts of
/// use-cases/res/*.md.
const DOC_SAMPLES: [&str; 4] = [
    "tests/fixtures/events/kubearmor-events.json",
    "tests/fixtures/events/workload-visibility.json",
    "tests/fixtures/events/dns-visibility.json",
    "tests/fixtures/events/use-cases-alerts.json",
];

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "exit {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap()
}

fn summary(args: &[&str]) -> Output {
    armorc(&[&["summary"], args].concat())
}

#[test]
fn kubearmor_doc_samples_are_read_without_error() {
    for file in DOC_SAMPLES {
        ok(&summary(&[file]));
    }
    let text = ok(&summary(&DOC_SAMPLES));
    for row in [
        "| /usr/bin/runc | /bin/sh ",
        "| /knoxAutoPolicy | /var/run/secrets/kubernetes.io/serviceaccount/token ",
        "| /x86_64-bottlerocket-linux-gnu/sys-root/usr/bin/runc | /bin/sh ",
        "| /bin/dash                                            | /bin/cat ",
        "| UDP      | /usr/bin/curl  | 10.43.0.10 | 53 ",
        "|          | /home/pea/main | 10.0.0.10  | 53 ",
    ] {
        let squeezed = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(squeezed(&text).contains(&squeezed(row)), "missing {row:?} in\n{text}");
    }
    insta::with_settings!({
        snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots/summary"),
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!("summary_cli_kubearmor_docs", text);
    });
    let v = json(&summary(&[&DOC_SAMPLES[..], &["--format", "json"]].concat()));
    assert_eq!(v["totals"]["events"], 16);
    assert_eq!(v["totals"]["telemetry"], 7);
    assert_eq!(v["totals"]["alerts"], 9);
    assert_eq!(v["workloads"].as_array().unwrap().len(), 5);
}

/// JSON lines of `n` File events of one container, `secs_ago` seconds old.
fn file_events(n: usize, secs_ago: i64, path: &str) -> String {
    let when = format_rfc3339(now_micros() - secs_ago * 1_000_000);
    (0..n)
        .map(|i| {
            format!(
                r#"{{"NamespaceName":"shop","PodName":"web-1","ContainerName":"nginx","Labels":"app=web","Type":"ContainerLog","Operation":"File","ProcessName":"/usr/sbin/nginx","Resource":"{}","Result":"Passed","UpdatedTime":"{when}"}}"#,
                path.replace("{i}", &i.to_string())
            ) + "\n"
        })
        .collect()
}

#[test]
fn stdin_and_gzip_read_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = file_events(3, 60, "/etc/nginx/conf.d/{i}.conf") + &file_events(2, 60, "/etc/hosts");
    let gz = tmp.path().join("events.json.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(lines.as_bytes()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let from_gzip = json(&summary(&[gz.to_str().unwrap(), "--format", "json"]));
    let from_stdin = json(&armorc_with_stdin(&["summary", "-", "--format", "json"], &lines));
    assert_eq!(from_gzip, from_stdin);
    assert_eq!(from_gzip["workloads"][0]["file"].as_array().unwrap().len(), 4);
    assert_eq!(from_gzip["workloads"][0]["file"][0]["destination"], "/etc/hosts");
    assert_eq!(from_gzip["workloads"][0]["file"][0]["count"], 2);
}

#[test]
fn filters_since_and_agg() {
    let tmp = tempfile::tempdir().unwrap();
    let events = tmp.path().join("events.json");
    let other = r#"{"NamespaceName":"kube-system","PodName":"dns-1","ContainerName":"coredns","Labels":"k8s-app=kube-dns","Type":"ContainerLog","Operation":"File","ProcessName":"/coredns","Resource":"/etc/coredns/Corefile","UpdatedTime":"2024-01-01T00:00:00Z"}"#;
    let text = file_events(1, 7200, "/old")
        + &file_events(1, 30, "/new")
        + &file_events(20, 30, "/proc/{i}/stat")
        + other
        + "\n";
    std::fs::write(&events, text).unwrap();
    let e = events.to_str().unwrap();
    let destinations = |extra: &[&str]| -> Vec<String> {
        let v = json(&summary(&[&[e, "--format", "json"], extra].concat()));
        v["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|w| w["file"].as_array().unwrap().iter().map(|f| f["destination"].as_str().unwrap().to_string()))
            .collect()
    };
    assert_eq!(destinations(&[]).len(), 23);
    assert_eq!(destinations(&["-n", "kube-system"]), ["/etc/coredns/Corefile"]);
    assert_eq!(destinations(&["-l", "k8s-app=kube-dns"]), ["/etc/coredns/Corefile"]);
    assert_eq!(destinations(&["--container", "coredns", "--pod", "dns-1"]), ["/etc/coredns/Corefile"]);
    assert_eq!(destinations(&["--since", "10m", "--agg"]), ["/new", "/proc/"]);
    assert_eq!(destinations(&["--since", "2024-01-01T00:00:00Z", "-n", "kube-system"]), ["/etc/coredns/Corefile"]);
    assert_eq!(destinations(&["--since", "2024-01-01T00:00:01Z", "-n", "kube-system"]), Vec::<String>::new());
    let text = ok(&summary(&[e, "--agg", "--agg-children", "3", "--pod", "web-1"]));
    assert!(text.contains("| /usr/sbin/nginx | /proc/ "), "{text}");
    assert!(text.contains("| 20    |"), "20 /proc reads in one row: {text}");
}

#[test]
fn bad_input_names_file_line_column_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.txt");
    std::fs::write(&out, "previous report\n").unwrap();
    let cases: [(&str, &str, &str); 5] = [
        (
            "wrong-type.json",
            "{\"Type\":\"ContainerLog\"}\n\n  {\"PID\": \"x\"}\n",
            "wrong-type.json:3:13: not a KubeArmor event",
        ),
        ("unterminated.json", "{\"Type\":\"ContainerLog\"}\n{\n  \"Operation\": \"File\",\n", "unterminated.json:2:1"),
        ("array.json", "[{\"Type\":\"ContainerLog\"}]\n", "array.json:1:1"),
        ("garbage.json", "{\"Type\":\"ContainerLog\"}\n\u{1}\u{2}binary\n", "garbage.json:2:1"),
        ("type-number.json", "{\"Type\":5}\n", "type-number.json:1:9"),
    ];
    for (name, text, expected) in cases {
        let input = tmp.path().join(name);
        std::fs::write(&input, text).unwrap();
        let o = summary(&[input.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(o.stdout.is_empty());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous report\n", "{name}: -o untouched");
    }
    let bad_utf8 = tmp.path().join("bad-utf8.json");
    std::fs::write(&bad_utf8, b"{\"Type\":\"ContainerLog\",\"Resource\":\"/\xff\"}\n").unwrap();
    let o = summary(&[bad_utf8.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bad-utf8.json:1:37: not a KubeArmor event: invalid UTF-8"), "{stderr}");
    let fresh = tmp.path().join("fresh.txt");
    let bad = tmp.path().join("array.json");
    let o = summary(&[DOC_SAMPLES[0], bad.to_str().unwrap(), "-o", fresh.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!fresh.exists(), "no partial output");
    let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 7, "no temporary files left: {names:?}");
}

#[test]
fn usage_errors_exit_2() {
    for (args, expected) in [
        (&["tests/fixtures/events/none.json"][..], "tests/fixtures/events/none.json: No such file"),
        (&[DOC_SAMPLES[0], "--since", "yesterday"][..], "--since `yesterday`"),
        (&[DOC_SAMPLES[0], "-l", "app"][..], "-l `app`: expected key=value"),
        (&[DOC_SAMPLES[0], "--agg-children", "3"][..], "--agg"),
        (&[DOC_SAMPLES[0], "--format", "yaml"][..], "yaml"),
        (&[DOC_SAMPLES[0], "-o", "/nonexistent-dir/x.txt"][..], "/nonexistent-dir"),
    ] {
        let o = summary(args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn output_file_replaces_atomically() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("summary.json");
    std::fs::write(&out, "old").unwrap();
    assert_eq!(ok(&summary(&[DOC_SAMPLES[0], "--format", "json", "-o", out.to_str().unwrap()])), "");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}

/// Events that fill every table of two workloads, plus KubeArmor's samples.
fn html_inputs(dir: &Path) -> Vec<String> {
    let net = |data: &str, resource: &str| {
        format!(
            r#"{{"NamespaceName":"shop","PodName":"web-1","ContainerName":"nginx","Type":"ContainerLog","Operation":"Network","ProcessName":"/usr/sbin/nginx","Resource":"{resource}","Data":"{data}","Result":"Passed","Timestamp":1714557600}}"#
        ) + "\n"
    };
    let text = file_events(5, 10, "/usr/lib/x86_64-linux-gnu/lib{i}.so")
        + &net("syscall=SYS_CONNECT domain=AF_INET", "remoteip=10.0.0.1 port=80 protocol=TCP")
        + &net("syscall=SYS_ACCEPT4 domain=AF_INET", "remoteip=10.0.0.2 port=40000 protocol=TCP")
        + &net("syscall=SYS_BIND", "sa_family=AF_INET sin_port=8080 sin_addr=0.0.0.0 protocol=TCP");
    let path = dir.join("web.json");
    std::fs::write(&path, text).unwrap();
    let mut all: Vec<String> = DOC_SAMPLES.iter().map(|s| s.to_string()).collect();
    all.push(path.to_str().unwrap().to_string());
    all
}

#[test]
fn html_report_in_headless_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = html_inputs(tmp.path());
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let html_path = tmp.path().join("summary.html");
    ok(&summary(&[&inputs[..], &["--format", "html", "-o", html_path.to_str().unwrap()]].concat()));
    let report = json(&summary(&[&inputs[..], &["--format", "json"]].concat()));
    let html = std::fs::read_to_string(&html_path).unwrap();
    for attr in ["src", "href"] {
        assert!(browser::attributes(&html, attr).is_empty(), "{attr} in a self-contained page");
    }
    assert!(!html.contains("<script") && !html.contains("<link"), "inline only");

    // What the charts must show, from the JSON report.
    let mut per_table: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_workload: BTreeMap<String, u64> = BTreeMap::new();
    let titles = [
        ("process", "Process Data"),
        ("file", "File Data"),
        ("ingress", "Ingress connections"),
        ("egress", "Egress connections"),
        ("bind", "Bind Points"),
    ];
    for w in report["workloads"].as_array().unwrap() {
        let name = if w["host"] != "" {
            format!("host {}", w["host"].as_str().unwrap())
        } else {
            format!(
                "{}/{}/{}",
                w["namespace"].as_str().unwrap(),
                w["pod"].as_str().unwrap(),
                w["container"].as_str().unwrap()
            )
        };
        for (key, title) in titles {
            let n: u64 = w[key].as_array().unwrap().iter().map(|r| r["count"].as_u64().unwrap()).sum();
            *per_table.entry(title.to_string()).or_default() += n;
            *per_workload.entry(name.clone()).or_default() += n;
        }
    }
    assert!(per_table.values().all(|n| *n > 0), "every table filled: {per_table:?}");

    let Some(chrome) = browser::chromium() else {
        common::skip_or_fail("browser part: chromium not installed; run .ci/install-chromium.sh");
        return;
    };
    let profile = tmp.path().join("profile");
    let netlog = tmp.path().join("netlog.json");
    let url = format!("file://{}", html_path.display());
    let dom = browser::headless(chrome, &profile)
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let console: Vec<_> =
        String::from_utf8_lossy(&dom.stderr).lines().filter(|l| l.contains(":CONSOLE")).map(String::from).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    // The page's own requests are those isolated under file:// (Chromium's background
    // requests, blocked anyway, have other isolation keys).
    let log: Value = serde_json::from_str(&std::fs::read_to_string(&netlog).unwrap()).unwrap();
    let page_requests: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["params"]["network_isolation_key"].as_str().is_some_and(|k| k.contains("file://")))
        .filter_map(|e| e["params"]["url"].as_str())
        .collect();
    assert!(page_requests.is_empty(), "network requests from the page: {page_requests:?}");

    let dom = String::from_utf8(dom.stdout).unwrap();
    let bars = |chart: &str| -> BTreeMap<String, u64> {
        let start = dom.find(&format!("id=\"{chart}\"")).unwrap();
        let svg = &dom[start..start + dom[start..].find("</svg>").unwrap()];
        let labels = browser::attributes(svg, "data-label");
        let counts = browser::attributes(svg, "data-count");
        labels
            .into_iter()
            .map(|l| l.replace("&amp;", "&"))
            .zip(counts.into_iter().map(|c| c.parse().unwrap()))
            .collect()
    };
    assert_eq!(bars("by-table"), per_table);
    assert_eq!(bars("by-workload"), per_workload);

    let shot = tmp.path().join("shot.png");
    let o = browser::headless(chrome, &profile)
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,900")
        .arg(&url)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let colours = browser::png_colours(&std::fs::read(&shot).unwrap());
    assert!(colours > 3, "screenshot has {colours} colour(s)");
}
