//! The decision: which policies apply, how their statements combine, and why.
//!
//! Every statement and side is three-valued (yes / no / unknown). Unknown is carried through the same
//! AND/OR logic AWS uses, so it only surfaces as an `Unknown` decision when it could change the outcome.

use std::fmt;

use serde::Serialize;

use super::condition::{self, CondResult};
use super::document::{ActionSpec, Effect, PolicyDocument, PolicyKind, PrincipalSpec, ResourceSpec, Statement};
use super::explain::{
    Names, conclusion, explain_caller_side, explain_denies, explain_missing_context, explain_resource_side,
    flag_principals, flag_request, rule_line,
};
use super::fix::{Fix, fixable, fixes_for};
use super::guardrails;
use super::matcher::{
    Caller, CallerKind, PrincipalHit, Unbound, action_matches, is_account_id, match_principal, not_principal_excludes,
    not_principal_names_any, parse_arn, resource_matches,
};
use super::request::{Context, Lookup, Request};

/// A parsed document with where it comes from: the name and account appear in explanations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelledPolicy {
    pub kind: PolicyKind,
    /// e.g. "inline:transfer-write", "managed:arn:aws:iam::...", "bucket policy of datalake-raw".
    pub name: String,
    /// The account that owns (bucket/key) or holds (identity/boundary/session) the policy. A policy whose
    /// account does not match the request's side is ignored; empty means "applies".
    pub account: String,
    pub document: PolicyDocument,
}

impl LabelledPolicy {
    pub fn new(
        kind: PolicyKind,
        name: impl Into<String>,
        account: impl Into<String>,
        document: PolicyDocument,
    ) -> Self {
        LabelledPolicy { kind, name: name.into(), account: account.into(), document }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
    Unknown,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::ExplicitDeny => "explicit_deny",
            Decision::ImplicitDeny => "implicit_deny",
            Decision::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Decision::Allow => "allow",
            Decision::ExplicitDeny => "explicit deny",
            Decision::ImplicitDeny => "implicit deny",
            Decision::Unknown => "unknown",
        })
    }
}

/// Points at one statement: policy name plus Sid and index (`$.Statement[index]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementRef {
    pub policy: String,
    pub kind: PolicyKind,
    pub account: String,
    pub sid: Option<String>,
    pub index: usize,
    pub effect: Effect,
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sid {
            Some(sid) => write!(f, "{} statement \"{}\" (Statement[{}])", self.policy, sid, self.index),
            None => write!(f, "{} Statement[{}]", self.policy, self.index),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub decision: Decision,
    pub explanation: Vec<String>,
    /// Statements that applied to the request (allows and denies).
    pub matched: Vec<StatementRef>,
    /// Context keys that conditions of otherwise-matching statements referenced but the request lacked.
    pub missing_context: Vec<String>,
    pub flags: Vec<String>,
    /// For an implicit deny: the least-privilege statements that would allow it, one per policy to change
    /// (caller side first). Empty for allow, explicit deny and unknown.
    pub fixes: Vec<Fix>,
}

impl Evaluation {
    /// The first fix, for outputs that show one.
    pub fn fix(&self) -> Option<&Fix> {
        self.fixes.first()
    }
}

/// The SCP, RCP and endpoint layers of one request (see `guardrails`).
struct Guards<'p> {
    layers: Vec<guardrails::LayerVerdict>,
    outcomes: Vec<PolicyOutcome<'p>>,
    allows: Tri,
    denies: Tri,
    /// Whether any guardrail policy was supplied at all.
    supplied: bool,
}

