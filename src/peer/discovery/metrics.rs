//! The outbound peer manager's series, registered on the node's registry. Every label
//! combination is created at start (DESIGN §4), so a missing series means a bug.

use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use super::address::{Skip, ADDRESS_TYPES};
use super::candidates::Origin;

/// `result` label values of `gossip_sieve_dial_attempts_total`.
pub const DIAL_RESULTS: [&str; 4] = ["connected", "connect_failed", "handshake_failed", "banned"];

pub struct DiscoveryMetrics {
    /// `gossip_sieve_outbound_peers{origin, address_type}`: outbound sessions past init.
    pub outbound_peers: IntGaugeVec,
    /// `gossip_sieve_dial_attempts_total{origin, result}`.
    pub dial_attempts: IntCounterVec,
    /// `gossip_sieve_discovery_addresses_skipped_total{reason}`.
    pub addresses_skipped: IntCounterVec,
    /// `gossip_sieve_discovery_candidates` / `_bytes`: the candidate book.
    pub candidates: IntGauge,
    pub candidate_bytes: IntGauge,
    /// Candidates turned away because the book was full.
    pub candidates_refused: IntCounterVec,
    /// `gossip_sieve_dial_queue` / `_bytes`: dials started and not yet in a session.
    pub dial_queue: IntGauge,
    pub dial_queue_bytes: IntGauge,
    /// `gossip_sieve_dns_seed_queries_total{result}`: ok, empty, error.
    pub seed_queries: IntCounterVec,
    /// `gossip_sieve_dns_seed_nodes_total`: nodes decoded from seed answers.
    pub seed_nodes: prometheus::IntCounter,
}

impl DiscoveryMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let outbound_peers = IntGaugeVec::new(
            Opts::new(
                "gossip_sieve_outbound_peers",
                "Outbound peers in a session, by where we learnt of them and address type",
            ),
            &["origin", "address_type"],
        )?;
        let dial_attempts = IntCounterVec::new(
            Opts::new(
                "gossip_sieve_dial_attempts_total",
                "Outbound dials, by origin and how they ended",
            ),
            &["origin", "result"],
        )?;
        let addresses_skipped = IntCounterVec::new(
            Opts::new(
                "gossip_sieve_discovery_addresses_skipped_total",
                "Announced addresses not dialled, by reason",
            ),
            &["reason"],
        )?;
        let candidates_refused = IntCounterVec::new(
            Opts::new(
                "gossip_sieve_discovery_candidates_refused_total",
                "Candidate nodes not kept because the candidate book was full",
            ),
            &["origin"],
        )?;
        let candidates = IntGauge::new(
            "gossip_sieve_discovery_candidates",
            "Nodes in the outbound candidate book",
        )?;
        let candidate_bytes = IntGauge::new(
            "gossip_sieve_discovery_candidate_bytes",
            "Bytes held by the outbound candidate book",
        )?;
        let dial_queue = IntGauge::new(
            "gossip_sieve_dial_queue",
            "Outbound dials started and not yet in a session",
        )?;
        let dial_queue_bytes = IntGauge::new(
            "gossip_sieve_dial_queue_bytes",
            "Bytes held by outbound dials not yet in a session",
        )?;
        let seed_queries = IntCounterVec::new(
            Opts::new(
                "gossip_sieve_dns_seed_queries_total",
                "BOLT 10 DNS seed queries, by result",
            ),
            &["result"],
        )?;
        let seed_nodes = prometheus::IntCounter::new(
            "gossip_sieve_dns_seed_nodes_total",
            "Nodes decoded from DNS seed answers (at most 25 per query)",
        )?;
        registry.register(Box::new(seed_queries.clone()))?;
        registry.register(Box::new(seed_nodes.clone()))?;
        for result in ["ok", "empty", "error"] {
            seed_queries.with_label_values(&[result]);
        }
        registry.register(Box::new(outbound_peers.clone()))?;
        registry.register(Box::new(dial_attempts.clone()))?;
        registry.register(Box::new(addresses_skipped.clone()))?;
        registry.register(Box::new(candidates_refused.clone()))?;
        registry.register(Box::new(candidates.clone()))?;
        registry.register(Box::new(candidate_bytes.clone()))?;
        registry.register(Box::new(dial_queue.clone()))?;
        registry.register(Box::new(dial_queue_bytes.clone()))?;
        for origin in Origin::ALL {
            for ty in ADDRESS_TYPES {
                outbound_peers.with_label_values(&[origin.label(), ty]);
            }
            for result in DIAL_RESULTS {
                dial_attempts.with_label_values(&[origin.label(), result]);
            }
            candidates_refused.with_label_values(&[origin.label()]);
        }
        for skip in Skip::ALL {
            addresses_skipped.with_label_values(&[skip.label()]);
        }
        Ok(DiscoveryMetrics {
            outbound_peers,
            dial_attempts,
            addresses_skipped,
            candidates,
            candidate_bytes,
            candidates_refused,
            dial_queue,
            dial_queue_bytes,
            seed_queries,
            seed_nodes,
        })
    }

    pub fn connected_gauge(&self, origin: Origin, address_type: &str) -> IntGauge {
        self.outbound_peers
            .with_label_values(&[origin.label(), address_type])
    }

    pub fn dialled(&self, origin: Origin, result: &str) {
        self.dial_attempts
            .with_label_values(&[origin.label(), result])
            .inc();
    }

    pub fn skipped(&self, skip: Skip) {
        self.addresses_skipped
            .with_label_values(&[skip.label()])
            .inc();
    }
}
