//! Taking a GET result apart and putting it back with another body: the request wrappers
//! (retries, metrics, fault injection) all need to see or replace the body while keeping
//! the metadata, range and attributes the backend announced.
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::{Attributes, GetResult, GetResultPayload, ObjectMeta};
use std::ops::Range;

/// Everything in a GET result except the body.
pub(crate) struct GetHead {
    pub(crate) meta: ObjectMeta,
    pub(crate) range: Range<u64>,
    attributes: Attributes,
    extensions: object_store::Extensions,
}

/// Splits a result into its body and the rest.
pub(crate) fn split(r: GetResult) -> (GetResultPayload, GetHead) {
    let GetResult {
        payload,
        meta,
        range,
        attributes,
        extensions,
    } = r;
    (
        payload,
        GetHead {
            meta,
            range,
            attributes,
            extensions,
        },
    )
}

impl GetHead {
    /// The result with `payload` as its body.
    pub(crate) fn with_payload(self, payload: GetResultPayload) -> GetResult {
        GetResult {
            payload,
            meta: self.meta,
            range: self.range,
            attributes: self.attributes,
            extensions: self.extensions,
        }
    }

    /// The result with an in-memory body.
    pub(crate) fn with_bytes(self, data: Bytes) -> GetResult {
        self.with_payload(GetResultPayload::Stream(
            futures::stream::once(async move { Ok(data) }).boxed(),
        ))
    }
}

/// Reads a streamed body to the end.
pub(crate) async fn collect(
    s: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
    size_hint: u64,
) -> object_store::Result<Bytes> {
    let chunks: Vec<Bytes> = s.try_collect().await?;
    if chunks.len() == 1 {
        return Ok(chunks.into_iter().next().unwrap_or_default());
    }
    let mut b = bytes::BytesMut::with_capacity(size_hint as usize);
    for c in chunks {
        b.extend_from_slice(&c);
    }
    Ok(b.freeze())
}
