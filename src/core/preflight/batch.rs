//! Preflight checks for an S3 Batch Operations job role, judged by the same policy engine and
//! reported in the same explain-and-fix shape as the transfer checks (side `"batch"`).
//!
//! The job role is the principal of every copy: S3 Batch assumes it (trust policy, principal
//! `batchoperations.s3.amazonaws.com`), reads the manifest with it, reads the source and writes
//! the destination with it, uses both keys with it and writes the completion report with it.
//! Each check evaluates the role's identity policies (and boundary) together with the resource
//! policy of what it touches; a resource policy that could not be read is replaced by a stand-in
//! that allows, and the check says the other side is unverified.

use serde::Serialize;

use crate::core::batch::SERVICE_PRINCIPAL;
use crate::core::policy::{
    Context, Decision, LabelledPolicy, PolicyKind, Principal, Request, evaluate, evaluate_trust,
};
use crate::core::preflight::checks::{
    Area, Check, FixOut, Problem, Report, Status, Verdict, WriteContext, check, judge, labelled, stand_in,
};
use crate::core::preflight::evidence::{Fetched, KeyEvidence, NamedPolicy};

/// The batch check ids, in display order.
pub const BATCH_CHECK_IDS: [&str; 6] =
    ["batch.trust", "batch.manifest", "batch.report", "batch.source", "batch.destination", "batch.keys"];

const SIDE: Area = Area::Batch;

/// The job role as IAM describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRoleEvidence {
    pub name: String,
    pub trust: NamedPolicy,
    pub identity_policies: Fetched<Vec<NamedPolicy>>,
    pub boundary: Option<Fetched<NamedPolicy>>,
}

/// A bucket the job touches: where, whose, and its policy as far as it could be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchBucket {
    pub bucket: String,
    /// Objects the job touches are under this prefix.
    pub prefix: String,
    pub account: Option<String>,
    pub policy: Fetched<NamedPolicy>,
}

/// Everything the batch checks judge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchEvidence {
    pub role_arn: String,
    /// The account that creates and runs the job.
    pub job_account: String,
    pub region: String,
    pub role: Fetched<JobRoleEvidence>,
    pub manifest: BatchBucket,
    pub report: BatchBucket,
    pub source: BatchBucket,
    pub destination: BatchBucket,
    /// The source objects' key, when they use SSE-KMS.
    pub source_key: Option<Fetched<KeyEvidence>>,
    pub destination_key_arn: Option<String>,
    pub destination_key_policy: Option<Fetched<NamedPolicy>>,
    /// The canned ACL the job sends (`bucket-owner-full-control`), if any.
    pub acl: Option<String>,
}

/// Runs the six batch checks.
pub fn run(ev: &BatchEvidence) -> Vec<Check> {
    let role = Role::new(ev);
    vec![
        trust(ev),
        access(
            &role,
            "batch.manifest",
            &ev.manifest,
            &["s3:GetObject"],
            &format!("the job role reading the manifest under s3://{}/{}", ev.manifest.bucket, ev.manifest.prefix),
        ),
        access(
            &role,
            "batch.report",
            &ev.report,
            &["s3:PutObject"],
            &format!("the job role writing the completion report to s3://{}/{}", ev.report.bucket, ev.report.prefix),
        ),
        access(
            &role,
            "batch.source",
            &ev.source,
            &["s3:GetObject", "s3:GetObjectTagging"],
            &format!("the job role reading s3://{}/{}", ev.source.bucket, ev.source.prefix),
        ),
        access(
            &role,
            "batch.destination",
            &ev.destination,
            &destination_actions(ev),
            &format!("the job role writing s3://{}/{}", ev.destination.bucket, ev.destination.prefix),
        ),
        keys(ev, &role),
    ]
}

/// A report of the batch checks alone (for `s3ferry batch --preflight` and the console).
pub fn report(ev: &BatchEvidence) -> Report {
    let checks = run(ev);
    let verdict = if checks.iter().any(|c| c.status == Status::Fail) {
        Verdict::Blocked
    } else if checks.iter().any(|c| c.status == Status::Unknown) {
        Verdict::Unknown
    } else {
        Verdict::Ready
    };
    Report { verdict, principal: ev.role_arn.clone(), checks, probes: Vec::new() }
}

