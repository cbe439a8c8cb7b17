//! S3 Batch Operations, the pure part: the CSV manifest, the CreateJob request as plain data,
//! the completion report and the job's status. The engine (`engine::batch`) sends and reads them.
//!
//! Facts this module relies on (S3 user guide "Specifying a manifest", "Completion reports";
//! S3 Control API reference CreateJob, S3CopyObjectOperation, JobReport, DescribeJob):
//! - CSV manifest, format `S3BatchOperations_CSV_20180820`, one object per line:
//!   `Bucket,Key[,VersionId]`, no header. Keys must be URL-encoded (the guide's example is
//!   `object%20key%20with%20spaces`). See [`encode_key`] for exactly what we encode.
//! - CreateJob's manifest `Location` needs the manifest object's ARN and its ETag.
//! - Completion report: format `Report_CSV_20180820`; with scope `FailedTasksOnly` it lists only
//!   failed tasks. It is written under `{Prefix}/job-{JobId}/`: a `manifest.json` naming the
//!   result CSVs, whose columns are Bucket, Key, VersionId, TaskStatus, ErrorCode,
//!   HTTPStatusCode, ResultMessage.
//! - S3PutObjectCopy copies each object to `TargetKeyPrefix` + its full source key, and cannot
//!   copy objects larger than 5 GB (those stay in s3ferry's own multipart queue).

use std::fmt::Write as _;

use serde::Serialize;

use crate::core::plan::MAX_PART;
use crate::core::progress::Failure;

/// The manifest format CreateJob is given.
pub const MANIFEST_FORMAT: &str = "S3BatchOperations_CSV_20180820";
/// The completion report format.
pub const REPORT_FORMAT: &str = "Report_CSV_20180820";
/// The service principal that assumes the job role.
pub const SERVICE_PRINCIPAL: &str = "batchoperations.s3.amazonaws.com";
/// Largest object S3PutObjectCopy copies (CopyObject's 5 GB = 5 GiB limit).
pub const MAX_BATCH_COPY: u64 = MAX_PART;
/// Default job priority (higher runs first among an account's jobs).
pub const DEFAULT_PRIORITY: i32 = 10;

/// URL-encodes a key for a CSV manifest line.
///
/// Every byte except the RFC 3986 unreserved characters (`A-Z a-z 0-9 - _ . ~`) and `/` is
/// percent-encoded from its UTF-8 bytes, with upper-case hex. So a space is `%20` (never `+`),
/// and a literal `+` is `%2B`: the line means the same key whether the service decodes it as a
/// plain percent-encoding or as a form encoding (where `+` is a space). UNVERIFIED which of the
/// two S3 Batch applies; encoding both unambiguously makes the question moot. `/` is left as is
/// (the guide's examples do the same; `%2F` would decode to the same key). Commas, quotes and
/// line breaks are encoded, so no key can break the CSV.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 8);
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decodes a key from a manifest or a completion report: `%XX` escapes, and `+` as a space
/// (a form-style encoder wrote it; [`encode_key`] never writes `+`). Err on a bad escape or
/// bytes that are not UTF-8.
/// Why a manifest key does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyDecodeError {
    #[error("bad %-escape at byte {at} of {text:?}")]
    Escape { at: usize, text: String },
    #[error("{0:?} does not decode to UTF-8")]
    NotUtf8(String),
}

pub fn decode_key(text: &str) -> Result<String, KeyDecodeError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3).filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
                let escape = || KeyDecodeError::Escape { at: i, text: text.to_string() };
                let Some(hex) = hex else { return Err(escape()) };
                out.push(u8::from_str_radix(hex, 16).map_err(|_| escape())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| KeyDecodeError::NotUtf8(text.to_string()))
}

/// One manifest line, with its newline: `bucket,encoded-key\n`.
pub fn manifest_line(bucket: &str, key: &str) -> String {
    format!("{bucket},{}\n", encode_key(key))
}

/// Where an object planned for copying goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Into the manifest: S3 Batch copies it.
    Batch,
    /// Larger than 5 GB: s3ferry copies it in parts from this host.
    Local,
}

pub fn route(size: u64) -> Route {
    if size > MAX_BATCH_COPY { Route::Local } else { Route::Batch }
}

/// The canned ACL the copies need for the destination's Object Ownership, as the copier decides:
/// none for BucketOwnerEnforced (ACLs are disabled; any other ACL fails) or when unknown,
/// `bucket-owner-full-control` for BucketOwnerPreferred and ObjectWriter.
pub fn canned_acl(ownership: Option<&str>) -> Option<&'static str> {
    match ownership {
        Some("BucketOwnerPreferred" | "ObjectWriter") => Some("bucket-owner-full-control"),
        _ => None,
    }
}

