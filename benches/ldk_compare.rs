//! gossip-sieve against LDK (`lightning` crate) on the same generated corpus, same machine,
//! same run:
//!
//! - LDK: the corpus's messages decoded with LDK's deserializers and handed to
//!   `P2PGossipSync::handle_*` (what its `PeerManager` does per peer message) from as many
//!   threads as there are cores; one unique pass, then `--copies` duplicate passes. It runs in a
//!   child process (this binary re-executed with `--ldk-child`) so its peak RSS is its own.
//! - gossip-sieve: the release binary's `replay FILE --copies 1` (unique throughput, peak RSS)
//!   and `--copies K+1` (peak RSS with duplicates). Its duplicate cost is measured the way
//!   LDK's is, in a child process of its own (`--ours-child`): the corpus once through the
//!   pipeline, then K duplicate passes timed alone, fed from as many threads as cores. (The
//!   difference of the two replays' wall times, used before, is a few tenths of a second under
//!   a noise of seconds when the machine is shared; it came out negative.)
//!
//! `cargo bench --bench ldk_compare -- [--nodes N --channels M --copies K]`
//! (default: a quarter of mainnet, 4,250 nodes / 13,500 channels, K = 4). Each
//! `--replay-arg X` is passed on to `gossip-sieve replay` (e.g. pipeline limits).

#[path = "../tests/ldk/feed.rs"]
mod feed;

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use gossip_sieve::commands::summary::peak_rss_bytes;
use gossip_sieve::sim::corpus::{self, CorpusSpec, BITCOIN_MAINNET_CHAIN_HASH};
use gossip_sieve::store::dump::{DumpReader, DumpWriter};
use serde_json::{json, Value};

const CHILD_FLAG: &str = "--ldk-child";
const OURS_CHILD_FLAG: &str = "--ours-child";
const CHANNEL_ANNOUNCEMENT: [u8; 2] = 256u16.to_be_bytes();

struct Args {
    nodes: usize,
    channels: usize,
    copies: usize,
    replay_args: Vec<String>,
}

fn flag<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    let pos = args.iter().position(|a| a == name)?;
    let value = args.get(pos + 1)?;
    match value.parse() {
        Ok(v) => Some(v),
        Err(_) => panic!("{name} {value}: not a valid value"),
    }
}

fn main() {
    // `cargo bench` adds `--bench`; anything this bench does not know is ignored.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let copies = flag(&args, "--copies").unwrap_or(4usize);
    if let Some(file) = flag::<PathBuf>(&args, CHILD_FLAG) {
        let report = ldk_child(&file, copies);
        println!("{report}");
        return;
    }
    if let Some(file) = flag::<PathBuf>(&args, OURS_CHILD_FLAG) {
        let report = ours_child(&file, copies);
        println!("{report}");
        return;
    }
    let quarter = 4;
    let args = Args {
        nodes: flag(&args, "--nodes").unwrap_or(corpus::MAINNET_NODES / quarter),
        channels: flag(&args, "--channels").unwrap_or(corpus::MAINNET_CHANNELS / quarter),
        copies,
        replay_args: args
            .windows(2)
            .filter(|w| w[0] == "--replay-arg")
            .map(|w| w[1].clone())
            .collect(),
    };
    parent(&args);
}

/// One LDK thread's share: whole channels (each announcement with the updates and first node
/// announcements that follow it), so no message depends on another thread's.
struct Chunk {
    offset: u64,
    records: usize,
}

/// Splits the dump into `parts` contiguous chunks that each start at a channel_announcement.
fn chunks(path: &Path, parts: usize) -> (Vec<Chunk>, usize) {
    let mut starts = Vec::new(); // (byte offset, record index) of each channel_announcement
    let mut offset = 0u64;
    let mut total = 0usize;
    for record in DumpReader::open(path).expect("open dump") {
        let msg = record.expect("dump record");
        if msg.starts_with(&CHANNEL_ANNOUNCEMENT) || total == 0 {
            starts.push((offset, total));
        }
        offset += 2 + msg.len() as u64;
        total += 1;
    }
    let per = starts.len().div_ceil(parts.max(1)).max(1);
    let bounds: Vec<(u64, usize)> = starts.iter().step_by(per).copied().collect();
    let chunks = bounds
        .iter()
        .enumerate()
        .map(|(i, &(offset, first))| {
            let end = bounds.get(i + 1).map_or(total, |b| b.1);
            Chunk {
                offset,
                records: end - first,
            }
        })
        .collect();
    (chunks, total)
}

