//! Propagation metrics over the real binary and real BOLT 8 sessions (issue 13): which peer
//! delivered the first copy of each message, which sent copies we already had, and how far the
//! later copies trailed the first. Labels stay bounded: each `--peer` has its own, every other
//! peer shares `other`.

mod common;

use gossip_sieve::peer::open_frames;
use gossip_sieve::sim::peer::{SyntheticConfig, SyntheticPeers};

use common::forge::chain;
use common::metrics::{disconnects, metric, sum_matching};
use common::node::Node;
use common::peer::TestPeer;

const NODES: usize = 60;
const CHANNELS: usize = 200;
const TYPES: [&str; 3] = [
    "channel_announcement",
    "node_announcement",
    "channel_update",
];

fn first_deliveries(peer: &str, ty: &str) -> String {
    format!("gossip_sieve_propagation_first_deliveries_total{{peer=\"{peer}\",type=\"{ty}\"}}")
}

fn duplicates(peer: &str, ty: &str) -> String {
    format!("gossip_sieve_propagation_duplicates_total{{peer=\"{peer}\",type=\"{ty}\"}}")
}

fn delay_count(ty: &str) -> String {
    format!("gossip_sieve_propagation_duplicate_delay_seconds_count{{type=\"{ty}\"}}")
}

/// A configured peer delivers the whole graph first; an inbound peer then sends all of it
/// again. Every first delivery is the configured peer's, every duplicate the inbound peer's
/// (under `other`), and every duplicate is timed against its first copy. A second configured
/// peer that never connects has its own series, at zero.
#[test]
fn the_peer_that_always_delivers_first_gets_every_first_delivery_and_later_copies_are_timed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = common::corpus(dir.path(), NODES, CHANNELS, 0.0);
    let frames: Vec<Vec<u8>> = open_frames(&corpus)
        .expect("corpus")
        .map(|f| f.expect("frame"))
        .collect();
    let per_type = |ty: &str| match ty {
        "channel_announcement" => CHANNELS as f64,
        "node_announcement" => NODES as f64,
        _ => 2.0 * CHANNELS as f64,
    };
    assert_eq!(frames.len(), NODES + 3 * CHANNELS);

    let first = SyntheticPeers::start(1, &corpus, SyntheticConfig::new(chain())).expect("peer");
    let first_addr = first.addresses()[0].clone();
    let first_label = hex::encode(first_addr.node_id.serialize());
    // Configured, but nobody listens there: its label exists from the start, at zero.
    let absent_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let absent_id = gossip_sieve::peer::identity::NodeIdentity::random().node_id();
    let absent = format!(
        "{}@{}",
        hex::encode(absent_id.serialize()),
        absent_listener.local_addr().expect("addr")
    );
    drop(absent_listener);
    let absent_label = hex::encode(absent_id.serialize());
    let node = Node::start(
        &dir.path().join("data"),
        &[
            "--peer".to_string(),
            first_addr.to_string(),
            "--peer".to_string(),
            absent,
        ],
    );
    // The configured peer sends everything, then closes.
    node.wait_for(&disconnects("remote_closed"), 1.0);
    let text = node.wait_until("the first peer's graph accepted", |text| {
        TYPES
            .iter()
            .all(|ty| metric(text, &first_deliveries(&first_label, ty)) >= per_type(ty))
    });
    for ty in TYPES {
        assert_eq!(
            metric(&text, &first_deliveries(&first_label, ty)),
            per_type(ty),
            "{ty}"
        );
        assert_eq!(metric(&text, &duplicates(&first_label, ty)), 0.0, "{ty}");
        assert_eq!(
            metric(&text, &first_deliveries(&absent_label, ty)),
            0.0,
            "{ty}"
        );
        assert_eq!(metric(&text, &first_deliveries("other", ty)), 0.0, "{ty}");
    }

    // An inbound peer (not configured) sends the same graph again: all copies we have.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut late = TestPeer::connect(node.listen(), &node.node_id).await;
        late.send_all(&frames).await;
        late.barrier().await;
    });
    let text = node.scrape();
    for ty in TYPES {
        assert_eq!(
            metric(&text, &duplicates("other", ty)),
            per_type(ty),
            "{ty}"
        );
        assert_eq!(metric(&text, &first_deliveries("other", ty)), 0.0, "{ty}");
        assert_eq!(metric(&text, &duplicates(&absent_label, ty)), 0.0, "{ty}");
        // Every copy was timed: the table still held every first arrival.
        assert_eq!(metric(&text, &delay_count(ty)), per_type(ty), "{ty}");
        assert_eq!(
            metric(
                &text,
                &format!("gossip_sieve_propagation_untimed_duplicates_total{{type=\"{ty}\"}}")
            ),
            0.0,
            "{ty}"
        );
    }
    // The copies came after the whole first delivery and a scrape: later, not at once.
    let delay_sum = sum_matching(
        &text,
        "gossip_sieve_propagation_duplicate_delay_seconds_sum",
    );
    assert!(delay_sum > 0.0, "duplicate delay sum {delay_sum}");
    // The table's size is exported with the other bounds.
    assert_eq!(
        metric(
            &text,
            "gossip_sieve_limit{name=\"first_arrival_table_bytes\"}"
        ),
        (2 << 20) as f64
    );
    node.stop();
    drop(first.join());
}
