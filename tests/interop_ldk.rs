//! Interop with LDK (`lightning` + `lightning-net-tokio`), an implementation nobody here wrote.
//!
//! An LDK node loaded with a generated, validly signed graph listens on loopback. First our
//! own minimal BOLT 8 client shows what LDK needs before it streams that graph (the
//! `gossip_queries` feature, a `gossip_timestamp_filter` at least six hours old, pongs); then
//! the real `gossip-sieve run` binary dials it and must end up with exactly that graph.

mod ldk;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gossip_sieve::store::{ReaderOptions, StoreReader, STORE_FILE};
use gossip_sieve::wire::bolt1::{self, FEATURE_GOSSIP_QUERIES_OPTIONAL};
use gossip_sieve::wire::gossip::ChannelUpdate;
use gossip_sieve::wire::queries::{GossipTimestampFilter, GOSSIP_TIMESTAMP_FILTER};
use ldk::client::{self, ClientOptions, Received};
use ldk::ExpectedGraph;

const SYNC_NODES: usize = 300;
const SYNC_CHANNELS: usize = 1_000;
/// Long enough for a dump paced at 32 messages per ping round trip on a busy 2-core machine.
const SYNC_TIMEOUT: Duration = Duration::from_secs(120);

fn complete(expected: &ExpectedGraph) -> impl Fn(&Received) -> bool + '_ {
    move |got: &Received| {
        got.channel_announcements >= expected.channels
            && got.channel_updates >= expected.channel_updates()
            && got.node_announcements >= expected.node_announcements
    }
}

