//! The preflight checks: evidence in, one verdict per stable check id out.
//!
//! [`CHECKS`] is the one table of checks, in display order: each row is a stable id (the JSON
//! contract's `id`), the area whose settings it judges, and the function that judges it. To add
//! a check: gather what it needs into [`Evidence`] (`core/preflight/evidence.rs`, filled by
//! `engine/evidence.rs`), write its function in `source.rs`, `destination.rs` or `layers.rs` (it takes its
//! row, so its id and area come from the table), and add the row.
//!
//! Each permission check judges one side alone: the policies of that side are evaluated together
//! with a stand-in "allow everything" document for the other side, so a failure names exactly
//! the account and policy that must change, and the fix the policy engine writes targets it.

use std::time::SystemTime;

use serde::Serialize;

use crate::core::policy::{
    Decision, Evaluation, Fix, LabelledPolicy, PolicyKind, Principal, Request, combined_fix, evaluate, parse_policy,
};
use crate::core::preflight::evidence::{Evidence, Fetched, KeyEvidence, NamedPolicy};
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
    /// Which account's settings the check is about.
    pub side: Area,
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

/// Whose settings a check is about: the JSON's `side`, and the heading it is shown under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    Source,
    Destination,
    Credentials,
    /// The organization's SCPs and RCPs (its administrator's to change).
    Organization,
    /// Live probes (`--probe`).
    Probes,
    /// S3 Batch Operations' job role.
    Batch,
}

impl Area {
    /// The areas in the order reports show them.
    pub const ALL: [Area; 6] =
        [Area::Source, Area::Destination, Area::Organization, Area::Credentials, Area::Probes, Area::Batch];

    pub fn heading(self) -> &'static str {
        match self {
            Area::Source => "Source account",
            Area::Destination => "Destination account",
            Area::Credentials => "Credentials",
            Area::Organization => "Organization (SCPs, RCPs)",
            Area::Probes => "Live probes",
            Area::Batch => "Batch Operations job role",
        }
    }
}

/// What a check is judged from.
pub(crate) struct Inputs<'a> {
    ev: &'a Evidence,
    ctx: &'a Ctx,
    now: SystemTime,
}

/// One row of [`CHECKS`].
pub struct CheckDef {
    pub id: &'static str,
    pub area: Area,
    judge: fn(&CheckDef, &Inputs) -> Check,
}

/// Every preflight check, in display order.
pub const CHECKS: [CheckDef; 16] = [
    CheckDef { id: "source.role", area: Area::Source, judge: |d, i| source::role(d, i.ev) },
    CheckDef { id: "source.read", area: Area::Source, judge: |d, i| source::read(d, i.ctx) },
    CheckDef { id: "source.key", area: Area::Source, judge: |d, i| source::key(d, i.ctx) },
    CheckDef { id: "destination.bucket", area: Area::Destination, judge: |d, i| destination::bucket(d, i.ev) },
    CheckDef { id: "destination.encryption", area: Area::Destination, judge: |d, i| destination::encryption(d, i.ev) },
    CheckDef {
        id: "destination.bucket_policy",
        area: Area::Destination,
        judge: |d, i| destination::bucket_policy(d, i.ctx),
    },
    CheckDef { id: "destination.key_policy", area: Area::Destination, judge: |d, i| destination::key_policy(d, i.ctx) },
    CheckDef { id: "source.policy.write", area: Area::Source, judge: |d, i| source::policy_write(d, i.ctx) },
    CheckDef { id: "source.policy.key", area: Area::Source, judge: |d, i| source::policy_key(d, i.ctx) },
    CheckDef {
        id: "destination.ownership",
        area: Area::Destination,
        judge: |d, i| destination::ownership(d, i.ev, i.ctx),
    },
    CheckDef {
        id: "destination.public_access",
        area: Area::Destination,
        judge: |d, i| destination::public_access(d, i.ev),
    },
    CheckDef { id: "source.endpoint", area: Area::Source, judge: |d, i| layers::source_endpoint(d, i.ctx) },
    CheckDef {
        id: "destination.endpoint",
        area: Area::Destination,
        judge: |d, i| layers::destination_endpoint(d, i.ctx),
    },
    CheckDef { id: "organization.scp", area: Area::Organization, judge: |d, i| layers::scp(d, i.ctx) },
    CheckDef { id: "organization.rcp", area: Area::Organization, judge: |d, i| layers::rcp(d, i.ctx) },
    CheckDef {
        id: "credentials.lifetime",
        area: Area::Credentials,
        judge: |d, i| credentials_lifetime(d, i.ev, i.now),
    },
];

/// The stable check ids, in display order.
pub fn check_ids() -> impl Iterator<Item = &'static str> {
    CHECKS.iter().map(|c| c.id)
}

