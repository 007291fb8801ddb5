//! Syncing with LDK 0.2 peers over loopback (issue 12 "Sync from several peers at once" and
//! "Numbers"), in one run:
//!
//! 1. **Our initial sync from K = 1, 2, 4, 8 LDK peers.** Each peer is LDK's `PeerManager` +
//!    `P2PGossipSync` (`tests/ldk`) holding its own copy of one generated graph, with the
//!    timers of a stock LDK node, so each paces its dump as stock LDK does (32 messages per
//!    ping round trip). A fresh `gossip-sieve run --peer ...` (release binary, empty data dir)
//!    dials all K; the time is from its start until its metrics show every message of the
//!    graph accepted. The sync rate is unique messages / that time; printed beside K × the
//!    one-peer rate (goal ≥ 0.8 × K × the one-peer rate) and the CPU seconds gossip-sieve spent.
//! 2. **An LDK node syncing from gossip-sieve versus from another LDK node** holding the same
//!    graph: an empty LDK node dials one or the other, alternately, until its `NetworkGraph`
//!    equals the source graph (channels, updated directions with their timestamps, node
//!    announcements). gossip-sieve serves a store written from the same corpus, with its
//!    default per-peer budget (`--serve-bytes-per-sec`, 1 MB/s unless `--rate` is given).
//!
//! Best of `--rounds` for every figure; wall time (what a syncing node waits for), with the
//! load average printed, as the machine may be shared.
//!
//! `cargo bench --bench ldk_sync -- [--nodes N --channels M --rounds R --peers 1,2,4,8
//! --rate BYTES --skip-k --skip-serve]` (default 1,000 nodes / 3,000 channels, ~10,000
//! messages, 2 rounds: a few minutes; `--mainnet` for 17,000 / 54,000, which takes over four
//! minutes per sync from one LDK peer).

#[path = "support/args.rs"]
mod flags;
#[path = "../tests/ldk/mod.rs"]
mod ldk;
#[allow(dead_code)]
#[path = "../tests/common/metrics.rs"]
mod prom;
#[path = "support/served.rs"]
mod served;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gossip_sieve::sim::corpus;
use ldk::{ExpectedGraph, LdkNode};
use served::{load_average, TYPES};

struct Args {
    nodes: usize,
    channels: usize,
    rounds: usize,
    peers: Vec<usize>,
    rate: Option<u64>,
    skip_k: bool,
    skip_serve: bool,
}

fn args() -> Args {
    let (nodes, channels) = if flags::has("--mainnet") {
        (corpus::MAINNET_NODES, corpus::MAINNET_CHANNELS)
    } else {
        (1_000, 3_000)
    };
    Args {
        nodes: flags::value("--nodes").unwrap_or(nodes),
        channels: flags::value("--channels").unwrap_or(channels),
        rounds: flags::value("--rounds").unwrap_or(2usize).max(1),
        peers: flags::value::<String>("--peers")
            .map(|v| v.split(',').filter_map(|k| k.parse().ok()).collect())
            .unwrap_or_else(|| vec![1, 2, 4, 8]),
        rate: flags::value("--rate"),
        skip_k: flags::has("--skip-k"),
        skip_serve: flags::has("--skip-serve"),
    }
}

/// How long a sync may take before the bench gives up: LDK's pace with a wide margin.
fn deadline(messages: usize) -> Duration {
    Duration::from_secs(120 + messages as u64 / 100)
}

/// Accepted messages by type, off the blocking scrape thread.
async fn accepted(metrics: SocketAddr) -> [f64; 3] {
    tokio::task::spawn_blocking(move || {
        let text = prom::scrape(metrics);
        TYPES.map(|ty| prom::metric(&text, &prom::accepted(ty)))
    })
    .await
    .expect("scrape task")
}

struct KRound {
    seconds: f64,
    cpu_seconds: f64,
    peak_rss: u64,
}

