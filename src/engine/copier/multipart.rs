//! Multipart: server-side with UploadPartCopy, or streamed with ranged GETs and UploadPart.
//! Metadata and tags are read from the source and set on the upload, plus the source ETag
//! (`x-amz-meta-s3ferry-source-etag`) so later syncs can compare exactly. Parts run in
//! parallel, each under its own request permit; any failure aborts the upload.

use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use crate::core::plan::{Listed, part_range};
use crate::core::progress::{Method, TransferEvent};
use crate::core::side::Side;
use crate::engine::copier::Ctx;
use crate::engine::copier::limiter::Permit;
use crate::engine::copier::object::{
    Outcome, abort_upload, buffer, copy_source, head_destination, meta_from, quoted, read_tags, with_meta,
};
use crate::engine::copier::request::{Failed, Op, Res};
use crate::engine::copier::retry::{Class, OpError, head_error, op_error};

/// Parts of one object in flight at once (each also takes a request permit).
const PARTS_IN_FLIGHT: usize = 32;

/// One upload in progress: what every part request names.
struct Upload<'a> {
    ctx: &'a Arc<Ctx>,
    o: &'a Listed,
    src_key: String,
    dst_key: String,
    if_match: Option<String>,
    id: String,
    part_size: u64,
}

pub(crate) async fn multipart(
    ctx: &Arc<Ctx>,
    o: &Listed,
    permit: Permit,
    method: Method,
    part_size: u64,
    count: u64,
) -> Res<Outcome> {
    let src_key = ctx.src.key(&o.key);
    let dst_key = ctx.dst.key(&o.key);
    let if_match = quoted(&o.etag);
    let id = create(ctx, o, &src_key, &dst_key, &if_match).await?;
    drop(permit);
    // Journaled at once: a run killed from here on leaves an open upload the resume aborts.
    ctx.record(|j| j.upload(&o.key, &id));
    ctx.emit(TransferEvent::LargeStarted { key: src_key.clone(), size: o.size, parts: count });

    let upload = Upload { ctx, o, src_key, dst_key, if_match, id, part_size };
    let dest_etag = match upload.parts_and_complete(method, count).await {
        Ok(etag) => etag,
        Err(f) => {
            // Best effort: a failed upload must not leave parts behind (they cost storage).
            abort_upload(ctx, &upload.dst_key, &upload.id).await;
            return Err(f);
        }
    };
    confirm_size(ctx, &upload.dst_key, o.size, dest_etag).await
}

/// HEADs the source (it must still be the listed version), reads its tags, and opens the
/// upload with the source's metadata and the destination's write headers.
async fn create(ctx: &Ctx, o: &Listed, src_key: &str, dst_key: &str, if_match: &Option<String>) -> Res<String> {
    let head = ctx
        .call(Side::Source, Op::HeadSource, || {
            let req = ctx.src.s3.head_object().bucket(&ctx.src.bucket).key(src_key).set_if_match(if_match.clone());
            async move { req.send().await.map_err(head_error) }
        })
        .await?;
    if head.content_length().unwrap_or(-1) as u64 != o.size {
        let got = head.content_length().unwrap_or(0).max(0) as u64;
        return Err(Failed::size_mismatch(Op::HeadSource, got, o.size));
    }
    let meta = meta_from!(head);
    let tagging = read_tags(ctx, src_key).await?;
    let created = ctx
        .call(Side::Destination, Op::CreateMultipartUpload, || {
            let req =
                ctx.dst.s3.create_multipart_upload().bucket(&ctx.dst.bucket).key(dst_key).set_tagging(tagging.clone());
            let req = ctx.writes.object(with_meta!(req, meta, o.etag));
            async move { req.send().await.map_err(op_error) }
        })
        .await?;
    created.upload_id().map(str::to_string).ok_or_else(|| {
        let error = OpError::fatal("InvalidResponse", "CreateMultipartUpload answered without an UploadId".into());
        Failed::invalid(Op::CreateMultipartUpload, error)
    })
}

