//! Moving whole objects: server-side copies inside one store and streamed copies between
//! stores, in bounded memory (the object is never held whole when it is large).
use crate::bucket::Bucket;
use crate::error::{BucketError, Result};
use futures::StreamExt;
use object_store::{ObjectStoreExt, WriteMultipart};

/// Objects up to this size are copied with one GET and one PUT; larger ones in parts.
pub const SINGLE_PUT_MAX: u64 = 16 << 20;

/// Part size of streamed copies (S3's minimum is 5 MiB).
pub const PART_SIZE: usize = 8 << 20;

impl Bucket {
    /// Server-side copy of `from` to `to` inside this bucket (overwrites `to`): the bytes
    /// never pass through this process.
    pub async fn copy(&self, from: &str, to: &str) -> Result<()> {
        let (f, t) = (self.path(from)?, self.path(to)?);
        self.store()
            .copy(&f, &t)
            .await
            .map_err(|e| BucketError::from_store(self.name(), "COPY", from, e))
    }

    /// Copies object `key` of this bucket to `dst_key` in `dst`, `size` being its listed
    /// size. Small objects go in one GET and one PUT; larger ones are streamed as a
    /// multipart upload holding at most a few parts in memory. The destination object
    /// appears only when complete (single PUT or completed multipart upload), so an
    /// interrupted copy leaves nothing behind. Returns the bytes copied.
    pub async fn copy_to(&self, key: &str, size: u64, dst: &Bucket, dst_key: &str) -> Result<u64> {
        if size <= SINGLE_PUT_MAX {
            let body = self.get(key).await?;
            let n = body.len() as u64;
            dst.put(dst_key, body).await?;
            return Ok(n);
        }
        let src = self.path(key)?;
        let to = dst.path(dst_key)?;
        let get_err = |e| BucketError::from_store(self.name(), "GET", key, e);
        let put_err = |e| BucketError::from_store(dst.name(), "PUT", dst_key, e);
        let mut body = self.store().get(&src).await.map_err(get_err)?.into_stream();
        let upload = dst.store().put_multipart(&to).await.map_err(put_err)?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut n = 0u64;
        while let Some(part) = body.next().await {
            let part = match part {
                Ok(p) => p,
                Err(e) => {
                    let _ = w.abort().await;
                    return Err(get_err(e));
                }
            };
            n += part.len() as u64;
            // Two parts in flight at most: memory stays at a few parts per copy.
            if let Err(e) = w.wait_for_capacity(2).await {
                return Err(put_err(e));
            }
            w.put(part);
        }
        w.finish().await.map_err(put_err)?;
        Ok(n)
    }
}
