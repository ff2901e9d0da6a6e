//! Assertions shared by the integration tests.
use loki_chunk::Chunk;

/// Our chunk holds what Loki's holds: the same symbol table, the same blocks (entry counts,
/// time bounds, size estimates) and the same decompressed bytes in every block. Only the
/// compressed bytes may differ (different compressor libraries).
pub fn assert_same_blocks(ours: &Chunk, theirs: &Chunk, what: &str) {
    assert_eq!(ours.symbols(), theirs.symbols(), "{what}");
    assert_eq!(ours.blocks().len(), theirs.blocks().len(), "{what}");
    for (i, (a, b)) in ours.blocks().iter().zip(theirs.blocks()).enumerate() {
        let key = |m: &loki_chunk::BlockMeta| {
            (
                m.num_entries,
                m.min_time_ns,
                m.max_time_ns,
                m.uncompressed_size,
            )
        };
        assert_eq!(key(a), key(b), "{what} block {i}");
        assert_eq!(
            ours.block_bytes(i).unwrap(),
            theirs.block_bytes(i).unwrap(),
            "{what} block {i}"
        );
    }
}
