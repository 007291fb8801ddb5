//! The message-flow families (received, accepted, dropped, pending, in flight), rendered from one
//! ordered read so that every scrape balances:
//!
//! `received = accepted + dropped + pending + in flight`, per type, at any instant.
//!
//! A message moves received → (in flight ⇄ pending) → accepted or dropped, on several threads
//! at once. Reading five independent counters one after another while messages move would count
//! a message that moves between two reads twice or not at all (a mid-flood scrape once showed
//! received 313 against 319). So "in flight" is not kept as a gauge of its own: it is derived
//! as what was received and is in no other state, from values read downstream first (accepted
//! and dropped, then pending, then received). A message can only move downstream of the reads
//! already made, so none is counted twice, and the derived in-flight count can never be
//! negative unless a message really was counted twice (a bug the tests look for).

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounterVec, IntGaugeVec, Opts};

use crate::vocab::DropReason;
use crate::wire::GossipKind;

/// One type's counts, read in the order described in the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowCounts {
    pub received: u64,
    pub accepted: u64,
    /// Indexed by [`DropReason::index`].
    pub dropped: Vec<u64>,
    pub pending: i64,
}

impl FlowCounts {
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// Received and in no other state: admitted to or released into the pipeline, or moving
    /// between two states. Negative only if a message was counted twice.
    pub fn in_flight(&self) -> i64 {
        let finished = self.accepted.saturating_add(self.dropped_total());
        let total = i128::from(self.received) - i128::from(finished) - i128::from(self.pending);
        i64::try_from(total).unwrap_or(i64::MIN)
    }
}

/// The flow families, registered as one collector.
#[derive(Clone)]
pub struct FlowFamilies {
    received: IntCounterVec,
    accepted: IntCounterVec,
    dropped: IntCounterVec,
    pending: IntGaugeVec,
    in_flight_opts: Opts,
    descs: Vec<Desc>,
}

impl FlowFamilies {
    pub fn new(prefix: &str) -> prometheus::Result<Self> {
        let name = |short: &str| format!("{prefix}_{short}");
        let received = IntCounterVec::new(
            Opts::new(
                name("messages_received_total"),
                "Gossip messages received, by type",
            ),
            &["type"],
        )?;
        let accepted = IntCounterVec::new(
            Opts::new(
                name("messages_accepted_total"),
                "Gossip messages verified and applied to the graph, by type",
            ),
            &["type"],
        )?;
        let dropped = IntCounterVec::new(
            Opts::new(
                name("messages_dropped_total"),
                "Gossip messages not accepted, by type and reason",
            ),
            &["type", "reason"],
        )?;
        let pending = IntGaugeVec::new(
            Opts::new(
                name("pending_messages"),
                "Messages parked until their channel or node is known",
            ),
            &["kind"],
        )?;
        let in_flight_opts = Opts::new(
            name("in_flight_messages"),
            "Messages received and not yet accepted, dropped or parked, by type \
             (derived at each scrape so that the flow families balance)",
        );
        let in_flight = Self::in_flight_vec(&in_flight_opts)?;
        let descs = received
            .desc()
            .into_iter()
            .chain(accepted.desc())
            .chain(dropped.desc())
            .chain(pending.desc())
            .chain(in_flight.desc())
            .cloned()
            .collect();
        let families = FlowFamilies {
            received,
            accepted,
            dropped,
            pending,
            in_flight_opts,
            descs,
        };
        // Every label combination exists from the start (see the module docs of `metrics`).
        for kind in GossipKind::ALL {
            families.received(kind);
            families.accepted(kind);
            families.pending(kind);
            for reason in DropReason::ALL {
                families.dropped(kind, reason);
            }
        }
        Ok(families)
    }

    fn in_flight_vec(opts: &Opts) -> prometheus::Result<IntGaugeVec> {
        IntGaugeVec::new(opts.clone(), &["type"])
    }

    pub fn received(&self, kind: GossipKind) -> prometheus::IntCounter {
        self.received.with_label_values(&[kind.as_str()])
    }

    pub fn accepted(&self, kind: GossipKind) -> prometheus::IntCounter {
        self.accepted.with_label_values(&[kind.as_str()])
    }

    pub fn dropped(&self, kind: GossipKind, reason: DropReason) -> prometheus::IntCounter {
        self.dropped
            .with_label_values(&[kind.as_str(), reason.as_str()])
    }

    pub fn pending(&self, kind: GossipKind) -> prometheus::IntGauge {
        self.pending.with_label_values(&[kind.as_str()])
    }

