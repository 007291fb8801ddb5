//! The graph as the hand-out serves it: every channel with its features, funding amount and
//! both directions' policies, every node with its announcement, parsed once from the store's
//! bytes. Snapshots, the JSON API and exports all read this one model, so they agree.
//!
//! The live graph index ([`Graph`]) holds no bytes: it says which message is current per key.
//! A model is built by reading the store front to back and keeping, per key, the record the
//! chosen [`Selection`] wants. Records the graph has accepted but the store has not written
//! yet are simply not in this model; the next build finds them.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use crate::graph::{Graph, NodeId, UpdateStanding};
use crate::store::first_seen::{FirstSeen, SeenKey};
use crate::store::{ReaderOptions, RecordKind, StoreError, StoreReader, StoreRecord};
use crate::wire::address::Address;
use crate::wire::gossip::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement};

/// One direction's policy (the fields of its newest channel_update).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub timestamp: u32,
    pub message_flags: u8,
    pub channel_flags: u8,
    pub cltv_expiry_delta: u16,
    pub htlc_minimum_msat: u64,
    pub fee_base_msat: u32,
    pub fee_proportional_millionths: u32,
    pub htlc_maximum_msat: u64,
    /// When the hand-out first saw this update (see [`crate::store::first_seen`]).
    pub seen: u32,
}

