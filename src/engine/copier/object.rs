//! One object: single CopyObject, multipart copy, streamed GET -> PUT/multipart upload, the
//! identity check for `sync`, and delete. Every outcome is a value; nothing here stops a run.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumMode;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::core::plan::{Listed, PartPlan, part_plan, resolve_check};
use crate::core::progress::{Method, TransferEvent};
use crate::core::side::Side;
use crate::engine::copier::limiter::Permit;
use crate::engine::copier::multipart::multipart;
use crate::engine::copier::request::{Failed, Op, Res};
use crate::engine::copier::retry::{Class, OpError, head_error, op_error};
use crate::engine::copier::{Ctx, Task};

/// The user-metadata key s3ferry writes on multipart and streamed copies.
pub const SOURCE_ETAG_META: &str = "s3ferry-source-etag";

/// Characters kept as-is in `x-amz-copy-source`: unreserved ones and the `/` separators.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');
/// Tag keys and values in the `x-amz-tagging` query string.
const TAG: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// `bucket/key` percent-encoded for `x-amz-copy-source`: spaces, `+`, `%`, `?`, `#` and
/// non-ASCII are escaped so S3 decodes exactly the original key.
pub fn copy_source(bucket: &str, key: &str) -> String {
    format!("{bucket}/{}", utf8_percent_encode(key, COPY_SOURCE))
}

/// `k1=v1&k2=v2`, each part percent-encoded.
pub fn tagging_query(tags: &[(String, String)]) -> String {
    tags.iter()
        .map(|(k, v)| format!("{}={}", utf8_percent_encode(k, TAG), utf8_percent_encode(v, TAG)))
        .collect::<Vec<_>>()
        .join("&")
}

/// What a finished object reports. `dest_modified` is the destination's last-modified time
/// (ms) when the write reported one (CopyObject does), for stores that list no ETags.
pub enum Outcome {
    Copied { dest_etag: String, dest_modified: Option<i64> },
    Unchanged { dest_etag: String },
    Deleted,
}

/// The headers a copy carries over from its source.
#[derive(Debug, Default, Clone)]
pub(crate) struct Meta {
    pub(crate) content_type: Option<String>,
    pub(crate) cache_control: Option<String>,
    pub(crate) content_encoding: Option<String>,
    pub(crate) content_disposition: Option<String>,
    pub(crate) content_language: Option<String>,
    pub(crate) metadata: HashMap<String, String>,
}

/// The [`Meta`] of a GetObject or HeadObject answer.
macro_rules! meta_from {
    ($o:expr) => {
        $crate::engine::copier::object::Meta {
            content_type: $o.content_type().map(str::to_string),
            cache_control: $o.cache_control().map(str::to_string),
            content_encoding: $o.content_encoding().map(str::to_string),
            content_disposition: $o.content_disposition().map(str::to_string),
            content_language: $o.content_language().map(str::to_string),
            metadata: $o.metadata().cloned().unwrap_or_default(),
        }
    };
}

/// Applies source metadata plus the recorded source ETag to a PutObject/CreateMultipartUpload.
macro_rules! with_meta {
    ($req:expr, $meta:expr, $etag:expr) => {{
        let mut metadata = $meta.metadata.clone();
        metadata.insert($crate::engine::copier::object::SOURCE_ETAG_META.to_string(), $etag.to_string());
        $req.set_content_type($meta.content_type.clone())
            .set_cache_control($meta.cache_control.clone())
            .set_content_encoding($meta.content_encoding.clone())
            .set_content_disposition($meta.content_disposition.clone())
            .set_content_language($meta.content_language.clone())
            .set_metadata(Some(metadata))
    }};
}
pub(crate) use {meta_from, with_meta};

