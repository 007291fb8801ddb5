//! `bench`: whole-pipeline measurements printed as ratios taken in the same run, on the same
//! messages and the same cores, so the numbers mean something on any machine:
//!
//! 1. unique messages through the pipeline ÷ raw libsecp256k1 verification capacity;
//! 2. cost per duplicate discarded once the graph is known, from a frame in memory (target
//!    ≤ 150 ns) and arriving over BOLT 8, decryption included (target ≤ 500 ns);
//! 3. peak RSS of the whole run.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secp256k1::ecdsa::Signature;
use secp256k1::{Message, PublicKey, Secp256k1};
use serde::Serialize;

use crate::config::PipelineConfig;
use crate::graph::Graph;
use crate::metrics::Metrics;
use crate::peer::{feed, open_frames};
use crate::pipeline::{Pipeline, Sieve};
use crate::transport::cipher::{CipherDirection, TransportKeys};
use crate::transport::Bolt8Reader;
use crate::wire::gossip::{
    signed_digest, ChannelAnnouncement, GossipMessage, CHANNEL_ANNOUNCEMENT_SIGNED_FROM,
    SINGLE_SIG_SIGNED_FROM,
};

use super::summary::peak_rss_bytes;

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub shards: usize,
    pub unique_messages: u64,
    pub unique_signatures: u64,
    pub pipeline_seconds: f64,
    pub pipeline_signatures_per_second: f64,
    pub raw_verify_per_second: f64,
    pub raw_verify_with_key_parse_per_second: f64,
    /// Pipeline signature rate ÷ raw verify rate of pre-parsed keys (target ≥ 0.95).
    pub unique_ratio: f64,
    /// Same, against a raw loop that also parses every key (what a naive verifier does).
    pub unique_ratio_vs_parse_and_verify: f64,
    /// Duplicates offered over all passes; the costs below are CPU time of the best pass.
    pub duplicate_messages: u64,
    /// A frame already in memory, discarded by the sieve (target ≤ 150 ns).
    pub duplicate_ns_per_message: f64,
    /// Duplicates in one BOLT 8 pass.
    pub bolt8_duplicate_messages: u64,
    /// Read + decrypt a BOLT 8 frame, then the sieve discards it (target ≤ 500 ns).
    pub bolt8_duplicate_ns_per_message: f64,
    /// The decryption part alone, timed on the same stream without the sieve.
    pub bolt8_decrypt_ns_per_message: f64,
    pub peak_rss_bytes: u64,
}

/// One signature to check, fully prepared so the raw loop measures libsecp256k1 alone.
struct Prepared {
    digest: Message,
    signature: Signature,
    key_bytes: [u8; 33],
}

fn prepare(corpus: &Path, limit: usize) -> anyhow::Result<Vec<Prepared>> {
    let mut out = Vec::with_capacity(limit);
    let mut node_keys = std::collections::HashMap::new();
    for frame in open_frames(corpus)? {
        if out.len() >= limit {
            break;
        }
        let msg = frame?;
        match GossipMessage::parse(&msg) {
            Ok(GossipMessage::ChannelAnnouncement(ann)) => {
                let Some(digest) = signed_digest(&msg, CHANNEL_ANNOUNCEMENT_SIGNED_FROM) else {
                    continue;
                };
                remember(&mut node_keys, &ann);
                for (sig, key) in [
                    (ann.node_signature_1, ann.node_id_1),
                    (ann.node_signature_2, ann.node_id_2),
                    (ann.bitcoin_signature_1, ann.bitcoin_key_1),
                    (ann.bitcoin_signature_2, ann.bitcoin_key_2),
                ] {
                    push(&mut out, digest, &sig, key);
                }
            }
            Ok(GossipMessage::ChannelUpdate(update)) => {
                let Some(digest) = signed_digest(&msg, SINGLE_SIG_SIGNED_FROM) else {
                    continue;
                };
                if let Some((n1, n2)) = node_keys.get(&update.short_channel_id) {
                    let key = if update.channel_flags & 1 == 0 {
                        *n1
                    } else {
                        *n2
                    };
                    push(&mut out, digest, &update.signature, key);
                }
            }
            Ok(GossipMessage::NodeAnnouncement(ann)) => {
                if let Some(digest) = signed_digest(&msg, SINGLE_SIG_SIGNED_FROM) {
                    push(&mut out, digest, &ann.signature, ann.node_id);
                }
            }
            Err(_) => {}
        }
    }
    Ok(out)
}

fn remember(
    keys: &mut std::collections::HashMap<u64, ([u8; 33], [u8; 33])>,
    ann: &ChannelAnnouncement,
) {
    keys.insert(ann.short_channel_id, (ann.node_id_1, ann.node_id_2));
}

