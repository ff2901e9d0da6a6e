//! Uploading a local file as one object without holding the file in memory: large index
//! outputs are written to scratch files, and their upload must not bring them back onto the
//! heap whole.
use crate::bucket::Bucket;
use crate::error::{BucketError, Result};
use crate::ops::Op;
use crate::retry::is_transient;
use crate::transfer::{PART_SIZE, SINGLE_PUT_MAX};
use bytes::{Bytes, BytesMut};
use object_store::path::Path;
use object_store::{ObjectStoreExt, WriteMultipart};
use std::path::Path as FsPath;
use tokio::io::AsyncReadExt;

/// Why one multipart attempt failed.
enum Failure {
    Store(object_store::Error),
    File(std::io::Error),
}

impl Bucket {
    /// Uploads the local file `file` as object `key` (overwriting) and returns its size.
    ///
    /// Up to [`SINGLE_PUT_MAX`] bytes this is one PUT. Larger files go as a multipart upload
    /// read from the file part by part, so memory stays at two parts whatever the size. The
    /// object appears only once the upload completes. Parts cannot be retried one by one
    /// through `object_store`, so an attempt that fails transiently is aborted and started
    /// again from the file, with the bucket's retry policy.
    pub async fn put_file(&self, key: &str, file: &FsPath) -> Result<u64> {
        let local = |source| BucketError::LocalFile {
            path: file.display().to_string(),
            source,
        };
        let size = tokio::fs::metadata(file).await.map_err(local)?.len();
        if size <= SINGLE_PUT_MAX {
            let data = tokio::fs::read(file).await.map_err(local)?;
            self.put(key, Bytes::from(data)).await?;
            return Ok(size);
        }
        let to = self.path(key)?;
        let mut attempt = 0u32;
        loop {
            match self.multipart_attempt(&to, file, size).await {
                Ok(()) => return Ok(size),
                Err(Failure::File(e)) => return Err(local(e)),
                Err(Failure::Store(e)) if attempt < self.retry.max_retries && is_transient(&e) => {
                    attempt += 1;
                    self.metrics().record_retry(Op::Put);
                    tracing::warn!(key, attempt, error = %e, "multipart upload failed, restarting it");
                    tokio::time::sleep(self.retry.backoff(attempt, &self.jitter)).await;
                }
                Err(Failure::Store(e)) => {
                    return Err(BucketError::from_store(self.name(), "PUT", key, e))
                }
            }
        }
    }

    async fn multipart_attempt(
        &self,
        to: &Path,
        file: &FsPath,
        size: u64,
    ) -> std::result::Result<(), Failure> {
        let mut f = tokio::fs::File::open(file).await.map_err(Failure::File)?;
        let upload = self
            .store()
            .put_multipart(to)
            .await
            .map_err(Failure::Store)?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut sent = 0u64;
        let read = loop {
            // One part uploading while the next is read: two parts in memory at most.
            if let Err(e) = w.wait_for_capacity(1).await {
                break Err(Failure::Store(e));
            }
            let mut buf = BytesMut::zeroed(PART_SIZE);
            let mut filled = 0;
            while filled < PART_SIZE {
                match f.read(&mut buf[filled..]).await {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) => return abort(w, Failure::File(e)).await,
                }
            }
            if filled == 0 {
                break Ok(());
            }
            buf.truncate(filled);
            sent += filled as u64;
            w.put(buf.freeze());
        };
        if let Err(e) = read {
            return abort(w, e).await;
        }
        if sent != size {
            // The file changed under us: never publish a torn object.
            let e = std::io::Error::other(format!(
                "file changed while uploading: {sent} bytes read, {size} expected"
            ));
            return abort(w, Failure::File(e)).await;
        }
        w.finish().await.map(|_| ()).map_err(Failure::Store)
    }
}

async fn abort(w: WriteMultipart, why: Failure) -> std::result::Result<(), Failure> {
    // Best effort: a failed abort leaves parts a lifecycle rule cleans, never an object.
    let _ = w.abort().await;
    Err(why)
}
