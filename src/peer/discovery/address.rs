//! Which announced addresses we may dial, and how they are grouped for diversity.
//!
//! A node_announcement is signed by its node, not checked by anyone: it may list thousands of
//! descriptors, or point at our own LAN. So each node keeps at most
//! [`MAX_ADDRESSES_PER_NODE`] dialable addresses, private, loopback and link-local ones are
//! never dialled unless allowed (regtest, tests), and onion addresses only through a proxy.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::wire::address::Address;

/// Addresses kept per node. Core Lightning tries a node's addresses in order and LND keeps
/// them all; a few cover IPv4 + IPv6 + onion, and a hostile announcement with thousands
/// cannot turn one candidate into thousands of dials.
pub const MAX_ADDRESSES_PER_NODE: usize = 4;

/// `address_type` label values of the discovery metrics.
pub const ADDRESS_TYPES: [&str; 4] = ["ipv4", "ipv6", "torv3", "dns"];

/// An address we may dial.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DialTarget {
    Ip(SocketAddr),
    /// `<56 base32 chars>.onion`; only ever handed to the SOCKS5 proxy, never resolved.
    Onion {
        host: String,
        port: u16,
    },
    /// A hostname: resolved by the proxy when there is one, else by us (and the result
    /// checked like an announced IP).
    Dns {
        host: String,
        port: u16,
    },
}

impl DialTarget {
    pub fn address_type(&self) -> &'static str {
        match self {
            DialTarget::Ip(SocketAddr::V4(_)) => "ipv4",
            DialTarget::Ip(SocketAddr::V6(_)) => "ipv6",
            DialTarget::Onion { .. } => "torv3",
            DialTarget::Dns { .. } => "dns",
        }
    }

    pub fn host(&self) -> String {
        match self {
            DialTarget::Ip(addr) => addr.ip().to_string(),
            DialTarget::Onion { host, .. } | DialTarget::Dns { host, .. } => host.clone(),
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            DialTarget::Ip(addr) => addr.port(),
            DialTarget::Onion { port, .. } | DialTarget::Dns { port, .. } => *port,
        }
    }

    /// The diversity group: the /16 of an IPv4 address, the /32 of an IPv6 one (as Bitcoin
    /// Core's and LND's address managers group them), one group for all onions, and the
    /// hostname's last two labels for DNS names.
    pub fn group(&self) -> String {
        match self {
            DialTarget::Ip(SocketAddr::V4(a)) => {
                let [a, b, _, _] = a.ip().octets();
                format!("{a}.{b}/16")
            }
            DialTarget::Ip(SocketAddr::V6(a)) => {
                let s = a.ip().segments();
                format!("{:x}:{:x}::/32", s[0], s[1])
            }
            DialTarget::Onion { .. } => "onion".to_string(),
            DialTarget::Dns { host, .. } => {
                let labels: Vec<&str> = host.rsplit('.').take(2).collect();
                format!("dns:{}", labels.join("."))
            }
        }
    }

    /// Bytes this target holds, for the byte caps.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + match self {
                DialTarget::Ip(_) => 0,
                DialTarget::Onion { host, .. } | DialTarget::Dns { host, .. } => host.len(),
            }
    }

    /// The type of a configured peer's `host` (for the connected-peers metric).
    pub fn type_of_host(host: &str) -> &'static str {
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => "ipv4",
            Ok(IpAddr::V6(_)) => "ipv6",
            Err(_) if is_onion(host) => "torv3",
            Err(_) => "dns",
        }
    }
}

pub fn is_onion(host: &str) -> bool {
    host.to_ascii_lowercase().ends_with(".onion")
}

/// Why an announced address is not dialled (the `reason` of
/// `gossip_sieve_discovery_addresses_skipped_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Private, loopback, link-local, unspecified, multicast or documentation range.
    Private,
    /// An onion address and no proxy.
    NeedsProxy,
    /// Tor v2 (retired by Tor in 2021), port 0, an unusable hostname or an unknown type.
    Unsupported,
    /// Beyond [`MAX_ADDRESSES_PER_NODE`].
    OverNodeCap,
}

impl Skip {
    pub const ALL: [Skip; 4] = [
        Skip::Private,
        Skip::NeedsProxy,
        Skip::Unsupported,
        Skip::OverNodeCap,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Skip::Private => "private",
            Skip::NeedsProxy => "needs_proxy",
            Skip::Unsupported => "unsupported",
            Skip::OverNodeCap => "over_node_cap",
        }
    }
}

/// What [`dialable`] may let through.
#[derive(Clone, Copy, Debug, Default)]
pub struct AddressPolicy {
    /// Dial private, loopback and link-local addresses (regtest, or an explicit option).
    pub allow_private: bool,
    /// A SOCKS5 proxy is configured: onion addresses can be reached.
    pub have_proxy: bool,
}

/// The addresses of one announcement we may dial, in announced order, at most
/// [`MAX_ADDRESSES_PER_NODE`]; `skipped` is called once per address left out.
pub fn dialable(
    addresses: &[Address],
    policy: AddressPolicy,
    mut skipped: impl FnMut(Skip),
) -> Vec<DialTarget> {
    let mut out = Vec::new();
    for address in addresses {
        match target_of(address, policy) {
            Ok(target) if out.len() < MAX_ADDRESSES_PER_NODE => out.push(target),
            Ok(_) => skipped(Skip::OverNodeCap),
            Err(skip) => skipped(skip),
        }
    }
    out
}

