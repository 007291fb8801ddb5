//! BOLT 1 setup and control messages (`init`, `error`, `warning`, `ping`, `pong`): parsing and
//! serialization, the message-type helpers, and the feature bits we advertise.

use super::bigsize::Reader;
use super::tlv::{self, TlvRecord};
use super::DecodeError;

pub use super::kind::message_type;

/// BOLT 1 `warning`.
pub const WARNING: u16 = 1;
/// BOLT 1 `init`.
pub const INIT: u16 = 16;
/// BOLT 1 `error`.
pub const ERROR: u16 = 17;
/// BOLT 1 `ping`.
pub const PING: u16 = 18;
/// BOLT 1 `pong`.
pub const PONG: u16 = 19;

/// `init` TLV 1: `networks`, a list of 32-byte chain hashes.
const INIT_TLV_NETWORKS: u64 = 1;
/// `init` TLV 3: `remote_addr`, the address the peer sees us at.
const INIT_TLV_REMOTE_ADDR: u64 = 3;

/// BOLT 1 ping: "if num_pong_bytes is less than 65532: MUST respond ... otherwise ... MUST
/// ignore the ping", since a pong of that size would not fit a 65535-byte message.
pub const MAX_NUM_PONG_BYTES: u16 = 65531;

/// BOLT 9 `gossip_queries`, optional bit.
pub const FEATURE_GOSSIP_QUERIES_OPTIONAL: usize = 7;
/// BOLT 9 `option_data_loss_protect`, optional bit.
pub const FEATURE_DATA_LOSS_PROTECT_OPTIONAL: usize = 1;
/// BOLT 9 `var_onion_optin`, optional bit.
pub const FEATURE_VAR_ONION_OPTIN_OPTIONAL: usize = 9;
/// BOLT 9 `option_static_remotekey`, optional bit.
pub const FEATURE_STATIC_REMOTEKEY_OPTIONAL: usize = 13;

/// The `features` field of the `init` we send. Only optional (odd) bits, so no peer can reject
/// us for a feature it lacks; the channel-related ones are set because implementations
/// disconnect peers that do not advertise them, even though we never open channels:
/// - bit 7 `gossip_queries`: we send `gossip_timestamp_filter` and the range queries; without it
///   BOLT 7 peers fall back to `initial_routing_sync` and may send nothing.
/// - bit 1 `option_data_loss_protect`: LND refuses peers without it.
/// - bit 9 `var_onion_optin`: ASSUMED by BOLT 9; peers treat its absence as a legacy node.
/// - bit 13 `option_static_remotekey`: LDK's peer handler disconnects peers without it
///   ("does not support static remote key"), as does LND.
///
/// Bit 3 `initial_routing_sync` stays clear: we ask for gossip with `gossip_timestamp_filter`.
pub fn our_init_features() -> Vec<u8> {
    features_from_bits(&[
        FEATURE_DATA_LOSS_PROTECT_OPTIONAL,
        FEATURE_GOSSIP_QUERIES_OPTIONAL,
        FEATURE_VAR_ONION_OPTIN_OPTIONAL,
        FEATURE_STATIC_REMOTEKEY_OPTIONAL,
    ])
}

/// Big-endian feature bitfield with the given bits set (bit 0 = least significant bit of the
/// last byte), as short as possible.
pub fn features_from_bits(bits: &[usize]) -> Vec<u8> {
    let len = bits.iter().map(|b| b / 8 + 1).max().unwrap_or(0);
    let mut out = vec![0u8; len];
    for &bit in bits {
        if let Some(byte) = out.get_mut(len - 1 - bit / 8) {
            *byte |= 1 << (bit % 8);
        }
    }
    out
}

/// BOLT 1 "it's ok to be odd": unknown odd types are ignored, unknown even types are fatal.
pub fn is_odd(t: u16) -> bool {
    t % 2 == 1
}

/// Checks the leading type and returns a reader over the payload after it.
fn expect_type(msg: &[u8], expected: u16) -> Result<Reader<'_>, DecodeError> {
    let mut r = Reader::new(msg);
    let t = r.u16()?;
    if t != expected {
        return Err(DecodeError::UnexpectedType(t));
    }
    Ok(r)
}

