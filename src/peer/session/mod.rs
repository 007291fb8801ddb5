//! One BOLT 1 session over an established BOLT 8 connection: the `init` exchange, asking for
//! gossip, pings both ways, the control and query messages, and handing gossip frames to the
//! sieve with backpressure (the next frame is not read until the sieve has taken this one, so a
//! full shard stops the socket and TCP pushes back on the peer). Owns the per-peer limits
//! (inbound byte rate, outbound queue, misbehaviour score) and records exactly one disconnect
//! reason per session.
//!
//! - [`end_reason`]: why a session ended, one disconnect label each.
//! - `inbound`: the inbound byte rate (token bucket).
//! - `outbound`: the queue of messages for the peer, bounded in messages and bytes, and its
//!   writer task; streamed gossip will go out through it.
//! - `replies`: answers to BOLT 7 queries, one task at a time per peer, streamed and paced.
//! - `stream`: the peer's cursor over the gossip_store (its filtered dump, then relay).
//! - `seeker`: our own split initial sync's queries to an outbound peer (`initial_sync =
//!   "split"`, see `peer::sync_plan`).

pub mod end_reason;
mod inbound;
mod outbound;
mod replies;
mod seeker;
mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use secp256k1::PublicKey;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

pub use end_reason::EndReason;

use self::inbound::{ByteBucket, FRAME_OVERHEAD};
use self::outbound::{LaneBytes, Outbound};
use self::replies::{answer_channel_range, answer_short_channel_ids, Replier};
use self::seeker::{reply_queue, ReplySender, Seeker, SyncReply};
use self::stream::{StreamRequest, StreamStart, Streamer};
use super::identity::NodeIdentity;
use super::remote_text::{log_remote_text, RemoteText};
use super::score::{Offense, PeerId, ScoreBoard, Verdict};
use super::serve::echo::RecentlyReceived;
use super::serve::sync::DumpWatch;
use super::serve::Serving;
use crate::clock::unix_now;
use crate::metrics::propagation::PeerPropagation;
use crate::metrics::Metrics;
use crate::pipeline::{
    message_kind, Outcome, PeerAction, PenaltyCounter, Sieve, Sifted, VerdictCounts,
};
use crate::transport::{Bolt8Reader, Bolt8Writer, TransportError};
use crate::wire::bolt1::{self, ErrorMessage, Init, Ping, Pong, Warning};
use crate::wire::features;
use crate::wire::kind::{CHANNEL_ANNOUNCEMENT, CHANNEL_UPDATE, NODE_ANNOUNCEMENT};
use crate::wire::queries::{self, GossipTimestampFilter, QueryChannelRange, QueryShortChannelIds};

/// BOLT 9 feature pairs (either bit of the pair) whose required bit we accept from a peer. We
/// never open channels or route payments, so a peer requiring a channel or payment feature
/// asks nothing of us; only bits outside this list are "unknown" in BOLT 1's sense.
const KNOWN_FEATURES: &[usize] = &[
    0,  // option_data_loss_protect
    2,  // initial_routing_sync (odd only, listed for completeness)
    4,  // option_upfront_shutdown_script
    6,  // gossip_queries
    8,  // var_onion_optin
    10, // gossip_queries_ex
    12, // option_static_remotekey
    14, // payment_secret
    16, // basic_mpp
    18, // option_support_large_channel
    // Not 20: BOLT 9 no longer assigns bits 20/21 (the old `option_anchor_outputs` commitment
    // type was dropped; `option_anchors` is 22/23), so a peer requiring bit 20 requires an
    // unknown feature, and BOLT 1 says to fail the connection (lnprototest's
    // test_init_reject_option_data_loss_protect_if_not_supported checks it).
    22, // option_anchors_zero_fee_htlc_tx
    24, // option_route_blinding
    26, // option_shutdown_anysegwit
    28, // option_dual_fund
    30, // option_splice (pre-assignment bits used in the wild)
    34, // option_quiesce
    38, // option_onion_messages
    40, // option_want_peer_storage
    42, // option_provide_peer_storage
    44, // option_channel_type
    46, // option_scid_alias
    48, // option_payment_metadata
    50, // option_zeroconf
    36, // assigned in BOLT 9 after this list was written (issue 11)
    60, // option_simple_close
    62, // option_splice
];

/// BOLT 9 `initial_routing_sync` (odd only): a peer without gossip_queries asking for a full
/// dump.
const INITIAL_ROUTING_SYNC: usize = 3;

/// How long the writer gets to flush a final `error` and close after the session ends.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Per-session limits and timers.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub chain_hash: [u8; 32],
    /// How often we ping a peer (BOLT 1 leaves it to us; LDK and CLN use 30-60 s).
    pub ping_interval: Duration,
    /// How long a pong may take once the socket is idle.
    pub pong_timeout: Duration,
    /// How long the peer has to send its `init`.
    pub init_timeout: Duration,
    /// Messages queued for the peer. A peer that does not read its socket fills it and is
    /// dropped, instead of us buffering without bound.
    pub outbound_queue: usize,
    /// Bytes queued for the peer, the same bound in bytes: a count alone would let a peer that
    /// asks for maximum-size pongs park 64 KiB per slot (64 MiB at 1024 slots).
    pub outbound_queue_bytes: usize,
    /// Sustained inbound bytes per second; 0 = unlimited. Over it we pause reading, not drop.
    pub inbound_bytes_per_sec: u64,
    /// Bytes a peer may send in a burst above the rate.
    pub inbound_burst: u64,
}

impl SessionConfig {
    pub fn new(chain_hash: [u8; 32]) -> Self {
        SessionConfig {
            chain_hash,
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(30),
            init_timeout: Duration::from_secs(30),
            outbound_queue: 1024,
            // 32 maximum-size messages; a reply_channel_range burst for all of mainnet
            // (~54k scids × 8 bytes) is a quarter of it.
            outbound_queue_bytes: 2 << 20,
            inbound_bytes_per_sec: 1 << 20,
            inbound_burst: 8 << 20,
        }
    }
}

