//! Decompression entry point for blocks and symbols: picks the fastest decoder per codec.
use crate::codec::{CodecError, Encoding};

pub(crate) fn decompress(
    encoding: Encoding,
    input: &[u8],
    hint: usize,
) -> Result<Vec<u8>, CodecError> {
    encoding.decompress(input, hint)
}
