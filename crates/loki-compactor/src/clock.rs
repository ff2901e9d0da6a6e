//! Time source: wall clock in production, settable in tests (retention cutoffs and the
//! sweeper's delay depend on it), and unique nanosecond stamps for object names that must
//! never repeat.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A source of unix nanoseconds.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    fixed: Option<Arc<AtomicI64>>,
    last: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock::default()
    }

    /// A clock that stays at `ns` until [`Clock::set_ns`] or [`Clock::advance_ms`].
    pub fn fixed(ns: i64) -> Self {
        Clock {
            fixed: Some(Arc::new(AtomicI64::new(ns))),
            last: Arc::default(),
        }
    }

    /// Moves a fixed clock (no-op on the system clock).
    pub fn set_ns(&self, ns: i64) {
        if let Some(f) = &self.fixed {
            f.store(ns, Ordering::SeqCst);
        }
    }

    /// Advances a fixed clock.
    pub fn advance_ms(&self, ms: i64) {
        if let Some(f) = &self.fixed {
            f.fetch_add(ms.saturating_mul(1_000_000), Ordering::SeqCst);
        }
    }

    /// Now, unix nanoseconds.
    pub fn now_ns(&self) -> i64 {
        match &self.fixed {
            Some(f) => f.load(Ordering::SeqCst),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
                .unwrap_or(0),
        }
    }

    /// Now, unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.now_ns().div_euclid(1_000_000)
    }

    /// A nanosecond stamp strictly greater than every earlier one from this clock: index
    /// and marker names embed it and must never be reused.
    pub fn unique_ns(&self) -> i64 {
        let now = self.now_ns();
        let mut prev = self.last.load(Ordering::SeqCst);
        loop {
            let next = now.max(prev.saturating_add(1));
            match self
                .last
                .compare_exchange(prev, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next,
                Err(p) => prev = p,
            }
        }
    }
}
