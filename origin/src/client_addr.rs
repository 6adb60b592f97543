//! Who a request comes from: the peer's address, or behind a trusted proxy (Varnish, a
//! CDN edge, a load balancer) the address that proxy saw, from `X-Forwarded-For`.
//!
//! `X-Forwarded-For` is written by whoever sends the request, so it is believed only
//! from configured proxies ([`TrustedProxies`]): the client is the right-most address in
//! the chain that is not itself a trusted proxy. Without trusted proxies the header is
//! ignored, and a client cannot pick another address to get around a per-address limit.
//!
//! The HTTP listener ([`crate::listener`]) resolves it once per request and stores it
//! as the [`ClientAddr`] request extension; handlers read it with
//! `Option<axum::Extension<ClientAddr>>` (absent when a router is driven without the
//! listener, as unit tests do).

use axum::http::HeaderMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The address a request is accounted to (rate limits, connection and wait budgets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A network in CIDR notation (`10.0.0.0/8`, `::1/128`, or a bare address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrError {
    #[error("{input:?}: not an IP address or network (e.g. 10.0.0.0/8, 2001:db8::/32)")]
    Address { input: String },
    #[error("{input:?}: prefix length after '/' must be 0 to {max}")]
    Prefix { input: String, max: u8 },
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(input: &str) -> Result<Cidr, CidrError> {
        let (addr, prefix) = match input.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (input, None),
        };
        let network: IpAddr = addr.trim().parse().map_err(|_| CidrError::Address {
            input: input.to_owned(),
        })?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => {
                p.trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|&p| p <= max)
                    .ok_or(CidrError::Prefix {
                        input: input.to_owned(),
                        max,
                    })?
            }
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Cidr {
    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// `::ffff:a.b.c.d` as `a.b.c.d`, so one rule covers a dual-stack listener.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The proxies whose `X-Forwarded-For` is believed (`amphi serve --trusted-proxy`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn new(networks: Vec<Cidr>) -> TrustedProxies {
        TrustedProxies(networks)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }
}

/// The client a request from `peer` with these headers is accounted to.
///
/// From an untrusted peer: the peer. From a trusted proxy: walking `X-Forwarded-For`
/// from the right (the hop nearest to us), the first address that is not a trusted
/// proxy; if every listed hop is trusted, the left-most one; if the header is absent or
/// unreadable, the proxy itself (so all such requests share one budget).
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> ClientAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return ClientAddr(peer);
    }
    let mut client = peer;
    // Several X-Forwarded-For headers form one list, in order.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // A hop we cannot read: stop at the last address we could trust.
            break;
        };
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    ClientAddr(client)
}

/// One `X-Forwarded-For` entry: an address, possibly `[v6]:port` or `v4:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = hop.strip_prefix('[') {
        let (ip, _) = rest.split_once(']')?;
        return ip.parse().ok().map(canonical);
    }
    let (ip, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().expect("test cidr")).collect())
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn cidr_parsing_and_matching() {
        let n: Cidr = "10.1.0.0/16".parse().expect("cidr");
        assert!(n.contains(ip("10.1.255.3")));
        assert!(!n.contains(ip("10.2.0.1")));
        assert!(n.contains(ip("::ffff:10.1.0.9")));
        let all: Cidr = "0.0.0.0/0".parse().expect("cidr");
        assert!(all.contains(ip("203.0.113.9")));
        assert!(!all.contains(ip("2001:db8::1")));
        let one: Cidr = "192.0.2.7".parse().expect("cidr");
        assert_eq!(one.to_string(), "192.0.2.7/32");
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: Cidr = "2001:db8::/32".parse().expect("cidr");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/-1",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn header_ignored_from_untrusted_peers() {
        let h = xff(&["198.51.100.1"]);
        assert_eq!(
            client_addr(ip("203.0.113.5"), &h, &TrustedProxies::default()),
            ClientAddr(ip("203.0.113.5"))
        );
        let t = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            client_addr(ip("203.0.113.5"), &h, &t),
            ClientAddr(ip("203.0.113.5"))
        );
    }

    #[test]
    fn right_most_untrusted_hop_behind_proxies() {
        let t = trusted(&["10.0.0.0/8", "127.0.0.1"]);
        // A client forging a left-most entry does not get it believed.
        let h = xff(&["1.2.3.4, 198.51.100.7, 10.0.0.3"]);
        assert_eq!(
            client_addr(ip("127.0.0.1"), &h, &t),
            ClientAddr(ip("198.51.100.7"))
        );
        // Split over two headers, with ports.
        let h = xff(&["[2001:db8::5]:4431", "10.0.0.3:80"]);
        assert_eq!(
            client_addr(ip("10.9.9.9"), &h, &t),
            ClientAddr(ip("2001:db8::5"))
        );
        // Every hop trusted: the left-most.
        let h = xff(&["10.0.0.1, 10.0.0.2"]);
        assert_eq!(
            client_addr(ip("127.0.0.1"), &h, &t),
            ClientAddr(ip("10.0.0.1"))
        );
        // No header: the proxy itself. Garbage: the last trusted hop.
        assert_eq!(
            client_addr(ip("127.0.0.1"), &HeaderMap::new(), &t),
            ClientAddr(ip("127.0.0.1"))
        );
        let h = xff(&["198.51.100.7, garbage, 10.0.0.4"]);
        assert_eq!(
            client_addr(ip("127.0.0.1"), &h, &t),
            ClientAddr(ip("10.0.0.4"))
        );
    }
}
