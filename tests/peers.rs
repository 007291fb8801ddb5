//! The node as a real Lightning peer, over loopback sockets: the `run` binary dials synthetic
//! BOLT 8 peers and ends with their whole graph; hostile peers are disconnected and counted
//! under their reason while a well-behaved peer connected at the same time is unaffected.

mod common;

use std::path::Path;
use std::time::Duration;

use gossip_sieve::config::PeerAddr;
use gossip_sieve::peer::identity::NodeIdentity;
use gossip_sieve::peer::open_frames;
use gossip_sieve::sim::peer::{SyntheticConfig, SyntheticPeers};
use gossip_sieve::transport::handshake::InitiatorStart;
use gossip_sieve::wire::bolt1;
use gossip_sieve::wire::gossip::ChannelAnnouncement;
use gossip_sieve::wire::kind::CHANNEL_ANNOUNCEMENT;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::forge::chain;
use common::metrics::{disconnects, metric, relevant};
use common::node::Node;
use common::peer::TestPeer;

const NODES: usize = 150;
const CHANNELS: usize = 500;
const UPDATES_ACCEPTED: &str = "gossip_sieve_messages_accepted_total{type=\"channel_update\"}";

fn peer_arg(peer: &PeerAddr) -> [String; 2] {
    ["--peer".to_string(), peer.to_string()]
}

#[test]
fn run_dials_a_synthetic_peer_and_ends_with_its_whole_graph() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = common::corpus(dir.path(), NODES, CHANNELS, 0.0);
    let peers = SyntheticPeers::start(1, &corpus, SyntheticConfig::new(chain())).expect("peers");
    let data_dir = dir.path().join("data");
    let node = Node::start(&data_dir, &peer_arg(&peers.addresses()[0]));
    // The synthetic peer closes cleanly once it has sent everything.
    node.wait_for(&disconnects("remote_closed"), 1.0);
    let text = node.wait_for(UPDATES_ACCEPTED, 2.0 * CHANNELS as f64);
    assert_eq!(metric(&text, UPDATES_ACCEPTED), 2.0 * CHANNELS as f64);
    assert_eq!(
        metric(&text, "gossip_sieve_graph_channels"),
        CHANNELS as f64
    );
    assert_eq!(metric(&text, "gossip_sieve_graph_nodes"), NODES as f64);
    let first_id = node.node_id;
    node.stop();
    assert_each_sent_the_corpus(peers.join(), &corpus);

    // The key was kept: the node comes back with the same id, and with the graph it stored.
    let again = Node::start(&data_dir, &[]);
    assert_eq!(again.node_id, first_id);
    assert_eq!(again.value("gossip_sieve_graph_channels"), CHANNELS as f64);
    again.stop();
}

/// Every synthetic peer ended without an error, having sent every frame of `corpus`.
fn assert_each_sent_the_corpus(
    results: Vec<anyhow::Result<gossip_sieve::sim::peer::SyntheticStats>>,
    corpus: &Path,
) {
    let frames = open_frames(corpus).expect("corpus").count() as u64;
    assert!(!results.is_empty());
    for result in results {
        match result {
            Ok(stats) => assert_eq!(stats.frames_sent, frames, "{stats:?}"),
            Err(err) => panic!("synthetic peer failed: {err:#}"),
        }
    }
}

/// Channel announcements from the corpus moved to channels nobody announced (so dedup does not
/// discard them before verification), which breaks their signatures.
fn invalid_announcements(corpus: &Path, count: usize) -> Vec<Vec<u8>> {
    open_frames(corpus)
        .expect("corpus")
        .filter_map(|f| f.ok())
        .filter(|f| bolt1::message_type(f) == Some(CHANNEL_ANNOUNCEMENT))
        .take(count)
        .enumerate()
        .map(|(i, f)| {
            let mut ann = ChannelAnnouncement::parse(&f).expect("announcement");
            ann.short_channel_id = ((900_000 + i as u64) << 40) | 1;
            ann.serialize()
        })
        .collect()
}

/// Reads until the node closes or resets the connection.
async fn drain(mut reader: gossip_sieve::transport::Bolt8Reader) {
    while let Ok(Some(_)) = reader.read_message().await {}
}

