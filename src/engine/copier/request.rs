//! One request with the copier's retry policy ([`Ctx::call`]), and what a request that failed
//! for good becomes: a [`Failure`] record whose message names the bucket, key, account and the
//! next step. Nothing here stops a run.

use std::future::Future;

use crate::core::progress::{Failure, Halt, TransferEvent};
use crate::core::side::Side;
use crate::engine::copier::Ctx;
use crate::engine::copier::retry::{
    Bare400s, Class, MAX_ATTEMPTS, MAX_EXPIRED_NO_RENEW, MAX_EXPIRED_RETRIES, OpError, backoff, retry_bare_400,
};

/// The requests the copier sends; the name is what messages and failure records say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    GetObject,
    /// The HEAD of a source object before a multipart copy.
    HeadSource,
    GetObjectTagging,
    CopyObject,
    PutObject,
    CreateMultipartUpload,
    UploadPartCopy,
    UploadPart,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    /// The HEAD of a destination object (sync's check, a multipart copy's size check, settle).
    HeadDestination,
    DeleteObject,
    /// Verify's HEAD with checksums, on either side.
    HeadObject,
}

impl Op {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::GetObject => "GetObject",
            Op::HeadSource => "HeadObject (source)",
            Op::GetObjectTagging => "GetObjectTagging",
            Op::CopyObject => "CopyObject",
            Op::PutObject => "PutObject",
            Op::CreateMultipartUpload => "CreateMultipartUpload",
            Op::UploadPartCopy => "UploadPartCopy",
            Op::UploadPart => "UploadPart",
            Op::CompleteMultipartUpload => "CompleteMultipartUpload",
            Op::AbortMultipartUpload => "AbortMultipartUpload",
            Op::HeadDestination => "HeadObject (destination)",
            Op::DeleteObject => "DeleteObject",
            Op::HeadObject => "HeadObject",
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A failure before it is turned into a [`Failure`] record.
pub(crate) struct Failed {
    pub(crate) error: OpError,
    pub(crate) attempts: u32,
    pub(crate) op: Op,
}

impl Failed {
    /// A failure S3 did not report: the answer itself was wrong.
    pub(crate) fn invalid(op: Op, error: OpError) -> Failed {
        Failed { error, attempts: 1, op }
    }

    /// A request answered with a body of the wrong size.
    pub(crate) fn size_mismatch(op: Op, got: u64, want: u64) -> Failed {
        let error = OpError::fatal("SizeMismatch", format!("{op} gave {got} bytes, the listing said {want}"));
        Failed::invalid(op, error)
    }
}

pub(crate) type Res<T> = Result<T, Failed>;

impl Ctx {
    /// Runs one request with the copier's retry policy; the limiter learns from every answer.
    pub(crate) async fn call<T, F, Fut>(&self, side: Side, op: Op, mut f: F) -> Res<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OpError>>,
    {
        let mut attempts = 0;
        let mut expired = 0;
        let mut bare_400 = Bare400s::default();
        // Refusals reported on these credentials so far, this request's own included.
        let refusals = || self.session(side).map_or(0, |s| s.refusals());
        let mut refused_mark = refusals();
        loop {
            attempts += 1;
            // Boxed: an SDK request future is about 9 KiB, and inline it made every object
            // task 14 KiB, which tokio copies as the task is spawned, run and finished.
            let sent = std::time::Instant::now();
            let error = match Box::pin(f()).await {
                Ok(v) => {
                    if let Some(limit) = self.limiter().succeeded(sent.elapsed()) {
                        self.emit(TransferEvent::Concurrency { limit });
                    }
                    return Ok(v);
                }
                Err(e) => e,
            };
            match error.class {
                Class::Expired => {
                    // Not a failure of the object: renew the credentials and send the same
                    // request again. When they cannot renew, the run halts and the object stays
                    // in the journal for the resume.
                    expired += 1;
                    attempts -= 1;
                    self.emit(TransferEvent::CredentialsExpired { side });
                    let renews = self.renews(side);
                    let limit = if renews { MAX_EXPIRED_RETRIES } else { MAX_EXPIRED_NO_RENEW };
                    if self.halted() || expired >= limit {
                        self.halt(Halt { side, expired: true });
                        return Err(Failed { error, attempts, op });
                    }
                    if let Some(s) = self.session(side) {
                        s.invalidate();
                    }
                    refused_mark = refusals();
                    let wait = std::time::Duration::from_millis(250).saturating_mul(expired.min(8));
                    tokio::time::sleep(wait).await;
                }
                Class::MaybeExpired if retry_bare_400(&mut bare_400, refusals() > refused_mark) => {
                    attempts -= 1;
                    self.emit(TransferEvent::Retry { code: error.code.clone() });
                    if let Some(s) = self.session(side) {
                        s.invalidate_unconfirmed();
                    }
                    refused_mark = refusals();
                    let tries = bare_400.counted.max(bare_400.amid_expiries).min(5);
                    tokio::time::sleep(std::time::Duration::from_millis(400).saturating_mul(tries)).await;
                }
                Class::MaybeExpired => {
                    let message = format!(
                        "{} (a HEAD answer carries no error code, and fresh credentials got the same 400: not an expiry; \
                         an object encrypted with SSE-C, or a bucket in another Region, answers so)",
                        error.message
                    );
                    return Err(Failed { error: OpError { message, ..error }, attempts, op });
                }
                Class::Throttle | Class::Retry if attempts < MAX_ATTEMPTS => {
                    if error.class == Class::Throttle {
                        self.emit(TransferEvent::Throttled);
                        if let Some(limit) = self.limiter().throttled() {
                            self.emit(TransferEvent::Concurrency { limit });
                        }
                    }
                    self.emit(TransferEvent::Retry { code: error.code.clone() });
                    tokio::time::sleep(backoff(attempts, fastrand::f64())).await;
                }
                _ => return Err(Failed { error, attempts, op }),
            }
        }
    }

