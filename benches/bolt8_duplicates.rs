//! Duplicates through BOLT 8 (issue 12 "Numbers"): the same duplicate gossip frames, in one
//! run, through
//!
//! - **the AEAD floor**: two ChaCha20-Poly1305 opens per frame (the 18-byte length header and
//!   the body, each with its own nonce, as BOLT 8 requires), with `ring` (the cipher our
//!   transport uses), in place, nothing else. The floor's frames carry the same messages under
//!   one key without BOLT 8's key rotation every 500 messages (a rotation is an HKDF and a key
//!   set-up, a few ns per message spread out), so the floor is if anything a little low;
//! - **ours**: the real session (`run_session`: `Bolt8Reader` decrypting in place and the
//!   frames one read brought handled in a batch, the message dispatch, the inbound byte
//!   bucket, the echo window, `Sieve::sift_frame` discarding the duplicate) over in-memory
//!   halves: the peer's encrypted stream is read from a buffer, what we write goes to a sink;
//! - **LDK 0.2**: its `PeerManager` (with a `P2PGossipSync` holding the same graph) fed the same
//!   messages as BOLT 8 frames through `read_event` from memory, in 64 KiB reads as a socket
//!   driver hands them.
//!
//! Both graphs are loaded with the corpus first, so every timed frame is a duplicate; each
//! side's counters are checked afterwards to prove it. Timing is process CPU time (other
//! processes on a shared machine do not inflate it), best of `--passes` interleaved passes.
//!
//! `cargo bench --bench bolt8_duplicates -- [--nodes N --channels M --passes P]`
//! (default: a quarter of mainnet, 4,250 nodes / 13,500 channels, 5 passes; `--mainnet` for
//! 17,000 / 54,000). Targets: ours ÷ floor ≤ 1.3, LDK ÷ ours ≥ 2.

#[path = "support/args.rs"]
mod flags;
#[path = "../tests/ldk/mod.rs"]
mod ldk;

use std::hash::{Hash, Hasher};
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gossip_sieve::config::PipelineConfig;
use gossip_sieve::graph::Graph;
use gossip_sieve::metrics::Metrics;
use gossip_sieve::peer::identity::NodeIdentity;
use gossip_sieve::peer::score::{ScoreBoard, ScoreConfig};
use gossip_sieve::peer::serve::{ServeConfig, Serving};
use gossip_sieve::peer::session::{run_session, PeerContext, SessionConfig};
use gossip_sieve::pipeline::Pipeline;
use gossip_sieve::sim::corpus::{self, BITCOIN_MAINNET_CHAIN_HASH};
use gossip_sieve::transport::cipher::CipherDirection;
use gossip_sieve::transport::handshake::{InitiatorStart, ResponderStart};
use gossip_sieve::transport::{Bolt8Reader, Bolt8Writer};
use gossip_sieve::wire::bolt1::Init;
use gossip_sieve::wire::GossipKind;
use lightning::ln::peer_handler::SocketDescriptor;
use lightning::sign::{NodeSigner, Recipient};
use parking_lot::Mutex;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};

const MAC_LEN: usize = 16;
const HEADER_LEN: usize = 2 + MAC_LEN;
/// What a socket driver hands `read_event` at a time (lightning-net-tokio reads 64 KiB).
const LDK_READ: usize = 64 << 10;

struct Args {
    nodes: usize,
    channels: usize,
    passes: usize,
    /// `--only ours|floor|ldk|session`: time one side alone (to profile it with `perf`;
    /// `session` is ours without its parts).
    only: Option<String>,
}

fn args() -> Args {
    let (nodes, channels) = if flags::has("--mainnet") {
        (corpus::MAINNET_NODES, corpus::MAINNET_CHANNELS)
    } else {
        (corpus::MAINNET_NODES / 4, corpus::MAINNET_CHANNELS / 4)
    };
    Args {
        nodes: flags::value("--nodes").unwrap_or(nodes),
        channels: flags::value("--channels").unwrap_or(channels),
        passes: flags::value("--passes").unwrap_or(5usize).max(1),
        only: flags::value("--only"),
    }
}