/// Runs one task to its end and records the outcome (journal + event).
pub(crate) async fn process(ctx: Arc<Ctx>, task: Task, permit: Permit) {
    let (key, size, result) = match task {
        Task::Copy(o) => {
            let r = copy(&ctx, &o, permit).await;
            (o.key, o.size, r)
        }
        Task::Check(o) => {
            let r = check(&ctx, &o, permit).await;
            (o.key, o.size, r)
        }
        Task::Delete { key, size } => {
            let r = delete(&ctx, &key, permit).await;
            (key, size, r)
        }
    };
    match result {
        Ok(Outcome::Copied { dest_etag, dest_modified }) => {
            ctx.record(|j| j.copied(&key, &dest_etag, dest_modified));
            let parted = !matches!(ctx.sizes.part_plan(size), PartPlan::Single);
            ctx.emit(TransferEvent::Copied { bytes: size, parted });
        }
        Ok(Outcome::Unchanged { dest_etag }) => {
            ctx.record(|j| j.copied(&key, &dest_etag, None));
            ctx.emit(TransferEvent::Skipped { bytes: size });
        }
        Ok(Outcome::Deleted) => {
            ctx.record(|j| j.deleted(&key));
            ctx.emit(TransferEvent::Deleted);
        }
        Err(f) if f.error.class == Class::Expired => {
            // Expired credentials never make a failure record: the object is not done, so
            // the journal keeps it for the resume.
            let side = ctx.halt_state().map(|h| h.side).unwrap_or(Side::Destination);
            ctx.emit(TransferEvent::Requeued { side });
        }
        Err(f) => {
            let failure = ctx.failure(&key, f);
            ctx.record(|j| j.failed(&key, &failure));
            ctx.emit(TransferEvent::Failed { failure });
        }
    }
}

async fn copy(ctx: &Arc<Ctx>, o: &Listed, permit: Permit) -> Res<Outcome> {
    if let Err(e) = part_plan(o.size, ctx.sizes.threshold, ctx.sizes.part_size) {
        let error = OpError::fatal("EntityTooLarge", e.to_string());
        return Err(Failed { error, attempts: 0, op: Op::CopyObject });
    }
    match (ctx.sizes.method, ctx.sizes.part_plan(o.size)) {
        (Method::ServerSide, PartPlan::Single) => copy_single(ctx, o, permit).await,
        (Method::Stream, PartPlan::Single) => stream_single(ctx, o, permit).await,
        // Boxed: the multipart state machine is large, and every spawned object task would
        // otherwise carry (and move) it, single copies included.
        (method, PartPlan::Multipart { part_size, count }) => {
            Box::pin(multipart(ctx, o, permit, method, part_size, count)).await
        }
    }
}

/// One CopyObject: metadata and tags come along (directives default to COPY), the source must
/// still be the listed version (CopySourceIfMatch), and the result must carry an ETag.
async fn copy_single(ctx: &Ctx, o: &Listed, permit: Permit) -> Res<Outcome> {
    let source = copy_source(&ctx.src.bucket, &ctx.src.key(&o.key));
    let dst_key = ctx.dst.key(&o.key);
    let if_match = quoted(&o.etag);
    let out = ctx
        .call(Side::Destination, Op::CopyObject, || {
            let req = ctx
                .dst
                .s3
                .copy_object()
                .bucket(&ctx.dst.bucket)
                .key(&dst_key)
                .copy_source(&source)
                .set_copy_source_if_match(if_match.clone());
            let req = ctx.writes.object(req);
            async move { req.send().await.map_err(op_error) }
        })
        .await?;
    drop(permit);
    let result = out.copy_object_result();
    match result.and_then(|r| r.e_tag()) {
        Some(etag) => Ok(Outcome::Copied {
            dest_etag: etag.trim_matches('"').to_string(),
            dest_modified: result.and_then(|r| r.last_modified()).and_then(|t| t.to_millis().ok()),
        }),
        None => Err(Failed::invalid(
            Op::CopyObject,
            OpError::fatal("InvalidResponse", "CopyObject answered without a CopyObjectResult".into()),
        )),
    }
}

pub(crate) fn quoted(etag: &str) -> Option<String> {
    (!etag.is_empty()).then(|| format!("\"{etag}\""))
}