/// What every connection of this node shares.
pub struct PeerContext {
    pub identity: Arc<NodeIdentity>,
    pub sieve: Arc<Sieve>,
    pub metrics: Arc<Metrics>,
    pub session: SessionConfig,
    /// Misbehaviour scores and bans, shared so a peer's score follows it across reconnects.
    /// Locked only when a peer offends or connects, never per accepted message.
    pub scores: Mutex<ScoreBoard>,
    /// Serving gossip back: the store's tail, sync state, scid index, reply rates.
    pub serving: Arc<Serving>,
}

/// How a session went, for the dialer's backoff and the demo.
#[derive(Debug)]
pub struct SessionReport {
    pub reason: EndReason,
    pub lasted: Duration,
    pub gossip_frames: u64,
}

/// Keeps `peers_connected` right and records the disconnect exactly once, even if the session
/// future is dropped half-way (then as `shutdown`).
struct ConnectedGuard {
    metrics: Arc<Metrics>,
    reason: Option<&'static str>,
}

impl ConnectedGuard {
    fn new(metrics: Arc<Metrics>) -> Self {
        metrics.peers_connected.inc();
        ConnectedGuard {
            metrics,
            reason: None,
        }
    }
}

impl Drop for ConnectedGuard {
    fn drop(&mut self) {
        self.metrics.peers_connected.dec();
        self.metrics
            .peer_disconnected(self.reason.unwrap_or("shutdown"));
    }
}

/// Runs one session to its end: records it in the metrics and closes the connection (after
/// flushing a final `error` if we sent one).
pub async fn run_session<R, W>(
    reader: Bolt8Reader<R>,
    writer: Bolt8Writer<W>,
    remote: PublicKey,
    ctx: Arc<PeerContext>,
    shutdown: watch::Receiver<bool>,
) -> SessionReport
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    run_session_as(reader, writer, remote, ctx, shutdown, false).await
}

/// [`run_session`] for a peer we dialled (`dialled`): with `initial_sync = "split"` our own
/// initial sync asks such a peer for chunks of the block range (inbound peers keep the dump
/// request).
pub async fn run_session_as<R, W>(
    mut reader: Bolt8Reader<R>,
    writer: Bolt8Writer<W>,
    remote: PublicKey,
    ctx: Arc<PeerContext>,
    mut shutdown: watch::Receiver<bool>,
    dialled: bool,
) -> SessionReport
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let started = Instant::now();
    let remote_id: PeerId = remote.serialize();
    let remote_hex = hex::encode(remote_id);
    // LND and CLN refuse a banned peer without a word: an error would only tell it to switch
    // node ids.
    if let Some(until) = ctx
        .scores
        .lock()
        .banned_until(&remote_id, u64::from(unix_now()))
    {
        tracing::info!(peer = %remote_hex, until, "refused a banned peer");
        ctx.metrics.peer_disconnected(EndReason::Banned.label());
        return SessionReport {
            reason: EndReason::Banned,
            lasted: started.elapsed(),
            gossip_frames: 0,
        };
    }
    let mut guard = ConnectedGuard::new(ctx.metrics.clone());
    // A failed write breaks the socket, which the reader then reports, so the writer's own
    // result only matters for the log.
    let (outbound, mut writer_task) = Outbound::start(
        writer,
        ctx.session.outbound_queue,
        ctx.session.outbound_queue_bytes,
        LaneBytes {
            replies: ctx.serving.config.reply_buffer_bytes,
            stream: ctx.serving.config.stream_buffer_bytes,
        },
        ctx.serving.metrics.clone(),
    );
    let (stream_requests, _) = watch::channel(None);
    let reply_rate = ctx.serving.config.peer_reply_bytes_per_sec;
    let mut session = Session {
        ctx: ctx.clone(),
        outbound,
        gossip_frames: 0,
        remote: remote_id,
        shard_penalties: PenaltyCounter::default(),
        shard_penalties_acted_on: VerdictCounts::default(),
        propagation: ctx.metrics.propagation.peer(&remote_id),
        last_warning: None,
        bucket: ByteBucket::new(ctx.session.inbound_bytes_per_sec, ctx.session.inbound_burst),
        unpaced_bytes: 0,
        first_admission: None,
        pong_deadline: None,
        echo: Arc::new(Mutex::new(RecentlyReceived::new(
            ctx.serving.config.echo_window,
        ))),
        stream_requests,
        stream_task: None,
        query_task: None,
        reply_bucket: Arc::new(Mutex::new(ByteBucket::new(reply_rate, reply_rate / 4))),
        dump: None,
        last_query_warning: None,
        outbound_peer: dialled,
        seeker: None,
    };
    let mut reason = session.run(&mut reader, &mut shutdown).await;
    let gossip_frames = session.gossip_frames;
    drop(session);
    match tokio::time::timeout(CLOSE_GRACE, &mut writer_task).await {
        Ok(Ok(Err(err))) => tracing::debug!(%err, "writer failed"),
        Ok(_) => {}
        // A peer that does not read cannot take our final error either.
        Err(_) => writer_task.abort(),
    }
    if let EndReason::Transport(TransportError::Io(err)) = &reason {
        // A reset while we were sending is the peer going away, same as a clean close.
        if err.kind() == std::io::ErrorKind::ConnectionReset {
            reason = EndReason::RemoteClosed;
        }
    }
    tracing::info!(peer = %remote_hex, reason = reason.label(), detail = %reason, gossip_frames, "session ended");
    guard.reason = Some(reason.label());
    SessionReport {
        reason,
        lasted: started.elapsed(),
        gossip_frames,
    }
}