#[derive(Default)]
struct PassCount {
    accepted: u64,
    rejected: u64,
    first_rejects: Vec<String>,
}

/// Reads, decodes and applies every chunk on its own thread; returns seconds and counts.
fn ldk_pass(path: &Path, chunks: &[Chunk], sync: &feed::GossipSync) -> (f64, PassCount) {
    let started = Instant::now();
    let counts: Vec<PassCount> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                s.spawn(move || {
                    let mut file = File::open(path).expect("open dump");
                    file.seek(SeekFrom::Start(chunk.offset)).expect("seek");
                    let mut count = PassCount::default();
                    for record in DumpReader::new(file).take(chunk.records) {
                        let msg = record.expect("dump record");
                        let outcome = feed::decode(&msg)
                            .and_then(|m| feed::apply(sync, None, &m).map_err(|e| e.err));
                        match outcome {
                            Ok(_) => count.accepted += 1,
                            Err(e) => {
                                count.rejected += 1;
                                if count.first_rejects.len() < 3 {
                                    count.first_rejects.push(e);
                                }
                            }
                        }
                    }
                    count
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("LDK thread"))
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut total = PassCount::default();
    for c in counts {
        total.accepted += c.accepted;
        total.rejected += c.rejected;
        total.first_rejects.extend(c.first_rejects);
    }
    total.first_rejects.truncate(5);
    (seconds, total)
}

fn ldk_child(path: &Path, copies: usize) -> Value {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (chunks, messages) = chunks(path, threads);
    let (_graph, sync) = feed::new_gossip_sync(Arc::new(feed::StderrLogger));
    let (unique_seconds, unique) = ldk_pass(path, &chunks, &sync);
    let mut duplicate_seconds = 0.0;
    let mut duplicate = PassCount::default();
    for _ in 0..copies {
        let (s, c) = ldk_pass(path, &chunks, &sync);
        duplicate_seconds += s;
        duplicate.accepted += c.accepted;
        duplicate.rejected += c.rejected;
    }
    let graph = feed::ExpectedGraph::of(&_graph);
    json!({
        "threads": threads,
        "messages": messages,
        "unique_seconds": unique_seconds,
        "unique_accepted": unique.accepted,
        "unique_rejected": unique.rejected,
        "unique_first_rejects": unique.first_rejects,
        "duplicate_seconds": duplicate_seconds,
        "duplicate_accepted": duplicate.accepted,
        "graph_channels": graph.channels,
        "graph_nodes": graph.nodes,
        "peak_rss_bytes": peak_rss_bytes(),
    })
}

/// gossip-sieve measured like [`ldk_child`]: one pass through the pipeline (the default
/// configuration, no store), then `copies` duplicate passes timed alone. The copies are spread
/// over one actix arbiter (thread) per core, each running peer feeds as `replay` does.
fn ours_child(path: &Path, copies: usize) -> Value {
    use gossip_sieve::config::PipelineConfig;
    use gossip_sieve::graph::Graph;
    use gossip_sieve::metrics::Metrics;
    use gossip_sieve::peer::{feed, open_frames};
    use gossip_sieve::pipeline::Pipeline;
    use gossip_sieve::wire::GossipKind;

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let system = actix::System::new();
    let report = system.block_on(async move {
        let config = PipelineConfig::default();
        let metrics = Arc::new(Metrics::new(config.shards.max(1)).expect("metrics"));
        let pipeline = Pipeline::start(config, Arc::new(Graph::new()), metrics.clone());
        let total = |pick: fn(&gossip_sieve::metrics::registry::KindCounters) -> u64| -> u64 {
            GossipKind::ALL.iter().map(|k| pick(metrics.kind(*k))).sum()
        };
        let started = Instant::now();
        feed(
            pipeline.sieve.clone(),
            open_frames(path).expect("open dump"),
        )
        .await;
        pipeline.drained().await;
        let unique_seconds = started.elapsed().as_secs_f64();
        let unique_accepted = total(|k| k.accepted.get());
        let received_before = total(|k| k.received.get());

        // Threads are started before the clock, as LDK's pool would be in a running node.
        let arbiters: Vec<actix::Arbiter> = (0..threads).map(|_| actix::Arbiter::new()).collect();
        let started = Instant::now();
        let mut feeds = Vec::with_capacity(copies);
        for copy in 0..copies {
            let (done, finished) = tokio::sync::oneshot::channel();
            let sieve = pipeline.sieve.clone();
            let frames = open_frames(path).expect("open dump");
            arbiters[copy % threads].spawn_fn(move || {
                actix::spawn(async move {
                    let _ = done.send(feed(sieve, frames).await);
                });
            });
            feeds.push(finished);
        }
        for finished in feeds {
            finished.await.expect("duplicate feed");
        }
        pipeline.drained().await;
        let duplicate_seconds = started.elapsed().as_secs_f64();
        for arbiter in arbiters {
            arbiter.stop();
        }
        let report = json!({
            "threads": threads,
            "unique_seconds": unique_seconds,
            "unique_accepted": unique_accepted,
            "duplicate_messages": total(|k| k.received.get()) - received_before,
            "duplicate_accepted": total(|k| k.accepted.get()) - unique_accepted,
            "duplicate_seconds": duplicate_seconds,
            "peak_rss_bytes": peak_rss_bytes(),
        });
        pipeline.stop();
        report
    });
    actix::System::current().stop();
    report
}

fn last_json(stdout: &[u8], what: &str) -> Value {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON from {what}:\n{text}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON from {what} ({e}): {line}"))
}

fn run_json(cmd: &mut Command, what: &str) -> Value {
    let out = cmd.output().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    last_json(&out.stdout, what)
}

/// The release binary `cargo bench` built beside this bench; built with `cargo build
/// --release` if it is missing (e.g. the bench binary was copied elsewhere).
fn gossip_sieve_binary() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_gossip-sieve"));
    if !bin.exists() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--bin", "gossip-sieve"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build --release");
        assert!(status.success(), "cargo build --release failed");
    }
    bin
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(0.0)
}