pub(crate) async fn read_tags(ctx: &Ctx, src_key: &str) -> Res<Option<String>> {
    let out = ctx
        .call(Side::Source, Op::GetObjectTagging, || {
            let req = ctx.src.s3.get_object_tagging().bucket(&ctx.src.bucket).key(src_key);
            async move { req.send().await.map_err(op_error) }
        })
        .await?;
    let tags: Vec<(String, String)> =
        out.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
    Ok((!tags.is_empty()).then(|| tagging_query(&tags)))
}

/// Buffer budget for streamed bytes, in KiB permits (bounded memory whatever the concurrency).
pub(crate) async fn buffer(ctx: &Ctx, bytes: u64) -> tokio::sync::SemaphorePermit<'_> {
    let kib = (bytes.div_ceil(1024) as u32).clamp(1, ctx.shared.buffer_kib);
    ctx.shared.buffer.acquire_many(kib).await.expect("the buffer semaphore is never closed")
}

/// GET with the source credentials, PUT with the destination's; the body is held in memory
/// (at most one part's worth, within the buffer budget).
async fn stream_single(ctx: &Ctx, o: &Listed, permit: Permit) -> Res<Outcome> {
    let _budget = buffer(ctx, o.size).await;
    let src_key = ctx.src.key(&o.key);
    let if_match = quoted(&o.etag);
    let (meta, tag_count, body) = ctx
        .call(Side::Source, Op::GetObject, || {
            let req = ctx.src.s3.get_object().bucket(&ctx.src.bucket).key(&src_key).set_if_match(if_match.clone());
            async move {
                let out = req.send().await.map_err(op_error)?;
                let meta = meta_from!(out);
                let tags = out.tag_count().unwrap_or(0);
                let body = out.body.collect().await.map_err(|e| OpError {
                    class: Class::Retry,
                    code: "ReadError".into(),
                    message: format!("reading the object body failed: {e}"),
                })?;
                Ok((meta, tags, body.into_bytes()))
            }
        })
        .await?;
    if body.len() as u64 != o.size {
        return Err(Failed::size_mismatch(Op::GetObject, body.len() as u64, o.size));
    }
    let tagging = if tag_count > 0 { read_tags(ctx, &src_key).await? } else { None };
    let dst_key = ctx.dst.key(&o.key);
    let out = ctx
        .call(Side::Destination, Op::PutObject, || {
            let req = ctx
                .dst
                .s3
                .put_object()
                .bucket(&ctx.dst.bucket)
                .key(&dst_key)
                .body(ByteStream::from(body.clone()))
                .content_length(o.size as i64)
                .set_tagging(tagging.clone());
            let req = ctx.writes.object(with_meta!(req, meta, o.etag));
            async move { req.send().await.map_err(op_error) }
        })
        .await?;
    drop(permit);
    Ok(Outcome::Copied {
        dest_etag: out.e_tag().unwrap_or_default().trim_matches('"').to_string(),
        dest_modified: None,
    })
}

/// Aborts a multipart upload of `dst_key`; whether S3 took the abort (one already completed or
/// aborted is gone: NoSuchUpload).
pub(crate) async fn abort_upload(ctx: &Ctx, dst_key: &str, upload_id: &str) -> bool {
    let _p = ctx.limiter().acquire().await;
    ctx.call(Side::Destination, Op::AbortMultipartUpload, || {
        let req = ctx
            .writes
            .guard(ctx.dst.s3.abort_multipart_upload().bucket(&ctx.dst.bucket).key(dst_key).upload_id(upload_id));
        async move { req.send().await.map_err(op_error) }
    })
    .await
    .is_ok()
}

/// HEAD of a destination object, with the bucket-owner guard every destination call carries.
pub(crate) async fn head_destination(
    ctx: &Arc<Ctx>,
    dst_key: &str,
) -> Res<aws_sdk_s3::operation::head_object::HeadObjectOutput> {
    ctx.call(Side::Destination, Op::HeadDestination, || {
        let req = ctx.writes.guard(ctx.dst.s3.head_object().bucket(&ctx.dst.bucket).key(dst_key));
        async move { req.send().await.map_err(head_error) }
    })
    .await
}