fn target_of(address: &Address, policy: AddressPolicy) -> Result<DialTarget, Skip> {
    let target = match address {
        Address::Ipv4 { addr, port } => {
            DialTarget::Ip(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(*addr)), *port))
        }
        Address::Ipv6 { addr, port } => {
            DialTarget::Ip(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(*addr)), *port))
        }
        Address::TorV3 { port, .. } => {
            if !policy.have_proxy {
                return Err(Skip::NeedsProxy);
            }
            DialTarget::Onion {
                host: address.onion_name().ok_or(Skip::Unsupported)?,
                port: *port,
            }
        }
        Address::Dns { port, .. } => {
            let host = address.usable_hostname().ok_or(Skip::Unsupported)?;
            if is_onion(host) && !policy.have_proxy {
                return Err(Skip::NeedsProxy);
            }
            DialTarget::Dns {
                host: host.to_ascii_lowercase(),
                port: *port,
            }
        }
        Address::TorV2 { .. } | Address::Unknown { .. } => return Err(Skip::Unsupported),
    };
    if target.port() == 0 {
        return Err(Skip::Unsupported);
    }
    if let DialTarget::Ip(addr) = target {
        if !policy.allow_private && !is_public(addr.ip()) {
            return Err(Skip::Private);
        }
    }
    Ok(target)
}

/// Globally routable as far as a dialler can tell without a routing table.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                // 100.64.0.0/10: carrier-grade NAT.
                || (a == 100 && (64..128).contains(&b))
                // 192.0.0.0/24 (IETF protocol assignments), 198.18.0.0/15 (benchmarking).
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19))
                // 240.0.0.0/4: reserved.
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local, 2001:db8::/32 documentation.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && v6.segments()[1] == 0x0db8))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4], port: u16) -> Address {
        Address::Ipv4 { addr: a, port }
    }

    #[test]
    fn private_loopback_and_link_local_are_skipped_unless_allowed() {
        let announced = [
            v4([10, 1, 2, 3], 9735),
            v4([192, 168, 1, 1], 9735),
            v4([127, 0, 0, 1], 9735),
            v4([169, 254, 0, 1], 9735),
            v4([100, 64, 0, 1], 9735),
            Address::Ipv6 {
                addr: Ipv6Addr::LOCALHOST.octets(),
                port: 9735,
            },
            Address::Ipv6 {
                addr: "fe80::1".parse::<Ipv6Addr>().expect("v6").octets(),
                port: 9735,
            },
            v4([203, 0, 113, 5], 9735),
        ];
        let mut skipped = Vec::new();
        let got = dialable(&announced, AddressPolicy::default(), |s| skipped.push(s));
        assert!(got.is_empty(), "{got:?}");
        assert_eq!(skipped, vec![Skip::Private; 8]);

        let allowed = AddressPolicy {
            allow_private: true,
            have_proxy: false,
        };
        let got = dialable(&announced[..3], allowed, |_| {});
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn a_node_keeps_at_most_four_addresses() {
        let announced: Vec<Address> = (0..5000u16)
            .map(|i| v4([8, 8, (i >> 8) as u8, i as u8], 9735))
            .collect();
        let mut over = 0;
        let got = dialable(&announced, AddressPolicy::default(), |s| {
            assert_eq!(s, Skip::OverNodeCap);
            over += 1;
        });
        assert_eq!(got.len(), MAX_ADDRESSES_PER_NODE);
        assert_eq!(over, 5000 - MAX_ADDRESSES_PER_NODE);
    }

    #[test]
    fn onion_needs_a_proxy_and_encodes_as_tor_does() {
        // The v3 address of the Tor Project's own site (rend-spec-v3 encoding, checked by
        // decoding it): pubkey | checksum | version 3.
        let host = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";
        let decoded = base32_decode(host.trim_end_matches(".onion"));
        let pubkey: [u8; 32] = decoded[..32].try_into().expect("32");
        let checksum = u16::from_be_bytes([decoded[32], decoded[33]]);
        assert_eq!(decoded[34], 3);
        let onion = Address::TorV3 {
            ed25519_pubkey: pubkey,
            checksum,
            version: 3,
            port: 9735,
        };
        // Tor rend-spec-v3: onion_address = base32(PUBKEY | CHECKSUM | VERSION) + ".onion".
        assert_eq!(onion.onion_name().as_deref(), Some(host));
        let mut skipped = Vec::new();
        assert!(dialable(
            std::slice::from_ref(&onion),
            AddressPolicy::default(),
            |s| skipped.push(s)
        )
        .is_empty());
        assert_eq!(skipped, vec![Skip::NeedsProxy]);
        let proxied = AddressPolicy {
            allow_private: false,
            have_proxy: true,
        };
        let got = dialable(&[onion], proxied, |_| {});
        assert_eq!(got[0].host(), host);
        assert_eq!(got[0].address_type(), "torv3");
    }

    fn base32_decode(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
        let mut out = Vec::new();
        let (mut buffer, mut bits) = (0u32, 0);
        for c in text.bytes() {
            let v = ALPHABET.iter().position(|a| *a == c).expect("base32") as u32;
            buffer = (buffer << 5) | v;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
            }
        }
        out
    }

    #[test]
    fn groups_are_slash_16_and_slash_32() {
        let a = DialTarget::Ip("203.0.113.5:9735".parse().expect("addr"));
        let b = DialTarget::Ip("203.0.7.9:9735".parse().expect("addr"));
        assert_eq!(a.group(), b.group());
        let c = DialTarget::Ip("[2a01:4f8:1:2::1]:9735".parse().expect("addr"));
        assert_eq!(c.group(), "2a01:4f8::/32");
    }
}
