//! A real LDK gossip node for interop tests: LDK's `PeerManager` over `lightning-net-tokio`,
//! listening on loopback, with a `P2PGossipSync` whose graph is loaded from our generated corpus.
//! Its timers run as in a real LDK node (process_events often, timer_tick every 10 s), so it
//! sends its own pings and paces its gossip dump on our pongs.
//!
//! [`client`] is a minimal BOLT 8 peer built from our transport and wire modules; it proves the
//! node streams its whole graph before anything of ours relies on it.
#![allow(dead_code)]

pub mod client;
pub mod feed;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gossip_sieve::sim::corpus::{self, CorpusSpec};
use gossip_sieve::wire::GossipKind;
use lightning::bitcoin::secp256k1::PublicKey;
use lightning::ln::peer_handler::{
    ErroringMessageHandler, IgnoringMessageHandler, MessageHandler, PeerManager,
    SocketDescriptor as SocketDescriptorTrait,
};
use lightning::sign::{KeysManager, NodeSigner, Recipient};
use lightning::util::ser::{ReadableArgs, Writeable};
use lightning_net_tokio::SocketDescriptor;
use rand::RngCore;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use feed::ExpectedGraph;
use feed::{GossipSync, StderrLogger};

/// BOLT 1 suggests a ping roughly every 10 s; LDK's docs ask for `timer_tick_occurred` at that
/// rate, and a peer that misses a whole tick's pong is disconnected.
const TIMER_TICK: Duration = Duration::from_secs(10);
/// How often the background task flushes LDK's queued events (a real node waits on LDK's event
/// notifier; polling this often is as prompt on loopback).
const PROCESS_EVENTS_EVERY: Duration = Duration::from_millis(50);

pub type LdkPeerManager = LdkPeerManagerOver<SocketDescriptor>;

/// LDK's `PeerManager` with our gossip handler, over any socket descriptor `D`.
pub type LdkPeerManagerOver<D> = PeerManager<
    D,
    Arc<ErroringMessageHandler>,
    Arc<GossipSync>,
    Arc<IgnoringMessageHandler>,
    Arc<StderrLogger>,
    Arc<IgnoringMessageHandler>,
    Arc<KeysManager>,
    Arc<IgnoringMessageHandler>,
>;

/// A running LDK node; its tasks stop and its peers are dropped when this is dropped.
pub struct LdkNode {
    pub node_id: PublicKey,
    pub addr: SocketAddr,
    /// What LDK holds after loading, i.e. what it streams to a peer that asks for everything.
    pub expected: ExpectedGraph,
    pub peer_manager: Arc<LdkPeerManager>,
    pub graph: Arc<feed::Graph>,
    tasks: Vec<JoinHandle<()>>,
}

impl LdkNode {
    /// `<node_id hex>@<addr>`, the form `gossip-sieve run --peer` takes.
    pub fn peer_arg(&self) -> String {
        format!("{}@{}", self.node_id, self.addr)
    }

    /// Whether this LDK node lists `node` (a serialized public key) among its connected peers.
    pub fn is_connected_to(&self, node: &[u8; 33]) -> bool {
        self.peer_manager
            .list_peers()
            .iter()
            .any(|p| p.counterparty_node_id.serialize() == *node)
    }
}

impl Drop for LdkNode {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.peer_manager.disconnect_all_peers();
    }
}

pub fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

/// A valid-only mainnet corpus with timestamps in the last few days, so LDK (which rejects
/// channel_updates older than two weeks or over a day ahead) takes all of it.
pub fn spec(nodes: usize, channels: usize, seed: u64) -> CorpusSpec {
    CorpusSpec::valid(nodes, channels, seed)
}

/// Loads the corpus of `spec` into a fresh LDK graph through `P2PGossipSync`, failing if LDK
/// rejects any message (every one is valid, so a rejection is a bug on one side).
pub fn load_graph(spec: &CorpusSpec) -> (Arc<feed::Graph>, Arc<GossipSync>, ExpectedGraph) {
    let (graph, sync) = feed::new_gossip_sync(Arc::new(StderrLogger));
    let mut rejected = Vec::new();
    let stats = corpus::generate(spec, |msg| {
        let outcome = feed::decode(&msg).and_then(|m| {
            feed::apply(&sync, None, &m).map_err(|e| format!("LDK rejected: {}", e.err))
        });
        if let Err(e) = outcome {
            if rejected.len() < 5 {
                rejected.push(e);
            }
        }
    });
    assert!(
        rejected.is_empty(),
        "LDK rejected generated gossip: {rejected:?}"
    );
    let expected = ExpectedGraph::of(&graph);
    assert_eq!(
        expected.channels as u64,
        stats.valid_of(GossipKind::ChannelAnnouncement),
        "LDK graph channels"
    );
    assert_eq!(
        expected.channel_updates() as u64,
        stats.valid_of(GossipKind::ChannelUpdate),
        "LDK graph channel_updates"
    );
    assert_eq!(
        expected.node_announcements as u64,
        stats.valid_of(GossipKind::NodeAnnouncement),
        "LDK graph node_announcements"
    );
    (graph, sync, expected)
}

