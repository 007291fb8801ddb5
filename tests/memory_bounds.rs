//! Issue 11 item 3, the memory bound as a whole: 32 peers at once flood messages of the largest
//! size a frame allows (65,535 bytes, nearly all excess bytes, every signature valid) of every
//! kind — new channel_announcements, channel_updates for channels nobody announced and
//! node_announcements for nodes with no channel (both orphans, parked and never verified) —
//! through real loopback BOLT 8 connections to `gossip-sieve run`. Every queue, map and
//! mailbox holding message bytes is capped in bytes, so the node's peak resident memory stays
//! under 64 MB; with the counts alone the same flood could hold gigabytes.

mod common;

use common::forge::{recent, scid, Channel};
use common::metrics::{accepted, metric};
use common::node::Node;
use common::peer::TestPeer;

const PEERS: usize = 32;
/// Of each kind, per peer.
const PER_KIND: usize = 30;
const MAX_MESSAGE: usize = 65_535;
const LIMIT_BYTES: u64 = 64 << 20;

/// `msg` re-signed with excess bytes that fill the frame.
fn maximum_size(unsigned_len: usize) -> Vec<u8> {
    vec![0xA5; MAX_MESSAGE - unsigned_len]
}

/// One peer's flood: announcements of fresh channels, then orphans of both kinds.
fn flood(peer: usize) -> Vec<Vec<u8>> {
    let mut messages = Vec::with_capacity(3 * PER_KIND);
    for i in 0..PER_KIND {
        let block = 800_000 + (peer * PER_KIND + i) as u64;
        let channel = Channel::new(scid(block));
        let mut announcement = channel.announcement_fields();
        let plain = channel.sign_announcement(&announcement).len();
        announcement.excess = maximum_size(plain);
        messages.push(channel.sign_announcement(&announcement));

        let orphan = Channel::new(scid(block + 1_000_000));
        let mut update = orphan.update_fields(0, recent());
        let plain = orphan.sign_update(&update).len();
        update.excess = maximum_size(plain);
        messages.push(orphan.sign_update(&update));

        let mut node = orphan.node_fields(0, recent());
        let plain = orphan.sign_node(0, &node).len();
        node.excess = maximum_size(plain);
        messages.push(orphan.sign_node(0, &node));
    }
    debug_assert!(messages.iter().all(|m| m.len() == MAX_MESSAGE));
    messages
}

#[test]
fn thirty_two_peers_flooding_maximum_size_messages_stay_under_64_mb() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args: Vec<String> = [
        "--ping-interval-secs",
        "600",
        "--shards",
        "2",
        // Unpaced, so the whole flood arrives at once.
        "--peer-rate-bytes-per-sec",
        "1000000000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let node = Node::start(&dir.path().join("data"), &args);
    let floods: Vec<Vec<Vec<u8>>> = (0..PEERS).map(flood).collect();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let baseline = node.peak_rss();
    rt.block_on(async {
        let mut peers = Vec::new();
        for _ in 0..PEERS {
            peers.push(TestPeer::connect(node.listen(), &node.node_id).await);
        }
        let sending: Vec<_> = peers
            .into_iter()
            .zip(floods)
            .map(|(mut peer, messages)| {
                tokio::spawn(async move {
                    peer.send_all(&messages).await;
                    peer.barrier().await;
                    peer
                })
            })
            .collect();
        for task in sending {
            task.await.expect("peer task");
        }
    });
    let text = node.wait_until("every announcement accepted", |text| {
        metric(text, &accepted("channel_announcement")) >= (PEERS * PER_KIND) as f64
            && metric(text, "gossip_sieve_store_queue_depth") == 0.0
    });
    let peak = node.peak_rss();
    println!(
        "peak RSS {:.1} MB (at start {:.1} MB) after {} peers sent {} messages of {MAX_MESSAGE} bytes",
        peak as f64 / 1_048_576.0,
        baseline as f64 / 1_048_576.0,
        PEERS,
        PEERS * 3 * PER_KIND
    );
    assert_eq!(
        metric(&text, &accepted("channel_announcement")),
        (PEERS * PER_KIND) as f64,
        "every announcement was accepted"
    );
    assert!(
        peak <= LIMIT_BYTES,
        "peak RSS {peak} bytes over {LIMIT_BYTES}"
    );
}
