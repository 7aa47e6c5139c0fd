//! Connections and sockets in Network events, one reading for `summary` and `discover`.
//!
//! The shapes read (anything else, such as `SYS_SOCKET`'s `domain=AF_INET type=SOCK_STREAM
//! protocol=0`, is not a connection):
//!
//! | producer | Data | Resource | direction |
//! |---|---|---|---|
//! | armor-loader | `syscall=SYS_CONNECT` | `remoteip=.. port=.. protocol=TCP` | Egress |
//! | armor-loader | `syscall=SYS_ACCEPT4` / `SYS_ACCEPT` | `remoteip=.. port=.. protocol=TCP` (the peer) | Ingress |
//! | both | `syscall=SYS_BIND` | `sa_family=AF_INET sin_port=.. sin_addr=.. [protocol=TCP]` | Bind |
//! | KubeArmor | `kprobe=tcp_connect` / `kprobe=tcp_accept` | `remoteip=.. port=.. protocol=TCP` | Egress / Ingress |
//! | KubeArmor (older) | `syscall=SYS_CONNECT fd=..` | `sa_family=AF_INET sin_port=.. sin_addr=..` | Egress |
//! | KubeArmor (DNS visibility) | `kfunc=UDP_SENDMSG,domain=..,daddr=..` | `sa_family=AF_INET sin_port=53` | Egress, UDP |
//!
//! IPv6 spellings (`sin6_addr`, `sin6_port`) are read like their IPv4 ones.

use crate::event::Event;
use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// The workload connected out (`connect`).
    Egress,
    /// A peer connected in (`accept`): the address is the peer's.
    Ingress,
    /// The workload bound a local address (`bind`).
    Bind,
}

/// One connection or bind point. `protocol` is `TCP`, `UDP`, ... or empty when the event does not
/// say (KubeArmor's `SYS_BIND` and `SYS_CONNECT` records).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connection<'a> {
    pub direction: Direction,
    pub protocol: &'a str,
    /// The peer for Egress and Ingress, the local address for Bind.
    pub ip: IpAddr,
    pub port: u16,
}

impl<'a> Connection<'a> {
    /// The connection a Network event records, if it records one with a parseable address.
    pub fn of(ev: &'a Event<'_>) -> Option<Connection<'a>> {
        if ev.operation != "Network" {
            return None;
        }
        let (direction, implied_protocol) = if let Some(probe) = ev.field("kprobe") {
            match probe {
                "tcp_connect" => (Direction::Egress, "TCP"),
                "tcp_accept" => (Direction::Ingress, "TCP"),
                _ => return None,
            }
        } else if let Some(call) = ev.field("syscall") {
            match call {
                "SYS_CONNECT" => (Direction::Egress, ""),
                "SYS_ACCEPT" | "SYS_ACCEPT4" => (Direction::Ingress, ""),
                "SYS_BIND" => (Direction::Bind, ""),
                _ => return None,
            }
        } else {
            match ev.field("kfunc") {
                Some("UDP_SENDMSG") => (Direction::Egress, "UDP"),
                _ => return None,
            }
        };
        let ip = ["remoteip", "sin_addr", "sin6_addr", "daddr"].into_iter().find_map(|k| ev.field(k))?;
        let port = ["port", "sin_port", "sin6_port"].into_iter().find_map(|k| ev.field(k))?;
        let protocol = match ev.field("protocol") {
            Some("6") => "TCP",
            Some("17") => "UDP",
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()) && p != "0" => p,
            _ => implied_protocol,
        };
        Some(Connection { direction, protocol, ip: parse_ip(ip)?, port: port.parse().ok()? })
    }
}

/// An address as events spell it: dotted IPv4, IPv6, or either in brackets (`[::1]`).
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    let bare = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    bare.parse().ok()
}

/// A socket's type and protocol numbers (SOCK_*, IPPROTO_*), as the socket hooks see them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketKind {
    pub sock_type: u32,
    pub protocol: u32,
}

const SOCK_STREAM: u32 = 1;
const SOCK_DGRAM: u32 = 2;
const SOCK_RAW: u32 = 3;

