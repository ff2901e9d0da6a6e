//! `loki-inspect export`: every entry of the matching streams, in time order per stream,
//! one file per stream, resumable, with bounded memory.
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use loki_chunk::{ChunkObject, IterOptions};
use loki_logql::{format_rfc3339_nanos, parse_log, LabelsBuilder, LogExpr};
use serde_json::{json, Map, Value};

use crate::store_read::{StoreArgs, StoreChunk, StoreReader, StreamChunks};

/// Export file formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per entry (tenant, labels, ts_ns, line, structured_metadata).
    Ndjson,
    /// `<RFC 3339 time> <line>` per entry.
    Text,
    /// Gzipped ndjson.
    Gz,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub range: crate::tenant_range::TenantRange,
    /// File format.
    #[arg(long, value_enum, default_value = "ndjson")]
    pub format: Format,
    /// Output directory (created; streams already exported there are skipped).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub deletes: crate::deletes::DeleteArgs,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Stream selector, optionally with a pipeline (`{app="x"} |= "error"`).
    pub selector: String,
}

fn file_name(s: &StreamChunks, format: Format) -> String {
    let fp = s.chunks.first().map_or(0, |c| c.1.fingerprint);
    let ext = match format {
        Format::Ndjson => "ndjson",
        Format::Text => "txt",
        Format::Gz => "ndjson.gz",
    };
    format!("{fp:016x}.{ext}")
}

