//! One function that drives every read path over untrusted bytes; the fuzz
//! target and the corruption tests both call it, so they cannot drift.

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
    verified
}