/// CPU time of this process, every thread.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux supports.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let started = cpu_time();
    let out = f();
    (cpu_time().saturating_sub(started), out)
}

fn ns_per(time: Duration, n: usize) -> f64 {
    time.as_secs_f64() * 1e9 / n.max(1) as f64
}

// ---------------------------------------------------------------- the AEAD floor

fn nonce(n: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&n.to_le_bytes());
    Nonce::assume_unique_for_key(bytes)
}

/// The messages as BOLT 8 frames under one fixed key (nonces 0, 1, 2, ...).
fn floor_frames(key: &LessSafeKey, msgs: &[Vec<u8>]) -> Vec<u8> {
    let mut wire = Vec::new();
    let mut n = 0u64;
    for msg in msgs {
        let mut header = u16::try_from(msg.len())
            .expect("short")
            .to_be_bytes()
            .to_vec();
        key.seal_in_place_append_tag(nonce(n), Aad::empty(), &mut header)
            .expect("seal");
        let mut body = msg.clone();
        key.seal_in_place_append_tag(nonce(n + 1), Aad::empty(), &mut body)
            .expect("seal");
        n += 2;
        wire.extend(header);
        wire.extend(body);
    }
    wire
}

/// Opens every frame of `wire` in place: two AEAD opens per frame, nothing else.
fn floor_pass(key: &LessSafeKey, wire: &mut [u8]) -> usize {
    let (mut at, mut n, mut frames) = (0usize, 0u64, 0usize);
    while at < wire.len() {
        let header = &mut wire[at..at + HEADER_LEN];
        let len = match key.open_in_place(nonce(n), Aad::empty(), header) {
            Ok([hi, lo]) => usize::from(u16::from_be_bytes([*hi, *lo])),
            _ => panic!("floor header did not open"),
        };
        at += HEADER_LEN;
        let body = &mut wire[at..at + len + MAC_LEN];
        let plain = key
            .open_in_place(nonce(n + 1), Aad::empty(), body)
            .expect("floor body opens");
        std::hint::black_box(plain);
        at += len + MAC_LEN;
        n += 2;
        frames += 1;
    }
    frames
}

// ---------------------------------------------------------------- ours

/// A completed BOLT 8 handshake with `responder`: (the remote's sending cipher, our keys as
/// the session gets them, the remote's node id).
fn handshake_with(
    responder: &NodeIdentity,
) -> (
    CipherDirection,
    gossip_sieve::transport::cipher::TransportKeys,
    secp256k1::PublicKey,
) {
    let remote = NodeIdentity::random();
    let (act_one, initiator) = InitiatorStart::new(remote.secret(), &responder.node_id()).act_one();
    let (act_two, awaiting) = ResponderStart::new(responder.secret())
        .process_act_one(&act_one)
        .expect("act one");
    let (act_three, remote_keys) = initiator.process_act_two(&act_two).expect("act two");
    let (remote_id, our_keys) = awaiting.process_act_three(&act_three).expect("act three");
    (remote_keys.sending, our_keys, remote_id)
}

/// One peer session that sends `init` then every message of `msgs`, all duplicates; returns
/// the CPU time of the whole session.
async fn ours_pass(ctx: &Arc<PeerContext>, msgs: &[Vec<u8>]) -> Duration {
    let (mut sending, our_keys, remote_id) = handshake_with(&ctx.identity);
    let mut wire = sending
        .encrypt_message(&Init::ours(BITCOIN_MAINNET_CHAIN_HASH).serialize())
        .expect("init");
    for msg in msgs {
        wire.extend(sending.encrypt_message(msg).expect("frame"));
    }
    let reader = Bolt8Reader::new(Cursor::new(wire), our_keys.receiving);
    let writer = Bolt8Writer::new(tokio::io::sink(), our_keys.sending);
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let started = cpu_time();
    let report = run_session(reader, writer, remote_id, ctx.clone(), shutdown).await;
    let spent = cpu_time().saturating_sub(started);
    assert_eq!(
        report.gossip_frames,
        msgs.len() as u64,
        "session ended early: {report:?}"
    );
    spent
}

