//! Any bytes given to the reader must give a result or an error, never a
//! panic, hang or out-of-memory.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = loki_tsdb::exercise_reader(data);
});