/// `sync` with equal sizes and unknown identity: read the recorded source ETag on the
/// destination object; copy only when it does not match.
async fn check(ctx: &Arc<Ctx>, o: &Listed, permit: Permit) -> Res<Outcome> {
    let dst_key = ctx.dst.key(&o.key);
    // The HEAD answer (2-3 KiB) is dropped before the copy's await, so the task does not carry it.
    match head_destination(ctx, &dst_key).await {
        Ok(h) => {
            let recorded = h.metadata().and_then(|m| m.get(SOURCE_ETAG_META)).map(String::as_str);
            if h.content_length() == Some(o.size as i64) && resolve_check(o, recorded) {
                return Ok(Outcome::Unchanged {
                    dest_etag: h.e_tag().unwrap_or_default().trim_matches('"').to_string(),
                });
            }
        }
        // Gone since the listing, or not readable by a write-only identity: copying is the
        // safe answer when the identity cannot be confirmed.
        Err(f) if matches!(f.error.code.as_str(), "NotFound" | "NoSuchKey" | "AccessDenied" | "Forbidden") => {}
        Err(f) => return Err(f),
    }
    copy(ctx, o, permit).await
}

async fn delete(ctx: &Ctx, key: &str, permit: Permit) -> Res<Outcome> {
    let dst_key = ctx.dst.key(key);
    ctx.call(Side::Destination, Op::DeleteObject, || {
        let req = ctx.writes.guard(ctx.dst.s3.delete_object().bucket(&ctx.dst.bucket).key(&dst_key));
        async move { req.send().await.map_err(op_error) }
    })
    .await?;
    drop(permit);
    Ok(Outcome::Deleted)
}

/// Size and checksums of one object, for `--verify`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Facts {
    pub size: u64,
    pub source_etag: Option<String>,
    pub checksums: Vec<(&'static str, String)>,
}