fn accepted_total(summary: &Value) -> u64 {
    summary["accepted"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

fn parent(args: &Args) {
    let dir = tempfile::tempdir().expect("tempdir");
    let dump = dir.path().join("corpus.gsd");
    let spec = CorpusSpec {
        nodes: args.nodes,
        channels: args.channels,
        seed: 7,
        invalid_rate: 0.0,
        chain_hash: BITCOIN_MAINNET_CHAIN_HASH,
        // LDK drops channel_updates over two weeks old, so timestamps are relative to now.
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32),
    };
    let started = Instant::now();
    let mut writer = DumpWriter::create(&dump).expect("create dump");
    let stats = corpus::generate(&spec, |msg| writer.write(&msg).expect("write dump"));
    writer.finish().expect("flush dump");
    let messages = stats.total();
    eprintln!(
        "corpus: {} nodes, {} channels, {messages} messages, generated in {:.1?}",
        args.nodes,
        args.channels,
        started.elapsed()
    );
    let dump_arg = dump.to_str().expect("utf-8 path");
    let k = args.copies;

    let ldk = run_json(
        Command::new(std::env::current_exe().expect("bench path")).args([
            CHILD_FLAG,
            dump_arg,
            "--copies",
            &k.to_string(),
        ]),
        "LDK child",
    );
    assert_eq!(
        ldk["unique_accepted"].as_u64(),
        Some(messages),
        "LDK rejected valid gossip: {ldk}"
    );
    assert_eq!(
        ldk["duplicate_accepted"].as_u64(),
        Some(0),
        "LDK accepted duplicates: {ldk}"
    );

    let bin = gossip_sieve_binary();
    let replay = |copies: usize| {
        run_json(
            Command::new(&bin)
                .args([
                    "replay",
                    dump_arg,
                    "--copies",
                    &copies.to_string(),
                    "--json",
                ])
                .args(&args.replay_args),
            "gossip-sieve replay",
        )
    };
    let ours_unique = replay(1);
    let ours_dup = replay(k + 1);
    let ours_child = run_json(
        Command::new(std::env::current_exe().expect("bench path")).args([
            OURS_CHILD_FLAG,
            dump_arg,
            "--copies",
            &k.to_string(),
        ]),
        "gossip-sieve duplicates child",
    );
    assert_eq!(
        ours_child["duplicate_accepted"].as_u64(),
        Some(0),
        "gossip-sieve accepted duplicates: {ours_child}"
    );
    // Not an assertion: a pipeline that loses valid gossip is a finding this bench must still
    // report with its numbers, flagged, rather than hide behind a panic.
    let mut complete = true;
    for (run, copies) in [(&ours_unique, 1), (&ours_dup, k + 1)] {
        if accepted_total(run) != messages {
            complete = false;
            eprintln!(
                "WARNING: gossip-sieve replay --copies {copies} accepted {} of {messages} \
                 valid messages; dropped: {}",
                accepted_total(run),
                run["dropped"]
            );
        }
    }

    let dups = (k as u64 * messages) as f64;
    let ldk_unique_s = f(&ldk, "unique_seconds");
    let ldk_dup_ns = f(&ldk, "duplicate_seconds") / dups * 1e9;
    let ldk_rss = f(&ldk, "peak_rss_bytes");
    let ours_unique_s = f(&ours_unique, "wall_seconds");
    let ours_dup_ns = f(&ours_child, "duplicate_seconds") / dups * 1e9;
    let ours_rss = f(&ours_dup, "peak_rss_bytes").max(f(&ours_unique, "peak_rss_bytes"));
    let n = messages as f64;
    let mb = |b: f64| b / 1e6;

    println!();
    println!(
        "ldk_compare: {} nodes, {} channels, {messages} messages, {k} duplicate copies, {} LDK threads",
        args.nodes, args.channels, ldk["threads"]
    );
    println!(
        "{:<14} {:>12} {:>14} {:>16} {:>12}",
        "", "unique s", "unique msg/s", "dup ns/message", "peak RSS MB"
    );
    println!(
        "{:<14} {:>12.3} {:>14.0} {:>16.0} {:>12.1}",
        "LDK 0.2",
        ldk_unique_s,
        n / ldk_unique_s,
        ldk_dup_ns,
        mb(ldk_rss)
    );
    println!(
        "{:<14} {:>12.3} {:>14.0} {:>16.0} {:>12.1}",
        "gossip-sieve",
        ours_unique_s,
        n / ours_unique_s,
        ours_dup_ns,
        mb(ours_rss)
    );
    let unique_ratio = ldk_unique_s / ours_unique_s;
    let dup_ratio = ldk_dup_ns / ours_dup_ns;
    let rss_ratio = ours_rss / ldk_rss;
    if !complete {
        println!("INCOMPLETE: gossip-sieve did not accept the whole corpus (see stderr)");
    }
    println!("unique throughput ours/LDK: {unique_ratio:.2}x (target >= 1.0)");
    println!("duplicate discard speed ours/LDK: {dup_ratio:.2}x (target >= 3)");
    println!("peak RSS ours/LDK: {rss_ratio:.2} (target <= 0.33)");
    println!(
        "(duplicates: {k} passes after the unique one, in one process, {} threads each side)",
        ours_child["threads"]
    );
    println!(
        "{}",
        json!({
            "nodes": args.nodes,
            "channels": args.channels,
            "messages": messages,
            "copies": k,
            "replay_args": args.replay_args,
            "ours_accepted_all": complete,
            "ldk": ldk,
            "ours_unique": { "wall_seconds": ours_unique_s, "peak_rss_bytes": f(&ours_unique, "peak_rss_bytes") },
            "ours_duplicates": { "wall_seconds": f(&ours_dup, "wall_seconds"), "peak_rss_bytes": f(&ours_dup, "peak_rss_bytes") },
            "ours_child": ours_child,
            "unique_throughput_ratio": unique_ratio,
            "duplicate_speed_ratio": dup_ratio,
            "peak_rss_ratio": rss_ratio,
        })
    );
}
