//! The chunks one tenant index gives up in a pass (expired by retention, or selected by a
//! delete request), kept for their markers and reports without holding them all: past
//! [`IN_MEMORY`] ids they move to an unnamed scratch file and are read back in marker-sized
//! batches, and the report keeps counts per rule, not ids. A first retention pass over a
//! large bucket can expire tens of millions of chunks; memory must not follow.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;

use crate::retention::{DryRunTotals, ExpiredChunk};

/// Ids held in memory before the log moves to a scratch file (~5 MiB of ids).
pub const IN_MEMORY: usize = 1 << 16;

const DAY_MS: i64 = 86_400_000;

/// What a report keeps of one tenant index's expired chunks.
#[derive(Debug, Default, Clone)]
pub struct ExpiredSummary {
    /// Chunk refs given up.
    pub chunk_refs: u64,
    /// Totals per rule (the `retention_stream` selector, `retention_period`, or the
    /// delete requests). Objects and bytes count a chunk in the table where it starts, so
    /// a chunk spanning tables counts once per pass.
    pub by_rule: BTreeMap<String, DryRunTotals>,
    /// The chunk ids themselves, only when asked for
    /// (`runner::Options::report_expired_ids`): they cost memory per chunk.
    pub ids: Vec<String>,
}

/// Collects one tenant index's expired chunks.
#[derive(Debug)]
pub struct ExpiredLog {
    table_start_ms: i64,
    spill_dir: Option<PathBuf>,
    mem: Vec<String>,
    file: Option<BufWriter<File>>,
    by_ingestion: u64,
    summary: ExpiredSummary,
    keep_ids: bool,
}

impl ExpiredLog {
    /// A log for table number `day`; ids spill to `spill_dir` (none: all kept in memory).
    pub fn new(day: i64, spill_dir: Option<PathBuf>, keep_ids: bool) -> Self {
        ExpiredLog {
            table_start_ms: day.saturating_mul(DAY_MS),
            spill_dir,
            mem: Vec::new(),
            file: None,
            by_ingestion: 0,
            summary: ExpiredSummary::default(),
            keep_ids,
        }
    }

    /// Records one chunk.
    pub fn push(&mut self, e: &ExpiredChunk) -> std::io::Result<()> {
        let t = self.summary.by_rule.entry(e.rule.clone()).or_default();
        t.chunk_refs += 1;
        if e.min_time >= self.table_start_ms {
            t.objects += 1;
            t.bytes += e.bytes;
        }
        self.summary.chunk_refs += 1;
        self.by_ingestion += u64::from(e.by_ingestion);
        if self.keep_ids {
            self.summary.ids.push(e.id.clone());
        }
        if let Some(f) = &mut self.file {
            return writeln!(f, "{}", e.id);
        }
        self.mem.push(e.id.clone());
        if self.mem.len() > IN_MEMORY {
            if let Some(dir) = &self.spill_dir {
                std::fs::create_dir_all(dir)?;
                let mut f = BufWriter::with_capacity(1 << 16, tempfile::tempfile_in(dir)?);
                for id in self.mem.drain(..) {
                    writeln!(f, "{id}")?;
                }
                self.mem = Vec::new();
                self.file = Some(f);
            }
        }
        Ok(())
    }

    /// Records every chunk of `items`.
    pub fn extend<'a>(
        &mut self,
        items: impl IntoIterator<Item = &'a ExpiredChunk>,
    ) -> std::io::Result<()> {
        items.into_iter().try_for_each(|e| self.push(e))
    }

    /// Chunk refs recorded.
    pub fn len(&self) -> u64 {
        self.summary.chunk_refs
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.summary.chunk_refs == 0
    }

    /// Chunks that expired through their `ingested_at` (v14).
    pub fn by_ingestion(&self) -> u64 {
        self.by_ingestion
    }

    /// The report's part, and the ids in batches of at most `batch` for the markers.
    pub fn finish(self, batch: usize) -> std::io::Result<(ExpiredSummary, IdBatches)> {
        let source = match self.file {
            Some(w) => {
                let mut f = w.into_inner().map_err(|e| e.into_error())?;
                f.seek(SeekFrom::Start(0))?;
                Source::File(BufReader::with_capacity(1 << 16, f))
            }
            None => Source::Mem(self.mem.into_iter()),
        };
        Ok((
            self.summary,
            IdBatches {
                source,
                batch: batch.max(1),
            },
        ))
    }
}

