//! Just enough of the bbolt file format to read and write Loki's marker files: one
//! top-level bucket holding 8-byte big-endian sequence keys and chunk-id values.
//! Written from the format's published layout (meta pages 0/1, freelist page, leaf and
//! branch pages, inline buckets), little-endian as on amd64.

const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const PAGE_HEADER: usize = 16;
const ELEM: usize = 16;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const META: u16 = 0x04;
const FREELIST: u16 = 0x10;
const BUCKET_LEAF: u32 = 0x01;
/// Page size Loki's bbolt uses on amd64/Linux.
pub const PAGE_SIZE: usize = 4096;

/// Why a file is not a bbolt marker file we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bbolt: {0}")]
pub struct BoltError(pub String);

fn err<T>(m: impl Into<String>) -> Result<T, BoltError> {
    Err(BoltError(m.into()))
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, BoltError> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| BoltError(format!("truncated at {at}")))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, BoltError> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| BoltError(format!("truncated at {at}")))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, BoltError> {
    b.get(at..at + 8)
        .map(|s| {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_le_bytes(a)
        })
        .ok_or_else(|| BoltError(format!("truncated at {at}")))
}

/// FNV-1a 64, bbolt's meta checksum.
fn fnv64a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// True when `b` starts like a bbolt file.
pub fn looks_like_bbolt(b: &[u8]) -> bool {
    u32_at(b, PAGE_HEADER).ok() == Some(MAGIC)
}

struct Meta {
    page_size: usize,
    root: u64,
    txid: u64,
}

fn read_meta(b: &[u8], at: usize) -> Result<Meta, BoltError> {
    let m = at + PAGE_HEADER;
    if u32_at(b, m)? != MAGIC {
        return err("bad magic");
    }
    if u32_at(b, m + 4)? != VERSION {
        return err("unsupported version");
    }
    let sum = u64_at(b, m + 56)?;
    let body = b
        .get(m..m + 56)
        .ok_or_else(|| BoltError("truncated meta".into()))?;
    if fnv64a(body) != sum {
        return err("meta checksum mismatch");
    }
    Ok(Meta {
        page_size: u32_at(b, m + 8)? as usize,
        root: u64_at(b, m + 16)?,
        txid: u64_at(b, m + 48)?,
    })
}

/// A page view: the bytes from its header on (overflow pages included).
fn page(b: &[u8], size: usize, id: u64) -> Result<&[u8], BoltError> {
    let start = usize::try_from(id)
        .ok()
        .and_then(|i| i.checked_mul(size))
        .ok_or_else(|| BoltError(format!("page id {id} out of range")))?;
    if start + PAGE_HEADER > b.len() {
        return err(format!("page {id} beyond end of file"));
    }
    let overflow = u32_at(b, start + 12)? as usize;
    let end = (start + (overflow + 1) * size).min(b.len());
    Ok(&b[start..end])
}

/// Visits the (flags, key, value) of every leaf element under page `p`, in key order.
fn walk<'a>(
    b: &'a [u8],
    size: usize,
    p: &'a [u8],
    depth: usize,
    budget: &mut usize,
    visit: &mut dyn FnMut(u32, &'a [u8], &'a [u8]) -> Result<(), BoltError>,
) -> Result<(), BoltError> {
    // A corrupt file could point pages at each other: bound depth and total visits.
    if depth > 64 || *budget == 0 {
        return err("page tree too deep or cyclic");
    }
    *budget -= 1;
    let flags = u16_at(p, 8)?;
    let count = u16_at(p, 10)? as usize;
    for i in 0..count {
        let e = PAGE_HEADER + i * ELEM;
        if flags & LEAF != 0 {
            let fl = u32_at(p, e)?;
            let pos = u32_at(p, e + 4)? as usize;
            let ks = u32_at(p, e + 8)? as usize;
            let vs = u32_at(p, e + 12)? as usize;
            let k0 = e + pos;
            let key = p
                .get(k0..k0 + ks)
                .ok_or_else(|| BoltError("key out of page".into()))?;
            let val = p
                .get(k0 + ks..k0 + ks + vs)
                .ok_or_else(|| BoltError("value out of page".into()))?;
            visit(fl, key, val)?;
        } else if flags & BRANCH != 0 {
            let child = u64_at(p, e + 8)?;
            walk(b, size, page(b, size, child)?, depth + 1, budget, visit)?;
        } else {
            return err(format!("unexpected page flags {flags:#x}"));
        }
    }
    Ok(())
}

