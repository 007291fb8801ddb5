//! `bench`: whole-pipeline measurements printed as ratios taken in the same run, on the same
//! messages and the same cores, so the numbers mean something on any machine:
//!
//! 1. unique messages through the pipeline ÷ raw libsecp256k1 capacity on as many threads as
//!    shards. The target (≥ 0.95) refers to baseline A, what any verifier must do for these
//!    signatures: sha256d of the signed bytes (once per message), then parse the compressed key
//!    and the signature and verify, per signature. Baseline B (verify alone, everything parsed and hashed before timing) is printed
//!    beside it as the stricter bound: the pipeline cannot reach it, since 2 of every
//!    channel_announcement's 4 keys (bitcoin keys) appear once and must be parsed once (~5 µs,
//!    a seventh of a verify). Each baseline runs before and after the pipeline and the mean is
//!    used, so a load change on a shared machine shows up as a before/after spread instead of
//!    skewing the ratio; the same ratios in signatures per CPU-second are printed too;
//! 2. cost per duplicate discarded once the graph is known, from a frame in memory (target
//!    ≤ 150 ns) and arriving over BOLT 8, decryption included (target ≤ 500 ns);
//! 3. peak RSS of the whole run.

use std::collections::HashMap;
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
    pub pipeline_signatures_per_cpu_second: f64,
    /// Process CPU time during the pipeline run ÷ its wall time: how many cores it kept busy.
    pub pipeline_cores_busy: f64,
    /// Baseline A (sha256d + parse key + parse signature + verify), before and after.
    pub baseline_a: [RawRate; 2],
    /// Baseline B (verify alone), before and after.
    pub baseline_b: [RawRate; 2],
    /// Baseline C (sha256d + each distinct key parsed once + verify), before and after.
    pub baseline_c: [RawRate; 2],
    /// Pipeline signature rate ÷ mean of baseline A (the target: ≥ 0.95).
    pub unique_ratio: f64,
    /// Pipeline signature rate ÷ mean of baseline B.
    pub unique_ratio_vs_verify_only: f64,
    /// Pipeline signature rate ÷ mean of baseline C.
    pub unique_ratio_vs_cached_keys: f64,
    /// The two ratios in signatures per CPU-second: insensitive to other load on the machine,
    /// blind to idle cores.
    pub unique_cpu_ratio: f64,
    pub unique_cpu_ratio_vs_verify_only: f64,
    pub unique_cpu_ratio_vs_cached_keys: f64,
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

/// One signature as a verifier receives it: the message bytes (shared by a
/// channel_announcement's four signatures), where the signed part starts, the compact signature
/// and the key as on the wire.
struct Prepared {
    msg: Arc<[u8]>,
    signed_from: usize,
    signature: [u8; 64],
    key_bytes: [u8; 33],
}

