//! S3 Batch Operations, the part that talks to AWS: plan the manifest with the transfer
//! engine's own planner (a dry run: sync diffing, include/exclude), upload it, create the
//! S3PutObjectCopy job through S3 Control, describe it, and read its completion report.
//!
//! ```text
//! copier dry run ── DryRun events ──┬─ ≤ 5 GiB ──> manifest.csv ──> PutObject ──> CreateJob
//!                                   └─ > 5 GiB ──> local queue (cp of exactly those keys)
//! ```
//! Nothing is written to a bucket unless the operator asked: planning writes only the local
//! manifest file; [`submit`] uploads it and creates the job.

pub mod evidence;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3control::types::{
    JobManifest, JobManifestFieldName, JobManifestFormat, JobManifestLocation, JobManifestSpec, JobOperation,
    JobReport, JobReportFormat, JobReportScope, S3CannedAccessControlList, S3CopyObjectOperation, S3MetadataDirective,
    S3ObjectMetadata, S3SseAlgorithm,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};

use crate::config::{Config, TransferConfig};
use crate::core::batch::{
    CopyOperation, JobSpec, JobStatus, ManifestLocation, ReportTarget, Route, manifest_line, parse_report,
    parse_report_manifest, request_token, route, source_prefix_problem,
};
use crate::core::plan::MAX_PART;
use crate::core::progress::{Failure, Mode, Planned, TransferEvent};
use crate::engine::copier::{self, ResumePolicy, TransferError};
use crate::engine::errors::describe_sdk_error;
use crate::engine::session::{Session, SessionError};

/// Where the manifest and report go unless the operator names a prefix.
pub const DEFAULT_PREFIX: &str = "s3ferry-batch/";

/// What the operator chose for the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTarget {
    pub manifest_bucket: String,
    /// Manifests go to `{prefix}{run}/manifest.csv`, reports under `{prefix}reports/`.
    pub prefix: String,
    /// Defaults to the manifest bucket.
    pub report_bucket: Option<String>,
    pub role_arn: String,
    pub priority: i32,
    /// The job waits in Suspended until confirmed in the S3 console (or UpdateJobStatus).
    pub confirmation_required: bool,
    /// An S3 Control endpoint to use verbatim (an emulator or a recording stub); AWS otherwise.
    pub control_endpoint: Option<String>,
}

impl BatchTarget {
    pub fn report(&self) -> ReportTarget {
        ReportTarget {
            bucket: self.report_bucket.clone().unwrap_or_else(|| self.manifest_bucket.clone()),
            prefix: format!("{}reports", self.prefix),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Aws(String),
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
}

impl BatchError {
    /// Errors the operator fixes by changing the command or the config (exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, BatchError::Refused(_) | BatchError::Transfer(TransferError::Glob(_)))
    }
}

/// An object too large for S3PutObjectCopy, copied from this host instead.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LocalObject {
    pub key: String,
    pub size: u64,
}

/// The planned manifest, written locally.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ManifestPlan {
    pub path: PathBuf,
    /// Lines in the manifest.
    pub objects: u64,
    pub bytes: u64,
    /// Larger than 5 GiB: not in the manifest, copied locally.
    pub local: Vec<LocalObject>,
    /// `sync` found these unchanged-or-unknown and they are in the manifest anyway (copying is
    /// the safe default; the copier would HEAD each one first).
    pub unverified: u64,
    /// `sync --delete` deletions Batch copy cannot do: run `s3ferry sync --delete` for them.
    pub deletions_not_done: u64,
    /// The destination's Object Ownership and the ACL the copies need, as the copier decided.
    pub ownership: Option<String>,
    pub acl: Option<String>,
    pub warnings: Vec<String>,
}