/// A key and its value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Reads every value of top-level bucket `bucket`, in key order.
pub fn read_bucket_values(b: &[u8], bucket: &[u8]) -> Result<Vec<Vec<u8>>, BoltError> {
    Ok(read_bucket(b, bucket)?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// Reads every (key, value) of top-level bucket `bucket` (nested buckets skipped), in key
/// order; a missing bucket reads as empty.
pub fn read_bucket(b: &[u8], bucket: &[u8]) -> Result<Vec<KeyValue>, BoltError> {
    let m0 = read_meta(b, 0);
    let size0 = m0.as_ref().map(|m| m.page_size).unwrap_or(PAGE_SIZE);
    let m1 = if b.len() >= size0 + 80 {
        read_meta(b, size0)
    } else {
        err("no second meta page")
    };
    let meta = match (m0, m1) {
        (Ok(a), Ok(c)) => {
            if c.txid > a.txid {
                c
            } else {
                a
            }
        }
        (Ok(a), Err(_)) | (Err(_), Ok(a)) => a,
        (Err(e), Err(_)) => return Err(e),
    };
    if meta.page_size < 512 || meta.page_size > 1 << 20 {
        return err("implausible page size");
    }
    let size = meta.page_size;
    let root = page(b, size, meta.root)?;
    let mut budget = b.len() / size + 2;
    let mut header: Option<&[u8]> = None;
    walk(b, size, root, 0, &mut budget, &mut |fl, k, v| {
        if k == bucket && fl & BUCKET_LEAF != 0 {
            header = Some(v);
        }
        Ok(())
    })?;
    let Some(h) = header else {
        return Ok(Vec::new());
    };
    let broot = u64_at(h, 0)?;
    let mut out = Vec::new();
    let mut collect = |fl: u32, k: &[u8], v: &[u8]| {
        if fl & BUCKET_LEAF == 0 {
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(())
    };
    if broot == 0 {
        // Inline bucket: its single leaf page follows the 16-byte header in the value.
        let inline = h
            .get(16..)
            .ok_or_else(|| BoltError("short inline bucket".into()))?;
        walk(b, size, inline, 0, &mut budget, &mut collect)?;
    } else {
        walk(b, size, page(b, size, broot)?, 0, &mut budget, &mut collect)?;
    }
    Ok(out)
}

fn put_header(buf: &mut [u8], id: u64, flags: u16, count: u16, overflow: u32) {
    buf[0..8].copy_from_slice(&id.to_le_bytes());
    buf[8..10].copy_from_slice(&flags.to_le_bytes());
    buf[10..12].copy_from_slice(&count.to_le_bytes());
    buf[12..16].copy_from_slice(&overflow.to_le_bytes());
}

/// A page being laid out: elements of (key, value) or (key, child).
struct Node {
    keys: Vec<Vec<u8>>,
    vals: Vec<Vec<u8>>,
    flags: Vec<u32>,
    children: Vec<u64>,
}

fn node_size(keys: &[Vec<u8>], vals: &[Vec<u8>]) -> usize {
    PAGE_HEADER
        + keys
            .iter()
            .zip(vals)
            .map(|(k, v)| ELEM + k.len() + v.len())
            .sum::<usize>()
}

/// Serialises a node to whole pages starting at page `id`.
fn encode_node(n: &Node, id: u64, leaf: bool) -> Vec<u8> {
    let vals: Vec<&[u8]> = if leaf {
        n.vals.iter().map(Vec::as_slice).collect()
    } else {
        n.keys.iter().map(|_| &[][..]).collect()
    };
    let raw = PAGE_HEADER
        + n.keys
            .iter()
            .zip(&vals)
            .map(|(k, v)| ELEM + k.len() + v.len())
            .sum::<usize>();
    let pages = raw.div_ceil(PAGE_SIZE).max(1);
    let mut buf = vec![0u8; pages * PAGE_SIZE];
    let count = u16::try_from(n.keys.len()).unwrap_or(u16::MAX);
    put_header(
        &mut buf,
        id,
        if leaf { LEAF } else { BRANCH },
        count,
        u32::try_from(pages - 1).unwrap_or(0),
    );
    let mut data = PAGE_HEADER + n.keys.len() * ELEM;
    for (i, (k, v)) in n.keys.iter().zip(&vals).enumerate() {
        let e = PAGE_HEADER + i * ELEM;
        let pos = u32::try_from(data - e).unwrap_or(0);
        if leaf {
            buf[e..e + 4].copy_from_slice(&n.flags[i].to_le_bytes());
            buf[e + 4..e + 8].copy_from_slice(&pos.to_le_bytes());
            buf[e + 8..e + 12].copy_from_slice(&(k.len() as u32).to_le_bytes());
            buf[e + 12..e + 16].copy_from_slice(&(v.len() as u32).to_le_bytes());
        } else {
            buf[e..e + 4].copy_from_slice(&pos.to_le_bytes());
            buf[e + 4..e + 8].copy_from_slice(&(k.len() as u32).to_le_bytes());
            buf[e + 8..e + 16].copy_from_slice(&n.children[i].to_le_bytes());
        }
        buf[data..data + k.len()].copy_from_slice(k);
        data += k.len();
        buf[data..data + v.len()].copy_from_slice(v);
        data += v.len();
    }
    buf
}

fn write_meta(buf: &mut [u8], id: u64, root: u64, freelist: u64, pgid: u64, txid: u64) {
    put_header(buf, id, META, 0, 0);
    let m = PAGE_HEADER;
    buf[m..m + 4].copy_from_slice(&MAGIC.to_le_bytes());
    buf[m + 4..m + 8].copy_from_slice(&VERSION.to_le_bytes());
    buf[m + 8..m + 12].copy_from_slice(&(PAGE_SIZE as u32).to_le_bytes());
    buf[m + 12..m + 16].copy_from_slice(&0u32.to_le_bytes());
    buf[m + 16..m + 24].copy_from_slice(&root.to_le_bytes());
    buf[m + 24..m + 32].copy_from_slice(&0u64.to_le_bytes());
    buf[m + 32..m + 40].copy_from_slice(&freelist.to_le_bytes());
    buf[m + 40..m + 48].copy_from_slice(&pgid.to_le_bytes());
    buf[m + 48..m + 56].copy_from_slice(&txid.to_le_bytes());
    let sum = fnv64a(&buf[m..m + 56]);
    buf[m + 56..m + 64].copy_from_slice(&sum.to_le_bytes());
}

/// Builds a bbolt file with one top-level bucket `bucket` whose keys are the 8-byte
/// big-endian sequence numbers 1..=n and whose values are `values` (bucket sequence = n),
/// the shape of Loki's marker files.
pub fn write_sequence_bucket(bucket: &[u8], values: &[Vec<u8>]) -> Vec<u8> {
    let kvs: Vec<(Vec<u8>, Vec<u8>)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| ((i as u64 + 1).to_be_bytes().to_vec(), v.clone()))
        .collect();
    write_bucket(bucket, &kvs, values.len() as u64)
}

/// Builds a bbolt file with one top-level bucket `bucket` holding `kvs` (any order; bbolt
/// keeps keys sorted bytewise, a repeated key keeps its last value) with bucket sequence
/// `sequence`: the shape of Loki's BoltDB delete-request DB.
pub fn write_bucket(bucket: &[u8], kvs: &[(Vec<u8>, Vec<u8>)], sequence: u64) -> Vec<u8> {
    let mut sorted: Vec<&(Vec<u8>, Vec<u8>)> = kvs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut uniq: Vec<&(Vec<u8>, Vec<u8>)> = Vec::with_capacity(sorted.len());
    for kv in sorted {
        match uniq.last_mut() {
            Some(last) if last.0 == kv.0 => *last = kv,
            _ => uniq.push(kv),
        }
    }
    // Leaves, filled up to one page each (an oversized element gets overflow pages).
    let mut level: Vec<Node> = Vec::new();
    let mut cur = Node {
        keys: Vec::new(),
        vals: Vec::new(),
        flags: Vec::new(),
        children: Vec::new(),
    };
    for (k, v) in uniq {
        let k = k.clone();
        let add = ELEM + k.len() + v.len();
        if !cur.keys.is_empty() && node_size(&cur.keys, &cur.vals) + add > PAGE_SIZE {
            level.push(std::mem::replace(
                &mut cur,
                Node {
                    keys: Vec::new(),
                    vals: Vec::new(),
                    flags: Vec::new(),
                    children: Vec::new(),
                },
            ));
        }
        cur.keys.push(k);
        cur.vals.push(v.clone());
        cur.flags.push(0);
    }
    level.push(cur);

    // Pages 0,1 meta; 2 freelist; 3 root bucket page; data pages from 4.
    let mut pages: Vec<u8> = Vec::new();
    let mut next: u64 = 4;
    let mut leaf = true;
    let bucket_root = loop {
        let mut firsts = Vec::new();
        for n in &level {
            let enc = encode_node(n, next, leaf);
            firsts.push((n.keys.first().cloned().unwrap_or_default(), next));
            next += (enc.len() / PAGE_SIZE) as u64;
            pages.extend_from_slice(&enc);
        }
        if firsts.len() == 1 {
            break firsts[0].1;
        }
        // Next level up: branch pages of (first key, child page id).
        let mut up: Vec<Node> = Vec::new();
        let per = (PAGE_SIZE - PAGE_HEADER) / (ELEM + 8);
        for group in firsts.chunks(per) {
            up.push(Node {
                keys: group.iter().map(|(k, _)| k.clone()).collect(),
                vals: Vec::new(),
                flags: Vec::new(),
                children: group.iter().map(|(_, c)| *c).collect(),
            });
        }
        level = up;
        leaf = false;
    };
    let mut header = bucket_root.to_le_bytes().to_vec();
    header.extend_from_slice(&sequence.to_le_bytes());
    let root = encode_node(
        &Node {
            keys: vec![bucket.to_vec()],
            vals: vec![header],
            flags: vec![BUCKET_LEAF],
            children: Vec::new(),
        },
        3,
        true,
    );
    let total = next;
    let mut out = vec![0u8; 3 * PAGE_SIZE];
    write_meta(&mut out[..PAGE_SIZE], 0, 3, 2, total, 2);
    write_meta(&mut out[PAGE_SIZE..2 * PAGE_SIZE], 1, 3, 2, total, 1);
    put_header(&mut out[2 * PAGE_SIZE..], 2, FREELIST, 0, 0);
    out.extend_from_slice(&root);
    out.extend_from_slice(&pages);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_small_and_multi_level() {
        for n in [0usize, 1, 13, 60, 5_000, 20_000] {
            let vals: Vec<Vec<u8>> = (0..n)
                .map(|i| format!("tenant/{i:x}/1a1fe57041f:1a1feb6e45c:cce51c28").into_bytes())
                .collect();
            let file = write_sequence_bucket(b"chunks", &vals);
            assert!(looks_like_bbolt(&file));
            assert_eq!(file.len() % PAGE_SIZE, 0);
            assert_eq!(read_bucket_values(&file, b"chunks").unwrap(), vals, "n={n}");
        }
    }

    #[test]
    fn oversized_value_uses_overflow_pages() {
        let vals = vec![vec![b'x'; 9000], b"small".to_vec()];
        let file = write_sequence_bucket(b"chunks", &vals);
        assert_eq!(read_bucket_values(&file, b"chunks").unwrap(), vals);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(read_bucket_values(b"not a bolt file", b"chunks").is_err());
        let mut f = write_sequence_bucket(b"chunks", &[b"a/b/c".to_vec()]);
        for i in (0..f.len()).step_by(97) {
            f[i] ^= 0x5a;
        }
        let _ = read_bucket_values(&f, b"chunks");
    }
}
