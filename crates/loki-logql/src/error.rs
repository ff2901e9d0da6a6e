//! Errors of parsing and evaluation.

/// A LogQL error; parse errors carry the byte offset into the query.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// The query text is not valid LogQL.
    #[error("parse error at position {pos}: {msg}")]
    Parse {
        /// Byte offset into the query.
        pos: usize,
        /// What was wrong.
        msg: String,
    },
    /// The query is valid but cannot be evaluated as asked.
    #[error("{0}")]
    Eval(String),
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn perr<T>(pos: usize, msg: impl Into<String>) -> Result<T> {
    Err(Error::Parse {
        pos,
        msg: msg.into(),
    })
}