    /// Every type's counts, downstream first: all accepted and dropped counts, then all pending
    /// gauges, then all received counts.
    pub fn snapshot(&self) -> Vec<(GossipKind, FlowCounts)> {
        let mut counts: Vec<(GossipKind, FlowCounts)> = GossipKind::ALL
            .iter()
            .map(|kind| {
                let dropped = DropReason::ALL
                    .iter()
                    .map(|reason| self.dropped(*kind, *reason).get())
                    .collect();
                let accepted = self.accepted(*kind).get();
                (
                    *kind,
                    FlowCounts {
                        accepted,
                        dropped,
                        ..FlowCounts::default()
                    },
                )
            })
            .collect();
        for (kind, flow) in &mut counts {
            flow.pending = self.pending(*kind).get();
        }
        for (kind, flow) in &mut counts {
            flow.received = self.received(*kind).get();
        }
        counts
    }

    /// The five families built from one [`FlowFamilies::snapshot`], so the scrape balances.
    fn families_from_snapshot(&self) -> prometheus::Result<Vec<MetricFamily>> {
        let snapshot = self.snapshot();
        let received = self.received.clone_empty()?;
        let accepted = self.accepted.clone_empty()?;
        let dropped = self.dropped.clone_empty()?;
        let pending = self.pending.clone_empty()?;
        let in_flight = Self::in_flight_vec(&self.in_flight_opts)?;
        for (kind, flow) in &snapshot {
            let label = kind.as_str();
            received.with_label_values(&[label]).inc_by(flow.received);
            accepted.with_label_values(&[label]).inc_by(flow.accepted);
            for (reason, count) in DropReason::ALL.iter().zip(&flow.dropped) {
                dropped
                    .with_label_values(&[label, reason.as_str()])
                    .inc_by(*count);
            }
            pending.with_label_values(&[label]).set(flow.pending);
            in_flight.with_label_values(&[label]).set(flow.in_flight());
        }
        Ok([
            received.collect(),
            accepted.collect(),
            dropped.collect(),
            pending.collect(),
            in_flight.collect(),
        ]
        .concat())
    }
}

/// A fresh, unregistered vector with the same name, help and labels.
trait CloneEmpty: Sized {
    fn clone_empty(&self) -> prometheus::Result<Self>;
}

fn opts_of(desc: &Desc) -> (Opts, Vec<&str>) {
    (
        Opts::new(desc.fq_name.clone(), desc.help.clone()),
        desc.variable_labels.iter().map(String::as_str).collect(),
    )
}

impl CloneEmpty for IntCounterVec {
    fn clone_empty(&self) -> prometheus::Result<Self> {
        let desc = self.desc()[0];
        let (opts, labels) = opts_of(desc);
        IntCounterVec::new(opts, &labels)
    }
}

impl CloneEmpty for IntGaugeVec {
    fn clone_empty(&self) -> prometheus::Result<Self> {
        let desc = self.desc()[0];
        let (opts, labels) = opts_of(desc);
        IntGaugeVec::new(opts, &labels)
    }
}

impl Collector for FlowFamilies {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        // Building five small vectors cannot fail with the options `new` already accepted.
        self.families_from_snapshot().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_is_what_was_received_and_is_in_no_other_state() {
        let families = FlowFamilies::new("test").expect("families");
        let kind = GossipKind::ChannelUpdate;
        families.received(kind).inc_by(10);
        families.accepted(kind).inc_by(4);
        families.dropped(kind, DropReason::Duplicate).inc_by(3);
        families.pending(kind).set(2);
        let snapshot = families.snapshot();
        let (_, flow) = snapshot
            .iter()
            .find(|(k, _)| *k == kind)
            .expect("every kind is in the snapshot");
        assert_eq!(flow.in_flight(), 1);
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&families.collect())
            .expect("encode");
        assert!(text.contains("test_in_flight_messages{type=\"channel_update\"} 1"));
        assert!(text.contains("test_messages_received_total{type=\"channel_update\"} 10"));
        assert!(text.contains(
            "test_messages_dropped_total{reason=\"duplicate\",type=\"channel_update\"} 3"
        ));
    }

    #[test]
    fn a_message_counted_twice_shows_as_negative_in_flight() {
        let families = FlowFamilies::new("test").expect("families");
        let kind = GossipKind::NodeAnnouncement;
        families.received(kind).inc();
        families.accepted(kind).inc();
        families.dropped(kind, DropReason::Duplicate).inc();
        let (_, flow) = &families.snapshot()[kind.index()];
        assert_eq!(flow.in_flight(), -1);
    }
}
