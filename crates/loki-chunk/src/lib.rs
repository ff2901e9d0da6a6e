//! Loki chunks (placeholder while the crate is written).
