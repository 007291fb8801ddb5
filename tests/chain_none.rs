//! `run` with no chain source (`--chain none`, the default), over real BOLT 8 connections: the
//! caps on channels accepted without validation, and stale pruning (which needs no chain).

mod common;
#[path = "bad_input/harness.rs"]
mod harness;

use common::metrics::{metric, relevant};
use harness::{assert_drops, Harness, CA};

/// Over the per-peer hourly budget of unvalidated channels: dropped as `unvalidated_limit`, not
/// charged; another peer session has its own budget.
#[test]
fn unvalidated_channels_are_capped_per_peer_session() {
    // The harness's honest peer delivers one channel at start: its budget has 2 left.
    let mut h = Harness::start(&["--unvalidated-channels-per-peer-per-hour", "3"]);
    let mut greedy = h.connect();
    let channels: Vec<_> = (0..5).map(|_| h.new_channel()).collect();
    h.rt.block_on(async {
        for channel in &channels {
            greedy.send(&channel.announcement()).await;
        }
        greedy.barrier().await;
    });
    h.expect_accepted(CA, 3);
    let text = h.settle();
    // Nothing else dropped.
    assert_drops(&text, &[(CA, "unvalidated_limit", 2.0)]);
    assert_eq!(
        common::metrics::sum_matching(&text, "gossip_sieve_peer_bans_total"),
        0.0
    );
    // The first peer's session still has budget for its next channel (finish delivers one).
    let (text, _dir) = h.finish();
    assert_eq!(metric(&text, "gossip_sieve_graph_channels"), 5.0);
}

/// A channel whose every update is older than `--stale-channel-age-secs` is forgotten, with its
/// nodes, and its records are marked deleted in the store.
#[test]
fn stale_channels_are_forgotten_and_deleted_in_the_store() {
    // The harness's channels carry updates an hour old: older than 4 s.
    let h = Harness::start(&["--stale-channel-age-secs", "4"]);
    let text = h.node.wait_until("the stale channel forgotten", |t| {
        metric(t, "gossip_sieve_channels_forgotten_total{cause=\"stale\"}") >= 1.0
    });
    assert_eq!(
        metric(&text, "gossip_sieve_graph_channels"),
        0.0,
        "{}",
        relevant(&text)
    );
    assert_eq!(metric(&text, "gossip_sieve_graph_nodes"), 0.0);
    let store = h.dir.path().join("data");
    let deadline = std::time::Instant::now() + common::node::WAIT;
    // Only store-internal records (the uuid) may stay live: no gossip message.
    while common::live_store_messages(&store)
        .iter()
        .any(|m| gossip_sieve::pipeline::message_kind(m).is_some())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the forgotten channel's records are still live in the store"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