impl<'p> Guards<'p> {
    fn evaluate(
        policies: &'p [LabelledPolicy],
        request: &Request,
        caller: &Caller,
        ctx: &EvalContext,
        resource_account: Option<&str>,
        out: &mut Out,
    ) -> Guards<'p> {
        let (mut layers, mut outcomes) = (Vec::new(), Vec::new());
        let supplied = policies.iter().any(|p| p.kind.is_guardrail());
        for p in policies.iter().filter(|p| p.kind.is_guardrail()) {
            if let Err(why) = guardrails::governs(p, request, caller, resource_account) {
                out.explanation_note(format!("{} ({}) ignored: {why}.", p.name, p.kind.describe()));
                continue;
            }
            let o = evaluate_policy(p, request, caller, ctx, false, out);
            layers.push(guardrails::LayerVerdict {
                name: p.name.clone(),
                kind: p.kind,
                account: p.account.clone(),
                allows: o.allow_direct.or(o.allow_via),
                denies: o.deny,
            });
            outcomes.push(o);
        }
        let (allows, denies) = guardrails::combine(&layers);
        Guards { layers, outcomes, allows, denies, supplied }
    }

    /// What the layers leave of the account's own decision: they only ever take away.
    fn limit(&self, decision: Decision) -> Decision {
        match (decision, self.denies, self.allows) {
            (_, Tri::Yes, _) => Decision::ExplicitDeny,
            (Decision::Allow | Decision::Unknown, _, Tri::No) => Decision::ImplicitDeny,
            (Decision::Allow, Tri::Maybe, _) | (Decision::Allow, _, Tri::Maybe) => Decision::Unknown,
            (d, _, _) => d,
        }
    }

    fn explain(&self, request: &Request, out: &mut Out) {
        for l in &self.layers {
            out.explanation.push(guardrails::explain(l, request));
        }
        if !self.supplied {
            out.explanation.push(
                "No service control, resource control or VPC endpoint policy was supplied: those layers were not evaluated."
                    .to_string(),
            );
        }
    }
}

/// The services whose authorization this evaluator models: S3's (bucket policies, cross-account
/// grants, ACL-free ownership) and KMS's (key policies that must delegate to IAM).
const MODELED_SERVICES: [&str; 2] = ["s3", "kms"];

/// The service of an action this evaluator does not model (`sts`, `iam`, ...), if it is one.
fn unmodeled_service(action: &str) -> Option<String> {
    let (service, _) = action.split_once(':')?;
    let service = service.to_ascii_lowercase();
    (!MODELED_SERVICES.contains(&service.as_str())).then_some(service)
}

/// The answer for an action of a service with rules of its own: unknown, never a guess. (STS,
/// for one: a role's trust policy must allow the caller even within its own account, which
/// S3's rules would get wrong.)
fn unmodeled(request: &Request, service: &str) -> Evaluation {
    Evaluation {
        decision: Decision::Unknown,
        explanation: vec![format!(
            "{} is a {service} action: s3ferry evaluates S3 and KMS authorization only, and {service} has rules of \
             its own, so this request is not decided. Use the IAM policy simulator or try the call.",
            request.action
        )],
        matched: Vec::new(),
        missing_context: Vec::new(),
        flags: vec![format!("the {service} service is not modeled: the verdict is unknown")],
        fixes: Vec::new(),
    }
}

/// Evaluates several requests against one policy set (policies of other accounts are ignored per request).
pub fn evaluate_all(requests: &[Request], policies: &[LabelledPolicy]) -> Vec<Evaluation> {
    requests.iter().map(|r| evaluate(r, policies)).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Tri {
    No,
    Maybe,
    Yes,
}

impl Tri {
    pub(super) fn or(self, o: Tri) -> Tri {
        self.max(o)
    }
    pub(super) fn and(self, o: Tri) -> Tri {
        self.min(o)
    }
}

pub(super) struct StmtOutcome<'p> {
    pub index: usize,
    pub stmt: &'p Statement,
    pub hit: PrincipalHit,
    pub applies: Tri,
    pub failed_condition: Option<usize>,
    pub unknown: Option<String>,
}

pub(super) struct PolicyOutcome<'p> {
    pub policy: &'p LabelledPolicy,
    pub statements: Vec<StmtOutcome<'p>>,
    pub allow_direct: Tri,
    pub allow_via: Tri,
    /// Allows naming the caller's own ARN (also counted in `allow_direct`).
    pub allow_exact: Tri,
    pub deny: Tri,
}

