//! Offline frame sources. A file is either a raw dump (records of `u16` big-endian length +
//! message) or a Core Lightning `gossip_store` (with or without its version byte), optionally
//! xz-compressed; the format is sniffed from the first bytes. Files are streamed, never read
//! whole, so memory does not grow with input size.

use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::Context as _;

use crate::store::dump::DumpReader;
use crate::store::{open_input, sniff, InputFormat, ReaderOptions, StoreReader};
use crate::wire::kind::message_kind;

pub type FrameIter = Box<dyn Iterator<Item = anyhow::Result<Vec<u8>>> + Send>;

/// Opens `path` and yields its gossip messages in file order. Deleted store records (superseded
/// updates) and store-internal records (amounts, uuid, ...) are skipped.
pub fn open_frames(path: &Path) -> anyhow::Result<FrameIter> {
    let input = open_input(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let head = reader
        .fill_buf()
        .with_context(|| format!("reading {}", path.display()))?
        .to_vec();
    match sniff(&head) {
        InputFormat::RawDump => Ok(Box::new(
            DumpReader::new(reader).map(|r| r.map_err(anyhow::Error::from)),
        )),
        InputFormat::GossipStore => {
            // Core Lightning's own readers do not check record crcs, and its real stores carry
            // records whose crc does not match (see store::reader), so replay doesn't either.
            let records = StoreReader::with_options(
                reader,
                ReaderOptions {
                    skip_deleted: true,
                    verify_crc: false,
                },
            )?;
            Ok(Box::new(records.filter_map(|record| match record {
                Ok(record) if message_kind(&record.msg).is_none() => None,
                Ok(record) => Some(Ok(record.msg)),
                Err(err) => Some(Err(anyhow::Error::from(err))),
            })))
        }
    }
}