#[derive(Debug)]
enum Source {
    Mem(std::vec::IntoIter<String>),
    File(BufReader<File>),
}

/// The expired ids, a batch at a time.
#[derive(Debug)]
pub struct IdBatches {
    source: Source,
    batch: usize,
}

impl IdBatches {
    /// The next batch, `None` at the end.
    pub fn next_batch(&mut self) -> std::io::Result<Option<Vec<String>>> {
        let mut out = Vec::new();
        match &mut self.source {
            Source::Mem(it) => out.extend(it.take(self.batch)),
            Source::File(r) => {
                let mut line = String::new();
                while out.len() < self.batch {
                    line.clear();
                    if r.read_line(&mut line)? == 0 {
                        break;
                    }
                    out.push(line.trim_end_matches('\n').to_owned());
                }
            }
        }
        Ok((!out.is_empty()).then_some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(i: u64, day: i64, starts_before: bool) -> ExpiredChunk {
        ExpiredChunk {
            id: format!("t/{i:x}/1:2:3"),
            bytes: 1024,
            rule: if i % 2 == 0 { "even" } else { "odd" }.into(),
            by_ingestion: i % 3 == 0,
            min_time: day * DAY_MS - i64::from(starts_before),
        }
    }

    fn drain(mut b: IdBatches) -> (Vec<String>, usize) {
        let (mut all, mut batches) = (Vec::new(), 0);
        while let Some(x) = b.next_batch().unwrap() {
            assert!(x.len() <= 1000);
            all.extend(x);
            batches += 1;
        }
        (all, batches)
    }

    #[test]
    fn spills_past_the_memory_cap_and_reads_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let n = IN_MEMORY as u64 + 2_500;
        let mut log = ExpiredLog::new(7, Some(dir.path().to_path_buf()), false);
        for i in 0..n {
            log.push(&chunk(i, 7, i % 5 == 0)).unwrap();
        }
        assert!(
            log.file.is_some() && log.mem.is_empty(),
            "moved to the file"
        );
        assert_eq!(log.len(), n);
        assert_eq!(log.by_ingestion(), n.div_ceil(3));
        let (summary, batches) = log.finish(1000).unwrap();
        assert!(summary.ids.is_empty(), "ids only when asked for");
        let (ids, count) = drain(batches);
        assert_eq!(count as u64, n.div_ceil(1000));
        let want: Vec<String> = (0..n).map(|i| chunk(i, 7, false).id).collect();
        assert_eq!(ids, want);
        let even = summary.by_rule["even"];
        assert_eq!(even.chunk_refs, n.div_ceil(2));
        // Chunks starting in an earlier table are counted as objects there, not here.
        let starts_here = (0..n).filter(|i| i % 2 == 0 && i % 5 != 0).count() as u64;
        assert_eq!(
            (even.objects, even.bytes),
            (starts_here, starts_here * 1024)
        );
    }

    #[test]
    fn small_logs_stay_in_memory_and_can_keep_ids() {
        let mut log = ExpiredLog::new(1, None, true);
        for i in 0..5 {
            log.push(&chunk(i, 1, false)).unwrap();
        }
        let (summary, batches) = log.finish(2).unwrap();
        assert_eq!(summary.ids.len(), 5);
        let (ids, count) = drain(batches);
        assert_eq!((ids, count), (summary.ids.clone(), 3));
    }
}
