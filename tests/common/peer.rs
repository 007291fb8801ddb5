//! A scripted Lightning peer dialing the node over loopback BOLT 8: handshake, init, then
//! whatever the test sends. Reads answer the node's pings so a slow test is never mistaken for
//! a dead peer.

use std::net::SocketAddr;

use gossip_sieve::peer::identity::NodeIdentity;
use gossip_sieve::transport::{handshake_initiator_split, Bolt8Reader, Bolt8Writer};
use gossip_sieve::wire::bolt1::{self, Init, Ping, Pong};
use gossip_sieve::wire::queries::{self, QueryChannelRange, ReplyChannelRange};
use secp256k1::PublicKey;

use super::forge::chain;
use super::node::WAIT;
use super::tap::{Tap, TapControl};

/// `num_pong_bytes` of the pings [`TestPeer::barrier`] sends; the node's own pings ask for 0,
/// so a pong of this size can only answer ours.
const BARRIER_PONG_BYTES: u16 = 7;

pub struct TestPeer {
    pub reader: Bolt8Reader,
    pub writer: Bolt8Writer<Tap>,
    /// Breaks the next frame on demand.
    pub tap: TapControl,
}

impl TestPeer {
    /// Handshake and init exchange on our chain; the node's init must come first.
    pub async fn connect(listen: SocketAddr, node_id: &PublicKey) -> TestPeer {
        Self::connect_with_init(listen, node_id, &Init::ours(chain()).serialize()).await
    }

    /// Handshake, then `init` as our first message.
    pub async fn connect_with_init(
        listen: SocketAddr,
        node_id: &PublicKey,
        init: &[u8],
    ) -> TestPeer {
        Self::try_connect(listen, node_id, &NodeIdentity::random(), init)
            .await
            .expect("the node closed the connection instead of sending its init")
    }

    /// Handshake and init as `me`; `None` if the node closes the connection instead of
    /// sending its init (as it does to a banned peer).
    pub async fn connect_as(
        listen: SocketAddr,
        node_id: &PublicKey,
        me: &NodeIdentity,
    ) -> Option<TestPeer> {
        Self::try_connect(listen, node_id, me, &Init::ours(chain()).serialize()).await
    }

    /// Like [`TestPeer::connect`], but `None` if the node refuses the connection (closes it
    /// during the handshake or instead of sending its init).
    pub async fn try_connect_closed_ok(
        listen: SocketAddr,
        node_id: &PublicKey,
    ) -> Option<TestPeer> {
        let init = Init::ours(chain()).serialize();
        Self::try_connect(listen, node_id, &NodeIdentity::random(), &init).await
    }

    /// Like [`TestPeer::connect`], from source address `source` (any 127.x.y.z works on
    /// loopback), so per-address limits see a different peer.
    pub async fn connect_from(
        source: std::net::IpAddr,
        listen: SocketAddr,
        node_id: &PublicKey,
    ) -> Option<TestPeer> {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::new(source, 0))
            .expect("bind the source address");
        let stream = socket.connect(listen).await.expect("connect");
        let init = Init::ours(chain()).serialize();
        Self::handshake(stream, node_id, &NodeIdentity::random(), &init).await
    }

    async fn try_connect(
        listen: SocketAddr,
        node_id: &PublicKey,
        me: &NodeIdentity,
        init: &[u8],
    ) -> Option<TestPeer> {
        let stream = tokio::net::TcpStream::connect(listen)
            .await
            .expect("connect");
        Self::handshake(stream, node_id, me, init).await
    }

    async fn handshake(
        stream: tokio::net::TcpStream,
        node_id: &PublicKey,
        me: &NodeIdentity,
        init: &[u8],
    ) -> Option<TestPeer> {
        let (read_half, write_half) = stream.into_split();
        let (tap, control) = Tap::new(write_half);
        // A connection refused at accept fails here: no session.
        let (mut reader, mut writer) =
            handshake_initiator_split(read_half, tap, me.secret(), node_id, WAIT)
                .await
                .ok()?;
        // A refused peer may find the socket closed before its init is even written.
        let _ = writer.write_message(init).await;
        let first = tokio::time::timeout(WAIT, reader.read_message())
            .await
            .expect("the node neither sent its init nor closed");
        let first = first.ok()??;
        assert_eq!(bolt1::message_type(&first), Some(bolt1::INIT));
        Some(TestPeer {
            reader,
            writer,
            tap: control,
        })
    }

    pub async fn send(&mut self, msg: &[u8]) {
        self.writer.write_message(msg).await.expect("send");
    }

    pub async fn send_all(&mut self, msgs: &[Vec<u8>]) {
        for msg in msgs {
            self.send(msg).await;
        }
    }

    /// The next message that is not a ping (pings are answered); `None` once the node closed.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.reader.read_message())
                .await
                .expect("node sent nothing")
                .ok()??;
            if bolt1::message_type(&msg) != Some(bolt1::PING) {
                return Some(msg);
            }
            if let Some(pong) = Ping::parse(&msg).ok().and_then(|p| p.pong_reply()) {
                self.send(&pong.serialize()).await;
            }
        }
    }

    /// Returns once the node has handled everything sent before: it reads a connection in
    /// order and answers a ping only after the messages ahead of it were offered to the sieve.
    pub async fn barrier(&mut self) {
        let ping = Ping {
            num_pong_bytes: BARRIER_PONG_BYTES,
            ignored_len: 0,
        };
        self.send(&ping.serialize()).await;
        loop {
            let msg = self.next().await.expect("node closed before the pong");
            if bolt1::message_type(&msg) == Some(bolt1::PONG)
                && Pong::parse(&msg).map(|p| p.ignored_len) == Ok(BARRIER_PONG_BYTES)
            {
                return;
            }
        }
    }

    /// Every short channel id in the node's graph, asked with `query_channel_range`.
    pub async fn graph_scids(&mut self) -> Vec<u64> {
        let query = QueryChannelRange {
            chain_hash: chain(),
            first_blocknum: 0,
            number_of_blocks: u32::MAX,
            query_option: None,
            unknown_tlvs: Vec::new(),
        };
        self.send(&query.serialize()).await;
        let mut scids = Vec::new();
        loop {
            let msg = self.next().await.expect("node closed before replying");
            if bolt1::message_type(&msg) != Some(queries::REPLY_CHANNEL_RANGE) {
                continue;
            }
            let reply = ReplyChannelRange::parse(&msg).expect("reply_channel_range");
            scids.extend_from_slice(reply.short_ids.values().expect("uncompressed"));
            // The last reply reaches the end of the queried range.
            let end = u64::from(reply.first_blocknum) + u64::from(reply.number_of_blocks);
            if end >= u64::from(u32::MAX) {
                return scids;
            }
        }
    }

    /// Reads until the node closes the connection (a reset counts as closed); returns the
    /// types it sent.
    pub async fn read_to_close(&mut self) -> Vec<u16> {
        let mut types = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.reader.read_message()).await {
                Err(_) => panic!("node never closed the connection; it sent {types:?}"),
                Ok(Ok(Some(msg))) => types.extend(bolt1::message_type(&msg)),
                Ok(_) => return types,
            }
        }
    }
}
