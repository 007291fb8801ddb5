//! How much a peer flooding `query_channel_range` slows another peer's gossip intake (issue 11
//! item 4): the ratio of one peer's intake rate with a flood running to the rate without it,
//! measured in the same run against the same release binary, best of `--runs` each,
//! interleaved. Target: the ratio stays above 0.8 (under 20% slowdown).
//!
//! Each round starts `gossip-sieve run` on a copy of a mainnet-sized gossip_store (so every
//! flood query asks for the whole graph: ~54,000 short_channel_ids, ~430 KB of replies), then
//! one inbound "intake" peer sends a separate generated graph (new channels, their updates and
//! node announcements), and the time until the node has judged every one of its messages
//! (`messages_accepted_total` + `messages_dropped_total`) gives the intake rate. In the flood
//! rounds `--flooders` more inbound peers send `query_channel_range` for every block, back to
//! back without waiting for answers, for the whole round, and read whatever comes back.
//!
//! The node runs with its defaults (reply rates 1 MB/s per peer, 1,000 KiB/s for all; inbound
//! 1 MiB/s per peer with an 8 MiB burst, which the default intake of ~5 MB fits in, so the
//! intake peer's own budget does not hide a slowdown), `--peer-threads` passed through (0 = one
//! per core). `--peer-rate B` sets `--peer-rate-bytes-per-sec` for every peer: a high value lets
//! the flooder send as fast as the node decrypts (the worst case).
//!
//! The flooding client runs on the same machine and competes for its cores: on a small machine
//! part of the measured slowdown is the flooder's own CPU, not the node's.
//!
//! `cargo bench --bench query_flood -- [--nodes N --channels M --intake-nodes N
//! --intake-channels M --flooders F --runs R --peer-threads T --peer-rate B]`

#[path = "support/args.rs"]
mod flags;
#[path = "support/served.rs"]
mod served;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gossip_sieve::peer::identity::NodeIdentity;
use gossip_sieve::sim::corpus::{self, CorpusSpec, BITCOIN_MAINNET_CHAIN_HASH};
use gossip_sieve::store::STORE_FILE;
use gossip_sieve::transport::{handshake_initiator, Bolt8Reader, Bolt8Writer};
use gossip_sieve::wire::bolt1::Init;
use gossip_sieve::wire::queries::QueryChannelRange;
use secp256k1::PublicKey;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

struct Args {
    nodes: usize,
    channels: usize,
    intake_nodes: usize,
    intake_channels: usize,
    flooders: usize,
    runs: usize,
    peer_threads: usize,
    /// `--peer-rate-bytes-per-sec` for the node; 0 = its default.
    peer_rate: usize,
}

fn args() -> Args {
    let defaults = Args {
        nodes: corpus::MAINNET_NODES,
        channels: corpus::MAINNET_CHANNELS,
        intake_nodes: 2_000,
        intake_channels: 6_000,
        flooders: 1,
        runs: 3,
        peer_threads: 0,
        peer_rate: 0,
    };
    let or = |name: &str, default: usize| flags::value(name).unwrap_or(default);
    Args {
        nodes: or("--nodes", defaults.nodes),
        channels: or("--channels", defaults.channels),
        intake_nodes: or("--intake-nodes", defaults.intake_nodes),
        intake_channels: or("--intake-channels", defaults.intake_channels),
        flooders: or("--flooders", defaults.flooders),
        runs: or("--runs", defaults.runs).max(1),
        peer_threads: or("--peer-threads", defaults.peer_threads),
        peer_rate: or("--peer-rate", defaults.peer_rate),
    }
}