/// HEAD with checksum mode on; `side` picks the bucket and client.
pub(crate) async fn facts(ctx: &Ctx, side: Side, key: &str) -> Result<Facts, (String, String)> {
    let (client, bucket, full) = match side {
        Side::Source => (&ctx.src.s3, &ctx.src.bucket, ctx.src.key(key)),
        Side::Destination => (&ctx.dst.s3, &ctx.dst.bucket, ctx.dst.key(key)),
    };
    let _p = ctx.limiter().acquire().await;
    let h = ctx
        .call(side, Op::HeadObject, || {
            let mut req = client.head_object().bucket(bucket).key(&full).checksum_mode(ChecksumMode::Enabled);
            if side == Side::Destination {
                req = ctx.writes.guard(req);
            }
            async move { req.send().await.map_err(head_error) }
        })
        .await
        .map_err(|f| (f.error.code, f.error.message))?;
    let mut checksums = Vec::new();
    for (name, value) in [
        ("CRC32", h.checksum_crc32()),
        ("CRC32C", h.checksum_crc32_c()),
        ("CRC64NVME", h.checksum_crc64_nvme()),
        ("SHA1", h.checksum_sha1()),
        ("SHA256", h.checksum_sha256()),
    ] {
        // A composite (per-part) checksum ends in "-N" and cannot be compared with a whole-object one.
        if let Some(v) = value.filter(|v| !v.contains('-')) {
            checksums.push((name, v.to_string()));
        }
    }
    Ok(Facts {
        size: h.content_length().unwrap_or(0).max(0) as u64,
        source_etag: h.metadata().and_then(|m| m.get(SOURCE_ETAG_META)).cloned(),
        checksums,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::progress::Halt;
    use crate::engine::copier::context::{Endpoint, Shared, Sizes};
    use crate::engine::copier::retry::{MAX_ATTEMPTS, MAX_EXPIRED_RETRIES};
    use crate::engine::dest_write::DestWrite;

    #[test]
    fn copy_source_encodes_every_legal_key() {
        let cases: &[(&str, &str)] = &[
            ("plain/key.csv", "b/plain/key.csv"),
            ("with space.txt", "b/with%20space.txt"),
            ("a+b", "b/a%2Bb"),
            ("100%", "b/100%25"),
            ("what?x=1", "b/what%3Fx%3D1"),
            ("frag#ment", "b/frag%23ment"),
            ("caf\u{e9}/\u{65e5}\u{672c}", "b/caf%C3%A9/%E6%97%A5%E6%9C%AC"),
            ("tilde~_-.", "b/tilde~_-."),
            ("//double//", "b///double//"),
        ];
        for (key, want) in cases {
            assert_eq!(copy_source("b", key), *want, "{key}");
            // Round trip: S3 percent-decodes the header back to the key.
            let encoded = copy_source("b", key);
            let decoded = percent_encoding::percent_decode_str(&encoded[2..]).decode_utf8().unwrap();
            assert_eq!(decoded, *key);
        }
        let long = "k".repeat(1024);
        assert_eq!(copy_source("b", &long).len(), 1026);
    }

    fn test_ctx(max: usize) -> (Ctx, tokio::sync::mpsc::UnboundedReceiver<TransferEvent>) {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new("eu-west-2"))
            .build();
        let client = aws_sdk_s3::Client::from_conf(conf);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let end = |bucket: &str, prefix: &str| Endpoint {
            s3: client.clone(),
            bucket: bucket.into(),
            prefix: prefix.into(),
            who: "arn:aws:sts::111111111111:assumed-role/t/s (account 111111111111)".into(),
            session: None,
        };
        let sizes = Sizes { method: Method::ServerSide, threshold: 5 << 30, part_size: 64 << 20 };
        let limiter = crate::engine::copier::limiter::Limiter::new(max, max);
        let shared = Shared::new(limiter, 1, tx, None);
        let ctx = Ctx::new(end("src", "a/"), end("dst", "b/"), DestWrite::default(), sizes, shared);
        (ctx, rx)
    }

    fn err(class: Class, code: &str) -> OpError {
        OpError { class, code: code.into(), message: format!("{code}: details") }
    }

    /// Replays a scripted sequence of answers through `Ctx::call`.
    async fn script(ctx: &Ctx, answers: Vec<Result<u32, OpError>>) -> (Res<u32>, usize) {
        let answers = std::sync::Mutex::new(answers.into_iter());
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let result = ctx
            .call(Side::Destination, Op::CopyObject, || {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let next = answers.lock().unwrap().next().expect("the script ran out");
                async move { next }
            })
            .await;
        (result, calls.into_inner())
    }

    fn drain(rx: &mut tokio::sync::mpsc::UnboundedReceiver<TransferEvent>) -> Vec<TransferEvent> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    /// Every object is a spawned task, which tokio moves by value as it spawns, runs and
    /// finishes it: the SDK's request futures (about 9 KiB each) stay boxed, out of the task.
    #[tokio::test]
    async fn object_tasks_stay_small() {
        let (ctx, _rx) = test_ctx(4);
        let ctx = Arc::new(ctx);
        let o = Listed { key: "k".into(), size: 1, etag: String::new(), modified: None };
        let tasks = [Task::Copy(o.clone()), Task::Check(o), Task::Delete { key: "k".into(), size: 1 }];
        for task in tasks {
            let permit = ctx.limiter().acquire().await;
            let size = std::mem::size_of_val(&process(ctx.clone(), task, permit));
            assert!(size <= 2048, "an object task is {size} bytes");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn throttles_slow_down_and_retry_until_success() {
        let (ctx, mut rx) = test_ctx(64);
        let (result, calls) =
            script(&ctx, vec![Err(err(Class::Throttle, "SlowDown")), Err(err(Class::Throttle, "SlowDown")), Ok(7)])
                .await;
        assert_eq!((result.ok(), calls), (Some(7), 3));
        let events = drain(&mut rx);
        let throttles = events.iter().filter(|e| matches!(e, TransferEvent::Throttled)).count();
        let retries =
            events.iter().filter(|e| matches!(e, TransferEvent::Retry { code } if code == "SlowDown")).count();
        assert_eq!((throttles, retries), (2, 2));
        // Two 503s in quick succession are one cut: 64 -> 48.
        assert!(events.contains(&TransferEvent::Concurrency { limit: 48 }), "{events:?}");
        assert_eq!(ctx.limiter().limit(), 48);
    }

    #[tokio::test(start_paused = true)]
    async fn fatal_errors_are_not_retried_and_become_records() {
        let (ctx, mut rx) = test_ctx(8);
        let (result, calls) = script(&ctx, vec![Err(err(Class::Fatal, "AccessDenied"))]).await;
        assert_eq!(calls, 1);
        let Err(failed) = result else { panic!("expected a failure") };
        assert_eq!(failed.attempts, 1);
        let record = ctx.failure("x/key 1.txt", failed);
        assert_eq!((record.key.as_str(), record.code.as_str(), record.attempts), ("a/x/key 1.txt", "AccessDenied", 1));
        for needle in ["s3://src/a/x/key 1.txt", "s3://dst/b/x/key 1.txt", "111111111111", "s3:PutObject"] {
            assert!(record.message.contains(needle), "{needle:?} missing from {}", record.message);
        }
        assert!(drain(&mut rx).is_empty(), "no retry, no throttle");

        // Retryable errors give up after MAX_ATTEMPTS and say how many were made.
        let answers = (0..MAX_ATTEMPTS).map(|_| Err(err(Class::Retry, "InternalError"))).collect();
        let (result, calls) = script(&ctx, answers).await;
        assert_eq!(calls, MAX_ATTEMPTS as usize);
        assert_eq!(result.err().map(|f| f.attempts), Some(MAX_ATTEMPTS));
    }

    #[tokio::test(start_paused = true)]
    async fn expired_credentials_are_requeued_not_counted() {
        let (ctx, mut rx) = test_ctx(8);
        let mut answers: Vec<Result<u32, OpError>> = (0..3).map(|_| Err(err(Class::Expired, "ExpiredToken"))).collect();
        answers.push(Err(err(Class::Fatal, "AccessDenied")));
        let (result, calls) = script(&ctx, answers).await;
        assert_eq!(calls, 4);
        assert_eq!(result.err().map(|f| f.attempts), Some(1), "the expiries do not count as attempts");
        let expired = drain(&mut rx)
            .into_iter()
            .filter(|e| matches!(e, TransferEvent::CredentialsExpired { side: Side::Destination }))
            .count();
        assert_eq!(expired, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn credentials_that_stay_expired_halt_the_run_without_a_failure_record() {
        let (ctx, mut rx) = test_ctx(8);
        let answers = (0..MAX_EXPIRED_RETRIES).map(|_| Err(err(Class::Expired, "ExpiredToken"))).collect();
        let (result, calls) = script(&ctx, answers).await;
        assert_eq!(calls, MAX_EXPIRED_RETRIES as usize, "renewable credentials get a minute of retries");
        let failed = result.expect_err("gives up");
        assert_eq!(failed.error.class, Class::Expired);
        assert_eq!(
            ctx.halt_state(),
            Some(Halt { side: Side::Source, expired: true }),
            "server-side: the source identity"
        );
        let events = drain(&mut rx);
        assert_eq!(events.iter().filter(|e| matches!(e, TransferEvent::Halted { .. })).count(), 1);
        // Once halted, another request that meets ExpiredToken gives up at once.
        let (_, calls) = script(&ctx, vec![Err(err(Class::Expired, "ExpiredToken"))]).await;
        assert_eq!(calls, 1);
        assert!(drain(&mut rx).iter().all(|e| !matches!(e, TransferEvent::Halted { .. })), "halted once");
    }

    #[test]
    fn tags_as_a_query_string() {
        let tags = vec![("team".to_string(), "data lake".to_string()), ("a&b".to_string(), "x=y".to_string())];
        assert_eq!(tagging_query(&tags), "team=data%20lake&a%26b=x%3Dy");
    }
}
