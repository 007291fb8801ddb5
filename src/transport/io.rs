//! BOLT 8 over tokio: the handshake driven on a socket under a timeout, then a reader and a
//! writer half that yield and take whole decrypted messages. Framing only; no parsing.

use std::collections::VecDeque;
use std::ops::Range;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use secp256k1::{PublicKey, SecretKey};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::cipher::{CipherDirection, TransportKeys, HEADER_LEN, MAX_MESSAGE_LEN};
use super::crypto::MAC_LEN;
use super::error::TransportError;
use super::handshake::{InitiatorStart, ResponderStart, ACT_ONE_LEN, ACT_THREE_LEN, ACT_TWO_LEN};

/// Dials side of the handshake over a TCP stream; the whole exchange must finish in `timeout`.
pub async fn handshake_initiator(
    stream: TcpStream,
    our_key: &SecretKey,
    their_node_id: &PublicKey,
    timeout: Duration,
) -> Result<(Bolt8Reader, Bolt8Writer), TransportError> {
    let (r, w) = stream.into_split();
    handshake_initiator_split(r, w, our_key, their_node_id, timeout).await
}

/// Accepting side of the handshake over a TCP stream; returns the initiator's node id.
pub async fn handshake_responder(
    stream: TcpStream,
    our_key: &SecretKey,
    timeout: Duration,
) -> Result<(PublicKey, Bolt8Reader, Bolt8Writer), TransportError> {
    let (r, w) = stream.into_split();
    handshake_responder_split(r, w, our_key, timeout).await
}

/// [`handshake_initiator`] over any pair of halves (e.g. `tokio::io::split` of a duplex pipe).
pub async fn handshake_initiator_split<R, W>(
    mut reader: R,
    mut writer: W,
    our_key: &SecretKey,
    their_node_id: &PublicKey,
    timeout: Duration,
) -> Result<(Bolt8Reader<R>, Bolt8Writer<W>), TransportError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let start = InitiatorStart::new(our_key, their_node_id);
    let keys = tokio::time::timeout(timeout, async {
        let (act_one, awaiting) = start.act_one();
        writer.write_all(&act_one).await?;
        let mut act_two = [0u8; ACT_TWO_LEN];
        read_act(&mut reader, &mut act_two).await?;
        let (act_three, keys) = awaiting.process_act_two(&act_two)?;
        writer.write_all(&act_three).await?;
        Ok::<_, TransportError>(keys)
    })
    .await
    .map_err(|_| TransportError::HandshakeTimeout)??;
    Ok(halves(reader, writer, keys))
}

/// [`handshake_responder`] over any pair of halves.
pub async fn handshake_responder_split<R, W>(
    mut reader: R,
    mut writer: W,
    our_key: &SecretKey,
    timeout: Duration,
) -> Result<(PublicKey, Bolt8Reader<R>, Bolt8Writer<W>), TransportError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let start = ResponderStart::new(our_key);
    let (their_id, keys) = tokio::time::timeout(timeout, async {
        let mut act_one = [0u8; ACT_ONE_LEN];
        read_act(&mut reader, &mut act_one).await?;
        let (act_two, awaiting) = start.process_act_one(&act_one)?;
        writer.write_all(&act_two).await?;
        let mut act_three = [0u8; ACT_THREE_LEN];
        read_act(&mut reader, &mut act_three).await?;
        Ok::<_, TransportError>(awaiting.process_act_three(&act_three)?)
    })
    .await
    .map_err(|_| TransportError::HandshakeTimeout)??;
    let (r, w) = halves(reader, writer, keys);
    Ok((their_id, r, w))
}

async fn read_act<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
) -> Result<(), TransportError> {
    match reader.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(TransportError::HandshakeEof)
        }
        Err(e) => Err(TransportError::Io(e)),
    }
}

fn halves<R, W>(reader: R, writer: W, keys: TransportKeys) -> (Bolt8Reader<R>, Bolt8Writer<W>) {
    (
        Bolt8Reader::new(reader, keys.receiving),
        Bolt8Writer {
            inner: writer,
            cipher: keys.sending,
        },
    )
}

