//! LDK's gossip side without a socket: a `NetworkGraph` behind a `P2PGossipSync`, our wire
//! messages decoded with LDK's own deserializers and handed to the same `handle_*` calls its
//! `PeerManager` makes, and the graph LDK ends up with summarised for comparison.
//!
//! Shared by the interop test's LDK node and by `benches/ldk_compare.rs` (included there by
//! path), so both measure and compare exactly the same LDK code path.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use lightning::bitcoin::secp256k1::PublicKey;
use lightning::bitcoin::Network;
use lightning::ln::msgs::{
    self, ChannelAnnouncement, ChannelUpdate, LightningError, NodeAnnouncement,
    RoutingMessageHandler,
};
use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::utxo::UtxoLookup;
use lightning::util::logger::{Level, Logger, Record};
use lightning::util::ser::LengthReadable;

/// Prints LDK's warnings and errors to stderr; everything below is noise for a test or bench
/// unless `LDK_TRACE` is set (then every record, down to each gossip message LDK enqueues).
pub struct StderrLogger;

impl Logger for StderrLogger {
    fn log(&self, record: Record) {
        if record.level >= Level::Warn || std::env::var_os("LDK_TRACE").is_some() {
            eprintln!(
                "ldk {} {}:{} {}",
                record.level, record.module_path, record.line, record.args
            );
        }
    }
}

pub type Graph = NetworkGraph<Arc<StderrLogger>>;
/// `None` UTXO lookup: LDK then trusts channel_announcements without a chain check, as our
/// generated channels have no funding transactions to look up.
pub type GossipSync =
    P2PGossipSync<Arc<Graph>, Arc<dyn UtxoLookup + Send + Sync>, Arc<StderrLogger>>;

/// A mainnet `NetworkGraph` and a gossip sync over it with no UTXO lookup.
pub fn new_gossip_sync(logger: Arc<StderrLogger>) -> (Arc<Graph>, Arc<GossipSync>) {
    let graph = Arc::new(NetworkGraph::new(Network::Bitcoin, Arc::clone(&logger)));
    let sync = Arc::new(P2PGossipSync::new(Arc::clone(&graph), None, logger));
    (graph, sync)
}

/// One gossip message as LDK's types.
// Each value is decoded and applied at once; boxing the announcement would add an allocation
// to the measured LDK path that its own PeerManager does not make.
#[allow(clippy::large_enum_variant)]
pub enum LdkGossip {
    ChannelAnnouncement(ChannelAnnouncement),
    ChannelUpdate(ChannelUpdate),
    NodeAnnouncement(NodeAnnouncement),
}

/// Decodes a wire message (2-byte type first) with LDK's deserializers.
pub fn decode(msg: &[u8]) -> Result<LdkGossip, String> {
    let (ty, mut body) = match msg {
        [hi, lo, rest @ ..] => (u16::from_be_bytes([*hi, *lo]), rest),
        _ => return Err(format!("{}-byte message has no type", msg.len())),
    };
    let err = |e: msgs::DecodeError| format!("LDK cannot decode type {ty}: {e:?}");
    Ok(match ty {
        256 => LdkGossip::ChannelAnnouncement(
            LengthReadable::read_from_fixed_length_buffer(&mut body).map_err(err)?,
        ),
        257 => LdkGossip::NodeAnnouncement(
            LengthReadable::read_from_fixed_length_buffer(&mut body).map_err(err)?,
        ),
        258 => LdkGossip::ChannelUpdate(
            LengthReadable::read_from_fixed_length_buffer(&mut body).map_err(err)?,
        ),
        other => return Err(format!("type {other} is not gossip")),
    })
}

/// Hands a decoded message to LDK exactly as its `PeerManager` does for a peer's message.
pub fn apply(
    sync: &GossipSync,
    from: Option<PublicKey>,
    msg: &LdkGossip,
) -> Result<bool, LightningError> {
    match msg {
        LdkGossip::ChannelAnnouncement(m) => sync.handle_channel_announcement(from, m),
        LdkGossip::ChannelUpdate(m) => sync.handle_channel_update(from, m),
        LdkGossip::NodeAnnouncement(m) => sync.handle_node_announcement(from, m),
    }
}

/// The graph as a peer syncing from LDK must end up with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpectedGraph {
    pub channels: usize,
    /// Nodes with at least one channel (LDK forgets nodes whose last channel goes).
    pub nodes: usize,
    /// Nodes whose node_announcement LDK holds.
    pub node_announcements: usize,
    /// (scid, direction bit) → timestamp of the channel_update LDK holds.
    pub updates: BTreeMap<(u64, u8), u32>,
}

impl ExpectedGraph {
    pub fn of(graph: &Graph) -> Self {
        let ro = graph.read_only();
        let mut updates = BTreeMap::new();
        for (scid, chan) in ro.channels().unordered_iter() {
            if let Some(u) = &chan.one_to_two {
                updates.insert((*scid, 0), u.last_update);
            }
            if let Some(u) = &chan.two_to_one {
                updates.insert((*scid, 1), u.last_update);
            }
        }
        ExpectedGraph {
            channels: ro.channels().len(),
            nodes: ro.nodes().len(),
            node_announcements: ro
                .nodes()
                .unordered_iter()
                .filter(|(_, n)| n.announcement_info.is_some())
                .count(),
            updates,
        }
    }

    pub fn channel_updates(&self) -> usize {
        self.updates.len()
    }
}