/// The parts of [`ours_pass`] below the session, on the same kind of stream, each timed on
/// its own: [`Part::ALL`].
#[derive(Clone, Copy)]
enum Part {
    /// `Bolt8Reader::read_message`: framing, a copy of each message out of the read buffer.
    CopyOut,
    /// `read_message` + `Sieve::offer` (the message moved in) discarding it.
    CopyThenSieve,
    /// `Bolt8Reader::read_frame`: framing, decrypted in place, lent out (what the session uses).
    InPlace,
    /// `read_frame` + `Sieve::sift_frame` on the lent bytes (what the session uses).
    InPlaceThenSieve,
}

impl Part {
    const ALL: [Part; 4] = [
        Part::CopyOut,
        Part::CopyThenSieve,
        Part::InPlace,
        Part::InPlaceThenSieve,
    ];
}

/// CPU time of each [`Part`], in [`Part::ALL`] order.
async fn parts_pass(ctx: &Arc<PeerContext>, msgs: &[Vec<u8>]) -> [Duration; 4] {
    let mut times = [Duration::MAX; 4];
    for (part, time) in Part::ALL.iter().zip(times.iter_mut()) {
        let (mut sending, our_keys, _) = handshake_with(&ctx.identity);
        let mut wire = Vec::new();
        for msg in msgs {
            wire.extend(sending.encrypt_message(msg).expect("frame"));
        }
        let mut reader = Bolt8Reader::new(wire.as_slice(), our_keys.receiving);
        let started = cpu_time();
        match part {
            Part::CopyOut | Part::CopyThenSieve => {
                while let Some(msg) = reader.read_message().await.expect("frame") {
                    if matches!(part, Part::CopyOut) {
                        std::hint::black_box(msg);
                    } else {
                        ctx.sieve.offer(msg).await;
                    }
                }
            }
            Part::InPlace | Part::InPlaceThenSieve => {
                while let Some(msg) = reader.read_frame().await.expect("frame") {
                    if matches!(part, Part::InPlace) {
                        std::hint::black_box(msg);
                    } else {
                        std::hint::black_box(ctx.sieve.sift_frame(msg, None, None));
                    }
                }
            }
        }
        *time = cpu_time().saturating_sub(started);
    }
    times
}

fn accepted(metrics: &Metrics) -> u64 {
    GossipKind::ALL
        .iter()
        .map(|k| metrics.kind(*k).accepted.get())
        .sum()
}

// ---------------------------------------------------------------- LDK

/// An in-memory socket for LDK's `PeerManager`: what LDK sends is kept, never read back.
#[derive(Clone)]
struct MemorySocket {
    id: u64,
    sent: Arc<Mutex<Vec<u8>>>,
}

impl MemorySocket {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        MemorySocket {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            sent: Arc::default(),
        }
    }
}

impl PartialEq for MemorySocket {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for MemorySocket {}
impl Hash for MemorySocket {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state)
    }
}

impl SocketDescriptor for MemorySocket {
    fn send_data(&mut self, data: &[u8], _continue_read: bool) -> usize {
        self.sent.lock().extend_from_slice(data);
        data.len()
    }
    fn disconnect_socket(&mut self) {}
}

type MemoryPeerManager = ldk::LdkPeerManagerOver<MemorySocket>;

