//! Damaged input gives an error naming where, never a panic or an oversized allocation.
use std::path::PathBuf;

use loki_chunk::{Chunk, ChunkObject, Error, Section, Verify};

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/chunk/vectors")
            .join(name),
    )
    .unwrap()
}

/// Parses and reads every entry; the first error, if any.
fn read_all(bytes: &[u8]) -> Result<usize, Error> {
    let chunk = Chunk::parse(bytes.to_vec())?;
    let mut n = 0;
    for e in chunk.entries() {
        e?;
        n += 1;
    }
    Ok(n)
}

const SMALL: [&str; 8] = [
    "v4_none.chunk",
    "v4_snappy.chunk",
    "v4_gzip.chunk",
    "v4_zstd.chunk",
    "v4_lz4-64k.chunk",
    "v3_none.chunk",
    "v2_none.chunk",
    "v1_gzip.chunk",
];

#[test]
fn truncation_at_every_offset_is_an_error() {
    for name in SMALL.iter().chain(&["v4_none_multiblock.chunk"]) {
        let b = vector(name);
        for len in 0..b.len() {
            assert!(
                read_all(&b[..len]).is_err(),
                "{name} truncated to {len} read fine"
            );
        }
    }
    let obj = vector("v4_snappy.object");
    for len in 0..obj.len() {
        let r = ChunkObject::decode(obj[..len].to_vec()).and_then(|o| o.chunk().map(|_| ()));
        assert!(r.is_err(), "object truncated to {len}");
    }
}

#[test]
fn every_single_byte_flip_is_caught_or_harmless() {
    for name in SMALL {
        let b = vector(name);
        let good = read_all(&b).unwrap();
        for i in 0..b.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut c = b.clone();
                c[i] ^= mask;
                // Parsing and reading must not panic; a flip that goes unnoticed must not change
                // what is read (none do in practice: every byte is under a CRC or a length).
                if let Ok(n) = read_all(&c) {
                    assert_eq!(
                        n, good,
                        "{name}: flip at {i} changed the entry count silently"
                    );
                    let a: Vec<_> = Chunk::parse(c.clone())
                        .unwrap()
                        .entries()
                        .map(|e| e.unwrap())
                        .collect();
                    let o: Vec<_> = Chunk::parse(b.clone())
                        .unwrap()
                        .entries()
                        .map(|e| e.unwrap())
                        .collect();
                    assert_eq!(a, o, "{name}: flip at {i} changed entries silently");
                }
            }
        }
    }
}

#[test]
fn bad_block_crc_names_the_block_and_lenient_mode_skips_it() {
    let mut b = vector("v4_none_multiblock.chunk");
    let chunk = Chunk::parse(b.clone()).unwrap();
    let second = chunk.blocks()[1].clone();
    b[second.offset + 2] ^= 0x20;
    match Chunk::parse(b.clone()) {
        Err(Error::Checksum {
            section: Section::Block(1),
            offset,
            ..
        }) => assert_eq!(offset, second.offset + second.len),
        other => panic!("{other:?}"),
    }
    let lenient = Chunk::parse_with(b, Verify::Lenient).unwrap();
    assert!(!lenient.blocks()[1].crc_ok);
    assert_eq!(lenient.entries().count(), 7 - 2);
}

#[test]
fn metas_and_symbols_checksums_are_reported() {
    let b = vector("v4_none.chunk");
    let mut c = b.clone();
    c[110] ^= 1; // in the metas
    assert!(matches!(
        Chunk::parse(c),
        Err(Error::Checksum {
            section: Section::BlockMetas,
            offset: 132,
            ..
        })
    ));
    let mut c = b.clone();
    c[10] ^= 1; // in the symbols
    let e = Chunk::parse_with(c, Verify::Lenient).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Checksum {
                section: Section::Symbols,
                offset: 34,
                ..
            }
        ),
        "{e}"
    );
    assert!(e
        .to_string()
        .contains("symbols section checksum mismatch at offset 34"));
}

/// Rewrites a section and fixes its CRC, to reach the parser behind the checksum.
fn with_section(mut b: Vec<u8>, off: usize, old_len: usize, new: &[u8]) -> Vec<u8> {
    b.splice(off..off + old_len, new.iter().copied());
    let crc = crc32c::crc32c(new);
    b[off + new.len()..off + new.len() + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

#[test]
fn huge_length_fields_do_not_allocate() {
    // Symbols: claim 2^40 strings in a 28-byte section (same length, valid CRC).
    let b = vector("v4_none.chunk");
    let mut sym = b[6..34].to_vec();
    let mut n = vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x20];
    n.extend_from_slice(&sym[6..]);
    sym = n;
    let c = with_section(b.clone(), 6, 28, &sym);
    let e = Chunk::parse(c).unwrap_err();
    assert!(e.to_string().contains("symbol"), "{e}");

    // Metas: claim 2^35 blocks.
    let mut metas = b[109..132].to_vec();
    metas.splice(0..1, [0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    metas.truncate(23);
    let c = with_section(b.clone(), 109, 23, &metas);
    let e = Chunk::parse(c).unwrap_err();
    assert!(e.to_string().contains("block count"), "{e}");

    // A line length of 2^31 inside a block with a valid CRC.
    let mut block = b[38..105].to_vec();
    block.splice(9..10, [0x80, 0x80, 0x80, 0x80, 0x08]);
    block.truncate(67);
    let c = with_section(b, 38, 67, &block);
    let e = read_all(&c).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Malformed {
                section: Section::Block(0),
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn unknown_codecs_and_versions_are_errors() {
    let mut b = vector("v4_none.chunk");
    b[5] = 2;
    assert!(matches!(
        Chunk::parse(b.clone()),
        Err(Error::UnknownEncoding(2))
    ));
    b[5] = 10;
    assert!(matches!(
        Chunk::parse(b.clone()),
        Err(Error::UnknownEncoding(10))
    ));
    b[4] = 5;
    assert!(matches!(
        Chunk::parse(b.clone()),
        Err(Error::UnsupportedVersion(5))
    ));
    b[0] = 0;
    assert!(matches!(Chunk::parse(b), Err(Error::BadMagic { .. })));
}
