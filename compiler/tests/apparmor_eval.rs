//! The AppArmor evaluator (compiler::model::apparmor, written from apparmor.d(5)) pinned by a hand-written
//! table, then run over every fixture profile the lowering produces to check that each rule
//! means what the policy says.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod aa_fixtures;

use armorc_compiler::model::apparmor::{Decision, Exec, ProfileSet};

/// (rule lines separated by ` ; `, path or query, op, expected). Ops: a file permission letter
/// (`r w a l k m`), `x` (exec), suffixed `:other` for a non-owner; `net:<type>/<protocol>`;
/// `cap`. Expected: `allow`, `deny`, `runs:<profile>`, `denied`, `missing:<profile>`, `conflict`.
/// Every table profile is `t`; profiles `sub` and `sub2` exist (empty) for transitions.
const TABLE: &[(&str, &str, &str, &str)] = &[
    // `*`: any characters except `/`.
    ("/etc/* r", "/etc/passwd", "r", "allow"),
    ("/etc/* r", "/etc/ssl/certs", "r", "deny"),
    ("/etc/* r", "/etc/", "r", "deny"),
    ("/etc/*.conf r", "/etc/a.conf", "r", "allow"),
    ("/etc/*.conf r", "/etc/.conf", "r", "allow"),
    ("/etc/*.conf r", "/etc/a/b.conf", "r", "deny"),
    ("/etc/a* r", "/etc/a", "r", "allow"),
    ("/*/x r", "//x", "r", "deny"),
    ("/etc/*/ r", "/etc/ssl/", "r", "allow"),
    // `**`: any characters including `/`.
    ("/var/** r", "/var/log/syslog", "r", "allow"),
    ("/var/** r", "/var/a", "r", "allow"),
    ("/var/** r", "/var/", "r", "deny"),
    ("/var/** r", "/var", "r", "deny"),
    ("/**/nc x", "/usr/bin/nc", "x", "denied"),
    ("/**/nc ix", "/usr/bin/nc", "x", "runs:t"),
    ("/**/nc ix", "/nc", "x", "denied"),
    ("/**/nc ix", "/usr/bin/ncat", "x", "denied"),
    // Profiles find `/**/name*` lines by the start of any component of the path (`apk`), lines
    // with a shorter run (`/ab`) by a scan: both ways answer alike.
    ("/**/apk* ix", "/sbin/apk", "x", "runs:t"),
    ("/**/apk* ix", "/usr/local/bin/apk-tools", "x", "runs:t"),
    ("/**/apk* ix", "/usr/apk/x", "x", "denied"),
    ("/**/apk* ix", "/usr/bin/ap", "x", "denied"),
    ("/**/apk* ix ; audit deny /**/apk* x", "/apk/bin/apk", "x", "denied"),
    ("/**/ab* ix", "/x/abc", "x", "runs:t"),
    ("/**/ab* ix", "/x/a", "x", "denied"),
    ("/a/**/z r", "/a/b/c/z", "r", "allow"),
    ("/a/**/z r", "/a/z", "r", "deny"),
    // `?`: one character except `/`.
    ("/tmp/file? r", "/tmp/file1", "r", "allow"),
    ("/tmp/file? r", "/tmp/file", "r", "deny"),
    ("/tmp/file? r", "/tmp/file12", "r", "deny"),
    ("/tmp/a?b r", "/tmp/a/b", "r", "deny"),
    // `[]` classes.
    ("/dev/tty[0-9] r", "/dev/tty5", "r", "allow"),
    ("/dev/tty[0-9] r", "/dev/ttyS", "r", "deny"),
    ("/dev/tty[^0-9] r", "/dev/ttyS", "r", "allow"),
    ("/dev/tty[^0-9] r", "/dev/tty1", "r", "deny"),
    ("/dev/sd[abc] r", "/dev/sdb", "r", "allow"),
    ("/dev/sd[abc] r", "/dev/sdd", "r", "deny"),
    // `{,}` alternation, including the directory suffixes.
    ("/etc/{passwd,group} r", "/etc/group", "r", "allow"),
    ("/etc/{passwd,group} r", "/etc/shadow", "r", "deny"),
    ("/etc/{,*} r", "/etc/", "r", "allow"),
    ("/etc/{,*} r", "/etc/hosts", "r", "allow"),
    ("/etc/{,*} r", "/etc/ssl/x", "r", "deny"),
    ("/etc/{,**} r", "/etc/ssl/x", "r", "allow"),
    ("/etc/{,**} r", "/etc", "r", "deny"),
    ("/{usr/,}bin/*sh r", "/usr/bin/bash", "r", "allow"),
    ("/{usr/,}bin/*sh r", "/bin/sh", "r", "allow"),
    ("/{usr/,}bin/*sh r", "/sbin/sh", "r", "deny"),
    ("/a/{b,c{d,e}} r", "/a/ce", "r", "allow"),
    // Escapes and quoting.
    ("/data/a\\*b r", "/data/a*b", "r", "allow"),
    ("/data/a\\*b r", "/data/axb", "r", "deny"),
    ("\"/data/my file\" r", "/data/my file", "r", "allow"),
    ("\"/data/q\\\"x\" r", "/data/q\"x", "r", "allow"),
    ("/data/\\{x\\} r", "/data/{x}", "r", "allow"),
    // Permissions.
    ("/f klr", "/f", "w", "deny"),
    ("/f klr", "/f", "k", "allow"),
    ("/f klmrw", "/f", "a", "allow"),
    ("/f klmrw", "/f", "m", "allow"),
    ("/f r", "/g", "r", "deny"),
    // owner / other.
    ("owner /home/** rw", "/home/u/f", "w", "allow"),
    ("owner /home/** rw", "/home/u/f", "w:other", "deny"),
    ("deny other /s klmrw ; /s r", "/s", "r:other", "deny"),
    ("deny other /s klmrw ; /s r", "/s", "r", "allow"),
    ("owner /s klmrw ; deny other /s klmrw", "/s", "w", "allow"),
    ("deny owner /s klw ; /s r", "/s", "r", "allow"),
    ("deny owner /s klw ; file", "/s", "w", "deny"),
    ("deny owner /s klw ; file", "/s", "w:other", "allow"),
    // Deny beats allow, whatever the specificity or order.
    ("/etc/hostname r ; deny /etc/** r", "/etc/hostname", "r", "deny"),
    ("deny /etc/** w ; /etc/hostname rw", "/etc/hostname", "r", "allow"),
    ("deny /etc/** w ; /etc/hostname rw", "/etc/hostname", "w", "deny"),
    ("file ; deny /etc/shadow klmrw", "/etc/shadow", "r", "deny"),
    ("file ; deny /etc/shadow klmrw", "/etc/passwd", "w", "allow"),
    // `audit` logs what the rule matches and decides nothing.
    ("file ; audit deny /etc/shadow klmrw", "/etc/shadow", "r", "deny"),
    ("file ; audit deny /etc/shadow klmrw", "/etc/passwd", "r", "allow"),
    ("audit /etc/hostname r", "/etc/hostname", "r", "allow"),
    ("audit deny owner /s klw ; file", "/s", "w:other", "allow"),
    ("owner /bin/x ix ; audit deny other /bin/x x", "/bin/x", "x:other", "denied"),
    ("network ; audit deny network udp", "dgram/udp", "net", "deny"),
    ("capability ; audit deny capability net_raw", "net_raw", "cap", "deny"),
    // Header lines.
    ("file", "/anything/at/all", "w", "allow"),
    ("file", "/bin/ls", "x", "runs:t"),
    ("/etc/x r", "/bin/ls", "x", "denied"),
    ("network", "stream/tcp", "net", "allow"),
    ("network tcp", "stream/tcp", "net", "allow"),
    ("network tcp", "dgram/udp", "net", "deny"),
    ("network ; deny network udp", "dgram/udp", "net", "deny"),
    ("network ; deny network udp", "raw/icmp", "net", "allow"),
    ("network stream", "stream/tcp", "net", "allow"),
    ("deny network ; network tcp", "stream/tcp", "net", "deny"),
    ("capability", "net_raw", "cap", "allow"),
    ("capability chown", "net_raw", "cap", "deny"),
    ("capability ; deny capability net_raw", "net_raw", "cap", "deny"),
    ("capability ; deny capability net_raw", "chown", "cap", "allow"),
    // Exec modes and px into named profiles.
    ("/bin/cat px -> sub", "/bin/cat", "x", "runs:sub"),
    ("/bin/cat px -> nowhere", "/bin/cat", "x", "missing:nowhere"),
    ("/bin/cat ix", "/bin/cat", "x", "runs:t"),
    ("deny /bin/cat x ; /bin/cat px -> sub", "/bin/cat", "x", "denied"),
    ("/usr/bin/* ix ; /usr/bin/env px -> sub", "/usr/bin/env", "x", "runs:sub"),
    ("/usr/bin/* ix ; /usr/bin/env px -> sub", "/usr/bin/id", "x", "runs:t"),
    ("/usr/bin/* ix ; /**/env px -> sub", "/usr/bin/env", "x", "conflict"),
    ("file ; /bin/bash px -> sub2", "/bin/bash", "x", "runs:sub2"),
    ("owner /bin/x ix ; deny other /bin/x x", "/bin/x", "x", "runs:t"),
    ("owner /bin/x ix ; deny other /bin/x x", "/bin/x", "x:other", "denied"),
    ("/bin/sh ux", "/bin/sh", "x", "unconfined"),
    ("@{PROC}/* r", "/proc/1", "r", "allow"),
];