impl SocketKind {
    /// The socket behind a Network event: a socket(2) call's type and protocol, or the protocol a
    /// connect, accept or bind names.
    pub fn of(ev: &Event) -> Option<SocketKind> {
        if ev.operation != "Network" {
            return None;
        }
        if ev.field("syscall") == Some("SYS_SOCKET") {
            // `SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC`: the flags do not change the type.
            let sock_type = socket_type(ev.field("type")?.split('|').next()?)?;
            let protocol = ev.field("protocol").map_or(Some(0), ip_protocol)?;
            return Some(SocketKind { sock_type, protocol });
        }
        let c = Connection::of(ev)?;
        Some(match c.protocol.to_ascii_uppercase().as_str() {
            "TCP" => SocketKind { sock_type: SOCK_STREAM, protocol: 6 },
            "UDP" => SocketKind { sock_type: SOCK_DGRAM, protocol: 17 },
            "SCTP" => SocketKind { sock_type: SOCK_STREAM, protocol: 132 },
            "ICMP" => SocketKind { sock_type: SOCK_DGRAM, protocol: 1 },
            "ICMPV6" => SocketKind { sock_type: SOCK_DGRAM, protocol: 58 },
            _ => return None,
        })
    }

    /// The `network.matchProtocols` value that allows this socket, chosen as KubeArmor's hooks
    /// look sockets up: a stream socket with protocol 0 or 6 is `tcp` (whatever its family: a Unix
    /// stream socket asks the same check), a datagram socket with 0 or 17 `udp`, ICMP on a
    /// datagram or raw socket `icmp`/`icmpv6`, other raw sockets `raw`; the rest by type.
    pub fn rule_name(self) -> Option<&'static str> {
        Some(match (self.sock_type, self.protocol) {
            (SOCK_STREAM, 0 | 6) => "tcp",
            (SOCK_DGRAM, 0 | 17) => "udp",
            (SOCK_DGRAM | SOCK_RAW, 1) => "icmp",
            (SOCK_DGRAM | SOCK_RAW, 58) => "icmpv6",
            (SOCK_STREAM | 5, 132) => "sctp",
            (SOCK_RAW, _) => "raw",
            (SOCK_STREAM, _) => "stream",
            (SOCK_DGRAM, _) => "dgram",
            (4, _) => "rdm",
            (5, _) => "seqpacket",
            (6, _) => "dccp",
            (10, _) => "packet",
            _ => return None,
        })
    }
}

fn socket_type(text: &str) -> Option<u32> {
    Some(match text {
        "SOCK_STREAM" => 1,
        "SOCK_DGRAM" => 2,
        "SOCK_RAW" => 3,
        "SOCK_RDM" => 4,
        "SOCK_SEQPACKET" => 5,
        "SOCK_DCCP" => 6,
        "SOCK_PACKET" => 10,
        n => return n.parse().ok(),
    })
}

