//! The preflight checks: evidence in, one verdict per stable check id out.
//!
//! Each permission check judges one side alone: the policies of that side are evaluated together
//! with a stand-in "allow everything" document for the other side, so a failure names exactly
//! the account and policy that must change, and the fix the policy engine writes targets it.

use std::time::SystemTime;

use serde::Serialize;

use crate::core::policy::{
    Decision, Evaluation, Fix, LabelledPolicy, PolicyKind, Principal, Request, combined_fix, evaluate, parse_policy,
};
use crate::core::preflight::evidence::{Encryption, Evidence, Fetched, KeyEvidence, NamedPolicy, Ownership};
use crate::core::units::format_countdown;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    Warn,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ready,
    Blocked,
    Unknown,
}

/// The account-neutral fix shape of the JSON contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixOut {
    pub account: String,
    pub policy: PolicyKind,
    pub target: String,
    pub json: String,
    pub terraform: String,
}

impl From<&Fix> for FixOut {
    fn from(f: &Fix) -> Self {
        FixOut {
            account: f.account.clone(),
            policy: f.policy,
            target: f.target.clone(),
            json: f.json.clone(),
            terraform: f.terraform.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: &'static str,
    /// "source", "destination" or "credentials": which account's settings the check is about.
    pub side: &'static str,
    pub status: Status,
    pub summary: String,
    pub detail: Vec<String>,
    /// The first fix (the JSON contract's `fix`); `fixes` has every account's when both sides lack.
    pub fix: Option<FixOut>,
    pub fixes: Vec<FixOut>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub verdict: Verdict,
    pub principal: String,
    pub checks: Vec<Check>,
    /// Live probes, only when the operator asked for them (`--probe`); same shape as checks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<Check>,
}

impl Report {
    /// Adds probe results; a failed probe blocks, since it is what AWS actually answered.
    pub fn with_probes(mut self, probes: Vec<Check>) -> Report {
        if probes.iter().any(|p| p.status == Status::Fail) {
            self.verdict = Verdict::Blocked;
        }
        self.probes = probes;
        self
    }
}

/// The stable check ids, in display order.
pub const CHECK_IDS: [&str; 12] = [
    "source.role",
    "source.read",
    "source.key",
    "destination.bucket",
    "destination.encryption",
    "destination.bucket_policy",
    "destination.key_policy",
    "source.policy.write",
    "source.policy.key",
    "destination.ownership",
    "destination.public_access",
    "credentials.lifetime",
];

pub fn run(ev: &Evidence, now: SystemTime) -> Report {
    let ctx = Ctx::new(ev);
    let checks = vec![
        source_role(ev),
        source_read(&ctx),
        source_key(&ctx),
        destination_bucket(ev),
        destination_encryption(ev),
        destination_bucket_policy(&ctx),
        destination_key_policy(&ctx),
        source_policy_write(&ctx),
        source_policy_key(&ctx),
        destination_ownership(ev, &ctx),
        destination_public_access(ev),
        credentials_lifetime(ev, now),
    ];
    let verdict = if checks.iter().any(|c| c.status == Status::Fail) {
        Verdict::Blocked
    } else if checks.iter().any(|c| c.status == Status::Unknown) {
        Verdict::Unknown
    } else {
        Verdict::Ready
    };
    let principal = ev.principal.got().map(|p| p.arn.clone()).unwrap_or_default();
    Report { verdict, principal, checks, probes: Vec::new() }
}

pub fn check(id: &'static str, side: &'static str, status: Status, summary: impl Into<String>) -> Check {
    Check { id, side, status, summary: summary.into(), detail: Vec::new(), fix: None, fixes: Vec::new() }
}

impl Check {
    pub fn with_detail(mut self, detail: impl IntoIterator<Item = String>) -> Check {
        self.detail.extend(detail);
        self
    }
}

/// Why a policy cannot be used: it could not be read (the check is unknown), or it was read and
/// is not a valid document (the check fails: AWS would reject it too).
#[derive(Debug, Clone)]
pub(crate) enum Problem {
    Unreadable(String),
    Malformed(String),
}

impl Problem {
    pub(crate) fn check(&self, id: &'static str, side: &'static str, what: &str) -> Check {
        match self {
            Problem::Unreadable(why) => {
                check(id, side, Status::Unknown, format!("{what} could not be read")).with_detail([why.clone()])
            }
            Problem::Malformed(why) => check(id, side, Status::Fail, format!("{what} is not a valid policy"))
                .with_detail([why.clone(), "fix the document: AWS rejects or ignores invalid policies".to_string()]),
        }
    }
}

/// What the copier's writes carry, as the condition keys a bucket or key policy sees. One place,
/// so the preflight and the Batch job-role checks judge the same headers the copier sends.
pub(crate) struct WriteContext<'a> {
    pub dst_bucket: &'a str,
    pub key_arn: Option<&'a str>,
    pub acl: Option<&'a str>,
}

impl WriteContext<'_> {
    pub(crate) fn request(
        &self,
        principal: &Principal,
        action: &str,
        resource: &str,
        account: &str,
        kms_region: Option<&str>,
    ) -> Request {
        let mut r =
            Request::new(principal.clone(), action, resource, account).with_context("aws:SecureTransport", "true");
        // SSE and ACL headers go with writes into the destination bucket only (not, say, a
        // Batch completion report written elsewhere).
        let into_destination = resource.starts_with(&format!("arn:aws:s3:::{}/", self.dst_bucket));
        if into_destination && action.starts_with("s3:Put") {
            if let Some(key) = self.key_arn {
                r = r
                    .with_context("s3:x-amz-server-side-encryption", "aws:kms")
                    .with_context("s3:x-amz-server-side-encryption-aws-kms-key-id", key);
            }
            if let Some(acl) = self.acl {
                r = r.with_context("s3:x-amz-acl", acl);
            }
        }
        if let Some(region) = kms_region {
            r = r
                .with_context("kms:ViaService", format!("s3.{region}.amazonaws.com"))
                .with_context("kms:EncryptionContext:aws:s3:arn", format!("arn:aws:s3:::{}", self.dst_bucket));
        }
        r
    }
}