#[test]
fn hostile_peers_are_dropped_and_counted_while_a_good_peer_delivers_its_graph() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = common::corpus(dir.path(), NODES, CHANNELS, 0.0);
    let good = SyntheticPeers::start(1, &corpus, SyntheticConfig::new(chain())).expect("peers");
    let mut args = vec![
        "--handshake-timeout-ms".to_string(),
        "700".to_string(),
        "--disconnect-score".to_string(),
        "20".to_string(),
    ];
    args.extend(peer_arg(&good.addresses()[0]));
    let node = Node::start(&dir.path().join("data"), &args);
    let listen = node.listen.expect("listen");
    let bad = invalid_announcements(&corpus, 25);
    assert_eq!(bad.len(), 25);

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        // Garbage instead of act one: version byte and key are wrong.
        let garbage = async {
            let mut s = tokio::net::TcpStream::connect(listen)
                .await
                .expect("connect");
            s.write_all(&[0xAB; 50]).await.expect("write");
            let mut buf = [0u8; 64];
            // The node closes without answering.
            let n = s.read(&mut buf).await.unwrap_or(0);
            assert_eq!(n, 0, "node answered garbage");
        };
        // A valid act one, then silence: the node must give up waiting for act three.
        let stall = async {
            let mut s = tokio::net::TcpStream::connect(listen)
                .await
                .expect("connect");
            let me = NodeIdentity::random();
            let (act_one, _awaiting) = InitiatorStart::new(me.secret(), &node.node_id).act_one();
            s.write_all(&act_one).await.expect("act one");
            let mut act_two = [0u8; 50];
            s.read_exact(&mut act_two).await.expect("act two");
            let mut rest = [0u8; 1];
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut rest))
                .await
                .expect("node never closed the stalled handshake")
                .unwrap_or(0);
            assert_eq!(n, 0);
        };
        // A message of unknown even type after init.
        let unknown_even = async {
            let mut peer = TestPeer::connect(listen, &node.node_id).await;
            peer.send(&[0x03, 0xE8, 1, 2, 3]).await;
            let types = peer.read_to_close().await;
            assert!(
                types.contains(&bolt1::ERROR),
                "no error before close: {types:?}"
            );
        };
        // Distinct invalid signatures, each sent once: only the shards see that they are
        // bad, after admission, and must charge them to this peer.
        let flood = async {
            let TestPeer {
                reader, mut writer, ..
            } = TestPeer::connect(listen, &node.node_id).await;
            let reading = tokio::spawn(async move { drain(reader).await });
            for msg in &bad {
                if writer.write_message(msg).await.is_err() {
                    break;
                }
            }
            // The node sends an error, but closing with our flood unread in its buffer makes
            // its kernel reset the connection, which may discard that error before we read
            // it; the disconnect counter below is the check.
            reading.await.expect("reader");
        };
        tokio::join!(garbage, stall, unknown_even, flood);
    });

    let text = node.wait_for(UPDATES_ACCEPTED, 2.0 * CHANNELS as f64);
    for reason in [
        "bad_act",
        "handshake_timeout",
        "unknown_even_type",
        "misbehaving",
    ] {
        assert_eq!(
            metric(&text, &disconnects(reason)),
            1.0,
            "{reason}:\n{}",
            relevant(&text)
        );
    }
    assert_eq!(
        metric(&text, "gossip_sieve_graph_channels"),
        CHANNELS as f64
    );
    assert_eq!(metric(&text, "gossip_sieve_graph_nodes"), NODES as f64);
    node.wait_for(&disconnects("remote_closed"), 1.0);
    assert_eq!(node.value("gossip_sieve_peers_connected"), 0.0);
    node.stop();
    assert_each_sent_the_corpus(good.join(), &corpus);
}

#[test]
fn a_peer_that_answers_no_pings_is_dropped_with_ping_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = common::corpus(dir.path(), NODES, CHANNELS, 0.0);
    let mute = SyntheticConfig {
        answer_pings: false,
        close_when_done: false,
        ..SyntheticConfig::new(chain())
    };
    let peers = SyntheticPeers::start(1, &corpus, mute).expect("peers");
    let mut args = vec![
        "--ping-interval-secs".to_string(),
        "1".to_string(),
        "--ping-timeout-secs".to_string(),
        "1".to_string(),
        // The config requires a shard stall to end before a ping times out.
        "--stall-timeout-ms".to_string(),
        "500".to_string(),
    ];
    args.extend(peer_arg(&peers.addresses()[0]));
    let node = Node::start(&dir.path().join("data"), &args);
    let text = node.wait_for(&disconnects("ping_timeout"), 1.0);
    // It was dropped only after going silent, so all it sent was read.
    let text = if metric(&text, UPDATES_ACCEPTED) < 2.0 * CHANNELS as f64 {
        node.wait_for(UPDATES_ACCEPTED, 2.0 * CHANNELS as f64)
    } else {
        text
    };
    assert_eq!(
        metric(&text, "gossip_sieve_graph_channels"),
        CHANNELS as f64
    );
    assert_eq!(metric(&text, &disconnects("remote_closed")), 0.0);
    node.stop();
    assert_each_sent_the_corpus(peers.join(), &corpus);
}

