//! Any bytes: parsing (strict and lenient) and full iteration in both directions must not
//! panic or allocate without bound.
#![no_main]
use libfuzzer_sys::fuzz_target;
use loki_chunk::{Chunk, Direction, IterOptions, Verify};

fuzz_target!(|data: &[u8]| {
    for verify in [Verify::Strict, Verify::Lenient] {
        if let Ok(chunk) = Chunk::parse_with(data.to_vec(), verify) {
            for direction in [Direction::Forward, Direction::Backward] {
                for e in chunk.iter(IterOptions { direction, ..Default::default() }) {
                    if e.is_err() {
                        break;
                    }
                }
            }
        }
    }
});