/// A key and its parsed key policy (or why the policy cannot be used).
type KeyWithPolicy = (KeyEvidence, Result<LabelledPolicy, Problem>);

/// Parsed policies and the request shape shared by the permission checks.
struct Ctx {
    principal: Option<Principal>,
    /// Why the principal's own policies cannot be judged, if they cannot.
    identity_unknown: Option<String>,
    identity: Vec<LabelledPolicy>,
    source_bucket: Result<Option<LabelledPolicy>, Problem>,
    destination_bucket: Result<Option<LabelledPolicy>, Problem>,
    /// The configured key's account and its policy.
    destination_key: Option<(String, Result<LabelledPolicy, Problem>)>,
    source_key: Option<Result<KeyWithPolicy, String>>,
    /// Set when the destination bucket is missing: later checks defer to destination.bucket.
    destination_missing: bool,
    src_bucket: String,
    src_prefix: String,
    src_account: String,
    dst_bucket: String,
    dst_prefix: String,
    dst_account: Option<String>,
    dst_region: Option<String>,
    key_arn: Option<String>,
    copies_tags: bool,
    multipart: bool,
    acl: Option<String>,
}

impl Ctx {
    fn new(ev: &Evidence) -> Ctx {
        let mut identity = Vec::new();
        let mut identity_unknown = None;
        let principal = match &ev.principal {
            Fetched::Got(p) => {
                let mut principal = Principal { account: p.account.clone(), arn: p.arn.clone(), role_arn: None };
                principal.role_arn = p.role_arn.clone();
                match &p.identity_policies {
                    Fetched::Got(docs) => {
                        for d in docs {
                            match labelled(d, PolicyKind::Identity, &p.account) {
                                Ok(l) => identity.push(l),
                                Err(e) => identity_unknown = Some(e),
                            }
                        }
                    }
                    Fetched::Absent => {}
                    Fetched::Unreadable(why) => identity_unknown = Some(format!("the principal's policies: {why}")),
                }
                match &p.boundary {
                    Some(Fetched::Got(d)) => match labelled(d, PolicyKind::Boundary, &p.account) {
                        Ok(l) => identity.push(l),
                        Err(e) => identity_unknown = Some(e),
                    },
                    Some(Fetched::Unreadable(why)) => {
                        identity_unknown = Some(format!("the permissions boundary: {why}"))
                    }
                    _ => {}
                }
                Some(principal)
            }
            Fetched::Absent => {
                identity_unknown = Some("the transfer principal is unknown".into());
                None
            }
            Fetched::Unreadable(why) => {
                identity_unknown = Some(format!("the transfer principal could not be resolved: {why}"));
                None
            }
        };
        let src_account = ev.source.account.clone().unwrap_or_default();
        let dst_account = ev
            .destination
            .account
            .clone()
            .or_else(|| ev.destination_key.as_ref().and_then(|k| k.got()).map(|k| k.account.clone()));
        let bucket_policy = |b: &Fetched<NamedPolicy>, account: &str| match b {
            Fetched::Got(d) => labelled(d, PolicyKind::Bucket, account).map(Some).map_err(Problem::Malformed),
            Fetched::Absent => Ok(None),
            Fetched::Unreadable(why) => Err(Problem::Unreadable(why.clone())),
        };
        let key_of = |k: &KeyEvidence| {
            let policy = match &k.policy {
                Fetched::Got(d) => labelled(d, PolicyKind::Key, &k.account).map_err(Problem::Malformed),
                Fetched::Absent => Err(Problem::Unreadable("the key has no key policy".to_string())),
                Fetched::Unreadable(why) => Err(Problem::Unreadable(why.clone())),
            };
            (k.clone(), policy)
        };
        Ctx {
            principal,
            identity_unknown,
            identity,
            source_bucket: bucket_policy(&ev.source.policy, &src_account),
            destination_bucket: bucket_policy(&ev.destination.policy, dst_account.as_deref().unwrap_or_default()),
            destination_key: ev.destination_key_arn.as_ref().map(|arn| {
                let account = arn.split(':').nth(4).unwrap_or_default().to_string();
                let policy = match &ev.destination_key_policy {
                    Some(Fetched::Got(d)) => labelled(d, PolicyKind::Key, &account).map_err(Problem::Malformed),
                    Some(Fetched::Unreadable(why)) => Err(Problem::Unreadable(why.clone())),
                    Some(Fetched::Absent) | None => Err(Problem::Unreadable("the key policy was not read".into())),
                };
                (account, policy)
            }),
            source_key: ev.source_key.as_ref().map(|k| match k {
                Fetched::Got(k) => Ok(key_of(k)),
                Fetched::Absent => Err("no key".to_string()),
                Fetched::Unreadable(why) => Err(why.clone()),
            }),
            destination_missing: matches!(ev.destination.exists, Fetched::Absent),
            src_account: src_account.clone(),
            src_bucket: ev.source.bucket.clone(),
            src_prefix: ev.source.prefix.clone(),
            dst_bucket: ev.destination.bucket.clone(),
            dst_prefix: ev.destination.prefix.clone(),
            dst_account,
            dst_region: ev.destination.region.got().cloned(),
            key_arn: ev.destination_key_arn.clone(),
            copies_tags: ev.run.copies_tags,
            multipart: ev.run.multipart_planned,
            acl: ev.run.acl.clone(),
        }
    }

