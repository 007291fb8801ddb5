//! Rapid Gossip Sync snapshots, versions 1 and 2, in the layout LDK's
//! `lightning-rapid-gossip-sync` client reads (what `rapid-gossip-sync-server` publishes), built
//! from a [`GraphModel`] instead of a database. Every integer is big-endian.
//!
//! ```text
//! "LDK" version(1|2) | chain_hash [32] | latest_seen u32
//! v2: default_node_features: count u8, each features (u16 len + bytes)
//! node_id_count u32, node ids:
//!     v1: 33-byte keys
//!     v2: 33-byte keys whose first byte also carries flags (bit 0-1 the key's parity byte
//!         0x02/0x03; bit 2 addresses follow; bits 3-5 node features: 0 unchanged, 1-6 an
//!         entry of the default table, 7 features follow; bit 6 reminder; bit 7 extra data),
//!         then: addresses (count u8, each: len u8 + BOLT 7 descriptor), features
//! announcement_count u32, each: features (u16 len + bytes) | scid delta BigSize |
//!     node_1 index BigSize | node_2 index BigSize (v2: bit 63 set when extra data follows:
//!     u16 length + BigSize funding satoshis)
//! update_count u32; if non-zero: defaults cltv_expiry_delta u16, htlc_minimum_msat u64,
//!     fee_base_msat u32, fee_proportional_millionths u32, htlc_maximum_msat u64
//! each update: scid delta BigSize | flags u8 | the fields the flags name
//!     flags: bit 0 direction, bit 1 disabled, bit 2 htlc_maximum_msat, bit 3 fee_proportional,
//!            bit 4 fee_base, bit 5 htlc_minimum_msat, bit 6 cltv_expiry_delta, bit 7 incremental
//! ```
//!
//! Choices where the format leaves room:
//! - `latest_seen` is the build time of the generation, and a message's first-seen time is the
//!   build time of the first generation that held it; a generation holds everything seen at or
//!   before its time, so a client asking for `/<latest_seen>` next gets exactly what was first
//!   seen *after* it, nothing twice.
//! - Updates are always sent whole (bit 7 clear): which fields changed is relative to what the
//!   client has, and a full update against the defaults is correct for any client; the server's
//!   incremental form saves a few bytes per changed update only.
//! - The funding amount is sent (v2) only when known: a client that is told 0 satoshis would
//!   refuse every update whose htlc_maximum_msat exceeds it.

use std::collections::HashMap;

use super::model::{GraphModel, NodeDetails, Policy};
use crate::wire::address::Address;
use crate::wire::bigsize;

/// Snapshot format version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RgsVersion {
    V1,
    V2,
}

impl RgsVersion {
    fn byte(self) -> u8 {
        match self {
            RgsVersion::V1 => 1,
            RgsVersion::V2 => 2,
        }
    }
}

/// At most this many entries in the v2 default node-feature table (markers 1-6).
const DEFAULT_FEATURE_SLOTS: usize = 6;
const FEATURES_FOLLOW: u8 = 7;

const NODE_FLAG_ADDRESSES: u8 = 1 << 2;
const NODE_FLAG_REMINDER: u8 = 1 << 6;
const ANNOUNCEMENT_EXTRA_DATA: u64 = 1 << 63;

const UPDATE_HTLC_MAXIMUM: u8 = 1 << 2;
const UPDATE_FEE_PROPORTIONAL: u8 = 1 << 3;
const UPDATE_FEE_BASE: u8 = 1 << 4;
const UPDATE_HTLC_MINIMUM: u8 = 1 << 5;
const UPDATE_CLTV: u8 = 1 << 6;

/// What a snapshot holds, for logs and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotCounts {
    pub nodes: usize,
    pub node_details: usize,
    pub announcements: usize,
    pub updates: usize,
}

