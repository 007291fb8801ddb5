//! Handing the graph out, against the real binary fed over BOLT 8.
//!
//! Rapid Gossip Sync, proven with LDK's own client: the node builds snapshots and serves them
//! over HTTP; `lightning-rapid-gossip-sync` applies the full snapshot to an empty
//! `NetworkGraph`, which must then hold exactly our channels, both directions' policies and
//! (v2) the nodes' addresses and features. New gossip follows, and the incremental snapshot
//! since the first one's `latest_seen` must bring the same LDK graph to our state again.
//!
//! The graph API: every endpoint in both shapes, its fields held to the field lists of LND's
//! `lnrpc/lightning.proto` and Core Lightning's `doc/schemas/listchannels.json` /
//! `listnodes.json`, and its values to what was sent.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use common::forge::{recent, scid, Channel};
use common::http::request_bytes;
use common::node::{Node, WAIT};
use common::peer::TestPeer;
use gossip_sieve::wire::address::Address;
use gossip_sieve::wire::gossip::ChannelUpdate;
use lightning::bitcoin::Network;
use lightning::routing::gossip::{ChannelUpdateInfo, NetworkGraph, NodeId};
use lightning::util::logger::{Level, Logger, Record};
use lightning::util::ser::Writeable;
use lightning_rapid_gossip_sync::RapidGossipSync;

struct WarnLogger;

impl Logger for WarnLogger {
    fn log(&self, record: Record) {
        if record.level >= Level::Warn {
            eprintln!("ldk {} {}", record.level, record.args);
        }
    }
}

type LdkGraph = NetworkGraph<Arc<WarnLogger>>;

/// A channel's node ids and its policy per direction.
type ExpectedChannel = ([[u8; 33]; 2], [Option<ChannelUpdate>; 2]);
/// A node's features and encoded addresses.
type ExpectedNode = (Vec<u8>, Vec<Vec<u8>>);

/// What we sent and the node accepted: the state LDK must end up with.
#[derive(Default)]
struct Expected {
    channels: BTreeMap<u64, ExpectedChannel>,
    nodes: BTreeMap<[u8; 33], ExpectedNode>,
}

fn encoded(addresses: &[Address]) -> Vec<Vec<u8>> {
    addresses
        .iter()
        .map(|a| {
            let mut bytes = Vec::new();
            a.write(&mut bytes);
            bytes
        })
        .collect()
}

/// Builds and sends gossip for `channel`, recording it in `expected`. `variant` varies fees,
/// limits, features and addresses so defaults and explicit values both occur.
async fn send_channel(
    peer: &mut TestPeer,
    expected: &mut Expected,
    channel: &Channel,
    variant: u32,
) {
    let at = recent();
    peer.send(&channel.announcement()).await;
    let mut policies = [None, None];
    for direction in 0..2u8 {
        let mut update = channel.update_fields(direction, at);
        if variant % 2 == 1 {
            update.fee_base_msat = 1000 + variant;
            update.cltv_expiry_delta = 40 + variant as u16;
        }
        if direction == 1 && variant.is_multiple_of(3) {
            update.fee_proportional_millionths = 7 * variant;
            update.htlc_maximum_msat = Some(5_000_000 + u64::from(variant));
        }
        peer.send(&channel.sign_update(&update)).await;
        policies[usize::from(direction)] = Some(update);
    }
    expected.channels.insert(
        channel.scid,
        ([channel.node_id(0), channel.node_id(1)], policies),
    );
    for side in 0..2 {
        let mut na = channel.node_fields(side, at);
        if variant.is_multiple_of(2) {
            // payment_secret and var_onion_optin, optional.
            na.features = vec![0x80, 0x80];
        }
        if side == 1 {
            na.addresses.push(Address::Dns {
                hostname: format!("node{variant}.example.com").into_bytes(),
                port: 9735,
            });
        }
        expected
            .nodes
            .insert(na.node_id, (na.features.clone(), encoded(&na.addresses)));
        peer.send(&channel.sign_node(side, &na)).await;
    }
}

/// Sends a new policy for `channel` and records it; returns the signed message.
async fn send_policy(
    peer: &mut TestPeer,
    expected: &mut Expected,
    channel: &Channel,
    update: ChannelUpdate,
) -> Vec<u8> {
    let signed = channel.sign_update(&update);
    peer.send(&signed).await;
    let direction = usize::from(update.direction());
    expected.channels.get_mut(&channel.scid).expect("channel").1[direction] = Some(update);
    signed
}