impl Policy {
    pub fn is_disabled(&self) -> bool {
        self.channel_flags & 2 != 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelInfo {
    pub short_channel_id: u64,
    /// Indices into [`GraphModel::nodes`]; `nodes[0]` is node_id_1.
    pub nodes: [u32; 2],
    pub features: Vec<u8>,
    /// Funding amount from the store's `channel_amount` record; 0 while unknown (no chain
    /// backend has looked it up).
    pub amount_sat: u64,
    /// `txid:vout` of the funding output, as LND's `chan_point`; known only to a running node
    /// that validated the channel on chain (the store keeps no outpoint), else `None`.
    pub funding_outpoint: Option<String>,
    pub seen: u32,
    /// Index = direction (`channel_flags & 1`): 0 is signed by node_id_1.
    pub policies: [Option<Policy>; 2],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeDetails {
    pub timestamp: u32,
    pub features: Vec<u8>,
    pub rgb_color: [u8; 3],
    pub alias: [u8; 32],
    pub addresses: Vec<Address>,
    pub seen: u32,
}

impl NodeDetails {
    /// The alias without its zero padding, lossily as UTF-8.
    pub fn alias_text(&self) -> String {
        let end = self.alias.iter().position(|b| *b == 0).unwrap_or(32);
        String::from_utf8_lossy(&self.alias[..end]).into_owned()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub node_id: NodeId,
    /// `None` for a node that has channels but no node_announcement.
    pub announcement: Option<NodeDetails>,
    /// Its channels' scids, ascending.
    pub channels: Vec<u64>,
}

/// Which store records a build keeps.
#[derive(Clone, Copy)]
pub enum Selection<'a> {
    /// Exactly the messages the live graph holds as current (a record the graph has already
    /// replaced, or a channel it forgot, is left out).
    Live(&'a Graph),
    /// The newest non-deleted record per key (an offline store).
    Latest,
    /// The graph as it stood at this unix time: per key the newest record with a timestamp at
    /// or before it, deleted (superseded) records included; a channel counts once one of its
    /// updates is that old (an announcement carries no time of its own).
    At(u32),
}

impl Selection<'_> {
    fn reader_options(&self) -> ReaderOptions {
        ReaderOptions {
            skip_deleted: !matches!(self, Selection::At(_)),
            // Core Lightning's own readers ignore the crc; a foreign store may have a bad one.
            verify_crc: false,
        }
    }
}

#[derive(Default, Debug)]
pub struct GraphModel {
    /// Ascending by scid (RGS delta-encodes in this order).
    pub channels: BTreeMap<u64, ChannelInfo>,
    pub nodes: Vec<NodeInfo>,
    index: HashMap<NodeId, u32>,
}

impl GraphModel {
    /// Reads a whole store and keeps what `selection` wants.
    pub fn from_store(input: impl Read, selection: Selection<'_>) -> Result<Self, StoreError> {
        let mut reader = StoreReader::with_options(input, selection.reader_options())?;
        let mut builder = Builder {
            selection,
            model: GraphModel::default(),
            last_announcement: None,
            pending_nodes: HashMap::new(),
        };
        while let Some(record) = reader.next_record()? {
            builder.add(&record);
        }
        Ok(builder.finish())
    }

    pub fn node(&self, index: u32) -> Option<&NodeInfo> {
        self.nodes.get(usize::try_from(index).ok()?)
    }

    pub fn node_by_id(&self, node_id: &NodeId) -> Option<&NodeInfo> {
        self.node(*self.index.get(node_id)?)
    }

    pub fn node_id(&self, index: u32) -> NodeId {
        self.node(index).map_or([0; 33], |n| n.node_id)
    }

    /// Records when each message was first seen, `now` for those new to `first_seen`, and
    /// forgets the keys no longer in the model.
    pub fn assign_seen(&mut self, first_seen: &mut FirstSeen, now: u32) {
        for channel in self.channels.values_mut() {
            let scid = channel.short_channel_id;
            channel.seen = first_seen.note(SeenKey::Channel(scid), 0, now);
            for (direction, policy) in channel.policies.iter_mut().enumerate() {
                if let Some(policy) = policy {
                    let key = SeenKey::Update(scid, direction as u8);
                    policy.seen = first_seen.note(key, policy.timestamp, now);
                }
            }
        }
        for node in &mut self.nodes {
            if let Some(details) = &mut node.announcement {
                let key = SeenKey::Node(node.node_id);
                details.seen = first_seen.note(key, details.timestamp, now);
            }
        }
        first_seen.retain(|key| match key {
            SeenKey::Channel(scid) => self.channels.contains_key(scid),
            SeenKey::Update(scid, direction) => self
                .channels
                .get(scid)
                .and_then(|c| c.policies.get(usize::from(*direction))?.as_ref())
                .is_some(),
            SeenKey::Node(id) => self
                .node_by_id(id)
                .is_some_and(|n| n.announcement.is_some()),
        });
    }

    fn intern(&mut self, node_id: NodeId) -> u32 {
        if let Some(index) = self.index.get(&node_id) {
            return *index;
        }
        let index = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        self.nodes.push(NodeInfo {
            node_id,
            announcement: None,
            channels: Vec::new(),
        });
        self.index.insert(node_id, index);
        index
    }
}

struct Builder<'a> {
    selection: Selection<'a>,
    model: GraphModel,
    /// The channel a following `channel_amount` record belongs to.
    last_announcement: Option<u64>,
    /// node_announcements read before any channel of theirs (only possible in a foreign store).
    pending_nodes: HashMap<NodeId, NodeDetails>,
}

impl Builder<'_> {
    fn add(&mut self, record: &StoreRecord) {
        match record.kind() {
            Some(RecordKind::ChannelAnnouncement) => self.announcement(&record.msg),
            Some(RecordKind::ChannelAmount) => {
                if let (Some(scid), Some(amount)) = (self.last_announcement, amount(&record.msg)) {
                    if let Some(channel) = self.model.channels.get_mut(&scid) {
                        channel.amount_sat = amount;
                    }
                }
            }
            Some(RecordKind::ChannelUpdate) => self.update(&record.msg),
            Some(RecordKind::NodeAnnouncement) => self.node(&record.msg),
            Some(RecordKind::DeleteChan) if !matches!(self.selection, Selection::At(_)) => {
                if let Some(scid) = record.msg.get(2..10).and_then(|b| b.try_into().ok()) {
                    self.model.channels.remove(&u64::from_be_bytes(scid));
                }
            }
            _ => {}
        }
    }

    fn announcement(&mut self, msg: &[u8]) {
        self.last_announcement = None;
        let Ok(ca) = ChannelAnnouncement::parse(msg) else {
            return;
        };
        let scid = ca.short_channel_id;
        if let Selection::Live(graph) = self.selection {
            if !graph.has_channel(scid) {
                return;
            }
        }
        self.last_announcement = Some(scid);
        let nodes = [
            self.model.intern(ca.node_id_1),
            self.model.intern(ca.node_id_2),
        ];
        self.model.channels.insert(
            scid,
            ChannelInfo {
                short_channel_id: scid,
                nodes,
                features: ca.features,
                amount_sat: 0,
                funding_outpoint: None,
                seen: 0,
                policies: [None, None],
            },
        );
    }

    fn update(&mut self, msg: &[u8]) {
        let Ok(cu) = ChannelUpdate::parse(msg) else {
            return;
        };
        let direction = usize::from(cu.direction());
        let wanted = match self.selection {
            Selection::Live(graph) => {
                graph.update_standing(cu.short_channel_id, direction)
                    == UpdateStanding::Known(Some(cu.timestamp))
            }
            Selection::Latest => true,
            Selection::At(at) => cu.timestamp <= at,
        };
        let Some(channel) = self.model.channels.get_mut(&cu.short_channel_id) else {
            return;
        };
        let Some(slot) = channel.policies.get_mut(direction) else {
            return;
        };
        if !wanted || slot.as_ref().is_some_and(|p| p.timestamp > cu.timestamp) {
            return;
        }
        *slot = Some(Policy {
            timestamp: cu.timestamp,
            message_flags: cu.message_flags,
            channel_flags: cu.channel_flags,
            cltv_expiry_delta: cu.cltv_expiry_delta,
            htlc_minimum_msat: cu.htlc_minimum_msat,
            fee_base_msat: cu.fee_base_msat,
            fee_proportional_millionths: cu.fee_proportional_millionths,
            htlc_maximum_msat: cu.htlc_maximum_msat.unwrap_or(0),
            seen: 0,
        });
    }

    fn node(&mut self, msg: &[u8]) {
        let Ok(na) = NodeAnnouncement::parse(msg) else {
            return;
        };
        let wanted = match self.selection {
            Selection::Live(graph) => graph.node_standing(&na.node_id) == Some(Some(na.timestamp)),
            Selection::Latest => true,
            Selection::At(at) => na.timestamp <= at,
        };
        if !wanted {
            return;
        }
        let details = NodeDetails {
            timestamp: na.timestamp,
            features: na.features,
            rgb_color: na.rgb_color,
            alias: na.alias,
            addresses: na.addresses,
            seen: 0,
        };
        let slot = match self.model.index.get(&na.node_id) {
            Some(index) => self
                .model
                .nodes
                .get_mut(usize::try_from(*index).unwrap_or(usize::MAX))
                .map(|n| &mut n.announcement),
            None => None,
        };
        let slot = match slot {
            Some(slot) => slot,
            None => {
                let waiting = self
                    .pending_nodes
                    .entry(na.node_id)
                    .or_insert(details.clone());
                if waiting.timestamp < details.timestamp {
                    *waiting = details;
                }
                return;
            }
        };
        if slot
            .as_ref()
            .is_none_or(|d| d.timestamp <= details.timestamp)
        {
            *slot = Some(details);
        }
    }

    fn finish(mut self) -> GraphModel {
        let mut model = std::mem::take(&mut self.model);
        for (node_id, details) in self.pending_nodes.drain() {
            if let Some(index) = model.index.get(&node_id) {
                if let Some(node) = model
                    .nodes
                    .get_mut(usize::try_from(*index).unwrap_or(usize::MAX))
                {
                    if node
                        .announcement
                        .as_ref()
                        .is_none_or(|d| d.timestamp < details.timestamp)
                    {
                        node.announcement = Some(details);
                    }
                }
            }
        }
        if let Selection::At(_) = self.selection {
            // A channel with no update as old as the asked time did not exist yet then.
            model
                .channels
                .retain(|_, c| c.policies.iter().any(Option::is_some));
        }
        for channel in model.channels.values() {
            for index in channel.nodes {
                if let Some(node) = model
                    .nodes
                    .get_mut(usize::try_from(index).unwrap_or(usize::MAX))
                {
                    node.channels.push(channel.short_channel_id);
                }
            }
        }
        // A node whose channels all went (deleted, or too new for the asked time) stays in the
        // index so channel indices remain valid, but has no channels: readers skip it.
        model
    }
}

/// The satoshis of a `gossip_store_channel_amount` record (type 4101, `u64`).
fn amount(msg: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(msg.get(2..10)?.try_into().ok()?))
}
