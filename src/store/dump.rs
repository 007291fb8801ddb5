//! The raw dump format: records of a big-endian `u16` length followed by one wire message
//! (type first). Owns buffered writing and streaming reading; nothing here looks inside a
//! message, so a dump can carry malformed messages on purpose.

use std::fs::File;
use std::io::BufRead as _;
use std::io::{self, BufReader, BufWriter, ErrorKind, Read, Write};
use std::path::Path;

/// Why a dump could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("dump i/o: {0}")]
    Io(#[from] io::Error),
    /// A message does not fit the `u16` length prefix.
    #[error("message of {0} bytes does not fit a dump record (max 65535)")]
    TooLong(usize),
    /// The file ended inside a record (e.g. an interrupted write).
    #[error("dump ends inside a record: expected {expected} bytes, found {found}")]
    Truncated { expected: usize, found: usize },
}

/// Buffered writer of dump records.
pub struct DumpWriter<W: Write> {
    out: BufWriter<W>,
    records: u64,
}

impl DumpWriter<File> {
    pub fn create(path: impl AsRef<Path>) -> Result<Self, DumpError> {
        Ok(DumpWriter::new(File::create(path)?))
    }
}

impl<W: Write> DumpWriter<W> {
    pub fn new(out: W) -> Self {
        DumpWriter {
            out: BufWriter::with_capacity(1 << 16, out),
            records: 0,
        }
    }

    pub fn write(&mut self, msg: &[u8]) -> Result<(), DumpError> {
        let len = u16::try_from(msg.len()).map_err(|_| DumpError::TooLong(msg.len()))?;
        self.out.write_all(&len.to_be_bytes())?;
        self.out.write_all(msg)?;
        self.records += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes and hands back the underlying writer.
    pub fn finish(self) -> Result<W, DumpError> {
        self.out
            .into_inner()
            .map_err(|e| DumpError::Io(e.into_error()))
    }
}

/// Streaming reader: yields one record at a time, holding only that record in memory. After
/// the first error it yields nothing more.
pub struct DumpReader<R: Read> {
    input: BufReader<R>,
    failed: bool,
}

impl DumpReader<File> {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DumpError> {
        Ok(DumpReader::new(File::open(path)?))
    }
}

impl<R: Read> DumpReader<R> {
    pub fn new(input: R) -> Self {
        DumpReader {
            input: BufReader::with_capacity(1 << 16, input),
            failed: false,
        }
    }

    fn read_record(&mut self) -> Result<Option<Vec<u8>>, DumpError> {
        // Fast path, almost always taken: the whole record is already buffered, so copy it out
        // in one allocation (no zero-fill, no second read call). Replay of duplicates spends a
        // fair share of its per-message budget here.
        let buffered = self.input.buffer();
        if let Some(prefix) = buffered.get(..2) {
            let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
            if let Some(body) = buffered.get(2..2 + len) {
                let msg = body.to_vec();
                self.input.consume(2 + len);
                return Ok(Some(msg));
            }
        }
        let mut prefix = [0u8; 2];
        match fill(&mut self.input, &mut prefix)? {
            0 => return Ok(None),
            2 => {}
            found => return Err(DumpError::Truncated { expected: 2, found }),
        }
        let len = usize::from(u16::from_be_bytes(prefix));
        let mut msg = vec![0u8; len];
        let found = fill(&mut self.input, &mut msg)?;
        if found < len {
            return Err(DumpError::Truncated {
                expected: len,
                found,
            });
        }
        Ok(Some(msg))
    }
}

impl<R: Read> Iterator for DumpReader<R> {
    type Item = Result<Vec<u8>, DumpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.read_record() {
            Ok(record) => record.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read. Unlike
/// `read_exact` it tells a clean end (0) from an end inside the buffer.
fn fill(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<Vec<u8>> {
        vec![vec![1, 2], vec![], vec![0xab; 300], vec![7; 65535]]
    }

    fn dump_of(records: &[Vec<u8>]) -> Vec<u8> {
        let mut w = DumpWriter::new(Vec::new());
        for r in records {
            w.write(r).unwrap();
        }
        assert_eq!(w.records(), records.len() as u64);
        w.finish().unwrap()
    }

    #[test]
    fn records_round_trip() {
        let bytes = dump_of(&records());
        assert_eq!(&bytes[..4], &[0, 2, 1, 2]);
        let back: Vec<Vec<u8>> = DumpReader::new(&bytes[..]).map(Result::unwrap).collect();
        assert_eq!(back, records());
    }

    #[test]
    fn empty_input_has_no_records() {
        assert_eq!(DumpReader::new(&[][..]).count(), 0);
    }

    #[test]
    fn too_long_message_is_refused() {
        let mut w = DumpWriter::new(Vec::new());
        assert!(matches!(
            w.write(&vec![0; 65536]),
            Err(DumpError::TooLong(65536))
        ));
        assert_eq!(w.finish().unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn every_truncation_ends_in_one_error() {
        let bytes = dump_of(&records()[..3]);
        let boundaries = [0, 4, 6, 308];
        for cut in 0..bytes.len() {
            let results: Vec<_> = DumpReader::new(&bytes[..cut]).collect();
            let oks = results.iter().filter(|r| r.is_ok()).count();
            let errs = results.iter().filter(|r| r.is_err()).count();
            if boundaries.contains(&cut) {
                assert_eq!(errs, 0, "cut {cut}");
            } else {
                assert_eq!(errs, 1, "cut {cut}");
                assert!(matches!(
                    results.last(),
                    Some(Err(DumpError::Truncated { .. }))
                ));
            }
            assert_eq!(
                oks,
                boundaries.iter().filter(|&&b| b != 0 && b <= cut).count()
            );
        }
    }

    #[test]
    fn files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corpus.dump");
        let mut w = DumpWriter::create(&path).unwrap();
        for r in records() {
            w.write(&r).unwrap();
        }
        w.finish().unwrap();
        let back: Vec<Vec<u8>> = DumpReader::open(&path)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back, records());
    }
}