fn prepare(corpus: &Path, limit: usize) -> anyhow::Result<Vec<Prepared>> {
    let mut out = Vec::with_capacity(limit);
    let mut node_keys = std::collections::HashMap::new();
    for frame in open_frames(corpus)? {
        if out.len() >= limit {
            break;
        }
        let msg: Arc<[u8]> = Arc::from(frame?);
        let mut push = |signed_from, signature, key_bytes| {
            out.push(Prepared {
                msg: msg.clone(),
                signed_from,
                signature,
                key_bytes,
            })
        };
        match GossipMessage::parse(&msg) {
            Ok(GossipMessage::ChannelAnnouncement(ann)) => {
                remember(&mut node_keys, &ann);
                for (sig, key) in [
                    (ann.node_signature_1, ann.node_id_1),
                    (ann.node_signature_2, ann.node_id_2),
                    (ann.bitcoin_signature_1, ann.bitcoin_key_1),
                    (ann.bitcoin_signature_2, ann.bitcoin_key_2),
                ] {
                    push(CHANNEL_ANNOUNCEMENT_SIGNED_FROM, sig, key);
                }
            }
            Ok(GossipMessage::ChannelUpdate(update)) => {
                if let Some((n1, n2)) = node_keys.get(&update.short_channel_id) {
                    let key = if update.channel_flags & 1 == 0 {
                        *n1
                    } else {
                        *n2
                    };
                    push(SINGLE_SIG_SIGNED_FROM, update.signature, key);
                }
            }
            Ok(GossipMessage::NodeAnnouncement(ann)) => {
                push(SINGLE_SIG_SIGNED_FROM, ann.signature, ann.node_id);
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Baseline {
    /// A: sha256d once per message, then parse key + parse signature + verify per signature.
    DigestParseVerify,
    /// B: verify alone; digest, key and signature prepared before timing.
    VerifyOnly,
    /// C: like A, but each distinct key is parsed once per thread and looked up after that,
    /// as the pipeline's key cache does: the least work a bare loop can do on these messages.
    CachedKeys,
}

/// Signatures per wall-clock second and per CPU-second of `threads` threads checking
/// `prepared` the way `baseline` says.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct RawRate {
    pub per_second: f64,
    pub per_cpu_second: f64,
}

fn raw_rate(prepared: &[Prepared], threads: usize, baseline: Baseline) -> RawRate {
    let secp = Secp256k1::verification_only();
    let ready: Vec<Option<(Message, Signature, PublicKey)>> = match baseline {
        Baseline::DigestParseVerify | Baseline::CachedKeys => Vec::new(),
        Baseline::VerifyOnly => prepared.iter().map(check_inputs).collect(),
    };
    let chunk = prepared.len().div_ceil(threads.max(1)).max(1);
    let cpu_before = process_cpu_time();
    let started = Instant::now();
    let valid: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = prepared
            .chunks(chunk)
            .enumerate()
            .map(|(i, items)| {
                let (secp, ready) = (&secp, &ready);
                scope.spawn(move || {
                    let verify = |(digest, sig, key): (Message, Signature, PublicKey)| {
                        secp.verify_ecdsa(&digest, &sig, &key).is_ok()
                    };
                    // A channel_announcement's four signatures share one digest: hash it once,
                    // as the pipeline does.
                    let mut last: Option<(*const u8, Message)> = None;
                    let mut digest_of = |p: &Prepared| {
                        let msg = p.msg.as_ptr();
                        let digest = match last {
                            Some((m, d)) if m == msg => Some(d),
                            _ => signed_digest(&p.msg, p.signed_from).map(Message::from_digest),
                        };
                        last = digest.map(|d| (msg, d));
                        digest
                    };
                    match baseline {
                        Baseline::DigestParseVerify => items
                            .iter()
                            .filter(|p| {
                                digest_of(p)
                                    .and_then(|d| parse_key_and_signature(p, d))
                                    .is_some_and(verify)
                            })
                            .count(),
                        Baseline::CachedKeys => {
                            let mut keys: HashMap<[u8; 33], Option<PublicKey>> =
                                HashMap::with_capacity(items.len());
                            items
                                .iter()
                                .filter(|p| {
                                    let key = *keys.entry(p.key_bytes).or_insert_with(|| {
                                        PublicKey::from_slice(&p.key_bytes).ok()
                                    });
                                    let sig = Signature::from_compact(&p.signature).ok();
                                    match (digest_of(p), sig, key) {
                                        (Some(d), Some(sig), Some(key)) => verify((d, sig, key)),
                                        _ => false,
                                    }
                                })
                                .count()
                        }
                        Baseline::VerifyOnly => ready
                            .iter()
                            .skip(i * chunk)
                            .take(items.len())
                            .filter(|r| r.is_some_and(verify))
                            .count(),
                    }
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).sum()
    });
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = process_cpu_time().saturating_sub(cpu_before).as_secs_f64();
    if valid == 0 || seconds == 0.0 || cpu_seconds == 0.0 {
        return RawRate::default();
    }
    RawRate {
        per_second: prepared.len() as f64 / seconds,
        per_cpu_second: prepared.len() as f64 / cpu_seconds,
    }
}

/// What libsecp256k1 needs to check one signature, from the wire bytes.
fn check_inputs(p: &Prepared) -> Option<(Message, Signature, PublicKey)> {
    let digest = Message::from_digest(signed_digest(&p.msg, p.signed_from)?);
    parse_key_and_signature(p, digest)
}

fn parse_key_and_signature(
    p: &Prepared,
    digest: Message,
) -> Option<(Message, Signature, PublicKey)> {
    Some((
        digest,
        Signature::from_compact(&p.signature).ok()?,
        PublicKey::from_slice(&p.key_bytes).ok()?,
    ))
}

/// The baselines [A, B, C], each measured on the first `sample` signatures of the corpus. Run
/// once before the pipeline (A, B, C) and once after (C, B, A), so each baseline's mean is
/// centred on the pipeline run.
fn baselines(
    corpus: &Path,
    sample: usize,
    threads: usize,
    reversed: bool,
) -> anyhow::Result<[RawRate; 3]> {
    let prepared = prepare(corpus, sample)?;
    let run = |baseline| raw_rate(&prepared, threads, baseline);
    Ok(if reversed {
        let c = run(Baseline::CachedKeys);
        let b = run(Baseline::VerifyOnly);
        [run(Baseline::DigestParseVerify), b, c]
    } else {
        let a = run(Baseline::DigestParseVerify);
        let b = run(Baseline::VerifyOnly);
        [a, b, run(Baseline::CachedKeys)]
    })
}

/// CPU time (user + system) of the whole process, every thread.
fn process_cpu_time() -> Duration {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
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
    cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn cpu_clock(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; both clock ids are constants Linux supports.
    unsafe { libc::clock_gettime(clock, &mut ts) };
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
    let peer = sieve.metrics().propagation.peer(&[0; 33]);
    let (mut messages, mut decrypt_only, mut with_sieve) = (0, Duration::MAX, Duration::MAX);
    for _ in 0..passes.max(1) {
        let (wire, receiving) = encrypted_corpus(corpus)?;
        let started = thread_cpu_time();
        let mut reader = Bolt8Reader::new(wire.as_slice(), receiving);
        while let Some(msg) = reader.read_frame().await? {
            std::hint::black_box(msg);
        }
        decrypt_only = decrypt_only.min(thread_cpu_time().saturating_sub(started));

        let (wire, receiving) = encrypted_corpus(corpus)?;
        let started = thread_cpu_time();
        let mut reader = Bolt8Reader::new(wire.as_slice(), receiving);
        messages = 0;
        while let Some(msg) = reader.read_frame().await? {
            sieve.offer_from(msg, None, Some(&peer)).await;
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
    let [a_before, b_before, c_before] = baselines(corpus, options.raw_sample, shards, false)?;
    let system = actix::System::new();
    let (
        unique_messages,
        unique_signatures,
        (pipeline_seconds, pipeline_cpu_seconds),
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
        let cpu_before = process_cpu_time();
        let started = Instant::now();
        feed(pipeline.sieve.clone(), open_frames(corpus)?).await;
        pipeline.drained().await;
        let pipeline_seconds = started.elapsed().as_secs_f64();
        let pipeline_cpu_seconds = process_cpu_time().saturating_sub(cpu_before).as_secs_f64();
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
        // Offered as a peer's frames are, so the per-peer propagation counters are paid too.
        let peer = metrics.propagation.peer(&[0; 33]);
        let mut dup_best = Duration::MAX;
        for _ in 0..options.duplicate_copies.max(1) {
            let started = thread_cpu_time();
            for frame in open_frames(corpus)? {
                pipeline.sieve.offer_from(&frame?, None, Some(&peer)).await;
            }
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
            (pipeline_seconds, pipeline_cpu_seconds),
            received_after - received_before,
            dup_best,
            bolt8,
        ))
    })?;
    actix::System::current().stop();
    drop(system);

    let [a_after, b_after, c_after] = baselines(corpus, options.raw_sample, shards, true)?;
    let mean = |x: [RawRate; 2], f: fn(&RawRate) -> f64| (f(&x[0]) + f(&x[1])) / 2.0;
    let (a, b, c) = (
        [a_before, a_after],
        [b_before, b_after],
        [c_before, c_after],
    );
    let wall = |r: &RawRate| r.per_second;
    let cpu = |r: &RawRate| r.per_cpu_second;
    let pipeline_rate = unique_signatures as f64 / pipeline_seconds.max(1e-9);
    let pipeline_cpu_rate = unique_signatures as f64 / pipeline_cpu_seconds.max(1e-9);
    Ok(BenchReport {
        shards,
        unique_messages,
        unique_signatures,
        pipeline_seconds,
        pipeline_signatures_per_second: pipeline_rate,
        pipeline_signatures_per_cpu_second: pipeline_cpu_rate,
        pipeline_cores_busy: pipeline_cpu_seconds / pipeline_seconds.max(1e-9),
        baseline_a: a,
        baseline_b: b,
        baseline_c: c,
        unique_ratio: pipeline_rate / mean(a, wall).max(1e-9),
        unique_ratio_vs_verify_only: pipeline_rate / mean(b, wall).max(1e-9),
        unique_ratio_vs_cached_keys: pipeline_rate / mean(c, wall).max(1e-9),
        unique_cpu_ratio: pipeline_cpu_rate / mean(a, cpu).max(1e-9),
        unique_cpu_ratio_vs_verify_only: pipeline_cpu_rate / mean(b, cpu).max(1e-9),
        unique_cpu_ratio_vs_cached_keys: pipeline_cpu_rate / mean(c, cpu).max(1e-9),
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
        let rate = |r: [RawRate; 2]| {
            let busy = |r: &RawRate| r.per_second / r.per_cpu_second.max(1e-9);
            format!(
                "{:.0}/s before ({:.2} cores busy), {:.0}/s after ({:.2})",
                r[0].per_second,
                busy(&r[0]),
                r[1].per_second,
                busy(&r[1])
            )
        };
        println!("shards (cores used): {}", self.shards);
        println!(
            "unique: {} messages, {} signatures in {:.2} s = {:.0} verifications/s, {:.2} cores busy",
            self.unique_messages,
            self.unique_signatures,
            self.pipeline_seconds,
            self.pipeline_signatures_per_second,
            self.pipeline_cores_busy
        );
        println!(
            "baseline A, libsecp256k1 on {} threads doing what these signatures need (sha256d per message; parse key + parse signature + verify per signature): {}",
            self.shards,
            rate(self.baseline_a)
        );
        println!(
            "baseline B, verify alone (digest, key, signature prepared untimed): {}",
            rate(self.baseline_b)
        );
        println!(
            "baseline C, as A but each distinct key parsed once (a key cache, as the pipeline has): {}",
            rate(self.baseline_c)
        );
        println!(
            "ratio pipeline / A: {:.3} (target >= 0.95)   pipeline / C: {:.3}   pipeline / B: {:.3}",
            self.unique_ratio, self.unique_ratio_vs_cached_keys, self.unique_ratio_vs_verify_only
        );
        let spread = |r: [RawRate; 2]| {
            (r[0].per_second - r[1].per_second).abs()
                / r[0].per_second.max(r[1].per_second).max(1e-9)
        };
        if spread(self.baseline_a)
            .max(spread(self.baseline_b))
            .max(spread(self.baseline_c))
            > 0.05
        {
            println!(
                "  (the machine's load changed during the run: a baseline moved by more than 5% between before and after, so trust the CPU-second ratios below)"
            );
        }
        println!(
            "same per CPU-second (ignores other load, blind to idle cores): / A {:.3}   / C {:.3}   / B {:.3}",
            self.unique_cpu_ratio,
            self.unique_cpu_ratio_vs_cached_keys,
            self.unique_cpu_ratio_vs_verify_only
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