/// Bytes a read may bring in beyond the frame being completed: a read takes in every frame the
/// socket holds up to this much, so a peer streaming small gossip costs one read per ~30
/// frames instead of two per frame (header, then body). The buffer stays bounded by the larger
/// of this and one maximum frame.
const READ_AHEAD: usize = 8 << 10;

/// Reading half: yields whole decrypted messages.
///
/// [`Bolt8Reader::read_message`], [`Bolt8Reader::read_frame`] and [`Bolt8Reader::wait_frame`]
/// are cancel-safe: bytes already read and a header already decrypted are kept in `self`, so
/// they can sit in a `tokio::select!` beside a shutdown signal. After an error the stream is
/// out of sync and must be dropped.
pub struct Bolt8Reader<R = OwnedReadHalf> {
    inner: R,
    cipher: CipherDirection,
    buf: BytesMut,
    /// Set once the header of the current frame is decrypted: body length including its MAC.
    body_len: Option<usize>,
    /// Bytes at the front of `buf` already decrypted and handed out (or about to be, from
    /// `opened`): skipped once `opened` is empty.
    skip: usize,
    /// Frames [`Bolt8Reader::open_buffered`] decrypted in place and not yet handed out: where
    /// their plaintexts sit in `buf`, in order. At most the `max` a caller asked for.
    opened: VecDeque<Range<usize>>,
    /// A frame that failed to decrypt behind frames that opened: reported once those are
    /// handed out, so nothing the peer sent before it is lost.
    deferred: Option<TransportError>,
}

impl<R> Bolt8Reader<R> {
    /// A reader over any byte source carrying frames for `cipher` (the receiving direction of
    /// a completed handshake); `bench` uses it to decrypt a recorded stream from memory.
    pub fn new(inner: R, cipher: CipherDirection) -> Self {
        Bolt8Reader {
            inner,
            cipher,
            buf: BytesMut::new(),
            body_len: None,
            skip: 0,
            opened: VecDeque::new(),
            deferred: None,
        }
    }

    /// The receiving cipher, to go on decrypting the same stream from another source; only
    /// meaningful between frames.
    pub fn into_cipher(self) -> CipherDirection {
        self.cipher
    }

    /// Forgets what was handed out; only once every opened frame has been. A deferred error
    /// is due now.
    fn settle(&mut self) -> Result<(), TransportError> {
        if let Some(err) = self.deferred.take() {
            return Err(err);
        }
        self.buf.advance(std::mem::take(&mut self.skip));
        Ok(())
    }

    /// Whether a whole frame is in the buffer (decrypting its header if that is whole, as
    /// [`Self::open_buffered`] would); forgets what was handed out. Only with no opened
    /// frames waiting.
    fn frame_ready(&mut self) -> Result<bool, TransportError> {
        self.settle()?;
        let body_len = match self.body_len {
            Some(body_len) => body_len,
            None if self.buf.len() >= HEADER_LEN => {
                // Decrypt from the buffer, then advance past the header: no `split_to` handle
                // to create and drop per frame.
                let len = self.cipher.decrypt_header(&self.buf[..HEADER_LEN])?;
                self.buf.advance(HEADER_LEN);
                let body_len = usize::from(len) + MAC_LEN;
                self.body_len = Some(body_len);
                body_len
            }
            None => return Ok(false),
        };
        Ok(self.buf.len() >= body_len)
    }

    /// The next frame [`Self::open_buffered`] opened, if one is waiting (no read, no
    /// decryption).
    pub fn next_opened(&mut self) -> Option<&[u8]> {
        let range = self.opened.pop_front()?;
        self.buf.get(range)
    }

    /// The next message if a whole frame of it is already buffered (no read), decrypted in
    /// place in the read buffer; `None` when the next frame needs more bytes from the socket.
    /// A session drains what one read brought with it before it waits on anything else.
    pub fn next_buffered(&mut self) -> Result<Option<&[u8]>, TransportError> {
        if self.opened.is_empty() {
            self.open_buffered(1)?;
        }
        Ok(self.next_opened())
    }

