//! `gen-corpus`: write a deterministic, validly signed synthetic graph as a raw dump.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::Context as _;

use crate::sim::corpus::{generate, CorpusSpec, GenerateStats};
use crate::store::dump::DumpWriter;

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
