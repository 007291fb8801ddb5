//! Our initial sync split over K = 1, 2, 4, 8 peers (`--initial-sync split`, issue 12 item 4).
//!
//! The peers are **gossip-sieve nodes paced to LDK's rate, not LDK**: LDK 0.2.7 ignores
//! `query_short_channel_ids` (see `ldk_sync` for K LDK peers, which cannot scale). Each peer is
//! the release `gossip-sieve run` serving one generated graph from its store, its query
//! replies paced by `--serve-reply-bytes-per-sec` (and the same global reply rate, it has one
//! client) so that one peer delivers about 700 messages a second, the pace of a stock LDK
//! dump measured by `ldk_sync`: the rate is 700 × (the graph's mean message size + 34 bytes
//! of BOLT 8 framing, which the reply pacing charges too). A fresh `gossip-sieve run
//! --initial-sync split --peer ...` (release, empty data dir) dials all K; the time is from
//! its start until its metrics show every message of the graph accepted. Printed: msg/s,
//! rate ÷ (K × the one-peer rate) (goal ≥ 0.8), the syncing node's CPU seconds and peak RSS;
//! best of `--rounds`.
//!
//! `cargo bench --bench split_sync -- [--nodes N --channels M --rounds R --peers 1,2,4,8
//! --msgs-per-sec 700 --mode split|dump]` (default 1,000 nodes / 3,000 channels, ~10,000
//! messages, as `ldk_sync`). `--mode dump` runs the same peers with `--initial-sync dump`
//! (their stream paced by `--serve-bytes-per-sec` at the same rate), the baseline.

#[path = "support/args.rs"]
mod flags;
#[allow(dead_code)]
#[path = "../tests/common/metrics.rs"]
mod prom;
#[path = "support/served.rs"]
mod served;

use std::time::{Duration, Instant};

use gossip_sieve::sim::corpus::CorpusSpec;
use gossip_sieve::store::STORE_FILE;
use served::{load_average, TYPES};

/// BOLT 8 framing per message (length, two MACs), charged by the reply pacing.
const FRAME_OVERHEAD: u64 = 2 + 16 + 16;

fn accepted_total(metrics: std::net::SocketAddr) -> f64 {
    let text = prom::scrape(metrics);
    TYPES
        .iter()
        .map(|ty| prom::metric(&text, &prom::accepted(ty)))
        .sum()
}

struct Round {
    seconds: f64,
    cpu_seconds: f64,
    peak_rss: u64,
    fallbacks: f64,
}

fn sync_from(peers: &[served::Served], messages: u64, mode: &str) -> Round {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut extra: Vec<String> = [
        "--outbound-peers",
        "0",
        "--dials-per-minute",
        "6000",
        "--initial-sync",
        mode,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for peer in peers {
        extra.push("--peer".into());
        extra.push(format!(
            "{}@{}",
            hex::encode(peer.node_id.serialize()),
            peer.listen
        ));
    }
    let started = Instant::now();
    let node = served::start(dir.path(), &extra);
    let deadline = Duration::from_secs(120 + messages / 100);
    loop {
        let got = accepted_total(node.metrics);
        if got >= messages as f64 {
            break;
        }
        assert!(
            started.elapsed() < deadline,
            "accepted {got} of {messages} from {} peers",
            peers.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let seconds = started.elapsed().as_secs_f64();
    let text = prom::scrape(node.metrics);
    Round {
        seconds,
        cpu_seconds: node.cpu_seconds(),
        peak_rss: node.peak_rss(),
        // Absent under `--initial-sync dump`.
        fallbacks: prom::sum_matching(&text, "gossip_sieve_split_fallbacks_total"),
    }
}

fn main() {
    if flags::listing_only() {
        return;
    }
    let nodes = flags::value("--nodes").unwrap_or(1_000usize);
    let channels = flags::value("--channels").unwrap_or(3_000usize);
    let rounds = flags::value("--rounds").unwrap_or(2usize).max(1);
    let peers: Vec<usize> = flags::value::<String>("--peers")
        .map(|v| v.split(',').filter_map(|k| k.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4, 8]);
    let msgs_per_sec = flags::value("--msgs-per-sec").unwrap_or(700u64);
    let mode = flags::value::<String>("--mode").unwrap_or_else(|| "split".to_string());
    let spec = CorpusSpec::valid(nodes, channels, 7);

    let max_k = peers.iter().copied().max().unwrap_or(1).max(1);
    let first = tempfile::tempdir().expect("tempdir");
    let (messages, bytes) = served::write_store(first.path(), &spec);
    let mean = bytes / messages.max(1);
    let rate = msgs_per_sec * (mean + FRAME_OVERHEAD);
    let mut dirs = vec![first];
    for _ in 1..max_k {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::copy(dirs[0].path().join(STORE_FILE), dir.path().join(STORE_FILE))
            .expect("copy store");
        dirs.push(dir);
    }
    let pace = [
        "--outbound-peers".to_string(),
        "0".into(),
        "--serve-reply-bytes-per-sec".into(),
        rate.to_string(),
        "--serve-global-reply-bytes-per-sec".into(),
        rate.to_string(),
        "--serve-bytes-per-sec".into(),
        rate.to_string(),
    ];
    let sources: Vec<served::Served> = dirs
        .iter()
        .map(|d| served::start(d.path(), &pace))
        .collect();
    // Each source must call its own information full (BOLT 7 full_information) first.
    for s in &sources {
        let started = Instant::now();
        while prom::metric(&prom::scrape(s.metrics), "gossip_sieve_sync_complete") < 1.0 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "source never complete"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    println!(
        "split_sync nodes={nodes} channels={channels} messages={messages} mean {mean} B; peers paced to {rate} B/s of replies (~{msgs_per_sec} msg/s); rounds={rounds} (load average at start {})",
        load_average()
    );
    let mut best: Vec<Option<Round>> = peers.iter().map(|_| None).collect();
    for round in 0..rounds {
        for (i, &k) in peers.iter().enumerate() {
            let r = sync_from(&sources[..k], messages, &mode);
            eprintln!(
                "round {round}: K={k} {:.1} s, {:.0} msg/s, CPU {:.2} s, fallbacks {}, load {}",
                r.seconds,
                messages as f64 / r.seconds,
                r.cpu_seconds,
                r.fallbacks,
                load_average()
            );
            if best[i].as_ref().is_none_or(|b| r.seconds < b.seconds) {
                best[i] = Some(r);
            }
        }
    }
    let rate_of = |r: &Round| messages as f64 / r.seconds;
    let one = peers
        .iter()
        .position(|&k| k == 1)
        .and_then(|i| best[i].as_ref())
        .map(rate_of);
    println!("  our initial sync ({mode}) from K paced gossip-sieve peers (best of rounds):");
    println!("    K   seconds   msg/s  rate/(K x 1-peer rate) (goal >= 0.8)  CPU s  peak RSS MB");
    for (&k, r) in peers.iter().zip(&best) {
        let Some(r) = r else { continue };
        let ratio = one.map_or(f64::NAN, |one| rate_of(r) / (one * k as f64));
        println!(
            "    {k:<3} {:>7.1} {:>7.0}  {ratio:>18.2}                  {:>6.2}  {:>10.1}",
            r.seconds,
            rate_of(r),
            r.cpu_seconds,
            r.peak_rss as f64 / 1e6
        );
    }
    println!("  load average at end {}", load_average());
}
