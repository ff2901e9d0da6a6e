//! Compression of blocks and symbols. Compressor state is kept per thread and reused: a
//! chunk compresses many small streams, and setting up a zstd context or a 4 MiB LZ4 frame
//! buffer per block would cost more than compressing it.
//!
//! Levels are chosen to give about the compression ratio Loki's Go libraries give on real
//! logs (measured on the bench corpus), so chunks fill to the same target size.
use std::cell::RefCell;

use crate::codec::{CodecError, Encoding};

/// libdeflate level 5 matches the size Go's gzip DefaultCompression reaches on log blocks.
const DEFLATE_LEVEL: i32 = 5;
/// zstd level 1 matches klauspost's SpeedDefault in ratio on log blocks, and is much faster.
const ZSTD_LEVEL: i32 = 1;

thread_local! {
    static DEFLATE: RefCell<Option<libdeflater::Compressor>> = const { RefCell::new(None) };
    static ZSTD: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static SNAPPY: RefCell<snap::raw::Encoder> = RefCell::new(snap::raw::Encoder::new());
}

fn err(e: impl std::fmt::Display) -> CodecError {
    CodecError(e.to_string())
}

pub(crate) fn compress_into(
    encoding: Encoding,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    match encoding {
        Encoding::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Encoding::Gzip | Encoding::Flate => deflate(encoding == Encoding::Gzip, input, out),
        Encoding::Zstd => zstd(input, out),
        Encoding::Snappy => snappy(input, out),
        Encoding::Lz4_64k => lz4(input, out, 64 << 10, 0x40),
        Encoding::Lz4_256k => lz4(input, out, 256 << 10, 0x50),
        Encoding::Lz4_1M => lz4(input, out, 1 << 20, 0x60),
        Encoding::Lz4_4M => lz4(input, out, 4 << 20, 0x70),
    }
}

fn deflate(gzip: bool, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    DEFLATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let c = slot.get_or_insert_with(|| {
            libdeflater::Compressor::new(
                libdeflater::CompressionLvl::new(DEFLATE_LEVEL).unwrap_or_default(),
            )
        });
        let start = out.len();
        let bound = if gzip {
            c.gzip_compress_bound(input.len())
        } else {
            c.deflate_compress_bound(input.len())
        };
        out.resize(start + bound, 0);
        let n = if gzip {
            c.gzip_compress(input, &mut out[start..])
        } else {
            c.deflate_compress(input, &mut out[start..])
        };
        match n {
            Ok(n) => {
                out.truncate(start + n);
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(err(e))
            }
        }
    })
}

fn zstd(input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    ZSTD.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let mut c = zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(err)?;
            // Loki's frames carry a content checksum; ours do too.
            c.include_checksum(true).map_err(err)?;
            *slot = Some(c);
        }
        let Some(c) = slot.as_mut() else {
            return Err(err("zstd compressor unavailable"));
        };
        // Compress into a slice: the Vec form of the API would write from index 0.
        let start = out.len();
        out.resize(start + zstd::zstd_safe::compress_bound(input.len()), 0);
        match c.compress_to_buffer(input, &mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(err(e))
            }
        }
    })
}

/// Snappy framing format, as Go's writer emits it: no output at all for empty input,
/// otherwise the stream identifier and one chunk per 64 KiB, stored uncompressed when
/// compression saves less than an eighth.
fn snappy(input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    if input.is_empty() {
        return Ok(());
    }
    out.extend_from_slice(b"\xff\x06\x00\x00sNaPpY");
    SNAPPY.with(|cell| {
        let mut enc = cell.borrow_mut();
        for chunk in input.chunks(65_536) {
            let crc = {
                let c = crc32c::crc32c(chunk);
                c.rotate_right(15).wrapping_add(0xa282_ead8)
            };
            let header = out.len();
            out.extend_from_slice(&[0; 8]);
            let body = out.len();
            out.resize(body + snap::raw::max_compress_len(chunk.len()), 0);
            let n = enc.compress(chunk, &mut out[body..]).map_err(err)?;
            let (kind, len) = if n >= chunk.len() - chunk.len() / 8 {
                out.truncate(body);
                out.extend_from_slice(chunk);
                (0x01u8, chunk.len())
            } else {
                out.truncate(body + n);
                (0x00u8, n)
            };
            let framed = (len + 4) as u32;
            out[header] = kind;
            out[header + 1..header + 4].copy_from_slice(&framed.to_le_bytes()[..3]);
            out[header + 4..header + 8].copy_from_slice(&crc.to_le_bytes());
        }
        Ok(())
    })
}

/// LZ4 frame: version 1, independent blocks, no checksums, no content size (Loki's options).
fn lz4(input: &[u8], out: &mut Vec<u8>, max_block: usize, bd: u8) -> Result<(), CodecError> {
    const FLG: u8 = 0x60;
    out.extend_from_slice(&[0x04, 0x22, 0x4d, 0x18, FLG, bd]);
    out.push((xxhash_rust::xxh32::xxh32(&[FLG, bd], 0) >> 8) as u8);
    for block in input.chunks(max_block) {
        let header = out.len();
        out.extend_from_slice(&[0; 4]);
        let body = out.len();
        out.resize(
            body + lz4_flex::block::get_maximum_output_size(block.len()),
            0,
        );
        let n = lz4_flex::block::compress_into(block, &mut out[body..]).map_err(err)?;
        let word = if n >= block.len() {
            out.truncate(body);
            out.extend_from_slice(block);
            block.len() as u32 | 0x8000_0000
        } else {
            out.truncate(body + n);
            n as u32
        };
        out[header..header + 4].copy_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(&[0; 4]);
    Ok(())
}