impl PolicyOutcome<'_> {
    pub(super) fn sref(&self, o: &StmtOutcome) -> StatementRef {
        StatementRef {
            policy: self.policy.name.clone(),
            kind: self.policy.kind,
            account: self.policy.account.clone(),
            sid: o.stmt.sid.clone(),
            index: o.index,
            effect: o.stmt.effect,
        }
    }
}

/// The request context plus keys derivable from the request itself (never overriding the caller's).
struct EvalContext<'r> {
    base: &'r Context,
    derived: Vec<(&'static str, [String; 1])>,
}

impl Lookup for EvalContext<'_> {
    fn get(&self, key_lower: &str) -> Option<&[String]> {
        self.base
            .get_lower(key_lower)
            .or_else(|| self.derived.iter().find(|(k, _)| *k == key_lower).map(|(_, v)| v.as_slice()))
    }
}

impl<'r> EvalContext<'r> {
    fn new(request: &'r Request, caller: &Caller, kms: bool, resource_account: Option<&str>) -> Self {
        let mut derived: Vec<(&'static str, [String; 1])> = Vec::with_capacity(6);
        let principal_arn = match caller.kind {
            CallerKind::Session { role_arn, .. } => role_arn.map(str::to_string),
            _ => Some(caller.arn.to_string()),
        };
        if let Some(arn) = principal_arn {
            derived.push(("aws:principalarn", [arn]));
        }
        derived.push(("aws:principalaccount", [caller.account.to_string()]));
        derived.push(("aws:principalisawsservice", ["false".to_string()]));
        let ptype = match caller.kind {
            CallerKind::Root => Some("Account"),
            CallerKind::User => Some("User"),
            CallerKind::Role | CallerKind::Session { .. } => Some("AssumedRole"),
            CallerKind::Other => None,
        };
        if let Some(t) = ptype {
            derived.push(("aws:principaltype", [t.to_string()]));
        }
        if let CallerKind::User = caller.kind {
            let name = caller.arn.rsplit('/').next().unwrap_or_default();
            derived.push(("aws:username", [name.to_string()]));
        }
        if let Some(ra) = resource_account {
            derived.push(("aws:resourceaccount", [ra.to_string()]));
        }
        if kms {
            derived.push(("kms:calleraccount", [caller.account.to_string()]));
        }
        EvalContext { base: &request.context, derived }
    }
}

pub fn evaluate(request: &Request, policies: &[LabelledPolicy]) -> Evaluation {
    if let Some(service) = unmodeled_service(&request.action) {
        return unmodeled(request, &service);
    }
    let caller = Caller::new(&request.principal);
    let kms = request.is_kms();
    let resource_account = effective_resource_account(request);
    let ctx = EvalContext::new(request, &caller, kms, resource_account);
    let mut out = Out::default();

    let resource_kind = if kms { PolicyKind::Key } else { PolicyKind::Bucket };
    let mut relevant: Vec<&LabelledPolicy> = Vec::with_capacity(policies.len());
    for p in policies.iter().filter(|p| !p.kind.is_guardrail()) {
        match irrelevance(p, &caller, resource_kind, resource_account) {
            None => relevant.push(p),
            Some(why) => out.explanation_note(format!("{} ({}) ignored: {why}.", p.name, p.kind.describe())),
        }
    }
    let has_boundary = relevant.iter().any(|p| p.kind == PolicyKind::Boundary);
    let outcomes: Vec<PolicyOutcome> =
        relevant.iter().map(|p| evaluate_policy(p, request, &caller, &ctx, has_boundary, &mut out)).collect();
    flag_principals(&outcomes, &caller, &mut out);
    flag_request(request, &caller, kms, &mut out);

    let side = |kind: PolicyKind, via: bool| {
        outcomes
            .iter()
            .filter(|o| o.policy.kind == kind)
            .fold(Tri::No, |acc, o| acc.or(if via { o.allow_via } else { o.allow_direct }))
    };
    let present = |kind: PolicyKind| outcomes.iter().any(|o| o.policy.kind == kind);
    let identity = if caller.is_root() { Tri::Yes } else { side(PolicyKind::Identity, false) };
    let boundary = if present(PolicyKind::Boundary) { side(PolicyKind::Boundary, false) } else { Tri::Yes };
    let session = if present(PolicyKind::Session) { side(PolicyKind::Session, false) } else { Tri::Yes };
    // Every KMS key has a key policy: when none was supplied the key side is unknown, not absent.
    let key_missing = kms && !present(PolicyKind::Key);
    let (res_direct, res_via) =
        if key_missing { (Tri::Maybe, Tri::Maybe) } else { (side(resource_kind, false), side(resource_kind, true)) };
    let deny = outcomes.iter().fold(Tri::No, |acc, o| acc.or(o.deny));
    let res_exact = if key_missing {
        Tri::No
    } else {
        outcomes.iter().filter(|o| o.policy.kind == resource_kind).fold(Tri::No, |acc, o| acc.or(o.allow_exact))
    };
    // A grant to a user's own ARN escapes the boundary, not a session policy: only a grant to the
    // session's own ARN escapes that.
    let res_exact = match caller.kind {
        CallerKind::Session { .. } => res_exact,
        _ => res_exact.and(session),
    };
    let sides = Sides { identity, boundary, session, res_direct, res_via, res_exact };
    let same = resource_account.map(|ra| ra == caller.account);
    let allowed = match same {
        Some(s) => sides.allowed(s, kms),
        None => {
            let (a, b) = (sides.allowed(true, kms), sides.allowed(false, kms));
            if a == b { a } else { Tri::Maybe }
        }
    };
    let decision = match (deny, allowed) {
        (Tri::Yes, _) => Decision::ExplicitDeny,
        (_, Tri::No) => Decision::ImplicitDeny,
        (Tri::No, Tri::Yes) => Decision::Allow,
        _ => Decision::Unknown,
    };
    let guards = Guards::evaluate(policies, request, &caller, &ctx, resource_account, &mut out);
    let decision = guards.limit(decision);

    let names = Names::new(request, &caller, resource_account);
    out.explanation.insert(0, rule_line(&names, same, kms));
    explain_denies(&outcomes, &ctx, &names, &mut out);
    explain_caller_side(&outcomes, &caller, &sides, &ctx, &names, &mut out);
    explain_resource_side(&outcomes, resource_kind, key_missing, &ctx, &names, &mut out);
    explain_missing_context(&mut out);
    if decision == Decision::ImplicitDeny {
        let needs = sides.needs(same.unwrap_or(false), kms);
        if fixable(request) {
            out.fixes = fixes_for(&needs, &outcomes, resource_kind, &names, request, resource_account);
            out.fixes.extend(guardrails::fixes(&guards.layers, request));
        } else {
            out.flag(format!(
                "no fix proposed: \"{}\" on \"{}\" is not a service:action on an ARN.",
                request.action, request.resource
            ));
        }
    }
    out.explanation.push(conclusion(decision, deny.or(guards.denies), &sides, same, kms, &out.fixes));
    guards.explain(request, &mut out);
    for o in outcomes.iter().chain(&guards.outcomes) {
        for s in o.statements.iter().filter(|s| s.applies == Tri::Yes) {
            out.matched.push(o.sref(s));
        }
    }
    Evaluation {
        decision,
        explanation: out.explanation,
        matched: out.matched,
        missing_context: out.missing_context,
        flags: out.flags,
        fixes: out.fixes,
    }
}

#[derive(Default)]
pub(super) struct Out {
    pub explanation: Vec<String>,
    pub matched: Vec<StatementRef>,
    pub missing_context: Vec<String>,
    pub flags: Vec<String>,
    pub fixes: Vec<Fix>,
}

impl Out {
    pub(super) fn explanation_note(&mut self, s: String) {
        self.explanation.push(s);
    }