/// The node under test: `run` on the round's copy of the base store, dialing nobody.
fn start_node(data_dir: &Path, a: &Args) -> served::Served {
    let mut extra: Vec<String> = [
        "--outbound-peers",
        "0",
        "--dns-seed",
        "none",
        "--peer-threads",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    extra.push(a.peer_threads.to_string());
    if a.peer_rate > 0 {
        extra.push("--peer-rate-bytes-per-sec".into());
        extra.push(a.peer_rate.to_string());
    }
    served::start(data_dir, &extra)
}

/// Messages the node has judged (accepted or dropped), from `/metrics`.
fn judged(metrics: SocketAddr) -> f64 {
    let Ok(mut stream) = std::net::TcpStream::connect(metrics) else {
        return 0.0;
    };
    let _ = stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text.lines()
        .filter(|l| {
            l.starts_with("gossip_sieve_messages_accepted_total{")
                || l.starts_with("gossip_sieve_messages_dropped_total{")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

type Connection = (Bolt8Reader<OwnedReadHalf>, Bolt8Writer<OwnedWriteHalf>);

/// Connects, handshakes and exchanges `init`.
async fn connect(listen: SocketAddr, node_id: &PublicKey) -> Option<Connection> {
    let stream = tokio::net::TcpStream::connect(listen).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let me = NodeIdentity::random();
    let (reader, mut writer) =
        handshake_initiator(stream, me.secret(), node_id, Duration::from_secs(30))
            .await
            .ok()?;
    let init = Init::ours(BITCOIN_MAINNET_CHAIN_HASH).serialize();
    writer.write_message(&init).await.ok()?;
    Some((reader, writer))
}

/// Reads everything the node sends and counts its bytes (pings need no answer: a round is far
/// shorter than the node's ping interval plus its pong timeout).
async fn drain(mut reader: Bolt8Reader<OwnedReadHalf>, bytes: Arc<AtomicU64>) {
    while let Ok(Some(msg)) = reader.read_message().await {
        bytes.fetch_add(msg.len() as u64, Ordering::Relaxed);
    }
}

/// Sends `query_channel_range` for every block, back to back, until `stop`; reconnects if the
/// node closes the connection. Returns the queries sent.
async fn flood(
    listen: SocketAddr,
    node_id: PublicKey,
    stop: Arc<AtomicBool>,
    replies: Arc<AtomicU64>,
) -> u64 {
    let query = QueryChannelRange {
        chain_hash: BITCOIN_MAINNET_CHAIN_HASH,
        first_blocknum: 0,
        number_of_blocks: u32::MAX,
        query_option: None,
        unknown_tlvs: Vec::new(),
    }
    .serialize();
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) {
        let Some((reader, mut writer)) = connect(listen, &node_id).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let reading = tokio::spawn(drain(reader, replies.clone()));
        while !stop.load(Ordering::Relaxed) {
            if writer.write_message(&query).await.is_err() {
                break;
            }
            sent += 1;
        }
        reading.abort();
    }
    sent
}

/// One round: a fresh node on a copy of the base store, the intake peer's graph sent in full,
/// with or without the flood. Returns (intake messages per second, flood queries, reply bytes).
fn round(
    dir: &Path,
    base: &Path,
    intake: &[Vec<u8>],
    flood_with: usize,
    a: &Args,
) -> (f64, u64, u64) {
    static ROUNDS: AtomicU64 = AtomicU64::new(0);
    let data_dir = dir.join(format!("node-{}", ROUNDS.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&data_dir).expect("data dir");
    std::fs::copy(base, data_dir.join(STORE_FILE)).expect("copy store");
    let node = start_node(&data_dir, a);
    let before = judged(node.metrics);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let replies = Arc::new(AtomicU64::new(0));
    let flooders: Vec<_> = (0..flood_with)
        .map(|_| {
            runtime.spawn(flood(
                node.listen,
                node.node_id,
                stop.clone(),
                replies.clone(),
            ))
        })
        .collect();
    if flood_with > 0 {
        // The flood is under way before the intake starts.
        let deadline = Instant::now() + Duration::from_secs(30);
        while replies.load(Ordering::Relaxed) < 100_000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let (reader, mut writer) = runtime
        .block_on(connect(node.listen, &node.node_id))
        .expect("intake peer connects");
    let _intake_reader = runtime.spawn(drain(reader, Arc::new(AtomicU64::new(0))));
    let started = Instant::now();
    let target = before + intake.len() as f64;
    runtime.block_on(async {
        for msg in intake {
            writer.write_message(msg).await.expect("intake write");
        }
    });
    // Until every intake message is judged; a message parked as an orphan (a generated scid
    // that happens to collide with the base graph's) would never be, so 5 s without progress
    // also ends the wait, timed at the last progress.
    let (mut last, mut last_change) = (before, started.elapsed());
    loop {
        let now = judged(node.metrics);
        if now > last {
            (last, last_change) = (now, started.elapsed());
        }
        if now >= target || started.elapsed() - last_change > Duration::from_secs(5) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if last < target {
        eprintln!("  ({} intake messages never judged)", target - last);
    }
    let seconds = last_change.as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let queries: u64 = flooders
        .into_iter()
        .map(|f| runtime.block_on(f).unwrap_or(0))
        .sum();
    drop(writer);
    runtime.shutdown_timeout(Duration::from_secs(1));
    drop(node);
    let _ = std::fs::remove_dir_all(&data_dir);
    (
        intake.len() as f64 / seconds,
        queries,
        replies.load(Ordering::Relaxed),
    )
}

fn main() {
    if flags::listing_only() {
        return;
    }
    let a = args();
    let dir = tempfile::tempdir().expect("tempdir");
    // The graph the flood queries, as a store `run` loads without verifying.
    let base_dir: PathBuf = dir.path().join("base");
    std::fs::create_dir_all(&base_dir).expect("base dir");
    let base = base_dir.join(STORE_FILE);
    let started = Instant::now();
    let (stored, _) = served::write_store(&base_dir, &CorpusSpec::valid(a.nodes, a.channels, 7));
    let mut intake = Vec::new();
    corpus::generate(
        &CorpusSpec::valid(a.intake_nodes, a.intake_channels, 8),
        |msg| intake.push(msg),
    );
    eprintln!(
        "base store: {stored} messages; intake: {} messages; prepared in {:.1}s",
        intake.len(),
        started.elapsed().as_secs_f64()
    );
    let (mut quiet, mut flooded) = (Vec::new(), Vec::new());
    for run in 0..a.runs {
        let (rate, _, _) = round(dir.path(), &base, &intake, 0, &a);
        eprintln!("run {run}: no flood {rate:.0} msg/s");
        quiet.push(rate);
        let (rate, queries, replies) = round(dir.path(), &base, &intake, a.flooders, &a);
        eprintln!(
            "run {run}: flood   {rate:.0} msg/s ({queries} queries sent, {replies} reply bytes read)"
        );
        flooded.push((rate, queries, replies));
    }
    let best_quiet = quiet.iter().cloned().fold(0.0, f64::max);
    let best_flooded = flooded.iter().map(|f| f.0).fold(0.0, f64::max);
    let (queries, replies) = flooded.iter().fold((0, 0), |(q, r), f| (q + f.1, r + f.2));
    println!(
        "query_flood store={}ch intake={} msgs flooders={} peer_threads={} peer_rate={} runs={}",
        a.channels,
        intake.len(),
        a.flooders,
        if a.peer_threads == 0 {
            "cores".to_string()
        } else {
            a.peer_threads.to_string()
        },
        if a.peer_rate == 0 {
            "default".to_string()
        } else {
            a.peer_rate.to_string()
        },
        a.runs
    );
    println!("  intake without flood: best {best_quiet:.0} msg/s");
    println!(
        "  intake with flood:    best {best_flooded:.0} msg/s ({} queries sent, {} reply bytes read over all flood rounds)",
        queries, replies
    );
    println!(
        "  ratio with/without: {:.3} (slowdown {:.1}%; target < 20%)",
        best_flooded / best_quiet.max(1e-9),
        (1.0 - best_flooded / best_quiet.max(1e-9)) * 100.0
    );
}