fn post_trigger(addr: SocketAddr) -> u32 {
    let (status, body) = request_bytes(addr, "POST", "/snapshot/trigger").expect("trigger");
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "trigger: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("trigger JSON");
    json["latest_seen"]
        .as_u64()
        .and_then(|t| u32::try_from(t).ok())
        .expect("latest_seen")
}

fn get(addr: SocketAddr, path: &str) -> Vec<u8> {
    let (status, body) = request_bytes(addr, "GET", path).expect("snapshot request");
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    body
}

fn empty_graph() -> Arc<LdkGraph> {
    Arc::new(NetworkGraph::new(Network::Bitcoin, Arc::new(WarnLogger)))
}

fn apply(graph: &Arc<LdkGraph>, snapshot: &[u8]) -> u32 {
    let sync = RapidGossipSync::new(graph.clone(), Arc::new(WarnLogger));
    sync.update_network_graph(snapshot)
        .unwrap_or_else(|e| panic!("LDK refused our snapshot: {e:?}"))
}

/// Differences between LDK's graph and `expected` (empty when they agree).
fn differences(graph: &LdkGraph, expected: &Expected, with_nodes: bool) -> Vec<String> {
    let graph = graph.read_only();
    let mut out = Vec::new();
    let ours: Vec<u64> = expected.channels.keys().copied().collect();
    let mut theirs: Vec<u64> = graph.channels().unordered_iter().map(|(k, _)| *k).collect();
    theirs.sort_unstable();
    if ours != theirs {
        out.push(format!("channels: ours {ours:?}, LDK's {theirs:?}"));
    }
    for (scid, (nodes, policies)) in &expected.channels {
        let Some(channel) = graph.channel(*scid) else {
            continue;
        };
        if channel.node_one.as_slice() != nodes[0] || channel.node_two.as_slice() != nodes[1] {
            out.push(format!("{scid}: node ids differ"));
        }
        for (direction, theirs) in [&channel.one_to_two, &channel.two_to_one]
            .iter()
            .enumerate()
        {
            let ours = policies[direction].as_ref().expect("sent both directions");
            match theirs {
                None => out.push(format!("{scid}/{direction}: no policy in LDK")),
                Some(theirs) if !same_policy(ours, theirs) => out.push(format!(
                    "{scid}/{direction}: ours {ours:?}, LDK's {theirs:?}"
                )),
                Some(_) => {}
            }
        }
    }
    for (id, (features, addresses)) in &expected.nodes {
        let node = graph.node(&NodeId::from_slice(id).expect("node id"));
        let info = node.and_then(|n| n.announcement_info.as_ref());
        match (with_nodes, info) {
            (false, None) => {}
            (false, Some(_)) => {
                out.push(format!("{}: v1 carries no node details", hex::encode(id)))
            }
            (true, None) => out.push(format!("{}: no announcement in LDK", hex::encode(id))),
            (true, Some(info)) => {
                let theirs: Vec<Vec<u8>> = info.addresses().iter().map(|a| a.encode()).collect();
                if &theirs != addresses {
                    out.push(format!(
                        "{}: addresses {theirs:?} vs ours {addresses:?}",
                        hex::encode(id)
                    ));
                }
                // LDK writes features as a u16 length and the big-endian bytes.
                let theirs = info.features().encode();
                if theirs.get(2..) != Some(features.as_slice()) {
                    out.push(format!(
                        "{}: features {theirs:?} vs ours {features:?}",
                        hex::encode(id)
                    ));
                }
            }
        }
    }
    out
}

fn same_policy(ours: &ChannelUpdate, theirs: &ChannelUpdateInfo) -> bool {
    theirs.cltv_expiry_delta == ours.cltv_expiry_delta
        && theirs.htlc_minimum_msat == ours.htlc_minimum_msat
        && Some(theirs.htlc_maximum_msat) == ours.htlc_maximum_msat
        && theirs.fees.base_msat == ours.fee_base_msat
        && theirs.fees.proportional_millionths == ours.fee_proportional_millionths
        && theirs.enabled != ours.is_disabled()
}

