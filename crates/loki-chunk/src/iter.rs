//! Streaming iteration over a chunk's entries, forward or backward, with time-range and
//! line-filter pushdown.
use crate::entry::{BlockDecoder, Entry};
use crate::error::Result;
use crate::reader::Chunk;

/// Iteration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forward,
    /// Newest first.
    Backward,
}

/// What to iterate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IterOptions {
    /// Inclusive lower bound (ns).
    pub from_ns: i64,
    /// Exclusive upper bound (ns); `None` for no bound.
    pub through_ns: Option<i64>,
    /// Order.
    pub direction: Direction,
}

impl Default for IterOptions {
    fn default() -> Self {
        IterOptions {
            from_ns: i64::MIN,
            through_ns: None,
            direction: Direction::Forward,
        }
    }
}

impl IterOptions {
    fn contains(&self, ts: i64) -> bool {
        ts >= self.from_ns && self.through_ns.is_none_or(|t| ts < t)
    }
}

type KeepAll = fn(&[u8]) -> bool;

enum State {
    /// Forward over non-overlapping blocks: one block decoder at a time.
    Streaming(Option<BlockDecoder>),
    /// Entries of one block (backward), or of all selected blocks when blocks overlap,
    /// already in output order, reversed so `pop` yields the next.
    Buffered(Vec<Entry>),
}

/// Iterator over a chunk's entries. Yields an error (then stops) on a corrupt block.
pub struct Entries<F = KeepAll> {
    chunk: Chunk,
    opts: IterOptions,
    filter: F,
    /// Blocks still to visit, in visiting order, reversed so `pop` yields the next.
    pending: Vec<usize>,
    state: State,
    done: bool,
    deferred_error: Option<crate::error::Error>,
}

impl Chunk {
    /// All entries, oldest first.
    pub fn entries(&self) -> Entries {
        self.iter(IterOptions::default())
    }

    /// Entries within a time range, in the given direction.
    pub fn iter(&self, opts: IterOptions) -> Entries {
        self.iter_filtered(opts, (|_| true) as KeepAll)
    }

    /// Entries within a time range whose line passes `filter`. The filter sees the raw line
    /// before structured metadata is resolved, so rejected lines cost little.
    pub fn iter_filtered<F: FnMut(&[u8]) -> bool>(
        &self,
        opts: IterOptions,
        filter: F,
    ) -> Entries<F> {
        // Loki skips whole blocks by their recorded bounds; blocks with a bad CRC (lenient
        // parse) are skipped as Loki does.
        let selected: Vec<usize> = self
            .blocks
            .iter()
            .enumerate()
            .filter(|(_, b)| {
                b.crc_ok
                    && b.max_time_ns >= opts.from_ns
                    && opts.through_ns.is_none_or(|t| b.min_time_ns < t)
            })
            .map(|(i, _)| i)
            .collect();
        let overlapping = selected
            .windows(2)
            .any(|w| self.blocks[w[1]].min_time_ns < self.blocks[w[0]].max_time_ns);
        let mut it = Entries {
            chunk: self.clone(),
            opts,
            filter,
            pending: Vec::new(),
            state: State::Buffered(Vec::new()),
            done: false,
            deferred_error: None,
        };
        if overlapping {
            // Rare (chunks not closed by Loki): merge by sorting all selected entries.
            it.state = State::Buffered(Vec::new());
            it.pending = selected;
            if let Err(e) = it.load_all_sorted() {
                it.pending.clear();
                it.state = State::Buffered(Vec::new());
                it.deferred_error = Some(e);
            }
            return it;
        }
        it.pending = selected;
        if opts.direction == Direction::Forward {
            it.pending.reverse();
            it.state = State::Streaming(None);
        }
        it
    }
}

impl<F: FnMut(&[u8]) -> bool> Entries<F> {
    fn decoder(&self, i: usize) -> Result<BlockDecoder> {
        let bytes = self.chunk.block_bytes(i)?;
        Ok(BlockDecoder::new(
            bytes,
            self.chunk.version.has_structured_metadata(),
            i,
            self.chunk.blocks[i].offset,
            self.chunk.symbols.clone(),
        ))
    }

    fn decode_block(&mut self, i: usize, out: &mut Vec<Entry>) -> Result<()> {
        let mut dec = self.decoder(i)?;
        let opts = self.opts;
        let filter = &mut self.filter;
        let mut keep = |ts: i64, line: &[u8]| opts.contains(ts) && filter(line);
        while let Some(e) = dec.next_filtered(&mut keep)? {
            out.push(e);
        }
        Ok(())
    }

    fn load_all_sorted(&mut self) -> Result<()> {
        let mut all = Vec::new();
        for i in std::mem::take(&mut self.pending) {
            self.decode_block(i, &mut all)?;
        }
        // Stable: equal timestamps keep stored order.
        all.sort_by_key(|e| e.timestamp_ns);
        if self.opts.direction == Direction::Forward {
            all.reverse();
        }
        self.state = State::Buffered(all);
        Ok(())
    }

    fn step(&mut self) -> Result<Option<Entry>> {
        loop {
            match &mut self.state {
                State::Buffered(buf) => {
                    if let Some(e) = buf.pop() {
                        return Ok(Some(e));
                    }
                    // Backward: next block, newest first.
                    let Some(i) = self.pending.pop() else {
                        return Ok(None);
                    };
                    let mut buf = Vec::new();
                    self.decode_block(i, &mut buf)?;
                    self.state = State::Buffered(buf);
                }
                State::Streaming(dec) => {
                    if let Some(d) = dec {
                        let opts = self.opts;
                        let filter = &mut self.filter;
                        let mut keep = |ts: i64, line: &[u8]| opts.contains(ts) && filter(line);
                        if let Some(e) = d.next_filtered(&mut keep)? {
                            return Ok(Some(e));
                        }
                    }
                    let Some(i) = self.pending.pop() else {
                        return Ok(None);
                    };
                    let d = self.decoder(i)?;
                    self.state = State::Streaming(Some(d));
                }
            }
        }
    }
}

impl<F: FnMut(&[u8]) -> bool> Iterator for Entries<F> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(e) = self.deferred_error.take() {
            self.done = true;
            return Some(Err(e));
        }
        match self.step() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
