//! The real actor system in-process: capped shard mailboxes under a flood, queue_full after a
//! stall, and the metrics contract read back over a real HTTP scrape.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
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

use common::metrics::{assert_balanced, assert_scrape_balances, metric, scrape, sum_matching};

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
    /// Bytes each shard's mailbox holds.
    mailbox_bytes: usize,
    stall: Duration,
    /// Feed on tokio's paused clock: a waiting admission's `stall` then elapses the moment
    /// every feed is blocked on a full shard, whatever the machine's speed.
    paused_clock: bool,
}

/// Runs `flood.peers` peers over `file` through a real pipeline; returns the final scrape and
/// the highest queue depth a sampler thread saw on any shard.
fn run_flood(file: &Path, flood: Flood) -> (String, i64) {
    let (text, max_depth, _) = run_flood_scraping(file, flood, false);
    (text, max_depth)
}

/// [`run_flood`], and with `scrape_during` every rendering of /metrics taken while the peers
/// flood: a thread renders in a loop, and the first peer stops halfway until it has rendered a
/// few more times, so some renderings certainly fall mid-flood while the shards work on.
fn run_flood_scraping(
    file: &Path,
    flood: Flood,
    scrape_during: bool,
) -> (String, i64, Vec<String>) {
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
            shard_mailbox_bytes: flood.mailbox_bytes,
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
        if flood.paused_clock {
            tokio::time::pause();
        }
        let renders = Arc::new(AtomicUsize::new(0));
        let scraper = scrape_during.then(|| {
            let (stop, renders, metrics) = (stop.clone(), renders.clone(), metrics.clone());
            std::thread::spawn(move || {
                let mut scrapes = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    scrapes.push(metrics.render());
                    renders.fetch_add(1, Ordering::Release);
                }
                scrapes
            })
        });
        let feeds: Vec<_> = (0..flood.peers)
            .map(|peer| {
                let frames = open_frames(file).expect("open corpus");
                let frames: gossip_sieve::peer::FrameIter = if scrape_during && peer == 0 {
                    let halfway = open_frames(file).expect("open corpus").count() / 2;
                    let renders = renders.clone();
                    Box::new(frames.enumerate().map(move |(i, frame)| {
                        if i == halfway {
                            wait_for_renders(&renders, 3);
                        }
                        frame
                    }))
                } else {
                    frames
                };
                actix::spawn(feed(pipeline.sieve.clone(), frames))
            })
            .collect();
        for handle in feeds {
            handle.await.expect("feed task");
        }
        pipeline.drained().await;
        if flood.paused_clock {
            // The scrape below runs on real time.
            tokio::time::resume();
        }
        stop.store(true, Ordering::Relaxed);
        sampler.join().expect("sampler");
        let scrapes = scraper
            .map(|s| s.join().expect("scraper"))
            .unwrap_or_default();
        let text = tokio::task::spawn_blocking(move || scrape(addr))
            .await
            .expect("scrape task");
        exporter.abort();
        pipeline.stop();
        (text, max_depth.load(Ordering::Relaxed), scrapes)
    })
}

/// Blocks the calling thread until `renders` has grown by `more` (the shards, on their own
/// threads, keep working meanwhile).
fn wait_for_renders(renders: &AtomicUsize, more: usize) {
    let target = renders.load(Ordering::Acquire) + more;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while renders.load(Ordering::Acquire) < target {
        assert!(
            std::time::Instant::now() < deadline,
            "the scraper never rendered"
        );
        std::thread::yield_now();
    }
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
            mailbox_bytes: PipelineConfig::default().shard_mailbox_bytes,
            stall: Duration::from_secs(60),
            paused_clock: false,
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
            // Virtual time: it elapses only while every feed waits on the one busy slot.
            mailbox_bytes: PipelineConfig::default().shard_mailbox_bytes,
            stall: Duration::from_secs(60),
            paused_clock: true,
        },
    );
    assert!(max_depth <= 1);
    let queue_full = sum_matching(
        &text,
        "gossip_sieve_messages_dropped_total{reason=\"queue_full\"",
    );
    assert!(
        queue_full > 0.0,
        "six feeds blocked on one slot past the stall timeout must drop some messages"
    );
    assert_scrape_balances(&text);
}

