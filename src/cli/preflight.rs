//! `s3ferry preflight`: will this run work? Every check on both sides, each failure explained,
//! with the statement that fixes it.

use std::io::Write;
use std::path::PathBuf;

use crate::cli::exit::Exit;
use crate::config::Config;
use crate::core::preflight::checks::{Area, Check, Report, Status, Verdict};
use crate::engine::evidence::SuppliedPolicies;
use crate::engine::preflight::{Options, run};

impl PreflightArgs {
    fn options(&self) -> Options {
        Options {
            supplied: SuppliedPolicies {
                destination_bucket: self.dst_bucket_policy.clone(),
                destination_key: self.dst_key_policy.clone(),
            },
            multipart: self.multipart,
            probe: self.probe,
        }
    }
}

/// The policy files given on the command line must read and parse before anything runs: a
/// broken file is the operator's to fix (exit 2 naming it), not the bucket's fault.
/// A policy file given on the command line that cannot be used (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SuppliedError {
    #[error("{flag} {path}: cannot read it: {error}")]
    Read { flag: &'static str, path: String, error: std::io::Error },
    #[error("{flag} {path}: not a valid policy: {error}")]
    Invalid { flag: &'static str, path: String, error: crate::core::policy::PolicyError },
}

pub fn check_supplied(args: &PreflightArgs) -> Result<(), SuppliedError> {
    use crate::core::policy::{PolicyKind, parse_policy};
    let files = [
        ("--dst-bucket-policy", &args.dst_bucket_policy, PolicyKind::Bucket),
        ("--dst-key-policy", &args.dst_key_policy, PolicyKind::Key),
    ];
    for (flag, path, kind) in files {
        let Some(path) = path else { continue };
        let shown = path.display().to_string();
        let text = crate::config::read_text(path, crate::config::MAX_DOCUMENT_BYTES)
            .map_err(|error| SuppliedError::Read { flag, path: shown.clone(), error })?;
        parse_policy(&text, kind).map_err(|error| SuppliedError::Invalid { flag, path: shown, error })?;
    }
    Ok(())
}

/// Runs the preflight for the command line.
pub async fn report(config: &Config, args: &PreflightArgs) -> Report {
    run(config, &args.options()).await
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct PreflightArgs {
    /// {"verdict","principal","checks":[{"id","side","status","summary","detail","fix"}]}
    #[arg(long)]
    pub json: bool,
    /// The destination bucket policy as a JSON file, when no destination credentials can read it.
    #[arg(long, value_name = "FILE")]
    pub dst_bucket_policy: Option<PathBuf>,
    /// The destination key policy as a JSON file, when no destination credentials can read it.
    #[arg(long, value_name = "FILE")]
    pub dst_key_policy: Option<PathBuf>,
    /// Check kms:Decrypt on the destination key too (needed when objects are copied in parts).
    #[arg(long)]
    pub multipart: bool,
    /// Also run live probes. They WRITE to the destination under <prefix>.s3ferry-probe/: a
    /// zero-byte object, a multipart upload (aborted) and one small copied object, each removed.
    #[arg(long)]
    pub probe: bool,
}

pub fn exit_code(report: &Report) -> Exit {
    match report.verdict {
        Verdict::Ready => Exit::Success,
        Verdict::Blocked => Exit::Failed,
        Verdict::Unknown => Exit::Unknown,
    }
}

pub fn write(report: &Report, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    if json {
        return writeln!(out, "{}", serde_json::to_string_pretty(report).unwrap_or_default());
    }
    writeln!(
        out,
        "Preflight as {}",
        if report.principal.is_empty() { "(unresolved principal)" } else { &report.principal }
    )?;
    for area in Area::ALL {
        if !report.checks.iter().any(|c| c.side == area) {
            continue;
        }
        writeln!(out, "\n{}", area.heading())?;
        for c in report.checks.iter().filter(|c| c.side == area) {
            write_check(c, out)?;
        }
    }
    if !report.probes.is_empty() {
        writeln!(out, "\nLive probes")?;
        for c in &report.probes {
            write_check(c, out)?;
            if c.status == Status::Pass {
                for d in &c.detail {
                    writeln!(out, "        {d}")?;
                }
            }
        }
    }
    let count = |s: Status| report.checks.iter().filter(|c| c.status == s).count();
    let verdict = match report.verdict {
        Verdict::Ready => "READY",
        Verdict::Blocked => "BLOCKED",
        Verdict::Unknown => "UNKNOWN",
    };
    writeln!(
        out,
        "\nVerdict: {verdict} ({} pass, {} fail, {} warn, {} unknown)",
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Warn),
        count(Status::Unknown)
    )
}

fn write_check(c: &Check, out: &mut impl Write) -> std::io::Result<()> {
    let mark = match c.status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Warn => "WARN",
        Status::Unknown => "  ? ",
    };
    writeln!(out, "  {mark}  {:<26} {}", c.id, c.summary)?;
    if c.status == Status::Pass {
        return Ok(());
    }
    for d in &c.detail {
        writeln!(out, "        {d}")?;
    }
    if let Some(fix) = &c.fix {
        writeln!(out, "        Fix: in account {}, add to {}:", fix.account, fix.target)?;
        for line in fix.json.lines() {
            writeln!(out, "          {line}")?;
        }
        writeln!(out, "        Terraform:")?;
        for line in fix.terraform.lines() {
            writeln!(out, "          {line}")?;
        }
    }
    Ok(())
}