/// One fresh gossip-sieve syncing from `peers`; returns when it accepted the whole graph.
async fn sync_from(peers: &[LdkNode], expected: &ExpectedGraph, messages: usize) -> KRound {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut extra = vec![
        "--outbound-peers".to_string(),
        "0".to_string(),
        "--dials-per-minute".to_string(),
        "6000".to_string(),
    ];
    for peer in peers {
        extra.push("--peer".to_string());
        extra.push(peer.peer_arg());
    }
    let started = Instant::now();
    let node = served::start(dir.path(), &extra);
    let want = [
        expected.channels,
        expected.channel_updates(),
        expected.node_announcements,
    ]
    .map(|n| n as f64);
    loop {
        let got = accepted(node.metrics).await;
        if got == want {
            break;
        }
        assert!(
            started.elapsed() < deadline(messages),
            "gossip-sieve accepted {got:?} of {want:?} from {} LDK peers",
            peers.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    KRound {
        seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: node.cpu_seconds(),
        peak_rss: node.peak_rss(),
    }
}

/// An empty LDK node dials `node_id@addr` and syncs; returns the seconds until its graph
/// equals `expected`.
async fn ldk_syncs_from(
    node_id: lightning::bitcoin::secp256k1::PublicKey,
    addr: SocketAddr,
    expected: &ExpectedGraph,
    messages: usize,
) -> f64 {
    let client = ldk::start_empty().await;
    let started = Instant::now();
    let connection =
        lightning_net_tokio::connect_outbound(Arc::clone(&client.peer_manager), node_id, addr)
            .await
            .expect("LDK dials");
    tokio::spawn(connection);
    loop {
        // Counts first: building the whole comparison is only worth it once they match.
        let (channels, updates) = {
            let ro = client.graph.read_only();
            let updates: usize = ro
                .channels()
                .unordered_iter()
                .map(|(_, c)| {
                    usize::from(c.one_to_two.is_some()) + usize::from(c.two_to_one.is_some())
                })
                .sum();
            (ro.channels().len(), updates)
        };
        if channels == expected.channels
            && updates == expected.channel_updates()
            && &ExpectedGraph::of(&client.graph) == expected
        {
            return started.elapsed().as_secs_f64();
        }
        assert!(
            started.elapsed() < deadline(messages),
            "LDK has {channels} channels and {updates} updates of {} and {} from {addr}",
            expected.channels,
            expected.channel_updates()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn main() {
    if flags::listing_only() {
        return;
    }
    let a = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(a));
}

async fn run(a: Args) {
    let spec = ldk::spec(a.nodes, a.channels, 7);
    let max_k = a.peers.iter().copied().max().unwrap_or(1).max(1);
    let sources = ldk::start_copies(spec, max_k).await;
    let expected = sources[0].expected.clone();
    let messages = expected.channels + expected.channel_updates() + expected.node_announcements;
    println!(
        "ldk_sync nodes={} channels={} messages={messages} rounds={} (load average at start {})",
        a.nodes,
        a.channels,
        a.rounds,
        load_average()
    );

    if !a.skip_k {
        let mut best: Vec<Option<KRound>> = a.peers.iter().map(|_| None).collect();
        for round in 0..a.rounds {
            for (i, &k) in a.peers.iter().enumerate() {
                let r = sync_from(&sources[..k], &expected, messages).await;
                eprintln!(
                    "round {round}: K={k} {:.1} s, {:.0} msg/s, gossip-sieve CPU {:.1} s, load {}",
                    r.seconds,
                    messages as f64 / r.seconds,
                    r.cpu_seconds,
                    load_average()
                );
                if best[i].as_ref().is_none_or(|b| r.seconds < b.seconds) {
                    best[i] = Some(r);
                }
            }
        }
        let rate = |r: &KRound| messages as f64 / r.seconds;
        let one = a
            .peers
            .iter()
            .position(|&k| k == 1)
            .and_then(|i| best[i].as_ref())
            .map(rate);
        let one_cpu = a
            .peers
            .iter()
            .position(|&k| k == 1)
            .and_then(|i| best[i].as_ref())
            .map(|r| r.cpu_seconds);
        println!("  our initial sync from K LDK peers (full dump from each; best of rounds):");
        println!(
            "    K   seconds   msg/s  rate/(1-peer rate)  rate/(K x 1-peer rate) (goal >= 0.8)  CPU s  CPU/(1-peer CPU)  peak RSS MB"
        );
        for (&k, r) in a.peers.iter().zip(&best) {
            let Some(r) = r else { continue };
            let speedup = one.map_or(f64::NAN, |one| rate(r) / one);
            let cpu = one_cpu.map_or(f64::NAN, |one| r.cpu_seconds / one);
            println!(
                "    {k:<3} {:>7.1} {:>7.0}  {speedup:>12.2}  {:>18.2}                     {:>6.2}  {cpu:>10.2}  {:>14.1}",
                r.seconds,
                rate(r),
                speedup / k as f64,
                r.cpu_seconds,
                r.peak_rss as f64 / 1e6
            );
        }
    }

    if !a.skip_serve {
        let dir = tempfile::tempdir().expect("tempdir");
        served::write_store(dir.path(), &spec);
        let mut extra = vec!["--outbound-peers".to_string(), "0".to_string()];
        if let Some(rate) = a.rate {
            extra.push("--serve-bytes-per-sec".to_string());
            extra.push(rate.to_string());
        }
        let ours = served::start(dir.path(), &extra);
        let ours_id =
            lightning::bitcoin::secp256k1::PublicKey::from_slice(&ours.node_id.serialize())
                .expect("node id");
        let source = &sources[0];
        let (mut from_ldk, mut from_ours) = (f64::INFINITY, f64::INFINITY);
        for round in 0..a.rounds {
            let l = ldk_syncs_from(source.node_id, source.addr, &expected, messages).await;
            let o = ldk_syncs_from(ours_id, ours.listen, &expected, messages).await;
            eprintln!(
                "round {round}: LDK from LDK {l:.1} s, LDK from gossip-sieve {o:.1} s, load {}",
                load_average()
            );
            from_ldk = from_ldk.min(l);
            from_ours = from_ours.min(o);
        }
        println!("  an empty LDK node syncing the whole graph (best of rounds):");
        println!(
            "    from another LDK node: {from_ldk:.1} s ({:.0} msg/s)",
            messages as f64 / from_ldk
        );
        println!(
            "    from gossip-sieve:     {from_ours:.1} s ({:.0} msg/s; serve budget {} B/s)",
            messages as f64 / from_ours,
            a.rate.map_or("default".to_string(), |r| r.to_string())
        );
        println!(
            "    ratio time from LDK / time from gossip-sieve = {:.2}",
            from_ldk / from_ours
        );
    }
    println!("  load average at end {}", load_average());
}