fn push(out: &mut Vec<Prepared>, digest: [u8; 32], sig: &[u8; 64], key_bytes: [u8; 33]) {
    if let Ok(signature) = Signature::from_compact(sig) {
        out.push(Prepared {
            digest: Message::from_digest(digest),
            signature,
            key_bytes,
        });
    }
}

/// Verifications per second of `threads` threads over `prepared`, optionally parsing each key.
fn raw_rate(prepared: &[Prepared], threads: usize, parse_keys: bool) -> f64 {
    let secp = Secp256k1::verification_only();
    let keys: Vec<Option<PublicKey>> = prepared
        .iter()
        .map(|p| PublicKey::from_slice(&p.key_bytes).ok())
        .collect();
    let chunk = prepared.len().div_ceil(threads.max(1)).max(1);
    let started = Instant::now();
    let valid: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = prepared
            .chunks(chunk)
            .zip(keys.chunks(chunk))
            .map(|(items, keys)| {
                let secp = &secp;
                scope.spawn(move || {
                    items
                        .iter()
                        .zip(keys)
                        .filter(|(item, key)| {
                            let key = if parse_keys {
                                PublicKey::from_slice(&item.key_bytes).ok()
                            } else {
                                **key
                            };
                            key.is_some_and(|key| {
                                secp.verify_ecdsa(&item.digest, &item.signature, &key)
                                    .is_ok()
                            })
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).sum()
    });
    let seconds = started.elapsed().as_secs_f64();
    if valid == 0 || seconds == 0.0 {
        return 0.0;
    }
    prepared.len() as f64 / seconds
}

/// The corpus as one peer would send it over BOLT 8, encrypted before any timing, with the
/// receiving cipher that decrypts it (fixed keys: both sides are ours).
fn encrypted_corpus(corpus: &Path) -> anyhow::Result<(Vec<u8>, CipherDirection)> {
    let (a, b, ck) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    let mut sending = TransportKeys::new(a, b, ck).sending;
    let receiving = TransportKeys::new(b, a, ck).receiving;
    let mut wire = Vec::new();
    for frame in open_frames(corpus)? {
        wire.extend(sending.encrypt_message(&frame?)?);
    }
    Ok((wire, receiving))
}

/// CPU time of the calling thread. The duplicate passes run on this one thread (a duplicate
/// never reaches a shard), so this leaves out the time the OS gave other processes: the
/// machine is often shared while benching, and wall time would charge that to us.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux supports.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

fn per_message_ns(time: Duration, messages: u64) -> f64 {
    time.as_secs_f64() * 1e9 / (messages.max(1) as f64)
}

/// Duplicates arriving over BOLT 8: each pass decrypts a recorded stream of the corpus through
/// [`Bolt8Reader`] (the socket reader's code, fed from memory) once alone and once handing each
/// message to the sieve, which discards it. Returns the messages in one pass and the best
/// pass's CPU time for each.
async fn bolt8_duplicates(
    sieve: &Arc<Sieve>,
    corpus: &Path,
    passes: usize,
) -> anyhow::Result<(u64, Duration, Duration)> {
    let (mut messages, mut decrypt_only, mut with_sieve) = (0, Duration::MAX, Duration::MAX);
    for _ in 0..passes.max(1) {
        let (wire, receiving) = encrypted_corpus(corpus)?;
        let started = thread_cpu_time();
        let mut reader = Bolt8Reader::new(wire.as_slice(), receiving);
        while let Some(msg) = reader.read_message().await? {
            std::hint::black_box(msg);
        }
        decrypt_only = decrypt_only.min(thread_cpu_time().saturating_sub(started));

        let (wire, receiving) = encrypted_corpus(corpus)?;
        let started = thread_cpu_time();
        let mut reader = Bolt8Reader::new(wire.as_slice(), receiving);
        messages = 0;
        while let Some(msg) = reader.read_message().await? {
            sieve.offer(msg).await;
            messages += 1;
        }
        with_sieve = with_sieve.min(thread_cpu_time().saturating_sub(started));
    }
    Ok((messages, decrypt_only, with_sieve))
}

pub struct BenchOptions {
    pub config: PipelineConfig,
    pub duplicate_copies: usize,
    /// Signatures used for the raw baseline (a sample is enough for a rate).
    pub raw_sample: usize,
}

pub fn run(corpus: &Path, options: BenchOptions) -> anyhow::Result<BenchReport> {
    let shards = options.config.shards.max(1);
    let system = actix::System::new();
    let (
        unique_messages,
        unique_signatures,
        pipeline_seconds,
        duplicate_messages,
        dup_best,
        (bolt8_messages, bolt8_decrypt, bolt8_total),
    ) = system.block_on(async {
        let metrics = Arc::new(Metrics::new(shards)?);
        let pipeline = Pipeline::start(
            options.config.clone(),
            Arc::new(Graph::new()),
            metrics.clone(),
        );
        let started = Instant::now();
        feed(pipeline.sieve.clone(), open_frames(corpus)?).await;
        pipeline.drained().await;
        let pipeline_seconds = started.elapsed().as_secs_f64();
        let unique_messages: u64 = crate::wire::GossipKind::ALL
            .iter()
            .map(|k| metrics.kind(*k).accepted.get())
            .sum();
        let unique_signatures = metrics.signature_valid.get() + metrics.signature_invalid.get();

        // Everything is known now: every further copy is a duplicate. One peer, so this is
        // the per-message cost on one thread.
        let received_before: u64 = crate::wire::GossipKind::ALL
            .iter()
            .map(|k| metrics.kind(*k).received.get())
            .sum();
        let mut dup_best = Duration::MAX;
        for _ in 0..options.duplicate_copies.max(1) {
            let started = thread_cpu_time();
            feed(pipeline.sieve.clone(), open_frames(corpus)?).await;
            dup_best = dup_best.min(thread_cpu_time().saturating_sub(started));
        }
        pipeline.drained().await;
        let received_after: u64 = crate::wire::GossipKind::ALL
            .iter()
            .map(|k| metrics.kind(*k).received.get())
            .sum();
        let bolt8 = bolt8_duplicates(&pipeline.sieve, corpus, options.duplicate_copies).await?;
        pipeline.stop();
        anyhow::Ok((
            unique_messages,
            unique_signatures,
            pipeline_seconds,
            received_after - received_before,
            dup_best,
            bolt8,
        ))
    })?;
    actix::System::current().stop();

    let prepared = prepare(corpus, options.raw_sample)?;
    let raw = raw_rate(&prepared, shards, false);
    let raw_parse = raw_rate(&prepared, shards, true);
    drop(prepared);
    let pipeline_rate = unique_signatures as f64 / pipeline_seconds.max(1e-9);
    Ok(BenchReport {
        shards,
        unique_messages,
        unique_signatures,
        pipeline_seconds,
        pipeline_signatures_per_second: pipeline_rate,
        raw_verify_per_second: raw,
        raw_verify_with_key_parse_per_second: raw_parse,
        unique_ratio: pipeline_rate / raw.max(1e-9),
        unique_ratio_vs_parse_and_verify: pipeline_rate / raw_parse.max(1e-9),
        duplicate_messages,
        duplicate_ns_per_message: per_message_ns(
            dup_best,
            duplicate_messages / options.duplicate_copies.max(1) as u64,
        ),
        bolt8_duplicate_messages: bolt8_messages,
        bolt8_duplicate_ns_per_message: per_message_ns(bolt8_total, bolt8_messages),
        bolt8_decrypt_ns_per_message: per_message_ns(bolt8_decrypt, bolt8_messages),
        peak_rss_bytes: peak_rss_bytes(),
    })
}

impl BenchReport {
    pub fn print_text(&self) {
        println!("shards (cores used): {}", self.shards);
        println!(
            "unique: {} messages, {} signatures in {:.2} s = {:.0} verifications/s",
            self.unique_messages,
            self.unique_signatures,
            self.pipeline_seconds,
            self.pipeline_signatures_per_second
        );
        println!(
            "raw libsecp256k1 on {} threads: {:.0} verifications/s (pre-parsed keys), {:.0}/s (parsing every key)",
            self.shards, self.raw_verify_per_second, self.raw_verify_with_key_parse_per_second
        );
        println!(
            "ratio pipeline / raw verify: {:.3} (vs parse+verify: {:.3})",
            self.unique_ratio, self.unique_ratio_vs_parse_and_verify
        );
        println!(
            "duplicates: {} discarded at {:.0} ns/message (target <= 150; CPU time, best pass)",
            self.duplicate_messages, self.duplicate_ns_per_message
        );
        println!(
            "duplicates over BOLT 8: {} per pass read, decrypted and discarded at {:.0} ns/message (target <= 500), of which decryption {:.0} ns",
            self.bolt8_duplicate_messages,
            self.bolt8_duplicate_ns_per_message,
            self.bolt8_decrypt_ns_per_message
        );
        println!("peak RSS: {:.1} MB", self.peak_rss_bytes as f64 / 1e6);
    }
}
