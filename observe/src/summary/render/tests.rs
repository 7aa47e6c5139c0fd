//! Each format snapshotted over one event set that fills every table, a host group, several
//! statuses, a row without time and a hostile path.

use super::*;
use crate::event::Event;
use crate::summary::{Options, Summarizer};

const EVENTS: &str = r#"
{"ClusterName":"default","NamespaceName":"shop","PodName":"web-7d9f","ContainerName":"nginx","Labels":"app=web","Type":"ContainerLog","Operation":"Process","Source":"/usr/bin/runc","ParentProcessName":"/usr/bin/runc","ProcessName":"/docker-entrypoint.sh","Resource":"/docker-entrypoint.sh nginx -g daemon off;","Result":"Passed","UpdatedTime":"2024-05-01T10:00:00.100000Z"}
{"ClusterName":"default","NamespaceName":"shop","PodName":"web-7d9f","ContainerName":"nginx","Labels":"app=web","Type":"ContainerLog","Operation":"Process","Source":"/docker-entrypoint.sh","ProcessName":"/usr/sbin/nginx","Resource":"/usr/sbin/nginx -g daemon off;","Result":"Passed","UpdatedTime":"2024-05-01T10:00:01Z"}
{"ClusterName":"default","NamespaceName":"shop","PodName":"web-7d9f","ContainerName":"nginx","Labels":"app=web","Type":"MatchedPolicy","Operation":"Process","Source":"/bin/bash","ProcessName":"/usr/bin/apt","Resource":"/usr/bin/apt","Action":"Block","Result":"Permission denied"}
{"ClusterName":"default","NamespaceName":"shop","PodName":"web-7d9f","ContainerName":"nginx","Labels":"app=web","Type":"ContainerLog","Operation":"Process","Source":"/bin/bash","ProcessName":"/usr/bin/apt","Resource":"/usr/bin/apt","Result":"Permission denied","UpdatedTime":"2024-05-01T10:05:00Z"}
{"ClusterName":"default","NamespaceName":"shop","PodName":"web-7d9f","ContainerName":"nginx","Labels":"app=web","Type":"ContainerLog","Operation":"File","ProcessName":"/usr/sbin/nginx","Resource":"/etc/nginx/nginx.conf","Data":"syscall=SYS_OPENAT flags=O_RDONLY","Result":"Passed","UpdatedTime":"2024-05-01T10:00:02Z"}
{"ClusterName":"default","NamespaceName":"shop","PodName":"web-7d9f","ContainerName":"nginx","Labels":"app=web","Type":"ContainerLog","Operation":"File","ProcessName":"/usr/sbin/nginx","Resource":"/etc/nginx/nginx.conf","Data":"syscall=SYS_OPENAT flags=O_RDONLY","Result":"Passed","UpdatedTime":"2024-05-01T10:09:00Z"}
{"ClusterName":"default","NamespaceName":"shop","PodName":"web-7d9f","ContainerName":"nginx","Labels":"app=web","Type":"MatchedPolicy","Operation":"File","ProcessName":"/usr/sbin/nginx","Resource":"/etc/nginx/nginx.conf","Action":"Audit","Result":"Passed"}
{"ClusterName":"default","NamespaceName":"shop","PodName":"web-7d9f","ContainerName":"nginx","Labels":"app=web","Type":"ContainerLog","Operation":"File","ProcessName":"/usr/sbin/nginx","Resource":"/var/log/nginx/a|b\u001b[31m<i>.log","Result":"Passed","UpdatedTime":"2024-05-01T10:00:03Z"}
{"ClusterName":"default","NamespaceName":"shop","PodName":"web-7d9f","ContainerName":"nginx","Labels":"app=web","Type":"ContainerLog","Operation":"File","ProcessName":"/usr/sbin/nginx","Resource":"/proc/1/status","Result":"Passed"}
{"ClusterName":"default","NamespaceName":"shop","PodName":"web-7d9f","ContainerName":"nginx","Labels":"app=web","Type":"ContainerLog","Operation":"Network","ProcessName":"/usr/sbin/nginx","Resource":"sa_family=AF_INET sin_port=8080 sin_addr=0.0.0.0 protocol=TCP","Data":"syscall=SYS_BIND","Result":"Passed","UpdatedTime":"2024-05-01T10:00:04Z"}
{"ClusterName":"default","NamespaceName":"shop","PodName":"web-7d9f","ContainerName":"nginx","Labels":"app=web","Type":"ContainerLog","Operation":"Network","ProcessName":"/usr/sbin/nginx","Resource":"remoteip=10.244.0.7 port=51234 protocol=TCP","Data":"syscall=SYS_ACCEPT4 domain=AF_INET","Result":"Passed","UpdatedTime":"2024-05-01T10:01:00Z"}
{"ClusterName":"default","NamespaceName":"shop","PodName":"web-7d9f","ContainerName":"nginx","Labels":"app=web","Type":"ContainerLog","Operation":"Network","ProcessName":"/usr/sbin/nginx","Resource":"remoteip=10.96.0.10 port=53 protocol=UDP","Data":"syscall=SYS_CONNECT domain=AF_INET","Result":"Passed","UpdatedTime":"2024-05-01T10:01:00Z"}
{"ClusterName":"default","NamespaceName":"shop","PodName":"web-7d9f","ContainerName":"nginx","Labels":"app=web","Type":"ContainerLog","Operation":"Network","ProcessName":"/usr/sbin/nginx","Resource":"remoteip=fd00::5 port=5432 protocol=TCP","Data":"kprobe=tcp_connect domain=AF_INET6","Result":"Passed","UpdatedTime":"2024-05-01T10:02:00Z"}
{"ClusterName":"default","HostName":"node-1","Type":"HostLog","Operation":"Process","Source":"/usr/lib/systemd/systemd","ProcessName":"/usr/bin/journalctl","Resource":"/usr/bin/journalctl --vacuum-time=2d","Result":"Passed","Timestamp":1714557600}
"#;

