//! Micro-benchmarks of the per-message hot paths: the dedup summary, full parses, the duplicate
//! path through `Sieve::offer`, the rejected-cache fingerprint, secp256k1 verification with a
//! cached versus a freshly parsed key, a BOLT 8 encrypt + decrypt round, and a duplicate arriving
//! over BOLT 8 (frame decrypted, then discarded by the sieve).
//!
//! Run: `cargo bench --bench hot_paths` (CI only builds it: `cargo bench --no-run`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use gossip_sieve::config::PipelineConfig;
use gossip_sieve::graph::Graph;
use gossip_sieve::metrics::Metrics;
use gossip_sieve::pipeline::flight::RejectedCache;
use gossip_sieve::pipeline::{Outcome, Pipeline};
use gossip_sieve::sim::corpus::{generate, CorpusSpec};
use gossip_sieve::transport::cipher::{TransportKeys, HEADER_LEN};
use gossip_sieve::transport::handshake::{InitiatorStart, ResponderStart};
use gossip_sieve::transport::Bolt8Reader;
use gossip_sieve::wire::gossip::{signed_digest, summarize, GossipMessage, SINGLE_SIG_SIGNED_FROM};
use gossip_sieve::wire::GossipKind;
use secp256k1::ecdsa::Signature;
use secp256k1::{Message, PublicKey, SecretKey, SECP256K1};

/// A small signed graph (every message valid), grouped by kind.
fn corpus() -> Vec<Vec<u8>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0);
    let spec = CorpusSpec {
        nodes: 300,
        channels: 1000,
        invalid_rate: 0.0,
        ..CorpusSpec::mainnet(7, now)
    };
    let mut out = Vec::new();
    generate(&spec, |msg| out.push(msg));
    out
}

fn first_of(corpus: &[Vec<u8>], kind: GossipKind) -> Vec<u8> {
    corpus
        .iter()
        .find(|m| summarize(m).map(|s| s.kind()) == Ok(kind))
        .cloned()
        .unwrap_or_default()
}

fn parsing(c: &mut Criterion, corpus: &[Vec<u8>]) {
    let mut group = c.benchmark_group("wire");
    for kind in GossipKind::ALL {
        let msg = first_of(corpus, kind);
        group.bench_function(format!("summarize/{}", kind.as_str()), |b| {
            b.iter(|| summarize(black_box(&msg)))
        });
        group.bench_function(format!("parse/{}", kind.as_str()), |b| {
            b.iter(|| GossipMessage::parse(black_box(&msg)))
        });
    }
    let cache = RejectedCache::new(1024);
    let update = first_of(corpus, GossipKind::ChannelUpdate);
    group.bench_function("rejected_cache_fingerprint/channel_update", |b| {
        b.iter(|| cache.fingerprint(black_box(&update)))
    });
    group.finish();
}

fn duplicates(c: &mut Criterion, corpus: &[Vec<u8>]) {
    let system = actix::System::new();
    let metrics = Arc::new(Metrics::new(2).expect("metrics"));
    let config = PipelineConfig {
        shards: 2,
        // Replay-like: the generated corpus is old gossip and comes in one burst.
        max_age: None,
        update_rate_per_minute: 0,
        ..PipelineConfig::default()
    };
    let pipeline = system.block_on(async {
        let pipeline = Pipeline::start(config, Arc::new(Graph::new()), metrics.clone());
        for msg in corpus {
            pipeline.sieve.offer(msg.clone()).await;
        }
        pipeline.drained().await;
        pipeline
    });
    let sieve = pipeline.sieve.clone();
    let probe = system.block_on(sieve.offer(corpus.first().cloned().unwrap_or_default()));
    assert_eq!(
        probe,
        Outcome::Dropped(gossip_sieve::pipeline::DropReason::Duplicate)
    );
    let mut group = c.benchmark_group("sieve");
    group.throughput(Throughput::Elements(1));
    group.bench_function("offer/duplicate_in_graph", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                // Copies are made outside the timed region: offer takes ownership.
                let batch: Vec<Vec<u8>> = corpus
                    .iter()
                    .cycle()
                    .take(usize::try_from((iters - done).min(4096)).unwrap_or(4096))
                    .cloned()
                    .collect();
                let n = batch.len() as u64;
                elapsed += system.block_on(async {
                    let start = Instant::now();
                    for msg in batch {
                        black_box(sieve.offer(msg).await);
                    }
                    start.elapsed()
                });
                done += n;
            }
            elapsed
        })
    });
    group.finish();

    // The same duplicates arriving over BOLT 8: the socket reader's code decrypts each frame
    // (from memory; encryption happens outside the timed region), then the sieve discards it.
    let mut group = c.benchmark_group("bolt8");
    group.throughput(Throughput::Elements(1));
    let (initiator, responder) = handshake();
    let (mut tx, mut rx) = (initiator.sending, Some(responder.receiving));
    group.bench_function("duplicate_discard", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let n = (iters - done).min(4096);
                let mut wire = Vec::new();
                for msg in corpus
                    .iter()
                    .cycle()
                    .take(usize::try_from(n).unwrap_or(4096))
                {
                    wire.extend(tx.encrypt_message(msg).expect("encrypt"));
                }
                let cipher = rx.take().expect("receiving cipher");
                let (time, cipher) = system.block_on(async {
                    let start = Instant::now();
                    let mut reader = Bolt8Reader::new(wire.as_slice(), cipher);
                    while let Some(msg) = reader.read_message().await.expect("frame") {
                        black_box(sieve.offer(msg).await);
                    }
                    (start.elapsed(), reader.into_cipher())
                });
                rx = Some(cipher);
                elapsed += time;
                done += n;
            }
            elapsed
        })
    });
    group.finish();
    pipeline.stop();
}