/// Starts an LDK node on 127.0.0.1:0 holding the generated graph of `spec`. Must be called
/// inside a multi-threaded tokio runtime (lightning-net-tokio spawns its socket tasks there).
pub async fn start(spec: CorpusSpec) -> LdkNode {
    let (graph, sync, expected) = tokio::task::spawn_blocking(move || load_graph(&spec))
        .await
        .expect("graph loading task");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind LDK");
    serve(graph, sync, expected, new_keys(), listener)
}

/// `n` LDK nodes, each with a node key of its own and its own copy of the graph of `spec`,
/// which is verified once and copied through LDK's own graph serialization.
pub async fn start_copies(spec: CorpusSpec, n: usize) -> Vec<LdkNode> {
    let (graph, _, expected) = tokio::task::spawn_blocking(move || load_graph(&spec))
        .await
        .expect("graph loading task");
    let bytes = graph.encode();
    let mut nodes = Vec::new();
    for _ in 0..n {
        let copy: feed::Graph =
            ReadableArgs::read(&mut &bytes[..], Arc::new(StderrLogger)).expect("graph copy");
        let copy = Arc::new(copy);
        let sync = Arc::new(lightning::routing::gossip::P2PGossipSync::new(
            Arc::clone(&copy),
            None,
            Arc::new(StderrLogger),
        ));
        assert_eq!(ExpectedGraph::of(&copy), expected, "graph copy");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind LDK");
        nodes.push(serve(copy, sync, expected.clone(), new_keys(), listener));
    }
    nodes
}

/// An LDK node with an empty graph (a node that syncs from its peers).
pub async fn start_empty() -> LdkNode {
    let (graph, sync) = feed::new_gossip_sync(Arc::new(StderrLogger));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind LDK");
    serve(graph, sync, ExpectedGraph::default(), new_keys(), listener)
}

/// A fresh LDK key manager; its node key is `get_node_secret_key()`.
pub fn new_keys() -> Arc<KeysManager> {
    let mut seed = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut seed);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    Arc::new(KeysManager::new(
        &seed,
        now.as_secs(),
        now.subsec_nanos(),
        true,
    ))
}

/// Starts an LDK node with the node key of `keys` on `listener`, its graph loaded with
/// `messages` (each must be accepted), e.g. node_announcements naming its own address.
pub fn start_with(messages: &[Vec<u8>], keys: Arc<KeysManager>, listener: TcpListener) -> LdkNode {
    let (graph, sync) = feed::new_gossip_sync(Arc::new(StderrLogger));
    for msg in messages {
        let decoded = feed::decode(msg).expect("decodes with LDK");
        if let Err(e) = feed::apply(&sync, None, &decoded) {
            panic!("LDK rejected a message: {}", e.err);
        }
    }
    let expected = ExpectedGraph::of(&graph);
    serve(graph, sync, expected, keys, listener)
}

/// LDK's `PeerManager` as a gossip-only node runs it, over any socket descriptor (benches drive
/// it from memory with one of their own).
pub fn new_peer_manager<D: SocketDescriptorTrait>(
    sync: Arc<GossipSync>,
    keys: Arc<KeysManager>,
) -> LdkPeerManagerOver<D> {
    let mut ephemeral = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut ephemeral);
    PeerManager::new(
        MessageHandler {
            chan_handler: Arc::new(ErroringMessageHandler::new()),
            route_handler: sync,
            onion_message_handler: Arc::new(IgnoringMessageHandler {}),
            custom_message_handler: Arc::new(IgnoringMessageHandler {}),
            send_only_message_handler: Arc::new(IgnoringMessageHandler {}),
        },
        unix_now(),
        &ephemeral,
        Arc::new(StderrLogger),
        keys,
    )
}

fn serve(
    graph: Arc<feed::Graph>,
    sync: Arc<GossipSync>,
    expected: ExpectedGraph,
    keys: Arc<KeysManager>,
    listener: TcpListener,
) -> LdkNode {
    let node_id = keys.get_node_id(Recipient::Node).expect("LDK node id");
    let peer_manager: Arc<LdkPeerManager> = Arc::new(new_peer_manager(sync, keys));
    let addr = listener.local_addr().expect("LDK addr");
    let accepting = {
        let pm = Arc::clone(&peer_manager);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // lightning-net-tokio takes a std stream; tokio's into_std leaves it non-blocking.
                let Ok(stream) = stream.into_std() else {
                    continue;
                };
                tokio::spawn(lightning_net_tokio::setup_inbound(Arc::clone(&pm), stream));
            }
        })
    };
    let timers = {
        let pm = Arc::clone(&peer_manager);
        tokio::spawn(async move {
            let mut events = tokio::time::interval(PROCESS_EVENTS_EVERY);
            let mut last_tick = tokio::time::Instant::now();
            loop {
                events.tick().await;
                pm.process_events();
                if last_tick.elapsed() >= TIMER_TICK {
                    last_tick = tokio::time::Instant::now();
                    pm.timer_tick_occurred();
                }
            }
        })
    };
    LdkNode {
        node_id,
        addr,
        expected,
        peer_manager,
        graph,
        tasks: vec![accepting, timers],
    }
}
