//! The CRD's string patterns, written by hand (no regex compilation per document). Semantics
//! follow Go's regexp as used by the API server: `.` matches anything but `\n`, `$` is the end
//! of the text, and the protocol/capability patterns are unanchored at the start.

/// `^\/+.*[^\/]$`
pub fn match_path(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('/') else { return false };
    let Some(last) = rest.chars().last() else { return false };
    let body = &rest[..rest.len() - last.len_utf8()];
    last != '/' && !body.contains('\n')
}

/// `^\/$|^\/.*\/$`
pub fn dir(s: &str) -> bool {
    if s == "/" {
        return true;
    }
    s.len() >= 2 && s.starts_with('/') && s.ends_with('/') && !s[1..s.len() - 1].contains('\n')
}

/// `(^\/+.*[^\/]$)|(^\/$|^\/.*\/$)`
pub fn syscall_path(s: &str) -> bool {
    match_path(s) || dir(s)
}

/// `^[^\/]+$`
pub fn execname(s: &str) -> bool {
    !s.is_empty() && !s.contains('/')
}

pub const PROTOCOL_TOKENS: [&str; 13] =
    ["tcp", "udp", "raw", "icmp", "icmpv6", "sctp", "stream", "dgram", "rdm", "seqpacket", "dccp", "packet", "all"];

/// `(tcp|TCP|...|all|ALL)$`: the text ends with a token in all-lower or all-upper case.
pub fn protocol(s: &str) -> bool {
    PROTOCOL_TOKENS.iter().any(|t| s.ends_with(t) || s.ends_with(&*t.to_ascii_uppercase()))
}

/// The capability names of the CRD pattern (lower case only; 34 names, no perfmon/bpf/...).
pub const CAPABILITY_TOKENS: [&str; 34] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
];

/// `(chown|...|mac_admin)$`
pub fn capability(s: &str) -> bool {
    CAPABILITY_TOKENS.iter().any(|t| s.ends_with(t))
}

/// DNS-1123 subdomain: at most 253 characters, dot-separated labels of lower-case alphanumerics
/// and `-`, each starting and ending with an alphanumeric.
pub fn dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(dns1123_label_chars)
}

/// DNS-1123 label (namespace names): at most 63 characters.
pub fn dns1123_label(s: &str) -> bool {
    s.len() <= 63 && dns1123_label_chars(s)
}

fn dns1123_label_chars(l: &str) -> bool {
    let b = l.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty() && alnum(b[0]) && alnum(b[b.len() - 1]) && b.iter().all(|&c| alnum(c) || c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(match_path("/etc/passwd"));
        assert!(match_path("//etc/x"));
        assert!(match_path("/a"));
        assert!(!match_path("/"));
        assert!(!match_path("//"));
        assert!(!match_path("/etc/"));
        assert!(!match_path("etc/passwd"));
        assert!(!match_path("/a\nb"));
        assert!(match_path("/a\n"));
        assert!(dir("/"));
        assert!(dir("/usr/bin/"));
        assert!(!dir("/usr/bin"));
        assert!(!dir("//\n/"));
        assert!(syscall_path("/x") && syscall_path("/x/") && !syscall_path("x"));
        assert!(execname("bash") && !execname("/bin/bash") && !execname(""));
    }

    #[test]
    fn unanchored_tokens() {
        assert!(protocol("tcp") && protocol("TCP") && protocol("xtcp") && protocol("tcp,udp"));
        assert!(!protocol("Tcp") && !protocol("tcp ") && !protocol("http"));
        assert!(capability("net_raw") && capability("cap_net_raw") && capability("CAP_net_raw"));
        assert!(!capability("NET_RAW") && !capability("perfmon"));
    }

    #[test]
    fn dns_names() {
        assert!(dns1123_subdomain("ksp-1.example"));
        assert!(!dns1123_subdomain("KSP"));
        assert!(!dns1123_subdomain("a_b"));
        assert!(!dns1123_subdomain("-a"));
        assert!(!dns1123_subdomain("a..b"));
        assert!(dns1123_label("ns-1") && !dns1123_label("a.b"));
    }
}
