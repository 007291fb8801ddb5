//! The candidate book: nodes we could dial, where they came from, and how their last dials
//! went. Capped in entries and bytes; selection spreads outbound peers across address types
//! and network groups and skips nodes in backoff, in use, or banned.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom as _;

use super::address::DialTarget;
use crate::graph::NodeId;

/// Where a candidate came from (the `origin` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    Configured,
    Seed,
    Graph,
}

impl Origin {
    pub const ALL: [Origin; 3] = [Origin::Configured, Origin::Seed, Origin::Graph];

    pub fn label(self) -> &'static str {
        match self {
            Origin::Configured => "configured",
            Origin::Seed => "seed",
            Origin::Graph => "graph",
        }
    }
}

/// A node we may dial.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub node_id: NodeId,
    pub origin: Origin,
    /// Dialable addresses in announced order (at most `MAX_ADDRESSES_PER_NODE`).
    pub targets: Vec<DialTarget>,
    /// Failed dials or short sessions in a row.
    failures: u32,
    /// Not dialled again before this.
    retry_at: Option<Instant>,
}

impl Candidate {
    /// Waiting out a backoff at `now`.
    pub fn waiting(&self, now: Instant) -> bool {
        self.retry_at.is_some_and(|at| at > now)
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<Candidate>()
            + self
                .targets
                .iter()
                .map(DialTarget::heap_bytes)
                .sum::<usize>()
    }
}

/// Backoff after a node's failed dial: LND's connection manager starts persistent peers at
/// 1 s and doubles to 1 h; for candidates, which are plentiful, we start at a minute so a
/// dead node does not take a dial slot again soon, and double to an hour.
pub const RETRY_MIN: Duration = Duration::from_secs(60);
pub const RETRY_MAX: Duration = Duration::from_secs(3600);

#[derive(Debug)]
pub struct CandidateBook {
    entries: HashMap<NodeId, Candidate>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

/// What [`CandidateBook::offer`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offered {
    Added,
    Updated,
    /// The book is full (in entries or bytes).
    Full,
}

impl CandidateBook {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        CandidateBook {
            entries: HashMap::new(),
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds a node or refreshes its addresses (keeping its failure record and origin).
    pub fn offer(&mut self, node_id: NodeId, origin: Origin, targets: Vec<DialTarget>) -> Offered {
        if let Some(existing) = self.entries.get_mut(&node_id) {
            let before = existing.bytes();
            existing.targets = targets;
            let after = existing.bytes();
            self.bytes = self.bytes.saturating_sub(before) + after;
            return Offered::Updated;
        }
        let candidate = Candidate {
            node_id,
            origin,
            targets,
            failures: 0,
            retry_at: None,
        };
        let size = candidate.bytes();
        if self.entries.len() >= self.max_entries || self.bytes + size > self.max_bytes {
            return Offered::Full;
        }
        self.bytes += size;
        self.entries.insert(node_id, candidate);
        Offered::Added
    }

    /// Keeps only the candidates `keep` holds for.
    pub fn retain(&mut self, keep: impl Fn(&Candidate) -> bool) {
        let mut freed = 0;
        self.entries.retain(|_, c| {
            let kept = keep(c);
            if !kept {
                freed += c.bytes();
            }
            kept
        });
        self.bytes = self.bytes.saturating_sub(freed);
    }

    /// Forgets a node (gone from the graph, or dead for too long).
    pub fn remove(&mut self, node_id: &NodeId) {
        if let Some(candidate) = self.entries.remove(node_id) {
            self.bytes = self.bytes.saturating_sub(candidate.bytes());
        }
    }

    /// Records how a dial of `node_id` ended: a healthy session clears the record, anything
    /// else doubles the node's wait before its next dial.
    pub fn record(&mut self, node_id: &NodeId, healthy: bool, now: Instant) {
        let Some(candidate) = self.entries.get_mut(node_id) else {
            return;
        };
        if healthy {
            candidate.failures = 0;
            candidate.retry_at = None;
            return;
        }
        candidate.failures = candidate.failures.saturating_add(1);
        let doublings = candidate.failures.saturating_sub(1).min(16);
        let wait = RETRY_MIN.saturating_mul(1 << doublings).min(RETRY_MAX);
        candidate.retry_at = Some(now + wait);
    }

