//! Paged listings: buckets, and prefixes with delimiter `/`, one page at a time.

use aws_sdk_s3::primitives::DateTime;

use crate::core::listing::{Entry, decode_listed};
use crate::engine::errors::{describe_sdk_error, error_code, region_header};
use crate::engine::session::{Session, SessionInfo};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ListError {
    pub code: String,
    pub message: String,
}

/// Buckets owned by the caller's account.
pub async fn list_buckets(s3: &aws_sdk_s3::Client, who: &SessionInfo) -> Result<Vec<Entry>, ListError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = s3.list_buckets().set_continuation_token(token).send().await.map_err(|e| {
            let code = error_code(&e).unwrap_or_default();
            let hint = if code == "AccessDenied" {
                " (the identity needs s3:ListAllMyBuckets; you can still open a bucket by configuring it)"
            } else {
                ""
            };
            ListError {
                message: format!(
                    "listing buckets as {} (account {}) failed: {}{hint}",
                    who.identity.arn,
                    who.identity.account,
                    describe_sdk_error(&e)
                ),
                code,
            }
        })?;
        out.extend(page.buckets().iter().map(|b| Entry::Bucket {
            bucket: b.name().unwrap_or_default().to_string(),
            created: b.creation_date().map(DateTime::secs),
        }));
        token = page.continuation_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// A cursor over one prefix's listing (common prefixes and objects), page by page.
pub struct PrefixPages {
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    token: Option<String>,
    page_size: i32,
    /// List with delimiter `/` (one level), or everything under the prefix (totals).
    one_level: bool,
    done: bool,
    /// Re-signs for the bucket's own Region when S3 answers from the wrong one.
    session: Option<Session>,
}

impl PrefixPages {
    pub fn new(s3: aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Self {
        PrefixPages {
            s3,
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            token: None,
            page_size: crate::config::DEFAULT_LIST_PAGE_SIZE as i32,
            one_level: true,
            done: false,
            session: None,
        }
    }

    /// Follows a bucket in another Region than the session's: S3 refuses the first page with
    /// PermanentRedirect (or AuthorizationHeaderMalformed) and names the bucket's Region in
    /// `x-amz-bucket-region`; the listing goes on with the same credentials in that Region.
    pub fn following(mut self, session: &Session) -> Self {
        self.session = Some(session.clone());
        self
    }

    /// Entries to ask for per page (MaxKeys); S3 caps it at 1,000.
    pub fn page_size(mut self, entries: u32) -> Self {
        self.page_size = i32::try_from(entries.max(1)).unwrap_or(i32::MAX);
        self
    }

    /// Every object under the prefix, not one level (for a prefix's totals).
    pub fn recursive(mut self) -> Self {
        self.one_level = false;
        self
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next page, or `None` when the listing is complete.
    pub async fn next(&mut self, who: &SessionInfo) -> Option<Result<Vec<Entry>, ListError>> {
        if self.done {
            return None;
        }
        let ask = |s3: &aws_sdk_s3::Client, token: Option<String>| {
            s3.list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .set_delimiter(self.one_level.then(|| "/".to_string()))
                .max_keys(self.page_size)
                // Keys with control characters cannot travel in XML 1.0 otherwise.
                .encoding_type(aws_sdk_s3::types::EncodingType::Url)
                .set_continuation_token(token)
                .send()
        };
        let token = self.token.take();
        let mut result = ask(&self.s3, token.clone()).await;
        if let Err(e) = &result
            && let Some(session) = &self.session
            && let Some(region) = elsewhere(e)
        {
            self.s3 = session.s3_in(&region);
            result = ask(&self.s3, token).await;
        }
        let page = match result {
            Ok(p) => p,
            Err(e) => {
                self.done = true;
                let code = error_code(&e).unwrap_or_default();
                return Some(Err(ListError {
                    message: list_failure(&code, &describe_sdk_error(&e), &self.bucket, &self.prefix, who),
                    code,
                }));
            }
        };
        let mut entries: Vec<Entry> = page
            .common_prefixes()
            .iter()
            .filter_map(|p| decode_listed(p.prefix()?))
            .map(|prefix| Entry::Prefix { prefix })
            .collect();
        entries.extend(page.contents().iter().filter_map(|o| decode_listed(o.key()?).map(|k| (k, o))).map(
            |(key, o)| Entry::Object {
                key,
                size: o.size().unwrap_or(0).max(0) as u64,
                last_modified: o.last_modified().map(DateTime::secs),
                storage_class:
                    o.storage_class().map(|c| c.as_str().to_string()).unwrap_or_else(|| "STANDARD".to_string()),
            },
        ));
        self.token = page.next_continuation_token().map(str::to_string);
        self.done = self.token.is_none();
        Some(Ok(entries))
    }
}

/// The bucket's Region when S3 refused a request for being sent to another Region.
fn elsewhere<E>(
    err: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> Option<String>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    let code = error_code(err)?;
    if !matches!(code.as_str(), "PermanentRedirect" | "AuthorizationHeaderMalformed") {
        return None;
    }
    region_header(err)
}

/// Names the bucket, prefix and account, and says what to do next.
fn list_failure(code: &str, detail: &str, bucket: &str, prefix: &str, who: &SessionInfo) -> String {
    let at = format!("s3://{bucket}/{prefix}");
    let as_whom = who.who();
    match code {
        "AccessDenied" => format!(
            "AccessDenied listing {at} as {as_whom}: allow s3:ListBucket on arn:aws:s3:::{bucket} in the identity policy{}",
            " (and in the bucket policy if the bucket is in another account)"
        ),
        "NoSuchBucket" | "NotFound" => {
            format!(
                "NoSuchBucket: {bucket} does not exist (looked up as {as_whom}); check the bucket name and endpoint"
            )
        }
        "PermanentRedirect" | "AuthorizationHeaderMalformed" | "IllegalLocationConstraintException" => format!(
            "{code}: {bucket} is in another Region than {}; remove `region` from the config to follow the bucket, or set the bucket's Region",
            who.region
        ),
        _ => format!("listing {at} as {as_whom} failed: {detail}"),
    }
}
