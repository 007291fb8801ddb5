//! Serving the verified graph back out (issue 12), over real sockets against the real binary:
//! - an LDK node (`PeerManager` + `P2PGossipSync`, written by others) that connects to
//!   gossip-sieve after it holds a graph ends up with exactly that graph, then receives gossip
//!   an upstream peer sends later, by relay, and never disconnects us;
//! - `query_channel_range` → `query_short_channel_ids` returns every stored message
//!   byte-identical to the store;
//! - a peer flooding `query_channel_range` never has more than one query answered at a time,
//!   and an honest peer alongside still gets its gossip accepted and its query answered.

mod common;
mod ldk;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::forge::{chain, recent, scid, Channel};
use common::node::Node;
use common::peer::TestPeer;
use common::python;
use gossip_sieve::wire::bolt1;
use gossip_sieve::wire::queries::{
    self, EncodedList, QueryChannelRange, QueryShortChannelIds, ReplyChannelRange,
    ReplyShortChannelIdsEnd,
};
use ldk::feed::{self, ExpectedGraph, StderrLogger};

/// Generous: relay and sync latency are benchmark figures, never test assertions.
const DEADLINE: Duration = Duration::from_secs(90);

/// `n` forged channels with both updates and both node announcements.
fn channels(n: u64, first_block: u64) -> Vec<Channel> {
    (0..n)
        .map(|i| Channel::new(scid(first_block + i)))
        .collect()
}

/// What LDK's graph holds after applying `msgs` directly: the independent expectation.
fn ldk_graph_of(msgs: &[Vec<u8>]) -> ExpectedGraph {
    let (graph, sync) = feed::new_gossip_sync(Arc::new(StderrLogger));
    for msg in msgs {
        let decoded = feed::decode(msg).expect("LDK decodes our forged gossip");
        feed::apply(&sync, None, &decoded).expect("LDK accepts our forged gossip");
    }
    ExpectedGraph::of(&graph)
}

/// Feeds `msgs` to the node from a fresh peer and waits until it accepted `accepted` messages
/// in all (a ping barrier alone says they reached the sieve, not the store).
async fn feed_node(node: &Node, msgs: &[Vec<u8>], accepted: f64) -> TestPeer {
    let mut peer = TestPeer::connect(node.listen(), &node.node_id).await;
    peer.send_all(msgs).await;
    peer.barrier().await;
    let text = node.wait_until("gossip accepted", |text| {
        common::metrics::sum_matching(text, "gossip_sieve_messages_accepted_total") >= accepted
    });
    drop(text);
    peer
}

