//! Decompression of blocks and symbols, with a fast path per codec for the streams Loki
//! writes and the general streaming decoders as the fallback for everything else valid.
//!
//! Fast paths decode straight into one right-sized buffer: gzip and flate through libdeflate,
//! snappy and LZ4 by walking the frame format ourselves and calling the raw block decoders,
//! zstd through the one-shot API when the frame states its size.
use crate::codec::{CodecError, Encoding, MAX_DECOMPRESSED_LEN};

/// DEFLATE cannot expand data by more than about 1032:1.
const DEFLATE_MAX_RATIO: usize = 1032;

pub(crate) fn decompress(
    encoding: Encoding,
    input: &[u8],
    hint: usize,
) -> Result<Vec<u8>, CodecError> {
    let fast = match encoding {
        Encoding::Gzip => gzip(input),
        Encoding::Flate => flate(input, hint),
        Encoding::Snappy => snappy(input, hint),
        Encoding::Lz4_64k | Encoding::Lz4_256k | Encoding::Lz4_1M | Encoding::Lz4_4M => {
            lz4(input, hint)
        }
        Encoding::Zstd => zstd_bulk(input),
        Encoding::None => Some(Ok(input.to_vec())),
    };
    match fast {
        Some(Ok(out)) => Ok(out),
        // Not a shape the fast path handles, or it failed: the general decoder decides
        // (and gives the better error message).
        Some(Err(_)) | None => encoding.decompress(input, hint),
    }
}

fn err(msg: impl Into<String>) -> CodecError {
    CodecError(msg.into())
}

/// Single-member gzip with a plain 10-byte header, as Loki writes it.
fn gzip(input: &[u8]) -> Option<Result<Vec<u8>, CodecError>> {
    let n = input.len();
    if n < 18 || input[..3] != [0x1f, 0x8b, 0x08] {
        return None;
    }
    // Every member starts with the magic: without a second one this is a single member,
    // so libdeflate (which stops after one member) sees all the data.
    if memchr::memmem::find(&input[1..], &[0x1f, 0x8b, 0x08]).is_some() {
        return None;
    }
    let isize =
        u32::from_le_bytes([input[n - 4], input[n - 3], input[n - 2], input[n - 1]]) as usize;
    if isize > MAX_DECOMPRESSED_LEN || isize > n.saturating_mul(DEFLATE_MAX_RATIO) {
        return None;
    }
    let mut out = vec![0u8; isize];
    let mut d = libdeflater::Decompressor::new();
    match d.gzip_decompress(input, &mut out) {
        Ok(len) if len == isize => Some(Ok(out)),
        Ok(_) => None,
        Err(e) => Some(Err(err(e.to_string()))),
    }
}

/// Raw DEFLATE: the size is unknown, so start from the hint and grow.
fn flate(input: &[u8], hint: usize) -> Option<Result<Vec<u8>, CodecError>> {
    let cap = input
        .len()
        .saturating_mul(DEFLATE_MAX_RATIO)
        .min(MAX_DECOMPRESSED_LEN)
        + 64;
    let mut size = hint.clamp(64, cap);
    let mut d = libdeflater::Decompressor::new();
    loop {
        let mut out = vec![0u8; size];
        match d.deflate_decompress(input, &mut out) {
            Ok(len) => {
                out.truncate(len);
                return Some(Ok(out));
            }
            Err(libdeflater::DecompressionError::InsufficientSpace) if size < cap => {
                size = size.saturating_mul(2).min(cap);
            }
            Err(e) => return Some(Err(err(e.to_string()))),
        }
    }
}