    /// Requests for `actions` on `resource` with the context the copier's requests carry.
    fn requests(
        &self,
        actions: &[&str],
        resource: &str,
        resource_account: &str,
        kms_region: Option<&str>,
    ) -> Vec<Request> {
        let Some(principal) = &self.principal else { return Vec::new() };
        let writes =
            WriteContext { dst_bucket: &self.dst_bucket, key_arn: self.key_arn.as_deref(), acl: self.acl.as_deref() };
        actions.iter().map(|action| writes.request(principal, action, resource, resource_account, kms_region)).collect()
    }

    fn write_actions(&self) -> Vec<&'static str> {
        let mut a = vec!["s3:PutObject"];
        if self.copies_tags {
            a.push("s3:PutObjectTagging");
        }
        // s3:PutObjectAcl is judged once, by destination.ownership, so one missing grant is not
        // reported three times.
        a
    }

    fn key_actions(&self) -> Vec<&'static str> {
        let mut a = vec!["kms:GenerateDataKey", "kms:Encrypt"];
        if self.multipart {
            a.push("kms:Decrypt");
        }
        a
    }

    fn principal_for_policy(&self) -> String {
        self.principal.as_ref().map(|p| p.role_arn.clone().unwrap_or_else(|| p.arn.clone())).unwrap_or_default()
    }
}

pub(crate) fn labelled(doc: &NamedPolicy, kind: PolicyKind, account: &str) -> Result<LabelledPolicy, String> {
    parse_policy(&doc.text, kind)
        .map(|d| LabelledPolicy::new(kind, doc.name.clone(), account, d))
        .map_err(|e| format!("{} does not parse: {e}", doc.name))
}

const STAND_IN: &str = "(the other side, assumed to allow)";