fn destination_actions(ev: &BatchEvidence) -> Vec<&'static str> {
    let mut a = vec!["s3:PutObject", "s3:PutObjectTagging"];
    if ev.acl.is_some() {
        a.push("s3:PutObjectAcl");
    }
    a
}

/// The job role as a principal, with its parsed policies (or why they cannot be judged).
struct Role {
    principal: Option<Principal>,
    account: String,
    policies: Result<Vec<LabelledPolicy>, Check>,
    key_arn: Option<String>,
    acl: Option<String>,
    dst_bucket: String,
}

impl Role {
    fn new(ev: &BatchEvidence) -> Role {
        let account = ev.role_arn.split(':').nth(4).unwrap_or_default().to_string();
        let principal = Principal::from_arn(&ev.role_arn).ok();
        let unknown = |why: String| {
            check("batch.role", SIDE, Status::Unknown, "the job role's policies could not be judged").with_detail([why])
        };
        let policies = match &ev.role {
            Fetched::Got(r) => {
                let mut out = Vec::new();
                let mut err = None;
                match &r.identity_policies {
                    Fetched::Got(docs) => {
                        for d in docs {
                            match labelled(d, PolicyKind::Identity, &account) {
                                Ok(l) => out.push(l),
                                Err(e) => err = Some(e.to_string()),
                            }
                        }
                    }
                    Fetched::Absent => {}
                    Fetched::Unreadable(why) => err = Some(format!("the job role's policies: {why}")),
                }
                match &r.boundary {
                    Some(Fetched::Got(d)) => match labelled(d, PolicyKind::Boundary, &account) {
                        Ok(l) => out.push(l),
                        Err(e) => err = Some(e.to_string()),
                    },
                    Some(Fetched::Unreadable(why)) => err = Some(format!("the permissions boundary: {why}")),
                    _ => {}
                }
                match err {
                    Some(e) => Err(unknown(e)),
                    None => Ok(out),
                }
            }
            Fetched::Absent => {
                Err(check("batch.role", SIDE, Status::Fail, format!("the job role {} does not exist", ev.role_arn))
                    .with_detail([
                        "create it in the account that runs the job (see batch.trust for its trust policy)".to_string()
                    ]))
            }
            Fetched::Unreadable(why) => Err(unknown(why.clone())),
        };
        Role {
            principal,
            account,
            policies,
            key_arn: ev.destination_key_arn.clone(),
            acl: ev.acl.clone(),
            dst_bucket: ev.destination.bucket.clone(),
        }
    }

    /// A failure or unknown of the role itself, re-labelled for the check at hand.
    fn guard(&self, id: &'static str) -> Option<Check> {
        if self.principal.is_none() {
            return Some(check(
                id,
                SIDE,
                Status::Fail,
                "the job role is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
            ));
        }
        self.policies.as_ref().err().map(|c| {
            let mut c = c.clone();
            c.id = id;
            c
        })
    }

    fn requests(&self, actions: &[&str], resource: &str, account: &str, kms_region: Option<&str>) -> Vec<Request> {
        let Some(principal) = &self.principal else { return Vec::new() };
        let writes =
            WriteContext { dst_bucket: &self.dst_bucket, key_arn: self.key_arn.as_deref(), acl: self.acl.as_deref() };
        actions.iter().map(|action| writes.request(principal, action, resource, account, kms_region)).collect()
    }
}