struct Session {
    ctx: Arc<PeerContext>,
    outbound: Outbound,
    gossip_frames: u64,
    remote: PeerId,
    /// What the shards found wrong in this peer's messages after admission.
    shard_penalties: PenaltyCounter,
    /// How much of `shard_penalties` is already charged or warned about.
    shard_penalties_acted_on: VerdictCounts,
    /// Where this peer's first deliveries and duplicates are counted (its own `peer` label if
    /// it is a configured peer, else the aggregated one).
    propagation: Arc<PeerPropagation>,
    /// When we last sent this peer a gossip `warning` (they are rate-limited).
    last_warning: Option<Instant>,
    bucket: ByteBucket,
    /// Bytes of this batch's messages not yet charged to `bucket`.
    unpaced_bytes: u64,
    /// When this batch's first admission started (see [`Session::drain_buffered`]).
    first_admission: Option<Instant>,
    pong_deadline: Option<tokio::time::Instant>,
    /// What the peer sent us lately, never streamed back to it.
    echo: Arc<Mutex<RecentlyReceived>>,
    /// What the peer asked us to stream; the stream task restarts on a change.
    stream_requests: watch::Sender<Option<StreamRequest>>,
    stream_task: Option<AbortOnDrop>,
    /// The one query being answered (BOLT 7: a peer "MUST NOT" send another meanwhile).
    query_task: Option<AbortOnDrop>,
    /// The per-peer rate of query replies, kept across queries.
    reply_bucket: Arc<Mutex<ByteBucket>>,
    /// The peer's gossip dump to us, for sync completeness.
    dump: Option<DumpWatch>,
    /// When we last warned the peer about a query sent while one was outstanding.
    last_query_warning: Option<Instant>,
    /// We dialled the peer (split sync asks only such peers).
    outbound_peer: bool,
    /// Our split sync's queries to this peer, when it takes part.
    seeker: Option<SeekerLink>,
}

/// The session's end of its seeker: where replies to our queries go.
struct SeekerLink {
    replies: ReplySender,
    _task: AbortOnDrop,
}

