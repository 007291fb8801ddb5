//! Streaming the gossip_store to one peer, the way Core Lightning's connectd does: a cursor
//! walks the file from the start (or from its end, for a peer that asked for no past gossip),
//! applies the peer's `gossip_timestamp_filter`, and at the end of the file waits for the store
//! to publish more: relay is the cursor reaching the end. Nothing of the graph is copied per
//! peer; what a peer costs is its cursor, its queued bytes and a few small bounded sets.
//!
//! BOLT 7 rules kept here:
//! - "MUST NOT relay any gossip messages it did not generate itself, unless explicitly
//!   requested": a gossip_queries peer gets nothing until its filter (see `Session`).
//! - channel_announcement: "if it has no corresponding channel_updates: MUST NOT send",
//!   "MUST consider the timestamp of the channel_announcement to be the timestamp of a
//!   corresponding channel_update", "MUST consider whether to send the channel_announcement
//!   after receiving the first corresponding channel_update". An announcement whose channel
//!   has no update in the peer's range yet is held back (a bounded set of scids) and sent just
//!   before the first update of it the cursor sends; the store writes every update after its
//!   announcement, so the announcement always goes first.
//! - "If a channel_announcement is sent: MUST send the channel_announcement prior to any
//!   corresponding channel_updates and node_announcements": the store writes a
//!   node_announcement only after one of its channel_announcements, and the cursor follows file
//!   order. When every stored channel of the node is held back, its node_announcement is held
//!   too (its offset, a bounded map) and sent right after the first of those channels goes; a
//!   node none of whose channels goes to this peer gets no node_announcement to it
//!   (lnprototest's test_gossip_timestamp_filter checks it). If the held sets overflow, the
//!   old order comes back for the evicted ones: the receiver ignores such a node_announcement,
//!   as LDK and CLN do with a node they have no channel for.
//! - `dont_forward` updates are never sent; DELETED (superseded or forgotten) records neither.
//! - Never echo: what the peer sent us recently is not sent back (see `serve::echo`).
//!
//! Pacing: the per-peer byte budget (a token bucket), then the stream lane, which waits while
//! the writer has not drained it: a slow reader is streamed more slowly, never buffered
//! without bound and never disconnected for it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::watch;

use super::inbound::{ByteBucket, FRAME_OVERHEAD};
use super::outbound::Lane;
use crate::graph::{Graph, NodeId};
use crate::peer::serve::echo::RecentlyReceived;
use crate::peer::serve::fields::{
    announcement_scid, node_announcement_id, servable, update_fields, DONT_FORWARD,
};
use crate::peer::serve::Serving;
use crate::store::{TailCursor, TailRecord};
use crate::wire::kind::{message_kind, GossipKind};
use crate::wire::queries::GossipTimestampFilter;

/// Where a stream begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StreamStart {
    /// From the store's first record: a filter asking for the past, or initial_routing_sync.
    Beginning,
    /// From the store's end: only what arrives from now on.
    End,
}

/// What the peer asked to be streamed; a new request restarts the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct StreamRequest {
    /// `None`: everything (a peer without gossip_queries has no filter).
    pub(super) filter: Option<GossipTimestampFilter>,
    pub(super) start: StreamStart,
}

impl StreamRequest {
    fn admits(&self, timestamp: u32) -> bool {
        self.filter.is_none_or(|f| f.admits(timestamp))
    }
}

/// One peer's stream.
pub(super) struct Streamer {
    pub(super) serving: Arc<Serving>,
    pub(super) graph: Arc<Graph>,
    pub(super) lane: Lane,
    pub(super) echo: Arc<Mutex<RecentlyReceived>>,
    pub(super) requests: watch::Receiver<Option<StreamRequest>>,
}

/// How often a stream blocked on a slow reader still reports its lag.
const LAG_REPORT_EVERY: Duration = Duration::from_secs(5);