    pub(super) fn flag(&mut self, s: String) {
        if !self.flags.contains(&s) {
            self.flags.push(s);
        }
    }

    fn missing(&mut self, key: &str) {
        if !self.missing_context.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            self.missing_context.push(key.to_string());
        }
    }
}

pub(super) struct Sides {
    pub identity: Tri,
    pub boundary: Tri,
    pub session: Tri,
    pub res_direct: Tri,
    pub res_via: Tri,
    /// A resource-policy grant naming the caller's own ARN (user or role session).
    pub res_exact: Tri,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Need {
    Identity,
    Boundary,
    Session,
    Resource,
}

impl Sides {
    fn limits(&self) -> Tri {
        self.boundary.and(self.session)
    }

    fn allowed(&self, same: bool, kms: bool) -> Tri {
        let grant = match (same, kms) {
            // An account-root grant in a bucket policy adds nothing the identity policy does not already give.
            (true, false) => self.identity.or(self.res_direct),
            // IAM policies alone never suffice for KMS: the key policy must allow or delegate to the account.
            (true, true) => self.res_direct.or(self.res_via.and(self.identity)),
            (false, _) => self.identity.and(self.res_direct.or(self.res_via)),
        };
        // Within one account, a resource policy that names the user's or the role session's own
        // ARN is not limited by an implicit deny in a permissions boundary or a session policy;
        // one naming the role ARN is (IAM User Guide, "Policy evaluation logic": "Identity-based
        // policies with permissions boundaries" and "Session policies"). Explicit denies still win.
        let exact = if same { self.res_exact } else { Tri::No };
        grant.and(self.limits()).or(exact)
    }

