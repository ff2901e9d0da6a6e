//! `loki-inspect chunk`: decode chunk objects (any file name, including the filesystem
//! store's base64 names) or bare MemChunks.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use loki_chunk::{Chunk, ChunkKey, ChunkObject, Verify};
use serde::Serialize;

#[derive(clap::Args)]
pub struct ChunkArgs {
    /// Print one JSON object per file (header, blocks, checksums).
    #[arg(long, conflicts_with = "entries")]
    pub json: bool,
    /// Print every entry as a JSON line, in the shape of the golden `inputs.jsonl`.
    #[arg(long)]
    pub entries: bool,
    /// Chunk objects or bare MemChunks.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// A file decoded as far as its damage allows.
struct Decoded {
    object: Option<ChunkObject>,
    /// Key from the file name, when the name is one.
    key: Option<ChunkKey>,
    chunk: Chunk,
    /// Offset of the MemChunk in the file.
    base: usize,
    /// First problem found, as a one-line message with offsets.
    problem: Option<String>,
}

const MEMCHUNK_MAGIC: [u8; 4] = [0x01, 0x2e, 0xe5, 0x6a];

fn decode(path: &Path) -> Result<Decoded> {
    let bytes = std::fs::read(path).context("read failed")?;
    let key = ChunkKey::from_file_path(path);
    let mut problem = None;
    let (object, chunk_bytes, base) = if bytes.starts_with(&MEMCHUNK_MAGIC) {
        (None, bytes::Bytes::from(bytes), 0)
    } else {
        let obj = ChunkObject::decode(bytes)?;
        if let Some(k) = &key {
            if k.checksum != obj.checksum {
                problem = Some(format!(
                    "object checksum mismatch at offset 0: key says {:08x}, object is {:08x}",
                    k.checksum, obj.checksum
                ));
            }
        }
        let base = obj.chunk_offset();
        (Some(obj.clone()), obj.chunk_bytes(), base)
    };
    let chunk =
        Chunk::parse_with(chunk_bytes, Verify::Lenient).map_err(|e| offset_hint(e, base))?;
    if problem.is_none() {
        if let Some((i, b)) = chunk.blocks().iter().enumerate().find(|(_, b)| !b.crc_ok) {
            problem = Some(format!(
                "block {i} checksum mismatch (block at chunk offset {}, file offset {})",
                b.offset,
                base + b.offset
            ));
        }
    }
    Ok(Decoded {
        object,
        key,
        chunk,
        base,
        problem,
    })
}

fn offset_hint(e: loki_chunk::Error, base: usize) -> anyhow::Error {
    if base == 0 {
        anyhow::Error::new(e)
    } else {
        anyhow::Error::new(e).context(format!("in the chunk data starting at file offset {base}"))
    }
}

pub fn run(args: ChunkArgs) -> Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = false;
    for path in &args.files {
        let res = decode(path).and_then(|d| {
            if args.json {
                print_json(&mut out, path, &d)
            } else if args.entries {
                print_entries(&mut out, &d)
            } else {
                print_summary(&mut out, path, &d)
            }
            .map(|()| d.problem)
        });
        out.flush()?;
        match res {
            Ok(None) => {}
            Ok(Some(problem)) => {
                eprintln!("error: {}: {problem}", path.display());
                failed = true;
            }
            Err(e) => {
                eprintln!("error: {}: {e:#}", path.display());
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(Serialize)]
struct BlockJson {
    offset: usize,
    len: usize,
    uncompressed_size: u64,
    entries: u64,
    min_ts_ns: i64,
    max_ts_ns: i64,
    crc_ok: bool,
}

#[derive(Serialize)]
struct ChunkJson<'a> {
    path: &'a str,
    format_version: u8,
    encoding: &'static str,
    tenant: Option<&'a str>,
    fingerprint_hex: Option<String>,
    labels: BTreeMap<String, String>,
    from_ms: Option<i64>,
    through_ms: Option<i64>,
    checksum_ok: bool,
    entries: u64,
    uncompressed_bytes: u64,
    blocks: Vec<BlockJson>,
}

/// Entry count and payload bytes (lines plus metadata names and values), decoding every block.
fn totals(chunk: &Chunk) -> loki_chunk::Result<(u64, u64)> {
    let (mut n, mut bytes) = (0u64, 0u64);
    for e in chunk.entries() {
        let e = e?;
        n += 1;
        bytes += e.line.len() as u64;
        bytes += e
            .structured_metadata
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum::<u64>();
    }
    Ok((n, bytes))
}

fn labels_of(d: &Decoded) -> BTreeMap<String, String> {
    d.object
        .as_ref()
        .map(|o| {
            o.meta
                .stream_labels()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn print_json(out: &mut impl Write, path: &Path, d: &Decoded) -> Result<()> {
    let (entries, uncompressed_bytes) = totals(&d.chunk).map_err(|e| offset_hint(e, d.base))?;
    let meta = d.object.as_ref().map(|o| &o.meta);
    let path_str = path.to_string_lossy();
    let j = ChunkJson {
        path: &path_str,
        format_version: d.chunk.version().as_u8(),
        encoding: d.chunk.encoding().name(),
        tenant: meta.map(|m| m.tenant.as_str()),
        fingerprint_hex: meta.map(|m| format!("{:x}", m.fingerprint)),
        labels: labels_of(d),
        from_ms: meta
            .map(|m| m.from_ms)
            .or_else(|| d.chunk.min_time_ns().map(loki_chunk::ns_to_ms_floor)),
        through_ms: meta
            .map(|m| m.through_ms)
            .or_else(|| d.chunk.max_time_ns().map(loki_chunk::ns_to_ms_ceil)),
        checksum_ok: d.problem.is_none(),
        entries,
        uncompressed_bytes,
        blocks: d
            .chunk
            .blocks()
            .iter()
            .map(|b| BlockJson {
                offset: b.offset,
                len: b.len,
                uncompressed_size: b.uncompressed_size,
                entries: b.num_entries,
                min_ts_ns: b.min_time_ns,
                max_ts_ns: b.max_time_ns,
                crc_ok: b.crc_ok,
            })
            .collect(),
    };
    serde_json::to_writer(&mut *out, &j)?;
    writeln!(out)?;
    Ok(())
}

#[derive(Serialize)]
struct EntryJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
    labels: &'a BTreeMap<String, String>,
    ts_ns: String,
    line: std::borrow::Cow<'a, str>,
    structured_metadata: BTreeMap<std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>>,
}

fn print_entries(out: &mut impl Write, d: &Decoded) -> Result<()> {
    let labels = labels_of(d);
    let tenant = d.object.as_ref().map(|o| o.meta.tenant.as_str());
    for e in d.chunk.entries() {
        let e = e.map_err(|e| offset_hint(e, d.base))?;
        let j = EntryJson {
            tenant,
            labels: &labels,
            ts_ns: e.timestamp_ns.to_string(),
            line: String::from_utf8_lossy(&e.line),
            structured_metadata: e
                .structured_metadata
                .iter()
                .map(|(k, v)| (String::from_utf8_lossy(k), String::from_utf8_lossy(v)))
                .collect(),
        };
        serde_json::to_writer(&mut *out, &j)?;
        writeln!(out)?;
    }
    Ok(())
}

fn rfc3339_ns(ns: i64) -> String {
    if ns < 0 {
        return format!("{ns}ns");
    }
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns as u64);
    humantime::format_rfc3339_nanos(t).to_string()
}

fn rfc3339_ms(ms: i64) -> String {
    if ms < 0 {
        return format!("{ms}ms");
    }
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

fn print_summary(out: &mut impl Write, path: &Path, d: &Decoded) -> Result<()> {
    let c = &d.chunk;
    writeln!(out, "{}", path.display())?;
    if let Some(o) = &d.object {
        let m = &o.meta;
        writeln!(out, "  tenant       {}", m.tenant)?;
        writeln!(out, "  stream       {}", m.stream_labels())?;
        writeln!(out, "  fingerprint  {:x}", m.fingerprint)?;
        writeln!(
            out,
            "  time         {} .. {} ({} ms .. {} ms)",
            rfc3339_ms(m.from_ms),
            rfc3339_ms(m.through_ms),
            m.from_ms,
            m.through_ms
        )?;
        let key_note = match &d.key {
            Some(k) if k.checksum == o.checksum => " (matches key)",
            Some(_) => " (DOES NOT match the key in the file name)",
            None => "",
        };
        writeln!(out, "  checksum     {:08x}{key_note}", o.checksum)?;
        writeln!(out, "  key (v13)    {}", o.key().to_key(13))?;
    } else {
        writeln!(out, "  bare MemChunk (no object wrapper)")?;
    }
    let (entries, payload) = totals(c).map_err(|e| offset_hint(e, d.base))?;
    let stored = c.bytes().len();
    writeln!(
        out,
        "  format       v{} {}, {} blocks, {} symbols",
        c.version().as_u8(),
        c.encoding(),
        c.blocks().len(),
        c.symbols().len()
    )?;
    writeln!(
        out,
        "  entries      {entries}, {payload} payload bytes in {stored} stored bytes ({:.2}x)",
        payload as f64 / stored.max(1) as f64
    )?;
    writeln!(
        out,
        "  {:>5} {:>9} {:>8} {:>12} {:>8}  {:<30} {:<30} crc",
        "block", "offset", "len", "uncompressed", "entries", "min", "max"
    )?;
    for (i, b) in c.blocks().iter().enumerate() {
        writeln!(
            out,
            "  {:>5} {:>9} {:>8} {:>12} {:>8}  {:<30} {:<30} {}",
            i,
            b.offset,
            b.len,
            b.uncompressed_size,
            b.num_entries,
            rfc3339_ns(b.min_time_ns),
            rfc3339_ns(b.max_time_ns),
            if b.crc_ok { "ok" } else { "BAD" }
        )?;
    }
    Ok(())
}
