//! Role trust policies judged for an AWS service principal (`"Principal": {"Service": ...}`):
//! may this service assume the role? The caller-side matcher in [`super::evaluate`] knows IAM
//! principals only; a service is never an IAM principal, so it is matched here, with the same
//! action globs and condition operators.
//!
//! AWS: the trust policy alone decides whether a service may assume a role in the same account
//! (no identity policy is involved); any matching Deny wins; conditions combine as everywhere.

use serde::Serialize;

use super::condition::{self, CondResult};
use super::document::{ActionSpec, Effect, PolicyKind, PrincipalSet, PrincipalSpec, PrincipalType, Statement};
use super::evaluate::{Decision, LabelledPolicy, StatementRef, Tri};
use super::matcher::action_matches;
use super::request::Context;

/// The outcome for one service and action against one trust policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrustEvaluation {
    pub decision: Decision,
    pub explanation: Vec<String>,
    /// Statements that applied (allows and denies).
    pub matched: Vec<StatementRef>,
    /// Context keys conditions of otherwise-matching statements needed but the request lacked.
    pub missing_context: Vec<String>,
}

/// Does `policy` (a [`PolicyKind::Trust`] document) let `service` perform `action` (usually
/// `sts:AssumeRole`) with `context` (e.g. `aws:SourceAccount`, `aws:SourceArn`)?
pub fn evaluate_trust(policy: &LabelledPolicy, service: &str, action: &str, context: &Context) -> TrustEvaluation {
    let mut out = TrustEvaluation {
        decision: Decision::ImplicitDeny,
        explanation: Vec::new(),
        matched: Vec::new(),
        missing_context: Vec::new(),
    };
    if policy.kind != PolicyKind::Trust {
        out.decision = Decision::Unknown;
        out.explanation.push(format!("{} is a {}, not a role trust policy", policy.name, policy.kind.describe()));
        return out;
    }
    let vars = policy.document.supports_variables();
    let (mut allow, mut deny) = (Tri::No, Tri::No);
    for (index, stmt) in policy.document.statements.iter().enumerate() {
        if !action_in(stmt, action) || !names_service(stmt, service) {
            continue;
        }
        let at = match &stmt.sid {
            Some(sid) => format!("{} statement \"{sid}\" (Statement[{index}])", policy.name),
            None => format!("{} Statement[{index}]", policy.name),
        };
        let mut applies = Tri::Yes;
        for c in &stmt.conditions {
            if context.get(&c.key).is_none_or(|v| v.is_empty())
                && !out.missing_context.iter().any(|k| k.eq_ignore_ascii_case(&c.key))
            {
                out.missing_context.push(c.key.clone());
            }
            match condition::evaluate(c, context, vars) {
                CondResult::True => {}
                CondResult::False => {
                    let have = context.get(&c.key).map(|v| v.join(", ")).unwrap_or_else(|| "(absent)".to_string());
                    out.explanation.push(format!(
                        "{at} does not apply: condition {} {} {:?} is not met (the request has {have})",
                        c.operator.name, c.key, c.values
                    ));
                    applies = Tri::No;
                }
                CondResult::Unknown(why) => {
                    out.explanation.push(format!("{at} may or may not apply: {why}"));
                    applies = applies.min(Tri::Maybe);
                }
            }
        }
        if applies == Tri::No {
            continue;
        }
        match stmt.effect {
            Effect::Allow => {
                allow = allow.max(applies);
                out.explanation.push(format!("{at} allows {service} to {action}."));
            }
            Effect::Deny => {
                deny = deny.max(applies);
                out.explanation.push(format!("{at} denies {service} {action}."));
            }
        }
        if applies == Tri::Yes {
            out.matched.push(StatementRef {
                policy: policy.name.clone(),
                kind: policy.kind,
                account: policy.account.clone(),
                sid: stmt.sid.clone(),
                index,
                effect: stmt.effect,
            });
        }
    }
    out.decision = match (deny, allow) {
        (Tri::Yes, _) => Decision::ExplicitDeny,
        (_, Tri::No) => Decision::ImplicitDeny,
        (Tri::No, Tri::Yes) => Decision::Allow,
        _ => Decision::Unknown,
    };
    if out.decision == Decision::ImplicitDeny {
        out.explanation
            .push(format!("no statement of {} lets the service principal {service} perform {action}", policy.name));
    }
    out
}

