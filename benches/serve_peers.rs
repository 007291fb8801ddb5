//! Serving a mainnet-sized graph to many peers at once (issue 12 "Numbers"): the release
//! binary's peak RSS with 1 peer and with N peers streaming the whole store at the same time,
//! and the bytes per second each peer got (its budget is `--serve-bytes-per-sec`).
//!
//! The store is written directly from the generated corpus (no verification needed: `run`
//! loads a store without checking signatures again), then `gossip-sieve run` serves it. Each
//! peer is a BOLT 8 client from this crate's transport that sends `init` (gossip_queries) and
//! `gossip_timestamp_filter(0, max)`, answers pings, and reads until it has every message.
//!
//! `cargo bench --bench serve_peers -- [--nodes N --channels M --peers P --rate BYTES]`
//! (default: mainnet size, 17,000 nodes / 54,000 channels, 32 peers, 1,000,000 B/s).

#[path = "support/served.rs"]
mod served;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use gossip_sieve::peer::identity::NodeIdentity;
use gossip_sieve::sim::corpus::{self, CorpusSpec, BITCOIN_MAINNET_CHAIN_HASH};
use gossip_sieve::transport::handshake_initiator;
use gossip_sieve::wire::bolt1::{self, Init, Ping};
use gossip_sieve::wire::queries::GossipTimestampFilter;
use secp256k1::PublicKey;

struct Args {
    nodes: usize,
    channels: usize,
    peers: usize,
    rate: u64,
}

fn args() -> Args {
    let mut a = Args {
        nodes: corpus::MAINNET_NODES,
        channels: corpus::MAINNET_CHANNELS,
        peers: 32,
        rate: 1_000_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse::<u64>().ok());
        match flag.as_str() {
            "--nodes" => a.nodes = value().unwrap_or(a.nodes as u64) as usize,
            "--channels" => a.channels = value().unwrap_or(a.channels as u64) as usize,
            "--peers" => a.peers = value().unwrap_or(a.peers as u64) as usize,
            "--rate" => a.rate = value().unwrap_or(a.rate),
            _ => {}
        }
    }
    a
}

/// One peer: streams until it has `want` gossip messages; returns (bytes, seconds).
async fn peer(listen: SocketAddr, node_id: PublicKey, want: u64) -> (u64, f64) {
    let stream = tokio::net::TcpStream::connect(listen)
        .await
        .expect("connect");
    let me = NodeIdentity::random();
    let (mut reader, mut writer) =
        handshake_initiator(stream, me.secret(), &node_id, Duration::from_secs(30))
            .await
            .expect("handshake");
    writer
        .write_message(&Init::ours(BITCOIN_MAINNET_CHAIN_HASH).serialize())
        .await
        .expect("init");
    let started = Instant::now();
    writer
        .write_message(
            &GossipTimestampFilter {
                chain_hash: BITCOIN_MAINNET_CHAIN_HASH,
                first_timestamp: 0,
                timestamp_range: u32::MAX,
            }
            .serialize(),
        )
        .await
        .expect("filter");
    let (mut got, mut bytes) = (0u64, 0u64);
    while got < want {
        let msg = reader
            .read_message()
            .await
            .expect("read")
            .expect("node closed");
        match bolt1::message_type(&msg) {
            Some(bolt1::PING) => {
                if let Some(pong) = Ping::parse(&msg).ok().and_then(|p| p.pong_reply()) {
                    writer.write_message(&pong.serialize()).await.expect("pong");
                }
            }
            Some(256..=258) => {
                got += 1;
                bytes += msg.len() as u64;
            }
            _ => {}
        }
    }
    (bytes, started.elapsed().as_secs_f64())
}

fn round(dir: &Path, peers: usize, rate: u64, want: u64) -> (u64, Vec<(u64, f64)>) {
    let served = served::start(
        dir,
        &[
            "--historical".to_string(),
            "--serve-bytes-per-sec".to_string(),
            rate.to_string(),
        ],
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..peers)
            .map(|_| tokio::spawn(peer(served.listen, served.node_id, want)))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("peer task"));
        }
        out
    });
    (served.peak_rss(), results)
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let a = args();
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let spec = CorpusSpec::valid(a.nodes, a.channels, 7);
    let (messages, bytes) = served::write_store(dir.path(), &spec);
    eprintln!(
        "store: {messages} messages, {bytes} bytes, written in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let (rss_one, one) = round(dir.path(), 1, a.rate, messages);
    let (rss_many, many) = round(dir.path(), a.peers, a.rate, messages);
    let rate_of = |(b, s): &(u64, f64)| *b as f64 / s.max(1e-9);
    let one_rate = one.iter().map(rate_of).sum::<f64>();
    let rates: Vec<f64> = many.iter().map(rate_of).collect();
    let min = rates.iter().cloned().fold(f64::INFINITY, f64::min);
    let mean = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
    println!(
        "serve_peers nodes={} channels={} messages={messages} store_message_bytes={bytes} budget={}B/s",
        a.nodes, a.channels, a.rate
    );
    println!(
        "  1 peer:   peak RSS {:.1} MiB, {:.0} B/s",
        rss_one as f64 / 1048576.0,
        one_rate
    );
    println!(
        "  {} peers: peak RSS {:.1} MiB ({:.2}x of 1 peer), per peer B/s min {:.0} mean {:.0} ({:.2}x / {:.2}x of budget)",
        a.peers,
        rss_many as f64 / 1048576.0,
        rss_many as f64 / rss_one.max(1) as f64,
        min,
        mean,
        min / a.rate as f64,
        mean / a.rate as f64
    );
}