    /// Decrypts in place, without reading, the whole frames already buffered, up to `max`
    /// waiting to be handed out ([`Self::next_buffered`] hands them out in order;
    /// [`Self::opened`] shows them first). A session opens what one read brought at once, so
    /// that it can start loading what each message will be looked up against into the CPU's
    /// cache while it still works on the ones before (the lookups then overlap instead of
    /// following one another). Returns how many it opened: none while opened frames wait. A
    /// frame that fails to decrypt behind some that opened is reported after them.
    pub fn open_buffered(&mut self, max: usize) -> Result<usize, TransportError> {
        if !self.opened.is_empty() {
            return Ok(0);
        }
        self.settle()?;
        let mut at = 0;
        while self.opened.len() < max {
            let body_len = match self.body_len {
                Some(body_len) => body_len,
                None => {
                    let Some(header) = self.buf.get(at..at + HEADER_LEN) else {
                        break;
                    };
                    match self.cipher.decrypt_header(header) {
                        Ok(len) => {
                            at += HEADER_LEN;
                            let body_len = usize::from(len) + MAC_LEN;
                            self.body_len = Some(body_len);
                            body_len
                        }
                        Err(err) => return self.defer(err.into(), at),
                    }
                }
            };
            let Some(body) = self.buf.get_mut(at..at + body_len) else {
                break;
            };
            match self.cipher.decrypt_body_in_place(body) {
                Ok(plain) => {
                    let plain_len = plain.len();
                    self.body_len = None;
                    self.opened.push_back(at..at + plain_len);
                    at += body_len;
                }
                Err(err) => return self.defer(err.into(), at),
            }
        }
        self.skip = at;
        Ok(self.opened.len())
    }

    /// A decryption failure at `at`: now if nothing before it opened, else after those.
    fn defer(&mut self, err: TransportError, at: usize) -> Result<usize, TransportError> {
        self.skip = at;
        if self.opened.is_empty() {
            return Err(err);
        }
        self.deferred = Some(err);
        Ok(self.opened.len())
    }

    /// The frames [`Self::open_buffered`] opened and not yet handed out, in order.
    pub fn opened(&self) -> impl Iterator<Item = &[u8]> {
        self.opened
            .iter()
            .filter_map(|range| self.buf.get(range.clone()))
    }

    /// The opened frame `index` places after the next one [`Self::next_opened`] hands out.
    pub fn opened_at(&self, index: usize) -> Option<&[u8]> {
        self.buf.get(self.opened.get(index)?.clone())
    }
}

impl<R: AsyncRead + Unpin> Bolt8Reader<R> {
    /// The next message, or `None` when the peer closed the connection between frames.
    pub async fn read_message(&mut self) -> Result<Option<Vec<u8>>, TransportError> {
        Ok(self.read_frame().await?.map(<[u8]>::to_vec))
    }

    /// [`Self::read_message`] without the copy: the plaintext is lent out of the read buffer
    /// until the next call.
    pub async fn read_frame(&mut self) -> Result<Option<&[u8]>, TransportError> {
        if !self.wait_frame().await? {
            return Ok(None);
        }
        self.next_buffered()
    }

    /// Waits until a frame can be handed out without reading (opened, or whole in the
    /// buffer); `false` when the peer closed the connection between frames.
    pub async fn wait_frame(&mut self) -> Result<bool, TransportError> {
        if !self.opened.is_empty() || self.deferred.is_some() {
            return Ok(true);
        }
        while !self.frame_ready()? {
            let need = self.body_len.unwrap_or(HEADER_LEN);
            // Room for the rest of this frame, or for `READ_AHEAD` bytes if that is more: the
            // buffer stays bounded by one maximum frame (or `READ_AHEAD`).
            self.buf
                .reserve(need.max(READ_AHEAD).saturating_sub(self.buf.len()));
            let n = self.inner.read_buf(&mut self.buf).await?;
            if n == 0 {
                if self.buf.is_empty() && self.body_len.is_none() {
                    return Ok(false);
                }
                return Err(TransportError::EofMidFrame);
            }
        }
        Ok(true)
    }
}

/// Writing half: encrypts and sends whole messages.
pub struct Bolt8Writer<W = OwnedWriteHalf> {
    inner: W,
    cipher: CipherDirection,
}