fn obj(l: &[(String, String)]) -> Value {
    Value::Object(
        l.iter()
            .map(|(n, v)| (n.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

struct Entry {
    ts: i64,
    line: String,
    metadata: Vec<(String, String)>,
}

/// Runs `export`.
pub fn run(a: ExportArgs) -> Result<ExitCode> {
    let log = parse_log(&a.selector).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (from, to) = a.range.nanos()?;
    std::fs::create_dir_all(&a.out).with_context(|| a.out.display().to_string())?;
    let mut reader = StoreReader::open(&a.store, &a.range.tenant)?;
    let deletes = crate::deletes::PendingDeletes::load(&a.deletes, &reader, &a.range.tenant)?;
    let streams = reader.select(&log.matchers, from, to)?;
    let total_chunks: u64 = streams.iter().map(|s| s.chunks.len() as u64).sum();
    let pb = if a.quiet {
        ProgressBar::hidden()
    } else {
        let pb = ProgressBar::with_draw_target(Some(total_chunks), ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} chunks {msg} [{elapsed_precise}, ETA {eta}]",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    };
    let manifest_path = a.out.join("streams.jsonl");
    let (mut entries_total, mut bytes_total, mut skipped) = (0u64, 0u64, 0u64);
    for s in &streams {
        let name = file_name(s, a.format);
        let path = a.out.join(&name);
        if path.exists() {
            // Finished by an earlier run (files appear only when complete).
            skipped += 1;
            pb.inc(s.chunks.len() as u64);
            continue;
        }
        let ctx = StreamCtx {
            reader: &reader,
            log: &log,
            deletes: &deletes,
            from,
            to,
            format: a.format,
            tenant: &a.range.tenant,
            batch_chunks: a.store.concurrency.max(1),
        };
        let (n, bytes) = export_stream(&ctx, s, &path, &pb)?;
        entries_total += n;
        bytes_total += bytes;
        pb.set_message(format!(
            "{entries_total} entries, {} MB",
            bytes_total / 1_000_000
        ));
        let mut m = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&manifest_path)?;
        writeln!(
            m,
            "{}",
            json!({"file": name, "labels": obj(&s.labels), "entries": n, "line_bytes": bytes})
        )?;
    }
    pb.finish_and_clear();
    if !a.quiet {
        eprintln!(
            "exported {} streams ({skipped} already done), {entries_total} entries, {bytes_total} line bytes to {}",
            streams.len() as u64 - skipped,
            a.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What every stream of one export shares.
struct StreamCtx<'a> {
    reader: &'a StoreReader,
    log: &'a LogExpr,
    deletes: &'a crate::deletes::PendingDeletes,
    from: i64,
    to: i64,
    format: Format,
    tenant: &'a str,
    /// Chunks fetched together (the request concurrency).
    batch_chunks: usize,
}

fn export_stream(
    c: &StreamCtx<'_>,
    s: &StreamChunks,
    path: &Path,
    pb: &ProgressBar,
) -> Result<(u64, u64)> {
    let StreamCtx {
        reader,
        log,
        deletes,
        from,
        to,
        format,
        tenant,
        batch_chunks,
    } = *c;
    let applicable = deletes.for_stream(&s.labels);
    let partial = path.with_extension("partial");
    let file = File::create(&partial).with_context(|| partial.display().to_string())?;
    let mut out: Box<dyn Write> = match format {
        Format::Gz => Box::new(flate2::write::GzEncoder::new(
            BufWriter::new(file),
            flate2::Compression::default(),
        )),
        _ => Box::new(BufWriter::new(file)),
    };
    // Every ndjson record starts the same way: serialise that part once per stream.
    let prefix = format!(
        "{{\"tenant\":{},\"labels\":{},\"ts_ns\":\"",
        serde_json::to_string(tenant)?,
        obj(&s.labels)
    );
    let mut lbs = LabelsBuilder::new(&s.labels, &[]);
    let (mut n, mut bytes) = (0u64, 0u64);
    let mut merge = Merge::new(reader, &s.chunks, from, to, batch_chunks);
    // Lines already written at the current timestamp: replicas and overlapping chunks
    // repeat entries, and Loki shows them once.
    let mut seen_ts = i64::MIN;
    let mut seen_lines: Vec<String> = Vec::new();
    while let Some(e) = merge.next_entry(pb)? {
        if e.ts != seen_ts {
            seen_ts = e.ts;
            seen_lines.clear();
        } else if seen_lines.contains(&e.line) {
            continue;
        }
        if !applicable.is_empty()
            && deletes.deleted(&applicable, &s.labels, e.ts, &e.line, &e.metadata)
        {
            seen_lines.push(e.line);
            continue;
        }
        lbs.reset(&e.metadata);
        if let Some(line) = loki_logql::run_pipeline(&log.stages, e.ts, &e.line, &mut lbs) {
            match format {
                Format::Text => writeln!(out, "{} {}", format_rfc3339_nanos(e.ts), line)?,
                _ => write_record(&mut out, &prefix, e.ts, &line, &e.metadata)?,
            }
            n += 1;
            bytes += line.len() as u64;
        }
        seen_lines.push(e.line);
    }
    out.flush()?;
    drop(out);
    std::fs::rename(&partial, path).with_context(|| path.display().to_string())?;
    Ok((n, bytes))
}

/// The rest of an ndjson record after `prefix`: `<ts>","line":…,"structured_metadata":{…}}`,
/// the same bytes `serde_json` writes for the whole record.
fn write_record(
    out: &mut dyn Write,
    prefix: &str,
    ts: i64,
    line: &str,
    metadata: &[(String, String)],
) -> Result<()> {
    out.write_all(prefix.as_bytes())?;
    write!(out, "{ts}\",\"line\":")?;
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b",\"structured_metadata\":")?;
    if metadata
        .iter()
        .enumerate()
        .any(|(i, (n, _))| metadata[..i].iter().any(|(m, _)| m == n))
    {
        // A repeated name: let a JSON map decide which value stays, as before.
        serde_json::to_writer(&mut *out, &obj(metadata))?;
    } else {
        out.write_all(b"{")?;
        for (i, (k, v)) in metadata.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, k)?;
            out.write_all(b":")?;
            serde_json::to_writer(&mut *out, v)?;
        }
        out.write_all(b"}")?;
    }
    out.write_all(b"}\n")?;
    Ok(())
}

/// One stream's entries in time order, merged from its chunks (sorted by start). A chunk
/// is fetched and decoded only when the merge reaches its start, and dropped when read to
/// the end, so memory holds the chunks overlapping the current instant plus one prefetched
/// batch of at most `--concurrency` compressed chunks, whatever the stream's size.
struct Merge<'a> {
    reader: &'a StoreReader,
    chunks: &'a [StoreChunk],
    from: i64,
    to: i64,
    batch: usize,
    /// Index in `chunks` of the next chunk to open.
    next: usize,
    /// Fetched bodies of `chunks[next..]`.
    prefetched: std::collections::VecDeque<bytes::Bytes>,
    /// Open chunks, in the order opened: their next entry, the rest, their index.
    active: Vec<(Entry, loki_chunk::Entries, usize)>,
}

impl<'a> Merge<'a> {
    fn new(
        reader: &'a StoreReader,
        chunks: &'a [StoreChunk],
        from: i64,
        to: i64,
        batch: usize,
    ) -> Self {
        Merge {
            reader,
            chunks,
            from,
            to,
            batch,
            next: 0,
            prefetched: Default::default(),
            active: Vec::new(),
        }
    }

    fn convert(e: loki_chunk::Entry) -> Entry {
        Entry {
            ts: e.timestamp_ns,
            line: String::from_utf8_lossy(&e.line).into_owned(),
            metadata: e
                .structured_metadata
                .iter()
                .filter_map(|(n, v)| {
                    Some((
                        loki_chunk::normalize_metadata_name(&String::from_utf8_lossy(n))?,
                        String::from_utf8_lossy(v).into_owned(),
                    ))
                })
                .collect(),
        }
    }

    fn open_next(&mut self, pb: &ProgressBar) -> Result<()> {
        if self.prefetched.is_empty() {
            let end = (self.next + self.batch).min(self.chunks.len());
            self.prefetched = self.reader.fetch(&self.chunks[self.next..end])?.into();
        }
        let body = self.prefetched.pop_front().unwrap_or_default();
        let ch = &self.chunks[self.next];
        self.next += 1;
        pb.inc(1);
        let chunk = ChunkObject::decode(body)
            .and_then(|o| o.chunk())
            .with_context(|| format!("chunk {:?}", ch.1))?;
        let mut it = chunk.iter(IterOptions {
            from_ns: self.from,
            through_ns: Some(self.to),
            ..Default::default()
        });
        if let Some(first) = it.next() {
            let first = first.with_context(|| format!("chunk {:?}", ch.1))?;
            self.active.push((Self::convert(first), it, self.next - 1));
        }
        Ok(())
    }

    /// The next entry in time order (ties: the chunk opened first).
    fn next_entry(&mut self, pb: &ProgressBar) -> Result<Option<Entry>> {
        loop {
            let min = self
                .active
                .iter()
                .enumerate()
                .min_by_key(|(i, (e, _, _))| (e.ts, *i))
                .map(|(i, (e, _, _))| (i, e.ts));
            if let Some(c) = self.chunks.get(self.next) {
                // A chunk starting at or before the earliest pending entry may hold entries
                // that come first.
                if min.is_none_or(|(_, ts)| c.1.from_ms.saturating_mul(1_000_000) <= ts) {
                    self.open_next(pb)?;
                    continue;
                }
            }
            let Some((i, _)) = min else {
                return Ok(None);
            };
            let next = self.active[i].1.next();
            let e = match next {
                Some(n) => {
                    let n =
                        n.with_context(|| format!("chunk {:?}", self.chunks[self.active[i].2].1))?;
                    std::mem::replace(&mut self.active[i].0, Self::convert(n))
                }
                None => self.active.remove(i).0,
            };
            return Ok(Some(e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written record is byte for byte what serde_json writes for the record.
    #[test]
    fn record_bytes_match_serde_json() {
        let labels = vec![("app".to_owned(), "a\"b".to_owned())];
        for metadata in [
            vec![],
            vec![
                ("trace_id".to_owned(), "x\ty".to_owned()),
                ("ü".to_owned(), "é\u{1}".to_owned()),
            ],
            vec![
                ("k".to_owned(), "1".to_owned()),
                ("k".to_owned(), "2".to_owned()),
            ],
        ] {
            let line = "say \"hi\"\\ \u{7f} 日本";
            let want = format!(
                "{}\n",
                json!({
                    "tenant": "t\"1", "labels": obj(&labels), "ts_ns": "-5",
                    "line": line, "structured_metadata": obj(&metadata),
                })
            );
            let prefix = format!(
                "{{\"tenant\":{},\"labels\":{},\"ts_ns\":\"",
                serde_json::to_string("t\"1").unwrap(),
                obj(&labels)
            );
            let mut got = Vec::new();
            write_record(&mut got, &prefix, -5, line, &metadata).unwrap();
            assert_eq!(String::from_utf8(got).unwrap(), want);
        }
    }
}
