//! The node as a real Lightning peer, over loopback sockets: the `run` binary dials synthetic
//! BOLT 8 peers and ends with their whole graph; hostile peers are disconnected and counted
//! under their reason while a well-behaved peer connected at the same time is unaffected.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gossip_sieve::config::Network;
use gossip_sieve::peer::dialer::PeerAddress;
use gossip_sieve::peer::identity::NodeIdentity;
use gossip_sieve::peer::open_frames;
use gossip_sieve::sim::peer::{SyntheticConfig, SyntheticPeers};
use gossip_sieve::transport::handshake::InitiatorStart;
use gossip_sieve::transport::handshake_initiator;
use gossip_sieve::wire::bolt1::{self, Init};
use gossip_sieve::wire::gossip::ChannelAnnouncement;
use gossip_sieve::wire::kind::CHANNEL_ANNOUNCEMENT;
use secp256k1::PublicKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NODES: usize = 150;
const CHANNELS: usize = 500;
const UPDATES_ACCEPTED: &str = "gossip_sieve_messages_accepted_total{type=\"channel_update\"}";
const WAIT: Duration = Duration::from_secs(60);

/// The `run` binary, killed on drop if a test fails before stopping it.
struct Node {
    child: Child,
    node_id: PublicKey,
    metrics: SocketAddr,
    listen: Option<SocketAddr>,
}

impl Node {
    fn start(data_dir: &Path, args: &[String]) -> Node {
        let mut child = Command::new(common::binary())
            .arg("run")
            .args([
                "--metrics",
                "127.0.0.1:0",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data_dir)
            .args(args)
            .env_remove("GOSSIP_SIEVE_NETWORK")
            .env("GOSSIP_SIEVE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn gossip-sieve run");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut node_id, mut metrics, mut listen) = (None, None, None);
        while node_id.is_none() || metrics.is_none() || listen.is_none() {
            let line = lines
                .next()
                .expect("gossip-sieve run exited before printing its addresses")
                .expect("read stdout");
            let (key, value) = line.split_once(' ').unwrap_or((&line, ""));
            match key {
                "node_id" => {
                    assert_eq!(value.len(), 66, "node id {value}");
                    let bytes = hex_decode(value);
                    node_id = Some(PublicKey::from_slice(&bytes).expect("node id is a pubkey"));
                }
                "metrics" => metrics = Some(value.parse().expect("metrics addr")),
                "listening" => listen = Some(value.parse().expect("listen addr")),
                _ => {}
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Node {
            child,
            node_id: node_id.expect("node id"),
            metrics: metrics.expect("metrics"),
            listen,
        }
    }

    fn scrape(&self) -> String {
        let mut stream = TcpStream::connect(self.metrics).expect("connect to /metrics");
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .expect("request");
        let mut body = String::new();
        stream.read_to_string(&mut body).expect("response");
        body
    }

    fn value(&self, series: &str) -> f64 {
        metric(&self.scrape(), series)
    }

    fn wait_for(&self, series: &str, at_least: f64) -> String {
        let started = Instant::now();
        loop {
            let text = self.scrape();
            if metric(&text, series) >= at_least {
                return text;
            }
            assert!(
                started.elapsed() < WAIT,
                "{series} never reached {at_least}:\n{}",
                relevant(&text)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then the exit status must be success.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "run exited with {status}");
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "run did not exit"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).expect("even length"), 16).expect("hex"))
        .collect()
}

/// The value of one exact series (name plus labels) in a Prometheus text exposition.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(series)?;
            rest.strip_prefix(' ')?.trim().parse().ok()
        })
        .unwrap_or(0.0)
}

