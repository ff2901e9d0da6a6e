//! Crash points for the crash-safety tests: when the environment variable
//! `LOKI_COMPACTOR_CRASH_AT` names a step boundary (optionally `name:N` for
//! the N-th time it is reached), the process aborts right there, without
//! unwinding or cleanup, like a SIGKILL would leave it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Environment variable naming the crash point.
pub const CRASH_ENV: &str = "LOKI_COMPACTOR_CRASH_AT";

/// Every step boundary we can crash at, in cycle order.
pub const CRASH_POINTS: &[&str] = &[
    "after-merge",
    "after-delete-audit",
    "after-marker-write",
    "after-tenant-upload",
    "after-tenant-delete",
    "before-common-delete",
    "after-common-delete",
    "sweep-after-chunk-delete",
    "sweep-before-marker-delete",
];

static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
static HITS: AtomicU64 = AtomicU64::new(0);

fn target() -> &'static Option<(String, u64)> {
    TARGET.get_or_init(|| {
        let v = std::env::var(CRASH_ENV).ok()?;
        let (name, n) = match v.split_once(':') {
            Some((n, c)) => (n.to_owned(), c.parse().unwrap_or(1)),
            None => (v, 1),
        };
        Some((name, n.max(1)))
    })
}

type Hook = Box<dyn Fn(&str) + Send + Sync>;
static HOOK: OnceLock<Hook> = OnceLock::new();

/// Registers a function called at every step boundary (once per process; in-process tests
/// use it to change the bucket at an exact point). Returns false if one is already set.
pub fn set_hook(hook: impl Fn(&str) + Send + Sync + 'static) -> bool {
    HOOK.set(Box::new(hook)).is_ok()
}

/// Aborts the process if this is the configured crash point.
pub fn point(name: &str) {
    if let Some(h) = HOOK.get() {
        h(name);
    }
    if let Some((t, n)) = target() {
        if t == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n {
            eprintln!("loki-compactor: crash point {name} reached, aborting");
            std::process::abort();
        }
    }
}
