use super::*;

/// A container event as JSON; `extra` is spliced in (`"Operation":"File",...`) and overrides the
/// defaults (`Type`, `Result`).
fn ev(extra: &str) -> String {
    let mut fields = String::from(
        r#""ClusterName":"c1","NamespaceName":"shop","PodName":"web-1","ContainerName":"nginx","Labels":"app=web,tier=front""#,
    );
    for (key, default) in [("Type", "ContainerLog"), ("Result", "Passed")] {
        if !extra.contains(&format!("\"{key}\":")) {
            fields.push_str(&format!(r#","{key}":"{default}""#));
        }
    }
    format!("{{{fields},{extra}}}")
}

fn run(options: Options, lines: &[String]) -> Summarizer {
    let mut s = Summarizer::new(options);
    for l in lines {
        s.observe(&serde_json::from_str::<Event<'_>>(l).unwrap());
    }
    s
}

fn files(r: &Report<'_>) -> Vec<(String, String, u64, String)> {
    r.workloads[0]
        .tables
        .file
        .iter()
        .map(|f| (f.source.to_string(), f.destination.to_string(), f.count, status_text(f.status)))
        .collect()
}

#[test]
fn telemetry_makes_rows_and_alerts_set_their_status() {
    let lines = [
        ev(
            r#""Operation":"File","ProcessName":"/usr/sbin/nginx","Resource":"/etc/nginx/nginx.conf","UpdatedTime":"2024-01-01T00:00:05Z""#,
        ),
        ev(
            r#""Operation":"File","ProcessName":"/usr/sbin/nginx","Resource":"/etc/nginx/nginx.conf","UpdatedTime":"2024-01-01T00:00:09Z""#,
        ),
        ev(
            r#""Operation":"File","ProcessName":"/usr/sbin/nginx","Resource":"/etc/nginx/nginx.conf","Timestamp":1704067201"#,
        ),
        // The alert of a blocked write to the same file: STATUS gains Block, COUNT stays.
        ev(
            r#""Type":"MatchedPolicy","Action":"Block","Result":"Permission denied","Operation":"File","ProcessName":"/usr/sbin/nginx","Resource":"/etc/nginx/nginx.conf""#,
        ),
        // An alert alone makes no row.
        ev(
            r#""Type":"MatchedPolicy","Action":"Audit","Operation":"File","ProcessName":"/bin/cat","Resource":"/etc/shadow""#,
        ),
        ev(
            r#""Operation":"File","ProcessName":"/usr/sbin/nginx","Resource":"/missing","Result":"No such file or directory""#,
        ),
        ev(r#""Operation":"File","ProcessName":"/usr/sbin/nginx","Resource":"/root/x","Result":"Permission denied""#),
        // Process: SRC is the exec'ing process (Source without arguments), DESTINATION the path run.
        ev(
            r#""Operation":"Process","Source":"/bin/bash -c x","ParentProcessName":"/usr/bin/runc","ProcessName":"/bin/sh","Resource":"/bin/sh -ec vault status""#,
        ),
        ev(r#""Operation":"Process","ParentProcessName":"/usr/bin/runc","ProcessName":"/bin/sleep""#),
        ev(r#""Operation":"Capabilities","Resource":"CAP_NET_RAW""#),
        r#"{"Type":"SystemEvent","Operation":"AlertThreshold"}"#.to_string(),
    ];
    let s_r = run(Options::default(), &lines);
    let (r, kept) = (s_r.report(), s_r.rows.len());
    assert_eq!(kept, 6, "five shown rows plus the alert-only one");
    assert_eq!(
        r.totals,
        Totals { events: 11, telemetry: 8, alerts: 2, filtered_out: 0, untabled: 1, alert_only_rows: 1 }
    );
    assert_eq!(r.workloads.len(), 1);
    let w = &r.workloads[0];
    assert_eq!((w.namespace, w.pod, w.labels), ("shop", "web-1", "app=web,tier=front"));
    assert_eq!(
        files(&r),
        vec![
            ("/usr/sbin/nginx".into(), "/etc/nginx/nginx.conf".into(), 3, "Allow,Block".into()),
            ("/usr/sbin/nginx".into(), "/missing".into(), 1, "Failed".into()),
            ("/usr/sbin/nginx".into(), "/root/x".into(), 1, "Denied".into()),
        ]
    );
    // The newest of UpdatedTime and Timestamp.
    assert_eq!(time_text(w.tables.file[0].last_updated), "2024-01-01T00:00:09Z");
    assert_eq!(time_text(w.tables.file[1].last_updated), "-");
    let procs: Vec<(&str, &str)> = w.tables.process.iter().map(|p| (p.source, &*p.destination)).collect();
    assert_eq!(procs, [("/bin/bash", "/bin/sh"), ("/usr/bin/runc", "/bin/sleep")]);
}

#[test]
fn connections_go_to_their_table() {
    let lines = [
        ev(
            r#""Operation":"Network","ProcessName":"/usr/bin/curl","Resource":"remoteip=10.0.0.1 port=80 protocol=TCP","Data":"syscall=SYS_CONNECT domain=AF_INET""#,
        ),
        ev(
            r#""Operation":"Network","ProcessName":"/usr/bin/curl","Resource":"remoteip=10.0.0.1 port=80 protocol=TCP","Data":"kprobe=tcp_connect domain=AF_INET""#,
        ),
        ev(
            r#""Operation":"Network","ProcessName":"/usr/sbin/nginx","Resource":"remoteip=10.1.2.3 port=41000 protocol=TCP","Data":"syscall=SYS_ACCEPT4 domain=AF_INET""#,
        ),
        ev(
            r#""Operation":"Network","ProcessName":"/usr/sbin/nginx","Resource":"sa_family=AF_INET sin_port=8080 sin_addr=0.0.0.0 protocol=TCP","Data":"syscall=SYS_BIND""#,
        ),
        ev(
            r#""Operation":"Network","ProcessName":"/usr/sbin/nginx","Resource":"domain=AF_INET type=SOCK_STREAM protocol=0","Data":"syscall=SYS_SOCKET""#,
        ),
    ];
    let s_r = run(Options::default(), &lines);
    let r = s_r.report();
    let t = &r.workloads[0].tables;
    let show = |rows: &[ConnectionRow]| -> Vec<String> {
        rows.iter().map(|c| format!("{} {} {}:{} x{}", c.protocol, c.command, c.address, c.port, c.count)).collect()
    };
    assert_eq!(show(&t.egress), ["TCP /usr/bin/curl 10.0.0.1:80 x2"]);
    assert_eq!(show(&t.ingress), ["TCP /usr/sbin/nginx 10.1.2.3:41000 x1"]);
    assert_eq!(show(&t.bind), ["TCP /usr/sbin/nginx 0.0.0.0:8080 x1"]);
    assert_eq!(r.totals.untabled, 1, "SYS_SOCKET is no connection");
}

#[test]
fn filters_and_since() {
    let other_ns = r#"{"NamespaceName":"kube-system","PodName":"dns","ContainerName":"coredns","Type":"ContainerLog","Operation":"File","Resource":"/etc/hosts","UpdatedTime":"2024-01-01T00:00:00Z"}"#;
    let lines = [
        ev(r#""Operation":"File","Resource":"/old","UpdatedTime":"2024-01-01T00:00:00Z""#),
        ev(r#""Operation":"File","Resource":"/new","UpdatedTime":"2024-01-01T01:00:00Z""#),
        ev(r#""Operation":"File","Resource":"/untimed""#),
        other_ns.to_string(),
    ];
    let labels = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let dests = |o: Options| -> Vec<String> {
        let s_r = run(o, &lines);
        let r = s_r.report();
        r.workloads.iter().flat_map(|w| w.tables.file.iter().map(|f| f.destination.to_string())).collect()
    };
    assert_eq!(dests(Options::default()).len(), 4);
    assert_eq!(dests(Options { namespace: Some("kube-system".into()), ..Options::default() }), ["/etc/hosts"]);
    assert_eq!(dests(Options { pod: Some("web-1".into()), ..Options::default() }).len(), 3);
    assert_eq!(dests(Options { container: Some("coredns".into()), ..Options::default() }), ["/etc/hosts"]);
    assert_eq!(dests(Options { labels: labels(&[("tier", "front"), ("app", "web")]), ..Options::default() }).len(), 3);
    assert!(dests(Options { labels: labels(&[("app", "we")]), ..Options::default() }).is_empty());
    let since = time::parse_rfc3339("2024-01-01T00:30:00Z");
    assert_eq!(dests(Options { since, ..Options::default() }), ["/new"]);
    let s_r = run(Options { since, ..Options::default() }, &lines);
    let r = s_r.report();
    assert_eq!(r.totals.filtered_out, 3);
}

#[test]
fn agg_collapses_file_paths_and_merges_rows() {
    let mut lines = Vec::new();
    for pid in 0..50 {
        lines.push(ev(&format!(r#""Operation":"File","ProcessName":"/bin/ps","Resource":"/proc/{pid}/stat""#)));
        lines.push(ev(&format!(r#""Operation":"File","ProcessName":"/bin/ps","Resource":"/tmp/job-{pid}""#)));
    }
    for lib in 0..12 {
        lines.push(ev(&format!(
            r#""Operation":"File","ProcessName":"/bin/ps","Resource":"/usr/lib/x86_64-linux-gnu/lib{lib}.so""#
        )));
    }
    lines.push(ev(r#""Operation":"File","ProcessName":"/bin/ps","Resource":"/etc/passwd""#));
    let s_plain = run(Options::default(), &lines);
    let (plain, kept_plain) = (s_plain.report(), s_plain.rows.len());
    assert_eq!(plain.workloads[0].tables.file.len(), 113);
    assert_eq!(kept_plain, 113);
    let s_agg = run(Options { aggregate: Some(10), ..Options::default() }, &lines);
    let (agg, kept) = (s_agg.report(), s_agg.rows.len());
    // Rule 1 applies while reading: the /proc/PID and /tmp rows are never kept one by one.
    assert_eq!(kept, 2 + 12 + 1);
    assert_eq!(
        files(&agg),
        vec![
            ("/bin/ps".into(), "/etc/passwd".into(), 1, "Allow".into()),
            ("/bin/ps".into(), "/proc/".into(), 50, "Allow".into()),
            ("/bin/ps".into(), "/tmp/".into(), 50, "Allow".into()),
            ("/bin/ps".into(), "/usr/lib/x86_64-linux-gnu/".into(), 12, "Allow".into()),
        ]
    );
    assert!(agg.aggregated);
}

#[test]
fn memory_follows_rows_not_events() {
    let line = ev(r#""Operation":"File","ProcessName":"/bin/cat","Resource":"/etc/hosts""#);
    let s_r = run(Options::default(), &vec![line; 10_000]);
    let (r, kept) = (s_r.report(), s_r.rows.len());
    assert_eq!(kept, 1);
    assert_eq!(r.workloads[0].tables.file[0].count, 10_000);
}

#[test]
fn host_events_group_by_node() {
    let lines = [
        r#"{"Type":"HostLog","HostName":"node-a","Operation":"Process","Source":"/bin/bash","Resource":"/usr/bin/sleep 10"}"#.to_string(),
        r#"{"Type":"HostLog","HostName":"node-b","Operation":"Process","Source":"/bin/bash","Resource":"/usr/bin/sleep 10"}"#.to_string(),
        r#"{"Type":"MatchedHostPolicy","HostName":"node-b","Action":"Block","Operation":"Process","Source":"/bin/bash","Resource":"/usr/bin/sleep 10"}"#.to_string(),
    ];
    let s_r = run(Options::default(), &lines);
    let r = s_r.report();
    let hosts: Vec<(&str, String)> =
        r.workloads.iter().map(|w| (w.host, status_text(w.tables.process[0].status))).collect();
    assert_eq!(hosts, [("node-a", "Allow".to_string()), ("node-b", "Allow,Block".to_string())]);
}

#[test]
fn hostile_keys_round_trip() {
    // Separators and control characters inside fields cannot shift the key's parts.
    let lines = [ev(r#""Operation":"File","ProcessName":"/a\u0000b","Resource":"/x\u0000\u0001/y""#)];
    let s_r = run(Options::default(), &lines);
    let r = s_r.report();
    assert_eq!(files(&r), vec![("/a\0b".into(), "/x\0\u{1}/y".into(), 1, "Allow".into())]);
}
