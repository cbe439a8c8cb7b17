use serde_json::json;

use super::*;

const PROD: &str = "111111111111";
const LAKE: &str = "222222222222";
const ROLE: &str = "arn:aws:iam::111111111111:role/batch-copy";
const KEY: &str = "arn:aws:kms:eu-west-2:222222222222:key/k-1";

fn doc(name: &str, statements: serde_json::Value) -> NamedPolicy {
    NamedPolicy { name: name.into(), text: json!({"Version": "2012-10-17", "Statement": statements}).to_string() }
}

fn good_trust() -> NamedPolicy {
    doc(
        "trust",
        json!([{"Effect": "Allow", "Principal": {"Service": "batchoperations.s3.amazonaws.com"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:SourceAccount": PROD}}}]),
    )
}

fn good_identity() -> NamedPolicy {
    doc(
        "inline:batch",
        json!([
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::ops/s3ferry-batch/*"},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::ops/s3ferry-batch/*"},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging"], "Resource": "arn:aws:s3:::prod-data/*"},
            {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectTagging"], "Resource": "arn:aws:s3:::lake/prod/*"},
            {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Encrypt"], "Resource": KEY}
        ]),
    )
}

fn bucket(name: &str, prefix: &str, account: &str, policy: Fetched<NamedPolicy>) -> BatchBucket {
    BatchBucket { bucket: name.into(), prefix: prefix.into(), account: Some(account.into()), policy }
}

fn evidence() -> BatchEvidence {
    BatchEvidence {
        role_arn: ROLE.into(),
        job_account: PROD.into(),
        region: "eu-west-2".into(),
        role: Fetched::Got(JobRoleEvidence {
            name: "batch-copy".into(),
            trust: good_trust(),
            identity_policies: Fetched::Got(vec![good_identity()]),
            boundary: None,
        }),
        manifest: bucket("ops", "s3ferry-batch/", PROD, Fetched::Absent),
        report: bucket("ops", "s3ferry-batch/", PROD, Fetched::Absent),
        source: bucket("prod-data", "", PROD, Fetched::Absent),
        destination: bucket(
            "lake",
            "prod/",
            LAKE,
            Fetched::Got(doc(
                "bucket policy of lake",
                json!([{"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": ["s3:PutObject", "s3:PutObjectTagging"], "Resource": "arn:aws:s3:::lake/prod/*"}]),
            )),
        ),
        source_key: None,
        destination_key_arn: Some(KEY.into()),
        destination_key_policy: Some(Fetched::Got(doc(
            "key policy",
            json!([{"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": ["kms:GenerateDataKey", "kms:Encrypt"], "Resource": "*"}]),
        ))),
        acl: None,
    }
}

fn statuses(ev: &BatchEvidence) -> Vec<(&'static str, Status)> {
    run(ev).into_iter().map(|c| (c.id, c.status)).collect()
}

fn only(ev: &BatchEvidence, failing: &[(&str, Status)]) {
    for (id, status) in statuses(ev) {
        let want = failing.iter().find(|(f, _)| *f == id).map(|(_, s)| *s).unwrap_or(Status::Pass);
        assert_eq!(status, want, "{id}: {:#?}", run(ev).into_iter().find(|c| c.id == id));
    }
}

#[test]
fn a_good_job_role_passes_every_check() {
    let ev = evidence();
    assert_eq!(statuses(&ev).iter().map(|(id, _)| *id).collect::<Vec<_>>(), BATCH_CHECK_IDS);
    only(&ev, &[]);
    assert_eq!(report(&ev).verdict, Verdict::Ready);
}

#[test]
fn a_trust_policy_for_another_service_fails_with_the_statement_to_add() {
    let mut ev = evidence();
    let Fetched::Got(r) = &mut ev.role else { unreachable!() };
    r.trust = doc(
        "trust",
        json!([{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]),
    );
    only(&ev, &[("batch.trust", Status::Fail)]);
    let c = run(&ev).remove(0);
    let fix = c.fix.expect("a fix");
    assert_eq!((fix.account.as_str(), fix.policy), (PROD, PolicyKind::Trust));
    assert!(fix.json.contains("batchoperations.s3.amazonaws.com") && fix.json.contains("sts:AssumeRole"));
    assert!(fix.terraform.contains("type        = \"Service\""), "{}", fix.terraform);
    assert_eq!(report(&ev).verdict, Verdict::Blocked);
}

#[test]
fn a_trust_condition_on_another_account_fails() {
    let mut ev = evidence();
    let Fetched::Got(r) = &mut ev.role else { unreachable!() };
    r.trust = doc(
        "trust",
        json!([{"Effect": "Allow", "Principal": {"Service": "batchoperations.s3.amazonaws.com"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:SourceAccount": "999999999999"}}}]),
    );
    let c = run(&ev).remove(0);
    assert_eq!(c.status, Status::Fail);
    assert!(c.detail.iter().any(|d| d.contains("aws:SourceAccount")), "{:?}", c.detail);
}

#[test]
fn a_role_in_another_account_cannot_be_passed() {
    let mut ev = evidence();
    ev.job_account = LAKE.into();
    let c = run(&ev).remove(0);
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains(PROD) && c.summary.contains(LAKE), "{}", c.summary);
}

#[test]
fn missing_permissions_fail_their_own_check_with_a_fix_for_the_right_account() {
    let mut ev = evidence();
    let Fetched::Got(r) = &mut ev.role else { unreachable!() };
    r.identity_policies = Fetched::Got(vec![doc(
        "inline:batch",
        json!([{"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectTagging"], "Resource": "arn:aws:s3:::lake/prod/*"}]),
    )]);
    only(
        &ev,
        &[
            ("batch.manifest", Status::Fail),
            ("batch.report", Status::Fail),
            ("batch.source", Status::Fail),
            ("batch.keys", Status::Fail),
        ],
    );
    let checks = run(&ev);
    let manifest = checks.iter().find(|c| c.id == "batch.manifest").unwrap();
    let fix = manifest.fix.as_ref().unwrap();
    assert_eq!(fix.account, PROD);
    assert!(fix.json.contains("arn:aws:s3:::ops/s3ferry-batch/*") && fix.json.contains("s3:GetObject"), "{}", fix.json);
    let keys = checks.iter().find(|c| c.id == "batch.keys").unwrap();
    assert!(keys.fixes.iter().any(|f| f.json.contains(KEY)), "{:#?}", keys.fixes);
}

#[test]
fn the_destination_bucket_policy_must_name_the_job_role() {
    let mut ev = evidence();
    ev.destination.policy = Fetched::Got(doc(
        "bucket policy of lake",
        json!([{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:role/transfer"}, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/prod/*"}]),
    ));
    only(&ev, &[("batch.destination", Status::Fail)]);
    let c = run(&ev).into_iter().find(|c| c.id == "batch.destination").unwrap();
    let fix = c.fix.unwrap();
    assert_eq!((fix.account.as_str(), fix.policy), (LAKE, PolicyKind::Bucket));
    assert!(fix.json.contains(ROLE), "{}", fix.json);
    // Unreadable across accounts: the role's side is judged, the bucket's is unknown.
    ev.destination.policy = Fetched::Unreadable("405".into());
    only(&ev, &[("batch.destination", Status::Unknown)]);
    // BucketOwnerPreferred: the job sends bucket-owner-full-control, which needs s3:PutObjectAcl.
    ev = evidence();
    ev.acl = Some("bucket-owner-full-control".into());
    only(&ev, &[("batch.destination", Status::Fail)]);
}

#[test]
fn unreadable_or_missing_roles() {
    let mut ev = evidence();
    ev.role = Fetched::Absent;
    let checks = run(&ev);
    assert!(checks.iter().all(|c| c.status == Status::Fail), "{checks:#?}");
    assert!(checks[0].fix.is_some(), "the trust policy to create the role with");
    ev.role = Fetched::Unreadable("iam:GetRole: AccessDenied".into());
    assert!(run(&ev).iter().all(|c| c.status == Status::Unknown));
    assert_eq!(report(&ev).verdict, Verdict::Unknown);
    // No keys at all: nothing to check.
    let mut ev = evidence();
    ev.destination_key_arn = None;
    ev.destination_key_policy = None;
    only(&ev, &[]);
}
