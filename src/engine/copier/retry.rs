//! What to do with a failed request: retry with back-off, slow down, wait for fresh
//! credentials, or record the failure and move on.

use std::time::Duration;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::core::progress::{EXPIRED_CODES, SERVER_CODES, THROTTLE_CODES};
use crate::engine::errors::{HasStatus, describe_sdk_error, error_code};

/// Attempts per request for ordinary retryable errors (throttles included).
pub const MAX_ATTEMPTS: u32 = 10;
/// Refusals for expired credentials one request rides out while they are renewed (the waits
/// grow to 2 s each: about a minute in all) before the run halts for re-authentication.
pub const MAX_EXPIRED_RETRIES: u32 = 30;
/// The same for credentials that cannot renew: re-reading them once or twice is all there is.
pub const MAX_EXPIRED_NO_RENEW: u32 = 3;
/// Bare 400s one HEAD rides out with fresh credentials before it counts as a failure.
pub const MAX_BARE_400: u32 = 3;

/// The retries one HEAD has spent on bare 400s.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Bare400s {
    /// Counted toward [`MAX_BARE_400`]: the credentials were fresh and nothing else was refused.
    pub counted: u32,
    /// While other requests on the same credentials were refused as expired: those 400s are far
    /// more likely one more expiry than a verdict on the object, so they count only toward the
    /// ride-out every expiry gets.
    pub amid_expiries: u32,
}

/// Whether a HEAD's bare 400 is retried with fresh credentials (and which count it spends).
/// `others_expired`: a request on the same credentials was refused as expired since this one
/// was sent (or since its last renewal).
pub fn retry_bare_400(tries: &mut Bare400s, others_expired: bool) -> bool {
    if others_expired && tries.amid_expiries < MAX_EXPIRED_RETRIES {
        tries.amid_expiries += 1;
        return true;
    }
    if tries.counted < MAX_BARE_400 {
        tries.counted += 1;
        return true;
    }
    false
}

const BASE: Duration = Duration::from_millis(100);
const CAP: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 503 SlowDown and friends: back off and lower concurrency.
    Throttle,
    /// The credentials expired under the request: wait for the SDK to renew them and re-queue.
    Expired,
    /// A HEAD refused with a bare 400. S3 refuses an expired token with 400 ExpiredToken, but a
    /// HEAD answer has no body to carry the code: renew the credentials and try again, a few
    /// times; a 400 that fresh credentials also get is something else (a failure).
    MaybeExpired,
    /// Transient server or network trouble.
    Retry,
    /// Record and move on (AccessDenied, NoSuchKey, InvalidObjectState, ...).
    Fatal,
}

/// A failed request, reduced to what the copier needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    pub class: Class,
    pub code: String,
    pub message: String,
}

impl OpError {
    pub fn fatal(code: &str, message: String) -> OpError {
        OpError { class: Class::Fatal, code: code.to_string(), message }
    }
}

/// Classifies by S3 error code, then HTTP status, then transport failure.
pub fn classify(code: Option<&str>, status: Option<u16>, transport: bool) -> Class {
    match code {
        Some(c) if THROTTLE_CODES.contains(&c) => return Class::Throttle,
        Some(c) if EXPIRED_CODES.contains(&c) => return Class::Expired,
        Some(c) if SERVER_CODES.contains(&c) => return Class::Retry,
        _ => {}
    }
    match status {
        Some(503) => Class::Throttle,
        Some(429) => Class::Throttle,
        Some(500 | 502 | 504) => Class::Retry,
        _ if transport => Class::Retry,
        _ => Class::Fatal,
    }
}

/// Turns an SDK error into an [`OpError`].
pub fn op_error<E, R>(err: SdkError<E, R>) -> OpError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: HasStatus + std::fmt::Debug + 'static,
{
    let code = error_code(&err);
    let status = match &err {
        SdkError::ServiceError(se) => Some(se.raw().status_code()),
        SdkError::ResponseError(re) => Some(re.raw().status_code()),
        _ => None,
    };
    let transport =
        matches!(err, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_));
    let class = classify(code.as_deref(), status, transport);
    let code = code.unwrap_or_else(|| match &err {
        SdkError::DispatchFailure(_) => "ConnectionError".to_string(),
        SdkError::TimeoutError(_) => "Timeout".to_string(),
        SdkError::ResponseError(_) => "ResponseError".to_string(),
        _ => "Error".to_string(),
    });
    // The request id goes with the message: the error's detail and the export carry it.
    let mut message = describe_sdk_error(&err);
    if let Some(id) = err.raw_response().and_then(HasStatus::request_id) {
        message.push_str(&format!(" (request id {id})"));
    }
    OpError { class, code, message }
}