/// Triggers builds until the full snapshot at `path`, applied to an empty graph, agrees with
/// `expected` (the store writes what the shards accepted a moment after they count it).
fn converge(addr: SocketAddr, path: &str, expected: &Expected, with_nodes: bool) -> (u32, Vec<u8>) {
    let started = Instant::now();
    loop {
        let latest_seen = post_trigger(addr);
        let snapshot = get(addr, path);
        let graph = empty_graph();
        assert_eq!(apply(&graph, &snapshot), latest_seen);
        let diff = differences(&graph, expected, with_nodes);
        if diff.is_empty() {
            return (latest_seen, snapshot);
        }
        assert!(
            started.elapsed() < WAIT,
            "{path} never matched:\n{}",
            diff.join("\n")
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A node (snapshots only on trigger) fed `count` channels from `block` on by a peer.
async fn node_with_channels(
    dir: &std::path::Path,
    block: u64,
    count: u64,
) -> (Node, TestPeer, Expected, Vec<Channel>) {
    let node = Node::start(dir, &["--rgs-interval-secs".into(), "3600".into()]);
    let mut peer = TestPeer::connect(node.listen(), &node.node_id).await;
    let mut expected = Expected::default();
    let channels: Vec<Channel> = (0..count).map(|i| Channel::new(scid(block + i))).collect();
    for (variant, channel) in channels.iter().enumerate() {
        send_channel(&mut peer, &mut expected, channel, variant as u32).await;
    }
    peer.barrier().await;
    (node, peer, expected, channels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldk_applies_our_full_then_incremental_snapshots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, mut peer, mut expected, first) = node_with_channels(dir.path(), 700_000, 6).await;
    let addr = node.metrics;

    let (latest_seen, full_v2) = converge(addr, "/snapshot/v2/0", &expected, true);
    assert_eq!(&full_v2[..4], b"LDK\x02");
    // v1 from the same generation: channels and policies, no node details.
    let graph_v1 = empty_graph();
    apply(&graph_v1, &get(addr, "/snapshot/0"));
    let diff = differences(&graph_v1, &expected, false);
    assert!(diff.is_empty(), "v1:\n{}", diff.join("\n"));

    // The wallet's graph after its first sync; now new gossip arrives at the node.
    let wallet = empty_graph();
    apply(&wallet, &full_v2);
    let later = recent() + 600;
    for variant in 6..8u32 {
        let channel = Channel::new(scid(800_000 + u64::from(variant)));
        send_channel(&mut peer, &mut expected, &channel, variant).await;
    }
    // A changed policy (fee and disabled) and a node's new addresses.
    let mut update = first[0].update_fields(1, later);
    update.fee_base_msat = 4242;
    update.channel_flags |= 2;
    send_policy(&mut peer, &mut expected, &first[0], update).await;
    let mut na = first[1].node_fields(0, later);
    na.addresses = vec![Address::Ipv6 {
        addr: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        port: 9736,
    }];
    peer.send(&first[1].sign_node(0, &na)).await;
    expected
        .nodes
        .insert(na.node_id, (na.features.clone(), encoded(&na.addresses)));
    peer.barrier().await;

    // The incremental since the wallet's sync brings it to our state.
    let (next_seen, full_after) = converge(addr, "/snapshot/v2/0", &expected, true);
    assert!(next_seen > latest_seen);
    let incremental = get(addr, &format!("/snapshot/v2/{latest_seen}"));
    assert!(
        incremental.len() < full_after.len() / 2,
        "incremental {} bytes vs full {}",
        incremental.len(),
        full_after.len()
    );
    assert_eq!(apply(&wallet, &incremental), next_seen);
    let diff = differences(&wallet, &expected, true);
    assert!(
        diff.is_empty(),
        "after the incremental:\n{}",
        diff.join("\n")
    );
    node.stop();
}

// Field lists of LND's lnrpc/lightning.proto (messages LightningNode, NodeAddress,
// RoutingPolicy, ChannelEdge, NodeInfo, ChannelGraph).
const LND_NODE: &[&str] = &[
    "last_update",
    "pub_key",
    "alias",
    "addresses",
    "color",
    "features",
];
const LND_ADDRESS: &[&str] = &["network", "addr"];
const LND_POLICY: &[&str] = &[
    "time_lock_delta",
    "min_htlc",
    "fee_base_msat",
    "fee_rate_milli_msat",
    "disabled",
    "max_htlc_msat",
    "last_update",
];
const LND_EDGE: &[&str] = &[
    "channel_id",
    "chan_point",
    "last_update",
    "node1_pub",
    "node2_pub",
    "capacity",
    "node1_policy",
    "node2_policy",
];
const LND_NODE_INFO: &[&str] = &["node", "num_channels", "total_capacity", "channels"];
const LND_FEATURE: &[&str] = &["name", "is_required", "is_known"];
// Core Lightning doc/schemas/listchannels.json: the required fields, and htlc_maximum_msat,
// the one optional one (additionalProperties: false).
const CLN_CHANNEL: &[&str] = &[
    "source",
    "destination",
    "short_channel_id",
    "direction",
    "public",
    "amount_msat",
    "message_flags",
    "channel_flags",
    "active",
    "last_update",
    "base_fee_millisatoshi",
    "fee_per_millionth",
    "delay",
    "htlc_minimum_msat",
    "features",
    "htlc_maximum_msat",
];
// doc/schemas/listnodes.json, a node with a node_announcement (last_timestamp present).
const CLN_NODE: &[&str] = &[
    "nodeid",
    "last_timestamp",
    "alias",
    "color",
    "features",
    "addresses",
];
const CLN_ADDRESS: &[&str] = &["type", "address", "port"];

/// `value` is an object with exactly `fields`.
fn assert_fields(value: &serde_json::Value, fields: &[&str], what: &str) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {value}"));
    let mut ours: Vec<&str> = object.keys().map(String::as_str).collect();
    let mut theirs = fields.to_vec();
    ours.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(
        ours, theirs,
        "{what}: fields differ from the schema: {value}"
    );
}

fn node_id_of(hex_id: &serde_json::Value) -> [u8; 33] {
    hex::decode(hex_id.as_str().expect("a hex string"))
        .expect("hex")
        .try_into()
        .expect("33 bytes")
}

fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let body = get(addr, path);
    serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(&body)))
}

