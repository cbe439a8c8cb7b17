//! `s3ferry batch`: hand a large migration to S3 Batch Operations. s3ferry plans (sync diffing,
//! include/exclude), checks the job role, writes and uploads the CSV manifest and creates an
//! S3PutObjectCopy job; objects over 5 GiB are copied from this host. `s3ferry batch status`
//! watches the job and reads its completion report.

use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cli::copy::{CopyArgs, ProgressFormat};
use crate::cli::exit::Exit;
use crate::config::Config;
use crate::core::batch::{DEFAULT_PRIORITY, JobStatus, format_secs};
use crate::core::preflight::checks::{Report, Verdict};
use crate::core::progress::{Failure, Mode};
use crate::core::units::format_size;
use crate::engine::batch::{
    self, BatchError, BatchTarget, DEFAULT_PREFIX, ManifestPlan, Submitted, control_client, describe, exact_globs,
    report_failures,
};
use crate::engine::evidence::SuppliedPolicies;

pub const EXIT_HELP: &str = "Exit codes: 0 = the job was created (and any object over 5 GiB copied), the manifest \
was written (--manifest-out) or the role is ready (--check); 1 = a check blocks, AWS refused, or a local copy failed; \
2 = usage or configuration error; 3 = --check could not decide. `batch status`: 0 = the job is running or complete \
without failed tasks, 1 = it failed, was cancelled or has failed tasks.";