/// One inbound connection to LDK (handshake and `init` done untimed), then every message of
/// `msgs` as BOLT 8 frames through `read_event`; returns the CPU time of the reads.
fn ldk_pass(pm: &MemoryPeerManager, ldk_id: &secp256k1::PublicKey, msgs: &[Vec<u8>]) -> Duration {
    let remote = NodeIdentity::random();
    let mut socket = MemorySocket::new();
    pm.new_inbound_connection(socket.clone(), None)
        .expect("LDK takes the connection");
    let (act_one, initiator) = InitiatorStart::new(remote.secret(), ldk_id).act_one();
    pm.read_event(&mut socket, &act_one).expect("act one");
    // LDK queues its reply; the socket driver's process_events writes it.
    pm.process_events();
    let act_two: Vec<u8> = std::mem::take(&mut *socket.sent.lock());
    let (act_three, keys) = initiator.process_act_two(&act_two).expect("LDK's act two");
    let mut sending = keys.sending;
    let mut start = act_three.to_vec();
    start.extend(
        sending
            .encrypt_message(&Init::ours(BITCOIN_MAINNET_CHAIN_HASH).serialize())
            .expect("init"),
    );
    pm.read_event(&mut socket, &start)
        .expect("act three + init");
    pm.process_events();
    let remote_id =
        lightning::bitcoin::secp256k1::PublicKey::from_slice(&remote.node_id().serialize())
            .expect("node id");
    assert!(
        pm.peer_by_node_id(&remote_id).is_some(),
        "LDK did not complete the session"
    );
    let mut wire = Vec::new();
    for msg in msgs {
        wire.extend(sending.encrypt_message(msg).expect("frame"));
    }
    let (spent, ()) = timed(|| {
        for chunk in wire.chunks(LDK_READ) {
            pm.read_event(&mut socket, chunk)
                .expect("LDK keeps reading");
        }
        pm.process_events();
    });
    assert!(
        pm.peer_by_node_id(&remote_id).is_some(),
        "LDK disconnected the peer"
    );
    pm.socket_disconnected(&socket);
    spent
}

// ---------------------------------------------------------------- main

