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
        let mut text = e.to_string();
        // The SDK shows an error's metadata as `Error { code: .., message: .., aws_request_id: .. }`:
        // keep what it says, not its shape.
        if let Some(fields) = text.strip_prefix("Error {").and_then(|t| t.strip_suffix('}')) {
            text = fields
                .split(", ")
                .filter_map(|f| f.trim().split_once(": "))
                .map(|(k, v)| format!("{} {}", k.replace("aws_request_id", "request id"), v.trim_matches('"')))
                .collect::<Vec<_>>()
                .join(", ");
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn a_chain_is_one_line_of_sentences_never_a_debug_shape() {
        let inner = E(r#"Error { code: "AccessDenied", message: "not authorized", aws_request_id: "r-1" }"#, None);
        let err = E("service error", Some(Box::new(E("unhandled error", Some(Box::new(inner))))));
        assert_eq!(
            error_chain(&err),
            "service error: unhandled error: code AccessDenied, message not authorized, request id r-1"
        );
        let repeated = E("io error: refused", Some(Box::new(E("refused", None))));
        assert_eq!(error_chain(&repeated), "io error: refused", "a cause already said is not said again");
    }
}
