//! The fingerprint offsets table (spec section 11): every 1024th series'
//! ref and fingerprint, used to narrow the ref window of a shard.

use crate::decode::framed;
use crate::error::{Result, Section};

/// Series are sampled every this many positions.
pub(crate) const SAMPLE_EVERY: usize = 1024;

#[derive(Debug, Clone, Default)]
pub(crate) struct FingerprintOffsets {
    /// (series ref, fingerprint), ascending.
    pub(crate) samples: Vec<(u64, u64)>,
}

impl FingerprintOffsets {
    pub(crate) fn parse(file: &[u8], off: usize) -> Result<FingerprintOffsets> {
        let mut d = framed(file, off, Section::FingerprintOffsets)?;
        let n = d.be32("entry count")? as usize;
        if d.remaining() != n * 16 {
            return Err(d.invalid(
                "entry count",
                format!("{n} entries but {} bytes of content", d.remaining()),
            ));
        }
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let r = d.be64("series ref")?;
            let fp = d.be64("fingerprint")?;
            samples.push((r, fp));
        }
        Ok(FingerprintOffsets { samples })
    }

    /// The ref window `[start, end)` that can hold fingerprints in
    /// `[fp_from, fp_through)`; `end` is `None` when unbounded. Mirrors how
    /// Loki narrows a sharded postings iterator.
    pub(crate) fn window(&self, fp_from: u64, fp_through: Option<u64>) -> (u64, Option<u64>) {
        let s = &self.samples;
        let lo = s.partition_point(|&(_, fp)| fp < fp_from);
        let start = if lo == 0 || lo >= s.len() {
            0
        } else {
            s[lo - 1].0
        };
        let end = fp_through.and_then(|t| {
            let hi = s.partition_point(|&(_, fp)| fp < t);
            s.get(hi).map(|&(r, _)| r)
        });
        (start, end)
    }
}