fn assert_whole_graph(got: &Received, expected: &ExpectedGraph) {
    assert_eq!(
        got.channel_announcements,
        expected.channels,
        "{}",
        got.summary()
    );
    assert_eq!(
        got.channel_updates,
        expected.channel_updates(),
        "{}",
        got.summary()
    );
    assert_eq!(
        got.node_announcements,
        expected.node_announcements,
        "{}",
        got.summary()
    );
    assert_eq!(
        got.updates, expected.updates,
        "per-channel update timestamps"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldk_streams_its_whole_graph_to_our_bolt8_client() {
    let node = ldk::start(ldk::spec(SYNC_NODES, SYNC_CHANNELS, 11)).await;
    assert_eq!(node.expected.channels, SYNC_CHANNELS);
    let started = Instant::now();
    let got = client::run(
        node.addr,
        node.node_id,
        &ClientOptions::default(),
        SYNC_TIMEOUT,
        complete(&node.expected),
    )
    .await;
    eprintln!(
        "LDK dump: {} messages in {:?}, {} pings answered, other types {:?}",
        got.gossip(),
        started.elapsed(),
        got.pongs_sent,
        got.other
    );
    assert_whole_graph(&got, &node.expected);
    assert!(!got.closed, "LDK closed the connection");
    let their_init = got.their_init.as_ref().expect("LDK init");
    assert!(
        bolt1::Init::parse(&their_init.serialize()).is_ok(),
        "LDK's init re-parses"
    );
    // A dump this size cannot fit LDK's 32-messages-per-pong window: pongs were required.
    assert!(got.pongs_sent > 0, "LDK never pinged: {}", got.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldk_needs_only_the_gossip_queries_feature() {
    let node = ldk::start(ldk::spec(40, 100, 12)).await;
    let opts = ClientOptions {
        features: bolt1::features_from_bits(&[FEATURE_GOSSIP_QUERIES_OPTIONAL]),
        ..ClientOptions::default()
    };
    let got = client::run(
        node.addr,
        node.node_id,
        &opts,
        SYNC_TIMEOUT,
        complete(&node.expected),
    )
    .await;
    assert_whole_graph(&got, &node.expected);
}

async fn next_message(reader: &mut gossip_sieve::transport::Bolt8Reader) -> Vec<u8> {
    reader
        .read_message()
        .await
        .expect("read")
        .expect("gossip-sieve closed the connection")
}

/// What LDK needs before it streams its graph (the `gossip_queries` feature, a
/// `gossip_timestamp_filter` reaching back past its six-hour cut-off, pongs to its pings) is
/// checked here on gossip-sieve's side: `run` dials a bare BOLT 8 responder, which reads what it
/// asks for. Each step waits for a message, not for time to pass. (That LDK itself sends nothing
/// otherwise is LDK's behaviour, not ours, and is not re-tested here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_sieve_asks_for_gossip_the_way_ldk_needs() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr");
    let us = gossip_sieve::peer::identity::NodeIdentity::random();
    let dir = tempfile::tempdir().expect("tempdir");
    let stderr_path = dir.path().join("stderr.log");
    let child = Command::new(env!("CARGO_BIN_EXE_gossip-sieve"))
        .args(["run", "--metrics", "127.0.0.1:0", "--network", "bitcoin"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--peer")
        .arg(format!("{}@{address}", us.node_id_hex()))
        .env_remove("GOSSIP_SIEVE_LOG")
        .env_remove("GOSSIP_SIEVE_NETWORK")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("spawn gossip-sieve run");
    let mut child = ChildGuard { child, stderr_path };

    let session = async {
        let (stream, _) = listener.accept().await.expect("gossip-sieve dials");
        let (_, mut reader, mut writer) = gossip_sieve::transport::handshake_responder(
            stream,
            us.secret(),
            Duration::from_secs(30),
        )
        .await
        .expect("handshake");
        let init = bolt1::Init::parse(&next_message(&mut reader).await).expect("init first");
        let bitcoin = gossip_sieve::config::Network::Bitcoin.chain_hash();
        writer
            .write_message(&bolt1::Init::ours(bitcoin).serialize())
            .await
            .expect("our init");
        let filter = loop {
            let msg = next_message(&mut reader).await;
            if bolt1::message_type(&msg) == Some(GOSSIP_TIMESTAMP_FILTER) {
                break GossipTimestampFilter::parse(&msg).expect("gossip_timestamp_filter");
            }
        };
        writer
            .write_message(
                &bolt1::Ping {
                    num_pong_bytes: 5,
                    ignored_len: 0,
                }
                .serialize(),
            )
            .await
            .expect("ping");
        let pong = loop {
            let msg = next_message(&mut reader).await;
            if bolt1::message_type(&msg) == Some(bolt1::PONG) {
                break bolt1::Pong::parse(&msg).expect("pong");
            }
        };
        (init, filter, pong)
    };
    let (init, filter, pong) = tokio::time::timeout(SYNC_TIMEOUT, session)
        .await
        .unwrap_or_else(|_| panic!("no complete session\n--- stderr\n{}", child.stderr()));

    let features = init.combined_features();
    let has_bit = |bit: usize| {
        features
            .len()
            .checked_sub(1 + bit / 8)
            .and_then(|i| features.get(i))
            .is_some_and(|byte| byte & (1 << (bit % 8)) != 0)
    };
    assert!(
        has_bit(FEATURE_GOSSIP_QUERIES_OPTIONAL) || has_bit(FEATURE_GOSSIP_QUERIES_OPTIONAL - 1),
        "init without gossip_queries: {init:?}"
    );
    assert_eq!(
        filter.chain_hash,
        gossip_sieve::config::Network::Bitcoin.chain_hash()
    );
    // LDK answers a filter with a full dump only when it starts six hours or more in the past.
    let now = ldk::unix_now();
    assert!(
        filter.first_timestamp <= now - 6 * 3600 && filter.admits(now),
        "{filter:?} (now {now})"
    );
    assert_eq!(pong.ignored_len, 5, "pong with the requested length");
    let status = child.terminate(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n--- stderr\n{}",
        child.stderr()
    );
}

/// The real binary as a child; killed if the test panics before it stops it.
struct ChildGuard {
    child: Child,
    stderr_path: std::path::PathBuf,
}

impl ChildGuard {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGTERM, then wait up to `timeout` for a clean exit.
    fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET /metrics over a plain socket; the exporter speaks HTTP/1.1 and closes after the reply
/// when asked to.
fn scrape(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut body = String::new();
    stream.read_to_string(&mut body)?;
    Ok(body)
}

/// The value of the sample whose name-and-labels part is exactly `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

fn accepted(text: &str, ty: &str) -> Option<f64> {
    sample(
        text,
        &format!("gossip_sieve_messages_accepted_total{{type=\"{ty}\"}}"),
    )
}

/// scid+direction → timestamp of every live channel_update in a gossip_store file.
fn store_updates(path: &Path) -> BTreeMap<(u64, u8), u32> {
    let file = File::open(path).expect("open gossip_store");
    let opts = ReaderOptions {
        skip_deleted: true,
        ..ReaderOptions::default()
    };
    let mut reader = StoreReader::with_options(BufReader::new(file), opts).expect("store header");
    let mut updates = BTreeMap::new();
    while let Some(record) = reader.next_record().expect("store record") {
        if bolt1::message_type(&record.msg) == Some(258) {
            let update = ChannelUpdate::parse(&record.msg).expect("stored channel_update");
            let previous = updates.insert(
                (update.short_channel_id, update.channel_flags & 1),
                update.timestamp,
            );
            assert!(
                previous.is_none(),
                "two live channel_updates for {:x}/{}",
                update.short_channel_id,
                update.channel_flags & 1
            );
        }
    }
    updates
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_sieve_run_syncs_exactly_the_ldk_graph() {
    let node = ldk::start(ldk::spec(SYNC_NODES, SYNC_CHANNELS, 21)).await;
    let expected = node.expected.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let stderr_path = dir.path().join("stderr.log");
    let child = Command::new(env!("CARGO_BIN_EXE_gossip-sieve"))
        .args([
            "run",
            "--peer",
            &node.peer_arg(),
            "--metrics",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.to_str().expect("utf-8 path"),
            "--network",
            "bitcoin",
        ])
        .env_remove("GOSSIP_SIEVE_LOG")
        .env_remove("GOSSIP_SIEVE_NETWORK")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("spawn gossip-sieve run");
    let mut child = ChildGuard { child, stderr_path };

    // The stdout reader runs on its own thread so a silent child cannot block the test.
    let stdout = child.child.stdout.take().expect("child stdout");
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut metrics_addr = None;
    let mut stdout_seen = Vec::new();
    while metrics_addr.is_none() && started.elapsed() < Duration::from_secs(30) {
        match lines_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                metrics_addr = line
                    .strip_prefix("metrics ")
                    .and_then(|a| a.trim().parse::<SocketAddr>().ok());
                stdout_seen.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let Some(metrics_addr) = metrics_addr else {
        panic!(
            "no `metrics <addr>` line from gossip-sieve run (status {:?})\n--- stdout\n{}\n--- stderr\n{}",
            child.child.try_wait(),
            stdout_seen.join("\n"),
            child.stderr()
        );
    };
    assert!(
        stdout_seen.iter().any(|l| l.starts_with("node_id ")),
        "no node_id line before the metrics line: {stdout_seen:?}"
    );

    let want = [
        ("gossip_sieve_graph_channels", expected.channels),
        ("gossip_sieve_graph_nodes", expected.nodes),
    ];
    let want_accepted = [
        ("channel_announcement", expected.channels),
        ("channel_update", expected.channel_updates()),
        ("node_announcement", expected.node_announcements),
    ];
    let mut last = String::new();
    let synced = loop {
        // The metrics are polled from a blocking socket: keep it off the runtime's threads,
        // which LDK's socket tasks need.
        if let Ok(Ok(text)) = tokio::task::spawn_blocking(move || scrape(metrics_addr)).await {
            last = text;
        }
        let done = want
            .iter()
            .all(|(series, n)| sample(&last, series) == Some(*n as f64))
            && want_accepted
                .iter()
                .all(|(ty, n)| accepted(&last, ty) == Some(*n as f64));
        if done {
            break true;
        }
        if started.elapsed() > SYNC_TIMEOUT {
            break false;
        }
        if let Ok(Some(status)) = child.child.try_wait() {
            panic!(
                "gossip-sieve run exited early with {status}\n--- stderr\n{}",
                child.stderr()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let sync_time = started.elapsed();
    if !synced {
        let relevant: Vec<&str> = last
            .lines()
            .filter(|l| {
                l.starts_with("gossip_sieve_graph")
                    || l.starts_with("gossip_sieve_messages_")
                    || l.starts_with("gossip_sieve_peer")
            })
            .filter(|l| !l.ends_with(" 0"))
            .collect();
        panic!(
            "gossip-sieve did not reach LDK's graph ({} channels, {} nodes, {} updates, {} \
             node_announcements) in {SYNC_TIMEOUT:?}\n--- last scrape (non-zero)\n{}\n--- stderr\n{}",
            expected.channels,
            expected.nodes,
            expected.channel_updates(),
            expected.node_announcements,
            relevant.join("\n"),
            child.stderr()
        );
    }
    eprintln!("gossip-sieve synced LDK's graph in {sync_time:?}");

    let status = child.terminate(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "gossip-sieve did not exit cleanly on SIGTERM: {status:?}\n--- stderr\n{}",
        child.stderr()
    );

    // The store is part of the result: a run that synced but wrote nothing fails here.
    let store = data_dir.join(STORE_FILE);
    assert!(
        store.is_file(),
        "gossip-sieve run wrote no {}\n--- stderr\n{}",
        store.display(),
        child.stderr()
    );
    assert_eq!(
        store_updates(&store),
        expected.updates,
        "per-channel update timestamps in {}",
        store.display()
    );
}
