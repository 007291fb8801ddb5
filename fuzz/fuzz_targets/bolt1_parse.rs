//! BOLT 1 messages, gossip queries, TLV streams, BigSize and address descriptors. No parser
//! panics; whatever parses re-parses from its own serialization to the same value, and the
//! messages whose layout leaves no freedom (init, query_channel_range) re-serialize to exactly
//! the input.
#![no_main]

use gossip_sieve::wire::bolt1::{Error, Init, Ping, Pong, Warning};
use gossip_sieve::wire::queries::{
    GossipTimestampFilter, QueryChannelRange, QueryShortChannelIds, ReplyChannelRange,
    ReplyShortChannelIdsEnd,
};
use gossip_sieve::wire::{address, bigsize, tlv};
use libfuzzer_sys::fuzz_target;

macro_rules! idempotent {
    ($ty:ty, $data:expr) => {
        if let Ok(m) = <$ty>::parse($data) {
            let bytes = m.serialize();
            assert_eq!(<$ty>::parse(&bytes), Ok(m), stringify!($ty));
            bytes
        } else {
            Vec::new()
        }
    };
}

fuzz_target!(|data: &[u8]| {
    let init = idempotent!(Init, data);
    if !init.is_empty() {
        assert_eq!(init, data, "init round trip");
    }
    let qcr = idempotent!(QueryChannelRange, data);
    if !qcr.is_empty() {
        assert_eq!(qcr, data, "query_channel_range round trip");
    }
    // Trailing bytes after the last field are an allowed extension and are not kept.
    for prefix in [
        idempotent!(Error, data),
        idempotent!(Warning, data),
        idempotent!(GossipTimestampFilter, data),
        idempotent!(ReplyShortChannelIdsEnd, data),
    ] {
        assert!(data.starts_with(&prefix));
    }
    let _ = idempotent!(Ping, data);
    let _ = idempotent!(Pong, data);
    let _ = idempotent!(ReplyChannelRange, data);
    let _ = idempotent!(QueryShortChannelIds, data);

    if let Ok(records) = tlv::decode_stream(data, |t| t % 4 == 0) {
        let mut out = Vec::new();
        tlv::encode_stream(&records, &mut out);
        assert_eq!(out, data, "tlv stream round trip");
    }
    if let Ok((value, used)) = bigsize::read(data) {
        let mut out = Vec::new();
        bigsize::write(value, &mut out);
        assert_eq!(Some(out.as_slice()), data.get(..used), "bigsize round trip");
    }
    if let Ok(addresses) = address::parse_addresses(data) {
        let mut out = Vec::new();
        address::write_addresses(&addresses, &mut out);
        assert_eq!(address::parse_addresses(&out), Ok(addresses));
    }
    let _ = tlv::read_truncated(data, 8);
});
