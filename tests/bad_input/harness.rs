//! What every bad-input test shares: a `run` node, an honest peer connected for the whole test
//! that delivers a channel before the bad input and another after it, and the bookkeeping of
//! what the node should have accepted, so drops are checked exactly once everything settled.

use std::collections::BTreeMap;

use tempfile::TempDir;

use crate::common::forge::{scid, Channel};
use crate::common::metrics::{accepted, assert_scrape_balances, in_flight, metric, relevant};
use crate::common::node::Node;
use crate::common::peer::TestPeer;
use crate::common::TYPES;

pub const CA: &str = "channel_announcement";
pub const NA: &str = "node_announcement";
pub const CU: &str = "channel_update";

pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub node: Node,
    /// Taken only while it delivers a channel.
    pub honest: Option<TestPeer>,
    pub dir: TempDir,
    /// Channels the honest peer delivered: they must all be in the graph at the end.
    delivered: Vec<u64>,
    /// Messages of each type the node must have accepted so far.
    expected: BTreeMap<&'static str, f64>,
    next_block: u64,
}

impl Harness {
    /// Starts the node with `args` (after defaults that keep a slow test from being taken
    /// for a dead peer) and has the honest peer deliver its first channel.
    pub fn start(args: &[&str]) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut all: Vec<String> = ["--ping-interval-secs", "600", "--shards", "2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        all.extend(args.iter().map(|s| s.to_string()));
        let node = Node::start(&dir.path().join("data"), &all);
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let honest = rt.block_on(TestPeer::connect(node.listen(), &node.node_id));
        let mut harness = Harness {
            rt,
            node,
            honest: Some(honest),
            dir,
            delivered: Vec::new(),
            expected: TYPES.iter().map(|t| (*t, 0.0)).collect(),
            next_block: 700_000,
        };
        harness.deliver_honest_channel();
        harness
    }

    /// A channel with fresh keys on a block no other channel of this test uses.
    pub fn new_channel(&mut self) -> Channel {
        self.next_block += 1;
        Channel::new(scid(self.next_block))
    }

    /// Counts `n` more messages of `ty` that the node must accept.
    pub fn expect_accepted(&mut self, ty: &'static str, n: usize) {
        *self.expected.entry(ty).or_default() += n as f64;
    }

    /// Expects a whole valid channel (announcement, two updates, two node announcements).
    pub fn expect_channel(&mut self) {
        self.expect_accepted(CA, 1);
        self.expect_accepted(CU, 2);
        self.expect_accepted(NA, 2);
    }

    /// The honest peer sends a new valid channel and it is accepted.
    pub fn deliver_honest_channel(&mut self) {
        let channel = self.new_channel();
        let mut honest = self.honest.take().expect("honest peer");
        self.deliver(&mut honest, &channel);
        self.honest = Some(honest);
        self.delivered.push(channel.scid);
    }

    /// `peer` sends the whole of `channel`, which is accepted before this returns. Newer
    /// messages for the same channel must wait for this: sent back to back, an older update
    /// still parked behind its announcement can be overtaken and dropped as stale, which is
    /// right but not what a test of something else should depend on.
    pub fn deliver(&mut self, peer: &mut TestPeer, channel: &Channel) {
        self.rt.block_on(async {
            peer.send_all(&channel.all()).await;
            peer.barrier().await;
        });
        self.expect_channel();
        self.settle();
    }

    pub fn connect(&self) -> TestPeer {
        self.rt
            .block_on(TestPeer::connect(self.node.listen(), &self.node.node_id))
    }

    /// Waits until nothing is in flight and every expected acceptance happened, then checks
    /// that no more than that was accepted. Call after a barrier on every peer that sent.
    pub fn settle(&self) -> String {
        let text = self.node.wait_until("expected acceptances", |text| {
            TYPES.iter().all(|ty| {
                metric(text, &in_flight(ty)) == 0.0
                    && metric(text, &accepted(ty)) >= self.expected[ty]
            })
        });
        for ty in TYPES {
            assert_eq!(
                metric(&text, &accepted(ty)),
                self.expected[ty],
                "{ty}: accepted more than expected\n{}",
                relevant(&text)
            );
        }
        text
    }

    /// After the bad input: the honest peer, still on its first connection, delivers one
    /// more channel; the graph still holds every channel it delivered; the counts balance;
    /// the node stops cleanly without having panicked. Returns the final scrape and the
    /// data dir (the store can be read now that the node is gone).
    pub fn finish(mut self) -> (String, TempDir) {
        self.node.assert_alive_without_panic();
        self.deliver_honest_channel();
        let honest = self.honest.as_mut().expect("honest peer");
        let in_graph = self.rt.block_on(honest.graph_scids());
        for scid in &self.delivered {
            assert!(
                in_graph.contains(scid),
                "channel {scid:x} lost from the graph"
            );
        }
        let text = self.settle();
        assert_scrape_balances(&text);
        let Harness { node, dir, .. } = self;
        node.stop();
        (text, dir)
    }
}

/// Checks every `gossip_sieve_messages_dropped_total` series: those listed have exactly their
/// count, all others are 0.
pub fn assert_drops(text: &str, expected: &[(&str, &str, f64)]) {
    for line in text
        .lines()
        .filter(|l| l.starts_with("gossip_sieve_messages_dropped_total{"))
    {
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let value: f64 = value.parse().expect("sample value");
        let want = expected
            .iter()
            .find(|(ty, reason, _)| {
                series.contains(&format!("type=\"{ty}\""))
                    && series.contains(&format!("reason=\"{reason}\""))
            })
            .map_or(0.0, |(_, _, n)| *n);
        assert_eq!(value, want, "{series}\n{}", relevant(text));
    }
    for (ty, reason, _) in expected {
        assert!(
            text.contains(&format!("reason=\"{reason}\",type=\"{ty}\"")),
            "no series for {ty}/{reason}"
        );
    }
}
