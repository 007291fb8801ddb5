//! Core Lightning `gossip_store` files: record format, streaming reader, buffered writer, crash
//! recovery and compaction, and the actor that owns the live store.
//!
//! Format (DESIGN §5, checked against Core Lightning `common/gossip_store.h`,
//! `common/gossip_store_wire.csv`, `gossipd/gossip_store.c`, `devtools/dump-gossipstore.c`,
//! `gossipd/compactd.c` and pyln-client `gossmap.py`): one version byte (major in the top three
//! bits, must be 0; we write 0x10 and read minor >= 15), then records of a 12-byte big-endian
//! header `flags u16 | len u16 | crc u32 | timestamp u32` followed by the message. See
//! [`record`] for the flags and stored record kinds.
//!
//! - [`record`]: header codec, flag bits, crc, record kinds and internal messages.
//! - [`reader`]: [`StoreReader`] over any `Read`, [`open_input`] (xz-transparent), [`sniff`].
//! - [`writer`]: [`StoreWriter`] — buffered appends, in-place deletion, fsync.
//! - [`recovery`]: truncate a torn tail on open.
//! - [`compaction`]: atomic rewrite without deleted records, with an offset map callback.
//! - [`dump`]: the raw dump format (`u16` length + message records) `replay` reads and
//!   `gen-corpus` writes; not a store, but a file format of the same family.
//! - [`load`]: restart: rebuild the graph index from the store without verifying signatures.
//! - [`actor`]: [`StoreActor`], which persists what the shards accept; [`handle`]: the
//!   [`StoreHandle`] commands open and shut it down with; [`sender`]: the [`StoreSender`]
//!   shards hand off through.
//! - [`tail`]: the store's readable end for serving: how far it is flushed, cursors that
//!   stream it in file order across compactions, reads by offset.

pub mod actor;
pub mod compaction;
pub mod dump;
pub mod error;
pub mod first_seen;
pub mod handle;
pub mod load;
pub mod reader;
pub mod record;
pub mod recovery;
pub mod sender;
pub mod tail;
pub mod writer;

pub use actor::{Flush, Forget, Persist, Shutdown, StoreActor, StoreConfig, StoreKey};
pub use handle::StoreHandle;
pub use load::{load, open_and_load, LoadReport, STORE_FILE};
pub use sender::StoreSender;
pub use tail::{StoreFile, StoreTail, TailCursor, TailRecord};

pub use compaction::{compact_file, compaction_temp_path, CompactionReport};
pub use error::StoreError;
pub use reader::{
    open_input, sniff, InputFormat, ReadStats, ReaderOptions, StoreReader, StoreRecord, StoreStart,
    TornReason, TornTail, SNIFF_LEN,
};
pub use record::{
    RecordHeader, RecordKind, FLAG_COMPLETED, FLAG_DELETED, FLAG_DYING, FLAG_PUSH, HEADER_LEN,
    MAX_MSG_LEN, VERSION_CURRENT,
};
pub use recovery::{
    corrupt_copy_path, recover, recover_file, recover_keeping_aside, RecoveryReport,
};
pub use writer::{StoreWriter, WriterStats, WRITE_BUFFER_BYTES};
