//! Verdicts from synthetic evidence: one mutation of an all-good migration per case.

use std::time::{Duration, SystemTime};

use super::*;
use crate::core::credentials::{CredentialSource, classify};
use crate::core::preflight::evidence::*;

const ROLE: &str = "arn:aws:iam::111111111111:role/ops/transfer";
const SESSION: &str = "arn:aws:sts::111111111111:assumed-role/transfer/s3ferry";
const KEY: &str = "arn:aws:kms:eu-west-2:222222222222:key/k-1";
const NOW: u64 = 2_000_000_000;

fn doc(name: &str, json: serde_json::Value) -> NamedPolicy {
    NamedPolicy { name: name.into(), text: json.to_string() }
}

fn identity() -> NamedPolicy {
    doc(
        "inline:transfer",
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": "arn:aws:s3:::src"},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging"], "Resource": "arn:aws:s3:::src/*"},
            {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectTagging"], "Resource": "arn:aws:s3:::dst/prod/*"},
            {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"], "Resource": KEY}
        ]}),
    )
}

fn bucket_policy(statements: serde_json::Value) -> Fetched<NamedPolicy> {
    Fetched::Got(doc("bucket policy of dst", serde_json::json!({"Version": "2012-10-17", "Statement": statements})))
}

fn good_bucket_policy() -> Fetched<NamedPolicy> {
    bucket_policy(
        serde_json::json!([{"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": ["s3:PutObject", "s3:PutObjectTagging"], "Resource": "arn:aws:s3:::dst/prod/*"}]),
    )
}

fn key_policy(principal: &str) -> Fetched<NamedPolicy> {
    Fetched::Got(doc(
        "key policy",
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Owner root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "Transfer role", "Effect": "Allow", "Principal": {"AWS": principal}, "Action": ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"], "Resource": "*"}
        ]}),
    ))
}

fn key(policy: Fetched<NamedPolicy>) -> KeyEvidence {
    KeyEvidence {
        arn: KEY.into(),
        account: "222222222222".into(),
        region: "eu-west-2".into(),
        manager: "CUSTOMER".into(),
        enabled: true,
        symmetric: true,
        policy,
    }
}

fn bucket(name: &str, account: &str) -> BucketEvidence {
    BucketEvidence {
        bucket: name.into(),
        prefix: if name == "dst" { "prod/".into() } else { String::new() },
        account: Some(account.into()),
        exists: Fetched::Got(()),
        region: Fetched::Got("eu-west-2".into()),
        policy: Fetched::Absent,
        encryption: Fetched::Got(Encryption::SseS3),
        ownership: Fetched::Got(Ownership::BucketOwnerEnforced),
        restrict_public_buckets: Fetched::Got(false),
        policy_is_public: Fetched::Got(false),
        requester_pays: Fetched::Got(false),
    }
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// All eight steps done, read with audit credentials.
fn good() -> Evidence {
    let mut destination = bucket("dst", "222222222222");
    destination.policy = good_bucket_policy();
    destination.encryption = Fetched::Got(Encryption::SseKms { key_id: KEY.into(), bucket_key: true });
    Evidence {
        principal: Fetched::Got(PrincipalEvidence {
            account: "111111111111".into(),
            arn: SESSION.into(),
            role_arn: Some(ROLE.into()),
            role: Fetched::Got(RoleEvidence { name: "transfer".into(), max_session_secs: 43_200, boundary_arn: None }),
            identity_policies: Fetched::Got(vec![identity()]),
            boundary: None,
            session_policy: None,
        }),
        credentials: Some(classify(CredentialSource::StaticKeys, None, Some(Some(at(NOW + 3600))))),
        source: bucket("src", "111111111111"),
        source_key: None,
        destination,
        destination_key_arn: Some(KEY.into()),
        destination_key: Some(Fetched::Got(key(key_policy(ROLE)))),
        destination_key_policy: Some(key_policy(ROLE)),
        run: RunShape { copies_tags: true, multipart_planned: false, acl: None, estimated_secs: None },
        layers: LayerEvidence::none(),
    }
}

fn layer(name: &str, statements: &str) -> NamedPolicy {
    NamedPolicy { name: name.into(), text: format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#) }
}

const FULL_ACCESS: &str = r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#;

fn principal(ev: &mut Evidence) -> &mut PrincipalEvidence {
    match &mut ev.principal {
        Fetched::Got(p) => p,
        _ => unreachable!("the fixture has a principal"),
    }
}

type Mutation = fn(&mut Evidence);
/// (rule under test, mutation, expected non-pass statuses by check id, verdict)
type Case = (&'static str, Mutation, Vec<(&'static str, Status)>, Verdict);

#[test]
fn verdicts() {
    let cases: Vec<Case> = vec![
        ("all eight steps done: ready", |_| {}, vec![], Verdict::Ready),
        (
            "FullAWSAccess at every SCP level: ready",
            |e| e.layers.scps = Fetched::Got(vec![layer("scp:r-root", FULL_ACCESS), layer("scp:ou-1", FULL_ACCESS)]),
            vec![],
            Verdict::Ready,
        ),
        (
            "an OU's SCP that allows only EC2 blocks the copy (the organization's administrator must change it)",
            |e| {
                let ec2 = r#"{"Effect":"Allow","Action":"ec2:*","Resource":"*"}"#;
                e.layers.scps = Fetched::Got(vec![layer("scp:r-root", FULL_ACCESS), layer("scp:ou-1", ec2)]);
            },
            vec![("organization.scp", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "SCPs do not apply to the management account",
            |e| {
                e.layers.scps =
                    Fetched::Got(vec![layer("scp:r-root", r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#)]);
                e.layers.management_account = Some("111111111111".into());
            },
            vec![],
            Verdict::Ready,
        ),
        (
            "SCPs that could not be read leave the layer unknown",
            |e| e.layers.scps = Fetched::Unreadable("the account is in an organization".into()),
            vec![("organization.scp", Status::Unknown)],
            Verdict::Unknown,
        ),
        (
            "an RCP denying principals outside the organization blocks a writer from another one",
            |e| {
                let deny = r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringNotEqualsIfExists":{"aws:PrincipalOrgID":"o-lake"}}}"#;
                let all = r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}"#;
                e.layers.destination_rcps = Fetched::Got(vec![layer("rcp:r-root", &format!("{all},{deny}"))]);
            },
            vec![("organization.rcp", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "a source endpoint policy allowing only the account's own buckets blocks the write",
            |e| {
                let own = r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::src","arn:aws:s3:::src/*"]}"#;
                e.layers.source_endpoint = Some(("vpce-0a1".into(), Fetched::Got(layer("endpoint:vpce-0a1", own))));
            },
            vec![("source.endpoint", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "a session policy that allows only reads caps the writes",
            |e| {
                let read = r#"{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket","s3:GetObjectTagging"],"Resource":"*"}"#;
                principal(e).session_policy = Some(layer("session policy", read));
            },
            vec![("source.policy.write", Status::Fail), ("source.policy.key", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "Bucket Keys off: every object is a KMS request (warn, still ready)",
            |e| e.destination.encryption = Fetched::Got(Encryption::SseKms { key_id: KEY.into(), bucket_key: false }),
            vec![("destination.encryption", Status::Warn)],
            Verdict::Ready,
        ),
        (
            "a disabled key cannot encrypt",
            |e| e.destination_key = Some(Fetched::Got(KeyEvidence { enabled: false, ..key(key_policy(ROLE)) })),
            vec![("destination.encryption", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "the key must be in the bucket's Region",
            |e| {
                e.destination_key =
                    Some(Fetched::Got(KeyEvidence { region: "us-east-1".into(), ..key(key_policy(ROLE)) }))
            },
            vec![("destination.encryption", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "default encryption must name the key by ARN, not alias",
            |e| {
                e.destination.encryption =
                    Fetched::Got(Encryption::SseKms { key_id: "alias/datalake".into(), bucket_key: true })
            },
            vec![("destination.encryption", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "default encryption must be the configured key",
            |e| {
                e.destination.encryption = Fetched::Got(Encryption::SseKms {
                    key_id: "arn:aws:kms:eu-west-2:222222222222:key/other".into(),
                    bucket_key: true,
                })
            },
            vec![("destination.encryption", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "SSE-S3 default while the config names a KMS key",
            |e| e.destination.encryption = Fetched::Got(Encryption::SseS3),
            vec![("destination.encryption", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "the AWS managed aws/s3 key cannot be used cross-account",
            |e| e.destination_key = Some(Fetched::Got(KeyEvidence { manager: "AWS".into(), ..key(key_policy(ROLE)) })),
            vec![("destination.encryption", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "ObjectWriter leaves copies owned by the source account",
            |e| e.destination.ownership = Fetched::Got(Ownership::ObjectWriter),
            vec![("destination.ownership", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "no ownership controls at all behaves as ObjectWriter",
            |e| e.destination.ownership = Fetched::Absent,
            vec![("destination.ownership", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "BucketOwnerPreferred needs s3:PutObjectAcl on both sides",
            |e| {
                e.destination.ownership = Fetched::Got(Ownership::BucketOwnerPreferred);
                e.run.acl = Some("bucket-owner-full-control".into());
            },
            vec![("destination.ownership", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "RestrictPublicBuckets blocks a bucket policy AWS considers public",
            |e| {
                e.destination.restrict_public_buckets = Fetched::Got(true);
                e.destination.policy_is_public = Fetched::Got(true);
            },
            vec![("destination.public_access", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "RestrictPublicBuckets with a non-public policy does not block",
            |e| e.destination.restrict_public_buckets = Fetched::Got(true),
            vec![],
            Verdict::Ready,
        ),
        (
            "credentials that cannot renew and have no run estimate: warn",
            |e| e.credentials = Some(classify(CredentialSource::Environment, Some(at(NOW + 1800)), None)),
            vec![("credentials.lifetime", Status::Warn)],
            Verdict::Ready,
        ),
        (
            "credentials that expire before the estimated run ends: fail",
            |e| {
                e.credentials = Some(classify(CredentialSource::Environment, Some(at(NOW + 1800)), None));
                e.run.estimated_secs = Some(7200);
            },
            vec![("credentials.lifetime", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "unreadable identity policies make the principal's checks unknown, never pass",
            |e| principal(e).identity_policies = Fetched::Unreadable("AccessDenied".into()),
            vec![
                ("source.read", Status::Unknown),
                ("source.policy.write", Status::Unknown),
                ("source.policy.key", Status::Unknown),
            ],
            Verdict::Unknown,
        ),
        (
            "an explicit deny in the bucket policy beats the allow",
            |e| {
                e.destination.policy = bucket_policy(serde_json::json!([
                    {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": ["s3:PutObject", "s3:PutObjectTagging"], "Resource": "arn:aws:s3:::dst/prod/*"},
                    {"Sid": "NoWritesFromProd", "Effect": "Deny", "Principal": {"AWS": "111111111111"}, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::dst/*"}
                ]))
            },
            vec![("destination.bucket_policy", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "deny-unless-SSE-KMS is satisfied by the copier's headers",
            |e| {
                e.destination.policy = bucket_policy(serde_json::json!([
                    {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": ["s3:PutObject", "s3:PutObjectTagging"], "Resource": "arn:aws:s3:::dst/prod/*"},
                    {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::dst/*",
                     "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": KEY}}}
                ]))
            },
            vec![],
            Verdict::Ready,
        ),
        (
            "a malformed destination bucket policy fails with its location",
            |e| {
                e.destination.policy =
                    Fetched::Got(doc("file:dl.json", serde_json::json!({"Statement": [{"Effect": "Maybe"}]})))
            },
            vec![("destination.bucket_policy", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "an unreadable destination bucket policy is unknown",
            |e| e.destination.policy = Fetched::Unreadable("405".into()),
            vec![("destination.bucket_policy", Status::Unknown)],
            Verdict::Unknown,
        ),
        (
            "an unreadable key policy is unknown",
            |e| e.destination_key_policy = Some(Fetched::Unreadable("cross-account".into())),
            vec![("destination.key_policy", Status::Unknown)],
            Verdict::Unknown,
        ),
        (
            "the key policy naming only the source account root delegates to its IAM policies",
            |e| e.destination_key_policy = Some(key_policy("arn:aws:iam::111111111111:root")),
            vec![],
            Verdict::Ready,
        ),
        (
            "a key policy naming a deleted-and-recreated role by unique id matches nothing",
            |e| e.destination_key_policy = Some(key_policy("AROAEXAMPLEUNIQUEID12")),
            vec![("destination.key_policy", Status::Fail)],
            Verdict::Blocked,
        ),
        (
            "same-account destination: no bucket policy needed",
            |e| {
                e.destination.account = Some("111111111111".into());
                e.destination.policy = Fetched::Absent;
            },
            vec![],
            Verdict::Ready,
        ),
        (
            "an unresolved principal fails source.role and leaves its checks unknown",
            |e| {
                e.principal = Fetched::Unreadable("AccessDenied on sts:AssumeRole".into());
                e.credentials = None;
            },
            unresolved(Status::Fail),
            Verdict::Blocked,
        ),
        (
            "a configured VPC endpoint is unknown, not passed, when nothing could be read",
            |e| {
                e.principal = Fetched::Unreadable("the endpoint refused the connection".into());
                e.credentials = None;
                e.layers.source_endpoint = Some(("vpce-0a1".into(), Fetched::Unreadable("not reached".into())));
            },
            {
                let mut want = unresolved(Status::Unknown);
                want.push(("source.endpoint", Status::Unknown));
                want
            },
            Verdict::Unknown,
        ),
        (
            "an endpoint that cannot be reached leaves source.role unknown, never failed",
            |e| {
                e.principal = Fetched::Unreadable("source credentials: could not resolve the caller identity: the endpoint refused the connection: nothing listens there (http://127.0.0.1:9)".into());
                e.credentials = None;
            },
            unresolved(Status::Unknown),
            Verdict::Unknown,
        ),
        (
            "SSE-KMS source objects need kms:Decrypt on their key",
            |e| {
                let mut k = key(Fetched::Got(doc(
                    "src key policy",
                    serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "kms:DescribeKey", "Resource": "*"}]}),
                )));
                k.account = "111111111111".into();
                k.arn = "arn:aws:kms:eu-west-2:111111111111:key/src".into();
                e.source_key = Some(Fetched::Got(k));
            },
            vec![("source.key", Status::Fail)],
            Verdict::Blocked,
        ),
    ];
    for (rule, mutate, expected, verdict) in cases {
        let mut ev = good();
        mutate(&mut ev);
        let report = run(&ev, at(NOW));
        for c in &report.checks {
            let want = expected.iter().find(|(id, _)| *id == c.id).map(|(_, s)| *s).unwrap_or(Status::Pass);
            assert_eq!(c.status, want, "{rule}: {} — {} {:?}", c.id, c.summary, c.detail);
        }
        assert_eq!(report.verdict, verdict, "{rule}");
        assert_eq!(report.checks.len(), CHECKS.len(), "{rule}");
        for c in report.checks.iter().filter(|c| c.status == Status::Fail && c.id.contains("policy")) {
            if c.summary.contains("explicitly") || c.summary.contains("not a valid") {
                assert!(c.fix.is_none(), "{rule}: an explicit deny or broken document gets no invented allow");
            }
        }
    }
}

/// The statuses when the principal did not resolve: `source.role` as given, the checks that
/// need the principal unknown.
fn unresolved(role: Status) -> Vec<(&'static str, Status)> {
    let rest = [
        ("source.read", Status::Unknown),
        ("source.key", Status::Unknown),
        ("destination.bucket_policy", Status::Unknown),
        ("destination.key_policy", Status::Unknown),
        ("source.policy.write", Status::Unknown),
        ("source.policy.key", Status::Unknown),
        ("destination.ownership", Status::Pass),
        ("credentials.lifetime", Status::Unknown),
        ("organization.scp", Status::Unknown),
        ("organization.rcp", Status::Unknown),
    ];
    std::iter::once(("source.role", role)).chain(rest).collect()
}

#[test]
fn fixes_are_scoped_and_for_the_right_account() {
    let mut ev = good();
    ev.destination_key_policy = Some(key_policy("arn:aws:iam::111111111111:role/someone-else"));
    let report = run(&ev, at(NOW));
    let c = report.checks.iter().find(|c| c.id == "destination.key_policy").unwrap();
    let fix = c.fix.as_ref().expect("an implicit deny gets a fix");
    assert_eq!(fix.account, "222222222222");
    let json: serde_json::Value = serde_json::from_str(&fix.json).unwrap();
    assert_eq!(json["Statement"][0]["Principal"]["AWS"], ROLE, "the role ARN with its path, not the session");
    assert!(!fix.json.contains("\"Principal\": \"*\""));
    // A malformed policy's location reaches the operator.
    let mut ev = good();
    ev.destination.policy = Fetched::Got(doc("file:dl.json", serde_json::json!({"Statement": [{"Effect": "Maybe"}]})));
    let c = run(&ev, at(NOW)).checks.into_iter().find(|c| c.id == "destination.bucket_policy").unwrap();
    assert!(c.detail.iter().any(|d| d.contains("$.Statement[0]")), "{:?}", c.detail);
}

/// The one table of checks: ids are unique, each id names its area, and each check reports
/// under the id and area of its row.
#[test]
fn the_table_is_the_one_place_a_check_is_named() {
    let mut seen = std::collections::HashSet::new();
    for def in &CHECKS {
        assert!(seen.insert(def.id), "{} twice", def.id);
        let area = match def.id.split('.').next() {
            Some("source") => Area::Source,
            Some("destination") => Area::Destination,
            Some("organization") => Area::Organization,
            Some("credentials") => Area::Credentials,
            other => panic!("{}: no area for {other:?}", def.id),
        };
        assert_eq!(def.area, area, "{}", def.id);
    }
    let report = run(&good(), at(NOW));
    let ids: Vec<(&str, Area)> = report.checks.iter().map(|c| (c.id, c.side)).collect();
    let table: Vec<(&str, Area)> = CHECKS.iter().map(|d| (d.id, d.area)).collect();
    assert_eq!(ids, table);
}