#[test]
fn demo_runs_its_synthetic_peers_over_bolt8_and_builds_the_whole_graph() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().to_str().expect("utf-8");
    let summary = common::run_json(&[
        "demo",
        "--peers",
        "3",
        "--nodes",
        &NODES.to_string(),
        "--channels",
        &CHANNELS.to_string(),
        "--cache-dir",
        cache,
        "--metrics",
        "127.0.0.1:0",
        "--json",
    ]);
    assert_eq!(common::get(&summary, &["graph_channels"]), CHANNELS as u64);
    assert_eq!(common::get(&summary, &["graph_nodes"]), NODES as u64);
    common::assert_counts_balance(&summary);
    // Three peers each sent every announcement: two copies of each (plus invalid copies of
    // known channels, the demo corpus has some) are duplicates.
    assert!(common::dropped(&summary, "channel_announcement", "duplicate") >= 2 * CHANNELS as u64);
}

#[test]
fn a_peer_over_the_ban_score_is_refused_until_its_ban_ends_even_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let corpus = common::corpus(dir.path(), NODES, CHANNELS, 0.0);
    let bad = invalid_announcements(&corpus, 16);
    let scores: Vec<String> = ["--disconnect-score", "3", "--ban-score", "6"]
        .map(String::from)
        .to_vec();
    let node = Node::start(&data, &scores);
    let offender = NodeIdentity::random();
    let connect = |node: &Node, me: &NodeIdentity| {
        let (listen, node_id) = (node.listen(), node.node_id);
        let me = NodeIdentity::from_secret(*me.secret());
        async move { TestPeer::connect_as(listen, &node_id, &me).await }
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    // Each session sends four new forgeries (a resend of a rejected one is not charged: it
    // costs no check, and a relayer re-offering it after a reconnect is no worse for it), so
    // the score climbs by up to four per session: a disconnect at 3, a ban at 6, and from then
    // on no session at all.
    let sessions = runtime.block_on(async {
        let mut sessions = 0;
        let mut forgeries = bad.chunks(4);
        while let Some(mut peer) = connect(&node, &offender).await {
            sessions += 1;
            let Some(batch) = forgeries.next() else {
                panic!("never banned after {} sessions", sessions - 1);
            };
            for msg in batch {
                if peer.writer.write_message(msg).await.is_err() {
                    break;
                }
            }
            let types = peer.read_to_close().await;
            // BOLT 7, on bad channel_announcement signatures: "SHOULD send a `warning`. MAY
            // close the connection."
            assert!(
                types.contains(&bolt1::WARNING) && !types.contains(&bolt1::ERROR),
                "no warning (or an error) before close: {types:?}"
            );
        }
        sessions
    });
    assert!(
        sessions >= 2,
        "banned before a single disconnect: {sessions}"
    );
    let text = node.wait_for(&disconnects("banned"), 1.0);
    assert_eq!(
        metric(
            &text,
            "gossip_sieve_peer_bans_total{reason=\"invalid_signature\"}"
        ),
        1.0,
        "{}",
        relevant(&text)
    );
    assert_eq!(
        metric(&text, &disconnects("misbehaving")),
        sessions as f64,
        "{}",
        relevant(&text)
    );
    // Others are not affected by the ban.
    runtime.block_on(async {
        assert!(connect(&node, &NodeIdentity::random()).await.is_some());
    });
    node.stop();

    let bans = std::fs::read_to_string(data.join("bans.json")).expect("bans.json");
    let offender_hex = offender.node_id_hex();
    assert!(bans.contains(&offender_hex), "{bans}");

    // Restarted as it was: the ban survived the restart.
    let node = Node::start(&data, &scores);
    runtime.block_on(async {
        assert!(
            connect(&node, &offender).await.is_none(),
            "the ban did not survive the restart"
        );
        assert!(connect(&node, &NodeIdentity::random()).await.is_some());
    });
    node.wait_for(&disconnects("banned"), 1.0);
    node.stop();

    // Restarted with the offender as a configured peer: the operator's own peers are never
    // banned (issue 11: a ban would also stop us dialling the peers the operator chose), so
    // the old ban is lifted and the node dials it. (Peers from other sources stay banned:
    // `ScoreBoard::protect` is called for configured peers only.)
    let offender_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let offender_addr = offender_listener.local_addr().expect("addr");
    let mut restart = scores.clone();
    restart.extend([
        "--peer".to_string(),
        format!("{offender_hex}@{offender_addr}"),
    ]);
    offender_listener
        .set_nonblocking(true)
        .expect("nonblocking");
    let node = Node::start(&data, &restart);
    let deadline = std::time::Instant::now() + common::node::WAIT;
    loop {
        match offender_listener.accept() {
            Ok(_dialled) => break,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the configured peer was not dialled"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(err) => panic!("accept: {err}"),
        }
    }
    runtime.block_on(async {
        assert!(
            connect(&node, &offender).await.is_some(),
            "a configured peer is still refused for an old ban"
        );
    });
    node.stop();
}

