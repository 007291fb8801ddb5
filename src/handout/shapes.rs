//! The graph in the JSON shapes tools already parse: LND's (`lnrpc/lightning.proto`:
//! `ChannelGraph`, `LightningNode`, `ChannelEdge`, `RoutingPolicy`, `NodeInfo`, as `lncli`
//! prints them: 64-bit integers as strings) and Core Lightning's (`listnodes` and
//! `listchannels`, one entry per channel direction). The API and `export` both write these.
//!
//! Until a chain backend records funding amounts, `capacity` / `amount_msat` are 0. `chan_point`
//! is the funding outpoint a running node validated on chain; it is empty with `--chain none`
//! and in offline exports (the store keeps no outpoint).

use std::io::{self, Write};

use serde_json::{json, Map, Value};

use super::model::{ChannelInfo, GraphModel, NodeInfo, Policy};
use crate::wire::address::Address;
use crate::wire::features::set_bits;
use crate::wire::scid::ShortChannelId;

/// Which project's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Lnd,
    Cln,
}

impl Shape {
    /// `lnd` / `cln` (also `lnd-json` / `cln-json`, the export names).
    pub fn parse(text: &str) -> Option<Shape> {
        match text {
            "lnd" | "lnd-json" => Some(Shape::Lnd),
            "cln" | "cln-json" => Some(Shape::Cln),
            _ => None,
        }
    }
}

/// BOLT 9 names LND prints for the feature bits it knows (pairs share a name).
fn feature_name(bit: usize) -> Option<&'static str> {
    Some(match bit / 2 {
        0 => "data-loss-protect",
        3 => "upfront-shutdown-script",
        4 => "gossip-queries",
        5 => "tlv-onion",
        6 => "gossip-queries-ex",
        7 => "static-remote-key",
        8 => "payment-addr",
        9 => "multi-path-payments",
        10 => "wumbo-channels",
        11 => "anchors",
        12 => "anchors-zero-fee-htlc-tx",
        13 => "route-blinding",
        14 => "shutdown-any-segwit",
        15 => "dual-funding",
        17 => "quiescence",
        18 => "onion-messages",
        19 => "channel-type",
        20 => "scid-alias",
        23 => "zero-conf",
        _ => return None,
    })
}

fn lnd_features(features: &[u8]) -> Value {
    let mut map = Map::new();
    for bit in set_bits(features) {
        map.insert(
            bit.to_string(),
            json!({
                "name": feature_name(bit).unwrap_or("unknown"),
                "is_required": bit % 2 == 0,
                "is_known": feature_name(bit).is_some(),
            }),
        );
    }
    Value::Object(map)
}

/// (CLN type, host text, port); `None` for descriptors of unknown type.
fn address_parts(address: &Address) -> Option<(&'static str, String, u16)> {
    Some(match address {
        Address::Ipv4 { addr, port } => {
            ("ipv4", std::net::Ipv4Addr::from(*addr).to_string(), *port)
        }
        Address::Ipv6 { addr, port } => {
            ("ipv6", std::net::Ipv6Addr::from(*addr).to_string(), *port)
        }
        Address::TorV2 { port, .. } => ("torv2", address.onion_name()?, *port),
        Address::TorV3 { port, .. } => ("torv3", address.onion_name()?, *port),
        Address::Dns { hostname, port } => {
            ("dns", String::from_utf8_lossy(hostname).into_owned(), *port)
        }
        Address::Unknown { .. } => return None,
    })
}

fn color(rgb: &[u8; 3]) -> String {
    hex::encode(rgb)
}

