//! Left-over staging files of the local filesystem store.
//!
//! The filesystem backend writes an object to `<key>#<n>` and renames (or, for
//! create-only writes, hard-links) it into place. A process killed in between leaves the
//! `<key>#<n>` file behind; listings ignore it, but it takes space forever. At start-up the
//! compactor removes such files under the prefixes it writes to (index tables, its own
//! `loki-compactor/` objects, Loki-format markers, the delete-request store), if they are
//! older than [`STAGING_MIN_AGE`]: no write of ours takes that long, so a file that old is
//! not in flight, here or on another host sharing the directory. Chunk directories are not
//! walked (they can hold millions of files, and the compactor writes chunks only when it
//! rewrites them for delete requests). Loki's own filesystem client writes objects in
//! place and never creates `#<n>` names; neither chunk keys (base64 on the filesystem) nor
//! index names contain `#`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Minimum age of a staging file before it is removed.
pub const STAGING_MIN_AGE: Duration = Duration::from_secs(3600);

/// Whether `name` is a staging name `<something>#<digits>`.
pub fn is_staging_name(name: &str) -> bool {
    match name.rsplit_once('#') {
        Some((base, n)) => {
            !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Removes staging files older than `min_age` (at `now`) under `root/<prefix>` for each
/// prefix; returns what was removed (or, with `dry_run`, what would be). Unreadable
/// directories and files that vanish meanwhile are skipped.
pub fn remove_stale(
    root: &Path,
    prefixes: &[String],
    min_age: Duration,
    now: SystemTime,
    dry_run: bool,
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for p in prefixes {
        let dir = root.join(p.trim_matches('/'));
        if seen.contains(&dir) {
            continue;
        }
        seen.push(dir.clone());
        walk(&dir, min_age, now, dry_run, &mut out);
    }
    out
}

fn walk(dir: &Path, min_age: Duration, now: SystemTime, dry_run: bool, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let path = e.path();
        if ft.is_dir() {
            walk(&path, min_age, now, dry_run, out);
            continue;
        }
        if !ft.is_file() || !is_staging_name(&e.file_name().to_string_lossy()) {
            continue;
        }
        let old_enough = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age >= min_age);
        if !old_enough {
            continue;
        }
        if dry_run {
            out.push(path);
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                tracing::info!(file = %path.display(), "removed a staging file left by an interrupted write");
                out.push(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %path.display(), err = %e, "could not remove a stale staging file")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names() {
        assert!(is_staging_name("1795-compactor-1-2-ab.tsdb.gz#17"));
        assert!(is_staging_name("lease#0"));
        assert!(!is_staging_name("#12"));
        assert!(!is_staging_name("name#"));
        assert!(!is_staging_name("name#1a"));
        assert!(!is_staging_name("plain.tsdb.gz"));
    }
}
