//! `run`: the node as a Lightning peer. Loads (or creates) the node key, serves `/metrics`,
//! opens the gossip_store in the data dir, starts the pipeline, accepts peers on `--listen` and dials every `--peer`, all feeding the
//! one sieve; on SIGINT/SIGTERM stops accepting and dialing, closes the sessions, drains the
//! pipeline and exits.
//!
//! Two runtimes (issue 11): everything that faces the network — the listener, handshakes,
//! sessions with their writers, streams and query answers, the dialer and the metrics server
//! with the hand-out routes — runs on a multi-threaded tokio runtime of `peer_threads` workers,
//! so one slow or hostile connection holds at most one thread. The actix `System` on the main
//! thread keeps the start-up, the chain watchers, snapshot timing and shutdown; the verifier
//! shards and the store are actix actors on arbiters of their own, reached from any thread
//! through their mailboxes (`Recipient::try_send` under the sieve's slots, `Addr::send`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::chain::ChainRuntime;
use crate::clock::unix_now;
use crate::config::{ChainSettings, PeerAddr, PipelineConfig};
use crate::graph::Graph;
use crate::handout::{Handout, HandoutRoutes};
use crate::metrics::{self, ExporterConfig, Health, Metrics};
use crate::peer::dialer::DialerConfig;
use crate::peer::discovery::{self, metrics::DiscoveryMetrics, DiscoveryConfig};
use crate::peer::identity::NodeIdentity;
use crate::peer::listener::{accept_loop, ListenerConfig};
use crate::peer::score::{ScoreBoard, ScoreConfig};
use crate::peer::serve::{ServeConfig, Serving};
use crate::peer::session::{PeerContext, SessionConfig};
use crate::pipeline::forget::Forgetter;
use crate::pipeline::revalidate::LoadedStore;
use crate::pipeline::Pipeline;
use crate::store::{Flush, StoreConfig, StoreHandle};

pub struct RunOptions {
    pub data_dir: PathBuf,
    pub listen: Option<SocketAddr>,
    pub peers: Vec<PeerAddr>,
    pub metrics_addr: SocketAddr,
    pub pipeline: PipelineConfig,
    pub session: SessionConfig,
    pub dialer: DialerConfig,
    pub listener: ListenerConfig,
    pub score: ScoreConfig,
    pub exporter: ExporterConfig,
    /// The chain source checking channel funding, forgetting and pruning (`[chain]`).
    pub chain: ChainSettings,
    pub serve: ServeConfig,
    /// Time between Rapid Gossip Sync snapshot generations.
    pub rgs_interval: Duration,
    pub discovery: DiscoveryConfig,
    /// Worker threads of the network runtime (see the module comment).
    pub peer_threads: usize,
}

pub fn run(options: RunOptions) -> anyhow::Result<()> {
    let identity = Arc::new(NodeIdentity::load_or_create(&options.data_dir)?);
    // Before anything listens: a banned peer must not get in during start-up.
    let mut scores = ScoreBoard::open(
        &options.data_dir,
        options.score.clone(),
        u64::from(unix_now()),
    )?;
    // The operator's own choice of peers is never banned, only disconnected and re-dialled.
    for peer in &options.peers {
        scores.protect(peer.node_id.serialize());
    }
    let network = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.peer_threads.max(1))
        .thread_name("gossip-sieve-net")
        .enable_all()
        .build()?;
    let system = actix::System::new();
    let result = system.block_on(run_inside(
        options,
        identity,
        scores,
        network.handle().clone(),
    ));
    actix::System::current().stop();
    // Sessions have ended by now (or were given up on after the drain timeout); what is left
    // (an aborted exporter connection) must not hold the exit.
    network.shutdown_timeout(Duration::from_secs(2));
    result
}