fn trust(ev: &BatchEvidence) -> Check {
    let id = "batch.trust";
    let role_account = ev.role_arn.split(':').nth(4).unwrap_or_default();
    let r = match &ev.role {
        Fetched::Got(r) => r,
        Fetched::Absent => {
            return check(id, SIDE, Status::Fail, format!("the job role {} does not exist", ev.role_arn))
                .with_detail([format!(
                    "create it in account {} with the trust policy below, then attach the permissions the other batch checks name",
                    ev.job_account
                )])
                .with_fix(trust_fix(&ev.role_arn, &ev.job_account));
        }
        Fetched::Unreadable(why) => {
            return check(id, SIDE, Status::Unknown, format!("the trust policy of {} could not be read", ev.role_arn))
                .with_detail([why.clone()]);
        }
    };
    if !ev.job_account.is_empty() && role_account != ev.job_account {
        return check(
            id,
            SIDE,
            Status::Fail,
            format!("the job role is in account {role_account}, but the job runs in account {}", ev.job_account),
        )
        .with_detail([
            "CreateJob passes the role (iam:PassRole), and a role can only be passed within its own account"
                .to_string(),
            format!(
                "create the job role in account {}, or run s3ferry batch with credentials of account {role_account}",
                ev.job_account
            ),
        ]);
    }
    let policy = match labelled(&r.trust, PolicyKind::Trust, role_account) {
        Ok(p) => p,
        Err(e) => return e.check(id, SIDE, &format!("the trust policy of {}", ev.role_arn)),
    };
    // What S3 Batch presents when it assumes the role. UNVERIFIED: that it sets aws:SourceArn to
    // the job ARN (the confused-deputy keys); a condition on a specific job id cannot match a job
    // that does not exist yet, which is what this placeholder id models.
    let context = Context::new()
        .with("aws:SourceAccount", ev.job_account.clone())
        .with("aws:SourceArn", format!("arn:aws:s3:{}:{}:job/s3ferry-new-job", ev.region, ev.job_account));
    let e = evaluate_trust(&policy, SERVICE_PRINCIPAL, "sts:AssumeRole", &context);
    let mut detail = e.explanation.clone();
    detail.extend(e.missing_context.iter().map(|k| format!("context key {k} was not available")));
    match e.decision {
        Decision::Allow => {
            check(id, SIDE, Status::Pass, format!("{SERVICE_PRINCIPAL} may assume {}", ev.role_arn)).with_detail(detail)
        }
        Decision::Unknown => check(id, SIDE, Status::Unknown, "whether S3 Batch may assume the role cannot be decided")
            .with_detail(detail),
        Decision::ExplicitDeny => check(
            id,
            SIDE,
            Status::Fail,
            format!("the trust policy of {} explicitly denies {SERVICE_PRINCIPAL}", ev.role_arn),
        )
        .with_detail(detail)
        .with_detail(["remove or narrow the Deny statement named above".to_string()]),
        Decision::ImplicitDeny => check(
            id,
            SIDE,
            Status::Fail,
            format!("the trust policy of {} does not let {SERVICE_PRINCIPAL} assume it", ev.role_arn),
        )
        .with_detail(detail)
        .with_fix(trust_fix(&ev.role_arn, role_account)),
    }
}

/// The trust statement S3 Batch needs, scoped to the job account (confused-deputy protection).
fn trust_fix(role_arn: &str, account: &str) -> FixOut {
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "S3ferryBatchOperationsAssume",
            "Effect": "Allow",
            "Principal": {"Service": SERVICE_PRINCIPAL},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account}}
        }]
    }))
    .unwrap_or_default();
    let terraform = format!(
        "data \"aws_iam_policy_document\" \"s3ferry_trust_{account}\" {{\n  statement {{\n    sid     = \"S3ferryBatchOperationsAssume\"\n    effect  = \"Allow\"\n    actions = [\"sts:AssumeRole\"]\n\n    principals {{\n      type        = \"Service\"\n      identifiers = [\"{SERVICE_PRINCIPAL}\"]\n    }}\n\n    condition {{\n      test     = \"StringEquals\"\n      variable = \"aws:SourceAccount\"\n      values   = [\"{account}\"]\n    }}\n  }}\n}}\n"
    );
    FixOut {
        account: account.to_string(),
        policy: PolicyKind::Trust,
        target: format!("the trust policy (assume role policy) of {role_arn}"),
        json,
        terraform,
    }
}