/// Plans the transfer (a dry run of the copier: nothing is written to any bucket) and writes
/// the manifest of objects up to 5 GiB to `path`.
pub async fn plan(
    config: &Config,
    mode: Mode,
    settings: &TransferConfig,
    path: &Path,
) -> Result<ManifestPlan, BatchError> {
    if let Some(why) = source_prefix_problem(&config.source.prefix, &config.destination.prefix) {
        return Err(BatchError::Refused(why));
    }
    let io = |what: &'static str| move |source| BatchError::Io { what, path: path.to_path_buf(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await.map_err(io("cannot create the directory of"))?;
    }
    let file = tokio::fs::File::create(path).await.map_err(io("cannot create the manifest"))?;
    let mut out = tokio::io::BufWriter::new(file);

    let opts = copier::Options { mode, settings: settings.clone(), dry_run: true, resume: ResumePolicy::Auto };
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Held until the run ends: a dropped sender reads as "stop".
    let (_stop, stop_rx) = watch::channel(false);
    let cfg = config.clone();
    let run = tokio::spawn(async move { copier::run(&cfg, &opts, tx, stop_rx).await });
    let mut plan = ManifestPlan { path: path.to_path_buf(), ..ManifestPlan::default() };
    while let Some(event) = rx.recv().await {
        match event {
            TransferEvent::Started { writes, .. } => {
                plan.ownership = writes.ownership;
                plan.acl = writes.acl;
            }
            TransferEvent::DryRun { action: action @ (Planned::Copy | Planned::Check), key, bytes } => {
                if action == Planned::Check {
                    plan.unverified += 1;
                }
                match route(bytes) {
                    Route::Batch => {
                        out.write_all(manifest_line(&config.source.bucket, &key).as_bytes())
                            .await
                            .map_err(io("cannot write the manifest"))?;
                        plan.objects += 1;
                        plan.bytes += bytes;
                    }
                    Route::Local => plan.local.push(LocalObject { key, size: bytes }),
                }
            }
            TransferEvent::DryRun { action: Planned::Delete, .. } => plan.deletions_not_done += 1,
            TransferEvent::Warning { message } => plan.warnings.push(message),
            _ => {}
        }
    }
    out.flush().await.map_err(io("cannot write the manifest"))?;
    let outcome = run.await.map_err(|e| BatchError::Aws(format!("the planner stopped: {e}")))??;
    if let Some(e) = outcome.plan_error {
        return Err(BatchError::Aws(format!(
            "planning stopped, so the manifest would be incomplete and no job is created: {e}"
        )));
    }
    Ok(plan)
}

/// A job that was created.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Submitted {
    pub job_id: String,
    pub spec: JobSpec,
}

/// The session that uploads the manifest and creates the job: the source identity (the job runs
/// in the source account, next to the objects it reads).
pub async fn operator(config: &Config) -> Result<Session, BatchError> {
    Ok(Session::connect(&config.source.access, "source credentials", Some(&config.source.bucket)).await?)
}

/// Uploads the manifest and creates the job. Call only once the operator has confirmed.
pub async fn submit(
    config: &Config,
    target: &BatchTarget,
    plan: &ManifestPlan,
    session: &Session,
) -> Result<Submitted, BatchError> {
    if plan.objects == 0 {
        return Err(BatchError::Refused(
            "the manifest is empty: nothing for S3 Batch to copy (objects over 5 GiB are copied locally)".into(),
        ));
    }
    let size = tokio::fs::metadata(&plan.path)
        .await
        .map_err(|source| BatchError::Io { what: "cannot read the manifest", path: plan.path.clone(), source })?
        .len();
    if size > MAX_PART {
        return Err(BatchError::Refused(format!(
            "the manifest is {size} bytes, over the 5 GiB one PutObject takes: split the migration with [transfer] include globs and run one job per part"
        )));
    }
    let account = session.info.identity.account.clone();
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let run = request_token(&[&stamp.to_string(), &config.destination.bucket, &target.role_arn]);
    let key = format!("{}{}-{}/manifest.csv", target.prefix, stamp, &run[8..20]);
    let body = ByteStream::from_path(&plan.path)
        .await
        .map_err(|e| BatchError::Aws(format!("cannot read the manifest {}: {e}", plan.path.display())))?;
    let put = session
        .s3
        .put_object()
        .bucket(&target.manifest_bucket)
        .key(&key)
        .content_type("text/csv")
        .body(body)
        .send()
        .await
        .map_err(|e| {
            BatchError::Aws(format!(
                "uploading the manifest to s3://{}/{key} as {} (account {account}) failed: {}. Next: allow s3:PutObject on arn:aws:s3:::{}/{}* for that identity, or choose another --manifest-bucket",
                target.manifest_bucket,
                session.info.identity.arn,
                describe_sdk_error(&e),
                target.manifest_bucket,
                target.prefix
            ))
        })?;
    let etag = put.e_tag().unwrap_or_default().trim_matches('"').to_string();
    if etag.is_empty() {
        return Err(BatchError::Aws(format!(
            "s3://{}/{key} was uploaded but S3 returned no ETag, which CreateJob requires",
            target.manifest_bucket
        )));
    }
    let manifest = ManifestLocation { bucket: target.manifest_bucket.clone(), key, etag };
    let spec = job_spec(config, target, plan, &account, manifest);
    let control = control_client(session, target.control_endpoint.as_deref());
    let job_id = create_job(&control, &spec).await?;
    Ok(Submitted { job_id, spec })
}