fn action_in(stmt: &Statement, action: &str) -> bool {
    match &stmt.action {
        ActionSpec::Action(list) => list.iter().any(|a| action_matches(a, action)),
        ActionSpec::NotAction(list) => !list.iter().any(|a| action_matches(a, action)),
    }
}

/// Service principal names compare case-insensitively (`batchoperations.s3.amazonaws.com`).
fn names_service(stmt: &Statement, service: &str) -> bool {
    let listed = |set: &PrincipalSet| match set {
        PrincipalSet::Any => true,
        PrincipalSet::Map(entries) => entries.iter().any(|e| {
            (e.kind == PrincipalType::Service && e.value.eq_ignore_ascii_case(service))
                || (e.kind == PrincipalType::Aws && e.value == "*")
        }),
    };
    match &stmt.principal {
        Some(PrincipalSpec::Principal(set)) => listed(set),
        Some(PrincipalSpec::NotPrincipal(set)) => !listed(set),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::policy::parse_policy;

    const SVC: &str = "batchoperations.s3.amazonaws.com";

    fn trust(text: &str) -> LabelledPolicy {
        LabelledPolicy::new(
            PolicyKind::Trust,
            "trust policy of job",
            "111111111111",
            parse_policy(text, PolicyKind::Trust).unwrap(),
        )
    }

    fn ctx() -> Context {
        Context::new()
            .with("aws:SourceAccount", "111111111111")
            .with("aws:SourceArn", "arn:aws:s3:eu-west-2:111111111111:job/new")
    }

    #[test]
    fn service_principal_allows_and_others_do_not() {
        let good = trust(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"batchoperations.s3.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        );
        assert_eq!(evaluate_trust(&good, SVC, "sts:AssumeRole", &ctx()).decision, Decision::Allow);
        let ec2 = trust(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}]}"#,
        );
        let e = evaluate_trust(&ec2, SVC, "sts:AssumeRole", &ctx());
        assert_eq!(e.decision, Decision::ImplicitDeny);
        assert!(e.explanation.last().unwrap().contains(SVC));
        let user = trust(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:*"}]}"#,
        );
        assert_eq!(evaluate_trust(&user, SVC, "sts:AssumeRole", &ctx()).decision, Decision::ImplicitDeny);
    }

    #[test]
    fn conditions_and_denies() {
        let scoped = trust(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"batchoperations.s3.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"222222222222"}}}]}"#,
        );
        let e = evaluate_trust(&scoped, SVC, "sts:AssumeRole", &ctx());
        assert_eq!(e.decision, Decision::ImplicitDeny);
        assert!(e.explanation[0].contains("aws:SourceAccount"), "{:?}", e.explanation);
        let arn = trust(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"batchoperations.s3.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:s3:*:111111111111:job/*"}}}]}"#,
        );
        assert_eq!(evaluate_trust(&arn, SVC, "sts:AssumeRole", &ctx()).decision, Decision::Allow);
        let e = evaluate_trust(&arn, SVC, "sts:AssumeRole", &Context::new());
        assert_eq!(e.decision, Decision::ImplicitDeny);
        assert_eq!(e.missing_context, ["aws:SourceArn"]);
        let denied = trust(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"batchoperations.s3.amazonaws.com"},"Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole"}]}"#,
        );
        let e = evaluate_trust(&denied, SVC, "sts:AssumeRole", &ctx());
        assert_eq!(e.decision, Decision::ExplicitDeny);
        assert_eq!(e.matched.len(), 2);
    }

    #[test]
    fn trust_documents_take_no_resource() {
        let err = parse_policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"x"},"Action":"sts:AssumeRole","Resource":"*"}]}"#,
            PolicyKind::Trust,
        )
        .unwrap_err();
        assert!(err.message.contains("Resource"), "{err}");
        let err = parse_policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#,
            PolicyKind::Trust,
        )
        .unwrap_err();
        assert!(err.message.contains("Principal"), "{err}");
    }
}
