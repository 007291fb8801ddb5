//! The store's error type. Torn tails are not errors: readers report them as
//! [`crate::store::TornTail`] and stop, because a crash mid-append is expected.

use std::io;

/// Failure of a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Underlying I/O failure.
    #[error("gossip_store I/O: {0}")]
    Io(#[from] io::Error),
    /// Version byte with a non-zero major, or a minor older than 15 (no COMPLETED flag).
    #[error("unsupported gossip_store version byte {0:#04x}")]
    UnsupportedVersion(u8),
    /// The input starts with neither a version byte nor a completed record header.
    #[error("input is not a gossip_store (first byte {0:#04x})")]
    NotGossipStore(u8),
    /// A file we must write to has no version byte (a headerless continuation).
    #[error("gossip_store file has no version byte")]
    MissingVersion,
    /// A message does not fit the u16 length field.
    #[error("message of {0} bytes exceeds the 65535-byte record limit")]
    MessageTooLong(usize),
    /// An offset handed to `mark_deleted` does not point at a valid record.
    #[error("no valid gossip_store record at offset {0}")]
    NotARecord(u64),
}

impl StoreError {
    /// The disk (or quota, or file size limit) is full: the write may succeed later, once
    /// space returns, unlike other I/O errors.
    pub fn is_out_of_space(&self) -> bool {
        let StoreError::Io(err) = self else {
            return false;
        };
        matches!(
            err.raw_os_error(),
            Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EFBIG)
        )
    }
}
