//! The serving side's series (prefix `gossip_sieve_`), registered into the node's registry.
//! Per-peer values are aggregated here (sums, counts of peers over a bound) so the series count
//! does not grow with the number of peers.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::wire::GossipKind;

/// Query outcomes, each zero-initialised.
pub const QUERY_OUTCOMES: &[&str] = &["answered", "refused_outstanding", "wrong_chain"];
/// Queries we answer.
pub const QUERY_TYPES: &[&str] = &["query_channel_range", "query_short_channel_ids"];

pub struct ServeMetrics {
    sent_messages: Vec<IntCounter>,
    sent_bytes: Vec<IntCounter>,
    /// Bytes queued for peers and not yet taken by the kernel, over all peers and lanes.
    pub outbound_buffer_bytes: IntGauge,
    /// Messages queued for peers, over all peers and lanes.
    pub outbound_buffer_messages: IntGauge,
    /// Sum over streaming peers of how far each cursor trails the store's flushed end.
    pub stream_lag_bytes: IntGauge,
    /// Peers whose cursor has trailed the end by more than the serving `behind_bytes` for
    /// longer than `behind_after`.
    pub peers_behind: IntGauge,
    /// Peers with a running stream (filter received, or initial_routing_sync/relay).
    pub streaming_peers: IntGauge,
    /// Cursors that could not follow a compaction and jumped to the end.
    pub stream_positions_lost: IntCounter,
    queries: IntCounterVec,
    /// reply_channel_range and reply_short_channel_ids_end messages sent.
    reply_messages: IntCounterVec,
    /// 1 once our own initial sync is complete (see `serve::sync`).
    pub sync_complete: IntGauge,
    /// Sessions whose gossip dump to us has not finished.
    pub sync_peers_dumping: IntGauge,
}

fn name(short: &str) -> String {
    format!("gossip_sieve_{short}")
}

impl ServeMetrics {
    /// Registers into `registry`; a series already registered there (a second context on the
    /// same registry, in tests) is kept unregistered rather than failing.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let sent = IntCounterVec::new(
            Opts::new(
                name("gossip_sent_total"),
                "Gossip messages sent to peers, by type",
            ),
            &["type"],
        )?;
        let sent_bytes = IntCounterVec::new(
            Opts::new(
                name("gossip_sent_bytes_total"),
                "Bytes of gossip messages sent to peers (before BOLT 8 framing), by type",
            ),
            &["type"],
        )?;
        let gauge = |short: &str, help: &str| IntGauge::with_opts(Opts::new(name(short), help));
        let outbound_buffer_bytes = gauge(
            "outbound_buffer_bytes",
            "Bytes queued for peers and not yet written to their sockets, all peers together",
        )?;
        let outbound_buffer_messages = gauge(
            "outbound_buffer_messages",
            "Messages queued for peers and not yet written, all peers together",
        )?;
        let stream_lag_bytes = gauge(
            "serve_stream_lag_bytes",
            "Sum over streaming peers of the gossip_store bytes their cursor trails the end by",
        )?;
        let peers_behind = gauge(
            "serve_peers_behind",
            "Streaming peers stuck far behind the gossip_store's end for a long time",
        )?;
        let streaming_peers = gauge("serve_streaming_peers", "Peers we stream gossip to")?;
        let stream_positions_lost = IntCounter::with_opts(Opts::new(
            name("serve_stream_positions_lost_total"),
            "Peer cursors that missed two compactions and resumed at the store's end",
        ))?;
        let queries = IntCounterVec::new(
            Opts::new(
                name("queries_received_total"),
                "BOLT 7 queries received, by type and outcome",
            ),
            &["type", "outcome"],
        )?;
        let reply_messages = IntCounterVec::new(
            Opts::new(
                name("query_replies_sent_total"),
                "Query reply messages sent (reply_channel_range, reply_short_channel_ids_end)",
            ),
            &["type"],
        )?;
        let sync_complete = gauge(
            "sync_complete",
            "1 once our own initial sync finished: peers' dumps done and the pipeline drained",
        )?;
        let sync_peers_dumping = gauge(
            "sync_peers_dumping",
            "Connected peers whose gossip dump to us has not finished",
        )?;
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(sent.clone()),
            Box::new(sent_bytes.clone()),
            Box::new(outbound_buffer_bytes.clone()),
            Box::new(outbound_buffer_messages.clone()),
            Box::new(stream_lag_bytes.clone()),
            Box::new(peers_behind.clone()),
            Box::new(streaming_peers.clone()),
            Box::new(stream_positions_lost.clone()),
            Box::new(queries.clone()),
            Box::new(reply_messages.clone()),
            Box::new(sync_complete.clone()),
            Box::new(sync_peers_dumping.clone()),
        ];
        for collector in collectors {
            match registry.register(collector) {
                Ok(()) | Err(prometheus::Error::AlreadyReg) => {}
                Err(err) => return Err(err),
            }
        }
        for t in QUERY_TYPES {
            for outcome in QUERY_OUTCOMES {
                queries.with_label_values(&[t, outcome]);
            }
        }
        for t in ["reply_channel_range", "reply_short_channel_ids_end"] {
            reply_messages.with_label_values(&[t]);
        }
        Ok(ServeMetrics {
            sent_messages: GossipKind::ALL
                .iter()
                .map(|k| sent.with_label_values(&[k.as_str()]))
                .collect(),
            sent_bytes: GossipKind::ALL
                .iter()
                .map(|k| sent_bytes.with_label_values(&[k.as_str()]))
                .collect(),
            outbound_buffer_bytes,
            outbound_buffer_messages,
            stream_lag_bytes,
            peers_behind,
            streaming_peers,
            stream_positions_lost,
            queries,
            reply_messages,
            sync_complete,
            sync_peers_dumping,
        })
    }

    /// A gossip message of `kind` and `bytes` was written to a peer.
    pub fn gossip_sent(&self, kind: GossipKind, bytes: usize) {
        if let (Some(m), Some(b)) = (
            self.sent_messages.get(kind.index()),
            self.sent_bytes.get(kind.index()),
        ) {
            m.inc();
            b.inc_by(bytes as u64);
        }
    }

    /// Messages of `kind` sent (tests).
    pub fn gossip_sent_count(&self, kind: GossipKind) -> u64 {
        self.sent_messages.get(kind.index()).map_or(0, |m| m.get())
    }

    pub fn query(&self, query_type: &str, outcome: &str) {
        self.queries.with_label_values(&[query_type, outcome]).inc();
    }

    pub fn queries(&self, query_type: &str, outcome: &str) -> u64 {
        self.queries.with_label_values(&[query_type, outcome]).get()
    }

    pub fn reply_sent(&self, reply_type: &str) {
        self.reply_messages.with_label_values(&[reply_type]).inc();
    }
}