/// LND `LightningNode`.
pub fn lnd_node(node: &NodeInfo) -> Value {
    let details = node.announcement.as_ref();
    let addresses: Vec<Value> = details
        .map(|d| d.addresses.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(address_parts)
        .map(|(kind, host, port)| {
            let addr = match kind {
                "ipv6" => format!("[{host}]:{port}"),
                _ => format!("{host}:{port}"),
            };
            json!({"network": "tcp", "addr": addr})
        })
        .collect();
    json!({
        "last_update": details.map_or(0, |d| d.timestamp),
        "pub_key": hex::encode(node.node_id),
        "alias": details.map(|d| d.alias_text()).unwrap_or_default(),
        "addresses": addresses,
        "color": details.map_or_else(|| "#000000".to_string(), |d| format!("#{}", color(&d.rgb_color))),
        "features": lnd_features(details.map_or(&[][..], |d| &d.features)),
    })
}

fn lnd_policy(policy: &Option<Policy>) -> Value {
    match policy {
        None => Value::Null,
        Some(p) => json!({
            "time_lock_delta": p.cltv_expiry_delta,
            "min_htlc": p.htlc_minimum_msat.to_string(),
            "fee_base_msat": p.fee_base_msat.to_string(),
            "fee_rate_milli_msat": p.fee_proportional_millionths.to_string(),
            "disabled": p.is_disabled(),
            "max_htlc_msat": p.htlc_maximum_msat.to_string(),
            "last_update": p.timestamp,
        }),
    }
}

/// LND `ChannelEdge`.
pub fn lnd_edge(model: &GraphModel, channel: &ChannelInfo) -> Value {
    let last_update = channel
        .policies
        .iter()
        .flatten()
        .map(|p| p.timestamp)
        .max()
        .unwrap_or(0);
    json!({
        "channel_id": channel.short_channel_id.to_string(),
        "chan_point": channel.funding_outpoint.as_deref().unwrap_or(""),
        "last_update": last_update,
        "node1_pub": hex::encode(model.node_id(channel.nodes[0])),
        "node2_pub": hex::encode(model.node_id(channel.nodes[1])),
        "capacity": channel.amount_sat.to_string(),
        "node1_policy": lnd_policy(&channel.policies[0]),
        "node2_policy": lnd_policy(&channel.policies[1]),
    })
}

/// LND `NodeInfo` (what `getnodeinfo` prints; `--include_channels` fills `channels`).
pub fn lnd_node_info(model: &GraphModel, node: &NodeInfo, include_channels: bool) -> Value {
    let channels: Vec<&ChannelInfo> = node
        .channels
        .iter()
        .filter_map(|scid| model.channels.get(scid))
        .collect();
    json!({
        "node": lnd_node(node),
        "num_channels": channels.len(),
        "total_capacity": channels.iter().map(|c| c.amount_sat).sum::<u64>().to_string(),
        "channels": channels
            .iter()
            .filter(|_| include_channels)
            .map(|c| lnd_edge(model, c))
            .collect::<Vec<_>>(),
    })
}

/// CLN `listnodes` entry: just `nodeid` for a node that never announced itself.
pub fn cln_node(node: &NodeInfo) -> Value {
    let Some(d) = &node.announcement else {
        return json!({"nodeid": hex::encode(node.node_id)});
    };
    let addresses: Vec<Value> = d
        .addresses
        .iter()
        .filter_map(address_parts)
        .map(|(kind, host, port)| json!({"type": kind, "address": host, "port": port}))
        .collect();
    json!({
        "nodeid": hex::encode(node.node_id),
        "last_timestamp": d.timestamp,
        "alias": d.alias_text(),
        "color": color(&d.rgb_color),
        "features": hex::encode(&d.features),
        "addresses": addresses,
    })
}

/// CLN `listchannels` entries of a channel: one per direction with an update.
pub fn cln_channels(model: &GraphModel, channel: &ChannelInfo) -> Vec<Value> {
    let ends = channel.nodes.map(|i| hex::encode(model.node_id(i)));
    channel
        .policies
        .iter()
        .enumerate()
        .filter_map(|(direction, p)| Some((direction, p.as_ref()?)))
        .map(|(direction, p)| {
            json!({
                "source": ends[direction],
                "destination": ends[1 - direction],
                "short_channel_id": ShortChannelId::from_u64(channel.short_channel_id).to_string(),
                "direction": direction,
                "public": true,
                "amount_msat": channel.amount_sat.saturating_mul(1000),
                "message_flags": p.message_flags,
                "channel_flags": p.channel_flags,
                "active": !p.is_disabled(),
                "last_update": p.timestamp,
                "base_fee_millisatoshi": p.fee_base_msat,
                "fee_per_millionth": p.fee_proportional_millionths,
                "delay": p.cltv_expiry_delta,
                "htlc_minimum_msat": p.htlc_minimum_msat,
                "htlc_maximum_msat": p.htlc_maximum_msat,
                "features": hex::encode(&channel.features),
            })
        })
        .collect()
}

/// Writes a JSON array's items one at a time (no whole-graph value is ever built).
fn write_array<T>(
    out: &mut impl Write,
    key: &str,
    items: impl Iterator<Item = T>,
    value: impl Fn(T) -> Vec<Value>,
) -> io::Result<()> {
    write!(out, "\"{key}\":[")?;
    let mut first = true;
    for item in items {
        for v in value(item) {
            if !first {
                out.write_all(b",")?;
            }
            first = false;
            serde_json::to_writer(&mut *out, &v)?;
        }
    }
    out.write_all(b"]")
}

/// The whole graph: LND `describegraph` (`{"nodes": [...], "edges": [...]}`) or CLN
/// (`{"nodes": listnodes, "channels": listchannels}`), written item by item. Nodes without a
/// channel (left behind by a forgotten channel) are not part of the graph.
pub fn write_graph(model: &GraphModel, shape: Shape, out: &mut impl Write) -> io::Result<()> {
    let nodes = || model.nodes.iter().filter(|n| !n.channels.is_empty());
    out.write_all(b"{")?;
    match shape {
        Shape::Lnd => {
            write_array(out, "nodes", nodes(), |n| vec![lnd_node(n)])?;
            out.write_all(b",")?;
            write_array(out, "edges", model.channels.values(), |c| {
                vec![lnd_edge(model, c)]
            })?;
        }
        Shape::Cln => {
            write_array(out, "nodes", nodes(), |n| vec![cln_node(n)])?;
            out.write_all(b",")?;
            write_array(out, "channels", model.channels.values(), |c| {
                cln_channels(model, c)
            })?;
        }
    }
    out.write_all(b"}\n")
}