impl Streamer {
    /// Streams until the session ends (the request sender or the lane goes away).
    pub(super) async fn run(mut self) {
        let Some(tail) = self.serving.tail.clone() else {
            return;
        };
        let rate = self.serving.config.peer_bytes_per_sec;
        let mut budget = ByteBucket::new(rate, rate / 4);
        let mut lag = LagReport::new(self.serving.clone());
        loop {
            let request = loop {
                if let Some(request) = *self.requests.borrow_and_update() {
                    break request;
                }
                if self.requests.changed().await.is_err() {
                    return;
                }
            };
            let mut walk = Walk {
                cursor: match request.start {
                    StreamStart::Beginning => TailCursor::at_start(tail.clone()),
                    StreamStart::End => TailCursor::at_end(tail.clone()),
                },
                request,
                held: HashSet::new(),
                held_per_node: HashMap::new(),
                held_nodes: HashMap::new(),
                lost_reported: 0,
            };
            let _streaming = Streaming::start(&self.serving);
            let mut since_yield = 0u32;
            loop {
                match self.requests.has_changed() {
                    Ok(false) => {}
                    Ok(true) => break,
                    Err(_) => return,
                }
                match walk.cursor.next_record() {
                    Ok(Some(record)) => {
                        for msg in walk.decide(record, &self) {
                            if let Some(wait) = budget.charge(msg.len() as u64 + FRAME_OVERHEAD) {
                                tokio::time::sleep(wait).await;
                            }
                            if self.send(msg, &walk.cursor, &mut lag).await.is_err() {
                                return;
                            }
                        }
                        since_yield += 1;
                        // Sessions share a thread: let the others run during a long dump.
                        if since_yield >= 64 {
                            since_yield = 0;
                            lag.update(walk.cursor.lag());
                            tokio::task::yield_now().await;
                        }
                    }
                    Ok(None) => {
                        lag.update(walk.cursor.lag());
                        walk.report_lost(&self.serving);
                        tokio::select! {
                            _ = walk.cursor.changed() => {}
                            changed = self.requests.changed() => {
                                if changed.is_err() {
                                    return;
                                }
                                break;
                            }
                        }
                    }
                    Err(err) => {
                        tracing::warn!(%err, "reading gossip_store for a peer failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
    }

    /// Queues `msg` on the stream lane, reporting the lag meanwhile if the reader is slow.
    async fn send(
        &self,
        msg: Vec<u8>,
        cursor: &TailCursor,
        lag: &mut LagReport,
    ) -> Result<(), super::outbound::Closed> {
        let send = self.lane.send(msg);
        tokio::pin!(send);
        loop {
            tokio::select! {
                sent = &mut send => return sent,
                _ = tokio::time::sleep(LAG_REPORT_EVERY) => lag.update(cursor.lag()),
            }
        }
    }
}

/// One pass of the cursor under one request.
struct Walk {
    cursor: TailCursor,
    request: StreamRequest,
    /// Announcements held back until their first in-range update.
    held: HashSet<u64>,
    /// How many of `held` each node is in (at most two entries per held announcement).
    held_per_node: HashMap<NodeId, u32>,
    /// node_announcements held until one of their node's channels is sent: their offsets.
    held_nodes: HashMap<NodeId, u64>,
    lost_reported: u64,
}

impl Walk {
    /// What to send for `record`: nothing, the message, or a held announcement and then it.
    fn decide(&mut self, record: TailRecord, s: &Streamer) -> Vec<Vec<u8>> {
        if record.header.is_deleted() {
            return Vec::new();
        }
        let msg = record.msg;
        let Some(kind) = message_kind(&msg) else {
            // Store-internal records (amounts, uuid, ...).
            return Vec::new();
        };
        // More than LDK's 1,024 excess bytes: stored, never served (see `servable`).
        if !servable(&msg) {
            return Vec::new();
        }
        match kind {
            GossipKind::ChannelAnnouncement => {
                let Some(scid) = announcement_scid(&msg) else {
                    return Vec::new();
                };
                let Some(channel) = s.graph.channel(scid) else {
                    return Vec::new();
                };
                let in_range = channel
                    .updates
                    .iter()
                    .flatten()
                    .any(|u| self.request.admits(u.timestamp));
                if !in_range {
                    self.hold(scid, [channel.node_id_1, channel.node_id_2], s);
                    return Vec::new();
                }
                if s.echo.lock().contains(&msg) {
                    return Vec::new();
                }
                vec![msg]
            }
            GossipKind::ChannelUpdate => {
                let Some(f) = update_fields(&msg) else {
                    return Vec::new();
                };
                // BOLT 7 dont_forward: "MUST NOT forward" (it describes a private channel).
                if f.message_flags & DONT_FORWARD != 0 || !self.request.admits(f.timestamp) {
                    return Vec::new();
                }
                let held = self.release(f.short_channel_id, &s.graph);
                if s.echo.lock().contains(&msg) {
                    return Vec::new();
                }
                let mut out = Vec::with_capacity(2);
                if let Some(nodes) = held {
                    out.extend(self.held_announcement(f.short_channel_id, &s.graph));
                    out.push(msg);
                    // Their node_announcements may follow now that a channel of theirs went.
                    for node in nodes {
                        out.extend(self.held_node_announcement(&node));
                    }
                    return out;
                }
                out.push(msg);
                out
            }
            GossipKind::NodeAnnouncement => {
                let Some(node_id) = node_announcement_id(&msg) else {
                    return Vec::new();
                };
                if !self.request.admits(record.header.timestamp)
                    || !s.graph.node_has_stored_channel(&node_id)
                    || s.echo.lock().contains(&msg)
                {
                    return Vec::new();
                }
                let held_channels = self.held_per_node.get(&node_id).copied().unwrap_or(0);
                if held_channels > 0 && held_channels >= s.graph.stored_channel_count(&node_id) {
                    // None of its channels has gone to this peer: not before one does.
                    let cap = s.serving.config.held_announcements.max(1);
                    if self.held_nodes.len() < cap || self.held_nodes.contains_key(&node_id) {
                        self.held_nodes.insert(node_id, record.offset);
                        return Vec::new();
                    }
                }
                vec![msg]
            }
        }
    }

    fn hold(&mut self, scid: u64, nodes: [NodeId; 2], s: &Streamer) {
        if self.held.len() >= s.serving.config.held_announcements.max(1) {
            // Full: forget one. Its channel's updates then go without the announcement, which
            // a receiver ignores as for an unknown channel; bounded memory matters more.
            if let Some(any) = self.held.iter().next().copied() {
                self.release(any, &s.graph);
            }
        }
        if self.held.insert(scid) {
            for node in nodes {
                *self.held_per_node.entry(node).or_insert(0) += 1;
            }
        }
    }

    /// Stops holding `scid`; its two nodes if it was held.
    fn release(&mut self, scid: u64, graph: &Graph) -> Option<[NodeId; 2]> {
        if !self.held.remove(&scid) {
            return None;
        }
        let channel = graph.channel(scid);
        let nodes = channel.map(|c| [c.node_id_1, c.node_id_2]);
        match nodes {
            Some(nodes) => {
                for node in nodes {
                    if let Some(count) = self.held_per_node.get_mut(&node) {
                        *count = count.saturating_sub(1);
                        if *count == 0 {
                            self.held_per_node.remove(&node);
                        }
                    }
                }
            }
            // Forgotten meanwhile: its nodes' counts can no longer be found; start over
            // rather than let them hold node_announcements back for good.
            None => self.held_per_node.clear(),
        }
        nodes
    }

    /// The held node_announcement of `node`, read back, if it is still the live one.
    fn held_node_announcement(&mut self, node: &NodeId) -> Option<Vec<u8>> {
        let offset = self.held_nodes.remove(node)?;
        let (header, msg) = self.cursor.read_at(offset).ok()??;
        (!header.is_deleted() && node_announcement_id(&msg) == Some(*node)).then_some(msg)
    }

    /// The live announcement of `scid`, read back at the offset the graph holds.
    fn held_announcement(&self, scid: u64, graph: &Graph) -> Option<Vec<u8>> {
        let offset = graph.channel(scid)?.announcement_offset?;
        let (header, msg) = self.cursor.read_at(offset).ok()??;
        (!header.is_deleted() && announcement_scid(&msg) == Some(scid)).then_some(msg)
    }

    fn report_lost(&mut self, serving: &Serving) {
        let lost = self.cursor.lost_positions();
        if lost > self.lost_reported {
            serving
                .metrics
                .stream_positions_lost
                .inc_by(lost - self.lost_reported);
            self.lost_reported = lost;
        }
    }
}

/// Counts the peer in `serve_streaming_peers` while a stream runs.
struct Streaming(Arc<Serving>);

impl Streaming {
    fn start(serving: &Arc<Serving>) -> Self {
        serving.metrics.streaming_peers.inc();
        Streaming(serving.clone())
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        self.0.metrics.streaming_peers.dec();
    }
}

/// This peer's share of the lag gauges: its lag in the sum, and whether it counts as behind.
struct LagReport {
    serving: Arc<Serving>,
    reported: i64,
    behind_since: Option<Instant>,
    counted_behind: bool,
}

impl LagReport {
    fn new(serving: Arc<Serving>) -> Self {
        LagReport {
            serving,
            reported: 0,
            behind_since: None,
            counted_behind: false,
        }
    }

    fn update(&mut self, lag: u64) {
        let lag = i64::try_from(lag).unwrap_or(i64::MAX);
        let metrics = &self.serving.metrics;
        metrics.stream_lag_bytes.add(lag - self.reported);
        self.reported = lag;
        let config = &self.serving.config;
        if lag as u64 > config.behind_bytes {
            let since = *self.behind_since.get_or_insert_with(Instant::now);
            if !self.counted_behind && since.elapsed() >= config.behind_after {
                self.counted_behind = true;
                metrics.peers_behind.inc();
            }
        } else {
            self.behind_since = None;
            if std::mem::take(&mut self.counted_behind) {
                metrics.peers_behind.dec();
            }
        }
    }
}

impl Drop for LagReport {
    fn drop(&mut self) {
        self.serving.metrics.stream_lag_bytes.sub(self.reported);
        if self.counted_behind {
            self.serving.metrics.peers_behind.dec();
        }
    }
}
