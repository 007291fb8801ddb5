//! The BOLT 1 session state machine fed arbitrary frames: a real `run_session` (with the real
//! sieve and one verifier shard behind it) over an in-memory BOLT 8 connection. The input is a
//! list of frames, each a big-endian u16 length and that many bytes; an odd first byte puts a
//! valid `init` in front so most inputs get past the init exchange.
//!
//! Besides "no panic": the session ends with exactly one known disconnect reason, the connected
//! gauge returns to zero, and every gossip message the session handed over is accounted for
//! (received = accepted + dropped + pending + in flight) once the pipeline has drained.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use actix::SystemRunner;
use gossip_sieve::config::PipelineConfig;
use gossip_sieve::graph::Graph;
use gossip_sieve::metrics::registry::DISCONNECT_REASONS;
use gossip_sieve::metrics::Metrics;
use gossip_sieve::peer::identity::NodeIdentity;
use gossip_sieve::peer::score::{ScoreBoard, ScoreConfig};
use gossip_sieve::peer::serve::{ServeConfig, Serving};
use gossip_sieve::peer::session::{run_session, PeerContext, SessionConfig};
use gossip_sieve::pipeline::{Pipeline, Sieve};
use gossip_sieve::transport::{handshake_initiator_split, handshake_responder_split};
use gossip_sieve::wire::bolt1::Init;
use libfuzzer_sys::fuzz_target;
use parking_lot::Mutex;
use secp256k1::SecretKey;

/// Frames per input: enough to reach every state, few enough to keep an input fast.
const MAX_FRAMES: usize = 32;
const TIMEOUT: Duration = Duration::from_secs(5);

struct Node {
    runner: SystemRunner,
    sieve: Arc<Sieve>,
    metrics: Arc<Metrics>,
    identity: Arc<NodeIdentity>,
    pipeline: Pipeline,
    serving: Arc<Serving>,
}

thread_local! {
    static NODE: Node = {
        let runner = actix::System::new();
        let metrics = Arc::new(Metrics::new(1).expect("metrics"));
        let pipeline = runner.block_on(async {
            Pipeline::start(
                PipelineConfig {
                    shards: 1,
                    ..PipelineConfig::default()
                },
                Arc::new(Graph::new()),
                metrics.clone(),
            )
        });
        let identity = Arc::new(NodeIdentity::from_secret(
            SecretKey::from_slice(&[0x42; 32]).expect("valid scalar"),
        ));
        let serving = Serving::new(ServeConfig::default(), None, &metrics).expect("serving");
        Node {
            runner,
            sieve: pipeline.sieve.clone(),
            metrics,
            identity,
            pipeline,
            serving,
        }
    };
}

fn frames(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() < MAX_FRAMES {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_be_bytes(*len)).min(tail.len());
        let (frame, tail) = tail.split_at(len);
        out.push(frame.to_vec());
        rest = tail;
    }
    out
}

/// Once the pipeline has drained, every received message is accepted, dropped or parked:
/// nothing is left in flight (the in-flight count is derived as received minus the rest, so
/// a lost message shows as positive and one counted twice as negative).
fn balanced(metrics: &Metrics) -> bool {
    metrics.flow().iter().all(|(_, flow)| flow.in_flight() == 0)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut frames = frames(rest);
    let session = SessionConfig {
        init_timeout: TIMEOUT,
        ..SessionConfig::new(gossip_sieve::config::Network::Bitcoin.chain_hash())
    };
    if flags & 1 == 1 {
        frames.insert(0, Init::ours(session.chain_hash).serialize());
    }
    NODE.with(|node| {
        let ctx = Arc::new(PeerContext {
            identity: node.identity.clone(),
            sieve: node.sieve.clone(),
            metrics: node.metrics.clone(),
            session,
            // Fresh per input, so a peer banned by one input does not hide the session from
            // the next.
            scores: Mutex::new(ScoreBoard::in_memory(ScoreConfig::default())),
            serving: node.serving.clone(),
        });
        let report = node.runner.block_on(async move {
            let (ours, theirs) = tokio::io::duplex(1 << 16);
            let (our_read, our_write) = tokio::io::split(ours);
            let (their_read, their_write) = tokio::io::split(theirs);
            let remote = NodeIdentity::from_secret(
                SecretKey::from_slice(&[0x17; 32]).expect("valid scalar"),
            );
            let node_id = ctx.identity.node_id();
            let peer = actix::spawn(async move {
                let (mut reader, mut writer) = handshake_initiator_split(
                    their_read,
                    their_write,
                    remote.secret(),
                    &node_id,
                    TIMEOUT,
                )
                .await
                .expect("handshake over a pipe");
                // Read everything the node says, so its writes never stall on a full pipe.
                let draining = actix::spawn(async move {
                    while let Ok(Some(_)) = reader.read_message().await {}
                });
                for frame in &frames {
                    if writer.write_message(frame).await.is_err() {
                        break;
                    }
                }
                let _ = writer.shutdown().await;
                let _ = draining.await;
            });
            let (remote_id, reader, writer) =
                handshake_responder_split(our_read, our_write, ctx.identity.secret(), TIMEOUT)
                    .await
                    .expect("handshake over a pipe");
            let (_stop, shutdown) = tokio::sync::watch::channel(false);
            let report = run_session(reader, writer, remote_id, ctx, shutdown).await;
            let _ = peer.await;
            report
        });
        assert!(
            DISCONNECT_REASONS.contains(&report.reason.label()),
            "unknown disconnect reason {}",
            report.reason.label()
        );
        node.runner.block_on(node.pipeline.drained());
        assert_eq!(node.metrics.peers_connected.get(), 0);
        assert!(balanced(&node.metrics), "gossip counts do not balance");
    });
});
