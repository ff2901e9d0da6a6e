//! `loki-inspect index`: look inside a TSDB index file (`.tsdb` or `.tsdb.gz`).
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use loki_tsdb::{
    parse_selector, ChunkMeta, FormatVersion, IndexReader, IndexView, SeriesCursor, Shard,
};
use serde_json::{json, Map, Value};

#[derive(clap::Args)]
pub struct IndexArgs {
    /// Print every series as one JSON object per line, in file order.
    #[arg(long, conflicts_with_all = ["json", "selector"])]
    pub series: bool,
    /// Print the header, TOC and summary as JSON.
    #[arg(long, conflicts_with = "selector")]
    pub json: bool,
    /// List series matching a selector, e.g. '{app="x", env=~"p.*"}' (JSON Lines).
    #[arg(long = "match", value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Start of the time range (ms since epoch or RFC 3339), inclusive.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the time range (ms since epoch or RFC 3339), exclusive.
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Only this tenant of a multi-tenant file (its tenant label is hidden).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only series of this query shard, e.g. 1_of_4.
    #[arg(long)]
    pub shard: Option<String>,
    /// The index file.
    pub file: PathBuf,
}

fn parse_time(s: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let t = humantime::parse_rfc3339_weak(s)
        .with_context(|| format!("{s:?} is neither milliseconds nor an RFC 3339 time"))?;
    let d = t
        .duration_since(std::time::UNIX_EPOCH)
        .context("time before 1970")?;
    Ok(d.as_millis() as i64)
}

fn chunk_json(c: &ChunkMeta, v4: bool) -> Value {
    let mut m = Map::new();
    m.insert("min_time".into(), json!(c.min_time));
    m.insert("max_time".into(), json!(c.max_time));
    m.insert("checksum".into(), json!(c.checksum));
    m.insert("kb".into(), json!(c.kb));
    m.insert("entries".into(), json!(c.entries));
    if v4 {
        m.insert("ingested_at".into(), json!(c.ingested_at));
    }
    Value::Object(m)
}

fn series_json<'a>(
    labels: impl Iterator<Item = (&'a str, &'a str)>,
    fp: u64,
    chunks: impl Iterator<Item = &'a ChunkMeta>,
    v4: bool,
) -> Value {
    let labels: Map<String, Value> = labels.map(|(n, v)| (n.to_owned(), json!(v))).collect();
    json!({
        "labels": labels,
        "fingerprint_hex": format!("{fp:016x}"),
        "chunks": chunks.map(|c| chunk_json(c, v4)).collect::<Vec<_>>(),
    })
}

/// Writes a line; a closed pipe (e.g. `| head`) ends output quietly.
fn emit(out: &mut impl Write, v: &Value) -> anyhow::Result<bool> {
    match writeln!(out, "{v}") {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn each_series(
    cur: &mut SeriesCursor<'_>,
    mut f: impl FnMut(&SeriesCursor<'_>) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    while cur.advance()? {
        if !f(cur)? {
            break;
        }
    }
    Ok(())
}

pub fn run(args: IndexArgs) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let code = run_to(&args, &mut out)?;
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(code),
    }
}

