//! Any bytes as a chunk object: wrapper, metadata JSON and the chunk inside.
#![no_main]
use libfuzzer_sys::fuzz_target;
use loki_chunk::{ChunkObject, Verify};

fuzz_target!(|data: &[u8]| {
    if let Ok(obj) = ChunkObject::decode(data.to_vec()) {
        let _ = obj.meta.to_json();
        if let Ok(chunk) = obj.chunk_with(Verify::Lenient) {
            for e in chunk.entries() {
                if e.is_err() {
                    break;
                }
            }
        }
    }
});
