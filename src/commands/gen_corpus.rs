//! `gen-corpus`: write a deterministic, validly signed synthetic graph as a raw dump.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::Context as _;

use crate::sim::chain::{build_chain, fabricated_announcements, ChannelFunding};
use crate::sim::corpus::{generate, generate_labeled, CorpusSpec, GenerateStats, Label};
use crate::store::dump::DumpWriter;
use crate::wire::GossipKind;

/// Confirmations every generated funding output gets (BOLT 7's six).
const CHAIN_MIN_DEPTH: u32 = 6;

/// Writes the corpus for `spec` to `out` (atomically: a temp file renamed into place, so an
/// interrupted run never leaves a truncated corpus that a later `demo` would trust).
pub fn write_corpus(spec: &CorpusSpec, out: &Path) -> anyhow::Result<(GenerateStats, u64)> {
    let tmp = out.with_extension("partial");
    let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut writer = DumpWriter::new(BufWriter::with_capacity(1 << 20, file));
    let mut messages = 0u64;
    let mut write_error = None;
    let stats = generate(spec, |msg| {
        if write_error.is_none() {
            match writer.write(&msg) {
                Ok(()) => messages += 1,
                Err(err) => write_error = Some(err),
            }
        }
    });
    if let Some(err) = write_error {
        return Err(err).with_context(|| format!("writing {}", tmp.display()));
    }
    writer
        .finish()
        .with_context(|| format!("flushing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("renaming to {}", out.display()))?;
    Ok((stats, messages))
}

/// What [`write_corpus_with_chain`] wrote.
#[derive(Debug)]
pub struct ChainCorpus {
    pub stats: GenerateStats,
    /// Messages in the corpus file, fabricated announcements included.
    pub messages: u64,
    /// Fabricated announcements appended (missing, wrong script, spent, in turn).
    pub fabricated: u64,
    /// The chain's tip height.
    pub tip_height: u32,
}

/// Writes the corpus for `spec` to `out` and the chain that backs it to `chain_out` (see
/// [`crate::sim::chain`]): every valid channel's funding output sits at its short_channel_id,
/// six blocks deep. The corpus gains fabricated announcements (as many as the invalid rate
/// draws invalid channel_announcement copies, at least one of each kind when the rate is not
/// zero): validly signed, with funding that is missing, pays the wrong script, or is spent.
pub fn write_corpus_with_chain(
    spec: &CorpusSpec,
    out: &Path,
    chain_out: &Path,
) -> anyhow::Result<ChainCorpus> {
    let tmp = out.with_extension("partial");
    let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut writer = DumpWriter::new(BufWriter::with_capacity(1 << 20, file));
    let mut messages = 0u64;
    let mut write_error = None;
    let mut fundings = Vec::new();
    let mut write = |msg: &[u8], messages: &mut u64| {
        if write_error.is_none() {
            match writer.write(msg) {
                Ok(()) => *messages += 1,
                Err(err) => write_error = Some(err),
            }
        }
    };
    let stats = generate_labeled(spec, |msg, label| {
        if label == Label::Valid(GossipKind::ChannelAnnouncement) {
            fundings.extend(ChannelFunding::from_announcement(&msg));
        }
        write(&msg, &mut messages);
    });
    let (first_block, last_block) = match (fundings.first(), fundings.last()) {
        (Some(first), Some(last)) => (first.scid.block, last.scid.block),
        _ => (0, 0),
    };
    let count = if spec.invalid_rate > 0.0 {
        ((fundings.len() as f64 * spec.invalid_rate).round() as usize).max(3)
    } else {
        0
    };
    let fabricated = fabricated_announcements(
        spec.seed,
        spec.chain_hash,
        first_block,
        last_block.saturating_sub(first_block) + 1,
        count,
    );
    for f in &fabricated {
        write(&f.msg, &mut messages);
    }
    if let Some(err) = write_error {
        return Err(err).with_context(|| format!("writing {}", tmp.display()));
    }
    writer
        .finish()
        .with_context(|| format!("flushing {}", tmp.display()))?;
    let spoiled: Vec<_> = fabricated.iter().map(|f| (f.funding, f.how)).collect();
    let chain = build_chain(&fundings, &spoiled, CHAIN_MIN_DEPTH);
    let chain_tmp = chain_out.with_extension("partial-chain");
    let mut chain_file = BufWriter::new(
        File::create(&chain_tmp).with_context(|| format!("creating {}", chain_tmp.display()))?,
    );
    chain
        .write_to(&mut chain_file)
        .and_then(|()| std::io::Write::flush(&mut chain_file))
        .with_context(|| format!("writing {}", chain_tmp.display()))?;
    drop(chain_file);
    std::fs::rename(&chain_tmp, chain_out)
        .with_context(|| format!("renaming to {}", chain_out.display()))?;
    // The corpus last: a corpus file present means its chain is too.
    std::fs::rename(&tmp, out).with_context(|| format!("renaming to {}", out.display()))?;
    Ok(ChainCorpus {
        stats,
        messages,
        fabricated: fabricated.len() as u64,
        tip_height: chain.tip_height(),
    })
}
