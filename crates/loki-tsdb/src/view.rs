//! Queries over one index file, either whole or as one tenant's index.
//!
//! A tenant view of a multi-tenant (ingester) file behaves like that
//! tenant's own index: only its series, `__loki_tenant__` stripped from
//! labels and label names, fingerprints as stored (spec section 14).

use std::collections::BTreeSet;

use crate::chunk_meta::ChunkMeta;
use crate::error::Result;
use crate::labels::Series;
use crate::matchers::{MatchOp, Matcher};
use crate::postings::{intersect, subtract, union};
use crate::reader::{IndexReader, SeriesCursor, TENANT_LABEL};
use crate::shard::Shard;

/// Index stats of a query (what Loki's stats API sums).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkStats {
    /// Streams with at least one overlapping chunk.
    pub streams: u64,
    /// Overlapping chunks.
    pub chunks: u64,
    /// Pro-rated KB.
    pub kb: u64,
    /// Pro-rated entries.
    pub entries: u64,
}

/// A chunk ref as returned to a query engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkRef {
    /// Stream fingerprint (the `<fp>` of the chunk object key).
    pub fingerprint: u64,
    /// The chunk's metadata.
    pub meta: ChunkMeta,
}

impl ChunkRef {
    /// Object key of the chunk under schema v12+ (`<tenant>/<fp>/<from>:<through>:<crc>`).
    pub fn object_key(&self, tenant: &str) -> String {
        format!(
            "{tenant}/{:x}/{:x}:{:x}:{:x}",
            self.fingerprint, self.meta.min_time, self.meta.max_time, self.meta.checksum
        )
    }
}

/// Query handle over a whole file or one tenant of it.
#[derive(Debug, Clone, Copy)]
pub struct IndexView<'r> {
    reader: &'r IndexReader,
    /// (name symbol, value symbol) of `__loki_tenant__=<tenant>`; the
    /// outer `Option` is `Some` for tenant views, the inner is `None` when
    /// the tenant is absent from the file (an empty view).
    tenant: Option<Option<(u32, u32)>>,
}

impl IndexReader {
    /// The whole file, labels as stored.
    pub fn view(&self) -> IndexView<'_> {
        IndexView {
            reader: self,
            tenant: None,
        }
    }

    /// One tenant of a multi-tenant file, with the tenant label hidden.
    /// Empty if the file has no series of that tenant.
    pub fn tenant_view(&self, tenant: &str) -> IndexView<'_> {
        let syms = self.symbol_table();
        let pair = syms
            .lookup(self.bytes(), TENANT_LABEL)
            .zip(syms.lookup(self.bytes(), tenant));
        IndexView {
            reader: self,
            tenant: Some(pair),
        }
    }
}

/// Pro-rated stats contribution of one chunk for `[from, through)`.
fn prorate(c: &ChunkMeta, from: i64, through: i64) -> (u64, u64) {
    let span = c.max_time.saturating_sub(c.min_time);
    if span <= 0 {
        return (u64::from(c.kb), u64::from(c.entries));
    }
    let left = from.saturating_sub(c.min_time).max(0);
    let right = c.max_time.saturating_sub(through).max(0);
    let f = (span - left - right) as f64 / span as f64;
    (
        (f64::from(c.kb) * f) as u64,
        (f64::from(c.entries) * f) as u64,
    )
}

