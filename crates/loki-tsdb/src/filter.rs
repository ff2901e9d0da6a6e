//! Streaming filter of one index view: retention and delete requests drop
//! chunk refs from a tenant's index without holding its series in memory.
//!
//! The filter is the merge's three passes (see [`crate::merge_in`]) over a
//! single input, with a [`ChunkFilter`] applied whenever a series is read:
//! pass 1 marks only the symbols of series that keep at least one chunk
//! ref, pass 3 writes only those series with only their kept refs. So the
//! output is what [`crate::IndexBuilder`] writes for the surviving series,
//! byte for byte, in the merge's flat memory.

use std::io::Write;
use std::path::Path;

use crate::chunk_meta::ChunkMeta;
use crate::error::Result;
use crate::merge::merge_views;
use crate::version::FormatVersion;
use crate::view::IndexView;
use crate::writer::WriteSummary;

/// Decides which chunk refs of a series survive a [`filter_in`].
///
/// Called twice per series (in the symbol pass and again when writing), so
/// it must be a pure function of its arguments: the same arguments must
/// always leave the same refs. A filter caught answering differently makes
/// the filter fail with [`crate::IndexError::InvalidInput`] rather than
/// write a wrong index.
///
/// Any `Fn(u64, &[(&str, &str)], u64, &mut Vec<ChunkMeta>)` closure is a
/// `ChunkFilter`.
pub trait ChunkFilter {
    /// Removes from `chunks` the refs that must go.
    ///
    /// `ordinal` is the 0-based position of the series in the view's
    /// series order (every series counts, kept or not); `labels` are the
    /// series' labels as (name, value), sorted by name, without the tenant
    /// label in a tenant view (as [`IndexView::series`] shows them);
    /// `fingerprint` is the stored one; `chunks` arrive as stored, sorted
    /// by (min, max, checksum).
    fn retain(
        &self,
        ordinal: u64,
        labels: &[(&str, &str)],
        fingerprint: u64,
        chunks: &mut Vec<ChunkMeta>,
    );
}

impl<F> ChunkFilter for F
where
    F: Fn(u64, &[(&str, &str)], u64, &mut Vec<ChunkMeta>),
{
    fn retain(
        &self,
        ordinal: u64,
        labels: &[(&str, &str)],
        fingerprint: u64,
        chunks: &mut Vec<ChunkMeta>,
    ) {
        self(ordinal, labels, fingerprint, chunks)
    }
}

/// Writes to `out` the index of `view` with `filter` applied to every
/// series' chunk refs; scratch files (unnamed, gone when the filter ends)
/// are created in `scratch_dir`.
///
/// The output is byte-identical to [`crate::IndexBuilder::new`]`(version)`
/// fed the surviving series (same labels, fingerprint and kept refs): the
/// symbol table holds only symbols of surviving series, and a series left
/// without chunk refs (including one that had none) is dropped. If nothing
/// survives, the output is the builder's empty index (no symbols, no
/// series); callers that delete empty indexes can test
/// [`WriteSummary::series`] for 0.
///
/// `view` may be a whole file ([`crate::IndexReader::view`]) or one tenant
/// of a multi-tenant upload ([`crate::IndexReader::tenant_view`], the
/// tenant label stripped). Memory stays flat however large the view: the
/// view is read through its memory map (pages released as the passes go)
/// and nothing is kept per series on the heap.
///
/// ```
/// use loki_tsdb::{filter_in, ChunkMeta, FormatVersion, IndexBuilder, IndexReader, Labels};
///
/// let mut b = IndexBuilder::new(FormatVersion::V3);
/// for (app, t) in [("api", 1_000), ("web", 5_000)] {
///     let l = Labels::new([("app", app)]);
///     let fp = l.fingerprint();
///     b.add_series(l, fp, [ChunkMeta { min_time: t, max_time: t + 500, ..Default::default() }]);
/// }
/// let reader = IndexReader::from_bytes(b.build()?.0)?;
/// // Retention: refs that ended before 2 000 go, and `api` with them.
/// let expire = |_: u64, _: &[(&str, &str)], _: u64, chunks: &mut Vec<ChunkMeta>| {
///     chunks.retain(|c| c.max_time >= 2_000)
/// };
/// let scratch = std::env::temp_dir();
/// let (bytes, summary) =
///     filter_in(reader.view(), FormatVersion::V3, Vec::new(), &scratch, &expire)?;
/// assert_eq!(summary.series, 1);
/// let filtered = IndexReader::from_bytes(bytes)?;
/// assert_eq!(filtered.symbols().collect::<Vec<_>>(), ["app", "web"]);
/// # Ok::<(), loki_tsdb::IndexError>(())
/// ```
pub fn filter_in<W: Write>(
    view: IndexView<'_>,
    version: FormatVersion,
    out: W,
    scratch_dir: &Path,
    filter: &dyn ChunkFilter,
) -> Result<(W, WriteSummary)> {
    merge_views(
        &[view],
        Some(filter),
        version,
        out,
        Some(scratch_dir.to_path_buf()),
    )
}