fn signatures(c: &mut Criterion, corpus: &[Vec<u8>]) {
    let msg = first_of(corpus, GossipKind::NodeAnnouncement);
    let Ok(GossipMessage::NodeAnnouncement(na)) = GossipMessage::parse(&msg) else {
        panic!("corpus has a node_announcement");
    };
    let digest = signed_digest(&msg, SINGLE_SIG_SIGNED_FROM).expect("digest");
    let message = Message::from_digest(digest);
    let sig = Signature::from_compact(&na.signature).expect("signature");
    let key = PublicKey::from_slice(&na.node_id).expect("key");
    assert!(SECP256K1.verify_ecdsa(&message, &sig, &key).is_ok());
    let mut group = c.benchmark_group("secp256k1");
    group.bench_function("verify/cached_key", |b| {
        b.iter(|| SECP256K1.verify_ecdsa(black_box(&message), black_box(&sig), black_box(&key)))
    });
    group.bench_function("verify/parsed_key", |b| {
        b.iter(|| {
            let key = PublicKey::from_slice(black_box(&na.node_id)).expect("key");
            SECP256K1.verify_ecdsa(black_box(&message), black_box(&sig), &key)
        })
    });
    group.bench_function("parse_key", |b| {
        b.iter(|| PublicKey::from_slice(black_box(&na.node_id)))
    });
    group.finish();
}

/// Both ends of a completed BOLT 8 handshake: (initiator, responder).
fn handshake() -> (TransportKeys, TransportKeys) {
    let key = |b: u8| SecretKey::from_slice(&[b; 32]).expect("valid scalar");
    let responder_key = key(0x21);
    let responder_id = PublicKey::from_secret_key(SECP256K1, &responder_key);
    let (one, waiting) =
        InitiatorStart::with_ephemeral(&key(0x11), &responder_id, key(0x12)).act_one();
    let (two, waiting_three) = ResponderStart::with_ephemeral(&responder_key, key(0x22))
        .process_act_one(&one)
        .expect("act one");
    let (three, initiator) = waiting.process_act_two(&two).expect("act two");
    let (_, responder) = waiting_three.process_act_three(&three).expect("act three");
    (initiator, responder)
}

fn bolt8(c: &mut Criterion) {
    let (initiator, responder) = handshake();
    let mut tx = initiator.sending;
    let mut rx = responder.receiving;
    let msg = vec![0x5a; 300];
    let mut group = c.benchmark_group("bolt8");
    group.throughput(Throughput::Bytes(300));
    group.bench_function("encrypt_decrypt/300B", |b| {
        b.iter(|| {
            let frame = tx.encrypt_message(black_box(&msg)).expect("encrypt");
            let (header, body) = frame.split_at(HEADER_LEN);
            let len = rx.decrypt_header(header).expect("header");
            debug_assert_eq!(usize::from(len), msg.len());
            rx.decrypt_body(body).expect("body")
        })
    });
    // The AEAD alone (same implementation, same sizes: an 18-byte header and a 316-byte body),
    // to separate the cipher's cost from the framing around it.
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
    let aead = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[7u8; 32]).expect("key"));
    let nonce = || Nonce::assume_unique_for_key([0u8; 12]);
    group.bench_function("raw_aead_seal_open/300B", |b| {
        b.iter(|| {
            let mut header = 300u16.to_be_bytes().to_vec();
            let mut body = black_box(&msg).clone();
            for buf in [&mut header, &mut body] {
                aead.seal_in_place_append_tag(nonce(), Aad::empty(), buf)
                    .expect("seal");
                let len = aead
                    .open_in_place(nonce(), Aad::empty(), buf)
                    .expect("open")
                    .len();
                buf.truncate(len);
            }
            body
        })
    });
    group.finish();
}

fn all(c: &mut Criterion) {
    let corpus = corpus();
    parsing(c, &corpus);
    signatures(c, &corpus);
    bolt8(c);
    duplicates(c, &corpus);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = all
}
criterion_main!(benches);