/// Issue 11 item 3: each message may carry 65 KB of excess bytes, so a mailbox capped only in
/// messages (4096) could hold 268 MB. Capped at 64 KiB, the shard holds one such message at a
/// time however many peers flood it, and every message is still judged.
#[test]
fn a_mailbox_holds_at_most_its_bytes_of_maximum_size_messages() {
    use gossip_sieve::wire::gossip::ChannelAnnouncement;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("big.gsd");
    let mut writer = DumpWriter::create(&file).expect("create");
    let count = 60u64;
    for i in 0..count {
        // Distinct scids, never-valid signatures, one full frame each.
        let mut key = [2u8; 33];
        key[32] = 1;
        let mut ann = ChannelAnnouncement {
            node_signature_1: [1; 64],
            node_signature_2: [1; 64],
            bitcoin_signature_1: [1; 64],
            bitcoin_signature_2: [1; 64],
            features: Vec::new(),
            chain_hash: Network::Bitcoin.chain_hash(),
            short_channel_id: ((700_000 + i) << 40) | (1 << 16),
            node_id_1: key,
            node_id_2: [3; 33],
            bitcoin_key_1: key,
            bitcoin_key_2: key,
            excess: Vec::new(),
        };
        ann.excess = vec![0; 65_535 - ann.serialize().len()];
        let msg = ann.serialize();
        assert_eq!(msg.len(), 65_535);
        writer.write(&msg).expect("write");
    }
    writer.finish().expect("flush");
    let peers = 16;
    let (text, max_depth) = run_flood(
        &file,
        Flood {
            peers,
            shards: 1,
            capacity: 4096,
            mailbox_bytes: 64 * 1024,
            stall: Duration::from_secs(600),
            paused_clock: false,
        },
    );
    assert!(
        max_depth <= 1,
        "{max_depth} maximum-size messages in a 64 KiB mailbox"
    );
    // Each copy judged (invalid, a duplicate in flight, or recently rejected), none lost to a
    // full queue: the byte cap slows the peers, it does not drop.
    let judged = sum_matching(&text, "gossip_sieve_messages_dropped_total{");
    assert_eq!(
        sum_matching(
            &text,
            "gossip_sieve_messages_dropped_total{reason=\"queue_full\""
        ),
        0.0
    );
    assert_eq!(judged, (count * peers as u64) as f64);
    assert_balanced(&text);
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
        let pipeline = one_shard_pipeline(&metrics);
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

/// The accounting invariant holds at every scrape, not only once the pipeline is quiet: eight
/// peers flood while another thread renders /metrics as fast as it can. Reading the five flow
/// families one after another once counted a message twice mid-flood (received 313 against
/// 319); the scrape now derives in_flight from one downstream-first read, and
/// [`common::metrics::assert_balanced`] also requires in_flight never to be negative, which is
/// what a message counted twice (or a scrape read in the wrong order) shows as.
#[test]
fn counts_balance_at_every_scrape_during_a_flood() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("corpus.gsd");
    write_corpus(&file, 300, 1_000, 0.05);
    let (text, _, scrapes) = run_flood_scraping(
        &file,
        Flood {
            peers: 8,
            shards: 2,
            capacity: 64,
            mailbox_bytes: PipelineConfig::default().shard_mailbox_bytes,
            stall: Duration::from_secs(60),
            paused_clock: false,
        },
        true,
    );
    assert_scrape_balances(&text);
    let final_received = sum_matching(&text, "gossip_sieve_messages_received_total");
    let mut mid_flood = 0;
    for scrape in &scrapes {
        let received = sum_matching(scrape, "gossip_sieve_messages_received_total");
        if received > 0.0 {
            assert_balanced(scrape);
            mid_flood += usize::from(received < final_received);
        }
    }
    // The first peer waited halfway for three renderings.
    assert!(
        mid_flood >= 3,
        "{mid_flood} of {} scrapes mid-flood",
        scrapes.len()
    );
}

