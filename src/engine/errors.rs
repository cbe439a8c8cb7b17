//! Turning SDK errors into sentences that name the code, the resource and the next step.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The bucket's Region as S3 names it on a refusal (`x-amz-bucket-region`, sent even with a 301
/// or 403 and on a HEAD, which has no body).
pub fn region_header<E>(err: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> Option<String> {
    err.raw_response().and_then(|r| r.headers().get("x-amz-bucket-region")).map(str::to_string)
}

/// The service's error code, or the HTTP status for bodiless errors (HEAD requests).
pub fn error_code<E, R>(err: &SdkError<E, R>) -> Option<String>
where
    E: ProvideErrorMetadata,
    R: HasStatus,
{
    match err {
        SdkError::ServiceError(se) => {
            se.err().code().map(str::to_string).or_else(|| Some(status_name(se.raw().status_code())))
        }
        _ => None,
    }
}

/// "Code: message", or what went wrong on the wire, without the SDK's nested debug noise.
pub fn describe_sdk_error<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: HasStatus + std::fmt::Debug + 'static,
{
    match err {
        SdkError::ServiceError(se) => {
            let code = error_code(err).unwrap_or_else(|| "Error".to_string());
            match se.err().message() {
                Some(m) if !m.is_empty() => format!("{code}: {m}"),
                _ => code,
            }
        }
        SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => {
            format!("cannot connect: {}", error_chain(err))
        }
        SdkError::TimeoutError(_) => "the request timed out".to_string(),
        _ => error_chain(err),
    }
}

/// An error and its causes as one line of their `Display` texts, each said once. Never the
/// `Debug` form: the SDK's Debug text of a request can carry its parameters (an external id)
/// and is no sentence for an operator.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Raw HTTP responses whose status we can read, so bodiless errors still get a name.
pub trait HasStatus {
    fn status_code(&self) -> u16;
    /// S3's id of the request (`x-amz-request-id`), which AWS support asks for.
    fn request_id(&self) -> Option<&str> {
        None
    }
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }

    fn request_id(&self) -> Option<&str> {
        self.headers().get("x-amz-request-id")
    }
}

fn status_name(status: u16) -> String {
    match status {
        301 => "PermanentRedirect".to_string(),
        403 => "AccessDenied".to_string(),
        404 => "NotFound".to_string(),
        405 => "MethodNotAllowed".to_string(),
        503 => "SlowDown".to_string(),
        s => format!("HTTP {s}"),
    }
}