/// A task that ends with the session.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl AbortOnDrop {
    fn is_running(&self) -> bool {
        !self.0.is_finished()
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Session {
    fn config(&self) -> &SessionConfig {
        &self.ctx.session
    }

    /// Queues `msg` for the peer (see [`Outbound::send`]).
    fn send(&self, msg: Vec<u8>) -> Result<(), EndReason> {
        self.outbound.send(msg)
    }

    /// Sends a connection-level `error` (best effort) and returns `reason`.
    fn fail(&self, text: &str, reason: EndReason) -> EndReason {
        let _ = self.send(bolt1::Error(ErrorMessage::connection(text)).serialize());
        reason
    }

    /// Sends a connection-level `warning` (best effort) and returns `reason`: for gossip
    /// misbehaviour BOLT 7 asks for a warning, and an `error` with the all-zero channel id
    /// would tell the peer to fail every channel it has with us.
    fn warn_and_close(&self, text: &str, reason: EndReason) -> EndReason {
        let _ = self.send(Warning(ErrorMessage::connection(text)).serialize());
        reason
    }

    /// Tells the peer, with a BOLT 1 `warning`, that gossip it relayed failed our checks
    /// through no proven fault of its own; at most one per [`GOSSIP_WARNING_INTERVAL`], so a
    /// stream of bad relayed gossip cannot make us flood the peer (or our own queue).
    fn warn_about_gossip(&mut self) -> Result<(), EndReason> {
        let last = self.last_warning;
        self.last_warning = self.warn_at_most_every_interval(last, "invalid gossip signature")?;
        Ok(())
    }

    /// Sends a `warning` with `text` unless the last one of its kind (`last`) was within
    /// [`GOSSIP_WARNING_INTERVAL`]; returns when the last one of its kind now was.
    fn warn_at_most_every_interval(
        &self,
        last: Option<Instant>,
        text: &str,
    ) -> Result<Option<Instant>, EndReason> {
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < GOSSIP_WARNING_INTERVAL) {
            return Ok(last);
        }
        self.send(Warning(ErrorMessage::connection(text)).serialize())?;
        Ok(Some(now))
    }

    async fn run<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut Bolt8Reader<R>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> EndReason {
        match self.handshake(reader, shutdown).await {
            Ok(()) => {}
            Err(reason) => return reason,
        }
        let mut ping_tick = tokio::time::interval_at(
            tokio::time::Instant::now() + self.config().ping_interval,
            self.config().ping_interval.max(Duration::from_millis(1)),
        );
        ping_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Shards judge signatures after `offer` returned, so a peer that has gone quiet after a
        // burst of bad messages is still charged for them within this period.
        let mut penalty_tick = tokio::time::interval(PENALTY_CHECK_INTERVAL);
        penalty_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // One wait on the shutdown signal for the whole session: a new `changed()` per message
        // registered and dropped a waiter on the watch channel every time (~50 ns of a ~900 ns
        // duplicate, `benches/bolt8_duplicates.rs` under perf).
        let shutdown_signal = shutdown.changed();
        tokio::pin!(shutdown_signal);
        loop {
            let deadline = self.pong_deadline;
            let step = tokio::select! {
                biased;
                _ = &mut shutdown_signal => Err(EndReason::Shutdown),
                _ = ping_tick.tick() => self.on_ping_tick(),
                _ = penalty_tick.tick() => {
                    if let Some(dump) = &mut self.dump {
                        dump.tick(Instant::now());
                    }
                    self.check_penalties()
                }
                read = reader.wait_frame() => match read {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(EndReason::RemoteClosed),
                    Err(err) => Err(EndReason::Transport(err)),
                },
                // After the read branch: a peer that is still streaming to us is alive, and a
                // pong queued behind its gossip is read before this can fire (and is read
                // before it can fire from the frames one read brought, drained just below).
                _ = sleep_until_opt(deadline), if deadline.is_some() => Err(EndReason::PingTimeout),
            };
            if let Err(reason) = match step {
                Ok(()) => self.drain_buffered(reader).await,
                Err(reason) => Err(reason),
            } {
                return reason;
            }
        }
    }

    /// Handles the frames already in the read buffer (what the last read brought), at most
    /// [`READ_BATCH`] in all, without going back to the session's `select!`: timers and
    /// shutdown are polled once per batch instead of once per message, and a batch is short
    /// enough to keep them on time. The batch is decrypted first and its gossip put in the
    /// echo window under one lock ([`Session::prepare_batch`]); while a message is handled,
    /// the sieve starts loading what the one [`PREFETCH_AHEAD`] places later will be looked
    /// up against, so that its cache misses overlap the work in between instead of stalling
    /// it. Then settles the per-batch accounting ([`Session::end_batch`]).
    async fn drain_buffered<R>(&mut self, reader: &mut Bolt8Reader<R>) -> Result<(), EndReason> {
        // Frames left over from a batch cut short were prepared with it.
        if reader
            .open_buffered(READ_BATCH)
            .map_err(EndReason::Transport)?
            > 0
        {
            self.prepare_batch(reader.opened());
        }
        loop {
            // Admissions may wait on a full shard (up to `stall_timeout` each): a batch that
            // has spent `BATCH_TIME` since its first one goes back to the `select!`, so
            // shutdown and the timers are never held back by more than one such wait. A
            // batch of duplicates never reads the clock for this.
            if self
                .first_admission
                .is_some_and(|at| at.elapsed() >= BATCH_TIME)
            {
                break;
            }
            if let Some(ahead) = reader.opened_at(PREFETCH_AHEAD) {
                self.ctx.sieve.prefetch(ahead);
            }
            match reader.next_opened() {
                Some(msg) => self.on_message(msg).await?,
                None => break,
            }
        }
        self.first_admission = None;
        self.end_batch().await
    }

    /// Before a batch is handled: its gossip goes into the echo window (one lock for the
    /// batch; a message is in the window before it can be relayed anywhere), and the first
    /// [`PREFETCH_AHEAD`] messages' lookups are started (see [`Session::drain_buffered`]).
    fn prepare_batch<'a>(&self, frames: impl Iterator<Item = &'a [u8]>) {
        let mut echo = self.echo.lock();
        for (index, msg) in frames.enumerate() {
            if message_kind(msg).is_some() {
                echo.insert(msg);
            }
            if index < PREFETCH_AHEAD {
                self.ctx.sieve.prefetch(msg);
            }
        }
    }

    /// What is charged once per batch of messages rather than once per message: the inbound
    /// byte rate (one clock read; a peer over its rate waits here before the next read, so it
    /// is paced exactly as before, a batch later at most), and the shards' verdicts on
    /// earlier messages (also checked every [`PENALTY_CHECK_INTERVAL`]).
    async fn end_batch(&mut self) -> Result<(), EndReason> {
        let bytes = std::mem::take(&mut self.unpaced_bytes);
        if bytes > 0 {
            if let Some(pause) = self.bucket.charge(bytes) {
                tokio::time::sleep(pause).await;
            }
        }
        self.check_penalties()
    }

    /// BOLT 1 init exchange, then the gossip request.
    async fn handshake<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut Bolt8Reader<R>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), EndReason> {
        let chain = self.config().chain_hash;
        // BOLT 1: "MUST send init as the first Lightning message for any connection."
        self.send(Init::ours(chain).serialize())?;
        let first = tokio::select! {
            _ = shutdown.changed() => return Err(EndReason::Shutdown),
            read = tokio::time::timeout(self.config().init_timeout, reader.read_message()) => {
                match read {
                    Err(_) => return Err(EndReason::InitTimeout),
                    Ok(Ok(Some(msg))) => msg,
                    Ok(Ok(None)) => return Err(EndReason::RemoteClosed),
                    Ok(Err(err)) => return Err(EndReason::Transport(err)),
                }
            }
        };
        // BOLT 1: the receiver "MUST wait to receive init before sending any other messages";
        // a first message that is anything else breaks the protocol.
        if bolt1::message_type(&first) != Some(bolt1::INIT) {
            return Err(self.fail(
                "expected init",
                EndReason::ProtocolViolation("first message is not init"),
            ));
        }
        let init = Init::parse(&first)
            .map_err(|_| self.fail("malformed init", EndReason::MalformedMessage(bolt1::INIT)))?;
        // BOLT 1 networks: "if it receives networks that contain no chains in common: MAY
        // close the connection" — we follow one chain, so it must be in theirs.
        if !init.follows_chain(&chain) {
            return Err(self.fail("no common network", EndReason::WrongNetwork));
        }
        let their_features = init.combined_features();
        // BOLT 1: "upon receiving unknown even feature bits that are non-zero: MUST fail the
        // connection."
        if let Some(bit) = features::first_unknown_required(&their_features, KNOWN_FEATURES) {
            return Err(self.fail("unknown required feature", EndReason::UnknownFeature(bit)));
        }
        // BOLT 7: gossip_timestamp_filter only to peers that negotiated gossip_queries. LDK
        // and Core Lightning stream their graph only after receiving it.
        let gossip_queries =
            features::is_set(&their_features, 6) || features::is_set(&their_features, 7);
        if gossip_queries && self.outbound_peer && self.ctx.serving.sync.plan().is_some() {
            self.start_split_sync()?;
        } else if gossip_queries {
            self.send(
                GossipTimestampFilter {
                    chain_hash: chain,
                    first_timestamp: 0,
                    timestamp_range: u32::MAX,
                }
                .serialize(),
            )?;
            self.dump = Some(
                self.ctx
                    .serving
                    .sync
                    .dump_started(&self.ctx.serving.metrics),
            );
            // BOLT 7 (gossip_queries negotiated): "MUST NOT relay any gossip messages it did
            // not generate itself, unless explicitly requested": the stream waits for the
            // peer's gossip_timestamp_filter.
        } else {
            // BOLT 7 (no gossip_queries): "if the initial_routing_sync flag is set: SHOULD
            // send gossip messages for all known channels and nodes"; otherwise new gossip
            // only.
            let start = if features::is_set(&their_features, INITIAL_ROUTING_SYNC) {
                StreamStart::Beginning
            } else {
                StreamStart::End
            };
            self.request_stream(StreamRequest {
                filter: None,
                start,
            });
        }
        Ok(())
    }

    /// Split initial sync with this peer: a seeker that fetches the past chunk by chunk. It
    /// also sends our `gossip_timestamp_filter`, once it knows which one: live gossip only
    /// once the peer has answered a `query_short_channel_ids`, a full dump if it leaves one
    /// unanswered (LDK 0.2.7 honours only the first filter of a connection, so the filter
    /// cannot be sent here and corrected later).
    fn start_split_sync(&mut self) -> Result<(), EndReason> {
        let Some(plan) = self.ctx.serving.sync.plan().cloned() else {
            return Ok(());
        };
        let chain_hash = self.config().chain_hash;
        let frames = Arc::new(std::sync::atomic::AtomicU64::new(0));
        self.dump = Some(
            self.ctx
                .serving
                .sync
                .frame_counter(&self.ctx.serving.metrics, frames.clone()),
        );
        let (replies, replies_rx) = reply_queue(&plan.config, &plan.metrics);
        let seeker = Seeker {
            plan,
            serving: self.ctx.serving.clone(),
            graph: self.ctx.sieve.graph().clone(),
            lane: self.outbound.replies.clone(),
            chain_hash,
            replies: replies_rx,
            frames,
            peer: hex::encode(self.remote),
            filter_sent: false,
        };
        self.seeker = Some(SeekerLink {
            replies,
            _task: AbortOnDrop(tokio::spawn(seeker.run())),
        });
        Ok(())
    }

    /// A `reply_channel_range` or `reply_short_channel_ids_end`: for our seeker, if we have
    /// one; otherwise a reply to a query we never sent, harmless and ignored.
    fn on_sync_reply(&mut self, msg_type: u16, msg: &[u8]) -> Result<(), EndReason> {
        let Some(link) = &self.seeker else {
            return Ok(());
        };
        let reply = if msg_type == queries::REPLY_CHANNEL_RANGE {
            queries::ReplyChannelRange::parse(msg).map(SyncReply::Range)
        } else {
            queries::ReplyShortChannelIdsEnd::parse(msg).map(SyncReply::End)
        };
        let Ok(reply) = reply else {
            return Err(self.fail("malformed message", EndReason::MalformedMessage(msg_type)));
        };
        // Capped in replies and bytes: a peer sending replies faster than we asked for them
        // has the excess dropped (`reply_queue_full`).
        if let Err(reason) = link.replies.try_send(reply, msg.len()) {
            if let Some(plan) = self.ctx.serving.sync.plan() {
                plan.metrics.reply_dropped(reason);
            }
        }
        Ok(())
    }

    /// (Re)starts the peer's stream under `request`.
    fn request_stream(&mut self, request: StreamRequest) {
        self.stream_requests.send_replace(Some(request));
        if self.stream_task.is_none() {
            let streamer = Streamer {
                serving: self.ctx.serving.clone(),
                graph: self.ctx.sieve.graph().clone(),
                lane: self.outbound.stream.clone(),
                echo: self.echo.clone(),
                requests: self.stream_requests.subscribe(),
            };
            self.stream_task = Some(AbortOnDrop(tokio::spawn(streamer.run())));
        }
    }

    /// The reply task's view of this session.
    fn replier(&self) -> Replier {
        Replier {
            serving: self.ctx.serving.clone(),
            graph: self.ctx.sieve.graph().clone(),
            lane: self.outbound.replies.clone(),
            bucket: self.reply_bucket.clone(),
            chain_hash: self.config().chain_hash,
        }
    }

    /// Starts answering a query unless one is still being answered. BOLT 7 forbids a second
    /// outstanding query ("MUST NOT send query_short_channel_ids if it has sent a previous
    /// query_short_channel_ids to this peer and not received reply_short_channel_ids_end", the
    /// same for query_channel_range): like Core Lightning we ignore it with a warning (at most
    /// one per [`GOSSIP_WARNING_INTERVAL`]) rather than queue it, so a peer flooding queries
    /// gets one answer at a time at the reply rate, and costs us no memory for the rest.
    fn start_query<F>(&mut self, query_type: &'static str, answer: F) -> Result<(), EndReason>
    where
        F: std::future::Future<Output = Result<(), outbound::Closed>> + Send + 'static,
    {
        let metrics = &self.ctx.serving.metrics;
        if self
            .query_task
            .as_ref()
            .is_some_and(AbortOnDrop::is_running)
        {
            metrics.query(query_type, "refused_outstanding");
            let last = self.last_query_warning;
            self.last_query_warning = self.warn_at_most_every_interval(
                last,
                "query ignored: the previous query is still being answered",
            )?;
            return Ok(());
        }
        metrics.query(query_type, "answered");
        self.query_task = Some(AbortOnDrop(tokio::spawn(async move {
            // A closed lane is the session ending: nothing left to answer.
            let _ = answer.await;
        })));
        Ok(())
    }

    fn on_ping_tick(&mut self) -> Result<(), EndReason> {
        if self.pong_deadline.is_some() {
            return Ok(());
        }
        self.send(
            Ping {
                num_pong_bytes: 0,
                ignored_len: 0,
            }
            .serialize(),
        )?;
        self.pong_deadline = Some(tokio::time::Instant::now() + self.config().pong_timeout);
        Ok(())
    }

    /// One message, lent from the read buffer (copied only where it is kept: a gossip
    /// message the sieve admits). Its bytes are charged to the inbound rate at the end of the
    /// batch ([`Session::end_batch`]).
    async fn on_message(&mut self, msg: &[u8]) -> Result<(), EndReason> {
        self.unpaced_bytes += msg.len() as u64 + FRAME_OVERHEAD;
        let Some(msg_type) = bolt1::message_type(msg) else {
            return Err(self.fail("message without a type", EndReason::MalformedMessage(0)));
        };
        let malformed =
            |s: &Self| s.fail("malformed message", EndReason::MalformedMessage(msg_type));
        match msg_type {
            CHANNEL_ANNOUNCEMENT | NODE_ANNOUNCEMENT | CHANNEL_UPDATE => self.on_gossip(msg).await,
            bolt1::PING => {
                let ping = Ping::parse(msg).map_err(|_| malformed(self))?;
                // BOLT 1: a ping asking for 65532 bytes or more is ignored.
                if let Some(pong) = ping.pong_reply() {
                    self.send(pong.serialize())?;
                }
                Ok(())
            }
            bolt1::PONG => {
                Pong::parse(msg).map_err(|_| malformed(self))?;
                self.pong_deadline = None;
                Ok(())
            }
            bolt1::WARNING => {
                let warning = Warning::parse(msg).map_err(|_| malformed(self))?;
                // BOLT 1: the data is attacker-controlled; log it only sanitized (and bounded).
                log_remote_text(RemoteText::Warning, &self.remote, &warning.0);
                Ok(())
            }
            bolt1::ERROR => {
                let error = bolt1::Error::parse(msg).map_err(|_| malformed(self))?;
                log_remote_text(RemoteText::Error, &self.remote, &error.0);
                // BOLT 1: an error for a channel we do not have is ignored; we have no
                // channels, so only a connection-level error ends the session.
                if error.0.is_connection_level() {
                    Err(EndReason::RemoteError)
                } else {
                    Ok(())
                }
            }
            bolt1::INIT => Err(self.fail(
                "init sent twice",
                EndReason::ProtocolViolation("second init"),
            )),
            queries::QUERY_CHANNEL_RANGE => {
                let query = QueryChannelRange::parse(msg).map_err(|_| malformed(self))?;
                if query.chain_hash != self.config().chain_hash {
                    self.ctx
                        .serving
                        .metrics
                        .query("query_channel_range", "wrong_chain");
                }
                let replier = self.replier();
                self.start_query("query_channel_range", answer_channel_range(replier, query))
            }
            queries::QUERY_SHORT_CHANNEL_IDS => {
                let query = QueryShortChannelIds::parse(msg).map_err(|_| malformed(self))?;
                if query.chain_hash != self.config().chain_hash {
                    self.ctx
                        .serving
                        .metrics
                        .query("query_short_channel_ids", "wrong_chain");
                }
                let replier = self.replier();
                self.start_query(
                    "query_short_channel_ids",
                    answer_short_channel_ids(replier, query),
                )
            }
            queries::GOSSIP_TIMESTAMP_FILTER => {
                let filter = GossipTimestampFilter::parse(msg).map_err(|_| malformed(self))?;
                // BOLT 7: a filter for a chain we do not follow asks nothing of us.
                if filter.chain_hash == self.config().chain_hash {
                    self.request_stream(StreamRequest {
                        filter: Some(filter),
                        start: StreamStart::Beginning,
                    });
                }
                Ok(())
            }
            // Replies to our split sync's queries; without one, harmless and ignored.
            queries::REPLY_CHANNEL_RANGE | queries::REPLY_SHORT_CHANNEL_IDS_END => {
                self.on_sync_reply(msg_type, msg)
            }
            // BOLT 1: "upon receiving a message of odd, unknown type: MUST ignore".
            t if bolt1::is_odd(t) => Ok(()),
            // BOLT 1: "upon receiving a message of even, unknown type: MUST close the
            // connection; MAY fail the channels."
            t => Err(self.fail("unknown even message type", EndReason::UnknownEvenType(t))),
        }
    }

    /// A gossip message: judged by the sieve on the spot from the borrowed bytes (a duplicate
    /// ends there, with no copy and nothing awaited); one it admits is awaited into its shard.
    /// The shards' later verdicts are acted on once per batch ([`Session::end_batch`]).
    async fn on_gossip(&mut self, msg: &[u8]) -> Result<(), EndReason> {
        self.gossip_frames += 1;
        if let Some(dump) = &mut self.dump {
            dump.on_frame();
        }
        let sieve = &self.ctx.sieve;
        let outcome =
            match sieve.sift_frame(msg, Some(&self.shard_penalties), Some(&self.propagation)) {
                Sifted::Done(outcome) => outcome,
                // Backpressure: this resolves only once the shard has taken the frame, and
                // nothing more is read from the socket (or the read buffer) meanwhile.
                Sifted::Admit(admission) => {
                    if self.first_admission.is_none() {
                        self.first_admission = Some(Instant::now());
                    }
                    sieve.admit(admission).await
                }
            };
        if let (Outcome::Dropped(reason), Some(kind)) = (outcome, message_kind(msg)) {
            if let Some(offense) = Offense::from_drop(kind, reason) {
                self.charge(offense, 1)?;
            } else if reason.peer_action(kind) == PeerAction::Warn {
                self.warn_about_gossip()?;
            }
        }
        Ok(())
    }

    /// Acts on what the shards found since the last check (in messages admitted earlier, so
    /// it could not be judged at admission): charges the peer's own faults, warns about the
    /// rest.
    fn check_penalties(&mut self) -> Result<(), EndReason> {
        let found = self.shard_penalties.counts();
        let seen = std::mem::replace(&mut self.shard_penalties_acted_on, found);
        if found.warnings > seen.warnings {
            self.warn_about_gossip()?;
        }
        self.charge(
            Offense::Malformed,
            found.malformed.saturating_sub(seen.malformed),
        )?;
        self.charge(
            Offense::InvalidSignature,
            found
                .invalid_signatures
                .saturating_sub(seen.invalid_signatures),
        )
    }

    /// Adds `count` offenses to the peer's score; ends the session once the score says so.
    fn charge(&mut self, offense: Offense, count: u32) -> Result<(), EndReason> {
        if count == 0 {
            return Ok(());
        }
        let now = u64::from(unix_now());
        let verdict = {
            let mut scores = self.ctx.scores.lock();
            // Banned meanwhile through another of its connections: that ban is counted.
            if scores.is_banned(&self.remote, now) {
                return Err(EndReason::Banned);
            }
            // Every offense found counts, even past the disconnect score: a peer that sends a
            // burst of forgeries must not get off with a disconnect because they were found
            // together.
            let mut verdict = Verdict::Ok;
            for _ in 0..count {
                verdict = scores.record(&self.remote, offense, now);
                if matches!(verdict, Verdict::Ban { .. }) {
                    break;
                }
            }
            verdict
        };
        match verdict {
            // BOLT 7, channel_announcement: "if bitcoin_signature_1, bitcoin_signature_2,
            // node_signature_1 OR node_signature_2 are invalid OR NOT correct: SHOULD send a
            // `warning`." (Rate-limited like every gossip warning; lnprototest's
            // test_bad_announcement expects it.)
            Verdict::Ok if offense == Offense::InvalidSignature => self.warn_about_gossip(),
            Verdict::Ok => Ok(()),
            // BOLT 7 (channel_announcement with bad signatures): "SHOULD send a `warning`. MAY
            // close the connection."
            Verdict::Disconnect => {
                Err(self.warn_and_close("too many invalid gossip messages", EndReason::Misbehaving))
            }
            Verdict::Ban { until, reason } => {
                self.ctx.metrics.peer_banned(reason.as_str());
                tracing::warn!(
                    peer = %hex::encode(self.remote),
                    until,
                    reason = reason.as_str(),
                    "banned a misbehaving peer"
                );
                Err(self.warn_and_close("too many invalid gossip messages", EndReason::Misbehaving))
            }
        }
    }
}