/// A one-shard pipeline for the ordering tests below; one shard keeps a channel's messages in
/// one FIFO mailbox.
fn one_shard_pipeline(metrics: &Arc<Metrics>) -> Pipeline {
    Pipeline::start(
        PipelineConfig {
            shards: 1,
            ..PipelineConfig::default()
        },
        Arc::new(Graph::new()),
        metrics.clone(),
    )
}

/// An update admitted behind its channel_announcement (queued in the same shard while the
/// announcement was in flight) is dropped as dependency_rejected when the announcement fails
/// verification. Which updates were queued behind is read from `offer`'s outcome, not timed.
#[test]
fn an_update_queued_behind_a_rejected_announcement_is_dependency_rejected() {
    use common::forge::{bad_signature, recent, scid, Channel};
    use gossip_sieve::pipeline::{DropReason, Outcome};
    use gossip_sieve::wire::GossipKind;

    actix::System::new().block_on(async {
        let metrics = Arc::new(Metrics::new(1).expect("metrics"));
        let pipeline = one_shard_pipeline(&metrics);
        let mut behind = 0;
        for block in 0..200 {
            let channel = Channel::new(scid(700_000 + block));
            let announcement = bad_signature(&channel.announcement(), 0);
            assert_eq!(pipeline.sieve.offer(announcement).await, Outcome::Admitted);
            match pipeline.sieve.offer(channel.update(0, recent())).await {
                Outcome::Admitted => behind += 1,
                // The shard had rejected the announcement already: parked as an orphan.
                Outcome::Parked => {}
                other => panic!("update for an announcement in flight: {other:?}"),
            }
            if behind == 5 {
                break;
            }
        }
        assert!(
            behind > 0,
            "no update was ever queued behind its announcement"
        );
        pipeline.drained().await;
        assert_eq!(
            metrics
                .dropped(GossipKind::ChannelUpdate, DropReason::DependencyRejected)
                .get(),
            behind
        );
        assert_eq!(metrics.kind(GossipKind::ChannelUpdate).accepted.get(), 0);
        pipeline.stop();
    });
}

/// Two updates of one channel direction in flight at once, newer first: the shard applies the
/// newer and its re-check drops the older as stale (the sieve let both through, since neither
/// was stored when it arrived).
#[test]
fn an_older_update_overtaken_in_flight_is_dropped_stale_by_the_shard() {
    use common::forge::{recent, scid, Channel};
    use gossip_sieve::pipeline::{DropReason, Outcome};
    use gossip_sieve::wire::GossipKind;

    actix::System::new().block_on(async {
        let metrics = Arc::new(Metrics::new(1).expect("metrics"));
        let pipeline = one_shard_pipeline(&metrics);
        let t = recent();
        let (mut overtaken, mut stale_at_sieve) = (0, 0);
        for block in 0..200 {
            let channel = Channel::new(scid(800_000 + block));
            assert_eq!(
                pipeline.sieve.offer(channel.announcement()).await,
                Outcome::Admitted
            );
            pipeline.drained().await;
            assert_eq!(
                pipeline.sieve.offer(channel.update(0, t + 2)).await,
                Outcome::Admitted
            );
            match pipeline.sieve.offer(channel.update(0, t + 1)).await {
                Outcome::Admitted => overtaken += 1,
                // The newer one was applied already: the sieve's own check.
                Outcome::Dropped(DropReason::Stale) => stale_at_sieve += 1,
                other => panic!("older update: {other:?}"),
            }
            if overtaken == 5 {
                break;
            }
        }
        assert!(overtaken > 0, "the newer update never stayed in flight");
        pipeline.drained().await;
        let updates = metrics.kind(GossipKind::ChannelUpdate);
        assert_eq!(
            metrics
                .dropped(GossipKind::ChannelUpdate, DropReason::Stale)
                .get(),
            overtaken + stale_at_sieve
        );
        assert_eq!(updates.accepted.get(), overtaken + stale_at_sieve);
        pipeline.stop();
    });
}