fn check_lnd_node(node: &serde_json::Value, id: &[u8; 33], expected: &Expected) {
    assert_fields(node, LND_NODE, "LightningNode");
    assert_eq!(node["pub_key"], hex::encode(id));
    let addresses = node["addresses"].as_array().expect("addresses");
    assert_eq!(addresses.len(), expected.nodes[id].1.len());
    for address in addresses {
        assert_fields(address, LND_ADDRESS, "NodeAddress");
    }
    for feature in node["features"].as_object().expect("features").values() {
        assert_fields(feature, LND_FEATURE, "Feature");
    }
}

fn check_lnd_edge(edge: &serde_json::Value, expected: &Expected) {
    assert_fields(edge, LND_EDGE, "ChannelEdge");
    let scid: u64 = edge["channel_id"]
        .as_str()
        .expect("uint64 as a string")
        .parse()
        .expect("scid");
    let (nodes, policies) = &expected.channels[&scid];
    assert_eq!(edge["node1_pub"], hex::encode(nodes[0]));
    assert_eq!(edge["node2_pub"], hex::encode(nodes[1]));
    for (key, policy) in ["node1_policy", "node2_policy"].iter().zip(policies) {
        let ours = policy.as_ref().expect("both directions sent");
        let theirs = &edge[key];
        assert_fields(theirs, LND_POLICY, "RoutingPolicy");
        assert_eq!(theirs["fee_base_msat"], ours.fee_base_msat.to_string());
        assert_eq!(
            theirs["fee_rate_milli_msat"],
            ours.fee_proportional_millionths.to_string()
        );
        assert_eq!(theirs["time_lock_delta"], ours.cltv_expiry_delta);
        assert_eq!(theirs["min_htlc"], ours.htlc_minimum_msat.to_string());
        assert_eq!(
            theirs["max_htlc_msat"],
            ours.htlc_maximum_msat.expect("max").to_string()
        );
        assert_eq!(theirs["disabled"], ours.is_disabled());
        assert_eq!(theirs["last_update"], ours.timestamp);
    }
}

