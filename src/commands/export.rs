//! `export`: a store on disk, offline, as LND `describegraph` JSON, Core Lightning
//! `listnodes`/`listchannels` JSON, an lnresearch topology dump (`gsp`), or a full Rapid Gossip
//! Sync snapshot (`rgs-v1`, `rgs-v2`: to host as a static file, and to time a build).
//!
//! `--at T` rebuilds the graph as it stood at unix time T from the superseded (DELETED) records
//! the store still holds: per channel direction and node, the newest message timestamped at or
//! before T; a channel counts once one of its updates is that old (an announcement carries no
//! time). Compaction drops superseded records, so after one, a key updated since T has lost the
//! version it had at T and is left out (its channel, if no direction survives); `--at` is exact
//! only back to the last compaction. Without `--at`, the latest graph in the store.
//!
//! `gsp` (lnresearch/topology): `GSP` and version byte 1, then each raw gossip message prefixed
//! with its length as a Bitcoin CompactSize. Without `--at` it holds every gossip record in the
//! store, superseded ones included (the history research tools replay); with `--at`, exactly
//! the messages of the graph at T.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::handout::model::{GraphModel, Selection};
use crate::handout::rgs::{serialize, RgsVersion};
use crate::handout::shapes::{write_graph, Shape};
use crate::store::first_seen::FirstSeen;
use crate::store::{ReaderOptions, RecordKind, StoreReader, STORE_FILE};
use crate::wire::gossip::{summarize, Summary};

/// Output format of `export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    LndJson,
    ClnJson,
    Gsp,
    /// A full Rapid Gossip Sync snapshot (v1), e.g. for static hosting.
    RgsV1,
    /// A full Rapid Gossip Sync snapshot (v2: node addresses and features).
    RgsV2,
}

pub struct ExportOptions {
    /// A data directory (holding `gossip_store`) or a store file.
    pub store: PathBuf,
    pub format: ExportFormat,
    pub at: Option<u32>,
    /// Standard output when `None`.
    pub out: Option<PathBuf>,
    /// The chain an RGS snapshot names (the store does not record it).
    pub chain_hash: [u8; 32],
}

fn store_path(store: &Path) -> PathBuf {
    if store.is_dir() {
        store.join(STORE_FILE)
    } else {
        store.to_path_buf()
    }
}