async fn run_inside(
    options: RunOptions,
    identity: Arc<NodeIdentity>,
    scores: ScoreBoard,
    network: tokio::runtime::Handle,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new(options.pipeline.shards.max(1))?);
    // The operator's peers get their own propagation label; every other peer shares one.
    let configured: Vec<[u8; 33]> = options
        .peers
        .iter()
        .map(|p| p.node_id.serialize())
        .collect();
    metrics.propagation.label_peers(&configured);
    let health = Arc::new(Health::default());
    let graph = Arc::new(Graph::new());
    // Snapshots and the graph API are served on the metrics listener from the start (503 until
    // the first snapshot generation is built).
    let handout = Arc::new(Handout::open(
        &options.data_dir,
        graph.clone(),
        options.pipeline.network.chain_hash(),
        Some(&metrics),
    )?);
    let routes: Arc<dyn metrics::exporter::Routes> = HandoutRoutes::new(handout.clone());
    // Bound inside the network runtime, so their sockets are driven by its threads.
    let (metrics_bound, exporter) = network
        .spawn(metrics::serve_routes(
            options.metrics_addr,
            metrics.clone(),
            health.clone(),
            options.exporter.clone(),
            Some(routes),
        ))
        .await??;
    let listener = match options.listen {
        Some(addr) => Some(network.spawn(TcpListener::bind(addr)).await??),
        None => None,
    };
    // Accepted gossip is persisted in the data dir and loaded back at start without
    // verifying signatures again.
    let (store, report) = StoreHandle::open_reporting(
        &options.data_dir,
        graph.clone(),
        metrics.clone(),
        StoreConfig::for_pipeline(&options.pipeline),
        health.clone(),
    )?;
    eprintln!("store: {}", serde_json::to_string(&report)?);
    let mut chain = ChainRuntime::start(&options.chain, None, &metrics, &health)?;
    handout.set_chain(chain.stage.clone());
    let forgetter = Forgetter::new(graph.clone(), metrics.clone(), Some(store.sender()))?;
    let serving = Serving::new(options.serve.clone(), Some(store.tail()), &metrics)?;
    // DESIGN §3: every bound exported. Per peer: streamed and reply bytes queued, echo window,
    // held-back announcements.
    metrics.set_limit(
        "peer_stream_buffer_bytes",
        options.serve.stream_buffer_bytes,
    );
    metrics.set_limit("peer_reply_buffer_bytes", options.serve.reply_buffer_bytes);
    metrics.set_limit("peer_echo_window", options.serve.echo_window);
    metrics.set_limit(
        "peer_echo_window_bytes",
        crate::peer::serve::echo::RecentlyReceived::bytes_for(options.serve.echo_window),
    );
    metrics.set_limit("peer_held_announcements", options.serve.held_announcements);
    // Split sync: short channel ids one chunk may collect from a peer's range replies.
    let chunk_scids = options.serve.split.max_chunk_scids;
    metrics.set_limit("peer_split_chunk_scids", chunk_scids);
    metrics.set_limit(
        "peer_split_chunk_bytes",
        chunk_scids.saturating_mul(crate::peer::sync_plan::BYTES_PER_COLLECTED_SCID),
    );
    // Split sync: peers' replies queued for the session's seeker, in messages and bytes.
    metrics.set_limit("peer_split_reply_queue", options.serve.split.reply_queue);
    metrics.set_limit(
        "peer_split_reply_queue_bytes",
        options.serve.split.reply_queue_bytes,
    );
    serving.sync.expect_peers(options.peers.len());
    let store_addr = store.addr();
    handout.set_before_build(Arc::new(move || {
        let store_addr = store_addr.clone();
        Box::pin(async move {
            // A snapshot reads the file: what the store still buffers would wait a generation.
            let _ = store_addr.send(Flush).await;
        })
    }));
    let pipeline = Pipeline::start_with_chain(
        options.pipeline,
        graph.clone(),
        metrics.clone(),
        Some(store.sender()),
        Some(chain.stage.clone()),
    );
    metrics.set_limit("max_peers", options.listener.max_peers);
    let admission = &options.listener.admission;
    metrics.set_limit("max_peers_per_ip", admission.max_per_ip);
    metrics.set_limit(
        "handshakes_per_ip_per_minute",
        usize::try_from(admission.handshakes_per_minute).unwrap_or(usize::MAX),
    );
    metrics.set_limit(
        "handshake_burst_per_ip",
        usize::try_from(admission.handshake_burst).unwrap_or(usize::MAX),
    );
    metrics.set_limit("tracked_source_addresses", admission.max_tracked);
    metrics.set_limit("peer_outbound_queue", options.session.outbound_queue);
    metrics.set_limit(
        "peer_outbound_queue_bytes",
        options.session.outbound_queue_bytes,
    );
    let ctx = Arc::new(PeerContext {
        identity: identity.clone(),
        sieve: pipeline.sieve.clone(),
        metrics: metrics.clone(),
        session: options.session,
        scores: Mutex::new(scores),
        serving: serving.clone(),
    });
    let sieve = pipeline.sieve.clone();
    let sync = serving.sync.clone();
    let sync_watch =
        actix::spawn(serving.watch_sync(move || sieve.in_flight_total(), health.clone()));
    let (stop, shutdown) = watch::channel(false);
    // Installed before the start lines are printed: a supervisor that reads them may signal
    // at once, and an uninstalled handler would let the signal kill the process uncleanly.
    let signals = Signals::install()?;

    // Every series exists before the metrics address is printed: the exporter runs on the
    // network runtime, so a scrape may come in at once.
    let discovery_metrics = Arc::new(DiscoveryMetrics::register(&metrics.registry)?);
    discovery::publish_limits(&options.discovery, &metrics);

    // Tests and scripts parse these lines; the bound addresses matter when port 0 was asked.
    println!("node_id {}", identity.node_id_hex());
    println!("metrics {metrics_bound}");
    let loaded = LoadedStore {
        path: report.path.clone(),
        len: report.file_bytes,
        channels: report.channels,
    };
    let mut tasks = chain.spawn_watchers(forgetter, health.clone(), Some(loaded), shutdown.clone());
    if let Some(listener) = listener {
        println!("listening {}", listener.local_addr()?);
        tasks.push(network.spawn(accept_loop(
            listener,
            ctx.clone(),
            options.listener,
            shutdown.clone(),
        )));
    }
    // Configured peers, and the outbound slots left filled from the graph (issue 18).
    // The dialers and the manager spawn onto the runtime they are started in.
    tasks.extend({
        let _network = network.enter();
        discovery::spawn(
            options.peers,
            ctx.clone(),
            graph,
            options.dialer,
            options.discovery,
            discovery_metrics,
            shutdown.clone(),
        )
    });
    // Periodic snapshots start once our own sync is complete, so a wallet is never handed a
    // half-synced graph as the whole network (POST /snapshot/trigger still builds at once).
    let rgs_interval = options.rgs_interval;
    let mut rgs_shutdown = shutdown.clone();
    let periodic = handout.clone();
    tasks.push(actix::spawn(async move {
        while !sync.is_complete() {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = rgs_shutdown.changed() => return,
            }
        }
        periodic.run_periodic(rgs_interval, rgs_shutdown).await;
    }));
    health.set_ready(true);

    signals.wait().await;
    eprintln!("shutting down");
    health.set_ready(false);
    let _ = stop.send(true);
    for task in tasks {
        if tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .is_err()
        {
            tracing::warn!("a peer task did not stop in time");
        }
    }
    // Bans are written on a thread of their own; the last one must reach the disk too.
    ctx.scores.lock().flush();
    store.stop_waiting_for_space();
    chain.release_waiting();
    pipeline.drained().await;
    store.shutdown().await?;
    exporter.abort();
    sync_watch.abort();
    pipeline.stop();
    chain.stop();
    Ok(())
}

/// SIGINT and SIGTERM (Ctrl-C elsewhere).
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