fn put_u16_prefixed(out: &mut Vec<u8>, data: &[u8]) {
    // Callers' fields come from u16-length wire fields or our own small constants; anything
    // longer is cut rather than producing a length that disagrees with the bytes.
    let len = data.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(data.get(..len).unwrap_or_default());
}

/// BOLT 1 `init` (type 16).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Init {
    /// Legacy `globalfeatures`; BOLT 1 says to read features as the OR of both fields.
    pub global_features: Vec<u8>,
    pub features: Vec<u8>,
    /// TLV 1: the chains the sender is interested in; `None` when absent.
    pub networks: Option<Vec<[u8; 32]>>,
    /// TLV 3: the sender's view of our address, raw (an `address.rs` descriptor).
    pub remote_addr: Option<Vec<u8>>,
    /// Unknown odd TLV records, kept for byte-exact re-serialization.
    pub unknown_tlvs: Vec<TlvRecord>,
}

impl Init {
    /// The `init` we send: our features and the one chain we follow.
    pub fn ours(chain_hash: [u8; 32]) -> Self {
        Init {
            global_features: Vec::new(),
            features: our_init_features(),
            networks: Some(vec![chain_hash]),
            remote_addr: None,
            unknown_tlvs: Vec::new(),
        }
    }

    pub fn parse(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = expect_type(msg, INIT)?;
        let global_features = r.u16_prefixed()?.to_vec();
        let features = r.u16_prefixed()?.to_vec();
        // BOLT 1: the `init_tlvs` extension; unknown even types fail the stream.
        let records = tlv::decode_stream(r.rest(), |t| {
            t == INIT_TLV_NETWORKS || t == INIT_TLV_REMOTE_ADDR
        })?;
        let mut init = Init {
            global_features,
            features,
            ..Init::default()
        };
        for record in records {
            match record.tlv_type {
                INIT_TLV_NETWORKS => {
                    // `networks` is `...*chain_hash`: a whole number of 32-byte hashes.
                    if record.value.len() % 32 != 0 {
                        return Err(DecodeError::BadLengthDescriptor);
                    }
                    let chains = record
                        .value
                        .chunks_exact(32)
                        .filter_map(|c| <[u8; 32]>::try_from(c).ok())
                        .collect();
                    init.networks = Some(chains);
                }
                INIT_TLV_REMOTE_ADDR => init.remote_addr = Some(record.value),
                _ => init.unknown_tlvs.push(record),
            }
        }
        Ok(init)
    }

    pub fn serialize(&self) -> Vec<u8> {
        let mut out = INIT.to_be_bytes().to_vec();
        put_u16_prefixed(&mut out, &self.global_features);
        put_u16_prefixed(&mut out, &self.features);
        let mut records = self.unknown_tlvs.clone();
        if let Some(networks) = &self.networks {
            records.push(TlvRecord {
                tlv_type: INIT_TLV_NETWORKS,
                value: networks.concat(),
            });
        }
        if let Some(addr) = &self.remote_addr {
            records.push(TlvRecord {
                tlv_type: INIT_TLV_REMOTE_ADDR,
                value: addr.clone(),
            });
        }
        tlv::encode_stream(&records, &mut out);
        out
    }

    /// BOLT 1: the receiver "MUST ... combine globalfeatures and features" (bitwise OR,
    /// right-aligned since bit 0 is the last byte's least significant bit).
    pub fn combined_features(&self) -> Vec<u8> {
        let (long, short) = if self.features.len() >= self.global_features.len() {
            (&self.features, &self.global_features)
        } else {
            (&self.global_features, &self.features)
        };
        let offset = long.len() - short.len();
        let mut out = long.clone();
        for (dst, src) in out.iter_mut().skip(offset).zip(short) {
            *dst |= src;
        }
        out
    }

