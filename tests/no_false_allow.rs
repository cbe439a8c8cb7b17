//! The preflight's first promise: no verdict is `allow` unless some Allow statement's principal,
//! action, resource and conditions all match the request. Random bucket policies are built from
//! statement parts whose match against the request is known; whenever the evaluator allows, one
//! of the Allow statements must be made only of matching parts (and no Deny may match at all).

mod common;

use common::*;
use s3ferry::core::policy::{Decision, PolicyKind, Request, evaluate};

/// (JSON fragment, does it match the request: the transfer role's session writing OBJ into the
/// destination account over TLS).
/// For principals, whether the part matches differs by effect: an Allow with NotPrincipal never
/// grants a caller any link of which it lists; a Deny with NotPrincipal spares only a caller
/// every link of which it lists (account, role, session). (JSON, matches an Allow, a Deny.)
const PRINCIPALS: &[(&str, bool, bool)] = &[
    (r#""Principal":{"AWS":"arn:aws:iam::111111111111:role/ops/transfer"}"#, true, true),
    (r#""Principal":{"AWS":"arn:aws:iam::111111111111:root"}"#, true, true),
    (r#""Principal":{"AWS":"111111111111"}"#, true, true),
    (r#""Principal":"*""#, true, true),
    (r#""Principal":{"AWS":"*"}"#, true, true),
    (r#""Principal":{"AWS":"arn:aws:iam::333333333333:root"}"#, false, false),
    (r#""Principal":{"Service":"s3.amazonaws.com"}"#, false, false),
    (r#""NotPrincipal":{"AWS":"arn:aws:iam::111111111111:role/ops/transfer"}"#, false, true),
    (r#""NotPrincipal":{"AWS":"arn:aws:sts::111111111111:assumed-role/transfer/s3ferry-1"}"#, false, true),
    (r#""NotPrincipal":{"AWS":"111111111111"}"#, false, true),
    (
        r#""NotPrincipal":{"AWS":["111111111111","arn:aws:iam::111111111111:role/ops/transfer","arn:aws:sts::111111111111:assumed-role/transfer/s3ferry-1"]}"#,
        false,
        false,
    ),
    (r#""NotPrincipal":{"AWS":"arn:aws:iam::333333333333:root"}"#, true, true),
];
const ACTIONS: &[(&str, bool)] = &[
    (r#""Action":"s3:PutObject""#, true),
    (r#""Action":"s3:Put*""#, true),
    (r#""Action":"s3:*""#, true),
    (r#""Action":["s3:GetObject","s3:PutObject"]"#, true),
    (r#""Action":"s3:GetObject""#, false),
    (r#""NotAction":"s3:GetObject""#, true),
    (r#""NotAction":"s3:PutObject""#, false),
];
const RESOURCES: &[(&str, bool)] = &[
    (r#""Resource":"arn:aws:s3:::datalake-raw/*""#, true),
    (r#""Resource":"arn:aws:s3:::datalake-raw/prod/*""#, true),
    (r#""Resource":"*""#, true),
    (r#""Resource":"arn:aws:s3:::datalake-raw""#, false),
    (r#""Resource":"arn:aws:s3:::other-bucket/*""#, false),
    (r#""NotResource":"arn:aws:s3:::other-bucket/*""#, true),
    (r#""NotResource":"arn:aws:s3:::datalake-raw/*""#, false),
];
const CONDITIONS: &[(&str, bool)] = &[
    ("", true),
    (r#","Condition":{"Bool":{"aws:SecureTransport":"true"}}"#, true),
    (r#","Condition":{"Bool":{"aws:SecureTransport":"false"}}"#, false),
    (r#","Condition":{"StringEquals":{"aws:PrincipalAccount":"111111111111"}}"#, true),
    (r#","Condition":{"StringEquals":{"aws:PrincipalAccount":"999999999999"}}"#, false),
    (r#","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#, true),
    (r#","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#, false),
];

struct Statement {
    json: String,
    allow: bool,
    matches: bool,
}

fn statement(rng: &mut fastrand::Rng) -> Statement {
    let pick = |rng: &mut fastrand::Rng, table: &[(&'static str, bool)]| table[rng.usize(..table.len())];
    let allow = rng.u8(..4) != 0;
    let (principal, allow_match, deny_match) = PRINCIPALS[rng.usize(..PRINCIPALS.len())];
    let principal = (principal, if allow { allow_match } else { deny_match });
    let parts = [principal, pick(rng, ACTIONS), pick(rng, RESOURCES)];
    let (condition, condition_matches) = pick(rng, CONDITIONS);
    let effect = if allow { "Allow" } else { "Deny" };
    let json = format!(r#"{{"Effect":"{effect}",{},{},{}{condition}}}"#, parts[0].0, parts[1].0, parts[2].0);
    let matches = parts.iter().all(|(_, m)| *m) && condition_matches;
    Statement { json, allow, matches }
}

#[test]
fn no_allow_without_a_fully_matching_allow_statement() {
    let mut rng = fastrand::Rng::with_seed(0x5eed_f411);
    let identity =
        labelled(PolicyKind::Identity, "inline:all", SRC, &doc(&[st("Allow", None, "\"s3:*\"", "\"*\"", None)]));
    let (mut allowed, mut denied) = (0, 0);
    for round in 0..4_000 {
        let statements: Vec<Statement> = (0..rng.usize(1..=3)).map(|_| statement(&mut rng)).collect();
        let text = doc(&statements.iter().map(|s| s.json.clone()).collect::<Vec<_>>());
        let bucket = labelled(PolicyKind::Bucket, "bucket:datalake-raw", DST, &text);
        let request = Request::new(session(), "s3:PutObject", OBJ, DST)
            .with_context("aws:SecureTransport", "true")
            .with_context("aws:SourceIp", "203.0.113.7")
            .with_context("aws:PrincipalAccount", SRC);
        let decision = evaluate(&request, &[identity.clone(), bucket]).decision;
        let granted = statements.iter().any(|s| s.allow && s.matches);
        let refused = statements.iter().any(|s| !s.allow && s.matches);
        if decision == Decision::Allow {
            allowed += 1;
            assert!(granted && !refused, "round {round}: allowed by\n{text}");
        } else {
            denied += 1;
            // The reverse holds too for these parts: every one is decidable from the request.
            assert!(!granted || refused, "round {round}: {decision:?} for\n{text}");
        }
    }
    // Both outcomes were exercised, so the assertion above could have failed either way.
    assert!(allowed > 300 && denied > 300, "allowed {allowed}, denied {denied}");
}