/// The CreateJob request for a planned manifest, as plain data.
pub fn job_spec(
    config: &Config,
    target: &BatchTarget,
    plan: &ManifestPlan,
    account: &str,
    manifest: ManifestLocation,
) -> JobSpec {
    let kms = config.destination.kms_key_arn.clone();
    let description = format!(
        "s3ferry: s3://{}/{} -> s3://{}/{} ({} objects)",
        config.source.bucket, config.source.prefix, config.destination.bucket, config.destination.prefix, plan.objects
    );
    JobSpec {
        account_id: account.to_string(),
        role_arn: target.role_arn.clone(),
        priority: target.priority,
        client_request_token: request_token(&[&manifest.etag, &manifest.object_arn(), &target.role_arn]),
        confirmation_required: target.confirmation_required,
        description: description.chars().take(256).collect(),
        report: target.report(),
        copy: CopyOperation {
            target_bucket: config.destination.bucket.clone(),
            target_key_prefix: config.destination.prefix.clone(),
            bucket_key_enabled: kms.is_some(),
            kms_key_arn: kms,
            canned_acl: plan.acl.clone(),
            metadata_directive: "COPY",
        },
        manifest,
    }
}

/// An S3 Control client for the session's credentials and Region. With `endpoint`, every
/// request goes to exactly that URL: S3 Control normally puts the account id in the host
/// (`{AccountId}.s3-control.{Region}.amazonaws.com`), and its endpoint rules do the same to a
/// custom endpoint URL (`https://{AccountId}.example.com`), which an emulator on 127.0.0.1
/// cannot answer. (This crate version has no `disable_host_prefix_injection`: the account
/// prefix comes from the endpoint rules, so a resolver replaces them.) Without `endpoint`, the
/// S3 `endpoint_url` of the config is NOT used for S3 Control.
pub fn control_client(session: &Session, endpoint: Option<&str>) -> aws_sdk_s3control::Client {
    let mut builder = aws_sdk_s3control::config::Builder::from(&session.sdk);
    builder.set_endpoint_url(None);
    if let Some(url) = endpoint {
        builder = builder.endpoint_resolver(FixedEndpoint(url.trim_end_matches('/').to_string()));
    }
    aws_sdk_s3control::Client::from_conf(builder.build())
}

#[derive(Debug)]
struct FixedEndpoint(String);

impl aws_sdk_s3control::config::endpoint::ResolveEndpoint for FixedEndpoint {
    fn resolve_endpoint<'a>(
        &'a self,
        params: &'a aws_sdk_s3control::config::endpoint::Params,
    ) -> aws_sdk_s3control::config::endpoint::EndpointFuture<'a> {
        let region = params.region().unwrap_or("us-east-1").to_string();
        let scheme = aws_smithy_types::endpoint::EndpointAuthScheme::with_capacity("sigv4", 3)
            .put("disableDoubleEncoding", true)
            .put("signingName", "s3".to_string())
            .put("signingRegion", region);
        aws_sdk_s3control::config::endpoint::EndpointFuture::ready(Ok(aws_smithy_types::endpoint::Endpoint::builder()
            .url(self.0.clone())
            .auth_scheme(scheme)
            .build()))
    }
}

