//! What a stopped run left in flight, settled before a resume copies anything: a kill -9 (or a
//! crash, or a power loss after the kernel wrote the line) stops copies between S3 finishing
//! them and the journal hearing of it, and leaves multipart uploads open.
//!
//! Each object dispatched but neither done nor failed is looked at on the destination: an
//! object there of the same size, written since the copy was dispatched, is that copy (S3 lets
//! a client know no more than that: no request id or version ties it to this run), and is
//! journaled as done instead of copied again. Every multipart upload such an object opened is
//! aborted: its parts would otherwise be billed until a lifecycle rule removes them.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;

use crate::core::listing::decode_listed;
use crate::engine::copier::Ctx;
use crate::engine::copier::object::{abort_upload, head_destination};
use crate::engine::journal::{InFlight, fnv128};

/// Allowance for the local clock running ahead of S3's.
const CLOCK_SKEW_MS: i64 = 120_000;
/// HEADs and aborts at once while settling.
const AT_ONCE: usize = 32;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Found at the destination as the stopped run left it: journaled, not copied again.
    pub copied: u64,
    /// Not there (or not provably this run's copy): copied again by this run.
    pub again: u64,
    /// Multipart uploads aborted.
    pub aborted: u64,
}

/// Whether a destination object of `size` bytes modified at `modified_ms` is the copy
/// dispatched at `started_ms`.
pub fn is_that_copy(f: &InFlight, size: Option<i64>, modified_ms: Option<i64>) -> bool {
    size == Some(f.size as i64) && modified_ms.is_some_and(|m| m >= f.started_ms - CLOCK_SKEW_MS)
}

/// The destination object's size, ETag and last-modified time: from a HEAD, or where the
/// identity may not read objects (a write-only transfer role), from a listing of that one key.
async fn destination_object(ctx: &Arc<Ctx>, dst_key: &str) -> Option<(Option<i64>, String, Option<i64>)> {
    match head_destination(ctx, dst_key).await {
        Ok(h) => {
            let etag = h.e_tag().unwrap_or_default().trim_matches('"').to_string();
            return Some((h.content_length(), etag, h.last_modified().and_then(|t| t.to_millis().ok())));
        }
        Err(f) if !matches!(f.error.code.as_str(), "AccessDenied" | "Forbidden") => return None,
        Err(_) => {}
    }
    let list = ctx.dst.s3.list_objects_v2().bucket(&ctx.dst.bucket).prefix(dst_key).max_keys(1);
    let page = ctx.writes.guard(list.encoding_type(aws_sdk_s3::types::EncodingType::Url)).send().await.ok()?;
    let o = page.contents().first()?;
    (decode_listed(o.key()?)? == dst_key).then(|| {
        let etag = o.e_tag().unwrap_or_default().trim_matches('"').to_string();
        (o.size(), etag, o.last_modified().and_then(|t| t.to_millis().ok()))
    })
}

pub(crate) async fn settle(ctx: &Arc<Ctx>, in_flight: Vec<InFlight>, done: &mut HashSet<u128>) -> Settled {
    // (key, its copy's ETag and last-modified time when it is at the destination, uploads aborted)
    type Looked = (String, Option<(String, Option<i64>)>, u64);
    let results: Vec<Looked> = futures::stream::iter(in_flight)
        .map(|f| async move {
            let dst_key = ctx.dst.key(&f.key);
            let mut aborted = 0;
            for upload in &f.uploads {
                aborted += u64::from(abort_upload(ctx, &dst_key, upload).await);
            }
            let found = match destination_object(ctx, &dst_key).await {
                Some((size, etag, modified)) => is_that_copy(&f, size, modified).then_some((etag, modified)),
                None => None,
            };
            (f.key, found, aborted)
        })
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    let mut settled = Settled::default();
    for (key, found, aborted) in results {
        settled.aborted += aborted;
        match found {
            Some((etag, modified)) => {
                ctx.record(|j| j.copied(&key, &etag, modified));
                done.insert(fnv128(key.as_bytes()));
                settled.copied += 1;
            }
            None => settled.again += 1,
        }
    }
    settled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_object_written_since_the_dispatch_with_the_size_is_that_copy() {
        let f = InFlight { key: "k".into(), size: 10, started_ms: 1_000_000, uploads: vec![] };
        // (size at the destination, its last-modified ms) -> that copy?
        let cases = [
            ((Some(10), Some(1_000_500)), true),
            ((Some(10), Some(1_000_000 - 60_000)), true), // within the clock allowance
            ((Some(10), Some(1_000_000 - 600_000)), false), // an older object of the same size
            ((Some(11), Some(1_000_500)), false),
            ((None, Some(1_000_500)), false),
            ((Some(10), None), false),
        ];
        for ((size, modified), want) in cases {
            assert_eq!(is_that_copy(&f, size, modified), want, "{size:?} {modified:?}");
        }
    }
}