impl<'r> IndexView<'r> {
    /// The underlying reader.
    pub fn reader(&self) -> &'r IndexReader {
        self.reader
    }

    pub(crate) fn stripped_label(&self) -> Option<u32> {
        self.tenant.flatten().map(|(n, _)| n)
    }

    /// Refs of all series in this view, ascending.
    pub fn series_refs(&self) -> Result<Vec<u32>> {
        match self.tenant {
            None => self.reader.all_series_refs(),
            Some(None) => Ok(Vec::new()),
            Some(Some((n, v))) => {
                let r = self.reader;
                r.postings(r.symbol(n), r.symbol(v))
            }
        }
    }

    /// The series refs of this view as the raw (big-endian, CRC-checked)
    /// postings list in the file, for long walks that should not collect
    /// them; `None` for an empty view.
    pub(crate) fn series_refs_raw(&self) -> Result<Option<(usize, &'r [u8])>> {
        let r = self.reader;
        let off = match self.tenant {
            None => r.postings_offset("", ""),
            Some(None) => None,
            Some(Some((n, v))) => r.postings_offset(r.symbol(n), r.symbol(v)),
        };
        off.map(|o| crate::postings_table::postings_bytes(r.bytes(), o))
            .transpose()
    }

    /// Cursor over the series of this view in file order.
    pub fn series(&self) -> Result<SeriesCursor<'r>> {
        Ok(SeriesCursor::new(
            self.reader,
            self.series_refs()?,
            self.stripped_label(),
        ))
    }

    pub(crate) fn cursor_over(&self, refs: Vec<u32>) -> SeriesCursor<'r> {
        SeriesCursor::new(self.reader, refs, self.stripped_label())
    }

    /// Union of the postings of every value of `name` accepted by `keep`.
    fn postings_where(&self, name: &str, keep: impl Fn(&str) -> bool) -> Result<Vec<u32>> {
        let r = self.reader;
        let mut lists = Vec::new();
        for (v, off) in r.label_values_with_offsets(name) {
            if keep(v) {
                let mut l = Vec::new();
                r.postings_at(off, &mut l)?;
                lists.push(l);
            }
        }
        Ok(union(lists))
    }

    /// Refs of the series matching all matchers (Prometheus semantics: an
    /// absent label has the empty value).
    pub fn select_refs(&self, matchers: &[Matcher]) -> Result<Vec<u32>> {
        if self.tenant == Some(None) {
            return Ok(Vec::new());
        }
        // In a tenant view the tenant label is invisible to matchers.
        let hidden = self.stripped_label().is_some();
        let mut cand: Option<Vec<u32>> = if hidden {
            Some(self.series_refs()?)
        } else {
            None
        };
        let mut empty_matching = Vec::new();
        for m in matchers {
            if hidden && m.name() == TENANT_LABEL {
                if m.matches("") {
                    continue;
                }
                return Ok(Vec::new());
            }
            if m.matches("") {
                empty_matching.push(m);
                continue;
            }
            let list = if m.op() == MatchOp::Equal {
                self.reader.postings(m.name(), m.value())?
            } else {
                self.postings_where(m.name(), |v| m.matches(v))?
            };
            cand = Some(match cand {
                None => list,
                Some(c) => intersect(&c, &list),
            });
            if cand.as_ref().is_some_and(Vec::is_empty) {
                return Ok(Vec::new());
            }
        }
        let mut cand = match cand {
            Some(c) => c,
            None => self.series_refs()?,
        };
        for m in empty_matching {
            // Series with the label set to a value the matcher rejects drop out.
            let excluded = if m.op() == MatchOp::NotEqual {
                self.reader.postings(m.name(), m.value())?
            } else {
                self.postings_where(m.name(), |v| !m.matches(v))?
            };
            cand = subtract(&cand, &excluded);
        }
        Ok(cand)
    }

    /// Refs an all-series iterator restricted to `shard` visits, using the
    /// fingerprint offsets table (before the exact fingerprint filter).
    pub fn shard_window_refs(&self, shard: Shard) -> Result<Vec<u32>> {
        let refs = self.series_refs()?;
        Ok(self.clip_to_window(refs, shard))
    }

    fn clip_to_window(&self, refs: Vec<u32>, shard: Shard) -> Vec<u32> {
        let (start, end) = self.reader.fp_offsets().window(shard.min, shard.through());
        refs.into_iter()
            .filter(|&r| u64::from(r) >= start && end.is_none_or(|e| u64::from(r) < e))
            .collect()
    }

    /// Visits every matching series that has chunks overlapping
    /// `[from, through)`, with the chunks filtered to those.
    fn for_each_match(
        &self,
        matchers: &[Matcher],
        from: i64,
        through: i64,
        shard: Option<Shard>,
        mut f: impl FnMut(&SeriesCursor<'r>, &[ChunkMeta]),
    ) -> Result<()> {
        let mut refs = self.select_refs(matchers)?;
        if let Some(s) = shard {
            refs = self.clip_to_window(refs, s);
        }
        let mut cur = self.cursor_over(refs);
        let mut kept = Vec::new();
        while cur.advance()? {
            if shard.is_some_and(|s| !s.contains(cur.fingerprint())) {
                continue;
            }
            kept.clear();
            kept.extend(cur.chunks().iter().filter(|c| c.overlaps(from, through)));
            if !kept.is_empty() {
                f(&cur, &kept);
            }
        }
        Ok(())
    }

    /// Series matching `matchers` with at least one chunk overlapping
    /// `[from, through)`; only overlapping chunks are returned.
    pub fn query(
        &self,
        matchers: &[Matcher],
        from: i64,
        through: i64,
        shard: Option<Shard>,
    ) -> Result<Vec<Series>> {
        let mut out = Vec::new();
        self.for_each_match(matchers, from, through, shard, |cur, chunks| {
            let mut s = cur.to_series();
            s.chunks = chunks.to_vec();
            out.push(s);
        })?;
        Ok(out)
    }

    /// Chunk refs of matching series overlapping `[from, through)`.
    pub fn chunk_refs(
        &self,
        matchers: &[Matcher],
        from: i64,
        through: i64,
        shard: Option<Shard>,
    ) -> Result<Vec<ChunkRef>> {
        let mut out = Vec::new();
        self.for_each_match(matchers, from, through, shard, |cur, chunks| {
            let fp = cur.fingerprint();
            out.extend(chunks.iter().map(|&meta| ChunkRef {
                fingerprint: fp,
                meta,
            }));
        })?;
        Ok(out)
    }

    /// Index stats over `[from, through)` with Loki's pro-rating of chunks
    /// that stick out of the range.
    pub fn stats(
        &self,
        matchers: &[Matcher],
        from: i64,
        through: i64,
        shard: Option<Shard>,
    ) -> Result<ChunkStats> {
        let mut st = ChunkStats::default();
        self.for_each_match(matchers, from, through, shard, |_, chunks| {
            let mut entries = 0;
            for c in chunks {
                let (kb, e) = prorate(c, from, through);
                st.chunks += 1;
                st.kb += kb;
                entries += e;
            }
            st.entries += entries;
            if entries > 0 {
                st.streams += 1;
            }
        })?;
        Ok(st)
    }

    /// Stats of one series' chunks over `[from, through)`: (chunks, kb, entries).
    pub fn series_stats(chunks: &[ChunkMeta], from: i64, through: i64) -> (u64, u64, u64) {
        chunks
            .iter()
            .filter(|c| c.overlaps(from, through))
            .fold((0, 0, 0), |(n, k, e), c| {
                let (kb, en) = prorate(c, from, through);
                (n + 1, k + kb, e + en)
            })
    }

    fn any_overlap(&self, refs: Vec<u32>, from: i64, through: i64) -> Result<bool> {
        let mut cur = self.cursor_over(refs);
        while cur.advance()? {
            if cur.chunks().iter().any(|c| c.overlaps(from, through)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Label names of series with chunks in `[from, through)`.
    pub fn label_names(&self, from: i64, through: i64) -> Result<Vec<String>> {
        let mut names = BTreeSet::new();
        let mut cur = self.series()?;
        while cur.advance()? {
            if cur.chunks().iter().any(|c| c.overlaps(from, through)) {
                for (n, _) in cur.labels() {
                    if !names.contains(n) {
                        names.insert(n.to_owned());
                    }
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    /// Values of `name` on series with chunks in `[from, through)`.
    pub fn label_values(&self, name: &str, from: i64, through: i64) -> Result<Vec<String>> {
        if self.stripped_label().is_some() && name == TENANT_LABEL {
            return Ok(Vec::new());
        }
        let scope = self.series_refs()?;
        let mut out = Vec::new();
        for v in self.reader.label_values(name) {
            let refs = intersect(&scope, &self.reader.postings(name, v)?);
            if self.any_overlap(refs, from, through)? {
                out.push(v.to_owned());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prorating_matches_the_vector_example() {
        // v3_three_series, series 4, range [base+1h, base+2h).
        let c = ChunkMeta {
            min_time: 1_705_279_800_000,
            max_time: 1_705_284_000_000,
            kb: 12,
            entries: 34,
            ..Default::default()
        };
        assert_eq!(prorate(&c, 1_705_280_400_000, 1_705_284_000_000), (10, 29));
    }
}
