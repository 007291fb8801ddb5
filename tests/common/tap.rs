//! A write half that can break the BOLT 8 stream on purpose: cut the next frame short or
//! corrupt one byte of it, the two faults no honest writer can produce.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use tokio::net::tcp::OwnedWriteHalf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Bytes pass unchanged.
    None,
    /// The next write sends only its first `n` bytes; everything after is swallowed.
    CutAfter(usize),
    /// The last byte of the next write (a frame's body MAC) is flipped.
    CorruptLastByte,
}

/// Shared switch between a test and its [`Tap`].
#[derive(Clone)]
pub struct TapControl(Arc<Mutex<Fault>>);

impl TapControl {
    pub fn set(&self, fault: Fault) {
        *self.0.lock().expect("tap") = fault;
    }
}

pub struct Tap {
    inner: OwnedWriteHalf,
    fault: Arc<Mutex<Fault>>,
    /// After a cut nothing more may reach the wire.
    swallowing: bool,
}

impl Tap {
    pub fn new(inner: OwnedWriteHalf) -> (Tap, TapControl) {
        let fault = Arc::new(Mutex::new(Fault::None));
        let control = TapControl(fault.clone());
        let tap = Tap {
            inner,
            fault,
            swallowing: false,
        };
        (tap, control)
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.swallowing {
            return Poll::Ready(Ok(buf.len()));
        }
        let fault = *self.fault.lock().expect("tap");
        match fault {
            Fault::None => Pin::new(&mut self.inner).poll_write(cx, buf),
            Fault::CutAfter(n) => {
                let head = &buf[..n.min(buf.len())];
                // A few bytes into an idle socket: written whole or not at all.
                let written = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, head))?;
                assert_eq!(written, head.len(), "short write of the cut frame");
                self.swallowing = true;
                Poll::Ready(Ok(buf.len()))
            }
            Fault::CorruptLastByte => {
                let mut corrupted = buf.to_vec();
                if let Some(last) = corrupted.last_mut() {
                    *last ^= 1;
                }
                let written =
                    std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &corrupted))?;
                assert_eq!(
                    written,
                    corrupted.len(),
                    "short write of the corrupted frame"
                );
                *self.fault.lock().expect("tap") = Fault::None;
                Poll::Ready(Ok(written))
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