/// Sends CreateJob; returns the job id.
pub async fn create_job(control: &aws_sdk_s3control::Client, spec: &JobSpec) -> Result<String, BatchError> {
    let built = |e: aws_smithy_types::error::operation::BuildError| BatchError::Aws(format!("CreateJob: {e}"));
    let manifest = JobManifest::builder()
        .spec(
            JobManifestSpec::builder()
                .format(JobManifestFormat::S3BatchOperationsCsv20180820)
                .fields(JobManifestFieldName::Bucket)
                .fields(JobManifestFieldName::Key)
                .build()
                .map_err(built)?,
        )
        .location(
            JobManifestLocation::builder()
                .object_arn(spec.manifest.object_arn())
                .e_tag(&spec.manifest.etag)
                .build()
                .map_err(built)?,
        )
        .build();
    let report = JobReport::builder()
        .bucket(spec.report.bucket_arn())
        .format(JobReportFormat::ReportCsv20180820)
        .enabled(true)
        .prefix(&spec.report.prefix)
        .report_scope(JobReportScope::FailedTasksOnly)
        .build();
    let mut copy = S3CopyObjectOperation::builder()
        .target_resource(spec.copy.target_bucket_arn())
        .metadata_directive(S3MetadataDirective::Copy);
    if !spec.copy.target_key_prefix.is_empty() {
        copy = copy.target_key_prefix(&spec.copy.target_key_prefix);
    }
    if let Some(key) = &spec.copy.kms_key_arn {
        // UNVERIFIED: whether SSEAwsKmsKeyId alone selects SSE-KMS; the S3 console sends the
        // algorithm in NewObjectMetadata alongside it, so we do too. With MetadataDirective
        // COPY the object's own metadata is still copied.
        copy = copy
            .sse_aws_kms_key_id(key)
            .bucket_key_enabled(spec.copy.bucket_key_enabled)
            .new_object_metadata(S3ObjectMetadata::builder().sse_algorithm(S3SseAlgorithm::Kms).build());
    }
    if spec.copy.canned_acl.as_deref() == Some("bucket-owner-full-control") {
        copy = copy.canned_access_control_list(S3CannedAccessControlList::BucketOwnerFullControl);
    }
    let out = control
        .create_job()
        .account_id(&spec.account_id)
        .confirmation_required(spec.confirmation_required)
        .operation(JobOperation::builder().s3_put_object_copy(copy.build()).build())
        .report(report)
        .client_request_token(&spec.client_request_token)
        .manifest(manifest)
        .description(&spec.description)
        .priority(spec.priority)
        .role_arn(&spec.role_arn)
        .send()
        .await
        .map_err(|e| {
            let detail = describe_sdk_error(&e);
            let next = if detail.contains("AccessDenied") {
                format!(
                    ". Next: allow s3:CreateJob and iam:PassRole on {} for the identity creating the job",
                    spec.role_arn
                )
            } else {
                ". Next: check the role with `s3ferry batch --check ...` and the manifest location".to_string()
            };
            BatchError::Aws(format!(
                "CreateJob in account {} (manifest s3://{}/{}) failed: {detail}{next}",
                spec.account_id, spec.manifest.bucket, spec.manifest.key
            ))
        })?;
    out.job_id().map(str::to_string).ok_or_else(|| BatchError::Aws("CreateJob answered without a JobId".into()))
}

/// DescribeJob, as plain data.
pub async fn describe(
    control: &aws_sdk_s3control::Client,
    account: &str,
    job_id: &str,
) -> Result<JobStatus, BatchError> {
    let out = control.describe_job().account_id(account).job_id(job_id).send().await.map_err(|e| {
        BatchError::Aws(format!(
            "DescribeJob {job_id} in account {account} failed: {}. Next: check the job id and that these credentials are in the account that created the job (s3:DescribeJob)",
            describe_sdk_error(&e)
        ))
    })?;
    let job = out.job().ok_or_else(|| BatchError::Aws(format!("DescribeJob {job_id} returned no job")))?;
    let progress = job.progress_summary();
    let report = job.report().filter(|r| r.enabled()).and_then(|r| {
        let bucket = r.bucket()?.rsplit(":::").next()?.to_string();
        Some(ReportTarget { bucket, prefix: r.prefix().unwrap_or_default().to_string() })
    });
    Ok(JobStatus {
        job_id: job.job_id().unwrap_or(job_id).to_string(),
        status: job.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
        description: job.description().unwrap_or_default().to_string(),
        total: progress.and_then(|p| p.total_number_of_tasks()).unwrap_or(0),
        succeeded: progress.and_then(|p| p.number_of_tasks_succeeded()).unwrap_or(0),
        failed: progress.and_then(|p| p.number_of_tasks_failed()).unwrap_or(0),
        created: job.creation_time().map(|t| t.secs()),
        terminated: job.termination_date().map(|t| t.secs()),
        elapsed_reported: progress.and_then(|p| p.timers()).and_then(|t| t.elapsed_time_in_active_seconds()),
        failure_reasons: job
            .failure_reasons()
            .iter()
            .map(|f| format!("{}: {}", f.failure_code().unwrap_or("Failure"), f.failure_reason().unwrap_or_default()))
            .collect(),
        report,
        role_arn: job.role_arn().unwrap_or_default().to_string(),
    })
}