    /// The next node to dial: among candidates not in `busy`, not waiting out a backoff and
    /// for which `eligible` holds (e.g. not banned), one whose address type and then group
    /// are least represented in `in_use` (type, group) pairs; random among equals, so
    /// every restart does not dial the same nodes. Returns the candidate and the target to
    /// use.
    pub fn pick(
        &self,
        now: Instant,
        busy: impl Fn(&NodeId) -> bool,
        eligible: impl Fn(&NodeId) -> bool,
        in_use: &[(&'static str, String)],
    ) -> Option<(Candidate, DialTarget)> {
        let mut options: Vec<(usize, usize, &Candidate, &DialTarget)> = Vec::new();
        for candidate in self.entries.values() {
            if busy(&candidate.node_id)
                || candidate.retry_at.is_some_and(|at| at > now)
                || !eligible(&candidate.node_id)
            {
                continue;
            }
            // The node's least crowded address; announced order breaks ties (Core
            // Lightning dials addresses in the order the node lists them).
            let best = candidate.targets.iter().min_by_key(|t| crowding(t, in_use));
            if let Some(target) = best {
                let (by_type, by_group) = crowding(target, in_use);
                options.push((by_type, by_group, candidate, target));
            }
        }
        let least = options.iter().map(|(t, g, _, _)| (*t, *g)).min()?;
        let tied: Vec<_> = options
            .iter()
            .filter(|(t, g, _, _)| (*t, *g) == least)
            .collect();
        let (_, _, candidate, target) = tied.choose(&mut rand::thread_rng())?;
        Some(((*candidate).clone(), (*target).clone()))
    }
}

/// How many peers in use share `target`'s group, then its address type. Group first: two
/// peers in one /16 are likelier the same operator than two IPv4 peers are.
fn crowding(target: &DialTarget, in_use: &[(&'static str, String)]) -> (usize, usize) {
    let group = target.group();
    let ty = target.address_type();
    (
        in_use.iter().filter(|(_, g)| *g == group).count(),
        in_use.iter().filter(|(t, _)| *t == ty).count(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> NodeId {
        let mut id = [2u8; 33];
        id[1] = n;
        id
    }

    fn ip(text: &str) -> DialTarget {
        DialTarget::Ip(text.parse().expect("addr"))
    }

    #[test]
    fn book_is_capped_in_entries_and_bytes() {
        let mut book = CandidateBook::new(3, usize::MAX);
        for n in 0..5 {
            let got = book.offer(id(n), Origin::Graph, vec![ip("8.8.8.8:9735")]);
            assert_eq!(got, if n < 3 { Offered::Added } else { Offered::Full });
        }
        assert_eq!(book.len(), 3);
        let one = book.bytes() / 3;
        let mut book = CandidateBook::new(100, one * 2);
        assert_eq!(
            book.offer(id(0), Origin::Graph, vec![ip("8.8.8.8:1")]),
            Offered::Added
        );
        assert_eq!(
            book.offer(id(1), Origin::Graph, vec![ip("8.8.8.8:1")]),
            Offered::Added
        );
        assert_eq!(
            book.offer(id(2), Origin::Graph, vec![ip("8.8.8.8:1")]),
            Offered::Full
        );
        book.remove(&id(0));
        assert_eq!(book.bytes(), one);
    }

    #[test]
    fn pick_prefers_an_unused_group_and_skips_backoff() {
        let mut book = CandidateBook::new(10, usize::MAX);
        book.offer(id(1), Origin::Graph, vec![ip("203.0.1.1:9735")]);
        book.offer(id(2), Origin::Graph, vec![ip("198.51.1.1:9735")]);
        let in_use = vec![("ipv4", "203.0/16".to_string())];
        let now = Instant::now();
        for _ in 0..20 {
            let (c, _) = book.pick(now, |_| false, |_| true, &in_use).expect("pick");
            assert_eq!(c.node_id, id(2));
        }
        book.record(&id(2), false, now);
        let (c, _) = book.pick(now, |_| false, |_| true, &in_use).expect("pick");
        assert_eq!(c.node_id, id(1), "node 2 waits out its backoff");
        assert!(book
            .pick(now, |_| false, |n| *n != id(1), &in_use)
            .is_none());
        let later = now + RETRY_MIN + Duration::from_secs(1);
        assert!(book
            .pick(later, |n| *n == id(1), |_| true, &in_use)
            .is_some());
    }
}