/// Snappy framing format: stream identifier, then chunks of `type, u24 len, masked crc, data`.
fn snappy(input: &[u8], hint: usize) -> Option<Result<Vec<u8>, CodecError>> {
    const IDENT: &[u8] = b"\xff\x06\x00\x00sNaPpY";
    if !input.starts_with(IDENT) {
        return None;
    }
    let mut out = Vec::with_capacity(hint.min(input.len().saturating_mul(8)));
    let mut dec = snap::raw::Decoder::new();
    let mut p = IDENT.len();
    while p < input.len() {
        if input.len() - p < 4 {
            return Some(Err(err("truncated snappy chunk header")));
        }
        let kind = input[p];
        let len = u32::from_le_bytes([input[p + 1], input[p + 2], input[p + 3], 0]) as usize;
        p += 4;
        if input.len() - p < len {
            return Some(Err(err("truncated snappy chunk")));
        }
        let body = &input[p..p + len];
        p += len;
        match kind {
            0x00 | 0x01 => {
                if len < 4 {
                    return Some(Err(err("snappy chunk shorter than its checksum")));
                }
                let crc = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
                let data = &body[4..];
                let start = out.len();
                if kind == 0x00 {
                    let n = match snap::raw::decompress_len(data) {
                        Ok(n) if n <= 65_536 => n,
                        Ok(_) => return Some(Err(err("snappy chunk over 64 KiB"))),
                        Err(e) => return Some(Err(err(e.to_string()))),
                    };
                    out.resize(start + n, 0);
                    if let Err(e) = dec.decompress(data, &mut out[start..]) {
                        return Some(Err(err(e.to_string())));
                    }
                } else {
                    if data.len() > 65_536 {
                        return Some(Err(err("snappy chunk over 64 KiB")));
                    }
                    out.extend_from_slice(data);
                }
                if masked_crc(&out[start..]) != crc {
                    return Some(Err(err("snappy chunk checksum mismatch")));
                }
                if out.len() > MAX_DECOMPRESSED_LEN {
                    return Some(Err(err("decompressed stream too large")));
                }
            }
            // Another stream identifier (concatenated streams), padding, skippable chunks.
            0xff => {
                if body != &IDENT[4..] {
                    return Some(Err(err("bad snappy stream identifier")));
                }
            }
            0x80..=0xfe => {}
            _ => return Some(Err(err(format!("reserved snappy chunk type {kind:#04x}")))),
        }
    }
    Some(Ok(out))
}

fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c::crc32c(data);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// LZ4 frames with independent blocks (what Loki writes); anything else goes to lz4_flex's
/// general frame decoder.
fn lz4(input: &[u8], hint: usize) -> Option<Result<Vec<u8>, CodecError>> {
    const MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
    let mut out = Vec::with_capacity(hint.min(input.len().saturating_mul(8)));
    let mut p = 0;
    while p < input.len() {
        if input.len() - p < 7 || input[p..p + 4] != MAGIC {
            return None;
        }
        let flg = input[p + 4];
        let bd = input[p + 5];
        let version = flg >> 6;
        let independent = flg & 0x20 != 0;
        let block_checksum = flg & 0x10 != 0;
        let content_size = flg & 0x08 != 0;
        let content_checksum = flg & 0x04 != 0;
        let dict_id = flg & 0x01 != 0;
        if version != 1 || !independent || dict_id {
            return None;
        }
        let max_block = match (bd >> 4) & 0x7 {
            4 => 64 << 10,
            5 => 256 << 10,
            6 => 1 << 20,
            7 => 4 << 20,
            _ => return None,
        };
        let header_len = 4 + 2 + if content_size { 8 } else { 0 } + 1;
        if input.len() - p < header_len {
            return None;
        }
        let hc = (xxhash_rust::xxh32::xxh32(&input[p + 4..p + header_len - 1], 0) >> 8) as u8;
        if hc != input[p + header_len - 1] {
            return Some(Err(err("lz4 frame header checksum mismatch")));
        }
        p += header_len;
        let frame_start = out.len();
        loop {
            if input.len() - p < 4 {
                return Some(Err(err("truncated lz4 block header")));
            }
            let word = u32::from_le_bytes([input[p], input[p + 1], input[p + 2], input[p + 3]]);
            p += 4;
            if word == 0 {
                break;
            }
            let stored = word & 0x8000_0000 != 0;
            let len = (word & 0x7fff_ffff) as usize;
            let extra = if block_checksum { 4 } else { 0 };
            if len > max_block || input.len() - p < len + extra {
                return Some(Err(err("lz4 block exceeds its frame")));
            }
            let block = &input[p..p + len];
            if block_checksum {
                let want = u32::from_le_bytes([
                    input[p + len],
                    input[p + len + 1],
                    input[p + len + 2],
                    input[p + len + 3],
                ]);
                if xxhash_rust::xxh32::xxh32(block, 0) != want {
                    return Some(Err(err("lz4 block checksum mismatch")));
                }
            }
            p += len + extra;
            if stored {
                out.extend_from_slice(block);
            } else {
                // Zeroing a whole 4 MiB max block per 256 KiB block costs more than decoding
                // it: try the expected size first, the frame's maximum only if it is short.
                let start = out.len();
                let mut size = hint
                    .saturating_sub(start)
                    .max(len.saturating_mul(2))
                    .min(max_block);
                loop {
                    out.resize(start + size, 0);
                    match lz4_flex::block::decompress_into(block, &mut out[start..]) {
                        Ok(n) => {
                            out.truncate(start + n);
                            break;
                        }
                        Err(_) if size < max_block => size = max_block,
                        Err(e) => return Some(Err(err(e.to_string()))),
                    }
                }
            }
            if out.len() > MAX_DECOMPRESSED_LEN {
                return Some(Err(err("decompressed stream too large")));
            }
        }
        if content_checksum {
            if input.len() - p < 4 {
                return Some(Err(err("truncated lz4 content checksum")));
            }
            let want = u32::from_le_bytes([input[p], input[p + 1], input[p + 2], input[p + 3]]);
            p += 4;
            if xxhash_rust::xxh32::xxh32(&out[frame_start..], 0) != want {
                return Some(Err(err("lz4 content checksum mismatch")));
            }
        }
    }
    Some(Ok(out))
}