#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BatchArgs {
    #[command(subcommand)]
    pub command: Option<BatchCommand>,
    #[command(flatten)]
    pub create: CreateArgs,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum BatchCommand {
    /// Show a job's status (DescribeJob) and, once it has finished, the failed tasks of its
    /// completion report.
    Status(StatusArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct CreateArgs {
    /// Bucket for the manifest (in the account that runs the job, which is the source identity's).
    /// Default: batch.manifest_bucket.
    #[arg(long, value_name = "BUCKET")]
    pub manifest_bucket: Option<String>,
    /// Bucket for the completion report of failed tasks (default: batch.report_bucket, else the
    /// manifest bucket).
    #[arg(long, value_name = "BUCKET")]
    pub report_bucket: Option<String>,
    /// The role S3 Batch Operations assumes to copy (trust: batchoperations.s3.amazonaws.com).
    /// Default: batch.job_role_arn.
    #[arg(long, value_name = "ARN")]
    pub job_role: Option<String>,
    /// Key prefix for manifests (`PREFIX<run>/manifest.csv`) and reports (`PREFIXreports/`).
    /// Default: batch.prefix, else s3ferry-batch/.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Job priority, 0 or more (higher runs first). Default: batch.priority, else 10.
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
    pub priority: Option<i32>,
    /// Write the manifest to FILE and stop: nothing is uploaded, no job is created, nothing copied.
    #[arg(long, value_name = "FILE")]
    pub manifest_out: Option<PathBuf>,
    /// Only run the job-role checks (batch.*) and print them, like `s3ferry preflight`.
    #[arg(long, conflicts_with = "manifest_out")]
    pub check: bool,
    /// Create the job even when a job-role check fails.
    #[arg(long)]
    pub force: bool,
    /// Create the job suspended: it starts only once confirmed in the S3 console.
    #[arg(long)]
    pub require_confirmation: bool,
    /// Plan like `cp` (everything in scope) or `sync` (new and changed only). Default: transfer.mode.
    #[arg(long, value_parser = ["cp", "sync"])]
    pub mode: Option<String>,
    /// Only keys matching this glob; repeatable. Replaces the config's list.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out keys matching this glob; repeatable. Replaces the config's list.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Do not copy objects over 5 GiB from this host (they are listed; copy them later with cp).
    #[arg(long)]
    pub no_local: bool,
    /// The destination bucket policy as a JSON file, when no destination credentials can read it.
    #[arg(long, value_name = "FILE")]
    pub dst_bucket_policy: Option<PathBuf>,
    /// The destination key policy as a JSON file, when no destination credentials can read it.
    #[arg(long, value_name = "FILE")]
    pub dst_key_policy: Option<PathBuf>,
    /// JSON output: {"plan", "checks", "job"} (or the preflight report with --check).
    #[arg(long)]
    pub json: bool,
    /// Send S3 Control requests to exactly this URL (an emulator or a stub); default: AWS.
    #[arg(long, value_name = "URL", env = "S3FERRY_CONTROL_ENDPOINT")]
    pub control_endpoint_url: Option<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    pub job_id: String,
    /// {"job": {...}, "elapsed_secs", "failures": [{"key","code","message","attempts"}], "report_error"}
    #[arg(long)]
    pub json: bool,
    /// Most failed tasks to read from the completion report.
    #[arg(long, default_value_t = 1000)]
    pub failures: usize,
    /// Send S3 Control requests to exactly this URL (an emulator or a stub); default: AWS.
    #[arg(long, value_name = "URL", env = "S3FERRY_CONTROL_ENDPOINT")]
    pub control_endpoint_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchCliError {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error("{0}")]
    Usage(String),
    #[error("writing output failed: {0}")]
    Output(#[from] std::io::Error),
}

impl BatchCliError {
    pub fn is_usage(&self) -> bool {
        matches!(self, BatchCliError::Usage(_)) || matches!(self, BatchCliError::Batch(e) if e.is_usage())
    }
}

impl CreateArgs {
    /// The flags, else the config's `[batch]` section.
    pub fn target(&self, config: &Config) -> Result<BatchTarget, BatchCliError> {
        let section = config.batch.as_ref();
        let manifest_bucket =
            self.manifest_bucket.clone().or_else(|| section.map(|b| b.manifest_bucket.clone())).ok_or_else(|| {
                BatchCliError::Usage(
                    "no manifest bucket: pass --manifest-bucket BUCKET or set [batch] manifest_bucket".into(),
                )
            })?;
        let role_arn = self.job_role.clone().or_else(|| section.map(|b| b.job_role_arn.clone())).ok_or_else(|| {
            BatchCliError::Usage("no job role: pass --job-role ARN or set [batch] job_role_arn".into())
        })?;
        let report_bucket = self.report_bucket.clone().or_else(|| section.and_then(|b| b.report_bucket.clone()));
        let prefix = self
            .prefix
            .clone()
            .or_else(|| section.and_then(|b| b.prefix.clone()))
            .unwrap_or_else(|| DEFAULT_PREFIX.to_string());
        let priority = self.priority.or_else(|| section.and_then(|b| b.priority)).unwrap_or(DEFAULT_PRIORITY);
        crate::core::s3url::validate_bucket(&manifest_bucket)
            .map_err(|e| BatchCliError::Usage(format!("--manifest-bucket: {e}")))?;
        if let Some(r) = &report_bucket {
            crate::core::s3url::validate_bucket(r)
                .map_err(|e| BatchCliError::Usage(format!("--report-bucket: {e}")))?;
        }
        if crate::core::policy::Principal::from_arn(&role_arn).ok().and_then(|p| p.role_arn).is_none() {
            return Err(BatchCliError::Usage(format!(
                "--job-role {role_arn:?} is not a role ARN such as arn:aws:iam::111111111111:role/batch-copy"
            )));
        }
        let prefix = match prefix.trim_start_matches('/') {
            "" => String::new(),
            p if p.ends_with('/') => p.to_string(),
            p => format!("{p}/"),
        };
        Ok(BatchTarget {
            manifest_bucket,
            prefix,
            report_bucket,
            role_arn,
            priority,
            confirmation_required: self.require_confirmation,
            control_endpoint: self.control_endpoint_url.clone(),
        })
    }

    fn supplied(&self) -> SuppliedPolicies {
        SuppliedPolicies {
            destination_bucket: self.dst_bucket_policy.clone(),
            destination_key: self.dst_key_policy.clone(),
        }
    }

    /// The config with the flags applied, and the planning mode.
    fn settings(&self, config: &Config) -> (Config, Mode) {
        let mut config = config.clone();
        let mode = match self.mode.as_deref() {
            Some("sync") => Mode::Sync,
            Some(_) => Mode::Cp,
            None => config.transfer.mode,
        };
        if !self.include.is_empty() || !self.exclude.is_empty() {
            config.transfer.filters = crate::core::plan::FilterRule::lists(&self.include, &self.exclude);
        }
        config.transfer.mode = mode;
        (config, mode)
    }
}

/// Runs `s3ferry batch` (all but `status`). Returns the exit code.
pub async fn run(config: &Config, args: &CreateArgs, out: &mut impl Write) -> Result<Exit, BatchCliError> {
    let target = args.target(config)?;
    let (config, mode) = args.settings(config);

    if let Some(path) = &args.manifest_out {
        let plan = batch::plan(&config, mode, &config.transfer, path).await?;
        if args.json {
            writeln!(out, "{}", serde_json::json!({"plan": plan, "created": false}))?;
        } else {
            write_plan(&plan, out)?;
            writeln!(out, "manifest written to {}: nothing was uploaded and no job was created", path.display())?;
        }
        return Ok(Exit::Success);
    }

    let checks = batch::evidence::preflight(&config, &target, &args.supplied()).await;
    if args.check {
        crate::cli::preflight::write(&checks, args.json, out)?;
        return Ok(crate::cli::preflight::exit_code(&checks));
    }
    if checks.verdict == Verdict::Blocked && !args.force {
        if args.json {
            writeln!(out, "{}", serde_json::json!({"checks": checks, "created": false}))?;
        } else {
            crate::cli::preflight::write(&checks, false, out)?;
            writeln!(out, "no job created: fix the failing batch checks above (or pass --force to create it anyway)")?;
        }
        return Ok(Exit::Failed);
    }

    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let path = config.state_dir().join("batch").join(format!("manifest-{stamp}.csv"));
    let plan = batch::plan(&config, mode, &config.transfer, &path).await?;
    if !args.json {
        write_plan(&plan, out)?;
    }
    let session = batch::operator(&config).await?;
    let submitted = if plan.objects > 0 { Some(batch::submit(&config, &target, &plan, &session).await?) } else { None };
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"plan": plan, "checks": checks, "job": submitted, "created": submitted.is_some()})
        )?;
    } else {
        match &submitted {
            Some(s) => write_submitted(s, &checks, out)?,
            None => writeln!(out, "no job created: every object in scope is over 5 GiB or there is nothing to copy")?,
        }
    }
    out.flush()?;

    if plan.local.is_empty() || args.no_local {
        return Ok(Exit::Success);
    }
    // Objects over 5 GiB: s3ferry's own multipart copy, exactly these keys.
    let copy = CopyArgs {
        concurrency: None,
        max_concurrency: None,
        multipart_threshold: None,
        part_size: None,
        list_page_size: None,
        include: exact_globs(&plan.local),
        exclude: Vec::new(),
        filters: Vec::new(),
        json: false,
        verify: false,
        state_dir: None,
        dry_run: false,
        resume: false,
        fresh: false,
        progress: if args.json { ProgressFormat::Json } else { ProgressFormat::Text },
        // Part of the batch command's own output: never the console.
        headless: true,
        prices: None,
        rate: None,
        max_failures: None,
        require_ready: false,
    };
    if !args.json {
        writeln!(out, "copying {} object(s) over 5 GiB from this host (multipart)", plan.local.len())?;
    }
    let verdict = crate::cli::copy::run(&config, Mode::Cp, &copy, false, out)
        .await
        .map_err(|e| BatchCliError::Batch(BatchError::Aws(format!("copying the objects over 5 GiB: {e}"))))?;
    Ok(Exit::from_ok(verdict == crate::cli::copy::Verdict::Complete))
}

