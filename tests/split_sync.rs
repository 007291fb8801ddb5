//! Our own initial sync split over several peers (`--initial-sync split`, issue 12 item 4),
//! over real sockets against the real binary:
//! - from two gossip-sieve nodes serving one graph from their stores: the store ends up with
//!   exactly that graph, and each serving node answered `query_short_channel_ids` (its own
//!   served-query counter), so the chunks were spread;
//! - a peer that takes a chunk and disconnects when asked for its channels: the chunk goes back
//!   and the other peer serves it; the graph still completes;
//! - a real LDK node (which ignores `query_short_channel_ids`): the query times out, the node
//!   asks LDK for a full dump instead, and the graph completes;
//! - a peer flooding `reply_channel_range`s we never asked for while its seeker waits: the
//!   queue for the seeker holds to its caps in messages and bytes, the excess is dropped as
//!   `reply_queue_full`, and the sync still completes.

mod common;
mod ldk;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::forge::{chain, recent, scid, Channel};
use common::node::Node;
use common::peer::TestPeer;
use gossip_sieve::peer::identity::NodeIdentity;
use gossip_sieve::transport::handshake_responder;
use gossip_sieve::wire::bolt1::{self, Init, Ping};
use gossip_sieve::wire::queries::{
    self, EncodedList, QueryChannelRange, ReplyChannelRange, TimestampPair,
};

/// Generous: sync time is a benchmark figure, never a test assertion.
const DEADLINE: Duration = Duration::from_secs(120);

const ANSWERED_SCID_QUERIES: &str =
    "gossip_sieve_queries_received_total{outcome=\"answered\",type=\"query_short_channel_ids\"}";

fn forged_graph(n: u64, first_block: u64) -> Vec<Vec<u8>> {
    (0..n)
        .flat_map(|i| Channel::new(scid(first_block + i)).all())
        .collect()
}

fn stored(dir: &std::path::Path) -> BTreeSet<Vec<u8>> {
    if !dir.join(gossip_sieve::store::STORE_FILE).exists() {
        return BTreeSet::new();
    }
    // Gossip only: the store also holds its own records (channel amounts, ...).
    common::live_store_messages(dir)
        .into_iter()
        .filter(|m| matches!(bolt1::message_type(m), Some(256..=258)))
        .collect()
}