/// One-shot zstd when every frame states its content size.
fn zstd_bulk(input: &[u8]) -> Option<Result<Vec<u8>, CodecError>> {
    let size = zstd::zstd_safe::get_frame_content_size(input).ok()??;
    let size = usize::try_from(size).ok()?;
    // The frame's own claim is only trusted as far as compression could make it true.
    if size > MAX_DECOMPRESSED_LEN || size > input.len().saturating_mul(1 << 12) {
        return None;
    }
    let mut out = Vec::with_capacity(size);
    match zstd::zstd_safe::decompress(&mut out, input) {
        // A second frame would be left undecoded: only accept a complete single frame.
        Ok(n)
            if n == size
                && zstd::zstd_safe::find_frame_compressed_size(input).ok() == Some(input.len()) =>
        {
            Some(Ok(out))
        }
        Ok(_) => None,
        Err(code) => Some(Err(err(zstd::zstd_safe::get_error_name(code)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn general(e: Encoding, b: &[u8]) -> Result<Vec<u8>, CodecError> {
        e.decompress(b, 0)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn fast_paths_agree_with_general_decoders(data in prop::collection::vec(prop_oneof![Just(b'a'), any::<u8>()], 0..150_000), cut in any::<prop::sample::Index>()) {
            for e in Encoding::ALL {
                let mut c = Vec::new();
                e.compress_into(&data, &mut c).unwrap();
                prop_assert_eq!(decompress(e, &c, 10).unwrap(), data.clone());
                // Truncated streams must fail (or agree) the same way.
                let t = &c[..cut.index(c.len().max(1))];
                let (a, b) = (decompress(e, t, 10), general(e, t));
                prop_assert_eq!(a.is_ok(), b.is_ok(), "{}", e);
                if let (Ok(a), Ok(b)) = (a, b) {
                    prop_assert_eq!(a, b);
                }
            }
        }
    }

    #[test]
    fn concatenated_streams_use_every_member() {
        for e in [
            Encoding::Gzip,
            Encoding::Zstd,
            Encoding::Lz4_64k,
            Encoding::Snappy,
        ] {
            let mut c = Vec::new();
            e.compress_into(b"first member;", &mut c).unwrap();
            e.compress_into(b"first member;", &mut c).unwrap();
            assert_eq!(
                decompress(e, &c, 0).unwrap(),
                b"first member;first member;",
                "{e}"
            );
        }
    }

    #[test]
    fn lz4_frames_with_checksums_and_linked_blocks() {
        use std::io::Write;
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 13) as u8).collect();
        for (independent, checksum) in [(true, true), (false, false), (false, true)] {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(if independent {
                    lz4_flex::frame::BlockMode::Independent
                } else {
                    lz4_flex::frame::BlockMode::Linked
                })
                .block_checksums(checksum)
                .content_checksum(checksum);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            enc.write_all(&data).unwrap();
            let c = enc.finish().unwrap();
            assert_eq!(decompress(Encoding::Lz4_64k, &c, 0).unwrap(), data);
        }
    }
}