fn ip_protocol(text: &str) -> Option<u32> {
    Some(match text.strip_prefix("IPPROTO_").unwrap_or(text) {
        "IP" => 0,
        "ICMP" => 1,
        "TCP" => 6,
        "UDP" => 17,
        "ICMPV6" => 58,
        "SCTP" => 132,
        "RAW" => 255,
        n => return n.parse().ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(resource: &str, data: &str) -> Option<(Direction, String, String, u16)> {
        let ev =
            Event { operation: "Network".into(), resource: resource.into(), data: data.into(), ..Event::default() };
        Connection::of(&ev).map(|c| (c.direction, c.protocol.to_string(), c.ip.to_string(), c.port))
    }

    #[test]
    fn every_documented_shape() {
        use Direction::*;
        let tcp = "remoteip=10.0.0.1 port=80 protocol=TCP";
        assert_eq!(
            conn(tcp, "syscall=SYS_CONNECT domain=AF_INET"),
            Some((Egress, "TCP".into(), "10.0.0.1".into(), 80))
        );
        assert_eq!(
            conn(tcp, "syscall=SYS_ACCEPT4 domain=AF_INET"),
            Some((Ingress, "TCP".into(), "10.0.0.1".into(), 80))
        );
        assert_eq!(conn(tcp, "syscall=SYS_ACCEPT"), Some((Ingress, "TCP".into(), "10.0.0.1".into(), 80)));
        assert_eq!(
            conn("sa_family=AF_INET sin_port=8080 sin_addr=0.0.0.0 protocol=TCP", "syscall=SYS_BIND"),
            Some((Bind, "TCP".into(), "0.0.0.0".into(), 8080))
        );
        assert_eq!(
            conn("sa_family=AF_INET6 sin6_port=443 sin6_addr=::", "syscall=SYS_BIND"),
            Some((Bind, "".into(), "::".into(), 443))
        );
        assert_eq!(
            conn("remoteip=fd00::1 port=53 protocol=TCP", "kprobe=tcp_connect domain=AF_INET6"),
            Some((Egress, "TCP".into(), "fd00::1".into(), 53))
        );
        assert_eq!(
            conn("remoteip=10.2.0.9 port=5432", "kprobe=tcp_accept"),
            Some((Ingress, "TCP".into(), "10.2.0.9".into(), 5432))
        );
        assert_eq!(
            conn("sa_family=AF_INET sin_port=53 sin_addr=10.0.0.10", "syscall=SYS_CONNECT fd=10"),
            Some((Egress, "".into(), "10.0.0.10".into(), 53))
        );
        assert_eq!(
            conn(
                "sa_family=AF_INET sin_port=53",
                "kfunc=UDP_SENDMSG,domain=google.com.svc.cluster.local,daddr=10.43.0.10,qtype=A"
            ),
            Some((Egress, "UDP".into(), "10.43.0.10".into(), 53))
        );
    }

    #[test]
    fn not_connections() {
        assert_eq!(conn("domain=AF_INET type=SOCK_STREAM protocol=0", "syscall=SYS_SOCKET"), None);
        assert_eq!(conn("sa_family=AF_UNIX sun_path=/run/x.sock", "syscall=SYS_BIND"), None);
        assert_eq!(conn("remoteip=nowhere port=80", "syscall=SYS_CONNECT"), None);
        assert_eq!(conn("remoteip=10.0.0.1 port=99999", "syscall=SYS_CONNECT"), None);
        assert_eq!(conn("remoteip=10.0.0.1 port=80", "kprobe=udp_sendmsg"), None);
        let file = Event {
            operation: "File".into(),
            resource: "remoteip=10.0.0.1 port=80".into(),
            data: "syscall=SYS_CONNECT".into(),
            ..Event::default()
        };
        assert_eq!(Connection::of(&file), None);
    }

    #[test]
    fn bracketed_ipv6() {
        assert_eq!(parse_ip("[::1]"), "::1".parse().ok());
        assert_eq!(parse_ip("10.0.0.256"), None);
    }

    fn ev(resource: &'static str, data: &'static str) -> Event<'static> {
        Event { operation: "Network".into(), resource: resource.into(), data: data.into(), ..Event::default() }
    }

    #[test]
    fn socket_kinds_and_rule_names() {
        let k = |r: &'static str| SocketKind::of(&ev(r, "syscall=SYS_SOCKET")).and_then(SocketKind::rule_name);
        assert_eq!(k("domain=AF_INET type=SOCK_STREAM|SOCK_NONBLOCK protocol=0"), Some("tcp"));
        assert_eq!(k("domain=AF_UNIX type=SOCK_STREAM protocol=0"), Some("tcp"));
        assert_eq!(k("domain=AF_INET type=SOCK_DGRAM|SOCK_CLOEXEC protocol=0"), Some("udp"));
        assert_eq!(k("domain=AF_INET type=SOCK_DGRAM protocol=1"), Some("icmp"));
        assert_eq!(k("domain=AF_INET type=SOCK_RAW protocol=IPPROTO_ICMP"), Some("icmp"));
        assert_eq!(k("domain=AF_PACKET type=SOCK_RAW protocol=768"), Some("raw"));
        assert_eq!(k("domain=AF_UNIX type=SOCK_SEQPACKET protocol=0"), Some("seqpacket"));
        assert_eq!(k("domain=AF_INET type=SOCK_WEIRD protocol=0"), None);
        let c = SocketKind::of(&ev("remoteip=10.0.0.1 port=53 protocol=UDP", "syscall=SYS_CONNECT")).unwrap();
        assert_eq!((c.sock_type, c.protocol, c.rule_name()), (2, 17, Some("udp")));
    }
}
