//! The outbound side of a session: what we queue for the peer and the task that writes it to
//! the socket. Everything we send goes through here, so the bound on what a slow reader can
//! make us hold lives in one place. Three lanes, written in priority order:
//!
//! 1. control (init, pings, pongs, warnings, errors, our filter): never waits; bounded in
//!    messages and bytes, and a peer that lets it fill has stopped reading (`slow_reader`).
//!    First, so a pong is never queued behind gossip (stock LDK paces its sync by pings).
//! 2. query replies: the reply task waits while the lane is full; ahead of the stream, as
//!    issue 12 asks.
//! 3. streamed gossip: the stream waits while the lane is full, so a slow reader is streamed
//!    more slowly and never buffered without bound, and never disconnected for it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::end_reason::EndReason;
use crate::peer::serve::metrics::ServeMetrics;
use crate::transport::{Bolt8Writer, TransportError};
use crate::wire::kind::message_kind;

/// Messages a waiting lane holds at most (its byte bound usually binds first).
const LANE_MESSAGES: usize = 256;

/// The session's end of the outbound queue.
pub(super) struct Outbound {
    control: mpsc::Sender<Vec<u8>>,
    /// Bytes in `control` or being written, against `max_bytes`.
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    pub(super) replies: Lane,
    pub(super) stream: Lane,
    serve: Arc<ServeMetrics>,
}

/// Byte bounds of the two waiting lanes.
pub(super) struct LaneBytes {
    pub(super) replies: usize,
    pub(super) stream: usize,
}

/// A lane whose sender waits for room: bounded in messages and in bytes (a permit per byte,
/// held until the writer has handed the message to the kernel).
#[derive(Clone)]
pub(super) struct Lane {
    tx: mpsc::Sender<Queued>,
    bytes: Arc<Semaphore>,
    max_bytes: u32,
    serve: Arc<ServeMetrics>,
}

/// The writer is gone (the session ended or the socket broke).
#[derive(Debug)]
pub(super) struct Closed;

struct Queued {
    msg: Vec<u8>,
    _permit: OwnedSemaphorePermit,
}

impl Lane {
    fn new(capacity_bytes: usize, serve: Arc<ServeMetrics>) -> (Lane, mpsc::Receiver<Queued>) {
        let (tx, rx) = mpsc::channel(LANE_MESSAGES);
        let max_bytes = u32::try_from(capacity_bytes.max(1)).unwrap_or(u32::MAX);
        let bytes = Arc::new(Semaphore::new(max_bytes as usize));
        (
            Lane {
                tx,
                bytes,
                max_bytes,
                serve,
            },
            rx,
        )
    }

    /// Queues `msg`, waiting while the lane is full. A message larger than the whole lane
    /// waits for the lane to be empty.
    pub(super) async fn send(&self, msg: Vec<u8>) -> Result<(), Closed> {
        let need = u32::try_from(msg.len())
            .unwrap_or(u32::MAX)
            .clamp(1, self.max_bytes);
        let permit = self
            .bytes
            .clone()
            .acquire_many_owned(need)
            .await
            .map_err(|_| Closed)?;
        let len = msg.len();
        self.serve.outbound_buffer_bytes.add(len as i64);
        self.serve.outbound_buffer_messages.inc();
        self.tx
            .send(Queued {
                msg,
                _permit: permit,
            })
            .await
            .map_err(|_| {
                self.serve.outbound_buffer_bytes.sub(len as i64);
                self.serve.outbound_buffer_messages.dec();
                Closed
            })
    }
}

impl Outbound {
    /// Starts the writer task on the current tokio runtime; returns the queue and the task.
    pub(super) fn start<W: AsyncWrite + Unpin + Send + 'static>(
        writer: Bolt8Writer<W>,
        max_messages: usize,
        max_bytes: usize,
        lanes: LaneBytes,
        serve: Arc<ServeMetrics>,
    ) -> (
        Outbound,
        tokio::task::JoinHandle<Result<(), TransportError>>,
    ) {
        let (control, control_rx) = mpsc::channel(max_messages.max(1));
        let (replies, replies_rx) = Lane::new(lanes.replies, serve.clone());
        let (stream, stream_rx) = Lane::new(lanes.stream, serve.clone());
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(write_loop(
            writer,
            Receivers {
                control: control_rx,
                replies: replies_rx,
                stream: stream_rx,
            },
            queued_bytes.clone(),
            serve.clone(),
        ));
        (
            Outbound {
                control,
                queued_bytes,
                max_bytes,
                replies,
                stream,
                serve,
            },
            task,
        )
    }

    /// Queues `msg` on the control lane. A full lane (in messages or bytes) means the peer
    /// stopped reading.
    pub(super) fn send(&self, msg: Vec<u8>) -> Result<(), EndReason> {
        let len = msg.len();
        let queued = self.queued_bytes.fetch_add(len, Ordering::Relaxed) + len;
        if queued > self.max_bytes {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            return Err(EndReason::SlowReader);
        }
        match self.control.try_send(msg) {
            Ok(()) => {
                self.serve.outbound_buffer_bytes.add(len as i64);
                self.serve.outbound_buffer_messages.inc();
                Ok(())
            }
            Err(err) => {
                self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                Err(match err {
                    mpsc::error::TrySendError::Full(_) => EndReason::SlowReader,
                    // The writer ended on an error; the reader will see the broken socket too.
                    mpsc::error::TrySendError::Closed(_) => EndReason::RemoteClosed,
                })
            }
        }
    }
}

struct Receivers {
    control: mpsc::Receiver<Vec<u8>>,
    replies: mpsc::Receiver<Queued>,
    stream: mpsc::Receiver<Queued>,
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: Bolt8Writer<W>,
    mut rx: Receivers,
    queued_bytes: Arc<AtomicUsize>,
    serve: Arc<ServeMetrics>,
) -> Result<(), TransportError> {
    loop {
        // The control lane closing is the session ending: the waiting lanes' producers are
        // stopped with it, and what they still hold is dropped.
        let (msg, control) = tokio::select! {
            biased;
            msg = rx.control.recv() => match msg {
                Some(msg) => (msg, true),
                None => break,
            },
            Some(queued) = rx.replies.recv() => (queued.msg, false),
            Some(queued) = rx.stream.recv() => (queued.msg, false),
        };
        let written = writer.write_message(&msg).await;
        // Only once the kernel took it: until then the bytes are still ours to hold.
        serve.outbound_buffer_bytes.sub(msg.len() as i64);
        serve.outbound_buffer_messages.dec();
        if control {
            queued_bytes.fetch_sub(msg.len(), Ordering::Relaxed);
        }
        if let Err(err) = written {
            drain(&mut rx, &serve);
            return Err(err);
        }
        if let Some(kind) = message_kind(&msg) {
            serve.gossip_sent(kind, msg.len());
        }
    }
    drain(&mut rx, &serve);
    // The session dropped its sender: close our direction so the peer reads a clean EOF.
    writer.shutdown().await
}

/// Whatever the lanes still hold is no longer buffered for anyone: out of the gauges.
fn drain(rx: &mut Receivers, serve: &ServeMetrics) {
    rx.control.close();
    while let Ok(msg) = rx.control.try_recv() {
        serve.outbound_buffer_bytes.sub(msg.len() as i64);
        serve.outbound_buffer_messages.dec();
    }
    for lane in [&mut rx.replies, &mut rx.stream] {
        lane.close();
        while let Ok(queued) = lane.try_recv() {
            serve.outbound_buffer_bytes.sub(queued.msg.len() as i64);
            serve.outbound_buffer_messages.dec();
        }
    }
}
