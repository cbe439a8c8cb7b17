//! `s3://bucket/prefix` locations and bucket-name validation.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3UrlError {
    #[error("`{0}` is not an S3 URL: write it as s3://BUCKET or s3://BUCKET/PREFIX")]
    Scheme(String),
    #[error("`{name}` is not a valid bucket name: {why}")]
    Bucket { name: String, why: &'static str },
    #[error("the prefix is {len} bytes long; S3 keys and prefixes are at most 1,024 bytes")]
    TooLong { len: usize },
}

/// S3's limit on a key's (and so a prefix's) length, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// A prefix or key S3 could hold: at most [`MAX_KEY_BYTES`].
pub fn validate_prefix(prefix: &str) -> Result<(), S3UrlError> {
    if prefix.len() > MAX_KEY_BYTES {
        return Err(S3UrlError::TooLong { len: prefix.len() });
    }
    Ok(())
}

/// A bucket and a key prefix inside it ("" for the whole bucket).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

impl S3Location {
    pub fn parse(url: &str) -> Result<Self, S3UrlError> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| S3UrlError::Scheme(url.to_string()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        validate_bucket(bucket)?;
        validate_prefix(prefix)?;
        Ok(Self { bucket: bucket.to_string(), prefix: prefix.to_string() })
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// The S3 general-purpose bucket naming rules, so a typo is caught before any request.
pub fn validate_bucket(name: &str) -> Result<(), S3UrlError> {
    let fail = |why| Err(S3UrlError::Bucket { name: name.to_string(), why });
    if name.len() < 3 || name.len() > 63 {
        return fail("bucket names are 3 to 63 characters long");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.') {
        return fail("only lowercase letters, digits, '-' and '.' are allowed");
    }
    let first = name.as_bytes()[0];
    let last = name.as_bytes()[name.len() - 1];
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return fail("it must begin and end with a letter or digit");
    }
    if name.contains("..") {
        return fail("it must not contain two adjacent periods");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return fail("it must not be formatted as an IP address");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_urls() {
        let ok: &[(&str, &str, &str)] = &[
            ("s3://prod-data", "prod-data", ""),
            ("s3://prod-data/", "prod-data", ""),
            ("s3://prod-data/exports/2024/", "prod-data", "exports/2024/"),
            ("s3://a.b-c/x y+z", "a.b-c", "x y+z"),
        ];
        for (url, bucket, prefix) in ok {
            let loc = S3Location::parse(url).unwrap();
            assert_eq!((loc.bucket.as_str(), loc.prefix.as_str()), (*bucket, *prefix), "{url}");
        }
        let bad = [
            "prod-data",
            "http://prod-data",
            "s3://",
            "s3://Prod",
            "s3://ab",
            "s3://-abc",
            "s3://a..b",
            "s3://192.168.1.1",
            "s3://under_score",
        ];
        for url in bad {
            assert!(S3Location::parse(url).is_err(), "{url} should be rejected");
        }
    }
}