/// A stand-in for the side a check does not judge: it allows the principal everything.
pub(crate) fn stand_in(kind: PolicyKind, principal: &str, account: &str) -> LabelledPolicy {
    let text = match kind {
        PolicyKind::Identity => {
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#.to_string()
        }
        _ => format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"*","Resource":"*"}}]}}"#
        ),
    };
    // The text is ours and valid; a parse failure would be a bug in this file, so say so.
    let doc = parse_policy(&text, kind).unwrap_or_else(|e| panic!("stand-in policy does not parse: {e}"));
    LabelledPolicy::new(kind, STAND_IN, account, doc)
}

/// Folds evaluations into a check: pass when all allow, fail with one combined fix otherwise.
pub(crate) fn judge(id: &'static str, side: &'static str, what: &str, evaluations: Vec<Evaluation>) -> Check {
    let denied: Vec<&Evaluation> = evaluations.iter().filter(|e| e.decision != Decision::Allow).collect();
    if denied.is_empty() {
        let detail = evaluations.iter().flat_map(|e| e.explanation.iter().cloned()).take(6).collect::<Vec<_>>();
        return check(id, side, Status::Pass, format!("{what}: allowed")).with_detail(dedup(detail));
    }
    let explicit = denied.iter().any(|e| e.decision == Decision::ExplicitDeny);
    let unknown = denied.iter().all(|e| e.decision == Decision::Unknown);
    let mut detail: Vec<String> = denied.iter().flat_map(|e| e.explanation.iter().cloned()).collect();
    detail.extend(denied.iter().flat_map(|e| e.flags.iter().cloned()));
    detail.extend(
        denied.iter().flat_map(|e| e.missing_context.iter().map(|k| format!("context key {k} was not available"))),
    );
    if unknown {
        return check(id, side, Status::Unknown, format!("{what}: cannot be decided")).with_detail(dedup(detail));
    }
    let denied_owned: Vec<Evaluation> = denied.into_iter().cloned().collect();
    let fixes = combined_fix(&denied_owned);
    let summary =
        if explicit { format!("{what}: explicitly denied") } else { format!("{what}: no statement allows it") };
    let mut c = check(id, side, Status::Fail, summary).with_detail(dedup(detail));
    c.fixes = fixes.iter().map(FixOut::from).collect();
    c.fix = c.fixes.first().cloned();
    c
}

/// Drops repeats, and the engine's narration of the stand-in: the operator needs to read about
/// the side that lacks, not about our device for isolating it.
fn dedup(lines: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in lines {
        if l.contains(STAND_IN) {
            continue;
        }
        if !out.contains(&l) {
            out.push(l);
        }
    }
    out
}

fn source_role(ev: &Evidence) -> Check {
    let id = "source.role";
    match &ev.principal {
        Fetched::Got(p) => match &p.role {
            Fetched::Got(role) => check(
                id,
                "source",
                Status::Pass,
                format!("acting as {} (account {}), role {}", p.arn, p.account, role.name),
            )
            .with_detail([
                format!("role ARN: {}", p.role_arn.clone().unwrap_or_default()),
                format!(
                    "MaxSessionDuration: {}",
                    format_countdown(std::time::Duration::from_secs(role.max_session_secs))
                ),
            ]),
            Fetched::Absent => {
                check(id, "source", Status::Pass, format!("acting as {} (account {}), not a role", p.arn, p.account))
            }
            Fetched::Unreadable(why) => {
                check(id, "source", Status::Unknown, format!("acting as {}, but the role could not be read", p.arn))
                    .with_detail([why.clone()])
            }
        },
        Fetched::Absent => check(id, "source", Status::Fail, "no transfer principal"),
        Fetched::Unreadable(why) => {
            check(id, "source", Status::Fail, "the transfer principal does not resolve").with_detail([why.clone()])
        }
    }
}

/// Common guard: a permission check cannot run without the principal's own policies.
fn identity_guard(ctx: &Ctx, id: &'static str, side: &'static str) -> Option<Check> {
    ctx.identity_unknown.as_ref().map(|why| {
        check(id, side, Status::Unknown, "the principal's identity policies could not be judged")
            .with_detail([why.clone()])
    })
}

/// The principal's own policies plus a bucket's policy, or the check that says why they cannot
/// be judged together.
fn identity_and_bucket(
    ctx: &Ctx,
    id: &'static str,
    side: &'static str,
    bucket: &str,
    bucket_policy: &Result<Option<LabelledPolicy>, Problem>,
) -> Result<Vec<LabelledPolicy>, Box<Check>> {
    if let Some(c) = identity_guard(ctx, id, side) {
        return Err(Box::new(c));
    }
    let bucket_policy =
        bucket_policy.as_ref().map_err(|p| Box::new(p.check(id, side, &format!("the bucket policy of {bucket}"))))?;
    let mut policies = ctx.identity.clone();
    policies.extend(bucket_policy.clone());
    Ok(policies)
}