fn write_plan(plan: &ManifestPlan, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "manifest: {} objects ({}) for S3 Batch; {} over 5 GiB for this host",
        plan.objects,
        format_size(plan.bytes),
        plan.local.len()
    )?;
    for o in &plan.local {
        writeln!(out, "  local  {:>10}  {}", format_size(o.size), o.key)?;
    }
    if plan.unverified > 0 {
        writeln!(
            out,
            "  {} object(s) have the same size at the destination but no recorded identity: they are in the manifest (copied again)",
            plan.unverified
        )?;
    }
    if plan.deletions_not_done > 0 {
        writeln!(
            out,
            "  {} destination object(s) missing from the source are NOT deleted by the job: run `s3ferry sync --delete` afterwards",
            plan.deletions_not_done
        )?;
    }
    for w in &plan.warnings {
        writeln!(out, "  warning: {w}")?;
    }
    Ok(())
}

fn write_submitted(s: &Submitted, checks: &Report, out: &mut impl Write) -> std::io::Result<()> {
    let spec = &s.spec;
    writeln!(out, "created job {} in account {} (priority {})", s.job_id, spec.account_id, spec.priority)?;
    writeln!(out, "  manifest  s3://{}/{} (ETag {})", spec.manifest.bucket, spec.manifest.key, spec.manifest.etag)?;
    writeln!(
        out,
        "  copy to   s3://{}/{} with {}{}",
        spec.copy.target_bucket,
        spec.copy.target_key_prefix,
        spec.copy
            .kms_key_arn
            .as_deref()
            .map(|k| format!("SSE-KMS {k}"))
            .unwrap_or_else(|| "the bucket's default encryption".into()),
        spec.copy.canned_acl.as_deref().map(|a| format!(", ACL {a}")).unwrap_or_default()
    )?;
    writeln!(out, "  report    s3://{}/{} (failed tasks only)", spec.report.bucket, spec.report.prefix)?;
    if checks.verdict != Verdict::Ready {
        writeln!(out, "  note: the job-role checks were not all passing (run with --check to see them)")?;
    }
    if spec.confirmation_required {
        writeln!(out, "  the job waits for confirmation in the S3 console before it runs")?;
    }
    writeln!(out, "watch it: s3ferry batch status {} (or the console's batch screen)", s.job_id)
}

