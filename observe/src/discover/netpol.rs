//! One `networking.k8s.io/v1` NetworkPolicy per workload (docs/observe.md, "## NetworkPolicy
//! mapping"): egress per observed peer, ingress mirrored from other workloads' egress and from
//! accepts, DNS to kube-dns whenever port 53 was used, both policy types always set (what was
//! never seen is denied).
//!
//! A peer is a workload (namespaceSelector on `kubernetes.io/metadata.name` + podSelector) when
//! its address is known: a bind of an observed pod to a concrete address, or the `armorc.io/ips`
//! annotation of a `--workloads` manifest (pod IPs, and Service cluster IPs, which the events show
//! for connections through a Service); otherwise an `ipBlock` of that one address.

use super::{scalar, ObservedWorkload, Options};
use crate::net::Direction;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;

/// Who is on the other end of a rule.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Peer {
    Workload { namespace: String, selector: BTreeMap<String, String> },
    Ip(IpAddr),
}

/// `(protocol, port)` with the connections seen on it.
pub type Ports = BTreeMap<(&'static str, u16), u64>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    pub egress: BTreeMap<Peer, Ports>,
    pub ingress: BTreeMap<Peer, Ports>,
    /// Port 53 was used: the kube-dns rule is kept.
    pub dns: bool,
    /// Ports bound with no observed peer connecting: not allowed, listed in the report.
    pub listening_without_peers: BTreeSet<(&'static str, u16)>,
    /// Rows (peer, port) left out by `--min-count`.
    pub dropped: usize,
    /// Connections without a usable address or port (not allowed).
    pub unusable: u64,
}

impl NetworkPolicy {
    pub fn rule_count(&self) -> usize {
        self.egress.len() + self.ingress.len() + usize::from(self.dns)
    }

    /// Does the policy allow this connection of the workload? (The DNS rule is taken to allow
    /// any port-53 peer: the events show kube-dns's Service address, which the rule stands for.)
    pub fn allows(&self, direction: Direction, protocol: &str, peer: Option<&Peer>, port: u16) -> bool {
        let rules = match direction {
            Direction::Egress if port == 53 => return self.dns,
            Direction::Egress => &self.egress,
            Direction::Ingress => &self.ingress,
            Direction::Bind => return true,
        };
        peer.and_then(|p| rules.get(p)).is_some_and(|ports| ports.keys().any(|(p, n)| *p == protocol && *n == port))
    }
}

/// Which observed workload an address belongs to.
pub struct Addresses<'a> {
    owners: HashMap<IpAddr, &'a ObservedWorkload>,
}

