//! One preflight run: connect both sides, gather evidence, run the checks. Shared by
//! `s3ferry preflight` and the console's Preflight screen.

use std::time::SystemTime;

use crate::config::Config;
use crate::core::preflight::checks::{self, Area, Report, Status};
use crate::core::preflight::evidence::RunShape;
use crate::engine::dest_write::DestWrite;
use crate::engine::evidence::{SuppliedPolicies, gather_all};
use crate::engine::probe;
use crate::engine::session::Session;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub supplied: SuppliedPolicies,
    /// Multipart copies are planned: the destination key must also allow kms:Decrypt.
    pub multipart: bool,
    /// Run the live probes (they write, then clean up).
    pub probe: bool,
}

/// Connects, gathers evidence and runs the checks. Connection failures become check results.
pub async fn run(config: &Config, options: &Options) -> Report {
    // The destination's own credentials, else its audit credentials: never the source identity,
    // which cannot read another account's policies.
    let reader_access = match config.destination_writer() {
        Some(w) => Some((w, "destination credentials")),
        None => config.destination.audit.as_ref().map(|_| config.destination_browser()),
    };
    let source_fut = Session::connect(&config.source.access, "source credentials", Some(&config.source.bucket));
    let reader_fut = async {
        match &reader_access {
            Some((access, via)) => Some(Session::connect(access, via, Some(&config.destination.bucket)).await),
            None => None,
        }
    };
    let (source, reader) = tokio::join!(source_fut, reader_fut);
    let mut reader_error = None;
    let reader = match reader {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            reader_error = Some(e.to_string());
            None
        }
        None => None,
    };
    let run = RunShape { copies_tags: true, multipart_planned: options.multipart, acl: None, estimated_secs: None };
    let source_session = source.as_ref().ok();
    let source = source.as_ref().map_err(|e| e.to_string());
    let evidence = gather_all(config, source, reader.as_ref(), &options.supplied, run).await;
    let mut report = checks::run(&evidence, SystemTime::now());
    if options.probe {
        let probes = match source_session {
            Some(s) => {
                let headers = DestWrite {
                    kms_key_arn: config.destination.kms_key_arn.clone(),
                    expected_owner: evidence.destination.account.clone(),
                    acl: evidence.run.acl.as_deref().map(aws_sdk_s3::types::ObjectCannedAcl::from),
                };
                probe::run(config, s, &headers).await
            }
            None => vec![checks::check(
                "probe.put",
                Area::Probes,
                Status::Unknown,
                "no probes: the transfer principal did not resolve",
            )],
        };
        report = report.with_probes(probes);
    }
    if let Some(e) = reader_error {
        for c in report.checks.iter_mut().filter(|c| c.side == Area::Destination && c.status == Status::Unknown) {
            c.detail.push(format!("the destination credentials failed: {e}"));
        }
    }
    report
}
