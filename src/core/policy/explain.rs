//! Explanations and warnings: readable sentences naming the policy, Sid and account behind a decision.

use super::condition::{self, always_present};
use super::document::{Effect, PolicyKind, PrincipalSet, PrincipalSpec, PrincipalType};
use super::evaluate::{Decision, Need, Out, PolicyOutcome, Sides, StatementRef, Tri};
use super::fix::Fix;
use super::matcher::{Caller, CallerKind, PrincipalHit, is_unique_id, not_principal_excludes};
use super::request::{Lookup, Request};

pub(super) fn flag_principals(outcomes: &[PolicyOutcome], caller: &Caller, out: &mut Out) {
    for o in outcomes.iter().filter(|o| o.policy.kind.is_resource_policy()) {
        for (index, stmt) in o.policy.document.statements.iter().enumerate() {
            let (set, negated) = match &stmt.principal {
                Some(PrincipalSpec::Principal(PrincipalSet::Map(set))) => (set, false),
                Some(PrincipalSpec::NotPrincipal(PrincipalSet::Map(set))) => (set, true),
                _ => continue,
            };
            let at = match &stmt.sid {
                Some(sid) => format!("{} statement \"{sid}\" (Statement[{index}])", o.policy.name),
                None => format!("{} Statement[{index}]", o.policy.name),
            };
            for e in set.iter().filter(|e| e.kind == PrincipalType::Aws) {
                if is_unique_id(&e.value) {
                    out.flag(format!(
                        "{at}: principal \"{}\" is an IAM unique id, not an ARN: the role or user it named was deleted \
                         (role deleted and recreated?). It matches nobody until the policy names the ARN again.",
                        e.value
                    ));
                } else if e.value != "*" && (e.value.contains('*') || e.value.contains('?')) {
                    out.flag(format!(
                        "{at}: principal \"{}\" has a partial wildcard; AWS accepts only \"*\" on its own in \
                         principals, so it matches nothing here.",
                        e.value
                    ));
                }
            }
            if negated && stmt.effect == Effect::Deny {
                let excluded = not_principal_excludes(&PrincipalSet::Map(set.clone()), caller);
                let mentions = set.iter().any(|e| e.value == caller.arn || caller.role_arn() == Some(e.value.as_str()));
                if mentions && !excluded {
                    out.flag(format!(
                        "{at}: NotPrincipal lists the caller but not every link of its chain (account root, role, \
                         session); AWS may check each, so the Deny still applies to it."
                    ));
                }
            }
        }
    }
}

pub(super) fn flag_request(request: &Request, caller: &Caller, kms: bool, out: &mut Out) {
    if let CallerKind::Session { role_arn: None, .. } = caller.kind {
        out.flag(format!(
            "the role ARN of session {} is unknown: role principals were matched by account and role name (the role \
             path cannot be checked), aws:PrincipalArn was not derived, and fixes name {} (add the role's path if it \
             has one).",
            caller.arn,
            caller.grantee_arn()
        ));
    }
    if kms && request.resource.contains(":alias/") {
        out.flag(
            "the resource is a KMS alias: key and IAM policies are evaluated against the key ARN, and aliases \
             resolve in the caller's account; use the full key ARN."
                .to_string(),
        );
    }
}

/// Phrases reused across sentences.
pub(super) struct Names {
    pub action: String,
    pub resource: String,
    pub grantee: String,
    /// The caller as STS reports it, with its role when that differs.
    pub caller: String,
    pub caller_account: String,
    pub resource_account: String,
}

impl Names {
    pub(super) fn new(request: &Request, caller: &Caller, resource_account: Option<&str>) -> Self {
        Names {
            action: request.action.clone(),
            resource: request.resource.clone(),
            grantee: caller.grantee_arn(),
            caller: match caller.kind {
                CallerKind::Session { .. } => {
                    format!("{} (role {})", caller.arn, caller.grantee_arn())
                }
                _ => caller.arn.to_string(),
            },
            caller_account: caller.account.to_string(),
            resource_account: resource_account.unwrap_or("(unknown)").to_string(),
        }
    }
}