    /// What must change for an implicit deny; only sides that are definitely "no".
    pub(super) fn needs(&self, same: bool, kms: bool) -> Vec<Need> {
        let mut needs = Vec::new();
        match (same, kms) {
            (true, false) => {
                if self.identity.or(self.res_direct) == Tri::No {
                    needs.push(Need::Identity);
                }
            }
            (true, true) => {
                if self.res_direct.or(self.res_via.and(self.identity)) == Tri::No {
                    // With a root delegation in place the identity policy is what is missing; otherwise
                    // naming the role in the key policy is the smaller change.
                    needs.push(if self.res_via == Tri::Yes { Need::Identity } else { Need::Resource });
                }
            }
            (false, _) => {
                if self.identity == Tri::No {
                    needs.push(Need::Identity);
                }
                if self.res_direct.or(self.res_via) == Tri::No {
                    needs.push(Need::Resource);
                }
            }
        }
        if self.boundary == Tri::No {
            needs.push(Need::Boundary);
        }
        if self.session == Tri::No {
            needs.push(Need::Session);
        }
        needs
    }
}

fn effective_resource_account(request: &Request) -> Option<&str> {
    if !request.resource_account.is_empty() {
        return Some(request.resource_account.as_str());
    }
    parse_arn(&request.resource).map(|a| a.account).filter(|a| is_account_id(a))
}

/// Why a supplied policy does not take part in this request, if it does not.
fn irrelevance(
    p: &LabelledPolicy,
    caller: &Caller,
    resource_kind: PolicyKind,
    resource_account: Option<&str>,
) -> Option<String> {
    let account_differs = |want: &str| !p.account.is_empty() && p.account != want;
    match p.kind {
        PolicyKind::Identity | PolicyKind::Boundary | PolicyKind::Session if account_differs(caller.account) => {
            Some(format!("it belongs to account {}, the caller is in account {}", p.account, caller.account))
        }
        PolicyKind::Identity | PolicyKind::Boundary | PolicyKind::Session => None,
        k if k != resource_kind => Some(format!(
            "a {} does not govern a {} request",
            k.describe(),
            if resource_kind == PolicyKind::Key { "KMS" } else { "non-KMS" }
        )),
        _ => match resource_account {
            Some(ra) if account_differs(ra) => {
                Some(format!("it belongs to account {}, the resource is in account {ra}", p.account))
            }
            _ => None,
        },
    }
}

fn action_in(stmt: &Statement, action: &str) -> bool {
    match &stmt.action {
        ActionSpec::Action(list) => list.iter().any(|a| action_matches(a, action)),
        ActionSpec::NotAction(list) => !list.iter().any(|a| action_matches(a, action)),
    }
}

/// Err: a policy variable had no value.
fn resource_in(stmt: &Statement, resource: &str, vars: bool, ctx: &dyn Lookup) -> Result<bool, Unbound> {
    let (list, negate) = match &stmt.resource {
        ResourceSpec::Resource(l) => (l, false),
        ResourceSpec::NotResource(l) => (l, true),
    };
    let mut any = false;
    for pattern in list {
        if resource_matches(pattern, resource, vars, ctx)? {
            any = true;
            break;
        }
    }
    Ok(any != negate)
}

fn evaluate_policy<'p>(
    p: &'p LabelledPolicy,
    request: &Request,
    caller: &Caller,
    ctx: &EvalContext,
    has_boundary: bool,
    out: &mut Out,
) -> PolicyOutcome<'p> {
    let vars = p.document.supports_variables();
    let mut statements = Vec::new();
    let (mut allow_direct, mut allow_via, mut allow_exact, mut deny) = (Tri::No, Tri::No, Tri::No, Tri::No);
    for (index, stmt) in p.document.statements.iter().enumerate() {
        if !action_in(stmt, &request.action) {
            continue;
        }
        let hit = match &stmt.principal {
            None => PrincipalHit::Direct,
            Some(PrincipalSpec::Principal(set)) => match_principal(set, caller),
            // AWS: a Deny with NotPrincipal always denies principals that have a permissions boundary.
            // A Deny escapes only a caller whose every link is listed; an Allow grants only a
            // caller none of whose links is listed (see `not_principal_names_any`).
            Some(PrincipalSpec::NotPrincipal(set)) => {
                let applies = match stmt.effect {
                    Effect::Deny => has_boundary || !not_principal_excludes(set, caller),
                    Effect::Allow => !not_principal_names_any(set, caller),
                };
                if applies { PrincipalHit::Direct } else { PrincipalHit::None }
            }
        };
        if hit == PrincipalHit::None {
            continue;
        }
        let mut applies = Tri::Yes;
        let mut unknown = None;
        match resource_in(stmt, &request.resource, vars, ctx) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(var) => {
                applies = Tri::Maybe;
                unknown = Some(format!("the Resource uses policy variable {var}, which has no value in the request"));
            }
        }
        let mut failed_condition = None;
        for (ci, c) in stmt.conditions.iter().enumerate() {
            if ctx.get(&c.key_lower).is_none_or(|v| v.is_empty()) {
                out.missing(&c.key);
            }
            match condition::evaluate(c, ctx, vars) {
                CondResult::True => {}
                CondResult::False => {
                    failed_condition.get_or_insert(ci);
                }
                CondResult::Unknown(reason) => {
                    unknown.get_or_insert(reason);
                }
            }
        }
        if failed_condition.is_some() {
            applies = Tri::No;
        } else if unknown.is_some() {
            applies = Tri::Maybe;
        }
        match (stmt.effect, hit) {
            (Effect::Deny, _) => deny = deny.or(applies),
            (Effect::Allow, PrincipalHit::ViaAccount) => allow_via = allow_via.or(applies),
            (Effect::Allow, PrincipalHit::Exact) => {
                allow_direct = allow_direct.or(applies);
                allow_exact = allow_exact.or(applies);
            }
            (Effect::Allow, _) => allow_direct = allow_direct.or(applies),
        }
        statements.push(StmtOutcome { index, stmt, hit, applies, failed_condition, unknown });
    }
    PolicyOutcome { policy: p, statements, allow_direct, allow_via, allow_exact, deny }
}
