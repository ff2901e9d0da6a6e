//! One function that drives every read path, the merge and the filter
//! over untrusted bytes; the fuzz target and the corruption tests both
//! call it, so they cannot drift.

use crate::chunk_meta::ChunkMeta;
use crate::matchers::parse_selector;
use crate::reader::IndexReader;
use crate::shard::Shard;

/// Opens `data` and runs every read and query path over it, returning the
/// first error. Must never panic, whatever the input.
#[doc(hidden)]
pub fn exercise_reader(data: &[u8]) -> crate::Result<()> {
    let r = IndexReader::from_bytes(data.to_vec())?;
    let _ = r.symbols().count();
    for n in r.label_names() {
        let _ = r.label_values(n);
    }
    let verified = r.verify();
    let v = r.view();
    let all = parse_selector("{}")?;
    let m = parse_selector(r#"{app=~"a.*|w.*", env!="dev", team!~"x+"}"#)?;
    let (from, through) = (r.toc().from, r.toc().through.saturating_add(1));
    v.query(&all, from, through, None)?;
    v.query(&m, from, through, Some(Shard::parse("1_of_2")?))?;
    v.stats(&m, from, through, None)?;
    v.label_names(from, through)?;
    for t in r.tenants() {
        let tv = r.tenant_view(t);
        tv.query(&m, i64::MIN, i64::MAX, None)?;
        tv.label_values("app", i64::MIN, i64::MAX)?;
    }
    let views = [v];
    crate::merge::merge(&views, r.version(), Vec::new())?;
    // Drops every third series and the refs with odd checksums: both the
    // kept and the dropped paths of the filter's passes.
    let filter = |ordinal: u64, _: &[(&str, &str)], _: u64, cs: &mut Vec<ChunkMeta>| {
        if ordinal % 3 == 1 {
            cs.clear();
        }
        cs.retain(|c| c.checksum % 2 == 0);
    };
    let scratch = std::env::temp_dir();
    for view in std::iter::once(v).chain(r.tenants().into_iter().map(|t| r.tenant_view(t))) {
        crate::filter::filter_in(view, r.version(), Vec::new(), &scratch, &filter)?;
    }
    verified
}