fn source_read(ctx: &Ctx) -> Check {
    let (id, side) = ("source.read", "source");
    let policies = match identity_and_bucket(ctx, id, side, &ctx.src_bucket, &ctx.source_bucket) {
        Ok(p) => p,
        Err(c) => return *c,
    };
    let bucket_arn = format!("arn:aws:s3:::{}", ctx.src_bucket);
    let objects = format!("{bucket_arn}/{}*", ctx.src_prefix);
    let mut requests = ctx.requests(&["s3:ListBucket"], &bucket_arn, &ctx.src_account, None);
    let mut object_actions = vec!["s3:GetObject"];
    if ctx.copies_tags {
        object_actions.push("s3:GetObjectTagging");
    }
    requests.extend(ctx.requests(&object_actions, &objects, &ctx.src_account, None));
    let evals = requests.iter().map(|r| evaluate(r, &policies)).collect();
    judge(id, side, &format!("reading s3://{}/{}", ctx.src_bucket, ctx.src_prefix), evals)
}

fn source_key(ctx: &Ctx) -> Check {
    let (id, side) = ("source.key", "source");
    if ctx.principal.is_none() {
        return check(
            id,
            side,
            Status::Unknown,
            "the source objects' encryption is unknown: the transfer principal did not resolve",
        );
    }
    let Some(key) = &ctx.source_key else {
        return check(id, side, Status::Pass, "not needed: the source objects are not encrypted with SSE-KMS");
    };
    let (key, policy) = match key {
        Ok(k) => k,
        Err(why) => {
            return check(id, side, Status::Unknown, "the source objects' KMS key could not be described")
                .with_detail([why.clone()]);
        }
    };
    if let Some(c) = identity_guard(ctx, id, side) {
        return c;
    }
    let policy = match policy {
        Ok(p) => p.clone(),
        Err(problem) => return problem.check(id, side, &format!("the key policy of {}", key.arn)),
    };
    let mut policies = ctx.identity.clone();
    policies.push(policy);
    let evals = ctx
        .requests(&["kms:Decrypt"], &key.arn, &key.account, Some(&key.region))
        .iter()
        .map(|r| evaluate(r, &policies))
        .collect();
    judge(id, side, &format!("decrypting with the source key {}", key.arn), evals)
}

fn destination_bucket(ev: &Evidence) -> Check {
    let (id, side) = ("destination.bucket", "destination");
    let b = &ev.destination;
    match (&b.exists, &b.region) {
        (Fetched::Absent, _) => check(id, side, Status::Fail, format!("bucket {} does not exist", b.bucket))
            .with_detail(["create it in the destination account (step 3), or fix [destination] bucket".to_string()]),
        (_, Fetched::Got(region)) => check(id, side, Status::Pass, format!("bucket {} exists in {region}", b.bucket)),
        (Fetched::Got(()), _) => {
            check(id, side, Status::Warn, format!("bucket {} exists; its Region is unknown", b.bucket))
        }
        (Fetched::Unreadable(why), _) => {
            check(id, side, Status::Unknown, format!("could not confirm bucket {} exists", b.bucket))
                .with_detail([why.clone()])
        }
    }
}

fn deferred(id: &'static str, side: &'static str, bucket: &str) -> Check {
    check(id, side, Status::Unknown, format!("skipped: bucket {bucket} does not exist (see destination.bucket)"))
}

