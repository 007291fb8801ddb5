//! The outbound side of a session: the queue of messages for the peer, bounded in messages and
//! in bytes, and the task that writes it to the socket. Everything we send goes through here
//! (replies, pings, errors now; streamed gossip when this node serves it), so the bound on
//! what a slow reader can make us hold lives in one place.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::AsyncWrite;
use tokio::sync::mpsc;

use super::end_reason::EndReason;
use crate::transport::{Bolt8Writer, TransportError};

/// The session's end of the outbound queue.
pub(super) struct Outbound {
    tx: mpsc::Sender<Vec<u8>>,
    /// Bytes in `tx` or being written, against `max_bytes`.
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
}

impl Outbound {
    /// Starts the writer task on the current actix arbiter; returns the queue and the task.
    pub(super) fn start<W: AsyncWrite + Unpin + 'static>(
        writer: Bolt8Writer<W>,
        max_messages: usize,
        max_bytes: usize,
    ) -> (
        Outbound,
        tokio::task::JoinHandle<Result<(), TransportError>>,
    ) {
        let (tx, rx) = mpsc::channel(max_messages.max(1));
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let task = actix::spawn(write_loop(writer, rx, queued_bytes.clone()));
        (
            Outbound {
                tx,
                queued_bytes,
                max_bytes,
            },
            task,
        )
    }

    /// Queues `msg` for the writer. A full queue (in messages or bytes) means the peer
    /// stopped reading.
    pub(super) fn send(&self, msg: Vec<u8>) -> Result<(), EndReason> {
        let len = msg.len();
        let queued = self.queued_bytes.fetch_add(len, Ordering::Relaxed) + len;
        if queued > self.max_bytes {
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