/// A peer that comes and goes at one address: the node syncs from it, keeps redialling while it
/// drops every connection, backing off (each wait at least half of 1 s, 2 s, 4 s: the dialer's
/// jittered doubling), and resumes on its own once the peer serves again.
#[test]
fn run_redials_with_backoff_a_peer_that_comes_and_goes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = common::corpus(dir.path(), NODES, CHANNELS, 0.0);
    let peer = NodeIdentity::random();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let address = listener.local_addr().expect("addr");
    let node = Node::start(
        &dir.path().join("data"),
        &[
            "--peer".to_string(),
            format!("{}@{address}", peer.node_id_hex()),
        ],
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let listener = runtime.block_on(async { tokio::net::TcpListener::from_std(listener) });
    let listener = listener.expect("tokio listener");
    let accept = || async {
        let (stream, _) = tokio::time::timeout(WAIT_FOR_DIAL, listener.accept())
            .await
            .expect("the node did not dial again")
            .expect("accept");
        (stream, std::time::Instant::now())
    };
    let config = SyntheticConfig::new(chain());

    // Up: one session with the graph, closed cleanly by the peer.
    let stats = runtime.block_on(async {
        let (stream, _) = accept().await;
        gossip_sieve::sim::peer::serve(stream, *peer.secret(), &corpus, &config).await
    });
    assert!(stats.is_ok(), "{stats:?}");
    node.wait_for(&disconnects("remote_closed"), 1.0);
    node.wait_for("gossip_sieve_graph_channels", CHANNELS as f64);

    // Down: the next two dials are dropped before the handshake; each wait is longer.
    let (attempts, back) = runtime.block_on(async {
        let mut attempts = Vec::new();
        for _ in 0..2 {
            let (stream, at) = accept().await;
            drop(stream);
            attempts.push(at);
        }
        // Up again: the same graph once more.
        let (stream, at) = accept().await;
        attempts.push(at);
        let back = gossip_sieve::sim::peer::serve(stream, *peer.secret(), &corpus, &config).await;
        (attempts, back)
    });
    assert!(back.is_ok(), "{back:?}");
    // Lower bounds only: a timer never fires early, and a busy machine only lengthens a wait.
    let waits: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        waits[0] >= Duration::from_millis(1_000) && waits[1] >= Duration::from_millis(2_000),
        "redials not backed off: {waits:?}"
    );
    // The second session was read to the end: every announcement arrived twice.
    node.wait_for(&disconnects("remote_closed"), 2.0);
    let received = "gossip_sieve_messages_received_total{type=\"channel_announcement\"}";
    let text = node.wait_for(received, 2.0 * CHANNELS as f64);
    assert_eq!(metric(&text, received), 2.0 * CHANNELS as f64);
    assert_eq!(
        metric(&text, "gossip_sieve_graph_channels"),
        CHANNELS as f64
    );
    node.stop();
}

/// Longest the dialer may take to come back: its backoff is capped at a minute by default, and
/// this test stays below 8 s of backoff.
const WAIT_FOR_DIAL: Duration = Duration::from_secs(60);