fn check_cln_channel(entry: &serde_json::Value, expected: &Expected) {
    assert_fields(entry, CLN_CHANNEL, "listchannels entry");
    let scid: gossip_sieve::wire::scid::ShortChannelId = entry["short_channel_id"]
        .as_str()
        .expect("scid text")
        .parse()
        .expect("BxTxO");
    let (nodes, policies) = &expected.channels[&u64::from(scid)];
    let direction = entry["direction"].as_u64().expect("direction") as usize;
    let ours = policies[direction].as_ref().expect("sent");
    assert_eq!(entry["source"], hex::encode(nodes[direction]));
    assert_eq!(entry["destination"], hex::encode(nodes[1 - direction]));
    assert_eq!(entry["base_fee_millisatoshi"], ours.fee_base_msat);
    assert_eq!(entry["fee_per_millionth"], ours.fee_proportional_millionths);
    assert_eq!(entry["delay"], ours.cltv_expiry_delta);
    assert_eq!(entry["active"], !ours.is_disabled());
    assert_eq!(
        entry["htlc_maximum_msat"],
        ours.htlc_maximum_msat.expect("max")
    );
}

fn check_cln_node(node: &serde_json::Value, expected: &Expected) {
    assert_fields(node, CLN_NODE, "listnodes entry");
    let id = node_id_of(&node["nodeid"]);
    let (features, addresses) = &expected.nodes[&id];
    assert_eq!(node["features"], hex::encode(features));
    let listed = node["addresses"].as_array().expect("addresses");
    assert_eq!(listed.len(), addresses.len());
    for address in listed {
        assert_fields(address, CLN_ADDRESS, "listnodes address");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graph_api_answers_in_lnd_and_cln_shapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, _peer, expected, channels) = node_with_channels(dir.path(), 600_000, 4).await;
    let addr = node.metrics;
    converge(addr, "/snapshot/v2/0", &expected, true);

    let id = channels[0].node_id(1);
    let hex_id = hex::encode(id);
    let info = get_json(addr, &format!("/api/v1/node/{hex_id}"));
    assert_fields(&info, LND_NODE_INFO, "NodeInfo");
    check_lnd_node(&info["node"], &id, &expected);
    assert_eq!(info["num_channels"], 1);
    assert_eq!(info["channels"].as_array().map(Vec::len), Some(0));
    let cln = get_json(addr, &format!("/api/v1/node/{hex_id}?format=cln"));
    assert_fields(&cln, &["nodes"], "listnodes");
    check_cln_node(&cln["nodes"][0], &expected);

    let with_channels = get_json(addr, &format!("/api/v1/node/{hex_id}/channels"));
    let edges = with_channels["channels"].as_array().expect("channels");
    assert_eq!(edges.len(), 1);
    check_lnd_edge(&edges[0], &expected);
    let cln = get_json(addr, &format!("/api/v1/node/{hex_id}/channels?format=cln"));
    assert_fields(&cln, &["channels"], "listchannels");
    let entries = cln["channels"].as_array().expect("channels");
    assert_eq!(entries.len(), 2, "both directions");
    for entry in entries {
        check_cln_channel(entry, &expected);
    }

    let text_scid =
        gossip_sieve::wire::scid::ShortChannelId::from_u64(channels[3].scid).to_string();
    check_lnd_edge(
        &get_json(addr, &format!("/api/v1/channel/{text_scid}")),
        &expected,
    );
    let cln = get_json(
        addr,
        &format!("/api/v1/channel/{}?format=cln", channels[3].scid),
    );
    for entry in cln["channels"].as_array().expect("channels") {
        check_cln_channel(entry, &expected);
    }

    let graph = get_json(addr, "/api/v1/graph");
    assert_fields(&graph, &["nodes", "edges"], "ChannelGraph");
    let edges = graph["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), expected.channels.len());
    for edge in edges {
        check_lnd_edge(edge, &expected);
    }
    let nodes = graph["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), expected.nodes.len());
    for n in nodes {
        let id = node_id_of(&n["pub_key"]);
        check_lnd_node(n, &id, &expected);
    }
    let graph = get_json(addr, "/api/v1/graph?format=cln");
    assert_fields(&graph, &["nodes", "channels"], "CLN graph");
    assert_eq!(
        graph["channels"].as_array().map(Vec::len),
        Some(2 * expected.channels.len())
    );
    for entry in graph["channels"].as_array().expect("channels") {
        check_cln_channel(entry, &expected);
    }
    for n in graph["nodes"].as_array().expect("nodes") {
        check_cln_node(n, &expected);
    }

    // Propagation: every first copy was sent an hour after its timestamp (forge::recent).
    let scrape = node.scrape();
    for (kind, count) in [("channel_update", 8.0), ("node_announcement", 8.0)] {
        let series = |suffix: &str, le: &str| {
            let name = format!("gossip_sieve_propagation_first_arrival_age_seconds_{suffix}");
            common::metrics::metric(&scrape, &format!("{name}{{type=\"{kind}\"{le}}}"))
        };
        assert_eq!(series("count", ""), count, "{kind}");
        assert_eq!(
            series("bucket", ",le=\"900\""),
            0.0,
            "{kind}: younger than 15 min"
        );
        assert_eq!(
            series("bucket", ",le=\"14400\""),
            count,
            "{kind}: within 4 h"
        );
    }

    let (status, _) = request_bytes(addr, "GET", "/api/v1/channel/1x2x3").expect("request");
    assert_eq!(status, 404);
    let (status, _) = request_bytes(addr, "GET", "/api/v1/graph?format=xml").expect("request");
    assert_eq!(status, 400);
    node.stop();
}

/// The raw messages of a `gsp` dump.
fn gsp_messages(bytes: &[u8]) -> Vec<Vec<u8>> {
    assert_eq!(&bytes[..4], b"GSP\x01", "magic and version");
    let mut rest = &bytes[4..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (len, skip) = match rest[0] {
            0xfd => (usize::from(u16::from_le_bytes([rest[1], rest[2]])), 3),
            n if n < 0xfd => (usize::from(n), 1),
            other => panic!("CompactSize prefix {other:#x} for a gossip message"),
        };
        out.push(rest[skip..skip + len].to_vec());
        rest = &rest[skip + len..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_the_latest_graph_and_the_graph_at_a_past_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, mut peer, mut expected, channels) = node_with_channels(dir.path(), 500_000, 3).await;
    // The first policies in the store file before a newer one is sent: the store skips writing
    // an update whose newer version is already in the graph (superseded), and `--at` below
    // needs the older record. Converged snapshots are read from the file.
    converge(node.metrics, "/snapshot/v2/0", &expected, true);
    let before = expected.channels[&channels[0].scid].1[0]
        .clone()
        .expect("policy");
    let mut update = channels[0].update_fields(0, before.timestamp + 600);
    update.fee_base_msat = 777;
    let newest = send_policy(&mut peer, &mut expected, &channels[0], update).await;
    peer.barrier().await;
    // Converged snapshots were read from the store file: everything is written.
    converge(node.metrics, "/snapshot/v2/0", &expected, true);
    node.stop();

    let store = dir.path().to_str().expect("utf-8 path");
    let export = |args: &[&str]| {
        let mut all = vec!["export", "--store", store];
        all.extend_from_slice(args);
        common::run_ok(&all).stdout
    };
    let fee_of = |graph: &serde_json::Value| {
        graph["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .find(|e| e["channel_id"].as_str() == Some(&channels[0].scid.to_string()))
            .map(|e| e["node1_policy"]["fee_base_msat"].clone())
    };
    let latest: serde_json::Value =
        serde_json::from_slice(&export(&["--format", "lnd-json"])).expect("JSON");
    assert_eq!(latest["edges"].as_array().map(Vec::len), Some(3));
    assert_eq!(fee_of(&latest), Some("777".into()));
    let at = (before.timestamp + 300).to_string();
    let then: serde_json::Value =
        serde_json::from_slice(&export(&["--format", "lnd-json", "--at", &at])).expect("JSON");
    assert_eq!(fee_of(&then), Some(before.fee_base_msat.to_string().into()));
    let cln: serde_json::Value =
        serde_json::from_slice(&export(&["--format", "cln-json"])).expect("JSON");
    assert_eq!(cln["channels"].as_array().map(Vec::len), Some(6));
    let early = (before.timestamp - 1).to_string();
    let none: serde_json::Value =
        serde_json::from_slice(&export(&["--format", "lnd-json", "--at", &early])).expect("JSON");
    assert_eq!(none["edges"].as_array().map(Vec::len), Some(0));

    // gsp: the whole history (the superseded update too), or exactly the graph at a time.
    let history = gsp_messages(&export(&["--format", "gsp"]));
    assert_eq!(
        history.len(),
        3 + 6 + 1 + 6,
        "announcements, updates, newer update, nodes"
    );
    let at_then = gsp_messages(&export(&["--format", "gsp", "--at", &at]));
    assert_eq!(at_then.len(), 3 + 6 + 6);
    assert!(at_then.iter().all(|m| history.contains(m)));
    assert!(history.contains(&newest) && !at_then.contains(&newest));
}