/// The failed tasks of a finished job's completion report, for the per-file error table. At
/// most `limit`; the report's own files keep the rest.
pub async fn report_failures(
    s3: &aws_sdk_s3::Client,
    status: &JobStatus,
    limit: usize,
) -> Result<Vec<Failure>, BatchError> {
    let Some(report) = &status.report else {
        return Err(BatchError::Refused(format!("job {} has no completion report", status.job_id)));
    };
    let key = report.manifest_key(&status.job_id);
    let read = |bucket: String, key: String| async move {
        let out = s3.get_object().bucket(&bucket).key(&key).send().await.map_err(|e| {
            BatchError::Aws(format!(
                "reading the completion report s3://{bucket}/{key} failed: {}. Next: allow s3:GetObject there for these credentials (the report appears once the job has finished)",
                describe_sdk_error(&e)
            ))
        })?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| BatchError::Aws(format!("reading s3://{bucket}/{key}: {e}")))?
            .into_bytes();
        Ok::<String, BatchError>(String::from_utf8_lossy(&bytes).into_owned())
    };
    let files = parse_report_manifest(&read(report.bucket.clone(), key.clone()).await?)
        .map_err(|e| BatchError::Aws(format!("s3://{}/{key}: {e}", report.bucket)))?;
    let mut failures = Vec::new();
    for f in files.iter().filter(|f| f.task_execution_status.eq_ignore_ascii_case("failed")) {
        let text = read(f.bucket.clone(), f.key.clone()).await?;
        let rows = parse_report(&text).map_err(|e| BatchError::Aws(format!("s3://{}/{}: {e}", f.bucket, f.key)))?;
        failures.extend(rows.iter().filter(|r| r.failed()).map(|r| r.failure()));
        if failures.len() >= limit {
            failures.truncate(limit);
            break;
        }
    }
    Ok(failures)
}

/// The include globs that select exactly `keys` (keys relative to an empty source prefix).
pub fn exact_globs(keys: &[LocalObject]) -> Vec<String> {
    keys.iter()
        .map(|o| {
            let mut g = String::with_capacity(o.key.len() + 4);
            for c in o.key.chars() {
                if matches!(c, '\\' | '*' | '?' | '[' | ']') {
                    g.push('\\');
                }
                g.push(c);
            }
            g
        })
        .collect()
}

/// What the console asks of the batch engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchRequest {
    /// Plan the manifest (locally) and run the job-role checks; nothing is written to a bucket.
    Plan,
    /// The operator confirmed: upload the manifest, create the job, then watch it.
    Submit(Box<ManifestPlan>),
    /// Describe a job once (and read its report if it finished with failures).
    Refresh(String),
}

/// What the batch engine reports to the console.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchEvent {
    Planned { plan: Box<ManifestPlan>, checks: Box<crate::core::preflight::checks::Report> },
    Created { job_id: String, local: usize },
    Status(Box<JobStatus>),
    Failures(Vec<Failure>),
    Error(String),
}

/// How often a watched job is described.
pub const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(15);
/// Most failed tasks loaded into the console's table.
pub const CONSOLE_FAILURES: usize = 1_000;

