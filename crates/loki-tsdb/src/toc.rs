//! The table of contents: the last 76 bytes of a file (spec section 12).

use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::{CorruptKind, IndexError, Result, Section};

/// Size of the TOC including its CRC.
pub(crate) const TOC_LEN: usize = 9 * 8 + 4;

/// Section offsets and time bounds stored at the end of an index file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Toc {
    /// Offset of the symbol table (always 5).
    pub symbols: u64,
    /// Offset right after the symbol table (before series padding).
    pub series: u64,
    /// Offset right after the last series record.
    pub label_indices: u64,
    /// Offset of the label indices table.
    pub label_indices_table: u64,
    /// Offset right after the last label index.
    pub postings: u64,
    /// Offset of the postings offset table.
    pub postings_table: u64,
    /// Offset of the fingerprint offsets table.
    pub fingerprint_offsets: u64,
    /// Smallest chunk MinTime in the file (ms), 0 if none.
    pub from: i64,
    /// Largest chunk MaxTime in the file (ms), 0 if none.
    pub through: i64,
    /// CRC-32C of the TOC: Loki's "index checksum", used in compacted names.
    pub checksum: u32,
}

impl Toc {
    pub(crate) fn parse(file: &[u8]) -> Result<Toc> {
        if file.len() < 5 + TOC_LEN {
            return Err(IndexError::corrupt(
                Section::Toc,
                file.len(),
                CorruptKind::Truncated {
                    what: "TOC (file shorter than header + TOC)",
                },
            ));
        }
        let start = file.len() - TOC_LEN;
        let body = &file[start..start + 72];
        let mut d = Decoder::new(&file[start..], start, Section::Toc);
        let mut off = [0u64; 7];
        for o in &mut off {
            *o = d.be64("TOC offset")?;
        }
        let from = d.be64("TOC from")? as i64;
        let through = d.be64("TOC through")? as i64;
        let stored = d.be32("TOC checksum")?;
        let computed = crc32c::crc32c(body);
        if stored != computed {
            return Err(IndexError::corrupt(
                Section::Toc,
                start,
                CorruptKind::BadChecksum { stored, computed },
            ));
        }
        for o in off {
            if o > start as u64 {
                return Err(IndexError::invalid(
                    Section::Toc,
                    start,
                    "section offset",
                    format!("{o} points past the TOC at {start}"),
                ));
            }
        }
        Ok(Toc {
            symbols: off[0],
            series: off[1],
            label_indices: off[2],
            label_indices_table: off[3],
            postings: off[4],
            postings_table: off[5],
            fingerprint_offsets: off[6],
            from,
            through,
            checksum: stored,
        })
    }

    /// Appends the TOC and returns its CRC.
    pub(crate) fn encode(&self, e: &mut Encoder) -> u32 {
        let start = e.len();
        for o in [
            self.symbols,
            self.series,
            self.label_indices,
            self.label_indices_table,
            self.postings,
            self.postings_table,
            self.fingerprint_offsets,
        ] {
            e.be64(o);
        }
        e.be64(self.from as u64);
        e.be64(self.through as u64);
        let crc = crc32c::crc32c(&e.buf[start..]);
        e.be32(crc);
        crc
    }
}