const PENALTY_CHECK_INTERVAL: Duration = Duration::from_millis(250);
/// Messages handled per turn of the session loop at most (see [`Session::drain_buffered`]):
/// at ~1 µs each, a batch holds the timers and shutdown back by well under a millisecond.
const READ_BATCH: usize = 64;
/// How many messages ahead of the one being handled the sieve's lookups are started: far
/// enough for a miss to memory (~100 ns) to complete meanwhile, near enough that a batch's
/// hints do not crowd the CPU's few outstanding-miss slots at once.
const PREFETCH_AHEAD: usize = 4;
/// How long a batch with admissions in it may run before the session loop polls shutdown and
/// its timers again.
const BATCH_TIME: Duration = Duration::from_millis(1);
/// At most one gossip `warning` per peer in this time: CLN learned that some implementations
/// treat warnings harshly, and a warning per bad relayed update would be an amplifier.
const GOSSIP_WARNING_INTERVAL: Duration = Duration::from_secs(10);

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Graph;
    use crate::peer::score::ScoreConfig;
    use crate::wire::queries::EncodedList;

    use crate::config::PipelineConfig;
    use crate::pipeline::Pipeline;
    use crate::transport::{handshake_initiator, handshake_responder};
    use crate::wire::bolt1::features_from_bits;
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

    const CHAIN: [u8; 32] = [0x6f; 32];

    struct Remote {
        reader: Bolt8Reader<OwnedReadHalf>,
        writer: Bolt8Writer<OwnedWriteHalf>,
    }

    impl Remote {
        async fn send(&mut self, msg: &[u8]) {
            self.writer.write_message(msg).await.expect("send");
        }

        async fn recv(&mut self) -> Option<Vec<u8>> {
            tokio::time::timeout(Duration::from_secs(5), self.reader.read_message())
                .await
                .expect("node sent nothing")
                .ok()
                .flatten()
        }

        /// Next message that is not one of our pings.
        async fn recv_type(&mut self) -> Option<u16> {
            loop {
                let msg = self.recv().await?;
                match bolt1::message_type(&msg) {
                    Some(bolt1::PING) => continue,
                    t => return t,
                }
            }
        }
    }

    /// Runs `script` as the remote end of one session with `config`; returns the node's
    /// report and its metrics.
    fn with_session<F, Fut>(config: SessionConfig, script: F) -> (SessionReport, Arc<Metrics>)
    where
        F: FnOnce(Remote) -> Fut + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
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
            let ctx = Arc::new(PeerContext {
                identity: Arc::new(NodeIdentity::random()),
                sieve: pipeline.sieve.clone(),
                metrics: metrics.clone(),
                session: config,
                scores: Mutex::new(ScoreBoard::in_memory(ScoreConfig::default())),
                serving: Serving::new(Default::default(), None, &metrics).expect("serving"),
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let node_id = ctx.identity.node_id();
            let remote = NodeIdentity::random();
            let remote_task = actix::spawn(async move {
                let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                let (reader, writer) =
                    handshake_initiator(stream, remote.secret(), &node_id, Duration::from_secs(5))
                        .await
                        .expect("handshake");
                script(Remote { reader, writer }).await;
            });
            let (stream, _) = listener.accept().await.expect("accept");
            let (their_id, reader, writer) =
                handshake_responder(stream, ctx.identity.secret(), Duration::from_secs(5))
                    .await
                    .expect("handshake");
            let (_stop, shutdown) = watch::channel(false);
            let report = run_session(reader, writer, their_id, ctx, shutdown).await;
            remote_task.await.expect("remote script");
            pipeline.stop();
            (report, metrics)
        })
    }

    fn init_with(networks: Option<Vec<[u8; 32]>>, bits: &[usize]) -> Vec<u8> {
        Init {
            features: features_from_bits(bits),
            networks,
            ..Init::default()
        }
        .serialize()
    }

    fn disconnects(metrics: &Metrics, reason: &str) -> bool {
        metrics.render().contains(&format!(
            "gossip_sieve_peer_disconnects_total{{reason=\"{reason}\"}} 1"
        ))
    }

    #[test]
    fn init_then_filter_pong_and_query_replies_then_clean_close() {
        let (report, metrics) = with_session(SessionConfig::new(CHAIN), |mut remote| async move {
            let first = remote.recv().await.expect("init");
            assert_eq!(bolt1::message_type(&first), Some(bolt1::INIT));
            assert!(Init::parse(&first).expect("init").follows_chain(&CHAIN));
            remote.send(&init_with(Some(vec![CHAIN]), &[7])).await;
            let filter = remote.recv().await.expect("filter");
            let filter = GossipTimestampFilter::parse(&filter).expect("gossip_timestamp_filter");
            assert_eq!(
                (filter.first_timestamp, filter.timestamp_range),
                (0, u32::MAX)
            );
            remote
                .send(
                    &Ping {
                        num_pong_bytes: 12,
                        ignored_len: 3,
                    }
                    .serialize(),
                )
                .await;
            let pong = remote.recv().await.expect("pong");
            assert_eq!(Pong::parse(&pong).expect("pong").ignored_len, 12);
            // Odd unknown types and warnings are ignored.
            remote.send(&[0x80, 0x01, 9, 9]).await;
            remote
                .send(&Warning(ErrorMessage::connection("careful")).serialize())
                .await;
            let query = QueryShortChannelIds {
                chain_hash: CHAIN,
                short_ids: EncodedList::Uncompressed(vec![1, 2]),
                query_flags: None,
                unknown_tlvs: Vec::new(),
            };
            remote.send(&query.serialize()).await;
            let end = loop {
                let msg = remote.recv().await.expect("reply");
                if bolt1::message_type(&msg) != Some(bolt1::PING) {
                    break msg;
                }
            };
            let end = queries::ReplyShortChannelIdsEnd::parse(&end).expect("end");
            // BOLT 7: "MUST set full_information to 0 if it does not maintain up-to-date
            // channel information": our own sync has not completed in this session.
            assert_eq!(end.full_information, 0);
            let range = QueryChannelRange {
                chain_hash: CHAIN,
                first_blocknum: 0,
                number_of_blocks: 1000,
                query_option: None,
                unknown_tlvs: Vec::new(),
            };
            remote.send(&range.serialize()).await;
            assert_eq!(remote.recv_type().await, Some(queries::REPLY_CHANNEL_RANGE));
            remote.writer.shutdown().await.expect("close");
            assert_eq!(remote.recv().await, None, "node closes its side too");
        });
        assert!(
            matches!(report.reason, EndReason::RemoteClosed),
            "{report:?}"
        );
        assert!(disconnects(&metrics, "remote_closed"));
        assert_eq!(metrics.peers_connected.get(), 0);
    }

    #[test]
    fn a_peer_on_another_chain_gets_an_error_and_is_dropped() {
        let (report, metrics) = with_session(SessionConfig::new(CHAIN), |mut remote| async move {
            remote.recv().await.expect("init");
            remote.send(&init_with(Some(vec![[1; 32]]), &[7])).await;
            assert_eq!(remote.recv_type().await, Some(bolt1::ERROR));
            assert_eq!(remote.recv().await, None);
        });
        assert!(
            matches!(report.reason, EndReason::WrongNetwork),
            "{report:?}"
        );
        assert!(disconnects(&metrics, "wrong_network"));
    }

    #[test]
    fn unknown_required_feature_and_unknown_even_type_end_the_session() {
        let (report, _) = with_session(SessionConfig::new(CHAIN), |mut remote| async move {
            remote.recv().await.expect("init");
            remote.send(&init_with(None, &[7, 100])).await;
            assert_eq!(remote.recv_type().await, Some(bolt1::ERROR));
        });
        assert!(
            matches!(report.reason, EndReason::UnknownFeature(100)),
            "{report:?}"
        );

        let (report, metrics) = with_session(SessionConfig::new(CHAIN), |mut remote| async move {
            remote.recv().await.expect("init");
            // Required bits of channel features we never use are fine.
            remote.send(&init_with(None, &[6, 12, 14])).await;
            remote.recv().await.expect("filter");
            remote.send(&[0x03, 0xE8]).await;
            assert_eq!(remote.recv_type().await, Some(bolt1::ERROR));
        });
        assert!(
            matches!(report.reason, EndReason::UnknownEvenType(1000)),
            "{report:?}"
        );
        assert!(disconnects(&metrics, "unknown_even_type"));
    }

    #[test]
    fn required_bit_20_is_unknown_since_bolt9_dropped_it() {
        let (report, _) = with_session(SessionConfig::new(CHAIN), |mut remote| async move {
            remote.recv().await.expect("init");
            remote.send(&init_with(None, &[20])).await;
            assert_eq!(remote.recv_type().await, Some(bolt1::ERROR));
        });
        assert!(
            matches!(report.reason, EndReason::UnknownFeature(20)),
            "{report:?}"
        );
    }

    #[test]
    fn a_peer_that_does_not_read_is_dropped_as_slow_reader() {
        let config = SessionConfig {
            outbound_queue: 4,
            inbound_bytes_per_sec: 0,
            ..SessionConfig::new(CHAIN)
        };
        let (report, metrics) = with_session(config, |mut remote| async move {
            remote.recv().await.expect("init");
            remote.send(&init_with(None, &[7])).await;
            // Each ping asks for a 64 KB pong that we never read: the socket buffers fill,
            // then the node's queue.
            let ping = Ping {
                num_pong_bytes: MAX_PONG,
                ignored_len: 0,
            }
            .serialize();
            for _ in 0..4000 {
                if remote.writer.write_message(&ping).await.is_err() {
                    break;
                }
            }
        });
        assert!(matches!(report.reason, EndReason::SlowReader), "{report:?}");
        assert!(disconnects(&metrics, "slow_reader"));
    }

    const MAX_PONG: u16 = bolt1::MAX_NUM_PONG_BYTES;
}
