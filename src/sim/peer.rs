//! Synthetic BOLT 8 peers for `demo` and tests: each is a responder on 127.0.0.1:0 with its
//! own key that, once dialed, completes the handshake, exchanges `init`, waits for our
//! `gossip_timestamp_filter`, streams every frame of a corpus file (answering pings meanwhile)
//! and closes cleanly. They run on their own thread and runtime, like a remote node would, so
//! the node's thread does only the node's work.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use secp256k1::SecretKey;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::config::PeerAddr;
use crate::peer::identity::NodeIdentity;
use crate::peer::open_frames;
use crate::transport::{handshake_responder, Bolt8Reader, Bolt8Writer};
use crate::wire::bolt1::{self, Init, Ping};
use crate::wire::queries::GOSSIP_TIMESTAMP_FILTER;

/// How a synthetic peer behaves.
#[derive(Clone, Debug)]
pub struct SyntheticConfig {
    pub chain_hash: [u8; 32],
    /// `false` makes a peer that never answers pings (to test `ping_timeout`).
    pub answer_pings: bool,
    /// Close the connection after the last frame; otherwise hold it open until the node
    /// closes it.
    pub close_when_done: bool,
    pub handshake_timeout: Duration,
    /// How long to wait for the node to close its side after we are done.
    pub linger: Duration,
}

impl SyntheticConfig {
    pub fn new(chain_hash: [u8; 32]) -> Self {
        SyntheticConfig {
            chain_hash,
            answer_pings: true,
            close_when_done: true,
            handshake_timeout: Duration::from_secs(10),
            linger: Duration::from_secs(30),
        }
    }
}

/// What one synthetic peer sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyntheticStats {
    pub frames_sent: u64,
    pub pings_answered: u64,
}

/// A set of running synthetic peers, each serving one connection.
pub struct SyntheticPeers {
    addresses: Vec<PeerAddr>,
    thread: std::thread::JoinHandle<Vec<anyhow::Result<SyntheticStats>>>,
}

impl SyntheticPeers {
    /// Binds `count` peers that will each stream `corpus`, and starts serving them.
    pub fn start(count: usize, corpus: &Path, config: SyntheticConfig) -> anyhow::Result<Self> {
        let mut listeners = Vec::with_capacity(count);
        let mut addresses = Vec::with_capacity(count);
        for _ in 0..count {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            listener.set_nonblocking(true)?;
            let identity = NodeIdentity::random();
            let local = listener.local_addr()?;
            addresses.push(PeerAddr {
                node_id: identity.node_id(),
                host: local.ip().to_string(),
                port: local.port(),
            });
            listeners.push((listener, *identity.secret()));
        }
        let corpus = corpus.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("synthetic-peers".into())
            .spawn(move || serve_all(listeners, corpus, config))?;
        Ok(SyntheticPeers { addresses, thread })
    }

    /// `<node_id>@127.0.0.1:<port>` of every peer, for the dialer.
    pub fn addresses(&self) -> &[PeerAddr] {
        &self.addresses
    }

    /// Waits until every peer has finished its connection.
    pub fn join(self) -> Vec<anyhow::Result<SyntheticStats>> {
        self.thread
            .join()
            .unwrap_or_else(|_| vec![Err(anyhow::anyhow!("synthetic peer thread panicked"))])
    }
}

fn serve_all(
    listeners: Vec<(std::net::TcpListener, SecretKey)>,
    corpus: PathBuf,
    config: SyntheticConfig,
) -> Vec<anyhow::Result<SyntheticStats>> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return vec![Err(err.into())],
    };
    runtime.block_on(async move {
        let mut tasks = Vec::with_capacity(listeners.len());
        for (listener, key) in listeners {
            let corpus = corpus.clone();
            let config = config.clone();
            tasks.push(tokio::spawn(async move {
                let listener = TcpListener::from_std(listener)?;
                let (stream, _) = listener.accept().await?;
                drop(listener);
                // With Nagle, delayed ACKs stall the stream (measured: 5x slower demo).
                stream.set_nodelay(true)?;
                serve(stream, key, &corpus, &config).await
            }));
        }
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            results.push(task.await.unwrap_or_else(|e| Err(e.into())));
        }
        results
    })
}

/// One connection, responder side.
pub async fn serve(
    stream: tokio::net::TcpStream,
    key: SecretKey,
    corpus: &Path,
    config: &SyntheticConfig,
) -> anyhow::Result<SyntheticStats> {
    let (_their_id, mut reader, mut writer) =
        handshake_responder(stream, &key, config.handshake_timeout).await?;
    let mut stats = SyntheticStats::default();
    writer
        .write_message(&Init::ours(config.chain_hash).serialize())
        .await?;
    wait_for_filter(&mut reader, &mut writer, config, &mut stats).await?;

    // From here a separate task reads (answering pings through `pongs`) while we stream.
    let (pongs, mut pong_rx) = mpsc::channel::<Vec<u8>>(64);
    let answer_pings = config.answer_pings;
    let read_task = tokio::spawn(read_until_closed(reader, pongs, answer_pings));
    let frames = open_frames(corpus).with_context(|| format!("opening {}", corpus.display()))?;
    for frame in frames {
        while let Ok(pong) = pong_rx.try_recv() {
            writer.write_message(&pong).await?;
            stats.pings_answered += 1;
        }
        writer.write_message(&frame?).await?;
        stats.frames_sent += 1;
    }
    if config.close_when_done {
        while let Ok(pong) = pong_rx.try_recv() {
            writer.write_message(&pong).await?;
            stats.pings_answered += 1;
        }
        // FIN, then keep reading until the node closes: closing with unread bytes in our
        // receive buffer would send a reset, which can discard frames the node has not read.
        writer.shutdown().await?;
        let _ = tokio::time::timeout(config.linger, read_task).await;
    } else {
        // Hold the connection open and keep answering (or ignoring) pings until the node
        // closes it.
        let deadline = tokio::time::sleep(config.linger);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                pong = pong_rx.recv() => match pong {
                    Some(pong) => {
                        writer.write_message(&pong).await?;
                        stats.pings_answered += 1;
                    }
                    None => break,
                },
            }
        }
        read_task.abort();
    }
    Ok(stats)
}

async fn wait_for_filter(
    reader: &mut Bolt8Reader<OwnedReadHalf>,
    writer: &mut Bolt8Writer<OwnedWriteHalf>,
    config: &SyntheticConfig,
    stats: &mut SyntheticStats,
) -> anyhow::Result<()> {
    loop {
        let msg = reader
            .read_message()
            .await?
            .context("node closed before asking for gossip")?;
        match bolt1::message_type(&msg) {
            Some(bolt1::PING) if config.answer_pings => {
                if let Some(pong) = Ping::parse(&msg)?.pong_reply() {
                    writer.write_message(&pong.serialize()).await?;
                    stats.pings_answered += 1;
                }
            }
            Some(GOSSIP_TIMESTAMP_FILTER) => return Ok(()),
            _ => {}
        }
    }
}

async fn read_until_closed(
    mut reader: Bolt8Reader<OwnedReadHalf>,
    pongs: mpsc::Sender<Vec<u8>>,
    answer_pings: bool,
) {
    while let Ok(Some(msg)) = reader.read_message().await {
        if !answer_pings || bolt1::message_type(&msg) != Some(bolt1::PING) {
            continue;
        }
        if let Some(pong) = Ping::parse(&msg).ok().and_then(|p| p.pong_reply()) {
            if pongs.send(pong.serialize()).await.is_err() {
                break;
            }
        }
    }
}