impl Upload<'_> {
    /// Every part, then CompleteMultipartUpload; the assembled object's ETag.
    async fn parts_and_complete(&self, method: Method, count: u64) -> Res<String> {
        let source = copy_source(&self.ctx.src.bucket, &self.src_key);
        let mut parts: Vec<CompletedPart> = futures::stream::iter(0..count)
            .map(|i| {
                let source = &source;
                async move {
                    let (start, end) = part_range(self.o.size, self.part_size, i);
                    let number = (i + 1) as i32;
                    let etag = match method {
                        Method::ServerSide => self.copy_part(source, number, start, end).await?,
                        Method::Stream => self.stream_part(number, start, end).await?,
                    };
                    self.ctx.emit(TransferEvent::PartDone { bytes: end - start + 1 });
                    Ok::<_, Failed>(CompletedPart::builder().part_number(number).set_e_tag(etag).build())
                }
            })
            .buffer_unordered(PARTS_IN_FLIGHT)
            .try_collect()
            .await?;
        parts.sort_by_key(|p| p.part_number());
        let ctx = self.ctx;
        let _p = ctx.limiter().acquire().await;
        let upload = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
        let done = ctx
            .call(Side::Destination, Op::CompleteMultipartUpload, || {
                let req = ctx.dst.s3.complete_multipart_upload().bucket(&ctx.dst.bucket).key(&self.dst_key);
                let req = ctx.writes.guard(req.upload_id(&self.id).multipart_upload(upload.clone()));
                async move { req.send().await.map_err(op_error) }
            })
            .await?;
        Ok(done.e_tag().unwrap_or_default().trim_matches('"').to_string())
    }

    /// One UploadPartCopy of bytes `start..=end` of the pinned source version.
    async fn copy_part(&self, source: &str, number: i32, start: u64, end: u64) -> Res<Option<String>> {
        let ctx = self.ctx;
        let _p = ctx.limiter().acquire().await;
        let out = ctx
            .call(Side::Destination, Op::UploadPartCopy, || {
                let req = ctx.dst.s3.upload_part_copy().bucket(&ctx.dst.bucket).key(&self.dst_key);
                let req = req
                    .upload_id(&self.id)
                    .part_number(number)
                    .copy_source(source)
                    .copy_source_range(format!("bytes={start}-{end}"))
                    .set_copy_source_if_match(self.if_match.clone());
                let req = ctx.writes.guard(req);
                async move { req.send().await.map_err(op_error) }
            })
            .await?;
        Ok(out.copy_part_result().and_then(|r| r.e_tag()).map(str::to_string))
    }

    /// A ranged GET with the source's credentials, then UploadPart with the destination's; the
    /// part is held in memory within the buffer budget.
    async fn stream_part(&self, number: i32, start: u64, end: u64) -> Res<Option<String>> {
        let ctx = self.ctx;
        let _budget = buffer(ctx, end - start + 1).await;
        let _p = ctx.limiter().acquire().await;
        let body: Bytes = ctx
            .call(Side::Source, Op::GetObject, || {
                let req = ctx.src.s3.get_object().bucket(&ctx.src.bucket).key(&self.src_key);
                let req = req.range(format!("bytes={start}-{end}")).set_if_match(self.if_match.clone());
                async move {
                    let out = req.send().await.map_err(op_error)?;
                    let body = out.body.collect().await.map_err(|e| OpError {
                        class: Class::Retry,
                        code: "ReadError".into(),
                        message: format!("reading part {number} failed: {e}"),
                    })?;
                    Ok(body.into_bytes())
                }
            })
            .await?;
        if body.len() as u64 != end - start + 1 {
            return Err(Failed::size_mismatch(Op::GetObject, body.len() as u64, end - start + 1));
        }
        let out = ctx
            .call(Side::Destination, Op::UploadPart, || {
                let req = ctx.dst.s3.upload_part().bucket(&ctx.dst.bucket).key(&self.dst_key);
                let req = req
                    .upload_id(&self.id)
                    .part_number(number)
                    .content_length(body.len() as i64)
                    .body(ByteStream::from(body.clone()));
                let req = ctx.writes.guard(req);
                async move { req.send().await.map_err(op_error) }
            })
            .await?;
        Ok(out.e_tag().map(str::to_string))
    }
}

/// The assembled object has the source's size. The parts already cover the pinned source
/// version exactly; a write-only identity (no s3:GetObject on the destination) cannot HEAD, and
/// that alone is no reason to fail a good copy.
async fn confirm_size(ctx: &Arc<Ctx>, dst_key: &str, size: u64, dest_etag: String) -> Res<Outcome> {
    let _p = ctx.limiter().acquire().await;
    match head_destination(ctx, dst_key).await {
        Ok(h) if h.content_length() != Some(size as i64) => {
            let got = h.content_length().unwrap_or(0).max(0) as u64;
            Err(Failed::size_mismatch(Op::HeadDestination, got, size))
        }
        Ok(_) => Ok(Outcome::Copied { dest_etag, dest_modified: None }),
        Err(f) if matches!(f.error.code.as_str(), "AccessDenied" | "Forbidden") => {
            Ok(Outcome::Copied { dest_etag, dest_modified: None })
        }
        Err(f) => Err(f),
    }
}
