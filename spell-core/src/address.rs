//! IP address ranges a policy names as exceptions to the SSRF guard.
//!
//! The runtime refuses requests whose host resolves to loopback, private, link-local,
//! unique-local, multicast or cloud-metadata addresses. A policy lifts that for exact ranges
//! in `[network] allow_addresses` (see [`NetworkPolicy`]); nothing else does, in particular not
//! a granted host pattern that names an IP literal (`http://127.0.0.1:8080` grants the *URL*;
//! reaching the loopback address it names also needs `127.0.0.1/32` here), so one list shows every
//! internal address a deployment exposes to spells.
//!
//! ```
//! use spell_core::AddressRange;
//! let r: AddressRange = "10.1.0.0/16".parse().unwrap();
//! assert!(r.contains("10.1.2.3".parse().unwrap()));
//! assert!(!r.contains("10.2.0.1".parse().unwrap()));
//! assert_eq!("::1".parse::<AddressRange>().unwrap().to_string(), "::1/128");
//! assert!("10.1.0.1/16".parse::<AddressRange>().is_err()); // host bits set: say 10.1.0.0/16
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A CIDR range, `ADDRESS/PREFIX`; a bare address is a single-address range (`/32`, `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressRange {
    network: IpAddr,
    prefix: u8,
}

/// Why an address range did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address range `{range}`: {reason}")]
pub struct AddressRangeError {
    /// The text that was given.
    pub range: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl AddressRange {
    /// The first address of the range.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in the range. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is
    /// the IPv4 address it maps.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(a).into(), 32, self.prefix) == u32::from(n).into()
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(a), 128, self.prefix) == u128::from(n)
            }
            _ => false,
        }
    }
}

/// `bits` of `value` with everything after the first `prefix` bits cleared.
fn masked(value: u128, bits: u8, prefix: u8) -> u128 {
    let host_bits = u32::from(bits - prefix);
    if host_bits >= 128 {
        0
    } else {
        value >> host_bits << host_bits
    }
}

impl FromStr for AddressRange {
    type Err = AddressRangeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| AddressRangeError {
            range: s.to_string(),
            reason,
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| err("expected an IPv4 or IPv6 address"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| err("prefix out of range"))?,
        };
        let value = match network {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        };
        if masked(value, bits, prefix) != value {
            return Err(err("host bits are set after the prefix"));
        }
        Ok(AddressRange { network, prefix })
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for AddressRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AddressRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The policy's `[network]` table: host-wide network settings beyond the capability patterns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPolicy {
    /// Address ranges spells may reach although the SSRF guard would refuse them (loopback,
    /// private, link-local, ...). Empty by default: internal addresses are refused even when a
    /// granted host pattern names them.
    #[serde(default)]
    pub allow_addresses: Vec<AddressRange>,
    /// Whether a cast that joins a W3C trace (its request carries a `traceparent`) sends a child
    /// `traceparent` (and the caller's `tracestate`) with each of its outbound requests, so the
    /// servers it calls join the trace. Default `true`; turn off when the trace ids of a caller
    /// must not reach the hosts spells call.
    #[serde(default = "propagate_by_default")]
    pub propagate_trace_context: bool,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        NetworkPolicy {
            allow_addresses: Vec::new(),
            propagate_trace_context: propagate_by_default(),
        }
    }
}

fn propagate_by_default() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> AddressRange {
        s.parse().expect(s)
    }

    #[test]
    fn ranges_parse_print_and_refuse_nonsense() {
        assert_eq!(r("127.0.0.1").to_string(), "127.0.0.1/32");
        assert_eq!(r("10.0.0.0/8").prefix(), 8);
        assert_eq!(r("fd00::/8").to_string(), "fd00::/8");
        assert_eq!(r("0.0.0.0/0").prefix(), 0);
        assert_eq!(r("::/0").prefix(), 0);
        for bad in [
            "",
            "localhost",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/-1",
            "10.0.0.1/8",
            "fd00::1/8",
            "10.0.0.0/",
            "10.0.0/8",
        ] {
            assert!(bad.parse::<AddressRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn containment_follows_the_prefix_and_family() {
        let ip = |s: &str| s.parse::<IpAddr>().expect(s);
        assert!(r("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!r("127.0.0.1").contains(ip("127.0.0.2")));
        assert!(r("172.16.0.0/12").contains(ip("172.31.255.255")));
        assert!(!r("172.16.0.0/12").contains(ip("172.32.0.0")));
        assert!(r("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(!r("0.0.0.0/0").contains(ip("::1")));
        assert!(r("fc00::/7").contains(ip("fd00:ec2::254")));
        assert!(r("::/0").contains(ip("2001:db8::1")));
        assert!(
            r("127.0.0.1").contains(ip("::ffff:127.0.0.1")),
            "mapped addresses are their IPv4 address"
        );
    }

    #[test]
    fn policy_table_round_trips_through_toml() {
        let p: NetworkPolicy =
            toml::from_str("allow_addresses = [\"127.0.0.1\", \"10.0.0.0/8\"]").expect("toml");
        assert_eq!(p.allow_addresses, [r("127.0.0.1/32"), r("10.0.0.0/8")]);
        assert!(toml::from_str::<NetworkPolicy>("allow_addresses = [\"10.0.0.1/8\"]").is_err());
        assert!(p.propagate_trace_context, "on unless turned off");
        let off: NetworkPolicy = toml::from_str("propagate_trace_context = false").expect("toml");
        assert!(!off.propagate_trace_context);
        assert!(toml::from_str::<NetworkPolicy>("allow_hosts = []").is_err());
    }
}