impl<W> Bolt8Writer<W> {
    /// A writer into any byte sink with `cipher` (the sending direction of a completed
    /// handshake); benches run a real session over in-memory halves with it.
    pub fn new(inner: W, cipher: CipherDirection) -> Self {
        Bolt8Writer { inner, cipher }
    }
}

impl<W: AsyncWrite + Unpin> Bolt8Writer<W> {
    /// Sends one message of at most 65535 bytes. Not cancel-safe: a cancelled write leaves a
    /// partial frame on the wire, so the connection must then be dropped.
    pub async fn write_message(&mut self, msg: &[u8]) -> Result<(), TransportError> {
        // BOLT 8: "The maximum size of any Lightning message MUST NOT exceed 65535 bytes."
        if msg.len() > MAX_MESSAGE_LEN {
            return Err(TransportError::OversizedFrame(msg.len()));
        }
        let frame = self.cipher.encrypt_message(msg)?;
        self.inner.write_all(&frame).await?;
        Ok(())
    }

    /// Flushes and closes the write direction (TCP FIN) so the peer reads a clean EOF.
    pub async fn shutdown(&mut self) -> Result<(), TransportError> {
        self.inner.shutdown().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secp256k1::Secp256k1;
    use tokio::net::TcpListener;

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn keypair(byte: u8) -> (SecretKey, PublicKey) {
        let sk = SecretKey::from_slice(&[byte; 32]).expect("key");
        (sk, PublicKey::from_secret_key(&Secp256k1::new(), &sk))
    }

    /// Message `i` of a stream: varied sizes including 0 and the 65535 maximum.
    fn message(i: usize, from: u8) -> Vec<u8> {
        let len = match i % 7 {
            0 => 0,
            1 => MAX_MESSAGE_LEN,
            _ => (i * 37) % 3000,
        };
        let mut msg = vec![from; len];
        if let Some(first) = msg.get_mut(..len.min(8)) {
            first.copy_from_slice(&(i as u64).to_be_bytes()[..len.min(8)]);
        }
        msg
    }

    async fn send_and_receive<R, W>(
        mut reader: Bolt8Reader<R>,
        mut writer: Bolt8Writer<W>,
        ours: u8,
        theirs: u8,
        count: usize,
    ) where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let sender = tokio::spawn(async move {
            for i in 0..count {
                writer
                    .write_message(&message(i, ours))
                    .await
                    .expect("write");
            }
            writer.shutdown().await.expect("shutdown");
        });
        for i in 0..count {
            let got = reader
                .read_message()
                .await
                .expect("read")
                .expect("not EOF yet");
            assert_eq!(got, message(i, theirs), "message {i}");
        }
        assert!(reader.read_message().await.expect("clean EOF").is_none());
        sender.await.expect("sender task");
    }