/// The snapshot of everything first seen after `since` (0: everything).
pub fn serialize(
    model: &GraphModel,
    chain_hash: &[u8; 32],
    since: u32,
    latest_seen: u32,
    version: RgsVersion,
) -> (Vec<u8>, SnapshotCounts) {
    let v2 = version == RgsVersion::V2;
    let channels: Vec<_> = model.channels.values().filter(|c| c.seen > since).collect();
    let updates: Vec<(u64, &Policy)> = model
        .channels
        .values()
        .flat_map(|c| {
            c.policies
                .iter()
                .flatten()
                .filter(|p| p.seen > since)
                .map(move |p| (c.short_channel_id, p))
        })
        .collect();

    // The node table: the announcements' nodes, then (v2) nodes whose announcement is new.
    let mut table: Vec<u32> = Vec::new();
    let mut position: HashMap<u32, u64> = HashMap::new();
    let mut place = |index: u32, table: &mut Vec<u32>| -> u64 {
        *position.entry(index).or_insert_with(|| {
            table.push(index);
            (table.len() - 1) as u64
        })
    };
    let announced: Vec<(u64, u64)> = channels
        .iter()
        .map(|c| (place(c.nodes[0], &mut table), place(c.nodes[1], &mut table)))
        .collect();
    let details_of = |index: u32| -> Option<&NodeDetails> {
        let node = model.node(index)?;
        let details = node.announcement.as_ref()?;
        (v2 && details.seen > since && !node.channels.is_empty()).then_some(details)
    };
    if v2 {
        for (index, node) in model.nodes.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            if node.announcement.is_some() && details_of(index).is_some() {
                place(index, &mut table);
            }
        }
    }
    let defaults = default_features(table.iter().filter_map(|i| details_of(*i)));

    let mut out =
        Vec::with_capacity(64 + table.len() * 40 + channels.len() * 12 + updates.len() * 12);
    out.extend_from_slice(b"LDK");
    out.push(version.byte());
    out.extend_from_slice(chain_hash);
    out.extend_from_slice(&latest_seen.to_be_bytes());
    if v2 {
        out.push(defaults.len() as u8);
        for features in &defaults {
            write_bytes_u16(&mut out, features);
        }
    }
    out.extend_from_slice(&(table.len() as u32).to_be_bytes());
    let mut counts = SnapshotCounts {
        nodes: table.len(),
        ..SnapshotCounts::default()
    };
    for index in &table {
        let node_id = model.node_id(*index);
        if !v2 {
            out.extend_from_slice(&node_id);
            continue;
        }
        let details = details_of(*index);
        counts.node_details += usize::from(details.is_some());
        write_node_entry(&mut out, &node_id, details, &defaults);
    }

    out.extend_from_slice(&(channels.len() as u32).to_be_bytes());
    let mut previous = 0u64;
    for (channel, (first, second)) in channels.iter().zip(announced) {
        write_bytes_u16(&mut out, &channel.features);
        bigsize::write(channel.short_channel_id - previous, &mut out);
        previous = channel.short_channel_id;
        bigsize::write(first, &mut out);
        if v2 && channel.amount_sat > 0 {
            bigsize::write(second | ANNOUNCEMENT_EXTRA_DATA, &mut out);
            let mut extra = Vec::new();
            bigsize::write(channel.amount_sat, &mut extra);
            write_bytes_u16(&mut out, &extra);
        } else {
            bigsize::write(second, &mut out);
        }
    }
    counts.announcements = channels.len();

    out.extend_from_slice(&(updates.len() as u32).to_be_bytes());
    if !updates.is_empty() {
        let d = default_values(updates.iter().map(|(_, p)| *p));
        write_defaults(&mut out, &d);
        let mut previous = 0u64;
        for (scid, policy) in &updates {
            bigsize::write(scid - previous, &mut out);
            previous = *scid;
            write_full_update(&mut out, policy, &d);
        }
    }
    counts.updates = updates.len();
    (out, counts)
}

fn write_bytes_u16(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len().min(usize::from(u16::MAX - 1));
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&bytes[..len]);
}

