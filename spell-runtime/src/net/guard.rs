//! The SSRF guard: resolve the host once, refuse internal addresses, and hand the client only the
//! addresses that passed, so it connects to exactly what was checked (no second lookup, no DNS
//! rebinding between check and connect).
//!
//! Refused unless the policy's `[network] allow_addresses` contains them: unspecified, loopback,
//! private (RFC 1918), shared (CGNAT), link-local, cloud metadata, unique-local, site-local,
//! multicast, documentation, benchmarking and reserved ranges. IPv6 forms that embed an IPv4
//! address (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by that
//! address. Gaps: an allowed public address can still forward the request inward (an open proxy
//! or a permissive redirect target the guest follows itself); only the addresses Spell connects
//! to are checked.

use super::NetError;
use super::dns::Dns;
use super::target::Target;
use spell_core::AddressRange;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// At most this many checked addresses are tried, in resolver order.
const MAX_ADDRESSES: usize = 4;

/// IPv4 ranges refused by default, most specific first: `(network, prefix, class)`.
const V4_BLOCKED: [(u32, u8, &str); 15] = [
    (0xA9FE_A9FE, 32, "cloud metadata"), // 169.254.169.254
    (0x0000_0000, 8, "this network"),
    (0x0A00_0000, 8, "private"),
    (0x6440_0000, 10, "shared address space"),
    (0x7F00_0000, 8, "loopback"),
    (0xA9FE_0000, 16, "link-local"),
    (0xAC10_0000, 12, "private"),
    (0xC000_0000, 24, "protocol assignments"),
    (0xC000_0200, 24, "documentation"),
    (0xC0A8_0000, 16, "private"),
    (0xC612_0000, 15, "benchmarking"),
    (0xC633_6400, 24, "documentation"),
    (0xCB00_7100, 24, "documentation"),
    (0xE000_0000, 4, "multicast"),
    (0xF000_0000, 4, "reserved"), // includes 255.255.255.255
];

/// IPv6 ranges refused by default, most specific first. Ranges that embed an IPv4 address are
/// handled before this table.
const V6_BLOCKED: [(u128, u8, &str); 12] = [
    (
        0xfd00_0ec2_0000_0000_0000_0000_0000_0254,
        128,
        "cloud metadata",
    ), // fd00:ec2::254
    (0, 128, "unspecified"),
    (1, 128, "loopback"),
    (0, 96, "IPv4-compatible"),
    (
        0x0064_ff9b_0001_0000_0000_0000_0000_0000,
        48,
        "NAT64 local-use",
    ),
    (
        0x0100_0000_0000_0000_0000_0000_0000_0000,
        64,
        "discard-only",
    ),
    (
        0x2001_0000_0000_0000_0000_0000_0000_0000,
        23,
        "protocol assignments",
    ),
    (
        0x2001_0db8_0000_0000_0000_0000_0000_0000,
        32,
        "documentation",
    ),
    (0xfc00_0000_0000_0000_0000_0000_0000_0000, 7, "unique-local"),
    (0xfe80_0000_0000_0000_0000_0000_0000_0000, 10, "link-local"),
    (0xfec0_0000_0000_0000_0000_0000_0000_0000, 10, "site-local"),
    (0xff00_0000_0000_0000_0000_0000_0000_0000, 8, "multicast"),
];

/// The class of address the guard refuses `ip` as, or `None` for a public address.
pub(crate) fn blocked_class(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => v6_class(v6),
    }
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4_BLOCKED
        .iter()
        .find(|(net, prefix, _)| bits >> (32 - prefix) == net >> (32 - prefix))
        .map(|(_, _, c)| *c)
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    let in_range = |net: u128, prefix: u8| bits >> (128 - prefix) == net >> (128 - prefix);
    // NAT64 and 6to4 reach the IPv4 address they embed.
    if in_range(0x0064_ff9b_0000_0000_0000_0000_0000_0000, 96) {
        return v4_class(Ipv4Addr::from(bits as u32));
    }
    if in_range(0x2002_0000_0000_0000_0000_0000_0000_0000, 16) {
        return v4_class(Ipv4Addr::from((bits >> 80) as u32));
    }
    V6_BLOCKED
        .iter()
        .find(|(net, prefix, _)| in_range(*net, *prefix))
        .map(|(_, _, c)| *c)
}

/// Whether a resolved address may be connected to: public, or inside a range the policy allows.
pub(crate) fn admit(ip: IpAddr, allow: &[AddressRange]) -> Result<(), &'static str> {
    match blocked_class(ip) {
        Some(class) if !allow.iter().any(|r| r.contains(ip)) => Err(class),
        _ => Ok(()),
    }
}