fn destination_encryption(ev: &Evidence) -> Check {
    let (id, side) = ("destination.encryption", "destination");
    let b = &ev.destination;
    if matches!(b.exists, Fetched::Absent) {
        return deferred(id, side, &b.bucket);
    }
    let configured = ev.destination_key_arn.as_deref();
    let enc = match &b.encryption {
        Fetched::Got(e) => e,
        Fetched::Absent => {
            return match configured {
                Some(k) => check(
                    id,
                    side,
                    Status::Fail,
                    format!("{} has no default encryption; the config names {k}", b.bucket),
                )
                .with_detail(["set the bucket's default encryption to SSE-KMS with that key ARN (step 4)".to_string()]),
                None => check(
                    id,
                    side,
                    Status::Pass,
                    format!("{} has no default encryption and the config names no key", b.bucket),
                ),
            };
        }
        Fetched::Unreadable(why) => {
            return check(
                id,
                side,
                Status::Unknown,
                format!("the default encryption of {} could not be read", b.bucket),
            )
            .with_detail([why.clone()]);
        }
    };
    let (key_id, bucket_key) = match enc {
        Encryption::SseKms { key_id, bucket_key } => (key_id, *bucket_key),
        Encryption::SseS3 => {
            return match configured {
                Some(k) => check(
                    id,
                    side,
                    Status::Fail,
                    format!("{} uses SSE-S3 by default, but the config names the KMS key {k}", b.bucket),
                )
                .with_detail([
                    "either set default encryption to SSE-KMS with that key (step 4) or remove kms_key_arn".to_string(),
                ]),
                None => check(id, side, Status::Pass, format!("{} uses SSE-S3 (no key policy involved)", b.bucket)),
            };
        }
        Encryption::Other(alg) => return check(id, side, Status::Warn, format!("{} uses {alg} by default", b.bucket)),
    };
    let aws_managed = key_id == "aws/s3"
        || key_id.ends_with("alias/aws/s3")
        || ev.destination_key.as_ref().and_then(|k| k.got()).is_some_and(|k| k.manager == "AWS");
    if aws_managed {
        return check(id, side, Status::Fail, format!("{} is encrypted with the AWS managed key aws/s3", b.bucket)).with_detail([
            "its key policy cannot be edited, so no other account can use it: cross-account writes fail with KMS.NotFoundException (Invalid keyId aws/s3)".to_string(),
            "create a customer-managed key, allow the source role in its key policy, and make it the bucket's default encryption (steps 4 and 6)".to_string(),
        ]);
    }
    if !key_id.starts_with("arn:") {
        return check(id, side, Status::Fail, format!("default encryption names the key as {key_id:?}, not by ARN"))
            .with_detail([
                "aliases and key ids resolve in the caller's account: name the key by its full ARN".to_string()
            ]);
    }
    let mut c = match configured {
        Some(k) if k != key_id => {
            check(id, side, Status::Fail, format!("default encryption uses {key_id}, but the config names {k}"))
        }
        None => check(
            id,
            side,
            Status::Warn,
            format!("default encryption uses {key_id}; set kms_key_arn to it so copies send the same key"),
        ),
        Some(_) => check(id, side, Status::Pass, format!("SSE-KMS with {key_id}")),
    };
    if let Some(Fetched::Got(k)) = &ev.destination_key {
        let mut problems = Vec::new();
        if !k.enabled {
            problems.push("the key is disabled".to_string());
        }
        if !k.symmetric {
            problems.push("the key is not symmetric (S3 needs SYMMETRIC_DEFAULT)".to_string());
        }
        if let Some(r) = b.region.got()
            && &k.region != r
        {
            problems.push(format!("the key is in {} but the bucket is in {r}", k.region));
        }
        if !problems.is_empty() {
            c.status = Status::Fail;
            c.summary = format!("the key {} cannot encrypt for this bucket", k.arn);
            c.detail.extend(problems);
        }
    }
    if c.status == Status::Pass && !bucket_key {
        c.status = Status::Warn;
        c.detail.push(
            "S3 Bucket Keys are off: every object written costs a KMS request (up to 99% more KMS cost)".to_string(),
        );
    }
    c
}

fn destination_bucket_policy(ctx: &Ctx) -> Check {
    let (id, side) = ("destination.bucket_policy", "destination");
    if ctx.destination_missing {
        return deferred(id, side, &ctx.dst_bucket);
    }
    let Some(principal) = &ctx.principal else {
        return check(id, side, Status::Unknown, "the transfer principal is unknown");
    };
    let account = ctx.dst_account.clone().unwrap_or_default();
    if account == principal.account {
        return check(
            id,
            side,
            Status::Pass,
            "same account as the principal: its identity policy is enough (see source.policy.write)",
        );
    }
    let bucket_policy = match &ctx.destination_bucket {
        Ok(p) => p.clone(),
        Err(problem) => return problem.check(id, side, &format!("the bucket policy of {}", ctx.dst_bucket)),
    };
    let mut policies = vec![stand_in(PolicyKind::Identity, "", &principal.account)];
    policies.extend(bucket_policy);
    let resource = format!("arn:aws:s3:::{}/{}*", ctx.dst_bucket, ctx.dst_prefix);
    let evals =
        ctx.requests(&ctx.write_actions(), &resource, &account, None).iter().map(|r| evaluate(r, &policies)).collect();
    judge(
        id,
        side,
        &format!(
            "the bucket policy of {} (account {account}) letting {} write",
            ctx.dst_bucket,
            ctx.principal_for_policy()
        ),
        evals,
    )
}

