//! Damaged files give errors that name a section, never panics.

use std::path::Path;

use loki_tsdb::{exercise_reader, IndexError, IndexReader};

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/tsdb/vectors")
            .join(name),
    )
    .unwrap()
}

const FILES: [&str; 6] = [
    "v2_three_series.tsdb",
    "v3_three_series.tsdb",
    "v4_three_series.tsdb",
    "v3_multitenant.tsdb",
    "v3_many_chunks.tsdb",
    "v3_zero_chunk_series.tsdb",
];

fn open_and_verify(bytes: &[u8]) -> Result<(), IndexError> {
    IndexReader::from_bytes(bytes.to_vec())?.verify()
}

#[test]
fn every_truncation_is_an_error() {
    for f in FILES {
        let b = vector(f);
        for len in 0..b.len() {
            let cut = &b[..len];
            assert!(
                open_and_verify(cut).is_err(),
                "{f} cut at {len} was accepted"
            );
            assert!(
                exercise_reader(cut).is_err(),
                "{f} cut at {len} was accepted"
            );
        }
    }
}

/// Flipping any bit of any byte is detected, except in padding (zero bytes
/// that no checksum covers, as in Loki's format).
#[test]
fn every_bit_flip_outside_padding_is_detected() {
    for f in FILES {
        let b = vector(f);
        let mut undetected = 0;
        for pos in 0..b.len() {
            for bit in [0u8, 3, 7] {
                let mut c = b.clone();
                c[pos] ^= 1 << bit;
                // Must not panic on any path.
                let deep = exercise_reader(&c);
                match open_and_verify(&c) {
                    Err(e) => {
                        assert!(
                            deep.is_err(),
                            "{f}@{pos}: verify failed but exercise passed"
                        );
                        let msg = e.to_string();
                        assert!(
                            msg.contains("offset") || msg.contains("version"),
                            "{f}@{pos}: error does not say where: {msg}"
                        );
                    }
                    Ok(()) => {
                        assert_eq!(
                            b[pos], 0,
                            "{f}: flip at {pos} (byte {:#x}) undetected",
                            b[pos]
                        );
                        undetected += 1;
                    }
                }
            }
        }
        // Only a few padding bytes per file.
        assert!(
            undetected < b.len() / 2,
            "{f}: {undetected} undetected flips"
        );
    }
}

#[test]
fn errors_name_the_section_and_offset() {
    let mut b = vector("v3_three_series.tsdb");
    b[100] ^= 1; // inside the first series record (offset 64..139)
    let r = IndexReader::from_bytes(b).unwrap();
    let e = r.verify().unwrap_err().to_string();
    assert_eq!(
        e,
        "series record at offset 0x40: bad checksum: stored 59e560bc, computed 7823f69f"
    );

    let mut b = vector("v3_three_series.tsdb");
    b[4] = 1;
    assert_eq!(
        IndexReader::from_bytes(b).unwrap_err().to_string(),
        "unsupported index format version 1 (supported: 2, 3, 4)"
    );
    let mut b = vector("v3_three_series.tsdb");
    b[20] ^= 0x10; // a symbol byte
    let e = IndexReader::from_bytes(b).unwrap_err().to_string();
    assert!(
        e.starts_with("symbol table at offset 0x5: bad checksum"),
        "{e}"
    );
}

#[test]
fn gzip_damage_is_an_error() {
    let b = vector("v3_three_series.tsdb.gz");
    for len in [2, 10, b.len() / 2, b.len() - 4] {
        assert!(
            IndexReader::from_bytes(b[..len].to_vec()).is_err(),
            "gz cut at {len}"
        );
    }
}

/// A page marker that disagrees with its chunks but carries a valid CRC
/// (a writer bug, not bit rot) is still caught by `verify`.
#[test]
fn inconsistent_page_marker_with_valid_crc_is_caught_by_verify() {
    let mut b = vector("v3_many_chunks.tsdb");
    let r = IndexReader::from_bytes(b.clone()).unwrap();
    let at = r.all_series_refs().unwrap()[0] as usize * 16;
    // The record length is a uvarint of one or two bytes here.
    let len = b[at] as usize;
    let (content, len) = if len < 0x80 {
        (at + 1, len)
    } else {
        (at + 2, (len & 0x7f) | (b[at + 1] as usize) << 7)
    };
    // fp(8) labels(1+2) chunk count(1) markers_len(4) pages(1) count(1) -> KB
    b[content + 18 + 3] ^= 0x01;
    let crc = crc32c::crc32c(&b[content..content + len]);
    b[content + len..content + len + 4].copy_from_slice(&crc.to_be_bytes());
    let r = IndexReader::from_bytes(b).unwrap();
    // Normal reads still work (markers are skipped)...
    assert_eq!(
        r.series_at(r.all_series_refs().unwrap()[0])
            .unwrap()
            .chunks
            .len(),
        70
    );
    // ...but verification names the problem.
    let e = r.verify().unwrap_err().to_string();
    assert!(e.contains("page marker"), "{e}");
}
