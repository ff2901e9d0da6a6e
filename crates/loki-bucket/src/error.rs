//! The crate's error: callers branch on meaning (missing, exists, precondition, denied,
//! transient), and every variant that concerns an object names its key.

/// An error from the bucket layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BucketError {
    /// The object does not exist.
    #[error("{store}: object `{key}` not found")]
    NotFound {
        /// Store description (backend and bucket).
        store: String,
        /// Object key.
        key: String,
    },
    /// A create-only write found an existing object.
    #[error("{store}: object `{key}` already exists")]
    AlreadyExists {
        /// Store description.
        store: String,
        /// Object key.
        key: String,
    },
    /// A conditional request's precondition failed (e.g. the ETag changed).
    #[error("{store}: precondition failed for `{key}`")]
    Precondition {
        /// Store description.
        store: String,
        /// Object key.
        key: String,
    },
    /// Credentials missing, wrong, or lacking permission.
    #[error(
        "{store}: access denied for `{key}` (check credentials and bucket policy): {}",
        summarize(error)
    )]
    AccessDenied {
        /// Store description.
        store: String,
        /// Object key or prefix.
        key: String,
        /// Underlying error (kept out of the `source()` chain: its text nests every inner
        /// error already, so printing the chain would repeat it; Display shows a summary).
        error: Box<object_store::Error>,
    },
    /// A body was shorter than announced (cut connection); retried, then reported.
    #[error("{store}: `{key}`: body truncated: expected {expected} bytes, got {got}")]
    Truncated {
        /// Store description.
        store: String,
        /// Object key.
        key: String,
        /// Bytes announced.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// Any other storage failure (after retries, when it was retryable).
    #[error("{store}: {op} `{key}`: {}", summarize(error))]
    Storage {
        /// Store description.
        store: String,
        /// Operation (GET, PUT, LIST, …).
        op: &'static str,
        /// Object key or prefix.
        key: String,
        /// Underlying error (kept out of the `source()` chain: its text nests every inner
        /// error already, so printing the chain would repeat it; Display shows a summary).
        error: Box<object_store::Error>,
    },
    /// A local file to upload could not be read.
    #[error("local file `{path}`: {source}")]
    LocalFile {
        /// The file.
        path: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The store could not be constructed from the config or URL.
    #[error("cannot build object store `{store}`: {message}")]
    Config {
        /// Store name or URL.
        store: String,
        /// What is wrong.
        message: String,
    },
}

impl BucketError {
    /// Maps an `object_store` error for `op` on `key`.
    pub(crate) fn from_store(
        store: &str,
        op: &'static str,
        key: &str,
        e: object_store::Error,
    ) -> Self {
        use object_store::Error as E;
        let store = store.to_string();
        let key = key.to_string();
        match e {
            E::NotFound { .. } => Self::NotFound { store, key },
            E::AlreadyExists { .. } => Self::AlreadyExists { store, key },
            E::Precondition { .. } => Self::Precondition { store, key },
            E::PermissionDenied { .. } | E::Unauthenticated { .. } => Self::AccessDenied {
                store,
                key,
                error: Box::new(e),
            },
            source => {
                if let Some(t) = crate::retry::truncation_of(&source) {
                    return Self::Truncated {
                        store,
                        key,
                        expected: t.0,
                        got: t.1,
                    };
                }
                // S3 answers 403 as a generic error on some paths (e.g. LIST); say so plainly.
                let msg = source.to_string();
                if msg.contains("403 Forbidden")
                    || msg.contains("InvalidAccessKeyId")
                    || msg.contains("SignatureDoesNotMatch")
                {
                    return Self::AccessDenied {
                        store,
                        key,
                        error: Box::new(source),
                    };
                }
                Self::Storage {
                    store,
                    op,
                    key,
                    error: Box::new(source),
                }
            }
        }
    }

    /// True for [`BucketError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

/// One line for people: the innermost error's text, with an S3 XML error body reduced to
/// its code and message.
fn summarize(e: &object_store::Error) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let text = cur.to_string();
    let between = |a: &str, b: &str| {
        let i = text.find(a)? + a.len();
        let j = text[i..].find(b)? + i;
        Some(text[i..j].to_string())
    };
    if let Some(code) = between("<Code>", "</Code>") {
        let status = text
            .find("status code: ")
            .map(|i| {
                text[i + 13..]
                    .split(':')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            })
            .unwrap_or_default();
        let msg = between("<Message>", "</Message>").unwrap_or_default();
        return format!("{status} {code}: {msg}").trim().to_string();
    }
    let line = text.lines().next().unwrap_or_default();
    if line.len() > 300 {
        let mut end = 300;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &line[..end])
    } else {
        line.to_string()
    }
}

/// Result alias for this crate.
pub type Result<T, E = BucketError> = std::result::Result<T, E>;