fn destination_key_policy(ctx: &Ctx) -> Check {
    let (id, side) = ("destination.key_policy", "destination");
    let Some(arn) = &ctx.key_arn else {
        return check(id, side, Status::Pass, "not needed: no destination KMS key is configured");
    };
    let Some((key_account, policy)) = &ctx.destination_key else {
        return check(id, side, Status::Unknown, format!("the key {arn} is unknown"));
    };
    let Some(principal) = &ctx.principal else {
        return check(id, side, Status::Unknown, "the transfer principal is unknown");
    };
    let policy = match policy {
        Ok(p) => p.clone(),
        Err(problem) => return problem.check(id, side, &format!("the key policy of {arn}")),
    };
    let policies = vec![stand_in(PolicyKind::Identity, "", &principal.account), policy];
    let key_region = arn.split(':').nth(3).unwrap_or_default().to_string();
    let region = ctx.dst_region.clone().unwrap_or(key_region);
    let evals = ctx
        .requests(&ctx.key_actions(), arn, key_account, Some(&region))
        .iter()
        .map(|r| evaluate(r, &policies))
        .collect();
    judge(
        id,
        side,
        &format!("the key policy of {arn} (account {key_account}) letting {} use the key", ctx.principal_for_policy()),
        evals,
    )
}

fn source_policy_write(ctx: &Ctx) -> Check {
    let (id, side) = ("source.policy.write", "source");
    if let Some(c) = identity_guard(ctx, id, side) {
        return c;
    }
    let account = ctx.dst_account.clone().unwrap_or_default();
    let mut policies = ctx.identity.clone();
    policies.push(stand_in(PolicyKind::Bucket, &ctx.principal_for_policy(), &account));
    let resource = format!("arn:aws:s3:::{}/{}*", ctx.dst_bucket, ctx.dst_prefix);
    let evals =
        ctx.requests(&ctx.write_actions(), &resource, &account, None).iter().map(|r| evaluate(r, &policies)).collect();
    judge(
        id,
        side,
        &format!("the principal's own policies allowing writes to s3://{}/{}", ctx.dst_bucket, ctx.dst_prefix),
        evals,
    )
}

fn source_policy_key(ctx: &Ctx) -> Check {
    let (id, side) = ("source.policy.key", "source");
    let Some(arn) = &ctx.key_arn else {
        return check(id, side, Status::Pass, "not needed: no destination KMS key is configured");
    };
    if let Some(c) = identity_guard(ctx, id, side) {
        return c;
    }
    let key_account = arn.split(':').nth(4).unwrap_or_default().to_string();
    let region = arn.split(':').nth(3).unwrap_or_default().to_string();
    let mut policies = ctx.identity.clone();
    policies.push(stand_in(PolicyKind::Key, &ctx.principal_for_policy(), &key_account));
    let evals = ctx
        .requests(&ctx.key_actions(), arn, &key_account, Some(&region))
        .iter()
        .map(|r| evaluate(r, &policies))
        .collect();
    judge(id, side, &format!("the principal's own policies allowing use of {arn}"), evals)
}

fn destination_ownership(ev: &Evidence, ctx: &Ctx) -> Check {
    let (id, side) = ("destination.ownership", "destination");
    let b = &ev.destination;
    if matches!(b.exists, Fetched::Absent) {
        return deferred(id, side, &b.bucket);
    }
    match &b.ownership {
        Fetched::Got(Ownership::BucketOwnerEnforced) => {
            check(id, side, Status::Pass, "BucketOwnerEnforced: the Data Lake owns every copy; no ACL is sent")
        }
        Fetched::Got(Ownership::BucketOwnerPreferred) => match ev.run.acl.as_deref() {
            Some("bucket-owner-full-control") => acl_allowed(ctx),
            _ => check(id, side, Status::Fail, "BucketOwnerPreferred, but copies would be sent without bucket-owner-full-control")
                .with_detail(["without that ACL the source account would own the copies".to_string()]),
        },
        Fetched::Got(Ownership::ObjectWriter) | Fetched::Absent => check(
            id,
            side,
            Status::Fail,
            "ObjectWriter: copies would stay owned by the source account, and the Data Lake could not govern them",
        )
        .with_detail([format!(
            "set Object Ownership to BucketOwnerEnforced: aws s3api put-bucket-ownership-controls --bucket {} --ownership-controls 'Rules=[{{ObjectOwnership=BucketOwnerEnforced}}]'",
            b.bucket
        )]),
        Fetched::Unreadable(why) => check(id, side, Status::Unknown, "Object Ownership could not be read").with_detail([why.clone()]),
    }
}

