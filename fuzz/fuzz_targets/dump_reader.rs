//! Raw dump reader (`u16` length + message records) over arbitrary bytes: never panics, stops
//! after the first error, and the records it yields are exactly the input's prefix.
#![no_main]

use gossip_sieve::store::dump::DumpReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut consumed = 0usize;
    let mut failed = false;
    for record in DumpReader::new(data) {
        assert!(!failed, "a record after an error");
        match record {
            Ok(msg) => {
                let len = u16::try_from(msg.len()).expect("u16 length");
                assert_eq!(
                    data.get(consumed..consumed + 2),
                    Some(&len.to_be_bytes()[..])
                );
                consumed += 2;
                assert_eq!(
                    data.get(consumed..consumed + msg.len()),
                    Some(msg.as_slice())
                );
                consumed += msg.len();
            }
            Err(_) => failed = true,
        }
    }
    assert_eq!(
        failed,
        consumed < data.len(),
        "all of the input or an error"
    );
});
