//! One BOLT 1 session over an established BOLT 8 connection: the `init` exchange, asking for
//! gossip, pings both ways, the control and query messages, and handing gossip frames to the
//! sieve with backpressure (the next frame is not read until the sieve has taken this one, so a
//! full shard stops the socket and TCP pushes back on the peer). Owns the per-peer limits
//! (inbound byte rate, outbound queue, misbehaviour score) and records exactly one disconnect
//! reason per session.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use secp256k1::PublicKey;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};

use super::identity::NodeIdentity;
use super::score::{Offense, PeerId, ScoreBoard, Verdict};
use crate::graph::Graph;
use crate::metrics::Metrics;
use crate::pipeline::{Outcome, PenaltyCounter, Sieve};
use crate::transport::{Bolt8Reader, Bolt8Writer, TransportError};
use crate::wire::bolt1::{self, ErrorMessage, Init, Ping, Pong, Warning};
use crate::wire::features;
use crate::wire::kind::{CHANNEL_ANNOUNCEMENT, CHANNEL_UPDATE, NODE_ANNOUNCEMENT};
use crate::wire::queries::{
    self, EncodedList, GossipTimestampFilter, QueryChannelRange, QueryShortChannelIds,
    ReplyChannelRange, ReplyShortChannelIdsEnd,
};

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
    20, // option_anchor_outputs
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
];

/// Frame overhead on the wire (encrypted length + two MACs), charged to the inbound byte rate.
const FRAME_OVERHEAD: u64 = 2 + 16 + 16;
/// Short ids per `reply_channel_range`: 8 bytes each must fit 65535 bytes with the header.
const SCIDS_PER_REPLY: usize = 8000;
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
}

/// Why a session ended; [`EndReason::label`] is the `reason` of
/// `gossip_sieve_peer_disconnects_total`.
#[derive(Debug, thiserror::Error)]
pub enum EndReason {
    #[error("peer closed the connection")]
    RemoteClosed,
    #[error("peer sent an error")]
    RemoteError,
    #[error("peer does not follow our chain")]
    WrongNetwork,
    #[error("peer requires feature bit {0}, which we do not know")]
    UnknownFeature(usize),
    #[error("peer sent unknown even message type {0}")]
    UnknownEvenType(u16),
    #[error("peer sent a malformed message of type {0}")]
    MalformedMessage(u16),
    #[error("peer broke the message order: {0}")]
    ProtocolViolation(&'static str),
    #[error("peer sent no init in time")]
    InitTimeout,
    #[error("peer did not answer our ping in time")]
    PingTimeout,
    #[error("peer sent too many invalid gossip messages")]
    Misbehaving,
    #[error("peer is banned")]
    Banned,
    #[error("peer does not read what we send")]
    SlowReader,
    #[error("node shutting down")]
    Shutdown,
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
}

impl EndReason {
    /// Labels beyond [`TransportError::ALL_REASONS`] that [`Self::label`] can return.
    pub const LABELS: [&'static str; 13] = [
        "remote_closed",
        "remote_error",
        "wrong_network",
        "unknown_feature",
        "unknown_even_type",
        "malformed_message",
        "protocol_violation",
        "init_timeout",
        "ping_timeout",
        "misbehaving",
        "banned",
        "slow_reader",
        "shutdown",
    ];

