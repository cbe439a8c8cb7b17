//! Gathers what the batch checks judge: the job role (iam:GetRole for its trust policy, its
//! inline and attached policies, its boundary) and the policies of the manifest and report
//! buckets; the source and destination come from the transfer preflight's own evidence.

use crate::config::Config;
use crate::core::preflight::batch::{self, BatchBucket, BatchEvidence, JobRoleEvidence};
use crate::core::preflight::checks::{Check, Report, Status, Verdict};
use crate::core::preflight::evidence::{Evidence, Fetched, NamedPolicy, Ownership, RunShape};
use crate::engine::batch::BatchTarget;
use crate::engine::errors::{describe_sdk_error, error_code};
use crate::engine::evidence::{SuppliedPolicies, gather_all, managed_policy, role_policies};
use crate::engine::session::Session;

/// Connects, gathers and runs the batch checks. A source identity that does not resolve makes
/// every check unknown, with the reason.
pub async fn preflight(config: &Config, target: &BatchTarget, supplied: &SuppliedPolicies) -> Report {
    let source = Session::connect(&config.source.access, "source credentials", Some(&config.source.bucket)).await;
    let reader_access = match config.destination_writer() {
        Some(w) => Some((w, "destination credentials")),
        None => config.destination.audit.as_ref().map(|_| config.destination_browser()),
    };
    let reader = match &reader_access {
        Some((access, via)) => Session::connect(access, via, Some(&config.destination.bucket)).await.ok(),
        None => None,
    };
    let session = match source {
        Ok(s) => s,
        Err(e) => {
            let checks = batch::BATCH_CHECK_IDS
                .iter()
                .map(|id| {
                    crate::core::preflight::checks::check(
                        id,
                        crate::core::preflight::checks::Area::Batch,
                        Status::Unknown,
                        "the source identity did not resolve",
                    )
                    .with_detail([e.to_string()])
                })
                .collect::<Vec<Check>>();
            return Report {
                verdict: Verdict::Unknown,
                principal: target.role_arn.clone(),
                checks,
                probes: Vec::new(),
            };
        }
    };
    let run = RunShape { copies_tags: true, multipart_planned: false, acl: None, estimated_secs: None };
    let base = gather_all(config, Ok(&session), reader.as_ref(), supplied, run).await;
    let ev = gather(&session, target, &base).await;
    batch::report(&ev)
}

/// The batch evidence, from the operator's session and the transfer preflight's evidence.
pub async fn gather(session: &Session, target: &BatchTarget, base: &Evidence) -> BatchEvidence {
    let account = session.info.identity.account.clone();
    let report = target.report();
    let (manifest_policy, report_policy) =
        tokio::join!(bucket_policy(session, &target.manifest_bucket), bucket_policy(session, &report.bucket));
    let bucket = |name: &str, prefix: &str, policy: (Option<String>, Fetched<NamedPolicy>)| BatchBucket {
        bucket: name.to_string(),
        prefix: prefix.to_string(),
        account: policy.0,
        policy: policy.1,
    };
    let dst_account = base
        .destination
        .account
        .clone()
        .or_else(|| base.destination_key_arn.as_deref().and_then(|k| k.split(':').nth(4)).map(str::to_string));
    BatchEvidence {
        role_arn: target.role_arn.clone(),
        job_account: account,
        region: session.info.region.clone(),
        role: role(session, &target.role_arn).await,
        manifest: bucket(&target.manifest_bucket, &target.prefix, manifest_policy),
        report: bucket(&report.bucket, &report.prefix, report_policy),
        source: BatchBucket {
            bucket: base.source.bucket.clone(),
            prefix: base.source.prefix.clone(),
            account: base.source.account.clone(),
            policy: base.source.policy.clone(),
        },
        destination: BatchBucket {
            bucket: base.destination.bucket.clone(),
            prefix: base.destination.prefix.clone(),
            account: dst_account,
            policy: base.destination.policy.clone(),
        },
        source_key: base.source_key.clone(),
        destination_key_arn: base.destination_key_arn.clone(),
        destination_key_policy: base.destination_key_policy.clone(),
        acl: match base.destination.ownership {
            Fetched::Got(Ownership::BucketOwnerPreferred | Ownership::ObjectWriter) | Fetched::Absent => {
                Some("bucket-owner-full-control".to_string())
            }
            _ => None,
        },
    }
}

/// The job role: trust policy, identity policies, boundary. NoSuchEntity means it does not exist.
async fn role(session: &Session, role_arn: &str) -> Fetched<JobRoleEvidence> {
    let Some(name) = role_arn.rsplit('/').next().filter(|n| !n.is_empty() && role_arn.contains(":role/")) else {
        return Fetched::Unreadable(format!("{role_arn} is not a role ARN"));
    };
    let iam = aws_sdk_iam::Client::new(&session.sdk);
    let out = match iam.get_role().role_name(name).send().await {
        Ok(out) => out,
        Err(e) if error_code(&e).as_deref() == Some("NoSuchEntity") => return Fetched::Absent,
        Err(e) => {
            return Fetched::Unreadable(format!(
                "iam:GetRole on {name} as {} failed ({}): grant that identity iam:GetRole, iam:List*RolePolicies and iam:Get*Policy* on the job role, or review it by hand",
                session.info.identity.arn,
                describe_sdk_error(&e)
            ));
        }
    };
    let Some(role) = out.role else { return Fetched::Unreadable(format!("iam:GetRole on {name} returned no role")) };
    let trust = NamedPolicy {
        name: format!("trust policy of {}", role.arn),
        text: role.assume_role_policy_document.clone().unwrap_or_default(),
    };
    let boundary = match role.permissions_boundary.as_ref().and_then(|b| b.permissions_boundary_arn.clone()) {
        Some(arn) => Some(managed_policy(&iam, &arn).await),
        None => None,
    };
    Fetched::Got(JobRoleEvidence {
        name: name.to_string(),
        trust,
        identity_policies: role_policies(&iam, name).await,
        boundary,
    })
}

/// (the bucket's account when it is the caller's, its policy). GetBucketPolicy answers only the
/// owner's account; a 405 means another account owns the bucket.
async fn bucket_policy(session: &Session, bucket: &str) -> (Option<String>, Fetched<NamedPolicy>) {
    let account = session.info.identity.account.clone();
    match session.s3.get_bucket_policy().bucket(bucket).expected_bucket_owner(&account).send().await {
        Ok(out) => (
            Some(account),
            match out.policy {
                Some(text) => Fetched::Got(NamedPolicy { name: format!("bucket policy of {bucket}"), text }),
                None => Fetched::Absent,
            },
        ),
        Err(e) => match error_code(&e).as_deref() {
            Some("NoSuchBucketPolicy") => (Some(account), Fetched::Absent),
            Some("NoSuchBucket") => (None, Fetched::Unreadable(format!("bucket {bucket} does not exist"))),
            _ => (
                None,
                Fetched::Unreadable(format!(
                    "GetBucketPolicy on {bucket} as {}: {} (a bucket in another account: pass its policy or check by hand)",
                    session.info.identity.arn,
                    describe_sdk_error(&e)
                )),
            ),
        },
    }
}
