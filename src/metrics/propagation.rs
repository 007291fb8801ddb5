//! Propagation metrics: how old gossip is when it first reaches us, how far later copies trail
//! the first, and which peers deliver first. No Lightning implementation exports these; the
//! sieve sees every copy of every message before any other work.
//!
//! Per-peer series have bounded cardinality: one `peer` label per configured peer (its node id
//! in hex, registered once at start by [`Propagation::label_peers`]) and one aggregated
//! [`OTHER_PEERS`] label for every other (inbound, discovered) peer. A session resolves its
//! handles once ([`Propagation::peer`]), so the duplicate path only bumps a pre-resolved
//! counter.

use std::sync::{Arc, OnceLock};

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};

use crate::wire::kind::GossipKind;

/// Seconds: from "a second ago" (fresh relay) to two weeks (BOLT 7's staleness limit).
const AGE_BUCKETS: &[f64] = &[
    1.0,
    5.0,
    15.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    14_400.0,
    86_400.0,
    259_200.0,
    604_800.0,
    1_209_600.0,
];

/// Seconds from the first copy to a later one: from one clock tick (relay within a batch) to a
/// day (a peer replaying its dump on reconnect; those land in the top buckets).
const DELAY_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 86_400.0,
];

/// The `peer` label of every peer that is not a configured one.
pub const OTHER_PEERS: &str = "other";

/// One `peer` label's handles, by [`GossipKind::index`]; shared by every session under it.
pub struct PeerPropagation {
    first_deliveries: [IntCounter; 3],
    duplicates: [IntCounter; 3],
}

impl PeerPropagation {
    fn resolve(first: &IntCounterVec, duplicates: &IntCounterVec, label: &str) -> Self {
        let handles = |family: &IntCounterVec| {
            GossipKind::ALL.map(|kind| family.with_label_values(&[label, kind.as_str()]))
        };
        PeerPropagation {
            first_deliveries: handles(first),
            duplicates: handles(duplicates),
        }
    }

    /// This peer delivered the first copy of a `kind` message.
    pub fn first_delivery(&self, kind: GossipKind) {
        if let Some(counter) = self.first_deliveries.get(kind.index()) {
            counter.inc();
        }
    }

    /// This peer delivered a copy of a `kind` message we already had.
    pub fn duplicate(&self, kind: GossipKind) {
        if let Some(counter) = self.duplicates.get(kind.index()) {
            counter.inc();
        }
    }
}

/// A counter family by `peer` (a configured peer's node id, or [`OTHER_PEERS`]) and `type`.
fn per_peer_counter(
    registry: &Registry,
    name: &str,
    what: &str,
) -> prometheus::Result<IntCounterVec> {
    let help = format!(
        "{what}: a configured peer's node id, or \"{OTHER_PEERS}\" for all the rest; by type"
    );
    let family = IntCounterVec::new(Opts::new(name, help), &["peer", "type"])?;
    registry.register(Box::new(family.clone()))?;
    Ok(family)
}

pub struct Propagation {
    /// By kind; `None` for channel_announcement, which carries no timestamp.
    first_arrival_age: [Option<Histogram>; 3],
    /// By kind.
    duplicate_delay: [Histogram; 3],
    /// Duplicates whose first copy the first-arrival table no longer held, by kind.
    untimed_duplicates: [IntCounter; 3],
    first_deliveries: IntCounterVec,
    duplicates: IntCounterVec,
    other_peers: Arc<PeerPropagation>,
    /// The configured peers' node ids and handles, set once at start.
    configured: OnceLock<Vec<([u8; 33], Arc<PeerPropagation>)>>,
}