/// Resolves the target's host with the runtime's resolver (IP literals are used as they are)
/// and keeps the admitted addresses; refuses when none is. Dropping the future cancels the lookup.
pub(crate) async fn resolve(
    dns: &Dns,
    target: &Target,
    allow: &[AddressRange],
) -> Result<Vec<SocketAddr>, NetError> {
    let found: Vec<IpAddr> = match target.ip() {
        Some(ip) => vec![ip],
        None => dns.lookup(target.host()).await?,
    };
    let mut admitted: Vec<SocketAddr> = Vec::new();
    let mut refused = Vec::new();
    for ip in found.into_iter().map(|ip| ip.to_canonical()) {
        match admit(ip, allow) {
            Ok(()) => {
                let addr = SocketAddr::new(ip, target.port());
                if !admitted.contains(&addr) {
                    admitted.push(addr);
                }
            }
            Err(class) => refused.push(format!("{ip} ({class})")),
        }
    }
    if admitted.is_empty() {
        return Err(match refused.is_empty() {
            true => NetError::Transport(format!("{} resolves to no address", target.host())),
            false => NetError::AddressBlocked {
                host: target.host().to_string(),
                refused: refused.join(", "),
            },
        });
    }
    admitted.truncate(MAX_ADDRESSES);
    Ok(admitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<&'static str> {
        blocked_class(s.parse().expect(s))
    }

    #[test]
    fn loopback_and_unspecified_are_refused() {
        for ip in ["127.0.0.1", "127.255.255.254", "::1"] {
            assert_eq!(class(ip), Some("loopback"), "{ip}");
        }
        assert_eq!(class("0.0.0.0"), Some("this network"));
        assert_eq!(class("::"), Some("unspecified"));
    }

    #[test]
    fn private_and_shared_ranges_are_refused() {
        for ip in [
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
        ] {
            assert_eq!(class(ip), Some("private"), "{ip}");
        }
        assert_eq!(class("100.64.0.1"), Some("shared address space"));
        assert_eq!(class("172.32.0.1"), None);
        assert_eq!(class("172.15.255.255"), None);
        assert_eq!(class("100.128.0.1"), None);
    }

    #[test]
    fn link_local_and_cloud_metadata_are_refused() {
        assert_eq!(class("169.254.1.1"), Some("link-local"));
        assert_eq!(class("fe80::1"), Some("link-local"));
        assert_eq!(class("169.254.169.254"), Some("cloud metadata"));
        assert_eq!(class("fd00:ec2::254"), Some("cloud metadata"));
    }

    #[test]
    fn unique_local_site_local_and_multicast_are_refused() {
        for ip in ["fc00::1", "fd12:3456::1", "fdff:ffff::1"] {
            assert_eq!(class(ip), Some("unique-local"), "{ip}");
        }
        assert_eq!(class("fec0::1"), Some("site-local"));
        for ip in ["224.0.0.1", "239.255.255.250", "ff02::1", "ff0e::1"] {
            assert_eq!(class(ip), Some("multicast"), "{ip}");
        }
        assert_eq!(class("255.255.255.255"), Some("reserved"));
        assert_eq!(class("240.0.0.1"), Some("reserved"));
    }

    #[test]
    fn embedded_ipv4_is_judged_by_the_ipv4_address() {
        assert_eq!(class("::ffff:127.0.0.1"), Some("loopback"));
        assert_eq!(class("::ffff:10.0.0.1"), Some("private"));
        assert_eq!(class("::ffff:169.254.169.254"), Some("cloud metadata"));
        assert_eq!(class("::ffff:93.184.216.34"), None);
        assert_eq!(class("64:ff9b::a00:1"), Some("private"));
        assert_eq!(class("64:ff9b::5db8:d822"), None);
        assert_eq!(class("2002:7f00:1::"), Some("loopback"));
        assert_eq!(class("2002:5db8:d822::1"), None);
        assert_eq!(class("::127.0.0.1"), Some("IPv4-compatible"));
        assert_eq!(class("2001::1"), Some("protocol assignments"), "Teredo");
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450::1",
        ] {
            assert_eq!(class(ip), None, "{ip}");
        }
    }

    #[test]
    fn allowed_ranges_admit_exactly_their_addresses() {
        let allow: Vec<AddressRange> = ["127.0.0.1/32", "fd00::/8"]
            .iter()
            .map(|r| r.parse().expect(r))
            .collect();
        let ip = |s: &str| s.parse::<IpAddr>().expect(s);
        assert_eq!(admit(ip("127.0.0.1"), &allow), Ok(()));
        assert_eq!(admit(ip("::ffff:127.0.0.1"), &allow), Ok(()));
        assert_eq!(admit(ip("127.0.0.2"), &allow), Err("loopback"));
        assert_eq!(admit(ip("::1"), &allow), Err("loopback"));
        assert_eq!(
            admit(ip("fd00:ec2::254"), &allow),
            Ok(()),
            "an explicit range wins over the metadata class"
        );
        assert_eq!(admit(ip("169.254.169.254"), &allow), Err("cloud metadata"));
        assert_eq!(admit(ip("8.8.8.8"), &[]), Ok(()));
    }
}
