//! Secrets (stream keys, tokens) never reach logs in clear: they are wrapped and shown
//! as a short prefix plus a length.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    pub fn new(secret: &str) -> Self {
        Redacted(secret.to_owned())
    }
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix: String = self.0.chars().take(2).collect();
        write!(f, "{prefix}…({} chars)", self.0.chars().count())
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A peer address fit for logs: the host part of the IP hidden (the last octet of
/// an IPv4 address, all but the /48 prefix of an IPv6 one), the port kept, so two
/// connections from one place stay told apart without logging who a viewer or a
/// lecturer is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RedactedAddr(pub SocketAddr);

impl fmt::Display for RedactedAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.ip() {
            IpAddr::V4(ip) => {
                let [a, b, c, _] = ip.octets();
                write!(f, "{a}.{b}.{c}.x:{}", self.0.port())
            }
            IpAddr::V6(ip) => {
                let s = ip.segments();
                write!(f, "[{:x}:{:x}:{:x}::x]:{}", s[0], s[1], s[2], self.0.port())
            }
        }
    }
}

impl fmt::Debug for RedactedAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hides_the_host_part_of_addresses() {
        let v4: std::net::SocketAddr = "203.0.113.77:50123".parse().expect("addr");
        assert_eq!(super::RedactedAddr(v4).to_string(), "203.0.113.x:50123");
        let v6: std::net::SocketAddr = "[2001:db8:aa:bb::7]:1935".parse().expect("addr");
        assert_eq!(super::RedactedAddr(v6).to_string(), "[2001:db8:aa::x]:1935");
    }

    #[test]
    fn hides_the_secret() {
        let r = super::Redacted::new("supersecretkey");
        let shown = format!("{r} {r:?}");
        assert!(!shown.contains("secret"));
        assert!(shown.contains("14 chars"));
    }
}