pub(super) fn rule_line(n: &Names, same: Option<bool>, kms: bool) -> String {
    let head = format!(
        "{} in account {} requests {} on {} (account {}).",
        n.caller, n.caller_account, n.action, n.resource, n.resource_account
    );
    let rule = match (same, kms) {
        (None, _) => "The resource account is unknown: the decision holds only if it is the same for a same-account \
                      and a cross-account request."
            .to_string(),
        (Some(true), false) => "Same account: an identity policy or the bucket policy must allow it, within any \
                                permissions boundary and session policy."
            .to_string(),
        (Some(false), false) => format!(
            "Cross-account: an identity policy of account {} AND the bucket policy of account {} must both allow it.",
            n.caller_account, n.resource_account
        ),
        (Some(true), true) => format!(
            "KMS, same account: the key policy must allow it, naming the caller or delegating to account {}'s IAM \
             policies through arn:aws:iam::{}:root; IAM policies alone never suffice.",
            n.caller_account, n.caller_account
        ),
        (Some(false), true) => format!(
            "KMS, cross-account: the key policy (account {}) must allow the caller or account {}, AND an identity \
             policy of account {} must allow it with the key ARN as Resource.",
            n.resource_account, n.caller_account, n.caller_account
        ),
    };
    format!("{head} {rule}")
}

pub(super) fn explain_denies(outcomes: &[PolicyOutcome], ctx: &dyn Lookup, n: &Names, out: &mut Out) {
    for o in outcomes {
        for s in o.statements.iter().filter(|s| s.stmt.effect == Effect::Deny) {
            let sref = o.sref(s);
            match s.applies {
                Tri::Yes => {
                    let because = if s.stmt.conditions.is_empty() {
                        String::new()
                    } else {
                        let conds: Vec<String> =
                            s.stmt.conditions.iter().map(|c| condition::describe(c, ctx)).collect();
                        format!(" because its condition holds: {}", conds.join("; "))
                    };
                    out.explanation.push(format!(
                        "Explicit deny: {sref} (account {}) denies {} on {}{because}. No allow can override it: this \
                         statement must change, or the request must stop matching it.",
                        o.policy.account, n.action, n.resource
                    ));
                }
                Tri::Maybe => out.explanation.push(format!(
                    "Deny {sref} could not be evaluated: {}.",
                    s.unknown.as_deref().unwrap_or("unknown reason")
                )),
                Tri::No => {
                    if let Some(c) = s.failed_condition.and_then(|i| s.stmt.conditions.get(i)) {
                        out.explanation.push(format!(
                            "Deny {sref} does not apply: its condition is false: {}.",
                            condition::describe(c, ctx)
                        ));
                    }
                }
            }
        }
    }
}

fn describe_side(
    out: &mut Out,
    outcomes: &[&PolicyOutcome],
    ctx: &dyn Lookup,
    allowed_line: impl Fn(&StatementRef, PrincipalHit) -> String,
) {
    for o in outcomes {
        for s in o.statements.iter().filter(|s| s.stmt.effect == Effect::Allow) {
            let sref = o.sref(s);
            match s.applies {
                Tri::Yes => out.explanation.push(allowed_line(&sref, s.hit)),
                Tri::Maybe => out.explanation.push(format!(
                    "{sref} might allow it but could not be evaluated: {}.",
                    s.unknown.as_deref().unwrap_or("unknown reason")
                )),
                Tri::No => {
                    if let Some(c) = s.failed_condition.and_then(|i| s.stmt.conditions.get(i)) {
                        out.explanation.push(format!(
                            "{sref} would allow it, but its condition is not met: {}.",
                            condition::describe(c, ctx)
                        ));
                    }
                }
            }
        }
    }
}

pub(super) fn explain_caller_side(
    outcomes: &[PolicyOutcome],
    caller: &Caller,
    sides: &Sides,
    ctx: &dyn Lookup,
    n: &Names,
    out: &mut Out,
) {
    let identity: Vec<&PolicyOutcome> = outcomes.iter().filter(|o| o.policy.kind == PolicyKind::Identity).collect();
    if caller.is_root() {
        out.explanation.push(format!(
            "The caller is the root of account {}: identity policies do not limit it.",
            n.caller_account
        ));
    } else if identity.is_empty() {
        out.explanation.push(format!(
            "No identity policy of account {} was supplied, so nothing on the caller side allows {} on {}.",
            n.caller_account, n.action, n.resource
        ));
    } else {
        describe_side(out, &identity, ctx, |sref, _| {
            format!("Identity side: {sref} allows {} on {}.", n.action, n.resource)
        });
        if sides.identity == Tri::No {
            let names: Vec<&str> = identity.iter().map(|o| o.policy.name.as_str()).collect();
            out.explanation.push(format!(
                "No identity policy of account {} ({}) allows {} to {} on {}.",
                n.caller_account,
                names.join(", "),
                n.grantee,
                n.action,
                n.resource
            ));
        }
    }
    for (kind, tri) in [(PolicyKind::Boundary, sides.boundary), (PolicyKind::Session, sides.session)] {
        let limits: Vec<&PolicyOutcome> = outcomes.iter().filter(|o| o.policy.kind == kind).collect();
        if limits.is_empty() {
            continue;
        }
        describe_side(out, &limits, ctx, |sref, _| {
            format!("Within the {}: {sref} allows {}.", kind.describe(), n.action)
        });
        if tri == Tri::No {
            let names: Vec<&str> = limits.iter().map(|o| o.policy.name.as_str()).collect();
            out.explanation.push(format!(
                "The {} ({}) does not allow {} on {}: it caps what any other policy grants.",
                kind.describe(),
                names.join(", "),
                n.action,
                n.resource
            ));
        }
    }
}