/// The most common feature vectors of the announced nodes, most common first (ties by bytes,
/// so a snapshot is reproducible).
fn default_features<'a>(details: impl Iterator<Item = &'a NodeDetails>) -> Vec<Vec<u8>> {
    let mut counts: HashMap<&[u8], usize> = HashMap::new();
    for d in details {
        *counts.entry(d.features.as_slice()).or_default() += 1;
    }
    let mut ranked: Vec<_> = counts.into_iter().filter(|(_, n)| *n > 1).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked
        .into_iter()
        .take(DEFAULT_FEATURE_SLOTS)
        .map(|(f, _)| f.to_vec())
        .collect()
}

fn write_node_entry(
    out: &mut Vec<u8>,
    node_id: &[u8; 33],
    details: Option<&NodeDetails>,
    defaults: &[Vec<u8>],
) {
    let parity = node_id[0] & 0b11;
    let Some(details) = details else {
        out.push(parity);
        out.extend_from_slice(&node_id[1..]);
        return;
    };
    let marker = defaults
        .iter()
        .position(|f| *f == details.features)
        .map_or(FEATURES_FOLLOW, |i| i as u8 + 1);
    // Addresses are always sent with an announcement (maybe none: that clears old ones), and
    // the reminder bit makes a client record the announcement even when nothing else is set.
    out.push(parity | NODE_FLAG_ADDRESSES | marker << 3 | NODE_FLAG_REMINDER);
    out.extend_from_slice(&node_id[1..]);
    let encoded: Vec<Vec<u8>> = details
        .addresses
        .iter()
        .filter(|a| !matches!(a, Address::Unknown { .. }))
        .map(|a| {
            let mut bytes = Vec::new();
            a.write(&mut bytes);
            bytes
        })
        .filter(|b| b.len() <= usize::from(u8::MAX))
        .take(usize::from(u8::MAX))
        .collect();
    out.push(encoded.len() as u8);
    for address in encoded {
        out.push(address.len() as u8);
        out.extend_from_slice(&address);
    }
    if marker == FEATURES_FOLLOW {
        write_bytes_u16(out, &details.features);
    }
}

/// A policy's five numeric fields as the client reads them: (value, flag bit, width in bytes).
fn update_fields(p: &Policy) -> [(u64, u8, usize); 5] {
    [
        (u64::from(p.cltv_expiry_delta), UPDATE_CLTV, 2),
        (p.htlc_minimum_msat, UPDATE_HTLC_MINIMUM, 8),
        (u64::from(p.fee_base_msat), UPDATE_FEE_BASE, 4),
        (
            u64::from(p.fee_proportional_millionths),
            UPDATE_FEE_PROPORTIONAL,
            4,
        ),
        (p.htlc_maximum_msat, UPDATE_HTLC_MAXIMUM, 8),
    ]
}

/// The values full updates leave out: per field, the most common (ties to the smaller).
type UpdateDefaults = [u64; 5];

fn default_values<'a>(policies: impl Iterator<Item = &'a Policy>) -> UpdateDefaults {
    let mut counts: [HashMap<u64, usize>; 5] = Default::default();
    for policy in policies {
        for (count, (value, _, _)) in counts.iter_mut().zip(update_fields(policy)) {
            *count.entry(value).or_default() += 1;
        }
    }
    counts.map(|count| {
        count
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map_or(0, |(value, _)| value)
    })
}

fn write_defaults(out: &mut Vec<u8>, defaults: &UpdateDefaults) {
    for ((_, _, width), value) in update_fields(&Policy::default()).iter().zip(defaults) {
        out.extend_from_slice(&value.to_be_bytes()[8 - width..]);
    }
}

fn write_full_update(out: &mut Vec<u8>, p: &Policy, defaults: &UpdateDefaults) {
    let mut flags = p.channel_flags & 0b11;
    let mut fields = Vec::with_capacity(26);
    for ((value, bit, width), default) in update_fields(p).into_iter().zip(defaults) {
        if value != *default {
            flags |= bit;
            fields.extend_from_slice(&value.to_be_bytes()[8 - width..]);
        }
    }
    out.push(flags);
    out.extend_from_slice(&fields);
}