fn summarizer() -> Summarizer {
    let mut s = Summarizer::new(Options::default());
    for line in EVENTS.lines().filter(|l| !l.trim().is_empty()) {
        s.observe(&serde_json::from_str::<Event<'_>>(line).unwrap());
    }
    s
}

fn render_text(s: &Summarizer, format: Format) -> String {
    let mut out = Vec::new();
    render(&s.report(), format, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({
        snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/summary"),
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn text_like_karmor() {
    let text = render_text(&summarizer(), Format::Text);
    assert!(!text.contains('\u{1b}'), "escape sequences are written as text");
    snapshot("summary_text", &text);
}

#[test]
fn json_shape() {
    let json = render_text(&summarizer(), Format::Json);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["workloads"][1]["file"][0]["status"], serde_json::json!(["Allow", "Audit"]));
    snapshot("summary_json", &json);
}

#[test]
fn markdown_tables() {
    let md = render_text(&summarizer(), Format::Markdown);
    assert!(md.contains(r"a\|b\u{1b}[31m&lt;i&gt;.log"), "{md}");
    snapshot("summary_markdown", &md);
}

#[test]
fn html_self_contained() {
    let html = render_text(&summarizer(), Format::Html);
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("http"), "inline only");
    assert!(html.contains("&lt;i&gt;"));
    snapshot("summary_html", &html);
}

#[test]
fn aggregated_text() {
    let mut s = Summarizer::new(Options { aggregate: Some(1), ..Options::default() });
    for line in EVENTS.lines().filter(|l| !l.trim().is_empty()) {
        s.observe(&serde_json::from_str::<Event<'_>>(line).unwrap());
    }
    let text = render_text(&s, Format::Text);
    // /etc/nginx has 1 child, /var/log/nginx 1: nothing wider than 1 but /proc/1 (rule 1).
    assert!(text.contains("| /proc/ "), "{text}");
    assert!(text.contains("file paths aggregated"));
}

#[test]
fn cells_wider_than_format_widths() {
    // format!'s width argument stops at 65,535: a longer path must not panic the table.
    let path = format!("/{}", "a".repeat(70_000));
    let line = format!(r#"{{"Type":"ContainerLog","Operation":"File","ProcessName":"/bin/cat","Resource":"{path}"}}"#);
    let mut s = Summarizer::new(Options::default());
    s.observe(&serde_json::from_str::<Event<'_>>(&line).unwrap());
    for format in [Format::Text, Format::Markdown, Format::Html, Format::Json] {
        assert!(render_text(&s, format).contains(&path), "{format:?}");
    }
    let text = render_text(&s, Format::Text);
    let widths: Vec<usize> = text.lines().filter(|l| l.starts_with(['|', '+'])).map(|l| l.chars().count()).collect();
    assert!(widths.windows(2).all(|w| w[0] == w[1]), "aligned");
}