fn run_row(rules: &str, query: &str, op: &str) -> String {
    let body: String = rules.split(" ; ").map(|r| format!("  {r},\n")).collect();
    let text = format!("profile t {{\n{body}}}\nprofile sub {{\n}}\nprofile sub2 {{\n}}\n");
    let set = ProfileSet::parse(&text).unwrap_or_else(|e| panic!("{rules}: {e}"));
    let (op, owner) = match op.strip_suffix(":other") {
        Some(o) => (o, false),
        None => (op, true),
    };
    let d = |d: Decision| if d == Decision::Allow { "allow".to_string() } else { "deny".to_string() };
    match op {
        "x" => match set.exec("t", query, owner) {
            Exec::Denied => "denied".into(),
            Exec::Runs(p) => format!("runs:{p}"),
            Exec::MissingProfile(p) => format!("missing:{p}"),
            Exec::Conflict => "conflict".into(),
            Exec::Unconfined => "unconfined".into(),
        },
        "net" => {
            let (ty, proto) = query.split_once('/').unwrap();
            d(set.network("t", ty, proto))
        }
        "cap" => d(set.capability("t", query)),
        p => d(set.file("t", query, p.chars().next().unwrap(), owner)),
    }
}

#[test]
fn evaluator_table() {
    assert!(TABLE.len() >= 60, "table has {} rows", TABLE.len());
    let mut failures = Vec::new();
    for (rules, query, op, expected) in TABLE {
        let got = run_row(rules, query, op);
        if got != *expected {
            failures.push(format!("`{rules}` {op} {query}: expected {expected}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} rows differ:\n{}", failures.len(), TABLE.len(), failures.join("\n"));
    println!("evaluator table: {} rows agree", TABLE.len());
}