impl Propagation {
    pub(super) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let age = HistogramVec::new(
            HistogramOpts::new(
                "gossip_sieve_propagation_first_arrival_age_seconds",
                "Age of a message (arrival time minus its timestamp) when its first copy \
                 reached us, by type; channel_announcement has no timestamp",
            )
            .buckets(AGE_BUCKETS.to_vec()),
            &["type"],
        )?;
        registry.register(Box::new(age.clone()))?;
        let mut first_arrival_age = [None, None, None];
        for kind in [GossipKind::ChannelUpdate, GossipKind::NodeAnnouncement] {
            first_arrival_age[kind.index()] = Some(age.with_label_values(&[kind.as_str()]));
        }
        let delay = HistogramVec::new(
            HistogramOpts::new(
                "gossip_sieve_propagation_duplicate_delay_seconds",
                "Time from the first copy of a message to each later copy (a duplicate), by \
                 type; duplicates whose first copy is no longer remembered are not observed",
            )
            .buckets(DELAY_BUCKETS.to_vec()),
            &["type"],
        )?;
        registry.register(Box::new(delay.clone()))?;
        let untimed = IntCounterVec::new(
            Opts::new(
                "gossip_sieve_propagation_untimed_duplicates_total",
                "Duplicates not timed because the first-arrival table no longer held their \
                 first copy (pipeline.first_arrival_table_bytes too small), by type",
            ),
            &["type"],
        )?;
        registry.register(Box::new(untimed.clone()))?;
        let first_deliveries = per_peer_counter(
            registry,
            "gossip_sieve_propagation_first_deliveries_total",
            "First copies of messages (new to us) by the peer that delivered them",
        )?;
        let duplicates = per_peer_counter(
            registry,
            "gossip_sieve_propagation_duplicates_total",
            "Copies of messages we already had, by the peer that delivered them",
        )?;
        let other_peers = Arc::new(PeerPropagation::resolve(
            &first_deliveries,
            &duplicates,
            OTHER_PEERS,
        ));
        Ok(Propagation {
            first_arrival_age,
            duplicate_delay: GossipKind::ALL.map(|kind| delay.with_label_values(&[kind.as_str()])),
            untimed_duplicates: GossipKind::ALL
                .map(|kind| untimed.with_label_values(&[kind.as_str()])),
            first_deliveries,
            duplicates,
            other_peers,
            configured: OnceLock::new(),
        })
    }

    /// Gives each configured peer (`--peer`) its own `peer` label, zeroed; every other peer
    /// counts under [`OTHER_PEERS`]. Only the first call counts: the set is fixed at start, so
    /// the label count stays bounded by the configuration.
    pub fn label_peers(&self, node_ids: &[[u8; 33]]) {
        let peers = node_ids
            .iter()
            .map(|id| {
                let label = hex::encode(id);
                let handles =
                    PeerPropagation::resolve(&self.first_deliveries, &self.duplicates, &label);
                (*id, Arc::new(handles))
            })
            .collect();
        let _ = self.configured.set(peers);
    }

    /// The handles a session with `node_id` counts under (resolved once per session).
    pub fn peer(&self, node_id: &[u8; 33]) -> Arc<PeerPropagation> {
        self.configured
            .get()
            .and_then(|peers| peers.iter().find(|(id, _)| id == node_id))
            .map_or_else(|| self.other_peers.clone(), |(_, handles)| handles.clone())
    }

    /// A later copy of a `kind` message arrived `delay_ms` after the first one (`None`: the
    /// first copy is no longer remembered).
    pub fn duplicate_delay(&self, kind: GossipKind, delay_ms: Option<u64>) {
        let index = kind.index();
        match delay_ms {
            Some(ms) => {
                if let Some(histogram) = self.duplicate_delay.get(index) {
                    histogram.observe(ms as f64 / 1000.0);
                }
            }
            None => {
                if let Some(counter) = self.untimed_duplicates.get(index) {
                    counter.inc();
                }
            }
        }
    }

    /// The first copy of a `kind` message stamped `timestamp` arrived at unix time `now`. A
    /// timestamp ahead of our clock (allowed within the future skew) counts as age 0.
    pub fn first_arrival(&self, kind: GossipKind, timestamp: u32, now: u32) {
        if let Some(Some(histogram)) = self.first_arrival_age.get(kind.index()) {
            histogram.observe(f64::from(now.saturating_sub(timestamp)));
        }
    }
}