    /// BOLT 1 networks: a node that sends no `networks` TLV is taken to follow every chain.
    pub fn follows_chain(&self, chain_hash: &[u8; 32]) -> bool {
        self.networks
            .as_ref()
            .is_none_or(|chains| chains.contains(chain_hash))
    }
}

/// BOLT 1 `error` (type 17) and `warning` (type 1) share this layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorMessage {
    /// All zero: about the connection, not one channel.
    pub channel_id: [u8; 32],
    pub data: Vec<u8>,
}

impl ErrorMessage {
    fn parse_as(msg: &[u8], t: u16) -> Result<Self, DecodeError> {
        let mut r = expect_type(msg, t)?;
        let channel_id = r.array32()?;
        let data = r.u16_prefixed()?.to_vec();
        // Bytes after `data` are a future extension and are ignored.
        Ok(ErrorMessage { channel_id, data })
    }

    fn serialize_as(&self, t: u16) -> Vec<u8> {
        let mut out = t.to_be_bytes().to_vec();
        out.extend_from_slice(&self.channel_id);
        put_u16_prefixed(&mut out, &self.data);
        out
    }

    /// A connection-level message (all-zero channel id) about `text`.
    pub fn connection(text: &str) -> Self {
        ErrorMessage {
            channel_id: [0; 32],
            data: text.as_bytes().to_vec(),
        }
    }

    /// BOLT 1: "the channel is referred to by channel_id, unless channel_id is 0 (i.e. all
    /// bytes are 0), in which case it refers to all channels".
    pub fn is_connection_level(&self) -> bool {
        self.channel_id == [0; 32]
    }

    /// `data` made safe for logs: BOLT 1 says to print it only "sanitized", as it is
    /// attacker-controlled.
    pub fn sanitized_data(&self) -> String {
        self.data
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    char::from(b)
                } else {
                    '?'
                }
            })
            .collect()
    }
}

/// BOLT 1 `error` (type 17).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub ErrorMessage);

/// BOLT 1 `warning` (type 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning(pub ErrorMessage);

impl Error {
    pub fn parse(msg: &[u8]) -> Result<Self, DecodeError> {
        ErrorMessage::parse_as(msg, ERROR).map(Error)
    }

    pub fn serialize(&self) -> Vec<u8> {
        self.0.serialize_as(ERROR)
    }
}

impl Warning {
    pub fn parse(msg: &[u8]) -> Result<Self, DecodeError> {
        ErrorMessage::parse_as(msg, WARNING).map(Warning)
    }

    pub fn serialize(&self) -> Vec<u8> {
        self.0.serialize_as(WARNING)
    }
}

/// BOLT 1 `ping` (type 18). The `ignored` bytes are only counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ping {
    pub num_pong_bytes: u16,
    pub ignored_len: u16,
}

impl Ping {
    pub fn parse(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = expect_type(msg, PING)?;
        let num_pong_bytes = r.u16()?;
        let ignored = r.u16_prefixed()?;
        Ok(Ping {
            num_pong_bytes,
            ignored_len: ignored.len() as u16,
        })
    }

    /// BOLT 1: the sender "MUST set ignored to 0s".
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = PING.to_be_bytes().to_vec();
        out.extend_from_slice(&self.num_pong_bytes.to_be_bytes());
        put_u16_prefixed(&mut out, &vec![0u8; usize::from(self.ignored_len)]);
        out
    }

    /// The pong to send back, or `None` when BOLT 1 says to ignore this ping.
    pub fn pong_reply(&self) -> Option<Pong> {
        // BOLT 1: "if num_pong_bytes is less than 65532: MUST respond by sending a pong
        // message, with byteslen equal to num_pong_bytes. otherwise: MUST ignore the ping."
        (self.num_pong_bytes <= MAX_NUM_PONG_BYTES).then_some(Pong {
            ignored_len: self.num_pong_bytes,
        })
    }
}

/// BOLT 1 `pong` (type 19).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pong {
    pub ignored_len: u16,
}

impl Pong {
    pub fn parse(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = expect_type(msg, PONG)?;
        let ignored = r.u16_prefixed()?;
        Ok(Pong {
            ignored_len: ignored.len() as u16,
        })
    }