impl BatchTarget {
    /// The `[batch]` section as a target; None when the config has none.
    pub fn from_config(config: &Config) -> Option<BatchTarget> {
        let b = config.batch.as_ref()?;
        let prefix = b.prefix.clone().unwrap_or_else(|| DEFAULT_PREFIX.to_string());
        let prefix = match prefix.trim_start_matches('/') {
            "" => String::new(),
            p if p.ends_with('/') => p.to_string(),
            p => format!("{p}/"),
        };
        Some(BatchTarget {
            manifest_bucket: b.manifest_bucket.clone(),
            prefix,
            report_bucket: b.report_bucket.clone(),
            role_arn: b.job_role_arn.clone(),
            priority: b.priority.unwrap_or(crate::core::batch::DEFAULT_PRIORITY),
            confirmation_required: false,
            control_endpoint: std::env::var("S3FERRY_CONTROL_ENDPOINT").ok().filter(|u| !u.is_empty()),
        })
    }
}

/// Serves one console request, sending what happens as [`BatchEvent`]s. A submitted job is
/// watched until it ends (or the console goes away).
pub async fn serve(config: Config, request: BatchRequest, events: mpsc::UnboundedSender<BatchEvent>) {
    let send = |e: BatchEvent| events.send(e).is_ok();
    let Some(target) = BatchTarget::from_config(&config) else {
        send(BatchEvent::Error(
            "no [batch] section in the config: set manifest_bucket and job_role_arn (see assets/s3ferry.example.toml)"
                .into(),
        ));
        return;
    };
    let result = match request {
        BatchRequest::Plan => {
            let checks =
                evidence::preflight(&config, &target, &crate::engine::evidence::SuppliedPolicies::default()).await;
            let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
            let path = config.state_dir().join("batch").join(format!("manifest-{stamp}.csv"));
            plan(&config, config.transfer.mode, &config.transfer, &path)
                .await
                .map(|plan| send(BatchEvent::Planned { plan: Box::new(plan), checks: Box::new(checks) }))
        }
        BatchRequest::Submit(plan) => match operator(&config).await {
            Ok(session) => match submit(&config, &target, &plan, &session).await {
                Ok(s) => {
                    if send(BatchEvent::Created { job_id: s.job_id.clone(), local: plan.local.len() }) {
                        watch(&session, &target, &s.job_id, &events).await;
                    }
                    Ok(true)
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        },
        BatchRequest::Refresh(job_id) => match operator(&config).await {
            Ok(session) => once(&session, &target, &job_id, &events).await.map(|_| true),
            Err(e) => Err(e),
        },
    };
    if let Err(e) = result {
        send(BatchEvent::Error(e.to_string()));
    }
}

async fn watch(session: &Session, target: &BatchTarget, job_id: &str, events: &mpsc::UnboundedSender<BatchEvent>) {
    loop {
        match once(session, target, job_id, events).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                if events.send(BatchEvent::Error(e.to_string())).is_err() {
                    return;
                }
            }
        }
        if events.is_closed() {
            return;
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// Describes the job; when it has ended with failures, loads them. Ok(true) once it has ended.
async fn once(
    session: &Session,
    target: &BatchTarget,
    job_id: &str,
    events: &mpsc::UnboundedSender<BatchEvent>,
) -> Result<bool, BatchError> {
    let control = control_client(session, target.control_endpoint.as_deref());
    let status = describe(&control, &session.info.identity.account, job_id).await?;
    let done = status.is_terminal();
    let failed = status.failed > 0;
    let _ = events.send(BatchEvent::Status(Box::new(status.clone())));
    if done && failed {
        let failures = report_failures(&session.s3, &status, CONSOLE_FAILURES).await?;
        let _ = events.send(BatchEvent::Failures(failures));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::plan::{Filter, FilterRule};

    #[test]
    fn exact_globs_select_exactly_the_large_objects() {
        let large = [
            LocalObject { key: "big[1]*?.bin".into(), size: 6 << 30 },
            LocalObject { key: "a\\b.iso".into(), size: 7 << 30 },
        ];
        let filter = Filter::new(&FilterRule::lists(&exact_globs(&large), &[])).unwrap();
        assert!(filter.matches("big[1]*?.bin") && filter.matches("a\\b.iso"));
        for other in ["big1x.bin", "big[1]xy.bin", "big[1]*?.bin.part", "ab.iso", "x/big[1]*?.bin"] {
            assert!(!filter.matches(other), "{other}");
        }
    }
}