/// Why a source prefix stops a batch job: S3PutObjectCopy writes `TargetKeyPrefix` + the full
/// source key, so it cannot drop a source prefix the way `cp`/`sync` do.
pub fn source_prefix_problem(source_prefix: &str, destination_prefix: &str) -> Option<String> {
    if source_prefix.is_empty() {
        return None;
    }
    let mut glob = String::new();
    for c in source_prefix.chars() {
        if matches!(c, '\\' | '*' | '?' | '[' | ']') {
            glob.push('\\');
        }
        glob.push(c);
    }
    glob.push('*');
    Some(format!(
        "S3 Batch Operations copies each object to the destination prefix + its FULL source key, so s3://SRC/{source_prefix}x would land at {destination_prefix}{source_prefix}x, not at {destination_prefix}x as cp/sync put it. Next step: set [source] prefix = \"\" and [transfer] include = ['{glob}'] (copies then land under {destination_prefix}{source_prefix}), or use cp/sync"
    ))
}

/// A stable CreateJob ClientRequestToken (1-64 characters) from the job's defining parts: the
/// SDK's retries of one CreateJob never create a second job.
pub fn request_token(parts: &[&str]) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x6c62_272e_07bb_0142;
    for p in parts {
        for byte in p.bytes().chain([0xff]) {
            a = (a ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3);
            b = (b ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(5);
        }
    }
    format!("s3ferry-{a:016x}{b:016x}")
}

/// The manifest object CreateJob reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestLocation {
    pub bucket: String,
    pub key: String,
    /// Required by CreateJob: the ETag PutObject returned for the manifest (without quotes).
    pub etag: String,
}

impl ManifestLocation {
    pub fn object_arn(&self) -> String {
        format!("arn:aws:s3:::{}/{}", self.bucket, self.key)
    }
}

/// Where the completion report (failed tasks only) goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportTarget {
    pub bucket: String,
    pub prefix: String,
}

impl ReportTarget {
    pub fn bucket_arn(&self) -> String {
        format!("arn:aws:s3:::{}", self.bucket)
    }

    /// The key of the report's `manifest.json` for a job. UNVERIFIED: that S3 joins a prefix
    /// with `/` when it has none at its end.
    pub fn manifest_key(&self, job_id: &str) -> String {
        let prefix = self.prefix.trim_end_matches('/');
        if prefix.is_empty() {
            format!("job-{job_id}/manifest.json")
        } else {
            format!("{prefix}/job-{job_id}/manifest.json")
        }
    }
}

/// The S3PutObjectCopy operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyOperation {
    pub target_bucket: String,
    pub target_key_prefix: String,
    /// SSE-KMS with this key (full ARN); None leaves the destination's default encryption.
    pub kms_key_arn: Option<String>,
    pub bucket_key_enabled: bool,
    /// `bucket-owner-full-control` or none, from the destination's Object Ownership.
    pub canned_acl: Option<String>,
    /// Always `COPY`: metadata travels with the object, as with the copier.
    pub metadata_directive: &'static str,
}

impl CopyOperation {
    pub fn target_bucket_arn(&self) -> String {
        format!("arn:aws:s3:::{}", self.target_bucket)
    }
}

/// Everything CreateJob is given, as plain data: the engine turns it into the SDK call, the
/// console and `--json` show it before anything is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobSpec {
    /// The account that runs the job (the caller's).
    pub account_id: String,
    pub role_arn: String,
    pub priority: i32,
    pub client_request_token: String,
    /// True: the job waits in Suspended until someone confirms it (console or UpdateJobStatus).
    pub confirmation_required: bool,
    pub description: String,
    pub manifest: ManifestLocation,
    pub report: ReportTarget,
    pub copy: CopyOperation,
}

/// One row of a completion report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    pub bucket: String,
    /// Decoded (the report carries it URL-encoded, as the manifest did).
    pub key: String,
    pub version_id: Option<String>,
    pub task_status: String,
    pub error_code: String,
    pub http_status: Option<u16>,
    pub message: String,
}

impl ReportRow {
    /// The row as the per-file error table's record.
    pub fn failure(&self) -> Failure {
        let code = match (&self.error_code, self.http_status) {
            (c, _) if !c.is_empty() => c.clone(),
            (_, Some(s)) => format!("HTTP {s}"),
            _ => self.task_status.clone(),
        };
        Failure { key: self.key.clone(), code, message: self.message.clone(), attempts: 1 }
    }

