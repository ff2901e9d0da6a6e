//! The compression codecs Loki knows, by the id stored at MemChunk offset 5.
//!
//! Every block and the v4 symbols payload is one self-contained stream of the chunk's codec.
//! Readers accept any valid stream of the format (multi-member gzip, any LZ4 frame options,
//! several zstd frames), as Loki's decoders do; writers emit one stream per call.
use std::fmt;
use std::io::Read;
use std::str::FromStr;

/// Upper bound on one decompressed stream. Loki blocks are ~256 KiB; a single line is below
/// 1 GiB (Loki's reader limit), so this only stops decompression bombs.
pub const MAX_DECOMPRESSED_LEN: usize = 1 << 30;

/// A chunk codec (Loki's `chunk_encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// 0: raw bytes.
    None,
    /// 1: one gzip member (Loki's default, and the implicit codec of v1 chunks).
    Gzip,
    /// 3: LZ4 frame, 64 KiB blocks.
    Lz4_64k,
    /// 4: Snappy framing format.
    Snappy,
    /// 5: LZ4 frame, 256 KiB blocks.
    Lz4_256k,
    /// 6: LZ4 frame, 1 MiB blocks.
    Lz4_1M,
    /// 7: LZ4 frame, 4 MiB blocks (Loki calls it `lz4`).
    Lz4_4M,
    /// 8: raw DEFLATE.
    Flate,
    /// 9: one Zstandard frame.
    Zstd,
}

impl Encoding {
    /// Every codec, in id order.
    pub const ALL: [Encoding; 9] = [
        Encoding::None,
        Encoding::Gzip,
        Encoding::Lz4_64k,
        Encoding::Snappy,
        Encoding::Lz4_256k,
        Encoding::Lz4_1M,
        Encoding::Lz4_4M,
        Encoding::Flate,
        Encoding::Zstd,
    ];

    /// The id byte written in the chunk header.
    pub fn id(self) -> u8 {
        match self {
            Encoding::None => 0,
            Encoding::Gzip => 1,
            Encoding::Lz4_64k => 3,
            Encoding::Snappy => 4,
            Encoding::Lz4_256k => 5,
            Encoding::Lz4_1M => 6,
            Encoding::Lz4_4M => 7,
            Encoding::Flate => 8,
            Encoding::Zstd => 9,
        }
    }

    /// The codec for a header id; `None` for 2 ("dumb") and unknown ids.
    pub fn from_id(id: u8) -> Option<Encoding> {
        Encoding::ALL.into_iter().find(|e| e.id() == id)
    }

    /// Loki's name for the codec, as accepted by `chunk_encoding`.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::None => "none",
            Encoding::Gzip => "gzip",
            Encoding::Lz4_64k => "lz4-64k",
            Encoding::Snappy => "snappy",
            Encoding::Lz4_256k => "lz4-256k",
            Encoding::Lz4_1M => "lz4-1M",
            Encoding::Lz4_4M => "lz4",
            Encoding::Flate => "flate",
            Encoding::Zstd => "zstd",
        }
    }

    /// Compresses `input` as one stream of this codec, appending to `out`.
    pub fn compress_into(self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        crate::fast_encode::compress_into(self, input, out)
    }

    /// Decompresses one stream (or several concatenated ones, where the format allows it).
    ///
    /// `size_hint` is a guess of the output size used only to pre-size the buffer.
    pub fn decompress(self, input: &[u8], size_hint: usize) -> Result<Vec<u8>, CodecError> {
        let cap = size_hint
            .min(MAX_DECOMPRESSED_LEN)
            .min(input.len().saturating_mul(8) + 1024);
        let mut out = Vec::with_capacity(cap);
        let limit = MAX_DECOMPRESSED_LEN as u64 + 1;
        let res = match self {
            Encoding::None => {
                out.extend_from_slice(input);
                Ok(0)
            }
            Encoding::Gzip => flate2::read::MultiGzDecoder::new(input)
                .take(limit)
                .read_to_end(&mut out),
            Encoding::Flate => flate2::read::DeflateDecoder::new(input)
                .take(limit)
                .read_to_end(&mut out),
            Encoding::Snappy => snap::read::FrameDecoder::new(input)
                .take(limit)
                .read_to_end(&mut out),
            Encoding::Zstd => match zstd::stream::read::Decoder::with_buffer(input) {
                Ok(d) => d.take(limit).read_to_end(&mut out),
                Err(e) => Err(e),
            },
            Encoding::Lz4_64k | Encoding::Lz4_256k | Encoding::Lz4_1M | Encoding::Lz4_4M => {
                lz4_flex::frame::FrameDecoder::new(input)
                    .take(limit)
                    .read_to_end(&mut out)
            }
        };
        res.map_err(|e| CodecError(e.to_string()))?;
        if out.len() > MAX_DECOMPRESSED_LEN {
            return Err(CodecError(format!(
                "decompressed stream exceeds {MAX_DECOMPRESSED_LEN} bytes"
            )));
        }
        Ok(out)
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `chunk_encoding` value that is not one of Loki's codec names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chunk encoding {0:?} (expected one of none, gzip, lz4-64k, snappy, lz4-256k, lz4-1M, lz4, flate, zstd)")]
pub struct UnknownEncodingName(pub String);

impl FromStr for Encoding {
    type Err = UnknownEncodingName;

    /// Parses Loki's codec names, case-insensitively as Loki does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Encoding::ALL
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownEncodingName(s.to_string()))
    }
}

/// A codec library's failure, as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_roundtrip() {
        for e in Encoding::ALL {
            assert_eq!(Encoding::from_id(e.id()), Some(e));
            assert_eq!(e.name().parse::<Encoding>().unwrap(), e);
            assert_eq!(e.name().to_uppercase().parse::<Encoding>().unwrap(), e);
        }
        assert_eq!(Encoding::from_id(2), None);
        assert_eq!(Encoding::from_id(10), None);
        assert!("lz4-4M".parse::<Encoding>().is_err());
    }

    #[test]
    fn every_codec_roundtrips_including_empty() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        for e in Encoding::ALL {
            for input in [&data[..], b"", b"x"] {
                let mut out = Vec::new();
                e.compress_into(input, &mut out).unwrap();
                let back = e.decompress(&out, input.len()).unwrap();
                assert_eq!(back, input, "{e}");
            }
        }
    }

    #[test]
    fn empty_input_framing_matches_loki() {
        let enc = |e: Encoding| {
            let mut out = Vec::new();
            e.compress_into(b"", &mut out).unwrap();
            out
        };
        assert!(enc(Encoding::None).is_empty());
        assert!(enc(Encoding::Snappy).is_empty());
        // Loki's Go writer gives `03 00`; libdeflate an empty stored block. Both are valid.
        assert!(enc(Encoding::Flate).len() <= 5);
        assert_eq!(enc(Encoding::Lz4_64k).len(), 11);
    }
}
