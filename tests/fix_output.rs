//! Fix rendering and combining several actions into one statement.

mod common;

use common::*;
use s3ferry::core::policy::{Decision, PolicyKind, Request, combined_fix, evaluate, evaluate_all, parse_policy};

fn req(action: &str, resource: &str, account: &str) -> Request {
    Request::new(session(), action, resource, account).with_context("aws:SecureTransport", "true")
}

#[test]
fn kms_actions_combine_into_one_statement_per_side() {
    let key_policy = labelled(
        PolicyKind::Key,
        "key policy of datalake-key",
        DST,
        &doc(&[st("Allow", Some(&aws("arn:aws:iam::222222222222:root")), "\"kms:*\"", "\"*\"", None)]),
    );
    let requests: Vec<Request> =
        ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"].iter().map(|a| req(a, DKEY, DST)).collect();
    let evals = evaluate_all(&requests, std::slice::from_ref(&key_policy));
    assert!(evals.iter().all(|e| e.decision == Decision::ImplicitDeny));
    let fixes = combined_fix(&evals);
    assert_eq!(fixes.len(), 2, "{fixes:#?}");

    let identity = &fixes[0];
    assert_eq!((identity.policy, identity.account.as_str()), (PolicyKind::Identity, SRC));
    assert_eq!(identity.statements.len(), 1);
    assert_eq!(identity.statements[0].actions, ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"]);
    assert_eq!(identity.statements[0].resources, [DKEY]);
    assert_eq!(identity.statements[0].principal, None);

    let key = &fixes[1];
    assert_eq!((key.policy, key.account.as_str()), (PolicyKind::Key, DST));
    assert_eq!(key.statements[0].principal.as_deref(), Some(ROLE));
    assert_eq!(key.statements[0].resources, ["*"]);
    assert_eq!(key.statements[0].sid, "S3ferryAllowGenerateDataKeyEncryptDecrypt");
    assert!(
        key.terraform.contains(r#"actions   = ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"]"#),
        "{}",
        key.terraform
    );
    assert!(key.terraform.contains(&format!(r#"identifiers = ["{ROLE}"]"#)));
    assert!(key.terraform.contains(r#"type        = "AWS""#));

    // Applying the combined fixes allows all three requests.
    let mut patched = vec![key_policy];
    for f in &fixes {
        patched.push(s3ferry::core::policy::LabelledPolicy::new(
            f.policy,
            "fix",
            f.account.clone(),
            parse_policy(&f.json, f.policy).expect("fix parses"),
        ));
    }
    for e in evaluate_all(&requests, &patched) {
        assert_eq!(e.decision, Decision::Allow, "{:?}", e.explanation);
    }
}

#[test]
fn put_and_tagging_share_a_statement_but_different_resources_do_not() {
    let requests =
        vec![req("s3:PutObject", OBJ, DST), req("s3:PutObjectTagging", OBJ, DST), req("s3:ListBucket", BUCKET, DST)];
    let evals = evaluate_all(&requests, &[]);
    let fixes = combined_fix(&evals);
    let bucket = fixes.iter().find(|f| f.policy == PolicyKind::Bucket).expect("bucket fix");
    assert_eq!(bucket.statements.len(), 2, "{:#?}", bucket.statements);
    assert_eq!(bucket.statements[0].actions, ["s3:PutObject", "s3:PutObjectTagging"]);
    assert_eq!(bucket.statements[0].resources, [OBJ]);
    assert_eq!(bucket.statements[1].actions, ["s3:ListBucket"]);
    assert_eq!(bucket.statements[1].resources, [BUCKET]);
    let v: serde_json::Value = serde_json::from_str(&bucket.json).expect("json");
    assert_eq!(v["Statement"].as_array().map(Vec::len), Some(2));
    assert_eq!(bucket.terraform.matches("statement {").count(), 2);
}

#[test]
fn allowed_and_denied_requests_add_nothing() {
    let bucket = labelled(
        PolicyKind::Bucket,
        "b",
        DST,
        &doc(&[
            st("Allow", Some(&aws(ROLE)), "\"s3:PutObject\"", "\"arn:aws:s3:::datalake-raw/*\"", None),
            st("Deny", Some("\"*\""), "\"s3:DeleteObject\"", "\"arn:aws:s3:::datalake-raw/*\"", None),
        ]),
    );
    let identity = labelled(PolicyKind::Identity, "i", SRC, &doc(&[st("Allow", None, "\"s3:*\"", "\"*\"", None)]));
    let evals = evaluate_all(&[req("s3:PutObject", OBJ, DST), req("s3:DeleteObject", OBJ, DST)], &[bucket, identity]);
    assert_eq!(evals[0].decision, Decision::Allow);
    assert_eq!(evals[1].decision, Decision::ExplicitDeny);
    assert!(combined_fix(&evals).is_empty());
}

#[test]
fn explicit_deny_names_the_statement_and_invents_no_allow() {
    let bucket = labelled(
        PolicyKind::Bucket,
        "bucket policy of datalake-raw",
        DST,
        &doc(&[st("Deny", Some("\"*\""), "\"s3:PutObject\"", "\"arn:aws:s3:::datalake-raw/*\"", None).replacen(
            '{',
            r#"{"Sid":"Freeze","#,
            1,
        )]),
    );
    let e = evaluate(&req("s3:PutObject", OBJ, DST), &[bucket]);
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert!(e.fixes.is_empty());
    assert_eq!(e.matched.len(), 1);
    assert_eq!(e.matched[0].sid.as_deref(), Some("Freeze"));
    assert_eq!(e.matched[0].to_string(), "bucket policy of datalake-raw statement \"Freeze\" (Statement[0])");
    assert!(e.explanation.iter().any(|l| l.contains("\"Freeze\"") && l.contains("must change")));
}

#[test]
fn session_without_role_arn_fix_names_the_role_not_the_session() {
    let p = s3ferry::core::policy::Principal::from_arn(SESSION).unwrap();
    let e = evaluate(&Request::new(p, "s3:PutObject", OBJ, DST), &[]);
    let bucket = e.fixes.iter().find(|f| f.policy == PolicyKind::Bucket).unwrap();
    assert_eq!(bucket.statements[0].principal.as_deref(), Some("arn:aws:iam::111111111111:role/transfer"));
    assert!(!bucket.json.contains("assumed-role"));
}