/// BucketOwnerPreferred: the copier sends bucket-owner-full-control, which needs s3:PutObjectAcl
/// from both the principal's policies and (cross-account) the bucket policy.
fn acl_allowed(ctx: &Ctx) -> Check {
    let (id, side) = ("destination.ownership", "destination");
    let policies = match identity_and_bucket(ctx, id, side, &ctx.dst_bucket, &ctx.destination_bucket) {
        Ok(p) => p,
        Err(c) => return *c,
    };
    let account = ctx.dst_account.clone().unwrap_or_default();
    let resource = format!("arn:aws:s3:::{}/{}*", ctx.dst_bucket, ctx.dst_prefix);
    let evals =
        ctx.requests(&["s3:PutObjectAcl"], &resource, &account, None).iter().map(|r| evaluate(r, &policies)).collect();
    let mut c = judge(id, side, "BucketOwnerPreferred: sending bucket-owner-full-control (s3:PutObjectAcl)", evals);
    if c.status == Status::Pass {
        c.summary =
            "BucketOwnerPreferred: copies are sent with bucket-owner-full-control, and s3:PutObjectAcl is allowed"
                .into();
    }
    c
}

fn destination_public_access(ev: &Evidence) -> Check {
    let (id, side) = ("destination.public_access", "destination");
    let b = &ev.destination;
    if matches!(b.exists, Fetched::Absent) {
        return deferred(id, side, &b.bucket);
    }
    match (&b.restrict_public_buckets, &b.policy_is_public) {
        (Fetched::Got(false) | Fetched::Absent, _) => check(id, side, Status::Pass, "RestrictPublicBuckets is off"),
        (Fetched::Got(true), Fetched::Got(false) | Fetched::Absent) => check(
            id,
            side,
            Status::Pass,
            "RestrictPublicBuckets is on, and the bucket policy is not public: the cross-account grant is not blocked",
        ),
        (Fetched::Got(true), Fetched::Got(true)) => {
            check(id, side, Status::Fail, "RestrictPublicBuckets blocks the bucket policy, which AWS considers public")
                .with_detail([
                    "scope the policy's Principal to the source role ARN (no \"*\"), or turn RestrictPublicBuckets off"
                        .to_string(),
                ])
        }
        (Fetched::Got(true), Fetched::Unreadable(why)) => check(
            id,
            side,
            Status::Unknown,
            "RestrictPublicBuckets is on; whether the policy counts as public is unknown",
        )
        .with_detail([why.clone()]),
        (Fetched::Unreadable(why), _) => {
            check(id, side, Status::Unknown, "the public access block could not be read").with_detail([why.clone()])
        }
    }
}

fn credentials_lifetime(ev: &Evidence, now: SystemTime) -> Check {
    let (id, side) = ("credentials.lifetime", "credentials");
    let Some(life) = &ev.credentials else {
        return check(id, side, Status::Unknown, "the credentials' lifetime is unknown");
    };
    let mut detail = vec![format!("credentials: {}", life.source)];
    if life.chained {
        detail
            .push("role chaining (a role assumed from a role session) is capped at 1 h per session by AWS".to_string());
    }
    let Some(left) = life.remaining(now) else {
        return check(id, side, Status::Pass, "long-term credentials: no expiry").with_detail(detail);
    };
    let left_text = format_countdown(left);
    if life.renews {
        return check(id, side, Status::Pass, format!("{left_text} left, and they renew themselves before expiry"))
            .with_detail(detail);
    }
    match ev.run.estimated_secs {
        Some(est) if est > left.as_secs() => check(
            id,
            side,
            Status::Fail,
            format!("the run needs about {} but the credentials expire in {left_text} and cannot renew", format_countdown(std::time::Duration::from_secs(est))),
        )
        .with_detail(detail.into_iter().chain(["use a profile with role_arn + source_profile, SSO, or an instance profile so s3ferry can renew; or set role_arn in the config".to_string()])),
        Some(_) => check(id, side, Status::Pass, format!("{left_text} left, enough for the estimated run")).with_detail(detail),
        None => check(id, side, Status::Warn, format!("{left_text} left and they cannot renew: a long run will pause for re-authentication"))
            .with_detail(detail),
    }
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;