/// Runs `s3ferry batch status JOB_ID`. Returns the exit code.
pub async fn status(config: &Config, args: &StatusArgs, out: &mut impl Write) -> Result<Exit, BatchCliError> {
    let session = batch::operator(config).await?;
    let control = control_client(&session, args.control_endpoint_url.as_deref());
    let job = describe(&control, &session.info.identity.account, &args.job_id).await?;
    let (failures, report_error) = if job.is_terminal() && job.failed > 0 {
        match report_failures(&session.s3, &job, args.failures).await {
            Ok(f) => (f, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        }
    } else {
        (Vec::new(), None)
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default();
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "job": job,
                "elapsed_secs": job.elapsed_secs(now),
                "failures": failures,
                "report_error": report_error,
            })
        )?;
    } else {
        write_status(&job, &failures, report_error.as_deref(), now, out)?;
    }
    let bad = matches!(job.status.as_str(), "Failed" | "Cancelled") || job.failed > 0;
    Ok(Exit::from_ok(!bad))
}

fn write_status(
    job: &JobStatus,
    failures: &[Failure],
    report_error: Option<&str>,
    now: i64,
    out: &mut impl Write,
) -> std::io::Result<()> {
    writeln!(out, "job {}: {}", job.job_id, job.line(now))?;
    if !job.description.is_empty() {
        writeln!(out, "  {}", job.description)?;
    }
    for r in &job.failure_reasons {
        writeln!(out, "  job failure: {r}")?;
    }
    if let Some(e) = report_error {
        writeln!(out, "  the completion report could not be read: {e}")?;
    }
    for f in failures {
        writeln!(out, "  {} [{}]: {}", f.key, f.code, f.message)?;
    }
    if !job.is_terminal() {
        let elapsed = job.elapsed_secs(now).map(|s| format_secs(s.max(0) as u64)).unwrap_or_default();
        writeln!(
            out,
            "  still running{}: failed tasks are listed once it finishes",
            if elapsed.is_empty() { String::new() } else { format!(" after {elapsed}") }
        )?;
    }
    Ok(())
}
