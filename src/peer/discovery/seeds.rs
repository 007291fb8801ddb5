//! BOLT 10 DNS seeds: ask each seed for `SRV` records, decode each record's virtual
//! hostname into a node id, and resolve it to addresses.
//!
//! BOLT 10: "For `SRV` queries, the reply consists of (_virtual hostnames_, port)-tuples. A
//! virtual hostname is a subdomain of the seed root domain that uniquely identifies a node in
//! the network. It is constructed by prepending the `node_id` condition to the seed root
//! domain." The `node_id` condition is `l` + the bech32 `node_id`; seeds in the wild (and the
//! spec's own example) write it as the bech32 string `ln1…` alone, so both are read.
//!
//! We ask `r0.a<types>._nodes._tcp.<seed>` first (realm 0 = Bitcoin, address types we can
//! dial). BOLT 10: "If the DNS seed does not implement filtering by a given condition it MAY
//! ignore the condition altogether" and "Clients MUST NOT rely on any given condition being
//! met by the results", so when that name has no records we fall back to the plain
//! `_nodes._tcp.<seed>` alias (what LND asks), and every result goes through the same address
//! checks as announced addresses.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

use crate::graph::NodeId;
use crate::wire::address::Address;

/// SRV records used per seed: BOLT 10's default `n` (25). A seed answering thousands costs us
/// no more than 25 lookups.
pub const MAX_RESULTS_PER_SEED: usize = 25;

/// One node a seed told us about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedNode {
    pub node_id: NodeId,
    pub addresses: Vec<Address>,
}

/// The resolver for seed queries: `server` when given (UDP), else the system's.
pub fn resolver(server: Option<SocketAddr>, timeout: Duration) -> std::io::Result<TokioResolver> {
    let builder = match server {
        Some(addr) => {
            let mut udp = ConnectionConfig::udp();
            udp.port = addr.port();
            let server = NameServerConfig::new(addr.ip(), true, vec![udp]);
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![server]),
                TokioRuntimeProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio().map_err(std::io::Error::other)?,
    };
    let mut builder = builder;
    builder.options_mut().timeout = timeout;
    builder.options_mut().attempts = 1;
    builder.build().map_err(std::io::Error::other)
}

/// The BOLT 10 `a` condition for the address types we can dial: bit 1 IPv4, bit 2 IPv6
/// (BOLT 7 descriptor types as bit index), bit 4 Tor v3 with a proxy.
pub fn address_type_bits(with_onion: bool) -> u8 {
    let ip = (1 << 1) | (1 << 2);
    if with_onion {
        ip | (1 << 4)
    } else {
        ip
    }
}

/// The query names for `seed`, most specific first.
pub fn query_names(seed: &str, with_onion: bool) -> [String; 2] {
    let seed = seed.trim_end_matches('.');
    [
        format!("r0.a{}._nodes._tcp.{seed}.", address_type_bits(with_onion)),
        format!("_nodes._tcp.{seed}."),
    ]
}

/// The node id in a virtual hostname's first label: `ln1…` or `l` + `ln1…`.
pub fn node_id_of_virtual_host(host: &str) -> Option<NodeId> {
    let label = host.split('.').next()?;
    let bech = label
        .strip_prefix('l')
        .filter(|rest| rest.starts_with("ln1"))
        .unwrap_or(label);
    let (hrp, data) = bech32::decode(bech).ok()?;
    if hrp.as_str() != "ln" {
        return None;
    }
    let node_id: NodeId = data.try_into().ok()?;
    secp256k1::PublicKey::from_slice(&node_id).ok()?;
    Some(node_id)
}

/// Asks `seed` for nodes: SRV records, then each virtual hostname's A/AAAA records.
pub async fn query(
    resolver: &TokioResolver,
    seed: &str,
    with_onion: bool,
) -> Result<Vec<SeedNode>, String> {
    let mut records = Vec::new();
    let mut last_error = None;
    for name in query_names(seed, with_onion) {
        match resolver.srv_lookup(name.as_str()).await {
            Ok(lookup) => {
                records = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::SRV(srv) => Some((srv.target.to_ascii(), srv.port)),
                        _ => None,
                    })
                    .take(MAX_RESULTS_PER_SEED)
                    .collect();
                if !records.is_empty() {
                    break;
                }
            }
            Err(err) => last_error = Some(err.to_string()),
        }
    }
    if records.is_empty() {
        return match last_error {
            Some(err) => Err(err),
            None => Ok(Vec::new()),
        };
    }
    let mut out = Vec::new();
    for (host, port) in records {
        let Some(node_id) = node_id_of_virtual_host(&host) else {
            tracing::debug!(%seed, %host, "seed record without a node id");
            continue;
        };
        let Ok(ips) = resolver.lookup_ip(host.as_str()).await else {
            continue;
        };
        let addresses = ips
            .iter()
            .take(super::address::MAX_ADDRESSES_PER_NODE)
            .map(|ip| match ip {
                IpAddr::V4(v4) => Address::Ipv4 {
                    addr: v4.octets(),
                    port,
                },
                IpAddr::V6(v6) => Address::Ipv6 {
                    addr: v6.octets(),
                    port,
                },
            })
            .collect();
        out.push(SeedNode { node_id, addresses });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_examples_virtual_hostnames_decode_to_node_ids() {
        // BOLT 10 "Examples": the SRV answers of lseed.bitcoinstats.com.
        let hosts = [
            "ln1qwktpe6jxltmpphyl578eax6fcjc2m807qalr76a5gfmx7k9qqfjwy4mctz.lseed.bitcoinstats.com.",
            "ln1qv2w3tledmzczw227nnkqrrltvmydl8gu4w4d70g9td7avke6nmz2tdefqp.lseed.bitcoinstats.com.",
            "ln1qtynyymv99pqf0r9cuexvvqtxrlgejuecf8myfsa96vcpflgll5cqmr2xsu.lseed.bitcoinstats.com.",
            "ln1qdfvlysfpyh96apy3w3qdwlu8jjkdhnuxa689ka540tnde6gnx86cf7ga2d.lseed.bitcoinstats.com.",
            "ln1qwf789tlcpe4n34649xrqllxt97whsvfk5pm07ggqms3vrjwdj3cu6332zs.lseed.bitcoinstats.com.",
        ];
        for host in hosts {
            let id = node_id_of_virtual_host(host).unwrap_or_else(|| panic!("{host}"));
            assert!(id[0] == 2 || id[0] == 3, "{host}");
            // The `l`-prefixed condition form names the same node.
            assert_eq!(node_id_of_virtual_host(&format!("l{host}")), Some(id));
        }
        assert_eq!(node_id_of_virtual_host("www.example.com"), None);
        // A bad checksum is refused.
        assert_eq!(
            node_id_of_virtual_host(
                "ln1qwktpe6jxltmpphyl578eax6fcjc2m807qalr76a5gfmx7k9qqfjwy4mctq.x"
            ),
            None
        );
    }

    #[test]
    fn query_names_carry_realm_and_address_types() {
        assert_eq!(
            query_names("lseed.bitcoinstats.com", false),
            [
                "r0.a6._nodes._tcp.lseed.bitcoinstats.com.".to_string(),
                "_nodes._tcp.lseed.bitcoinstats.com.".to_string()
            ]
        );
        assert_eq!(address_type_bits(true), 22);
    }
}