pub fn run(options: ExportOptions) -> anyhow::Result<()> {
    let path = store_path(&options.store);
    let selection = match options.at {
        Some(at) => Selection::At(at),
        None => Selection::Latest,
    };
    let out: Box<dyn Write> = match &options.out {
        Some(path) => Box::new(File::create(path)?),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 16, out);
    match options.format {
        ExportFormat::LndJson | ExportFormat::ClnJson => {
            let model = GraphModel::from_store(File::open(&path)?, selection)?;
            let shape = if options.format == ExportFormat::LndJson {
                Shape::Lnd
            } else {
                Shape::Cln
            };
            write_graph(&model, shape, &mut out)?;
        }
        ExportFormat::RgsV1 | ExportFormat::RgsV2 => {
            let mut model = GraphModel::from_store(File::open(&path)?, selection)?;
            // latest_seen: the asked time, or now; everything counts as seen by then.
            let latest_seen = options.at.unwrap_or_else(crate::clock::unix_now);
            model.assign_seen(&mut FirstSeen::in_memory(), latest_seen);
            let version = if options.format == ExportFormat::RgsV1 {
                RgsVersion::V1
            } else {
                RgsVersion::V2
            };
            let chain_hash = options.chain_hash;
            let (bytes, counts) = serialize(&model, &chain_hash, 0, latest_seen, version);
            eprintln!(
                "rgs: {} bytes, {}",
                bytes.len(),
                serde_json::to_string(&counts)?
            );
            out.write_all(&bytes)?;
        }
        ExportFormat::Gsp => {
            let wanted = match options.at {
                Some(at) => Some(wanted_at(&GraphModel::from_store(
                    File::open(&path)?,
                    Selection::At(at),
                )?)),
                None => None,
            };
            write_gsp(&path, wanted.as_ref(), &mut out)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// A message of the graph, by what identifies it: (kind, key, timestamp).
type MessageId = (u8, [u8; 33], u32);

fn scid_key(scid: u64, direction: u8) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[..8].copy_from_slice(&scid.to_be_bytes());
    key[8] = direction;
    key
}

fn announcement_id(scid: u64) -> MessageId {
    (0, scid_key(scid, 0), 0)
}

fn update_id(scid: u64, channel_flags: u8, timestamp: u32) -> MessageId {
    (1, scid_key(scid, channel_flags & 1), timestamp)
}

fn message_id(summary: &Summary) -> MessageId {
    match summary {
        Summary::ChannelAnnouncement {
            short_channel_id, ..
        } => announcement_id(*short_channel_id),
        Summary::ChannelUpdate {
            short_channel_id,
            timestamp,
            channel_flags,
            ..
        } => update_id(*short_channel_id, *channel_flags, *timestamp),
        Summary::NodeAnnouncement { node_id, timestamp } => (2, *node_id, *timestamp),
    }
}

/// The messages making up `model`.
fn wanted_at(model: &GraphModel) -> HashSet<MessageId> {
    let mut wanted = HashSet::new();
    for channel in model.channels.values() {
        let scid = channel.short_channel_id;
        wanted.insert(announcement_id(scid));
        for policy in channel.policies.iter().flatten() {
            wanted.insert(update_id(scid, policy.channel_flags, policy.timestamp));
        }
    }
    for node in model.nodes.iter().filter(|n| !n.channels.is_empty()) {
        if let Some(details) = &node.announcement {
            wanted.insert((2, node.node_id, details.timestamp));
        }
    }
    wanted
}

/// Bitcoin's CompactSize.
fn compact_size(value: u64, out: &mut impl Write) -> io::Result<()> {
    match value {
        0..=0xfc => out.write_all(&[value as u8]),
        0xfd..=0xffff => {
            out.write_all(&[0xfd])?;
            out.write_all(&(value as u16).to_le_bytes())
        }
        0x1_0000..=0xffff_ffff => {
            out.write_all(&[0xfe])?;
            out.write_all(&(value as u32).to_le_bytes())
        }
        _ => {
            out.write_all(&[0xff])?;
            out.write_all(&value.to_le_bytes())
        }
    }
}

fn write_gsp(
    path: &Path,
    wanted: Option<&HashSet<MessageId>>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let options = ReaderOptions {
        skip_deleted: false,
        verify_crc: false,
    };
    let mut reader = StoreReader::with_options(File::open(path)?, options)?;
    out.write_all(b"GSP\x01")?;
    let mut written = HashSet::new();
    while let Some(record) = reader.next_record()? {
        if !matches!(
            record.kind(),
            Some(
                RecordKind::ChannelAnnouncement
                    | RecordKind::ChannelUpdate
                    | RecordKind::NodeAnnouncement
            )
        ) {
            continue;
        }
        if let Some(wanted) = wanted {
            let Ok(summary) = summarize(&record.msg) else {
                continue;
            };
            let id = message_id(&summary);
            // A message stored twice (rewritten after a restart) is written once.
            if !wanted.contains(&id) || !written.insert(id) {
                continue;
            }
        }
        compact_size(record.msg.len() as u64, out)?;
        out.write_all(&record.msg)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_size_matches_bitcoin() {
        let encode = |v: u64| {
            let mut out = Vec::new();
            compact_size(v, &mut out).unwrap();
            out
        };
        assert_eq!(encode(0xfc), vec![0xfc]);
        assert_eq!(encode(0xfd), vec![0xfd, 0xfd, 0x00]);
        assert_eq!(encode(0x1234), vec![0xfd, 0x34, 0x12]);
        assert_eq!(encode(0x1_0000), vec![0xfe, 0, 0, 1, 0]);
        assert_eq!(encode(1 << 32), vec![0xff, 0, 0, 0, 0, 1, 0, 0, 0]);
    }
}