    #[tokio::test]
    async fn loopback_tcp_exchange_crosses_two_key_rotations() {
        // 2,100 messages use 4,200 nonces per direction: the key rotates four times each way.
        const COUNT: usize = 2_100;
        let (server_sk, server_pk) = keypair(0x21);
        let (client_sk, client_pk) = keypair(0x11);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let (their_id, r, w) = handshake_responder(stream, &server_sk, TIMEOUT)
                .await
                .expect("responder");
            assert_eq!(their_id, client_pk);
            send_and_receive(r, w, 0xbb, 0xaa, COUNT).await;
        });
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (r, w) = handshake_initiator(stream, &client_sk, &server_pk, TIMEOUT)
            .await
            .expect("initiator");
        send_and_receive(r, w, 0xaa, 0xbb, COUNT).await;
        server.await.expect("server task");
    }

    async fn responder_result(client_bytes: Vec<u8>) -> TransportError {
        let (server_sk, _) = keypair(0x21);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            stream.write_all(&client_bytes).await.expect("write");
            stream.shutdown().await.expect("shutdown");
            // Hold the socket open until the server has decided.
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink).await;
        });
        let (stream, _) = listener.accept().await.expect("accept");
        let err = handshake_responder(stream, &server_sk, TIMEOUT)
            .await
            .err()
            .expect("handshake must fail");
        client.abort();
        err
    }

    #[tokio::test]
    async fn garbage_instead_of_act_one_is_a_bad_act() {
        let err = responder_result(vec![0xff; ACT_ONE_LEN]).await;
        assert!(matches!(err, TransportError::BadAct(_)), "{err:?}");
        assert_eq!(err.reason(), "bad_act");
        // Right version byte, but not a point on the curve.
        let mut not_a_point = vec![0u8; ACT_ONE_LEN];
        not_a_point[1] = 0x02;
        let err = responder_result(not_a_point).await;
        assert!(matches!(err, TransportError::BadAct(_)), "{err:?}");
    }

    #[tokio::test]
    async fn short_act_one_then_close_is_handshake_eof() {
        let err = responder_result(b"GET / HTTP/1.1\r\n\r\n".to_vec()).await;
        assert!(matches!(err, TransportError::HandshakeEof), "{err:?}");
        assert_eq!(err.reason(), "handshake_eof");
    }

    /// On tokio's paused clock: the timeouts fire when the runtime has nothing else to do, at
    /// exactly their deadline in virtual time, however slow the machine is.
    #[tokio::test(start_paused = true)]
    async fn stalled_handshakes_time_out() {
        let (server_sk, server_pk) = keypair(0x21);
        let (client_sk, _) = keypair(0x11);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let short = Duration::from_millis(150);

        // A client that connects and never sends act one.
        let silent_client = TcpStream::connect(addr).await.expect("connect");
        let (stream, _) = listener.accept().await.expect("accept");
        let err = handshake_responder(stream, &server_sk, short)
            .await
            .err()
            .expect("timeout");
        assert_eq!(err.reason(), "handshake_timeout");
        drop(silent_client);

        // A server that accepts and never answers act one.
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (_silent_server, _) = listener.accept().await.expect("accept");
        let started = tokio::time::Instant::now();
        let err = handshake_initiator(stream, &client_sk, &server_pk, short)
            .await
            .err()
            .expect("timeout");
        assert!(matches!(err, TransportError::HandshakeTimeout), "{err:?}");
        // Not before the deadline (virtual time: the clock only moved by the timer).
        assert!(started.elapsed() >= short, "{:?}", started.elapsed());
    }

    /// A handshaken pair over an in-memory pipe, for frame-level fault injection.
    type DuplexEnd = (
        Bolt8Reader<tokio::io::ReadHalf<tokio::io::DuplexStream>>,
        Bolt8Writer<tokio::io::WriteHalf<tokio::io::DuplexStream>>,
    );

    async fn duplex_pair() -> (DuplexEnd, DuplexEnd) {
        let (server_sk, server_pk) = keypair(0x21);
        let (client_sk, _) = keypair(0x11);
        let (a, b) = tokio::io::duplex(1 << 20);
        let (ar, aw) = tokio::io::split(a);
        let (br, bw) = tokio::io::split(b);
        let (client, server) = tokio::join!(
            handshake_initiator_split(ar, aw, &client_sk, &server_pk, TIMEOUT),
            handshake_responder_split(br, bw, &server_sk, TIMEOUT),
        );
        let (_, sr, sw) = server.expect("responder");
        (client.expect("initiator"), (sr, sw))
    }

    #[tokio::test]
    async fn eof_mid_frame_is_an_error_and_between_frames_is_none() {
        let ((_, mut cw), (mut sr, _)) = duplex_pair().await;
        let frame = cw.cipher.encrypt_message(b"partial").expect("encrypt");
        cw.inner
            .write_all(&frame[..HEADER_LEN + 3])
            .await
            .expect("write");
        cw.inner.shutdown().await.expect("shutdown");
        let err = sr.read_message().await.expect_err("EOF mid-frame");
        assert_eq!(err.reason(), "eof_mid_frame");

        // EOF inside the 18-byte header counts as mid-frame too.
        let ((_, mut cw), (mut sr, _)) = duplex_pair().await;
        cw.inner.write_all(&[0u8; 5]).await.expect("write");
        cw.inner.shutdown().await.expect("shutdown");
        assert_eq!(
            sr.read_message().await.err().map(|e| e.reason()),
            Some("eof_mid_frame")
        );
    }

    #[tokio::test]
    async fn corrupted_frame_is_bad_mac() {
        let ((_, mut cw), (mut sr, _)) = duplex_pair().await;
        cw.write_message(b"first is fine").await.expect("write");
        let mut frame = cw
            .cipher
            .encrypt_message(b"second is corrupted")
            .expect("encrypt");
        if let Some(byte) = frame.last_mut() {
            *byte ^= 0x80;
        }
        cw.inner.write_all(&frame).await.expect("write");
        assert_eq!(
            sr.read_message().await.expect("read"),
            Some(b"first is fine".to_vec())
        );
        let err = sr.read_message().await.expect_err("bad MAC");
        assert_eq!(err.reason(), "bad_mac");
    }

    #[tokio::test]
    async fn oversized_write_is_refused_before_touching_the_wire() {
        let ((_, mut cw), (mut sr, _)) = duplex_pair().await;
        let err = cw
            .write_message(&vec![0u8; MAX_MESSAGE_LEN + 1])
            .await
            .expect_err("too big");
        assert_eq!(err.reason(), "oversized_frame");
        // The nonce did not advance, so the stream is still usable.
        cw.write_message(b"after").await.expect("write");
        assert_eq!(
            sr.read_message().await.expect("read"),
            Some(b"after".to_vec())
        );
    }

    #[tokio::test]
    async fn read_message_survives_cancellation() {
        let ((_, mut cw), (mut sr, _)) = duplex_pair().await;
        let frame = cw.cipher.encrypt_message(b"slow frame").expect("encrypt");
        let (head, tail) = frame.split_at(HEADER_LEN + 2);
        cw.inner.write_all(head).await.expect("write");
        // The read is cancelled after consuming the header and part of the body.
        let cancelled = tokio::time::timeout(Duration::from_millis(50), sr.read_message()).await;
        assert!(cancelled.is_err());
        cw.inner.write_all(tail).await.expect("write");
        assert_eq!(
            sr.read_message().await.expect("read"),
            Some(b"slow frame".to_vec())
        );
    }

    #[tokio::test]
    async fn one_read_brings_several_frames_that_are_drained_without_reading() {
        let ((_, mut cw), (mut sr, _)) = duplex_pair().await;
        let mut wire = Vec::new();
        for msg in [&b"one"[..], b"two", b"three"] {
            wire.extend(cw.cipher.encrypt_message(msg).expect("encrypt"));
        }
        let tail = cw.cipher.encrypt_message(b"four").expect("encrypt");
        // The fourth frame arrives only half: it must wait for the rest, not fail.
        wire.extend_from_slice(&tail[..HEADER_LEN + 1]);
        cw.inner.write_all(&wire).await.expect("write");
        assert_eq!(sr.read_frame().await.expect("read"), Some(&b"one"[..]));
        assert_eq!(sr.next_buffered().expect("buffered"), Some(&b"two"[..]));
        assert_eq!(sr.next_buffered().expect("buffered"), Some(&b"three"[..]));
        assert_eq!(sr.next_buffered().expect("partial"), None);
        assert_eq!(sr.next_buffered().expect("still partial"), None);
        cw.inner
            .write_all(&tail[HEADER_LEN + 1..])
            .await
            .expect("write");
        assert_eq!(sr.read_frame().await.expect("read"), Some(&b"four"[..]));
        assert_eq!(sr.next_buffered().expect("empty"), None);
        // A frame whose body fails its MAC is an error from the buffer too.
        let good = cw.cipher.encrypt_message(b"six").expect("encrypt");
        let mut bad = cw.cipher.encrypt_message(b"seven").expect("encrypt");
        if let Some(byte) = bad.last_mut() {
            *byte ^= 1;
        }
        cw.inner.write_all(&good).await.expect("write");
        cw.inner.write_all(&bad).await.expect("write");
        assert_eq!(sr.read_frame().await.expect("read"), Some(&b"six"[..]));
        // `six` and the bad frame may or may not have come in one read.
        let err = match sr.next_buffered() {
            Err(err) => err,
            Ok(_) => sr.read_frame().await.expect_err("bad MAC"),
        };
        assert_eq!(err.reason(), "bad_mac");
    }

    #[tokio::test]
    async fn a_read_is_opened_at_once_handed_out_in_order_and_a_bad_frame_reported_after() {
        let ((_, mut cw), (mut sr, _)) = duplex_pair().await;
        let mut wire = Vec::new();
        for msg in [&b"one"[..], b"", b"three", b"four"] {
            wire.extend(cw.cipher.encrypt_message(msg).expect("encrypt"));
        }
        let tail = cw.cipher.encrypt_message(b"five").expect("encrypt");
        // The fifth frame's header and part of its body only.
        wire.extend_from_slice(&tail[..HEADER_LEN + 2]);
        cw.inner.write_all(&wire).await.expect("write");
        assert!(sr.wait_frame().await.expect("a frame"));
        // At most `max` at a time; nothing more opens while those wait.
        assert_eq!(sr.open_buffered(3).expect("open"), 3);
        assert_eq!(sr.open_buffered(3).expect("waiting"), 0);
        let opened: Vec<&[u8]> = sr.opened().collect();
        assert_eq!(opened, [&b"one"[..], b"", b"three"]);
        assert_eq!(sr.opened_at(2), Some(&b"three"[..]));
        assert_eq!(sr.opened_at(3), None);
        assert_eq!(sr.next_opened(), Some(&b"one"[..]));
        assert_eq!(sr.opened_at(0), Some(&b""[..]));
        assert_eq!(sr.next_opened(), Some(&b""[..]));
        assert_eq!(sr.next_opened(), Some(&b"three"[..]));
        assert_eq!(sr.next_opened(), None);
        // The rest of the buffer: one whole frame, then the half one (its header decrypted).
        assert_eq!(sr.open_buffered(64).expect("open"), 1);
        assert_eq!(sr.next_opened(), Some(&b"four"[..]));
        assert_eq!(sr.open_buffered(64).expect("partial"), 0);
        cw.inner
            .write_all(&tail[HEADER_LEN + 2..])
            .await
            .expect("write");
        assert!(sr.wait_frame().await.expect("the rest"));
        assert_eq!(sr.open_buffered(64).expect("open"), 1);
        assert_eq!(sr.next_opened(), Some(&b"five"[..]));

        // Two good frames and a corrupted one in one write: the good ones first, then the
        // error; nothing the peer sent before the bad frame is lost.
        let mut wire = Vec::new();
        for msg in [&b"six"[..], b"seven"] {
            wire.extend(cw.cipher.encrypt_message(msg).expect("encrypt"));
        }
        let mut bad = cw.cipher.encrypt_message(b"eight").expect("encrypt");
        if let Some(byte) = bad.last_mut() {
            *byte ^= 1;
        }
        wire.extend(bad);
        cw.inner.write_all(&wire).await.expect("write");
        let mut got = Vec::new();
        let err = loop {
            match sr.wait_frame().await {
                Ok(true) => {}
                Ok(false) => panic!("closed"),
                Err(err) => break err,
            }
            match sr.open_buffered(64) {
                Ok(_) => {}
                Err(err) => break err,
            }
            while let Some(msg) = sr.next_opened() {
                got.push(msg.to_vec());
            }
        };
        assert_eq!(got, [b"six".to_vec(), b"seven".to_vec()]);
        assert_eq!(err.reason(), "bad_mac");
    }

    #[test]
    fn every_reason_is_listed() {
        let errors = [
            TransportError::HandshakeTimeout,
            TransportError::BadAct(super::super::handshake::HandshakeError::ShortRead(
                super::super::handshake::Act::One,
            )),
            TransportError::HandshakeEof,
            TransportError::BadMac,
            TransportError::OversizedFrame(70_000),
            TransportError::EofMidFrame,
            TransportError::Io(std::io::Error::other("x")),
        ];
        let reasons: Vec<&str> = errors.iter().map(TransportError::reason).collect();
        assert_eq!(reasons, TransportError::ALL_REASONS);
    }
}
