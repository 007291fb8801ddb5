//! gossip_store reader and crash recovery over arbitrary bytes. The reader never panics, its
//! records tile the input from the start, and recovery keeps exactly a prefix of the file that
//! then reads back with no torn tail.
#![no_main]

use std::io::{Read, Seek, SeekFrom, Write};

use gossip_sieve::store::{recover_file, ReaderOptions, StoreReader};
use libfuzzer_sys::fuzz_target;

fn read_all(data: &[u8], opts: ReaderOptions) {
    let Ok(mut reader) = StoreReader::with_options(data, opts) else {
        return;
    };
    let mut next = reader.offset();
    while let Ok(Some(record)) = reader.next_record() {
        if !opts.skip_deleted {
            assert_eq!(record.offset, next, "records tile the input");
        }
        assert!(record.offset >= next);
        next = record.offset + record.encoded_len();
        assert!(next <= data.len() as u64);
    }
    if let Some(torn) = reader.torn_tail() {
        assert!(torn.offset <= data.len() as u64);
    }
}

fuzz_target!(|data: &[u8]| {
    for (skip_deleted, verify_crc) in [(false, true), (true, true), (false, false)] {
        read_all(
            data,
            ReaderOptions {
                skip_deleted,
                verify_crc,
            },
        );
    }
    // tmpfs where there is one: recovery fsyncs, which on a disk would dominate the run.
    let shm = std::path::Path::new("/dev/shm");
    let file = if shm.is_dir() {
        tempfile::tempfile_in(shm)
    } else {
        tempfile::tempfile()
    };
    let Ok(mut file) = file else {
        return;
    };
    if file.write_all(data).is_err() {
        return;
    }
    let Ok(report) = recover_file(&mut file) else {
        return;
    };
    assert_eq!(report.original_len, data.len() as u64);
    assert!(report.valid_len <= report.original_len);
    assert_eq!(
        report.bytes_truncated,
        report.original_len - report.valid_len
    );
    let mut kept = Vec::new();
    file.seek(SeekFrom::Start(0)).expect("seek");
    file.read_to_end(&mut kept).expect("read back");
    assert_eq!(kept.as_slice(), data.get(..kept.len()).unwrap_or_default());
    assert_eq!(kept.len() as u64, report.valid_len);
    let again = recover_file(&mut file).expect("recovered file reopens");
    assert!(
        again.torn.is_none(),
        "recovered prefix still torn: {again:?}"
    );
});
