//! Propagation metrics: how old gossip is when it first reaches us. No Lightning
//! implementation exports this; the sieve sees the first copy of every message before any
//! other work, so it costs one histogram observation per *new* message and nothing on the
//! duplicate path.

use prometheus::{Histogram, HistogramOpts, HistogramVec, Registry};

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

pub struct Propagation {
    /// By kind; `None` for channel_announcement, which carries no timestamp.
    first_arrival_age: [Option<Histogram>; 3],
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
        Ok(Propagation { first_arrival_age })
    }

    /// The first copy of a `kind` message stamped `timestamp` arrived at unix time `now`. A
    /// timestamp ahead of our clock (allowed within the future skew) counts as age 0.
    pub fn first_arrival(&self, kind: GossipKind, timestamp: u32, now: u32) {
        if let Some(Some(histogram)) = self.first_arrival_age.get(kind.index()) {
            histogram.observe(f64::from(now.saturating_sub(timestamp)));
        }
    }
}
