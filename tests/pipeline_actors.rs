//! The real actor system in-process: capped shard mailboxes under a flood, queue_full after a
//! stall, and the metrics contract read back over a real HTTP scrape.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gossip_sieve::clock::unix_now;
use gossip_sieve::config::{Network, PipelineConfig};
use gossip_sieve::graph::Graph;
use gossip_sieve::metrics::{self, Health, Metrics};
use gossip_sieve::peer::{feed, open_frames};
use gossip_sieve::pipeline::Pipeline;
use gossip_sieve::sim::corpus::{generate, CorpusSpec};
use gossip_sieve::store::dump::DumpWriter;

use common::metrics::{assert_scrape_balances, metric, scrape, sum_matching};

fn write_corpus(path: &Path, nodes: usize, channels: usize, invalid_rate: f64) -> u64 {
    let mut writer = DumpWriter::new(std::io::BufWriter::new(
        std::fs::File::create(path).expect("create corpus"),
    ));
    let mut count = 0;
    let spec = CorpusSpec {
        nodes,
        channels,
        seed: 7,
        invalid_rate,
        chain_hash: Network::Bitcoin.chain_hash(),
        now: unix_now(),
    };
    generate(&spec, |msg| {
        writer.write(&msg).expect("write");
        count += 1;
    });
    writer.finish().expect("flush");
    count
}

struct Flood {
    peers: usize,
    shards: usize,
    capacity: usize,
    stall: Duration,
}

/// Runs `flood.peers` peers over `file` through a real pipeline; returns the final scrape and
/// the highest queue depth a sampler thread saw on any shard.
fn run_flood(file: &Path, flood: Flood) -> (String, i64) {
    actix::System::new().block_on(async move {
        let metrics = Arc::new(Metrics::new(flood.shards).expect("metrics"));
        let health = Arc::new(Health::default());
        let (addr, exporter) = metrics::serve(
            "127.0.0.1:0".parse().expect("addr"),
            metrics.clone(),
            health.clone(),
        )
        .await
        .expect("serve metrics");
        let config = PipelineConfig {
            shards: flood.shards,
            shard_mailbox_capacity: flood.capacity,
            stall_timeout: flood.stall,
            ..PipelineConfig::default()
        };
        let pipeline = Pipeline::start(config, Arc::new(Graph::new()), metrics.clone());

        let stop = Arc::new(AtomicBool::new(false));
        let max_depth = Arc::new(AtomicI64::new(0));
        let sampler = {
            let (stop, max_depth, metrics) = (stop.clone(), max_depth.clone(), metrics.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for shard in 0..flood.shards {
                        max_depth.fetch_max(metrics.queue_depth(shard).get(), Ordering::Relaxed);
                    }
                    std::hint::spin_loop();
                }
            })
        };
        let feeds: Vec<_> = (0..flood.peers)
            .map(|_| {
                let frames = open_frames(file).expect("open corpus");
                actix::spawn(feed(pipeline.sieve.clone(), frames))
            })
            .collect();
        for handle in feeds {
            handle.await.expect("feed task");
        }
        pipeline.drained().await;
        stop.store(true, Ordering::Relaxed);
        sampler.join().expect("sampler");
        let text = tokio::task::spawn_blocking(move || scrape(addr))
            .await
            .expect("scrape task");
        exporter.abort();
        pipeline.stop();
        (text, max_depth.load(Ordering::Relaxed))
    })
}

#[test]
fn queue_depth_stays_within_capacity_under_a_flood() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("corpus.gsd");
    write_corpus(&file, 150, 400, 0.05);
    let capacity = 4;
    let (text, max_depth) = run_flood(
        &file,
        Flood {
            peers: 8,
            shards: 2,
            capacity,
            stall: Duration::from_secs(60),
        },
    );
    assert!(max_depth >= 1, "the sampler never saw a queued message");
    assert!(
        max_depth <= capacity as i64,
        "queue depth {max_depth} exceeded capacity {capacity}"
    );
    assert_eq!(
        metric(&text, "gossip_sieve_queue_capacity{shard=\"0\"}"),
        4.0
    );
    assert_eq!(metric(&text, "gossip_sieve_queue_depth{shard=\"0\"}"), 0.0);
    assert_eq!(
        sum_matching(
            &text,
            "gossip_sieve_messages_dropped_total{reason=\"queue_full\""
        ),
        0.0
    );
    assert_eq!(metric(&text, "gossip_sieve_graph_channels"), 400.0);
    assert_scrape_balances(&text);
}

#[test]
fn a_stalled_shard_drops_as_queue_full_and_accounting_still_balances() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("corpus.gsd");
    write_corpus(&file, 100, 300, 0.0);
    let (text, max_depth) = run_flood(
        &file,
        Flood {
            peers: 6,
            shards: 1,
            capacity: 1,
            stall: Duration::from_micros(1),
        },
    );
    assert!(max_depth <= 1);
    let queue_full = sum_matching(
        &text,
        "gossip_sieve_messages_dropped_total{reason=\"queue_full\"",
    );
    assert!(
        queue_full > 0.0,
        "a 1 µs stall timeout with capacity 1 must drop some messages"
    );
    assert_scrape_balances(&text);
}

#[test]
fn a_rejected_message_sent_again_costs_no_signature_check() {
    use gossip_sieve::pipeline::{DropReason, Outcome};
    use gossip_sieve::sim::corpus::{generate_labeled, Label};

    let spec = CorpusSpec {
        nodes: 20,
        channels: 40,
        seed: 3,
        invalid_rate: 0.5,
        chain_hash: Network::Bitcoin.chain_hash(),
        now: unix_now(),
    };
    let mut valid = Vec::new();
    let mut badly_signed = Vec::new();
    generate_labeled(&spec, |msg, label| match label {
        Label::Valid(_) => valid.push(msg),
        Label::Invalid(_, class) if class.expected_drop_reason() == "invalid_signature" => {
            badly_signed.push(msg)
        }
        Label::Invalid(..) => {}
    });
    assert!(!badly_signed.is_empty());
    actix::System::new().block_on(async move {
        let metrics = Arc::new(Metrics::new(1).expect("metrics"));
        let pipeline = Pipeline::start(
            PipelineConfig {
                shards: 1,
                ..PipelineConfig::default()
            },
            Arc::new(Graph::new()),
            metrics.clone(),
        );
        for msg in valid {
            pipeline.sieve.offer(msg).await;
        }
        for msg in badly_signed.clone() {
            pipeline.sieve.offer(msg).await;
        }
        pipeline.drained().await;
        let invalid_checks = metrics.signature_invalid.get();
        assert_eq!(invalid_checks, badly_signed.len() as u64);
        for msg in badly_signed {
            assert_eq!(
                pipeline.sieve.offer(msg).await,
                Outcome::Dropped(DropReason::RecentlyRejected)
            );
        }
        pipeline.drained().await;
        assert_eq!(metrics.signature_invalid.get(), invalid_checks);
        pipeline.stop();
    });
}