/// One S3 access: the role's policies plus the bucket's policy (or a stand-in when unreadable).
fn access(role: &Role, id: &'static str, b: &BatchBucket, actions: &[&str], what: &str) -> Check {
    if let Some(c) = role.guard(id) {
        return c;
    }
    let mut policies = role.policies.clone().unwrap_or_default();
    let account = b.account.clone().unwrap_or_default();
    let same = account.is_empty() || account == role.account;
    let mut unverified = None;
    match &b.policy {
        Fetched::Got(d) => match labelled(d, PolicyKind::Bucket, &account) {
            Ok(p) => policies.push(p),
            Err(e) => return e.check(id, SIDE, &format!("the bucket policy of {}", b.bucket)),
        },
        Fetched::Absent => {}
        Fetched::Unreadable(why) => {
            unverified = Some(format!("the bucket policy of {} was not read ({why})", b.bucket));
            if !same {
                policies.push(stand_in(PolicyKind::Bucket, &role_arn(role), &account));
            }
        }
    }
    let resource = format!("arn:aws:s3:::{}/{}*", b.bucket, b.prefix);
    let evals = role.requests(actions, &resource, &account, None).iter().map(|r| evaluate(r, &policies)).collect();
    let mut c = judge(id, SIDE, what, evals);
    if let Some(why) = unverified
        && c.status == Status::Pass
    {
        // Same account: the identity policy suffices unless the bucket policy denies; across
        // accounts the bucket policy must also allow. Either way it is unverified.
        c.status = if same { Status::Warn } else { Status::Unknown };
        c.summary = format!("{what}: the role's side allows; the bucket's side is unverified");
        c.detail.insert(0, why);
    }
    c
}

fn role_arn(role: &Role) -> String {
    role.principal.as_ref().map(|p| p.arn.clone()).unwrap_or_default()
}

fn keys(ev: &BatchEvidence, role: &Role) -> Check {
    let id = "batch.keys";
    if let Some(c) = role.guard(id) {
        return c;
    }
    let identity = role.policies.clone().unwrap_or_default();
    let mut evals = Vec::new();
    let mut unknown = Vec::new();
    let mut used = Vec::new();
    match &ev.source_key {
        None => {}
        Some(Fetched::Got(k)) => {
            used.push(format!("decrypt with the source key {}", k.arn));
            match key_policy(&k.policy, &k.account) {
                Ok(p) => {
                    let mut policies = identity.clone();
                    policies.push(p);
                    evals.extend(
                        role.requests(&["kms:Decrypt"], &k.arn, &k.account, Some(&k.region))
                            .iter()
                            .map(|r| evaluate(r, &policies)),
                    );
                }
                Err(why) => unknown.push(format!("the key policy of {}: {why}", k.arn)),
            }
        }
        Some(Fetched::Absent) => {}
        Some(Fetched::Unreadable(why)) => unknown.push(format!("the source objects' key: {why}")),
    }
    if let Some(arn) = &ev.destination_key_arn {
        used.push(format!("encrypt with the destination key {arn}"));
        let account = arn.split(':').nth(4).unwrap_or_default();
        let region = arn.split(':').nth(3).unwrap_or_default();
        let fetched = ev.destination_key_policy.clone().unwrap_or(Fetched::Unreadable("not read".into()));
        match key_policy(&fetched, account) {
            Ok(p) => {
                let mut policies = identity.clone();
                policies.push(p);
                evals.extend(
                    role.requests(&["kms:GenerateDataKey", "kms:Encrypt"], arn, account, Some(region))
                        .iter()
                        .map(|r| evaluate(r, &policies)),
                );
            }
            Err(why) => unknown.push(format!("the key policy of {arn}: {why}")),
        }
    }
    if used.is_empty() && unknown.is_empty() {
        return check(id, SIDE, Status::Pass, "not needed: neither side uses a customer-managed KMS key");
    }
    let mut c = judge(id, SIDE, &format!("the job role may {}", used.join(" and ")), evals);
    if !unknown.is_empty() && c.status == Status::Pass {
        c.status = Status::Unknown;
        c.summary = format!("{}: not every key policy could be read", c.summary);
    }
    c.detail.extend(unknown);
    c
}

fn key_policy(policy: &Fetched<NamedPolicy>, account: &str) -> Result<LabelledPolicy, Problem> {
    match policy {
        Fetched::Got(d) => labelled(d, PolicyKind::Key, account),
        Fetched::Absent => Err(Problem::Unreadable("the key has no key policy".into())),
        Fetched::Unreadable(why) => Err(Problem::Unreadable(why.clone())),
    }
}

impl Check {
    fn with_fix(mut self, fix: FixOut) -> Check {
        self.fix = Some(fix.clone());
        self.fixes.push(fix);
        self
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