impl<'a> Addresses<'a> {
    pub fn new(workloads: &'a [ObservedWorkload]) -> Addresses<'a> {
        let mut owners = HashMap::new();
        for w in workloads {
            for ip in &w.ips {
                owners.insert(*ip, w);
            }
        }
        Addresses { owners }
    }

    /// The peer an address is: a workload's pods when known, else the address itself.
    pub fn peer(&self, ip: IpAddr) -> Peer {
        match self.owners.get(&ip) {
            Some(w) => workload_peer(w),
            None => Peer::Ip(ip),
        }
    }
}

fn workload_peer(w: &ObservedWorkload) -> Peer {
    Peer::Workload { namespace: w.namespace.clone(), selector: w.selector.clone() }
}

/// Addresses no NetworkPolicy governs: the pod's own loopback, and no address at all.
fn ignored(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified()
}

/// Every workload's NetworkPolicy, in `workloads` order (ingress needs the others' egress).
pub fn build(workloads: &[ObservedWorkload], options: &Options) -> Vec<NetworkPolicy> {
    let addresses = Addresses::new(workloads);
    let mut out: Vec<NetworkPolicy> = vec![NetworkPolicy::default(); workloads.len()];
    let index: HashMap<(&str, &str), usize> =
        workloads.iter().enumerate().map(|(i, w)| ((w.namespace.as_str(), w.name.as_str()), i)).collect();
    for (i, w) in workloads.iter().enumerate() {
        let mut bound: BTreeSet<(&'static str, u16)> = BTreeSet::new();
        for (&(direction, protocol, ip, port), &count) in &w.connections {
            let (Some(ip), Some(port)) = (ip, port) else {
                if direction != Direction::Bind {
                    out[i].unusable += count;
                }
                continue;
            };
            match direction {
                Direction::Bind => {
                    bound.insert((protocol, port));
                }
                Direction::Egress if port == 53 => out[i].dns = true,
                _ if ignored(ip) => {}
                Direction::Egress => {
                    let peer = addresses.peer(ip);
                    // The peer's ingress mirrors this egress.
                    if let Peer::Workload { .. } = &peer {
                        if let Some(owner) = addresses.owners.get(&ip) {
                            let j = index[&(owner.namespace.as_str(), owner.name.as_str())];
                            add(&mut out[j].ingress, workload_peer(w), protocol, port, count);
                        }
                    }
                    add(&mut out[i].egress, peer, protocol, port, count);
                }
                Direction::Ingress => add(&mut out[i].ingress, addresses.peer(ip), protocol, port, count),
            }
        }
        out[i].listening_without_peers = bound;
    }
    for p in &mut out {
        let served: BTreeSet<(&'static str, u16)> =
            p.ingress.values().flat_map(|ports| ports.keys().copied()).collect();
        p.listening_without_peers.retain(|k| !served.contains(k));
        for rules in [&mut p.egress, &mut p.ingress] {
            for ports in rules.values_mut() {
                let before = ports.len();
                ports.retain(|_, n| *n >= options.min_count);
                p.dropped += before - ports.len();
            }
            rules.retain(|_, ports| !ports.is_empty());
        }
    }
    out
}

fn add(rules: &mut BTreeMap<Peer, Ports>, peer: Peer, protocol: &'static str, port: u16, count: u64) {
    *rules.entry(peer).or_default().entry((protocol, port)).or_insert(0) += count;
}

/// The NetworkPolicy YAML (after `header`).
pub fn render(w: &ObservedWorkload, p: &NetworkPolicy, header: &super::policy::Header) -> String {
    let mut y = String::new();
    header.render(&mut y);
    y.push_str("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n");
    let _ = writeln!(y, "  name: {}", scalar(&super::policy::dns_name(&format!("discover-{}", w.name))));
    let _ = writeln!(y, "  namespace: {}", scalar(&w.namespace));
    y.push_str("spec:\n  podSelector:\n    matchLabels:\n");
    labels(&mut y, "      ", &w.selector);
    y.push_str("  policyTypes:\n  - Ingress\n  - Egress\n");
    if !p.ingress.is_empty() {
        y.push_str("  ingress:\n");
        for (peer, ports) in &p.ingress {
            rule(&mut y, "from", peer, ports);
        }
    }
    if !p.egress.is_empty() || p.dns {
        y.push_str("  egress:\n");
        for (peer, ports) in &p.egress {
            rule(&mut y, "to", peer, ports);
        }
        if p.dns {
            y.push_str(concat!(
                "  - to: # DNS: port 53 was used\n",
                "    - namespaceSelector:\n",
                "        matchLabels:\n",
                "          kubernetes.io/metadata.name: kube-system\n",
                "      podSelector:\n",
                "        matchLabels:\n",
                "          k8s-app: kube-dns\n",
                "    ports:\n",
                "    - protocol: UDP\n",
                "      port: 53\n",
                "    - protocol: TCP\n",
                "      port: 53\n",
            ));
        }
    }
    y
}

fn labels(y: &mut String, indent: &str, labels: &BTreeMap<String, String>) {
    for (k, v) in labels {
        let _ = writeln!(y, "{indent}{}: {}", scalar(k), scalar(v));
    }
}

fn rule(y: &mut String, key: &str, peer: &Peer, ports: &Ports) {
    let _ = writeln!(y, "  - {key}:");
    match peer {
        Peer::Workload { namespace, selector } => {
            y.push_str("    - namespaceSelector:\n        matchLabels:\n");
            let _ = writeln!(y, "          kubernetes.io/metadata.name: {}", scalar(namespace));
            y.push_str("      podSelector:\n        matchLabels:\n");
            labels(y, "          ", selector);
        }
        Peer::Ip(ip) => {
            let bits = if ip.is_ipv4() { 32 } else { 128 };
            let _ = writeln!(y, "    - ipBlock:\n        cidr: {ip}/{bits}");
        }
    }
    y.push_str("    ports:\n");
    for ((protocol, port), n) in ports {
        let _ = writeln!(y, "    - protocol: {protocol}\n      port: {port} # {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::{Action, ResolvedBy};

    fn workload(name: &str, ips: &[&str], conns: &[(Direction, &'static str, &str, u16, u64)]) -> ObservedWorkload {
        ObservedWorkload {
            namespace: "shop".into(),
            name: name.into(),
            selector: BTreeMap::from([("app".to_string(), name.to_string())]),
            resolved_by: ResolvedBy::PodName,
            connections: conns.iter().map(|&(d, p, ip, port, n)| ((d, p, ip.parse().ok(), Some(port)), n)).collect(),
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }
    fn options(min_count: u64) -> Options {
        Options { action: Action::Allow, min_count, agg_children: 10 }
    }

    #[test]
    fn peers_resolve_ingress_mirrors_and_dns_is_kept() {
        let web = workload(
            "web",
            &[],
            &[
                (Direction::Egress, "TCP", "10.1.0.7", 5432, 3),
                (Direction::Egress, "TCP", "93.184.216.34", 443, 2),
                (Direction::Egress, "UDP", "10.96.0.10", 53, 9),
                (Direction::Egress, "TCP", "127.0.0.1", 9000, 1),
                (Direction::Ingress, "TCP", "10.2.0.1", 8080, 4),
            ],
        );
        let db = workload(
            "db",
            &["10.1.0.7"],
            &[(Direction::Bind, "TCP", "0.0.0.0", 5432, 1), (Direction::Bind, "TCP", "0.0.0.0", 9999, 1)],
        );
        let all = [web, db];
        let p = build(&all, &options(1));
        let db_peer = Peer::Workload { namespace: "shop".into(), selector: all[1].selector.clone() };
        let web_peer = Peer::Workload { namespace: "shop".into(), selector: all[0].selector.clone() };
        assert_eq!(p[0].egress[&db_peer], Ports::from([(("TCP", 5432), 3)]));
        assert!(p[0].egress.contains_key(&Peer::Ip("93.184.216.34".parse().unwrap())));
        assert_eq!(p[0].egress.len(), 2, "loopback and DNS are not peers: {:?}", p[0].egress);
        assert!(p[0].dns);
        assert_eq!(p[0].ingress[&Peer::Ip("10.2.0.1".parse().unwrap())], Ports::from([(("TCP", 8080), 4)]));
        assert_eq!(p[1].ingress[&web_peer], Ports::from([(("TCP", 5432), 3)]));
        assert_eq!(p[1].listening_without_peers, BTreeSet::from([("TCP", 9999)]));
        assert!(p[0].allows(Direction::Egress, "TCP", Some(&db_peer), 5432));
        assert!(!p[0].allows(Direction::Egress, "UDP", Some(&db_peer), 5432));
        assert!(p[0].allows(Direction::Egress, "UDP", None, 53));
        let strict = build(&all, &options(3));
        assert!(!strict[0].egress.contains_key(&Peer::Ip("93.184.216.34".parse().unwrap())));
        assert!(strict[0].ingress.contains_key(&Peer::Ip("10.2.0.1".parse().unwrap())));
        assert_eq!(strict[0].dropped, 1);
    }
}