    pub fn failed(&self) -> bool {
        !self.task_status.eq_ignore_ascii_case("succeeded")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("completion report line {line}: {message}")]
pub struct ReportError {
    pub line: usize,
    pub message: String,
}

/// Parses a completion report CSV (RFC 4180 quoting; no header).
pub fn parse_report(text: &str) -> Result<Vec<ReportRow>, ReportError> {
    let mut rows = Vec::new();
    for (line, fields) in csv_records(text)? {
        if fields.len() == 1 && fields[0].is_empty() {
            continue;
        }
        if fields.len() < 7 {
            return Err(ReportError {
                line,
                message: format!(
                    "expected 7 columns (Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage), found {}",
                    fields.len()
                ),
            });
        }
        let key = decode_key(&fields[1]).map_err(|e| ReportError { line, message: e.to_string() })?;
        rows.push(ReportRow {
            bucket: fields[0].clone(),
            key,
            version_id: Some(fields[2].clone()).filter(|v| !v.is_empty()),
            task_status: fields[3].clone(),
            error_code: fields[4].clone(),
            http_status: fields[5].trim().parse().ok(),
            // A message with an unquoted comma would split; keep all of it.
            message: fields[6..].join(","),
        });
    }
    Ok(rows)
}

/// (first line number, fields) per record; quoted fields may hold commas, quotes ("") and
/// line breaks.
fn csv_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, ReportError> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let (mut line, mut start) = (1, 1);
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                fields.push(std::mem::take(&mut field));
                records.push((start, std::mem::take(&mut fields)));
                line += 1;
                start = line;
                any = false;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(ReportError { line: start, message: "a quoted field is never closed".into() });
    }
    if any {
        fields.push(field);
        records.push((start, fields));
    }
    Ok(records)
}

/// One result file named by a report's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ResultFile {
    #[serde(rename = "TaskExecutionStatus")]
    pub task_execution_status: String,
    #[serde(rename = "Bucket")]
    pub bucket: String,
    #[serde(rename = "Key")]
    pub key: String,
}

/// The result files of a report's `manifest.json`, failed ones first.
pub fn parse_report_manifest(text: &str) -> Result<Vec<ResultFile>, String> {
    #[derive(serde::Deserialize)]
    struct Doc {
        #[serde(rename = "Format")]
        format: Option<String>,
        #[serde(rename = "Results", default)]
        results: Vec<ResultFile>,
    }
    let doc: Doc = serde_json::from_str(text).map_err(|e| format!("the report's manifest.json does not parse: {e}"))?;
    if let Some(f) = &doc.format
        && f != REPORT_FORMAT
    {
        return Err(format!("the report's format is {f}, expected {REPORT_FORMAT}"));
    }
    let mut files = doc.results;
    files.sort_by_key(|f| !f.task_execution_status.eq_ignore_ascii_case("failed"));
    Ok(files)
}

/// A job as DescribeJob reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct JobStatus {
    pub job_id: String,
    pub status: String,
    pub description: String,
    pub total: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Seconds since the epoch.
    pub created: Option<i64>,
    pub terminated: Option<i64>,
    /// The service's own seconds-elapsed figure, when it gives one.
    pub elapsed_reported: Option<i64>,
    pub failure_reasons: Vec<String>,
    pub report: Option<ReportTarget>,
    pub role_arn: String,
}

impl JobStatus {
    /// Terminal states: nothing more will happen.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "Complete" | "Failed" | "Cancelled")
    }

    /// Seconds from creation to termination (or to `now`), else what the service reported.
    pub fn elapsed_secs(&self, now_epoch: i64) -> Option<i64> {
        match (self.created, self.terminated) {
            (Some(c), Some(t)) => Some((t - c).max(0)),
            (Some(c), None) => Some((now_epoch - c).max(0)),
            _ => self.elapsed_reported,
        }
    }

    /// "Active: 1,200 of 5,000 done (3 failed) in 2m 05s"
    pub fn line(&self, now_epoch: i64) -> String {
        let elapsed =
            self.elapsed_secs(now_epoch).map(|s| format!(" in {}", format_secs(s.max(0) as u64))).unwrap_or_default();
        format!(
            "{}: {} of {} done, {} succeeded, {} failed{elapsed}",
            self.status,
            self.succeeded + self.failed,
            self.total,
            self.succeeded,
            self.failed
        )
    }
}

/// `45s`, `2m 05s`, `3h 07m`.
pub fn format_secs(s: u64) -> String {
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
