//! Restart: rebuild the graph index from our own `gossip_store` without checking a single
//! signature. Every record was verified before it was written and carries a crc; recovery has
//! already cut the file at the first torn or crc-failing record, so what is left is trusted.
//!
//! Records are applied in file order. A live record that the graph already holds something
//! newer for (possible only in a file we did not write) is flagged DELETED so the file and the
//! index agree; a node_announcement that precedes all of its channels is applied after the
//! scan.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::error::StoreError;
use super::reader::{ReaderOptions, StoreReader};
use super::record::RecordKind;
use super::recovery::RecoveryReport;
use super::writer::StoreWriter;
use crate::graph::{Graph, NodeId, Stamp};
use crate::metrics::Metrics;
use crate::wire::gossip::{summarize, Summary};

/// File name of the store inside the data directory, as in Core Lightning.
pub const STORE_FILE: &str = "gossip_store";

/// What opening the store found.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct LoadReport {
    pub path: PathBuf,
    /// No store existed; a new one was created.
    pub created: bool,
    /// File length before recovery.
    pub original_bytes: u64,
    /// Bytes cut from a torn tail (incomplete or crc-failing records).
    pub bytes_truncated: u64,
    /// Why the tail was cut, if it was.
    pub torn: Option<String>,
    /// Records read (deleted ones included).
    pub records: u64,
    pub deleted_records: u64,
    pub channels: usize,
    pub nodes: usize,
    pub channel_updates: u64,
    pub node_announcements: u64,
    /// Live records the index did not take (older than another live record for the key, or
    /// unknown channel), now flagged DELETED.
    pub flagged_deleted: u64,
    /// Live records of other kinds (amounts, uuid, tombstones) or that did not parse.
    pub skipped: u64,
    pub file_bytes: u64,
    /// Open + recovery + index rebuild.
    pub seconds: f64,
}

/// Open (recovering) or create `<data_dir>/gossip_store`, load it into `graph`, and close it.
pub fn load(data_dir: &Path, graph: &Graph, metrics: &Metrics) -> Result<LoadReport, StoreError> {
    let (mut writer, report) = open_and_load(data_dir, graph, metrics)?;
    writer.flush_and_sync()?;
    Ok(report)
}

/// [`load`], keeping the writer open for the store actor.
pub fn open_and_load(
    data_dir: &Path,
    graph: &Graph,
    metrics: &Metrics,
) -> Result<(StoreWriter, LoadReport), StoreError> {
    let started = Instant::now();
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(STORE_FILE);
    let (mut writer, recovery) = StoreWriter::open_or_create(&path)?;
    let mut report = LoadReport {
        path: path.clone(),
        created: recovery.is_none(),
        ..LoadReport::default()
    };
    if let Some(RecoveryReport {
        original_len,
        bytes_truncated,
        torn,
        ..
    }) = recovery
    {
        report.original_bytes = original_len;
        report.bytes_truncated = bytes_truncated;
        report.torn = torn.map(|t| format!("{:?} at offset {}", t.reason, t.offset));
        metrics
            .store
            .recovery_truncated_bytes
            .inc_by(bytes_truncated);
        if bytes_truncated > 0 {
            tracing::warn!(bytes_truncated, torn = ?report.torn, "gossip_store: cut torn tail");
        }
    }
    index(&path, &mut writer, graph, &mut report)?;
    metrics
        .graph_channels
        .set(i64::try_from(graph.channel_count()).unwrap_or(i64::MAX));
    metrics
        .graph_nodes
        .set(i64::try_from(graph.node_count()).unwrap_or(i64::MAX));
    report.file_bytes = writer.stats().len;
    metrics
        .store_bytes
        .set(i64::try_from(report.file_bytes).unwrap_or(i64::MAX));
    report.channels = graph.channel_count();
    report.nodes = graph.node_count();
    report.seconds = started.elapsed().as_secs_f64();
    Ok((writer, report))
}

fn index(
    path: &Path,
    writer: &mut StoreWriter,
    graph: &Graph,
    report: &mut LoadReport,
) -> Result<(), StoreError> {
    let mut reader = StoreReader::with_options(File::open(path)?, ReaderOptions::default())?;
    let mut stale: Vec<u64> = Vec::new();
    let mut early_nodes: Vec<(NodeId, Stamp)> = Vec::new();
    while let Some(rec) = reader.next_record()? {
        if rec.is_deleted() {
            continue;
        }
        let offset = rec.offset;
        let is_gossip = matches!(
            rec.kind(),
            Some(
                RecordKind::ChannelAnnouncement
                    | RecordKind::ChannelUpdate
                    | RecordKind::NodeAnnouncement
            )
        );
        let summary = match is_gossip.then(|| summarize(&rec.msg)) {
            Some(Ok(summary)) => summary,
            _ => {
                report.skipped += 1;
                continue;
            }
        };
        match summary {
            Summary::ChannelAnnouncement {
                short_channel_id,
                node_id_1,
                node_id_2,
                ..
            } => {
                if graph
                    .insert_channel(short_channel_id, node_id_1, node_id_2, None)
                    .is_some()
                {
                    graph.settle_channel_offset(short_channel_id, offset);
                } else {
                    stale.push(offset);
                }
            }
            Summary::ChannelUpdate {
                short_channel_id,
                timestamp,
                channel_flags,
                ..
            } => {
                let stamp = Stamp {
                    timestamp,
                    offset: Some(offset),
                };
                match graph.apply_update(short_channel_id, usize::from(channel_flags & 1), stamp) {
                    Ok(replaced) => stale.extend(replaced.and_then(|s| s.offset)),
                    Err(_) => stale.push(offset),
                }
            }
            Summary::NodeAnnouncement { timestamp, node_id } => {
                let stamp = Stamp {
                    timestamp,
                    offset: Some(offset),
                };
                if graph.node_standing(&node_id).is_none() {
                    early_nodes.push((node_id, stamp));
                    continue;
                }
                match graph.apply_node_announcement(&node_id, stamp) {
                    Ok(replaced) => stale.extend(replaced.and_then(|s| s.offset)),
                    Err(_) => stale.push(offset),
                }
            }
        }
    }
    for (node_id, stamp) in early_nodes {
        match graph.apply_node_announcement(&node_id, stamp) {
            Ok(replaced) => stale.extend(replaced.and_then(|s| s.offset)),
            Err(_) => stale.extend(stamp.offset),
        }
    }
    let stats = reader.stats();
    report.records = stats.records;
    report.deleted_records = stats.deleted;
    for offset in stale {
        writer.mark_deleted(offset)?;
        report.flagged_deleted += 1;
    }
    report.channel_updates = graph.update_count() as u64;
    report.node_announcements = graph.node_announcement_count() as u64;
    Ok(())
}