    pub fn serialize(&self) -> Vec<u8> {
        let mut out = PONG.to_be_bytes().to_vec();
        put_u16_prefixed(&mut out, &vec![0u8; usize::from(self.ignored_len)]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::{hex, load};

    #[test]
    fn bolt1_init_extension_vectors() {
        let vectors = load("bolt1_vectors.json");
        let cases = vectors["init_extension"].as_array().expect("cases");
        assert_eq!(cases.len(), 5);
        for case in cases {
            let msg = hex(&case["msg"]);
            let parsed = Init::parse(&msg);
            if case["valid"].as_bool() == Some(true) {
                let init = parsed.unwrap_or_else(|e| panic!("{}: {e}", case["comment"]));
                assert_eq!(init.serialize(), msg, "{}", case["comment"]);
            } else {
                assert!(parsed.is_err(), "{} should fail", case["comment"]);
            }
        }
        let with_odd = Init::parse(&hex(&cases[1]["msg"])).expect("valid");
        let types: Vec<u64> = with_odd.unknown_tlvs.iter().map(|r| r.tlv_type).collect();
        assert_eq!(types, vec![0xc9, 0xcb]);
    }

    #[test]
    fn init_roundtrip_with_networks_and_remote_addr() {
        let mut init = Init::ours([0x6f; 32]);
        init.global_features = vec![0x02];
        init.remote_addr = Some(vec![1, 127, 0, 0, 1, 0x26, 0x07]);
        let bytes = init.serialize();
        assert_eq!(message_type(&bytes), Some(INIT));
        assert_eq!(Init::parse(&bytes), Ok(init.clone()));
        assert!(init.follows_chain(&[0x6f; 32]));
        assert!(!init.follows_chain(&[0; 32]));
        assert_eq!(init.combined_features(), vec![0x22, 0x82]);
        // A networks TLV that is not a whole number of hashes.
        let mut bad = Init::ours([0; 32]).serialize();
        bad.truncate(bad.len() - 34);
        bad.extend_from_slice(&[0x01, 0x21]);
        bad.extend_from_slice(&[0; 33]);
        assert_eq!(Init::parse(&bad), Err(DecodeError::BadLengthDescriptor));
    }

    #[test]
    fn our_features_are_the_documented_optional_bits() {
        // bits 13, 9 | 7, 1
        assert_eq!(our_init_features(), vec![0x22, 0x82]);
        assert_eq!(features_from_bits(&[]), Vec::<u8>::new());
        assert_eq!(features_from_bits(&[0, 8]), vec![0x01, 0x01]);
    }

    #[test]
    fn error_and_warning() {
        let err = Error(ErrorMessage::connection("bad\x07 thing"));
        let bytes = err.serialize();
        assert_eq!(message_type(&bytes), Some(ERROR));
        let parsed = Error::parse(&bytes).expect("parse");
        assert_eq!(parsed, err);
        assert!(parsed.0.is_connection_level());
        assert_eq!(parsed.0.sanitized_data(), "bad? thing");
        assert_eq!(
            Warning::parse(&bytes),
            Err(DecodeError::UnexpectedType(ERROR))
        );
        let warning = Warning(ErrorMessage {
            channel_id: [9; 32],
            data: vec![],
        });
        let mut bytes = warning.serialize();
        assert_eq!(bytes.len(), 2 + 32 + 2);
        bytes.extend_from_slice(&[0xaa; 3]); // extension bytes are ignored
        assert_eq!(Warning::parse(&bytes), Ok(warning));
        assert_eq!(
            Error::parse(&bytes[..20]),
            Err(DecodeError::UnexpectedType(WARNING))
        );
        let short = [0x00, 0x11, 0x00];
        assert_eq!(Error::parse(&short), Err(DecodeError::ShortRead));
    }

    #[test]
    fn ping_pong() {
        let ping = Ping {
            num_pong_bytes: 10,
            ignored_len: 4,
        };
        let bytes = ping.serialize();
        assert_eq!(bytes, hex(&"0012000a000400000000".into()));
        assert_eq!(Ping::parse(&bytes), Ok(ping));
        let pong = ping.pong_reply().expect("reply");
        assert_eq!(pong.ignored_len, 10);
        assert_eq!(Pong::parse(&pong.serialize()), Ok(pong));
        // BOLT 1: 65532 and above are ignored, 65531 still answered.
        for (n, answered) in [(65531, true), (65532, false), (u16::MAX, false)] {
            let p = Ping {
                num_pong_bytes: n,
                ignored_len: 0,
            };
            assert_eq!(p.pong_reply().is_some(), answered, "{n}");
        }
        // Declared ignored bytes missing.
        assert_eq!(
            Ping::parse(&[0, 18, 0, 1, 0, 5, 0]),
            Err(DecodeError::ShortRead)
        );
        assert_eq!(Pong::parse(&[0, 19, 0, 2, 0]), Err(DecodeError::ShortRead));
    }

    #[test]
    fn message_type_and_parity() {
        assert_eq!(message_type(&[]), None);
        assert_eq!(message_type(&[1]), None);
        assert_eq!(message_type(&[0x01, 0x02, 0xff]), Some(258));
        assert!(is_odd(WARNING) && is_odd(PONG) && is_odd(257));
        assert!(!is_odd(INIT) && !is_odd(PING) && !is_odd(256));
    }

    mod round_trip {
        use super::super::*;
        use proptest::collection::vec;
        use proptest::option;
        use proptest::prelude::*;

        use crate::wire::tlv::strategies::odd_tlvs;

        fn init() -> impl Strategy<Value = Init> {
            (
                vec(any::<u8>(), 0..8),
                vec(any::<u8>(), 0..8),
                option::of(vec(any::<[u8; 32]>(), 0..3)),
                option::of(vec(any::<u8>(), 0..20)),
                odd_tlvs(3),
            )
                .prop_map(
                    |(global_features, features, networks, remote_addr, unknown_tlvs)| Init {
                        global_features,
                        features,
                        networks,
                        remote_addr,
                        unknown_tlvs,
                    },
                )
        }

        fn error_message() -> impl Strategy<Value = ErrorMessage> {
            (any::<[u8; 32]>(), vec(any::<u8>(), 0..100))
                .prop_map(|(channel_id, data)| ErrorMessage { channel_id, data })
        }

        proptest! {
            #[test]
            fn valid_messages_round_trip(
                init in init(),
                error in error_message(),
                warning in error_message(),
                num_pong_bytes in any::<u16>(),
                ignored_len in 0u16..2000,
            ) {
                let bytes = init.serialize();
                prop_assert_eq!(Init::parse(&bytes), Ok(init.clone()));
                prop_assert_eq!(Init::parse(&bytes).map(|m| m.serialize()), Ok(bytes));

                let error = Error(error);
                let bytes = error.serialize();
                prop_assert_eq!(Error::parse(&bytes), Ok(error));
                prop_assert_eq!(Error::parse(&bytes).map(|m| m.serialize()), Ok(bytes));
                let warning = Warning(warning);
                let bytes = warning.serialize();
                prop_assert_eq!(Warning::parse(&bytes), Ok(warning));
                prop_assert_eq!(Warning::parse(&bytes).map(|m| m.serialize()), Ok(bytes));

                let ping = Ping { num_pong_bytes, ignored_len };
                let bytes = ping.serialize();
                prop_assert_eq!(Ping::parse(&bytes), Ok(ping));
                prop_assert_eq!(Ping::parse(&bytes).map(|m| m.serialize()), Ok(bytes));
                let pong = Pong { ignored_len };
                let bytes = pong.serialize();
                prop_assert_eq!(Pong::parse(&bytes), Ok(pong));
                prop_assert_eq!(Pong::parse(&bytes).map(|m| m.serialize()), Ok(bytes));
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = Init::parse(&bytes);
            let _ = Error::parse(&bytes);
            let _ = Warning::parse(&bytes);
            let _ = Ping::parse(&bytes);
            let _ = Pong::parse(&bytes);
        }
    }
}
