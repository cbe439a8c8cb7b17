//! The organization's layers and the endpoint's: SCPs, RCPs and VPC endpoint policies only ever
//! take away (IAM User Guide, "Policy evaluation logic" and "Service control policies";
//! AWS Organizations User Guide, "Resource control policies"; Amazon VPC "Control access to VPC
//! endpoints using endpoint policies"). Each case: the account's own policies allow the
//! transfer session to write OBJ across accounts; the layers decide the rest.

mod common;

use common::*;
use s3ferry::core::policy::{Decision, LabelledPolicy, PolicyKind, Request, evaluate};

use Decision::{Allow, ExplicitDeny, ImplicitDeny};
use PolicyKind::{Endpoint, Rcp, Scp};

const ALLOW_ALL: &str = r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#;
const ALLOW_ALL_P: &str = r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}"#;

fn base() -> Vec<LabelledPolicy> {
    let id = doc(&[st("Allow", None, r#""s3:PutObject""#, r#""arn:aws:s3:::datalake-raw/*""#, None)]);
    let bucket = doc(&[st("Allow", Some(&aws(ROLE)), r#""s3:PutObject""#, r#""arn:aws:s3:::datalake-raw/*""#, None)]);
    vec![labelled(PolicyKind::Identity, "inline:write", SRC, &id), labelled(PolicyKind::Bucket, "bucket", DST, &bucket)]
}

fn layer(kind: PolicyKind, name: &str, account: &str, statements: &[&str]) -> LabelledPolicy {
    let statements: Vec<String> = statements.iter().map(|s| s.to_string()).collect();
    labelled(kind, name, account, &doc(&statements))
}

fn request() -> Request {
    Request::new(session(), "s3:PutObject", OBJ, DST).with_context("aws:SecureTransport", "true")
}

struct Case {
    rule: &'static str,
    layers: Vec<LabelledPolicy>,
    expect: Decision,
    /// Text the explanation must hold.
    explain: &'static str,
    /// Kinds of the fixes proposed, in order.
    fixes: Vec<PolicyKind>,
}

fn cases() -> Vec<Case> {
    let deny_outside_org = r#"{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"StringNotEquals":{"aws:ResourceOrgID":"o-abc"}}}"#;
    vec![
        // rule: with no layer supplied, the account's decision stands and the note says so
        Case { rule: "no layers", layers: vec![], expect: Allow, explain: "were not evaluated", fixes: vec![] },
        // rule: every SCP level allows (FullAWSAccess at root and OU)
        Case {
            rule: "scp full access at each level",
            layers: vec![layer(Scp, "scp:root", SRC, &[ALLOW_ALL]), layer(Scp, "scp:ou", SRC, &[ALLOW_ALL])],
            expect: Allow,
            explain: "scp:ou (service control policy) allows",
            fixes: vec![],
        },
        // rule: one level without an allow caps everything below it (implicit deny)
        Case {
            rule: "scp level without allow",
            layers: vec![
                layer(Scp, "scp:root", SRC, &[ALLOW_ALL]),
                layer(Scp, "scp:ou", SRC, &[r#"{"Effect":"Allow","Action":"ec2:*","Resource":"*"}"#]),
            ],
            expect: ImplicitDeny,
            explain: "scp:ou (service control policy) does not allow",
            fixes: vec![Scp],
        },
        // rule: an SCP Deny wins (deny outside the organization, the resource has no org id)
        Case {
            rule: "scp explicit deny",
            layers: vec![layer(Scp, "scp:root", SRC, &[ALLOW_ALL, deny_outside_org])],
            expect: ExplicitDeny,
            explain: "explicitly denies",
            fixes: vec![],
        },
        // rule: SCPs attached above another account do not govern the caller
        Case {
            rule: "scp of another account",
            layers: vec![layer(Scp, "scp:other", OTHER, &[r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#])],
            expect: Allow,
            explain: "ignored",
            fixes: vec![],
        },
        // rule: an RCP on the destination's account must allow at each level
        Case {
            rule: "rcp without allow",
            layers: vec![layer(
                Rcp,
                "rcp:root",
                DST,
                &[r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}"#],
            )],
            expect: ImplicitDeny,
            explain: "rcp:root (resource control policy) does not allow",
            fixes: vec![Rcp],
        },
        // rule: an RCP Deny for principals outside the organization denies a cross-org writer
        Case {
            rule: "rcp deny outside org",
            layers: vec![layer(
                Rcp,
                "rcp:root",
                DST,
                &[
                    ALLOW_ALL_P,
                    r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringNotEqualsIfExists":{"aws:PrincipalOrgID":"o-lake"}}}"#,
                ],
            )],
            expect: ExplicitDeny,
            explain: "explicitly denies",
            fixes: vec![],
        },
        // rule: RCPs of the source account do not govern the destination's resources
        Case {
            rule: "rcp of another account",
            layers: vec![layer(
                Rcp,
                "rcp:src",
                SRC,
                &[r#"{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}"#],
            )],
            expect: Allow,
            explain: "ignored",
            fixes: vec![],
        },
        // rule: a gateway endpoint policy that allows only the account's own buckets blocks the write
        Case {
            rule: "endpoint allows own buckets only",
            layers: vec![layer(
                Endpoint,
                "endpoint:vpce-1",
                "",
                &[
                    r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::prod-exports","arn:aws:s3:::prod-exports/*"]}"#,
                ],
            )],
            expect: ImplicitDeny,
            explain: "endpoint:vpce-1 (VPC endpoint policy) does not allow",
            fixes: vec![Endpoint],
        },
        // rule: the default endpoint policy (full access) allows
        Case {
            rule: "endpoint full access",
            layers: vec![layer(Endpoint, "endpoint:vpce-1", "", &[ALLOW_ALL_P])],
            expect: Allow,
            explain: "endpoint:vpce-1 (VPC endpoint policy) allows",
            fixes: vec![],
        },
        // rule: an endpoint policy naming another principal does not allow the caller
        Case {
            rule: "endpoint names someone else",
            layers: vec![layer(
                Endpoint,
                "endpoint:vpce-1",
                "",
                &[
                    r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::333333333333:root"},"Action":"s3:*","Resource":"*"}"#,
                ],
            )],
            expect: ImplicitDeny,
            explain: "does not allow",
            fixes: vec![Endpoint],
        },
        // rule: a condition that cannot be decided leaves the verdict unknown, never allowed
        Case {
            rule: "scp with undecidable condition",
            layers: vec![layer(
                Scp,
                "scp:root",
                SRC,
                &[
                    r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/team":"data"}}}"#,
                ],
            )],
            expect: ImplicitDeny,
            explain: "does not allow",
            fixes: vec![Scp],
        },
    ]
}

#[test]
fn layers_only_take_away() {
    let mut failures = Vec::new();
    for c in cases() {
        let mut policies = base();
        policies.extend(c.layers.iter().cloned());
        let e = evaluate(&request(), &policies);
        let text = e.explanation.join("\n");
        let kinds: Vec<PolicyKind> = e.fixes.iter().map(|f| f.policy).filter(|k| k.is_guardrail()).collect();
        if e.decision != c.expect || !text.contains(c.explain) || kinds != c.fixes {
            failures.push(format!(
                "[{}] decision {:?} (want {:?}), fixes {kinds:?} (want {:?}), explanation:\n  {}",
                c.rule,
                e.decision,
                c.expect,
                c.fixes,
                e.explanation.join("\n  ")
            ));
        }
        // The property the preflight rests on: a layer never turns a denial into an allow.
        let without = evaluate(&request(), &base()).decision;
        if e.decision == Allow && without != Allow {
            failures.push(format!("[{}] a layer granted", c.rule));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn an_allowing_fix_applied_to_its_level_allows() {
    // The proposed statement, merged into the level that lacked it, lets the request through.
    let lacking = layer(Scp, "scp:ou", SRC, &[r#"{"Effect":"Allow","Action":"ec2:*","Resource":"*"}"#]);
    let mut policies = base();
    policies.push(lacking);
    let e = evaluate(&request(), &policies);
    assert_eq!(e.decision, ImplicitDeny);
    let fix = e.fixes.iter().find(|f| f.policy == Scp).expect("an SCP fix");
    assert!(fix.target.contains("scp:ou") && fix.target.contains("administrator"), "{}", fix.target);
    let statement: String = {
        let v: serde_json::Value = serde_json::from_str(&fix.json).unwrap();
        v["Statement"][0].to_string()
    };
    let merged = layer(Scp, "scp:ou", SRC, &[r#"{"Effect":"Allow","Action":"ec2:*","Resource":"*"}"#, &statement]);
    let mut policies = base();
    policies.push(merged);
    assert_eq!(evaluate(&request(), &policies).decision, Allow);
}
