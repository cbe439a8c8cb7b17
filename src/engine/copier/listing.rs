//! Recursive listings (no delimiter) as pages of [`Listed`], resumable with `StartAfter`.

use crate::core::plan::Listed;
use std::time::Duration;

use crate::engine::copier::retry::{Class, MAX_EXPIRED_NO_RENEW, MAX_EXPIRED_RETRIES, classify};
use crate::engine::errors::{describe_sdk_error, error_code};
use crate::engine::session::Session;

/// A cursor over every object under a prefix, in S3's key order.
pub struct ObjectPages {
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    token: Option<String>,
    start_after: Option<String>,
    done: bool,
    pub listed: u64,
    /// Renews refused credentials (ExpiredToken) and tries the page again.
    session: Option<Session>,
}

impl ObjectPages {
    /// `after` is a key relative to `prefix`: listing resumes after it.
    pub fn new(s3: aws_sdk_s3::Client, bucket: &str, prefix: &str, after: Option<&str>) -> ObjectPages {
        ObjectPages {
            s3,
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            token: None,
            start_after: after.map(|a| format!("{prefix}{a}")),
            done: false,
            listed: 0,
            session: None,
        }
    }

    /// Pages refused with ExpiredToken are asked again after the session renews its
    /// credentials (a listing of millions of keys can outlive one credential).
    pub fn renewing(mut self, session: &Session) -> ObjectPages {
        self.session = Some(session.clone());
        self
    }

    /// The next page (keys relative to the prefix), `Ok(None)` at the end.
    pub async fn next(&mut self) -> Result<Option<Vec<Listed>>, (String, String)> {
        if self.done {
            return Ok(None);
        }
        let mut expired = 0;
        let page = loop {
            let mut req = self.s3.list_objects_v2().bucket(&self.bucket).prefix(&self.prefix);
            if let Some(t) = &self.token {
                req = req.continuation_token(t.clone());
            } else if let Some(a) = &self.start_after {
                req = req.start_after(a);
            }
            match req.send().await {
                Ok(page) => break page,
                Err(e) => {
                    let code = error_code(&e).unwrap_or_default();
                    let limit = match &self.session {
                        Some(s) if s.lifetime().renews => MAX_EXPIRED_RETRIES,
                        Some(_) => MAX_EXPIRED_NO_RENEW,
                        None => 0,
                    };
                    if classify(Some(&code), None, false) == Class::Expired && expired < limit {
                        expired += 1;
                        if let Some(s) = &self.session {
                            s.invalidate();
                        }
                        tokio::time::sleep(Duration::from_millis(250).saturating_mul(expired.min(8))).await;
                        continue;
                    }
                    return Err((code, describe_sdk_error(&e)));
                }
            }
        };
        let prefix_len = self.prefix.len();
        let objects: Vec<Listed> = page
            .contents()
            .iter()
            .filter_map(|o| {
                let key = o.key()?;
                Some(Listed {
                    key: key.get(prefix_len..)?.to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: o.e_tag().unwrap_or_default().trim_matches('"').to_string(),
                })
            })
            .collect();
        self.listed += objects.len() as u64;
        self.token = page.next_continuation_token().map(str::to_string);
        self.done = self.token.is_none();
        Ok(Some(objects))
    }
}