pub fn run(ev: &Evidence, now: SystemTime) -> Report {
    let ctx = Ctx::new(ev);
    let inputs = Inputs { ev, ctx: &ctx, now };
    let checks: Vec<Check> = CHECKS.iter().map(|def| (def.judge)(def, &inputs)).collect();
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

pub fn check(id: &'static str, side: Area, status: Status, summary: impl Into<String>) -> Check {
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
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum Problem {
    #[error("{0}")]
    Unreadable(String),
    #[error("{0}")]
    Malformed(String),
}

impl Problem {
    pub(crate) fn check(&self, id: &'static str, side: Area, what: &str) -> Check {
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
    layers: layers::Layers,
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
                                Err(e) => identity_unknown = Some(e.to_string()),
                            }
                        }
                    }
                    Fetched::Absent => {}
                    Fetched::Unreadable(why) => identity_unknown = Some(format!("the principal's policies: {why}")),
                }
                match &p.boundary {
                    Some(Fetched::Got(d)) => match labelled(d, PolicyKind::Boundary, &p.account) {
                        Ok(l) => identity.push(l),
                        Err(e) => identity_unknown = Some(e.to_string()),
                    },
                    Some(Fetched::Unreadable(why)) => {
                        identity_unknown = Some(format!("the permissions boundary: {why}"))
                    }
                    _ => {}
                }
                if let Some(d) = &p.session_policy {
                    match labelled(d, PolicyKind::Session, &p.account) {
                        Ok(l) => identity.push(l),
                        Err(e) => identity_unknown = Some(e.to_string()),
                    }
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
            Fetched::Got(d) => labelled(d, PolicyKind::Bucket, account).map(Some),
            Fetched::Absent => Ok(None),
            Fetched::Unreadable(why) => Err(Problem::Unreadable(why.clone())),
        };
        let key_of = |k: &KeyEvidence| {
            let policy = match &k.policy {
                Fetched::Got(d) => labelled(d, PolicyKind::Key, &k.account),
                Fetched::Absent => Err(Problem::Unreadable("the key has no key policy".to_string())),
                Fetched::Unreadable(why) => Err(Problem::Unreadable(why.clone())),
            };
            (k.clone(), policy)
        };
        let principal_account = principal.as_ref().map(|p| p.account.clone()).unwrap_or_default();
        let layers = layers::Layers::new(
            &ev.layers,
            &principal_account,
            &src_account,
            dst_account.as_deref().unwrap_or_default(),
        );
        Ctx {
            layers,
            principal,
            identity_unknown,
            identity,
            source_bucket: bucket_policy(&ev.source.policy, &src_account),
            destination_bucket: bucket_policy(&ev.destination.policy, dst_account.as_deref().unwrap_or_default()),
            destination_key: ev.destination_key_arn.as_ref().map(|arn| {
                let account = arn.split(':').nth(4).unwrap_or_default().to_string();
                let policy = match &ev.destination_key_policy {
                    Some(Fetched::Got(d)) => labelled(d, PolicyKind::Key, &account),
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

    /// The copier's reads of the source: listing the bucket, reading (and tagging) its objects.
    fn read_requests(&self) -> Vec<Request> {
        let bucket_arn = format!("arn:aws:s3:::{}", self.src_bucket);
        let objects = format!("{bucket_arn}/{}*", self.src_prefix);
        let mut requests = self.requests(&["s3:ListBucket"], &bucket_arn, &self.src_account, None);
        let mut object_actions = vec!["s3:GetObject"];
        if self.copies_tags {
            object_actions.push("s3:GetObjectTagging");
        }
        requests.extend(self.requests(&object_actions, &objects, &self.src_account, None));
        requests
    }

    /// The copier's writes into the destination prefix.
    fn write_requests(&self) -> Vec<Request> {
        let account = self.dst_account.clone().unwrap_or_default();
        let resource = format!("arn:aws:s3:::{}/{}*", self.dst_bucket, self.dst_prefix);
        self.requests(&self.write_actions(), &resource, &account, None)
    }

    /// The copier's writes into the destination prefix, judged against `policies`.
    fn judge_writes(&self, policies: &[LabelledPolicy]) -> Vec<Evaluation> {
        self.write_requests().iter().map(|r| evaluate(r, policies)).collect()
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

/// A gathered document as a policy of `kind`, or why it is not one (a malformed document).
pub(crate) fn labelled(doc: &NamedPolicy, kind: PolicyKind, account: &str) -> Result<LabelledPolicy, Problem> {
    parse_policy(&doc.text, kind)
        .map(|d| LabelledPolicy::new(kind, doc.name.clone(), account, d))
        .map_err(|e| Problem::Malformed(format!("{} does not parse: {e}", doc.name)))
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
pub(crate) fn judge(id: &'static str, side: Area, what: &str, evaluations: Vec<Evaluation>) -> Check {
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

/// Common guard: a permission check cannot run without the principal's own policies.
fn identity_guard(ctx: &Ctx, id: &'static str, side: Area) -> Option<Check> {
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
    side: Area,
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

fn credentials_lifetime(def: &CheckDef, ev: &Evidence, now: SystemTime) -> Check {
    let (id, side) = (def.id, def.area);
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

mod destination;
mod layers;
mod source;

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;