    pub fn label(&self) -> &'static str {
        match self {
            EndReason::RemoteClosed => "remote_closed",
            EndReason::RemoteError => "remote_error",
            EndReason::WrongNetwork => "wrong_network",
            EndReason::UnknownFeature(_) => "unknown_feature",
            EndReason::UnknownEvenType(_) => "unknown_even_type",
            EndReason::MalformedMessage(_) => "malformed_message",
            EndReason::ProtocolViolation(_) => "protocol_violation",
            EndReason::InitTimeout => "init_timeout",
            EndReason::PingTimeout => "ping_timeout",
            EndReason::Misbehaving => "misbehaving",
            EndReason::Banned => "banned",
            EndReason::SlowReader => "slow_reader",
            EndReason::Shutdown => "shutdown",
            EndReason::Transport(err) => err.reason(),
        }
    }
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

/// Token bucket over inbound bytes: a peer over its rate is paced, not cut off.
struct ByteBucket {
    rate: u64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl ByteBucket {
    fn new(rate: u64, burst: u64) -> Self {
        let burst = burst.max(rate).max(1) as f64;
        ByteBucket {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Charges `bytes` and returns how long to wait before reading on.
    fn charge(&mut self, bytes: u64) -> Option<Duration> {
        if self.rate == 0 {
            return None;
        }
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate as f64;
        self.last = now;
        self.tokens = (self.tokens + refill).min(self.burst) - bytes as f64;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.rate as f64))
    }
}

/// Runs one session to its end: records it in the metrics and closes the connection (after
/// flushing a final `error` if we sent one).
pub async fn run_session<R, W>(
    mut reader: Bolt8Reader<R>,
    writer: Bolt8Writer<W>,
    remote: PublicKey,
    ctx: Arc<PeerContext>,
    mut shutdown: watch::Receiver<bool>,
) -> SessionReport
where
    R: AsyncRead + Unpin + 'static,
    W: AsyncWrite + Unpin + 'static,
{
    let started = Instant::now();
    let remote_id: PeerId = remote.serialize();
    let remote_hex = hex::encode(remote_id);
    // LND and CLN refuse a banned peer without a word: an error would only tell it to switch
    // node ids.
    if let Some(until) = ctx.scores.lock().banned_until(&remote_id, unix_now()) {
        tracing::info!(peer = %remote_hex, until, "refused a banned peer");
        ctx.metrics.peer_disconnected(EndReason::Banned.label());
        return SessionReport {
            reason: EndReason::Banned,
            lasted: started.elapsed(),
            gossip_frames: 0,
        };
    }
    let mut guard = ConnectedGuard::new(ctx.metrics.clone());
    let (tx, rx) = mpsc::channel(ctx.session.outbound_queue.max(1));
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    // A failed write breaks the socket, which the reader then reports, so the writer's own
    // result only matters for the log.
    let mut writer_task = actix::spawn(write_loop(writer, rx, queued_bytes.clone()));
    let mut session = Session {
        ctx: ctx.clone(),
        tx,
        queued_bytes,
        gossip_frames: 0,
        remote: remote_id,
        shard_penalties: PenaltyCounter::default(),
        shard_penalties_charged: 0,
        bucket: ByteBucket::new(ctx.session.inbound_bytes_per_sec, ctx.session.inbound_burst),
        pong_deadline: None,
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

async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: Bolt8Writer<W>,
    mut rx: mpsc::Receiver<Vec<u8>>,
    queued_bytes: Arc<AtomicUsize>,
) -> Result<(), TransportError> {
    while let Some(msg) = rx.recv().await {
        writer.write_message(&msg).await?;
        // Only once the kernel took it: until then the bytes are still ours to hold.
        queued_bytes.fetch_sub(msg.len(), Ordering::Relaxed);
    }
    // The session dropped its sender: close our direction so the peer reads a clean EOF.
    writer.shutdown().await
}

struct Session {
    ctx: Arc<PeerContext>,
    tx: mpsc::Sender<Vec<u8>>,
    /// Bytes in `tx` or being written, against `outbound_queue_bytes`.
    queued_bytes: Arc<AtomicUsize>,
    gossip_frames: u64,
    remote: PeerId,
    /// Bad signatures the shards found in this peer's messages after admission.
    shard_penalties: PenaltyCounter,
    /// How many of `shard_penalties` are already on the score board.
    shard_penalties_charged: u32,
    bucket: ByteBucket,
    pong_deadline: Option<tokio::time::Instant>,
}

impl Session {
    fn config(&self) -> &SessionConfig {
        &self.ctx.session
    }

    /// Queues `msg` for the writer. A full queue (in messages or bytes) means the peer
    /// stopped reading.
    fn send(&self, msg: Vec<u8>) -> Result<(), EndReason> {
        let len = msg.len();
        let queued = self.queued_bytes.fetch_add(len, Ordering::Relaxed) + len;
        if queued > self.config().outbound_queue_bytes {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            return Err(EndReason::SlowReader);
        }
        self.tx.try_send(msg).map_err(|err| {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            match err {
                mpsc::error::TrySendError::Full(_) => EndReason::SlowReader,
                // The writer ended on an error; the reader will see the broken socket too.
                mpsc::error::TrySendError::Closed(_) => EndReason::RemoteClosed,
            }
        })
    }

    /// Sends a connection-level `error` (best effort) and returns `reason`.
    fn fail(&self, text: &str, reason: EndReason) -> EndReason {
        let _ = self.send(bolt1::Error(ErrorMessage::connection(text)).serialize());
        reason
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
        loop {
            let deadline = self.pong_deadline;
            let step = tokio::select! {
                biased;
                _ = shutdown.changed() => Err(EndReason::Shutdown),
                _ = ping_tick.tick() => self.on_ping_tick(),
                _ = penalty_tick.tick() => self.check_penalties(),
                read = reader.read_message() => match read {
                    Ok(Some(msg)) => self.on_message(msg).await,
                    Ok(None) => Err(EndReason::RemoteClosed),
                    Err(err) => Err(EndReason::Transport(err)),
                },
                // After the read branch: a peer that is still streaming to us is alive, and a
                // pong queued behind its gossip is read before this can fire.
                _ = sleep_until_opt(deadline), if deadline.is_some() => Err(EndReason::PingTimeout),
            };
            if let Err(reason) = step {
                return reason;
            }
        }
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
        if features::is_set(&their_features, 6) || features::is_set(&their_features, 7) {
            self.send(
                GossipTimestampFilter {
                    chain_hash: chain,
                    first_timestamp: 0,
                    timestamp_range: u32::MAX,
                }
                .serialize(),
            )?;
        }
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

    async fn on_message(&mut self, msg: Vec<u8>) -> Result<(), EndReason> {
        if let Some(pause) = self.bucket.charge(msg.len() as u64 + FRAME_OVERHEAD) {
            tokio::time::sleep(pause).await;
        }
        let Some(msg_type) = bolt1::message_type(&msg) else {
            return Err(self.fail("message without a type", EndReason::MalformedMessage(0)));
        };
        let malformed =
            |s: &Self| s.fail("malformed message", EndReason::MalformedMessage(msg_type));
        match msg_type {
            CHANNEL_ANNOUNCEMENT | NODE_ANNOUNCEMENT | CHANNEL_UPDATE => self.on_gossip(msg).await,
            bolt1::PING => {
                let ping = Ping::parse(&msg).map_err(|_| malformed(self))?;
                // BOLT 1: a ping asking for 65532 bytes or more is ignored.
                if let Some(pong) = ping.pong_reply() {
                    self.send(pong.serialize())?;
                }
                Ok(())
            }
            bolt1::PONG => {
                Pong::parse(&msg).map_err(|_| malformed(self))?;
                self.pong_deadline = None;
                Ok(())
            }
            bolt1::WARNING => {
                let warning = Warning::parse(&msg).map_err(|_| malformed(self))?;
                // BOLT 1: the data is attacker-controlled; log it only sanitized.
                tracing::warn!(text = %warning.0.sanitized_data(), "peer sent a warning");
                Ok(())
            }
            bolt1::ERROR => {
                let error = bolt1::Error::parse(&msg).map_err(|_| malformed(self))?;
                tracing::warn!(text = %error.0.sanitized_data(), "peer sent an error");
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
                let query = QueryChannelRange::parse(&msg).map_err(|_| malformed(self))?;
                for reply in
                    channel_range_replies(&query, self.config().chain_hash, self.ctx.sieve.graph())
                {
                    self.send(reply.serialize())?;
                }
                Ok(())
            }
            queries::QUERY_SHORT_CHANNEL_IDS => {
                let query = QueryShortChannelIds::parse(&msg).map_err(|_| malformed(self))?;
                // We do not serve gossip yet; ending the query lets the peer move on.
                self.send(
                    ReplyShortChannelIdsEnd {
                        chain_hash: query.chain_hash,
                        full_information: u8::from(query.chain_hash == self.config().chain_hash),
                    }
                    .serialize(),
                )
            }
            queries::GOSSIP_TIMESTAMP_FILTER => {
                // Accepted; we relay nothing, so there is nothing to filter.
                GossipTimestampFilter::parse(&msg).map_err(|_| malformed(self))?;
                Ok(())
            }
            // Replies to queries we never sent: harmless, ignored.
            queries::REPLY_CHANNEL_RANGE | queries::REPLY_SHORT_CHANNEL_IDS_END => Ok(()),
            // BOLT 1: "upon receiving a message of odd, unknown type: MUST ignore".
            t if bolt1::is_odd(t) => Ok(()),
            // BOLT 1: "upon receiving a message of even, unknown type: MUST close the
            // connection; MAY fail the channels."
            t => Err(self.fail("unknown even message type", EndReason::UnknownEvenType(t))),
        }
    }

    async fn on_gossip(&mut self, msg: Vec<u8>) -> Result<(), EndReason> {
        self.gossip_frames += 1;
        // Backpressure: this resolves only once the sieve has taken the frame, and nothing
        // more is read from the socket meanwhile.
        let outcome = self
            .ctx
            .sieve
            .offer_from(msg, Some(self.shard_penalties.clone()))
            .await;
        if let Outcome::Dropped(reason) = outcome {
            if let Some(offense) = Offense::from_drop(reason) {
                self.charge(offense, 1)?;
            }
        }
        self.check_penalties()
    }

    /// Charges the bad signatures the shards found since the last check (in messages admitted
    /// earlier, so they could not be charged at admission).
    fn check_penalties(&mut self) -> Result<(), EndReason> {
        let found = self
            .shard_penalties
            .load(std::sync::atomic::Ordering::Relaxed);
        let new = found.saturating_sub(self.shard_penalties_charged);
        self.shard_penalties_charged = found;
        self.charge(Offense::InvalidSignature, new)
    }

    /// Adds `count` offenses to the peer's score; ends the session once the score says so.
    fn charge(&mut self, offense: Offense, count: u32) -> Result<(), EndReason> {
        if count == 0 {
            return Ok(());
        }
        let now = unix_now();
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
            Verdict::Ok => Ok(()),
            Verdict::Disconnect => {
                Err(self.fail("too many invalid gossip messages", EndReason::Misbehaving))
            }
            Verdict::Ban { until, reason } => {
                self.ctx.metrics.peer_banned(reason.as_str());
                tracing::warn!(
                    peer = %hex::encode(self.remote),
                    until,
                    reason = reason.as_str(),
                    "banned a misbehaving peer"
                );
                Err(self.fail("too many invalid gossip messages", EndReason::Misbehaving))
            }
        }
    }
}

/// Wall-clock seconds, the time base of bans (they must survive a restart).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

const PENALTY_CHECK_INTERVAL: Duration = Duration::from_millis(250);

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// BOLT 7 `reply_channel_range` answers for `query`: our channels in the block range, split so
/// each reply fits one message.
fn channel_range_replies(
    query: &QueryChannelRange,
    chain_hash: [u8; 32],
    graph: &Graph,
) -> Vec<ReplyChannelRange> {
    let first = query.first_blocknum;
    // BOLT 7: first_blocknum + number_of_blocks may overflow; treat the range as open-ended.
    let end = u64::from(first) + u64::from(query.number_of_blocks);
    let reply = |first_blocknum: u32, end: u64, ids: Vec<u64>, complete: u8| ReplyChannelRange {
        chain_hash: query.chain_hash,
        first_blocknum,
        number_of_blocks: u32::try_from(end.saturating_sub(u64::from(first_blocknum)))
            .unwrap_or(u32::MAX),
        sync_complete: complete,
        short_ids: EncodedList::Uncompressed(ids),
        timestamps: None,
        checksums: None,
        unknown_tlvs: Vec::new(),
    };
    // BOLT 7: "if it does not maintain up-to-date channel information for chain_hash: MUST
    // set sync_complete to 0."
    if query.chain_hash != chain_hash {
        return vec![reply(first, end, Vec::new(), 0)];
    }
    let scids = graph.scids_in_blocks(first, end);
    let chunks: Vec<&[u64]> = scids.chunks(SCIDS_PER_REPLY).collect();
    if chunks.is_empty() {
        return vec![reply(first, end, Vec::new(), 1)];
    }
    let block = |scid: u64| u32::try_from(scid >> 40).unwrap_or(u32::MAX);
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            // BOLT 7: replies are in ascending order, each first_blocknum not below the
            // previous one, the first not below the query's, the last reaching its end.
            let start = if i == 0 {
                first
            } else {
                chunk.first().map_or(first, |s| block(*s))
            };
            let stop = if i == last {
                end
            } else {
                chunk.last().map_or(end, |s| u64::from(block(*s)) + 1)
            };
            reply(start, stop, chunk.to_vec(), 1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::score::ScoreConfig;

    fn node(byte: u8) -> [u8; 33] {
        let mut id = [byte; 33];
        id[0] = 2;
        id
    }

    fn scid(block: u64, tx: u64) -> u64 {
        (block << 40) | (tx << 16)
    }

    fn query(chain_hash: [u8; 32], first: u32, number: u32) -> QueryChannelRange {
        QueryChannelRange {
            chain_hash,
            first_blocknum: first,
            number_of_blocks: number,
            query_option: None,
            unknown_tlvs: Vec::new(),
        }
    }

    #[test]
    fn channel_range_replies_cover_the_query_with_our_channels() {
        let graph = Graph::new();
        for (i, block) in [100u64, 150, 150, 300].iter().enumerate() {
            graph.insert_channel(scid(*block, i as u64), node(1), node(2), None);
        }
        let chain = [7; 32];
        let replies = channel_range_replies(&query(chain, 120, 100), chain, &graph);
        assert_eq!(replies.len(), 1);
        let r = &replies[0];
        assert_eq!(
            (r.first_blocknum, r.number_of_blocks, r.sync_complete),
            (120, 100, 1)
        );
        assert_eq!(
            r.short_ids,
            EncodedList::Uncompressed(vec![scid(150, 1), scid(150, 2)])
        );
        let other = channel_range_replies(&query([9; 32], 0, u32::MAX), chain, &graph);
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].sync_complete, 0);
        assert_eq!(other[0].short_ids, EncodedList::Uncompressed(vec![]));
    }

    #[test]
    fn large_ranges_are_split_in_ascending_replies_that_fit_a_message() {
        let graph = Graph::new();
        for i in 0..(SCIDS_PER_REPLY as u64 * 2 + 5) {
            graph.insert_channel(scid(1000 + i / 3, i % 3), node(1), node(2), None);
        }
        let chain = [7; 32];
        let replies = channel_range_replies(&query(chain, 0, u32::MAX), chain, &graph);
        assert_eq!(replies.len(), 3);
        let mut previous_first = 0;
        let mut total = 0;
        for r in &replies {
            assert!(r.first_blocknum >= previous_first);
            previous_first = r.first_blocknum;
            assert!(r.serialize().len() <= 65535);
            let ids = r.short_ids.values().expect("uncompressed");
            total += ids.len();
            for id in ids {
                let block = id >> 40;
                assert!(block >= u64::from(r.first_blocknum));
                assert!(block < u64::from(r.first_blocknum) + u64::from(r.number_of_blocks));
            }
        }
        assert_eq!(total, SCIDS_PER_REPLY * 2 + 5);
        let last = replies.last().expect("last");
        assert_eq!(
            u64::from(last.first_blocknum) + u64::from(last.number_of_blocks),
            u64::from(u32::MAX)
        );
    }

    #[test]
    fn byte_bucket_paces_after_the_burst() {
        let mut bucket = ByteBucket::new(1000, 2000);
        assert_eq!(bucket.charge(1500), None);
        let wait = bucket.charge(1500).expect("over the burst");
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_millis(1000));
        let mut unlimited = ByteBucket::new(0, 0);
        assert_eq!(unlimited.charge(u64::MAX / 2), None);
    }

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
            assert_eq!(
                remote.recv_type().await,
                Some(queries::REPLY_SHORT_CHANNEL_IDS_END)
            );
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

    #[test]
    fn labels_are_registered_disconnect_reasons() {
        for label in EndReason::LABELS
            .iter()
            .chain(TransportError::ALL_REASONS.iter())
        {
            assert!(
                crate::metrics::registry::DISCONNECT_REASONS.contains(label),
                "{label} missing from DISCONNECT_REASONS"
            );
        }
    }
}
