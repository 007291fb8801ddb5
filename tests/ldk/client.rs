//! A test-only BOLT 8 peer made of our `transport` and `wire` pieces: dials a node, exchanges
//! `init`, optionally asks for gossip with `gossip_timestamp_filter` and answers pings, and
//! counts the gossip it is sent. Each knob exists to show what the remote side requires.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use gossip_sieve::sim::corpus::BITCOIN_MAINNET_CHAIN_HASH;
use gossip_sieve::transport::handshake_initiator;
use gossip_sieve::wire::bolt1::{self, Init, Ping};
use gossip_sieve::wire::gossip::ChannelUpdate;
use gossip_sieve::wire::queries::GossipTimestampFilter;
use secp256k1::{PublicKey, SecretKey};
use tokio::net::TcpStream;
use tokio::time::Instant;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How the client behaves.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The `features` of our `init`.
    pub features: Vec<u8>,
    /// `Some(first_timestamp)`: send `gossip_timestamp_filter(first_timestamp, u32::MAX)`.
    pub filter_from: Option<u32>,
    pub answer_pings: bool,
}

impl Default for ClientOptions {
    /// What `gossip-sieve run` does: our features, a full-dump filter, pongs.
    fn default() -> Self {
        ClientOptions {
            features: bolt1::our_init_features(),
            filter_from: Some(0),
            answer_pings: true,
        }
    }
}

/// What the client saw.
#[derive(Clone, Debug, Default)]
pub struct Received {
    pub their_init: Option<Init>,
    pub channel_announcements: usize,
    pub channel_updates: usize,
    pub node_announcements: usize,
    pub pings: usize,
    pub pongs_sent: usize,
    /// Any other message type → count.
    pub other: BTreeMap<u16, usize>,
    /// (scid, direction) → timestamp of the last channel_update received.
    pub updates: BTreeMap<(u64, u8), u32>,
    /// The peer closed the connection.
    pub closed: bool,
}

impl Received {
    pub fn gossip(&self) -> usize {
        self.channel_announcements + self.channel_updates + self.node_announcements
    }

    /// Counts only (the per-channel map would bury an assertion message).
    pub fn summary(&self) -> String {
        format!(
            "init {}, {} channel_announcements, {} channel_updates, {} node_announcements, \
             {} pings, {} pongs sent, other types {:?}, closed {}",
            self.their_init.is_some(),
            self.channel_announcements,
            self.channel_updates,
            self.node_announcements,
            self.pings,
            self.pongs_sent,
            self.other,
            self.closed
        )
    }
}

/// Dials `node_id@addr`, runs the session with `opts`, and returns once `done` holds, the peer
/// closes, or `deadline` passes (whichever is first). Panics on transport or parse errors.
pub async fn run(
    addr: SocketAddr,
    node_id: PublicKey,
    opts: &ClientOptions,
    deadline: Duration,
    done: impl Fn(&Received) -> bool,
) -> Received {
    let key = SecretKey::new(&mut rand::thread_rng());
    let stream = TcpStream::connect(addr).await.expect("dial");
    let (mut reader, mut writer) = handshake_initiator(stream, &key, &node_id, HANDSHAKE_TIMEOUT)
        .await
        .expect("BOLT 8 handshake");
    let init = Init {
        features: opts.features.clone(),
        ..Init::ours(BITCOIN_MAINNET_CHAIN_HASH)
    };
    writer
        .write_message(&init.serialize())
        .await
        .expect("send init");

    let mut got = Received::default();
    let end = Instant::now() + deadline;
    while !done(&got) {
        let msg = match tokio::time::timeout_at(end, reader.read_message()).await {
            Err(_) => break,
            Ok(Ok(Some(msg))) => msg,
            Ok(Ok(None)) => {
                got.closed = true;
                break;
            }
            Ok(Err(e)) => {
                // LDK closes with a TCP reset at times; that is still "the peer closed".
                eprintln!("client read error: {e}");
                got.closed = true;
                break;
            }
        };
        let ty = bolt1::message_type(&msg).expect("message with a type");
        match ty {
            bolt1::INIT => {
                assert!(got.their_init.is_none(), "second init");
                got.their_init = Some(Init::parse(&msg).expect("their init"));
                if let Some(first_timestamp) = opts.filter_from {
                    let filter = GossipTimestampFilter {
                        chain_hash: BITCOIN_MAINNET_CHAIN_HASH,
                        first_timestamp,
                        timestamp_range: u32::MAX,
                    };
                    writer
                        .write_message(&filter.serialize())
                        .await
                        .expect("send filter");
                }
            }
            bolt1::PING => {
                got.pings += 1;
                if opts.answer_pings {
                    if let Some(pong) = Ping::parse(&msg).expect("ping").pong_reply() {
                        writer.write_message(&pong.serialize()).await.expect("pong");
                        got.pongs_sent += 1;
                    }
                }
            }
            256 => got.channel_announcements += 1,
            257 => got.node_announcements += 1,
            258 => {
                got.channel_updates += 1;
                let update = ChannelUpdate::parse(&msg).expect("channel_update");
                got.updates.insert(
                    (update.short_channel_id, update.channel_flags & 1),
                    update.timestamp,
                );
            }
            other => *got.other.entry(other).or_default() += 1,
        }
    }
    got
}
