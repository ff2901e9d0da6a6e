//! Crash points for the crash-safety tests: when the environment variable
//! `LOKI_COMPACTOR_CRASH_AT` names a step boundary (optionally `name:N` for
//! the N-th time it is reached), the process aborts right there, without
//! unwinding or cleanup, like a SIGKILL would leave it.
//!
//! `LOKI_COMPACTOR_PAUSE_AT` (same syntax) instead holds the step at that boundary, after
//! printing `loki-compactor: pause point <name> reached` to stderr, until the binary
//! receives SIGTERM/SIGINT ([`release_pauses`]): the shutdown tests signal the process at
//! a known point of its cycle.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

/// Environment variable naming the crash point.
pub const CRASH_ENV: &str = "LOKI_COMPACTOR_CRASH_AT";
/// Environment variable naming the pause point.
pub const PAUSE_ENV: &str = "LOKI_COMPACTOR_PAUSE_AT";

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
static PAUSE: OnceLock<Option<(String, u64)>> = OnceLock::new();
static PAUSE_HITS: AtomicU64 = AtomicU64::new(0);
static RELEASED: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

/// `name` or `name:N` from `var`.
fn parse_target(var: &str) -> Option<(String, u64)> {
    let v = std::env::var(var).ok()?;
    let (name, n) = match v.split_once(':') {
        Some((n, c)) => (n.to_owned(), c.parse().unwrap_or(1)),
        None => (v, 1),
    };
    Some((name, n.max(1)))
}

fn target() -> &'static Option<(String, u64)> {
    TARGET.get_or_init(|| parse_target(CRASH_ENV))
}

/// Lets every paused (and future) pause point continue; called when a termination
/// signal arrives.
pub fn release_pauses() {
    let (m, cv) = &RELEASED;
    *m.lock().unwrap_or_else(|e| e.into_inner()) = true;
    cv.notify_all();
}

fn pause_here(name: &str) {
    eprintln!("loki-compactor: pause point {name} reached");
    let wait = || {
        let (m, cv) = &RELEASED;
        let mut released = m.lock().unwrap_or_else(|e| e.into_inner());
        while !*released {
            released = cv.wait(released).unwrap_or_else(|e| e.into_inner());
        }
    };
    // On a runtime worker, hand the worker's other tasks (the signal listener among them)
    // to another thread while this one blocks.
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(wait),
        _ => wait(),
    }
}

type Hook = Box<dyn Fn(&str) + Send + Sync>;
static HOOK: OnceLock<Hook> = OnceLock::new();

/// Registers a function called at every step boundary (once per process; in-process tests
/// use it to change the bucket at an exact point). Returns false if one is already set.
pub fn set_hook(hook: impl Fn(&str) + Send + Sync + 'static) -> bool {
    HOOK.set(Box::new(hook)).is_ok()
}

/// Aborts the process if this is the configured crash point; holds it if this is the
/// configured pause point.
pub fn point(name: &str) {
    if let Some(h) = HOOK.get() {
        h(name);
    }
    if let Some((t, n)) = PAUSE.get_or_init(|| parse_target(PAUSE_ENV)) {
        if t == name && PAUSE_HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n {
            pause_here(name);
        }
    }
    if let Some((t, n)) = target() {
        if t == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n {
            eprintln!("loki-compactor: crash point {name} reached, aborting");
            std::process::abort();
        }
    }
}