/// Waits until the store holds exactly `want` (it flushes every second).
async fn wait_store_equals(dir: &std::path::Path, want: &BTreeSet<Vec<u8>>) {
    let started = Instant::now();
    loop {
        let got = stored(dir);
        if &got == want {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the store never held exactly the graph: {} of {} messages, {} extra",
            got.intersection(want).count(),
            want.len(),
            got.difference(want).count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A node serving `msgs` from its store (fed by a test peer, then flushed), started with
/// `args`.
async fn serving_node(dir: &std::path::Path, msgs: &[Vec<u8>], args: &[String]) -> Node {
    let node = Node::start(dir, args);
    let mut peer = TestPeer::connect(node.listen(), &node.node_id).await;
    peer.send_all(msgs).await;
    peer.barrier().await;
    let want: BTreeSet<Vec<u8>> = msgs.iter().cloned().collect();
    wait_store_equals(dir, &want).await;
    node
}

fn peer_arg(node: &Node) -> String {
    format!(
        "{}@{}",
        hex::encode(node.node_id.serialize()),
        node.listen()
    )
}

fn split_args(peers: &[String], extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--initial-sync".to_string(), "split".to_string()];
    for peer in peers {
        args.push("--peer".into());
        args.push(peer.clone());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_sync_from_two_gossip_sieve_nodes_gets_exactly_the_graph_from_both() {
    // 600 channels in 600 consecutive blocks: one 4,032-block chunk, cut into six pieces of
    // ~100 channels that the two peers take in turn.
    let msgs = forged_graph(600, 700_000);
    let want: BTreeSet<Vec<u8>> = msgs.iter().cloned().collect();
    // Replies paced (60 kB/s, ~2 s a piece) so neither peer can take every piece before the
    // other is back for more.
    let pace = vec!["--serve-reply-bytes-per-sec".to_string(), "60000".into()];
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let a = serving_node(dirs[0].path(), &msgs, &pace).await;
    let b = serving_node(dirs[1].path(), &msgs, &pace).await;

    let ours = Node::start(
        dirs[2].path(),
        &split_args(&[peer_arg(&a), peer_arg(&b)], &[]),
    );
    wait_store_equals(dirs[2].path(), &want).await;
    ours.wait_for("gossip_sieve_sync_complete", 1.0);

    // Each peer answered at least one chunk's query_short_channel_ids.
    for (name, node) in [("a", &a), ("b", &b)] {
        assert!(
            node.value(ANSWERED_SCID_QUERIES) >= 1.0,
            "peer {name} answered no query_short_channel_ids"
        );
    }
    assert_eq!(ours.value("gossip_sieve_split_fallbacks_total"), 0.0);
    assert!(
        ours.value("gossip_sieve_split_queries_sent_total{type=\"query_short_channel_ids\"}")
            >= 6.0
    );
    assert_eq!(
        ours.value("gossip_sieve_split_chunks{state=\"queued\"}"),
        0.0
    );
    assert_eq!(
        ours.value("gossip_sieve_split_chunks{state=\"outstanding\"}"),
        0.0
    );
}

/// Accepts one connection from the node (then stops listening), runs the BOLT 8 responder
/// handshake as `me` and sends our `init` (with gossip_queries).
async fn accept_node(
    listener: tokio::net::TcpListener,
    me: &NodeIdentity,
) -> Option<(
    gossip_sieve::transport::Bolt8Reader,
    gossip_sieve::transport::Bolt8Writer,
)> {
    let (stream, _) = listener.accept().await.ok()?;
    drop(listener);
    let (_, reader, mut writer) = handshake_responder(stream, me.secret(), Duration::from_secs(10))
        .await
        .ok()?;
    writer
        .write_message(&Init::ours(chain()).serialize())
        .await
        .ok()?;
    Some((reader, writer))
}

async fn answer_ping(writer: &mut gossip_sieve::transport::Bolt8Writer, ping: &[u8]) -> Option<()> {
    if let Some(pong) = Ping::parse(ping).ok()?.pong_reply() {
        writer.write_message(&pong.serialize()).await.ok()?;
    }
    Some(())
}

/// A peer that accepts one connection from the node, lists one channel nobody has in every
/// chunk it is asked about, and hangs up when asked for it. Returns the chunk it left
/// (first_blocknum, number_of_blocks).
async fn take_a_chunk_and_hang_up(
    listener: tokio::net::TcpListener,
    me: NodeIdentity,
) -> Option<(u32, u32)> {
    // One connection only: a redial is refused, so the chunk must go to the other peer.
    let (mut reader, mut writer) = accept_node(listener, &me).await?;
    let mut last_range = None;
    loop {
        let msg = reader.read_message().await.ok()??;
        match bolt1::message_type(&msg) {
            Some(queries::QUERY_CHANNEL_RANGE) => {
                let query = QueryChannelRange::parse(&msg).ok()?;
                last_range = Some((query.first_blocknum, query.number_of_blocks));
                let fake = (u64::from(query.first_blocknum) << 40) | (0xfff_fff << 16);
                let reply = ReplyChannelRange {
                    chain_hash: chain(),
                    first_blocknum: query.first_blocknum,
                    number_of_blocks: query.number_of_blocks,
                    sync_complete: 1,
                    short_ids: EncodedList::Uncompressed(vec![fake]),
                    timestamps: Some(EncodedList::Uncompressed(vec![TimestampPair {
                        timestamp_node_id_1: recent(),
                        timestamp_node_id_2: recent(),
                    }])),
                    checksums: None,
                    unknown_tlvs: Vec::new(),
                };
                writer.write_message(&reply.serialize()).await.ok()?;
            }
            Some(queries::QUERY_SHORT_CHANNEL_IDS) => return last_range,
            Some(bolt1::PING) => answer_ping(&mut writer, &msg).await?,
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_disconnects_mid_chunk_has_its_chunk_served_by_another() {
    let msgs = forged_graph(150, 700_000);
    let want: BTreeSet<Vec<u8>> = msgs.iter().cloned().collect();
    let dirs: Vec<_> = (0..2)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let honest = serving_node(dirs[0].path(), &msgs, &[]).await;

    let (listener, me, flaky_arg) = scripted_peer_listener().await;
    let flaky = tokio::spawn(take_a_chunk_and_hang_up(listener, me));

    let ours = Node::start(
        dirs[1].path(),
        &split_args(&[peer_arg(&honest), flaky_arg], &[]),
    );
    let left = tokio::time::timeout(DEADLINE, flaky)
        .await
        .expect("the flaky peer was never asked for channels")
        .expect("flaky peer task");
    let (first, number) = left.expect("the flaky peer hung up without a chunk");
    eprintln!("the flaky peer left chunk {first}+{number}");
    wait_store_equals(dirs[1].path(), &want).await;
    // Complete means every chunk answered, the one the flaky peer left included: only the
    // honest peer was left to answer it.
    ours.wait_for("gossip_sieve_sync_complete", 1.0);
    assert!(ours.value("gossip_sieve_split_chunks_requeued_total{reason=\"disconnected\"}") >= 1.0);
    assert_eq!(ours.value("gossip_sieve_split_fallbacks_total"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ldk_peer_that_ignores_scid_queries_falls_back_to_a_dump_and_the_graph_completes() {
    let ldk = ldk::start(ldk::spec(40, 100, 31)).await;
    let expected = ldk.expected.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let ours = Node::start(
        dir.path(),
        &split_args(&[ldk.peer_arg()], &["--split-query-timeout-ms", "1000"]),
    );
    // LDK answered our range queries, then left query_short_channel_ids unanswered.
    ours.wait_for("gossip_sieve_split_fallbacks_total", 1.0);
    let text = ours.wait_until("LDK's whole graph", |text| {
        common::metrics::metric(text, "gossip_sieve_graph_channels") >= expected.channels as f64
            && common::metrics::metric(text, "gossip_sieve_graph_nodes") >= expected.nodes as f64
    });
    assert_eq!(
        common::metrics::metric(&text, "gossip_sieve_graph_channels") as usize,
        expected.channels
    );
    ours.wait_for("gossip_sieve_sync_complete", 1.0);
    assert!(ours.value("gossip_sieve_split_chunks_requeued_total{reason=\"unanswered\"}") >= 1.0);
    assert!(
        ldk.is_connected_to(&ours.node_id.serialize()),
        "LDK kept us"
    );
}

/// How a lying peer answers our first `query_channel_range`.
#[derive(Clone, Copy)]
enum Lie {
    /// A first reply starting after the queried first block.
    RangeStartsLate,
    /// Reply after reply of 8,000 ids, never covering the chunk.
    EndlessIds,
}

/// Accepts the node, sends an unsolicited `reply_short_channel_ids_end`, answers the first
/// range query with `lie`, and reads until the node asks for a full dump
/// (`gossip_timestamp_filter` from 0). Returns whether a `warning` came before it.
async fn lie_and_watch(
    listener: tokio::net::TcpListener,
    me: NodeIdentity,
    lie: Lie,
) -> Option<bool> {
    let (mut reader, mut writer) = accept_node(listener, &me).await?;
    let unsolicited = queries::ReplyShortChannelIdsEnd {
        chain_hash: chain(),
        full_information: 1,
    };
    writer.write_message(&unsolicited.serialize()).await.ok()?;
    let mut warned = false;
    loop {
        let msg = reader.read_message().await.ok()??;
        match bolt1::message_type(&msg) {
            Some(queries::QUERY_CHANNEL_RANGE) => {
                let query = QueryChannelRange::parse(&msg).ok()?;
                let block = u64::from(query.first_blocknum);
                let reply = |first_blocknum: u32, ids: Vec<u64>| ReplyChannelRange {
                    chain_hash: chain(),
                    first_blocknum,
                    number_of_blocks: 1,
                    sync_complete: 0,
                    short_ids: EncodedList::Uncompressed(ids),
                    timestamps: None,
                    checksums: None,
                    unknown_tlvs: Vec::new(),
                };
                match lie {
                    Lie::RangeStartsLate => {
                        let late = reply(query.first_blocknum + 1, vec![(block + 1) << 40]);
                        writer.write_message(&late.serialize()).await.ok()?;
                    }
                    Lie::EndlessIds => {
                        for batch in 0..20u64 {
                            let ids = (0..8000u64)
                                .map(|i| (block << 40) | ((batch * 8000 + i) << 16))
                                .collect();
                            let msg = reply(query.first_blocknum, ids).serialize();
                            if writer.write_message(&msg).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            }
            Some(bolt1::WARNING) => warned = true,
            Some(queries::GOSSIP_TIMESTAMP_FILTER) => {
                let filter = queries::GossipTimestampFilter::parse(&msg).ok()?;
                if filter.first_timestamp == 0 {
                    return Some(warned);
                }
            }
            Some(bolt1::PING) => answer_ping(&mut writer, &msg).await?,
            _ => {}
        }
    }
}

/// A listening socket for a scripted peer, its identity, and the `--peer` argument naming it.
async fn scripted_peer_listener() -> (tokio::net::TcpListener, NodeIdentity, String) {
    let me = NodeIdentity::random();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let arg = format!(
        "{}@{}",
        me.node_id_hex(),
        listener.local_addr().expect("addr")
    );
    (listener, me, arg)
}

async fn lying_peer_case(lie: Lie, reason: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (listener, me, arg) = scripted_peer_listener().await;
    let liar = tokio::spawn(lie_and_watch(listener, me, lie));
    let mut ours = Node::start(dir.path(), &split_args(&[arg], &[]));
    let warned = tokio::time::timeout(DEADLINE, liar)
        .await
        .expect("the node never asked the liar for a dump")
        .expect("liar task")
        .expect("the node hung up on the liar");
    assert!(warned, "no warning before the dump request");
    let text = ours.wait_for(
        &format!("gossip_sieve_split_reply_drops_total{{reason=\"{reason}\"}}"),
        1.0,
    );
    assert!(
        common::metrics::metric(
            &text,
            "gossip_sieve_split_reply_drops_total{reason=\"unsolicited\"}"
        ) >= 1.0
    );
    assert!(
        common::metrics::metric(
            &text,
            "gossip_sieve_split_chunks_requeued_total{reason=\"bad_replies\"}"
        ) >= 1.0
    );
    // The bound the liar ran into is exported.
    assert!(
        common::metrics::metric(&text, "gossip_sieve_limit{name=\"peer_split_chunk_scids\"}") > 0.0
    );
    ours.assert_alive_without_panic();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_channel_range_that_starts_after_the_query_is_refused_with_a_warning() {
    lying_peer_case(Lie::RangeStartsLate, "bad_range").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_reply_channel_range_ids_stop_at_the_chunk_cap() {
    lying_peer_case(Lie::EndlessIds, "too_many_scids").await;
}

/// What the test orders a chunk peer to do.
enum Order {
    /// Write these messages now.
    Send(Vec<Vec<u8>>),
    /// Answer the chunk it holds.
    Release,
}

/// One `reply_channel_range` covering `query`'s blocks and listing none of them.
fn covering_reply(query: &QueryChannelRange) -> Vec<u8> {
    ReplyChannelRange {
        chain_hash: chain(),
        first_blocknum: query.first_blocknum,
        number_of_blocks: query.number_of_blocks,
        sync_complete: 1,
        short_ids: EncodedList::Uncompressed(Vec::new()),
        timestamps: None,
        checksums: None,
        unknown_tlvs: Vec::new(),
    }
    .serialize()
}

/// A peer with no channels: answers every `query_channel_range` at once with an empty reply
/// covering it, except the chunk starting at block 0, the last one handed out (chunks go from
/// the highest blocks down), which it holds, telling `held` its `index`, until ordered to
/// release it. Writes whatever it is ordered to.
async fn chunk_peer(
    listener: tokio::net::TcpListener,
    me: NodeIdentity,
    index: usize,
    held: tokio::sync::mpsc::Sender<usize>,
    mut orders: tokio::sync::mpsc::Receiver<Order>,
) -> Option<()> {
    let (mut reader, mut writer) = accept_node(listener, &me).await?;
    // Read on a task of its own: `read_message` is not cancel-safe, so it never sits in the
    // select below.
    let (incoming_tx, mut incoming) = tokio::sync::mpsc::channel(64);
    let reading = tokio::spawn(async move {
        while let Ok(Some(msg)) = reader.read_message().await {
            if incoming_tx.send(msg).await.is_err() {
                break;
            }
        }
    });
    let mut holding = None;
    let outcome = loop {
        tokio::select! {
            msg = incoming.recv() => {
                let Some(msg) = msg else { break None };
                match bolt1::message_type(&msg) {
                    Some(queries::QUERY_CHANNEL_RANGE) => {
                        let query = QueryChannelRange::parse(&msg).ok()?;
                        if query.first_blocknum == 0 {
                            holding = Some(query);
                            held.send(index).await.ok()?;
                        } else {
                            writer.write_message(&covering_reply(&query)).await.ok()?;
                        }
                    }
                    Some(bolt1::PING) => answer_ping(&mut writer, &msg).await?,
                    _ => {}
                }
            }
            order = orders.recv() => match order {
                Some(Order::Send(msgs)) => {
                    for msg in msgs {
                        writer.write_message(&msg).await.ok()?;
                    }
                }
                Some(Order::Release) => {
                    let query = holding.take()?;
                    writer.write_message(&covering_reply(&query)).await.ok()?;
                }
                None => break Some(()),
            }
        }
    };
    reading.abort();
    outcome
}

/// What a queue capped at `max_messages` and `max_bytes` keeps of `sizes` arriving in turn
/// with nothing taken: (messages, bytes).
fn kept_under_caps(sizes: &[usize], max_messages: usize, max_bytes: usize) -> (usize, usize) {
    let (mut messages, mut bytes) = (0, 0);
    for &size in sizes {
        if messages < max_messages && bytes + size <= max_bytes {
            messages += 1;
            bytes += size;
        }
    }
    (messages, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_flood_while_the_seeker_waits_is_capped_in_messages_and_bytes() {
    const MAX_REPLIES: usize = 16;
    const MAX_BYTES: usize = 65_536;
    let dir = tempfile::tempdir().expect("tempdir");
    let (held_tx, mut held_rx) = tokio::sync::mpsc::channel(2);
    let mut orders = Vec::new();
    let mut peer_args = Vec::new();
    let mut tasks = Vec::new();
    for index in 0..2 {
        let (listener, me, arg) = scripted_peer_listener().await;
        let (order_tx, order_rx) = tokio::sync::mpsc::channel(4);
        tasks.push(tokio::spawn(chunk_peer(
            listener,
            me,
            index,
            held_tx.clone(),
            order_rx,
        )));
        orders.push(order_tx);
        peer_args.push(arg);
    }
    let mut ours = Node::start(
        dir.path(),
        &split_args(
            &peer_args,
            &[
                // The holder keeps its chunk unanswered while the test floods and scrapes.
                "--split-query-timeout-ms",
                "120000",
                "--split-reply-queue-cap",
                &MAX_REPLIES.to_string(),
                "--split-reply-queue-bytes-cap",
                &MAX_BYTES.to_string(),
            ],
        ),
    );
    let holder = tokio::time::timeout(DEADLINE, held_rx.recv())
        .await
        .expect("no peer was asked for the chunk at block 0")
        .expect("held channel");
    let flooder = 1 - holder;
    // Every other chunk answered: the flooder's seeker has finished its last chunk and waits
    // for the held one (the plan has nothing else to hand out), so it takes no reply from
    // its queue; what the flood leaves there is the most the queue ever held.
    ours.wait_until("only the held chunk out", |text| {
        common::metrics::metric(text, "gossip_sieve_split_chunks{state=\"queued\"}") == 0.0
            && common::metrics::metric(text, "gossip_sieve_split_chunks{state=\"outstanding\"}")
                == 1.0
    });

    // Replies we never asked for: 20 of ~8 KB (the byte cap binds at 8), then 30 small ones
    // (the message cap binds at 16).
    let reply = |ids: u64| {
        ReplyChannelRange {
            chain_hash: chain(),
            first_blocknum: 0,
            number_of_blocks: 1,
            sync_complete: 1,
            short_ids: EncodedList::Uncompressed((0..ids).map(|i| i << 16).collect()),
            timestamps: None,
            checksums: None,
            unknown_tlvs: Vec::new(),
        }
        .serialize()
    };
    let flood: Vec<Vec<u8>> = (0..20)
        .map(|_| reply(1000))
        .chain((0..30).map(|_| reply(1)))
        .collect();
    let sizes: Vec<usize> = flood.iter().map(Vec::len).collect();
    let (kept, kept_bytes) = kept_under_caps(&sizes, MAX_REPLIES, MAX_BYTES);
    assert_eq!(kept, MAX_REPLIES, "the flood is built to reach both caps");
    orders[flooder]
        .send(Order::Send(flood.clone()))
        .await
        .expect("flooder alive");

    const FULL: &str = "gossip_sieve_split_reply_drops_total{reason=\"reply_queue_full\"}";
    const QUEUED: &str = "gossip_sieve_split_reply_queue_messages";
    const QUEUED_BYTES: &str = "gossip_sieve_split_reply_queue_bytes";
    let text = ours.wait_until("every flooded reply queued or dropped", |text| {
        common::metrics::metric(text, FULL) + common::metrics::metric(text, QUEUED)
            >= flood.len() as f64
    });
    let queued_bytes = common::metrics::metric(&text, QUEUED_BYTES);
    assert!(
        queued_bytes <= MAX_BYTES as f64,
        "the queue holds {queued_bytes} bytes, over its {MAX_BYTES}-byte cap"
    );
    let queued = common::metrics::metric(&text, QUEUED);
    assert!(
        queued <= MAX_REPLIES as f64,
        "the queue holds {queued} replies, over its cap of {MAX_REPLIES}"
    );
    // Exactly what the caps keep, in arrival order; the rest dropped.
    assert_eq!((queued as usize, queued_bytes as usize), (kept, kept_bytes));
    assert_eq!(
        common::metrics::metric(&text, FULL) as usize,
        flood.len() - kept
    );
    // The caps are exported.
    assert_eq!(
        common::metrics::metric(&text, "gossip_sieve_limit{name=\"peer_split_reply_queue\"}"),
        MAX_REPLIES as f64
    );
    assert_eq!(
        common::metrics::metric(
            &text,
            "gossip_sieve_limit{name=\"peer_split_reply_queue_bytes\"}"
        ),
        MAX_BYTES as f64
    );

    // The held chunk is answered as usual, the sync completes, and the flooder's queue is
    // given back when its seeker ends; nobody was disconnected or sent for a dump.
    orders[holder]
        .send(Order::Release)
        .await
        .expect("holder alive");
    ours.wait_for("gossip_sieve_sync_complete", 1.0);
    let text = ours.wait_until("the queued replies released", |text| {
        common::metrics::metric(text, QUEUED_BYTES) == 0.0
            && common::metrics::metric(text, QUEUED) == 0.0
    });
    for (series, want) in [
        ("gossip_sieve_split_chunks{state=\"outstanding\"}", 0.0),
        ("gossip_sieve_split_fallbacks_total", 0.0),
        ("gossip_sieve_peers_connected", 2.0),
    ] {
        assert_eq!(common::metrics::metric(&text, series), want, "{series}");
    }
    assert_eq!(
        common::metrics::sum_matching(&text, "gossip_sieve_split_chunks_requeued_total"),
        0.0,
        "no chunk went back"
    );
    ours.assert_alive_without_panic();
    drop(orders);
    for task in tasks {
        let _ = task.await;
    }
}