fn relevant(text: &str) -> String {
    text.lines()
        .filter(|l| l.contains("graph_") || l.contains("peer") || l.contains("received"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn disconnects(reason: &str) -> String {
    format!("gossip_sieve_peer_disconnects_total{{reason=\"{reason}\"}}")
}

fn peer_arg(peer: &PeerAddress) -> [String; 2] {
    ["--peer".to_string(), peer.to_string()]
}

fn chain() -> [u8; 32] {
    Network::Bitcoin.chain_hash()
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
    let stats = peers.join();
    assert!(stats.iter().all(|s| s.is_ok()), "{stats:?}");

    // The key was kept: the node comes back with the same id, and with the graph it stored.
    let again = Node::start(&data_dir, &[]);
    assert_eq!(again.node_id, first_id);
    assert_eq!(again.value("gossip_sieve_graph_channels"), CHANNELS as f64);
    again.stop();
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

async fn handshake_and_init(
    node: &Node,
) -> (
    gossip_sieve::transport::Bolt8Reader,
    gossip_sieve::transport::Bolt8Writer,
) {
    handshake_as(node, &NodeIdentity::random())
        .await
        .expect("the node sent no init")
}

/// A session as `me`: `None` if the node closes the connection instead of sending its init.
async fn handshake_as(
    node: &Node,
    me: &NodeIdentity,
) -> Option<(
    gossip_sieve::transport::Bolt8Reader,
    gossip_sieve::transport::Bolt8Writer,
)> {
    let listen = node.listen.expect("listening");
    let stream = tokio::net::TcpStream::connect(listen)
        .await
        .expect("connect");
    let (mut reader, mut writer) =
        handshake_initiator(stream, me.secret(), &node.node_id, Duration::from_secs(5))
            .await
            .expect("handshake");
    // A refused peer may find the socket closed before its init is even written.
    let _ = writer.write_message(&Init::ours(chain()).serialize()).await;
    let first = tokio::time::timeout(WAIT, reader.read_message())
        .await
        .expect("the node neither sent init nor closed");
    match first {
        Ok(Some(msg)) => {
            assert_eq!(bolt1::message_type(&msg), Some(bolt1::INIT));
            Some((reader, writer))
        }
        _ => None,
    }
}

/// Reads until the node closes the connection; returns the types it sent.
async fn read_to_close(reader: &mut gossip_sieve::transport::Bolt8Reader) -> Vec<u16> {
    let mut types = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Ok(Ok(Some(msg))) = tokio::time::timeout_at(deadline, reader.read_message()).await {
        types.extend(bolt1::message_type(&msg));
    }
    types
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
            let (mut reader, mut writer) = handshake_and_init(&node).await;
            writer
                .write_message(&[0x03, 0xE8, 1, 2, 3])
                .await
                .expect("send type 1000");
            let types = read_to_close(&mut reader).await;
            assert!(
                types.contains(&bolt1::ERROR),
                "no error before close: {types:?}"
            );
        };
        // Distinct invalid signatures, each sent once: only the shards see that they are
        // bad, after admission, and must charge them to this peer.
        let flood = async {
            let (mut reader, mut writer) = handshake_and_init(&node).await;
            let reading = tokio::spawn(async move { read_to_close(&mut reader).await });
            for msg in &bad {
                if writer.write_message(msg).await.is_err() {
                    break;
                }
            }
            // The node sends an error, but closing with our flood unread in its buffer makes
            // its kernel reset the connection, which may discard that error before we read
            // it; the disconnect counter below is the check.
            let _types = reading.await.expect("reader");
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
    let _ = good.join();
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
    let _ = peers.join();
}

#[test]
fn inbound_connections_over_max_peers_are_closed_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args: Vec<String> = ["--max-peers", "1"].iter().map(|s| s.to_string()).collect();
    let node = Node::start(&dir.path().join("data"), &args);
    let listen = node.listen.expect("listen");
    // The first holds the only slot by sitting in the handshake.
    let _first = TcpStream::connect(listen).expect("first");
    node.wait_for("gossip_sieve_limit{name=\"max_peers\"}", 1.0);
    std::thread::sleep(Duration::from_millis(200));
    let mut second = TcpStream::connect(listen).expect("second");
    second
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 1];
    assert_eq!(second.read(&mut buf).unwrap_or(0), 0, "second was served");
    node.wait_for(&disconnects("too_many_peers"), 1.0);
    node.stop();
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
    assert!(
        common::get(&summary, &["dropped", "channel_announcement", "duplicate"])
            >= 2 * CHANNELS as u64
    );
}

#[test]
fn a_peer_over_the_ban_score_is_refused_until_its_ban_ends_even_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let corpus = common::corpus(dir.path(), NODES, CHANNELS, 0.0);
    let bad = invalid_announcements(&corpus, 4);
    let scores: Vec<String> = ["--disconnect-score", "3", "--ban-score", "6"]
        .map(String::from)
        .to_vec();
    let node = Node::start(&data, &scores);
    let offender = NodeIdentity::random();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    // Each session sends the same four forgeries; repeats are charged as invalid signatures
    // too (recently_rejected), so the score climbs by four per session: a disconnect at 3, a
    // ban at 6, and from then on no session at all.
    let sessions = runtime.block_on(async {
        let mut sessions = 0;
        while let Some((mut reader, mut writer)) = handshake_as(&node, &offender).await {
            sessions += 1;
            assert!(sessions <= 4, "never banned after {sessions} sessions");
            for msg in &bad {
                if writer.write_message(msg).await.is_err() {
                    break;
                }
            }
            let types = read_to_close(&mut reader).await;
            assert!(
                types.contains(&bolt1::ERROR),
                "no error before close: {types:?}"
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
        assert!(handshake_as(&node, &NodeIdentity::random()).await.is_some());
    });
    node.stop();

    let bans = std::fs::read_to_string(data.join("bans.json")).expect("bans.json");
    let offender_hex = offender.node_id_hex();
    assert!(bans.contains(&offender_hex), "{bans}");

    let node = Node::start(&data, &scores);
    runtime.block_on(async {
        assert!(
            handshake_as(&node, &offender).await.is_none(),
            "the ban did not survive the restart"
        );
        assert!(handshake_as(&node, &NodeIdentity::random()).await.is_some());
    });
    node.wait_for(&disconnects("banned"), 1.0);
    node.stop();
}