    /// A failure record whose message names bucket, key, account and the next step.
    pub(crate) fn failure(&self, key: &str, f: Failed) -> Failure {
        let (src, dst) = (self.src.url(key), self.dst.url(key));
        let detail = &f.error.message;
        let kms = "; with SSE-KMS also kms:GenerateDataKey and kms:Decrypt on the key (IAM policy and key policy)";
        let (who, target, next) = match f.op {
            Op::GetObject | Op::HeadSource | Op::GetObjectTagging => (
                &self.src.who,
                src.clone(),
                "allow s3:GetObject and s3:GetObjectTagging on the source objects (and kms:Decrypt on the source key if it is SSE-KMS)".to_string(),
            ),
            Op::DeleteObject => (
                &self.dst.who,
                dst.clone(),
                "allow s3:DeleteObject on the destination prefix (identity policy and, across accounts, the destination bucket policy), or run sync without --delete".to_string(),
            ),
            Op::HeadDestination => (
                &self.dst.who,
                dst.clone(),
                "allow s3:GetObject on the destination prefix so sync can read what it wrote".to_string(),
            ),
            _ => (
                &self.dst.who,
                format!("{src} -> {dst}"),
                format!("allow s3:GetObject on the source, and s3:PutObject and s3:PutObjectTagging on the destination prefix in the identity policy and, across accounts, in the destination bucket policy{kms}"),
            ),
        };
        let message = match f.error.code.as_str() {
            "AccessDenied" | "Forbidden" => format!("AccessDenied: {} {target} as {who}: {detail}. Next: {next}", f.op),
            "NoSuchKey" | "NotFound" if f.op != Op::HeadDestination => format!(
                "{}: {src} no longer exists (deleted after it was listed); nothing to copy: {detail}",
                f.error.code
            ),
            "InvalidObjectState" | "ObjectNotInActiveTierError" => format!(
                "{}: {src} is archived (Glacier/Deep Archive); restore it before copying: {detail}",
                f.error.code
            ),
            "PreconditionFailed" => {
                format!("PreconditionFailed: {src} changed after it was listed; run sync again to copy the new version")
            }
            "AccessControlListNotSupported" => format!(
                "AccessControlListNotSupported: {dst} has ACLs disabled (BucketOwnerEnforced) but an ACL was sent; {detail}"
            ),
            "SizeMismatch" | "ChecksumMismatch" => format!("{}: {target}: {detail}", f.error.code),
            _ => format!("{} {target} as {who} failed after {} attempt(s): {detail}", f.op, f.attempts),
        };
        let key = if f.op == Op::DeleteObject { self.dst.key(key) } else { self.src.key(key) };
        Failure { key, code: f.error.code, message, attempts: f.attempts }
    }
}