fn run_to(args: &IndexArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let shown = args.file.display().to_string();
    let reader = IndexReader::open(&args.file).with_context(|| shown.clone())?;
    let view: IndexView<'_> = match &args.tenant {
        Some(t) => {
            if !reader.is_multi_tenant() {
                bail!("{shown}: --tenant needs a multi-tenant (ingester) file");
            }
            reader.tenant_view(t)
        }
        None => reader.view(),
    };
    let v4 = reader.version() == FormatVersion::V4;
    let from = args
        .from
        .as_deref()
        .map(parse_time)
        .transpose()?
        .unwrap_or(i64::MIN);
    let to = args
        .to
        .as_deref()
        .map(parse_time)
        .transpose()?
        .unwrap_or(i64::MAX);
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    if let Some(sel) = &args.selector {
        let matchers = parse_selector(sel)?;
        for s in view.query(&matchers, from, to, shard)? {
            let line = series_json(s.labels.iter(), s.fingerprint, s.chunks.iter(), v4);
            if !emit(out, &line)? {
                return Ok(ExitCode::SUCCESS);
            }
        }
    } else if args.series {
        let mut cur = view.series()?;
        each_series(&mut cur, |c| {
            if shard.is_some_and(|s| !s.contains(c.fingerprint())) {
                return Ok(true);
            }
            let chunks = c.chunks().iter().filter(|m| m.overlaps(from, to));
            emit(out, &series_json(c.labels(), c.fingerprint(), chunks, v4))
        })?;
    } else {
        let summary = summarize(&reader, &view)?;
        if args.json {
            emit(out, &summary)?;
        } else {
            print_readable(out, &shown, &summary)?;
        }
        if summary["checksums_ok"] != json!(true) {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn summarize(reader: &IndexReader, view: &IndexView<'_>) -> anyhow::Result<Value> {
    let toc = reader.toc();
    let verify = reader.verify();
    let (mut series, mut chunks) = (0u64, 0u64);
    if verify.is_ok() {
        let mut cur = view.series()?;
        while cur.advance()? {
            series += 1;
            chunks += cur.chunks().len() as u64;
        }
    }
    let names: Vec<&str> = reader.label_names();
    Ok(json!({
        "size": reader.len(),
        "version": reader.version().as_u8(),
        "multi_tenant": reader.is_multi_tenant(),
        "tenants": reader.tenants(),
        "series": series,
        "chunk_refs": chunks,
        "symbols": reader.symbols().count(),
        "label_names": names,
        "from": toc.from,
        "through": toc.through,
        "checksum_hex": format!("{:x}", toc.checksum),
        "checksums_ok": verify.is_ok(),
        "error": verify.err().map(|e| e.to_string()),
        "toc": {
            "symbols": toc.symbols, "series": toc.series, "label_indices": toc.label_indices,
            "label_indices_table": toc.label_indices_table, "postings": toc.postings,
            "postings_table": toc.postings_table, "fingerprint_offsets": toc.fingerprint_offsets,
        },
        "fingerprint_offsets": reader.fingerprint_samples().len(),
    }))
}

fn print_readable(out: &mut impl Write, file: &str, s: &Value) -> anyhow::Result<()> {
    let ok = s["checksums_ok"] == json!(true);
    writeln!(out, "{file}")?;
    writeln!(out, "  format version   {}", s["version"])?;
    writeln!(out, "  size             {} bytes", s["size"])?;
    writeln!(out, "  series           {}", s["series"])?;
    writeln!(out, "  chunk refs       {}", s["chunk_refs"])?;
    writeln!(out, "  symbols          {}", s["symbols"])?;
    writeln!(
        out,
        "  time bounds      {} .. {} (ms)",
        s["from"], s["through"]
    )?;
    writeln!(
        out,
        "  checksum         {}",
        s["checksum_hex"].as_str().unwrap_or("")
    )?;
    let names: Vec<&str> = s["label_names"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    writeln!(out, "  label names      {}", names.join(", "))?;
    if s["multi_tenant"] == json!(true) {
        let t: Vec<&str> = s["tenants"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        writeln!(out, "  tenants          {}", t.join(", "))?;
    }
    if ok {
        writeln!(out, "  checksums        ok")?;
    } else {
        writeln!(
            out,
            "  checksums        FAILED: {}",
            s["error"].as_str().unwrap_or("")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/tsdb/vectors")
    }

    fn args(file: &str) -> IndexArgs {
        IndexArgs {
            series: false,
            json: false,
            selector: None,
            from: None,
            to: None,
            tenant: None,
            shard: None,
            file: vectors().join(file),
        }
    }

    fn lines(a: &IndexArgs) -> (ExitCode, Vec<Value>) {
        let mut out = Vec::new();
        let code = run_to(a, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        (
            code,
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        )
    }

    #[test]
    fn series_lines_match_the_vector_input() {
        // The V4 input lists ingested_at as given; the file keeps day precision.
        let mut a = args("v3_three_series.tsdb");
        a.series = true;
        let (_, got) = lines(&a);
        let input: Value = serde_json::from_slice(
            &std::fs::read(vectors().join("v3_three_series.input.json")).unwrap(),
        )
        .unwrap();
        let mut want: Vec<Value> = input["series"].as_array().unwrap().clone();
        for w in &mut want {
            let o = w.as_object_mut().unwrap();
            o.remove("labels_str");
            for c in o["chunks"].as_array_mut().unwrap() {
                c.as_object_mut().unwrap().remove("ingested_at");
            }
        }
        want.sort_by_key(|w| w["fingerprint_hex"].as_str().unwrap().to_owned());
        assert_eq!(got, want);
    }

    #[test]
    fn v4_series_lines_carry_ingested_at() {
        let mut a = args("v4_three_series.tsdb");
        a.series = true;
        let (_, got) = lines(&a);
        assert_eq!(
            got[0]["chunks"][1]["ingested_at"],
            json!(1_705_536_000_000i64)
        );
    }

    #[test]
    fn match_lists_series_with_tenant_label_and_time_filter() {
        let mut a = args("v3_multitenant.tsdb");
        a.selector = Some(r#"{app="api", env=~"p.*"}"#.into());
        a.from = Some("1705316400001".into());
        a.to = Some("2024-01-15T12:00:00Z".into());
        let (_, got) = lines(&a);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["labels"]["__loki_tenant__"], json!("tenant-a"));
        assert_eq!(got[0]["chunks"].as_array().unwrap().len(), 1);
        a.tenant = Some("tenant-b".into());
        let (_, got) = lines(&a);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["labels"], json!({"app": "api", "env": "prod"}));
    }

    #[test]
    fn json_summary_and_corrupt_file_exit_code() {
        let mut a = args("v3_many_chunks.tsdb");
        a.json = true;
        let (code, got) = lines(&a);
        assert_eq!(code, ExitCode::SUCCESS);
        assert_eq!(got[0]["series"], json!(1));
        assert_eq!(got[0]["chunk_refs"], json!(70));
        assert_eq!(got[0]["checksum_hex"], json!("de52da4b"));
        // A flipped byte inside a label index: opens fine, verify must fail.
        let mut bytes = std::fs::read(vectors().join("v3_three_series.tsdb")).unwrap();
        bytes[310] ^= 0x40;
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), &bytes).unwrap();
        a.file = tmp.path().to_path_buf();
        let (code, got) = lines(&a);
        assert_eq!(code, ExitCode::from(1));
        assert_eq!(got[0]["checksums_ok"], json!(false));
        assert!(got[0]["error"].as_str().unwrap().contains("label index"));
    }
}