pub(super) fn explain_resource_side(
    outcomes: &[PolicyOutcome],
    kind: PolicyKind,
    key_missing: bool,
    ctx: &dyn Lookup,
    n: &Names,
    out: &mut Out,
) {
    let resource: Vec<&PolicyOutcome> = outcomes.iter().filter(|o| o.policy.kind == kind).collect();
    if key_missing {
        out.explanation.push(format!(
            "No key policy was supplied for {}: every KMS key has one, so the key side is unknown. Supply it \
             (kms:GetKeyPolicy with the key owner's credentials).",
            n.resource
        ));
        return;
    }
    if resource.is_empty() {
        out.explanation.push(format!(
            "No bucket policy was supplied for account {}: treated as the bucket having none.",
            n.resource_account
        ));
        return;
    }
    describe_side(out, &resource, ctx, |sref, hit| match hit {
        PrincipalHit::ViaAccount => format!(
            "{sref} allows account {} as a whole (its root): that delegates to account {}'s identity policies.",
            n.caller_account, n.caller_account
        ),
        _ => format!("{sref} allows {} to {} on {}.", n.grantee, n.action, n.resource),
    });
    for o in &resource {
        if o.allow_direct == Tri::No && o.allow_via == Tri::No {
            out.explanation.push(format!(
                "{} (account {}) has no statement allowing {} to {} on {}.",
                o.policy.name, o.policy.account, n.grantee, n.action, n.resource
            ));
        }
    }
}

pub(super) fn explain_missing_context(out: &mut Out) {
    let keys = out.missing_context.clone();
    for key in keys {
        let line = if always_present(&key.to_ascii_lowercase()) {
            format!("Context key {key} is set by AWS on every request but was not given: conditions on it are unknown.")
        } else {
            format!("Context key {key} was not in the request: conditions on it were evaluated as if it were absent.")
        };
        out.explanation.push(line);
    }
}

pub(super) fn conclusion(
    decision: Decision,
    deny: Tri,
    sides: &Sides,
    same: Option<bool>,
    kms: bool,
    fixes: &[Fix],
) -> String {
    match decision {
        Decision::Allow => "Decision: allow.".to_string(),
        Decision::ExplicitDeny => "Decision: explicit deny (see the denying statement above).".to_string(),
        Decision::Unknown => "Decision: unknown: a statement that could change the outcome could not be evaluated \
                              (see above); supply the missing context or policies."
            .to_string(),
        Decision::ImplicitDeny => {
            let mut missing = Vec::new();
            let needs = sides.needs(same.unwrap_or(false), kms);
            for need in &needs {
                missing.push(match need {
                    Need::Identity => "the identity policy side",
                    Need::Boundary => "the permissions boundary",
                    Need::Session => "the session policy",
                    Need::Resource if kms => "the key policy",
                    Need::Resource => "the bucket policy",
                });
            }
            let mut s = match missing.as_slice() {
                [] => "Decision: implicit deny: no policy allows it.".to_string(),
                [one] => format!("Decision: implicit deny: {one} does not allow it."),
                [a, b] => format!("Decision: implicit deny: neither {a} nor {b} allows it."),
                many => format!("Decision: implicit deny: none of {} allows it.", many.join(", ")),
            };
            if !fixes.is_empty() {
                s.push_str(&format!(" Least-privilege fix for each: see fixes ({}).", fixes.len()));
            }
            if deny == Tri::Maybe {
                s.push_str(" A Deny statement could not be evaluated, so the request may also be explicitly denied.");
            }
            s
        }
    }
}