/// [`op_error`] for HEAD requests, whose error answers carry no code: a bare 400 may be an
/// expired token ([`Class::MaybeExpired`]).
pub fn head_error<E, R>(err: SdkError<E, R>) -> OpError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: HasStatus + std::fmt::Debug + 'static,
{
    let mut e = op_error(err);
    if e.class == Class::Fatal && e.code == "HTTP 400" {
        e.class = Class::MaybeExpired;
    }
    e
}

/// Exponential back-off with full jitter: a random wait in [0, min(cap, base * 2^attempt)].
/// `unit` is a random number in [0, 1).
pub fn backoff(attempt: u32, unit: f64) -> Duration {
    let ceiling = BASE.saturating_mul(1u32 << attempt.min(16)).min(CAP);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let cases: &[(Option<&str>, Option<u16>, bool, Class)] = &[
            (Some("SlowDown"), Some(503), false, Class::Throttle),
            (None, Some(503), false, Class::Throttle),
            (Some("ExpiredToken"), Some(400), false, Class::Expired),
            (Some("ExpiredTokenException"), Some(400), false, Class::Expired),
            (Some("InvalidToken"), Some(400), false, Class::Expired),
            (Some("InternalError"), Some(500), false, Class::Retry),
            (Some("RequestTimeout"), Some(400), false, Class::Retry),
            (None, None, true, Class::Retry),
            (Some("AccessDenied"), Some(403), false, Class::Fatal),
            (Some("NoSuchKey"), Some(404), false, Class::Fatal),
            (Some("InvalidObjectState"), Some(403), false, Class::Fatal),
            (Some("PreconditionFailed"), Some(412), false, Class::Fatal),
            (Some("AccessControlListNotSupported"), Some(400), false, Class::Fatal),
            // Clock skew is not an expiry and does not heal by retrying.
            (Some("RequestTimeTooSkewed"), Some(403), false, Class::Fatal),
        ];
        for (code, status, transport, want) in cases {
            assert_eq!(classify(*code, *status, *transport), *want, "{code:?} {status:?}");
        }
    }

    #[test]
    fn bare_400s_amid_other_expiries_do_not_spend_the_verdict() {
        // (others expired?, tries before) -> (retried?, tries after)
        let t = |counted, amid_expiries| Bare400s { counted, amid_expiries };
        let cases = [
            ("quiet credentials: a few tries", false, t(0, 0), true, t(1, 0)),
            ("quiet, third", false, t(2, 0), true, t(3, 0)),
            ("quiet, the cap: a failure", false, t(3, 0), false, t(3, 0)),
            ("others refused as expired: not counted", true, t(3, 0), true, t(3, 1)),
            ("amid expiries, up to the ride-out", true, t(0, MAX_EXPIRED_RETRIES - 1), true, t(0, MAX_EXPIRED_RETRIES)),
            ("the ride-out spent: counted again", true, t(2, MAX_EXPIRED_RETRIES), true, t(3, MAX_EXPIRED_RETRIES)),
            ("both spent", true, t(3, MAX_EXPIRED_RETRIES), false, t(3, MAX_EXPIRED_RETRIES)),
        ];
        for (what, others, before, retried, after) in cases {
            let mut tries = before;
            assert_eq!((retry_bare_400(&mut tries, others), tries), (retried, after), "{what}");
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        assert_eq!(backoff(0, 0.0), Duration::ZERO);
        assert_eq!(backoff(0, 0.999_999).as_millis(), 99);
        assert_eq!(backoff(3, 0.5), Duration::from_millis(400));
        assert_eq!(backoff(30, 1.0), CAP);
        assert!(backoff(5, 0.25) < backoff(5, 0.75));
    }
}