fn main() {
    if flags::listing_only() {
        return;
    }
    let a = args();
    let spec = ldk::spec(a.nodes, a.channels, 7);
    let mut msgs = Vec::new();
    corpus::generate(&spec, |m| msgs.push(m));
    let bytes: usize = msgs.iter().map(Vec::len).sum();
    eprintln!(
        "corpus: {} nodes, {} channels, {} messages, {:.0} bytes on average; loading LDK...",
        a.nodes,
        a.channels,
        msgs.len(),
        bytes as f64 / msgs.len().max(1) as f64
    );

    let (ldk_graph, sync, expected) = ldk::load_graph(&spec);
    let keys = ldk::new_keys();
    let ldk_id = secp256k1::PublicKey::from_slice(
        &keys
            .get_node_id(Recipient::Node)
            .expect("LDK node id")
            .serialize(),
    )
    .expect("node id");
    let pm: MemoryPeerManager = ldk::new_peer_manager(sync, keys);

    let floor_key = {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut key);
        LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).expect("key"))
    };
    let floor_wire = floor_frames(&floor_key, &msgs);

    let system = actix::System::new();
    let (ours_best, floor_best, ldk_best, parts_best, mut pass_ratios) = system.block_on(async {
        let metrics = Arc::new(Metrics::new(2).expect("metrics"));
        let pipeline = Pipeline::start(
            PipelineConfig::default(),
            Arc::new(Graph::new()),
            metrics.clone(),
        );
        for msg in &msgs {
            pipeline.sieve.offer(msg.clone()).await;
        }
        pipeline.drained().await;
        let unique = accepted(&metrics);
        assert_eq!(unique, msgs.len() as u64, "our graph took every message");
        let chain_hash = BITCOIN_MAINNET_CHAIN_HASH;
        let ctx = Arc::new(PeerContext {
            identity: Arc::new(NodeIdentity::random()),
            sieve: pipeline.sieve.clone(),
            metrics: metrics.clone(),
            // The default session, except that the inbound byte bucket is sized never to pause
            // (its accounting stays in the path): the frames come from memory at CPU speed.
            session: SessionConfig {
                inbound_bytes_per_sec: 1 << 40,
                inbound_burst: 1 << 40,
                ..SessionConfig::new(chain_hash)
            },
            scores: Mutex::new(ScoreBoard::in_memory(ScoreConfig::default())),
            serving: Serving::new(ServeConfig::default(), None, &metrics).expect("serving"),
        });
        let (mut ours, mut floor, mut theirs) = (Duration::MAX, Duration::MAX, Duration::MAX);
        let mut parts = [Duration::MAX; 4];
        // Ours ÷ floor within each pass: the two run back to back, so a pass's ratio is
        // spared most of the machine's drift between passes.
        let mut pass_ratios = Vec::new();
        let runs = |side: &str| a.only.as_deref().is_none_or(|only| only == side);
        for pass in 0..a.passes {
            let mut f = Duration::MAX;
            if runs("floor") {
                // Copied (and later freed) outside the timing, as the other sides build
                // their streams before the clock starts.
                let mut wire = floor_wire.clone();
                let frames;
                (f, frames) = timed(|| floor_pass(&floor_key, &mut wire));
                assert_eq!(frames, msgs.len());
            }
            let mut o = Duration::MAX;
            if runs("ours") || runs("session") {
                o = ours_pass(&ctx, &msgs).await;
            }
            if runs("ours") {
                let times = parts_pass(&ctx, &msgs).await;
                for (best, time) in parts.iter_mut().zip(times) {
                    *best = (*best).min(time);
                }
            }
            let mut l = Duration::MAX;
            if runs("ldk") {
                l = ldk_pass(&pm, &ldk_id, &msgs);
            }
            eprintln!(
                "pass {pass}: floor {:.0} ns, ours {:.0} ns, LDK {:.0} ns per duplicate",
                ns_per(f, msgs.len()),
                ns_per(o, msgs.len()),
                ns_per(l, msgs.len())
            );
            floor = floor.min(f);
            ours = ours.min(o);
            theirs = theirs.min(l);
            pass_ratios.push(o.as_secs_f64() / f.as_secs_f64().max(1e-12));
        }
        assert_eq!(
            accepted(&metrics),
            unique,
            "a timed frame was not a duplicate"
        );
        pipeline.stop();
        (ours, floor, theirs, parts, pass_ratios)
    });
    assert_eq!(
        ldk::ExpectedGraph::of(&ldk_graph),
        expected,
        "LDK's graph changed: a timed frame was not a duplicate"
    );

    let n = msgs.len();
    let (o, f, l) = (
        ns_per(ours_best, n),
        ns_per(floor_best, n),
        ns_per(ldk_best, n),
    );
    println!(
        "bolt8_duplicates nodes={} channels={} messages={n} passes={} (process CPU, best pass)",
        a.nodes, a.channels, a.passes
    );
    println!("  AEAD floor (2 ChaCha20-Poly1305 opens/frame): {f:.0} ns per duplicate");
    let [reader_copy, reader_copy_sieve, reader_in_place, reader_in_place_sieve] =
        parts_best.map(|time| ns_per(time, n));
    println!("  Bolt8Reader::read_message alone (copy out):   {reader_copy:.0} ns");
    println!("  read_message + Sieve::offer (discard):        {reader_copy_sieve:.0} ns");
    println!("  Bolt8Reader::read_frame alone (in place):     {reader_in_place:.0} ns");
    println!("  read_frame + Sieve::sift_frame (discard):     {reader_in_place_sieve:.0} ns");
    println!("  ours (run_session: decrypt, parse, sieve):     {o:.0} ns per duplicate");
    println!("  LDK PeerManager::read_event:                   {l:.0} ns per duplicate");
    println!(
        "  ratio ours / floor = {:.2} (target <= 1.3)",
        o / f.max(1e-9)
    );
    pass_ratios.sort_by(f64::total_cmp);
    if let Some(median) = pass_ratios.get(pass_ratios.len() / 2) {
        println!(
            "  ours / floor within each pass: lowest {:.2}, median {median:.2}",
            pass_ratios.first().copied().unwrap_or(f64::NAN)
        );
    }
    println!(
        "  (read_frame + Sieve::sift_frame) / floor = {:.2}, without the session around it",
        reader_in_place_sieve / f.max(1e-9)
    );
    println!(
        "  ratio LDK / ours   = {:.2} (target >= 2)",
        l / o.max(1e-9)
    );
}