/// Waits until the store file holds `n` live gossip messages (it flushes every second; what is
/// only buffered cannot be served yet).
async fn wait_stored(dir: &std::path::Path, n: usize) {
    let started = Instant::now();
    while stored(dir).len() < n {
        assert!(
            started.elapsed() < DEADLINE,
            "the store never held {n} messages"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_ldk(ldk: &ldk::LdkNode, want: &ExpectedGraph, what: &str) {
    let started = Instant::now();
    loop {
        let got = ExpectedGraph::of(&ldk.graph);
        if &got == want {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: LDK's graph never matched\n got {got:?}\nwant {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ldk_node_behind_gossip_sieve_gets_exactly_our_graph_then_relay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]);
    let now = recent();
    let first = channels(40, 700_000);
    let mut msgs: Vec<Vec<u8>> = first.iter().flat_map(|c| c.all()).collect();
    // One channel with only one direction updated: LDK must get exactly that direction.
    let one_sided = Channel::new(scid(690_000));
    msgs.push(one_sided.announcement());
    msgs.push(one_sided.update(0, now));
    let expected = ldk_graph_of(&msgs);
    assert_eq!(expected.channels, 41);
    let upstream = feed_node(&node, &msgs, msgs.len() as f64).await;

    // A downstream LDK node with an empty graph connects to us and syncs.
    let ldk = ldk::start_empty().await;
    let our_id = lightning::bitcoin::secp256k1::PublicKey::from_slice(&node.node_id.serialize())
        .expect("node id");
    let connection =
        lightning_net_tokio::connect_outbound(Arc::clone(&ldk.peer_manager), our_id, node.listen())
            .await
            .expect("LDK connects to gossip-sieve");
    tokio::spawn(connection);
    wait_for_ldk(&ldk, &expected, "initial sync").await;

    // Later gossip from the upstream peer reaches LDK by relay: a new channel, and a newer
    // update of a channel LDK already has.
    let mut upstream = upstream;
    let late = Channel::new(scid(710_000));
    let mut later = late.all();
    later.push(first[0].update(1, now + 60));
    upstream.send_all(&later).await;
    upstream.barrier().await;
    let mut all = msgs.clone();
    all.extend(later.iter().cloned());
    let expected_after = ldk_graph_of(&all);
    wait_for_ldk(&ldk, &expected_after, "relay").await;

    // LDK never disconnected us, and we sent it nothing it complained about.
    assert!(
        ldk.peer_manager.peer_by_node_id(&our_id).is_some(),
        "LDK is no longer connected to gossip-sieve"
    );
    let text = node.scrape();
    let sent = common::metrics::sum_matching(&text, "gossip_sieve_gossip_sent_total");
    assert!(sent >= all.len() as f64 - 2.0, "sent {sent}\n{text}");
    // Never echo: the upstream peer (gossip_queries, no filter) was sent nothing.
    assert_eq!(
        common::metrics::metric(&text, "gossip_sieve_serve_streaming_peers"),
        1.0,
        "only LDK streams"
    );
    node.stop();
}

/// Every live gossip message in the node's store, by bytes.
fn stored(dir: &std::path::Path) -> BTreeSet<Vec<u8>> {
    common::live_store_messages(dir)
        .into_iter()
        .filter(|msg| matches!(bolt1::message_type(msg), Some(256..=258)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_return_the_stored_messages_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]);
    let forged = channels(30, 600_000);
    let msgs: Vec<Vec<u8>> = forged.iter().flat_map(|c| c.all()).collect();
    let mut peer = feed_node(&node, &msgs, msgs.len() as f64).await;
    wait_stored(dir.path(), msgs.len()).await;
    let query = QueryChannelRange {
        chain_hash: chain(),
        first_blocknum: 0,
        number_of_blocks: u32::MAX,
        query_option: Some(
            queries::QUERY_OPTION_WANT_TIMESTAMPS | queries::QUERY_OPTION_WANT_CHECKSUMS,
        ),
        unknown_tlvs: Vec::new(),
    };
    peer.send(&query.serialize()).await;
    let mut scids = Vec::new();
    loop {
        let msg = peer.next().await.expect("reply_channel_range");
        if bolt1::message_type(&msg) != Some(queries::REPLY_CHANNEL_RANGE) {
            continue;
        }
        let reply = ReplyChannelRange::parse(&msg).expect("parse");
        let ids = reply.short_ids.values().expect("uncompressed").to_vec();
        let stamps = reply.timestamps.expect("timestamps asked for");
        assert_eq!(stamps.values().expect("uncompressed").len(), ids.len());
        assert_eq!(
            reply.checksums.expect("checksums asked for").len(),
            ids.len()
        );
        scids.extend(ids);
        if u64::from(reply.first_blocknum) + u64::from(reply.number_of_blocks)
            >= u64::from(u32::MAX)
        {
            break;
        }
    }
    let want: BTreeSet<u64> = forged.iter().map(|c| c.scid).collect();
    assert_eq!(scids.iter().copied().collect::<BTreeSet<_>>(), want);

    let query = QueryShortChannelIds {
        chain_hash: chain(),
        short_ids: EncodedList::Uncompressed(scids),
        query_flags: None,
        unknown_tlvs: Vec::new(),
    };
    peer.send(&query.serialize()).await;
    let mut got = BTreeSet::new();
    let end = loop {
        let msg = peer.next().await.expect("reply");
        match bolt1::message_type(&msg) {
            Some(queries::REPLY_SHORT_CHANNEL_IDS_END) => {
                break ReplyShortChannelIdsEnd::parse(&msg).expect("end")
            }
            Some(256..=258) => assert!(got.insert(msg), "a message sent twice"),
            _ => {}
        }
    };
    assert_eq!(
        got,
        stored(dir.path()),
        "replies equal the store byte for byte"
    );
    assert_eq!(got.len(), msgs.len());
    // No configured peers: our sync is complete once the pipeline drained.
    assert_eq!(end.full_information, 1);
    node.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_flood_gets_one_answer_at_a_time_and_an_honest_peer_is_unaffected() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A slow reply rate makes each answer outstanding long enough to flood over it.
    let node = Node::start(
        dir.path(),
        &["--serve-reply-bytes-per-sec".into(), "2000".into()],
    );
    let forged = channels(20, 500_000);
    let msgs: Vec<Vec<u8>> = forged.iter().flat_map(|c| c.all()).collect();
    drop(feed_node(&node, &msgs, msgs.len() as f64).await);
    wait_stored(dir.path(), msgs.len()).await;

    let mut attacker = TestPeer::connect(node.listen(), &node.node_id).await;
    let query = QueryShortChannelIds {
        chain_hash: chain(),
        short_ids: EncodedList::Uncompressed(forged.iter().map(|c| c.scid).collect()),
        query_flags: None,
        unknown_tlvs: Vec::new(),
    }
    .serialize();
    const FLOOD: usize = 200;
    for _ in 0..FLOOD {
        attacker.send(&query).await;
    }
    attacker.barrier().await;

    // An honest peer alongside: its gossip is accepted and its own query answered.
    let honest_channel = Channel::new(scid(800_000));
    let mut honest = TestPeer::connect(node.listen(), &node.node_id).await;
    honest.send_all(&honest_channel.all()).await;
    honest.barrier().await;
    node.wait_until("honest gossip accepted", |text| {
        common::metrics::sum_matching(text, "gossip_sieve_messages_accepted_total")
            >= (msgs.len() + 5) as f64
    });
    let honest_scids = honest.graph_scids().await;
    assert!(honest_scids.contains(&honest_channel.scid));

    let text = node.scrape();
    let answered = common::metrics::metric(
        &text,
        "gossip_sieve_queries_received_total{outcome=\"answered\",type=\"query_short_channel_ids\"}",
    );
    let refused = common::metrics::metric(
        &text,
        "gossip_sieve_queries_received_total{outcome=\"refused_outstanding\",type=\"query_short_channel_ids\"}",
    );
    assert_eq!(answered + refused, FLOOD as f64, "{text}");
    assert!(
        answered <= 2.0,
        "at 2000 B/s each answer (~{} bytes) takes seconds: at most one more finished meanwhile \
         ({answered} answered, {refused} refused)",
        msgs.len() * 200
    );
    // The attacker still gets answers, paced, and is not disconnected for flooding.
    let mut ends = 0;
    while ends < answered as usize {
        let msg = attacker.next().await.expect("attacker still connected");
        if bolt1::message_type(&msg) == Some(queries::REPLY_SHORT_CHANNEL_IDS_END) {
            ends += 1;
        }
    }
    node.stop();
}

/// Core Lightning's Python stack (pyln-proto transport and codec, pyln-bolt7 definitions) runs
/// query_channel_range → query_short_channel_ids and receives every stored message byte for
/// byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pyln_client_queries_and_gets_the_store_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]);
    let forged = channels(25, 650_000);
    let msgs: Vec<Vec<u8>> = forged.iter().flat_map(|c| c.all()).collect();
    drop(feed_node(&node, &msgs, msgs.len() as f64).await);
    wait_stored(dir.path(), msgs.len()).await;
    let mut command = python::interop_script("pyln_query.py");
    command
        .arg(hex::encode(node.node_id.serialize()))
        .arg(node.listen().to_string());
    let output = tokio::task::spawn_blocking(move || {
        python::run_to_success(
            command,
            "it needs pyln-proto and pyln-bolt7 (pip install -r tests/interop/requirements.txt, \
             then set GOSSIP_SIEVE_TEST_PYTHON)",
        )
    })
    .await
    .expect("join");
    let result: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON line from pyln_query.py");
    let scids: BTreeSet<u64> = result["scids"]
        .as_array()
        .expect("scids")
        .iter()
        .filter_map(|s| s.as_u64())
        .collect();
    assert_eq!(scids, forged.iter().map(|c| c.scid).collect());
    let got: Vec<Vec<u8>> = result["gossip"]
        .as_array()
        .expect("gossip")
        .iter()
        .map(|m| hex::decode(m.as_str().expect("hex")).expect("hex"))
        .collect();
    assert_eq!(got.len(), msgs.len(), "each message once");
    assert_eq!(
        got.into_iter().collect::<BTreeSet<_>>(),
        stored(dir.path()),
        "pyln received the store byte for byte"
    );
    assert_eq!(result["full_information"], 1);
    node.stop();
}

/// Issue 11 item 3, excess bytes: every valid message is accepted and stored whatever it
/// carries after its known fields (the signature covers those bytes, and dropping the message
/// would lose its policy), but, as LDK (`MAX_EXCESS_BYTES_FOR_RELAY`), one with more than
/// 1,024 excess bytes is served to no one: not in query replies, not in the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_with_more_excess_than_ldk_relays_are_stored_but_never_served() {
    use queries::GossipTimestampFilter;

    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]);
    let forged = channels(3, 650_000);
    let with_excess = |c: &Channel, excess: usize| {
        let mut update = c.update_fields(0, recent());
        update.excess = vec![0x5A; excess];
        c.sign_update(&update)
    };
    // The oversized update comes first, so the stream has passed it once the rest arrived.
    let oversized = with_excess(&forged[0], 1_025);
    let mut msgs = vec![forged[0].announcement(), oversized.clone()];
    msgs.extend(forged[0].all().into_iter().skip(2));
    msgs.extend([forged[1].announcement(), with_excess(&forged[1], 1_024)]);
    msgs.extend(forged[1].all().into_iter().skip(2));
    msgs.extend(forged[2].all());
    let mut peer = feed_node(&node, &msgs, msgs.len() as f64).await;
    wait_stored(dir.path(), msgs.len()).await;
    let stored = stored(dir.path());
    assert!(stored.contains(&oversized), "accepted and stored");
    let mut servable = stored.clone();
    servable.remove(&oversized);

    let query = QueryShortChannelIds {
        chain_hash: chain(),
        short_ids: EncodedList::Uncompressed(forged.iter().map(|c| c.scid).collect()),
        query_flags: None,
        unknown_tlvs: Vec::new(),
    };
    peer.send(&query.serialize()).await;
    let mut replied = BTreeSet::new();
    loop {
        let msg = peer.next().await.expect("reply");
        match bolt1::message_type(&msg) {
            Some(queries::REPLY_SHORT_CHANNEL_IDS_END) => break,
            Some(256..=258) => {
                replied.insert(msg);
            }
            _ => {}
        }
    }
    assert!(
        replied == servable,
        "query replies: {} of {} servable messages, the oversized update among them: {}",
        replied.intersection(&servable).count(),
        servable.len(),
        replied.contains(&oversized)
    );

    let mut listener = TestPeer::connect(node.listen(), &node.node_id).await;
    let filter = GossipTimestampFilter {
        chain_hash: chain(),
        first_timestamp: 0,
        timestamp_range: u32::MAX,
    };
    listener.send(&filter.serialize()).await;
    let mut streamed = BTreeSet::new();
    while !servable.is_subset(&streamed) {
        let msg = listener.next().await.expect("streamed gossip");
        if matches!(bolt1::message_type(&msg), Some(256..=258)) {
            assert_ne!(
                msg, oversized,
                "an update with 1,025 excess bytes was streamed"
            );
            streamed.insert(msg);
        }
    }
    assert!(
        streamed == servable,
        "the stream sent more than the store's servable messages"
    );
    node.stop();
}
