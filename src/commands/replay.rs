//! `replay`: run dump files through the pipeline as N duplicate peers and summarise.

use std::path::PathBuf;

use super::ingest::{self, IngestOptions};
use super::summary::RunSummary;
use crate::peer::{open_frames, FrameIter};

pub struct ReplayOptions {
    pub files: Vec<PathBuf>,
    /// Each copy is one peer that sends every file, in order.
    pub copies: usize,
    pub ingest: IngestOptions,
}

pub fn run(options: ReplayOptions) -> anyhow::Result<RunSummary> {
    let mut peers = Vec::with_capacity(options.copies);
    for _ in 0..options.copies.max(1) {
        let mut chained: Vec<FrameIter> = Vec::with_capacity(options.files.len());
        for file in &options.files {
            chained.push(open_frames(file)?);
        }
        let frames: FrameIter = Box::new(chained.into_iter().flatten());
        peers.push(frames);
    }
    ingest::run(options.ingest, peers)
}
