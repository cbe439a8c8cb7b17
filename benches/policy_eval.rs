//! Times 10,000 evaluations of the preflight's realistic (request, policy set) pairs.
//! Run: cargo bench --bench policy_eval   (target: < 100 ms for 10,000 in release)

use std::hint::black_box;
use std::time::Instant;

use s3ferry::core::policy::{Decision, LabelledPolicy, PolicyKind, Principal, Request, evaluate, parse_policy};

const SRC: &str = "111111111111";
const DST: &str = "222222222222";
const ROLE: &str = "arn:aws:iam::111111111111:role/ops/transfer";
const SESSION: &str = "arn:aws:sts::111111111111:assumed-role/transfer/s3ferry-preflight";
const DKEY: &str = "arn:aws:kms:eu-west-1:222222222222:key/0f1e2d3c-aaaa-bbbb-cccc-123456789012";
const SKEY: &str = "arn:aws:kms:eu-west-1:111111111111:key/11111111-aaaa-bbbb-cccc-111111111111";

const INLINE: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Sid":"ReadSource","Effect":"Allow","Action":["s3:GetObject","s3:GetObjectVersion","s3:GetObjectTagging"],"Resource":"arn:aws:s3:::prod-exports/*"},
 {"Sid":"ListSource","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::prod-exports"},
 {"Sid":"WriteDatalake","Effect":"Allow","Action":["s3:PutObject","s3:PutObjectTagging"],"Resource":"arn:aws:s3:::datalake-raw/prod/*"},
 {"Sid":"UseKeys","Effect":"Allow","Action":["kms:Decrypt","kms:GenerateDataKey","kms:Encrypt"],"Resource":["arn:aws:kms:eu-west-1:222222222222:key/0f1e2d3c-aaaa-bbbb-cccc-123456789012","arn:aws:kms:eu-west-1:111111111111:key/11111111-aaaa-bbbb-cccc-111111111111"]}]}"#;
const MANAGED: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["cloudwatch:PutMetricData","logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"},
 {"Effect":"Allow","Action":["sts:GetCallerIdentity","iam:GetRole","iam:ListRolePolicies"],"Resource":"*"},
 {"Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"},
 {"Effect":"Deny","NotAction":["s3:*","kms:*","sts:*","iam:Get*","iam:List*","logs:*","cloudwatch:*"],"Resource":"*"},
 {"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}},
 {"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
const BOUNDARY: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["s3:*","kms:*","sts:*","iam:Get*","iam:List*","logs:*","cloudwatch:*"],"Resource":"*"},
 {"Effect":"Deny","Action":["iam:*User*","iam:*Role*Policy"],"Resource":"*"}]}"#;
const DEST_BUCKET: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Sid":"AllowTransferWrite","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/ops/transfer"},"Action":["s3:PutObject","s3:PutObjectTagging"],"Resource":"arn:aws:s3:::datalake-raw/prod/*"},
 {"Sid":"AllowTransferList","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/ops/transfer"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::datalake-raw","Condition":{"StringLike":{"s3:prefix":["prod/*"]}}},
 {"Sid":"DenyUnencrypted","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::datalake-raw/*","Condition":{"StringNotEquals":{"s3:x-amz-server-side-encryption":"aws:kms"}}},
 {"Sid":"DenyWrongKey","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::datalake-raw/*","Condition":{"StringNotEqualsIfExists":{"s3:x-amz-server-side-encryption-aws-kms-key-id":"arn:aws:kms:eu-west-1:222222222222:key/0f1e2d3c-aaaa-bbbb-cccc-123456789012"}}},
 {"Sid":"DenyInsecure","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::datalake-raw","arn:aws:s3:::datalake-raw/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}},
 {"Sid":"Analysts","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::222222222222:role/analyst","AROAEXAMPLEROLEID12345"]},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::datalake-raw","arn:aws:s3:::datalake-raw/*"]}]}"#;
const SRC_BUCKET: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Sid":"DenyOutsideOrg","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::prod-exports","arn:aws:s3:::prod-exports/*"],"Condition":{"StringNotEqualsIfExists":{"aws:PrincipalAccount":["111111111111","222222222222"]}}}]}"#;
const DEST_KEY: &str = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[
 {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/ops/transfer"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.eu-west-1.amazonaws.com"}}},
 {"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/ops/transfer"},"Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}},
 {"Sid":"Key administrators","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:role/kms-admin"},"Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion"],"Resource":"*"}]}"#;
const SRC_KEY: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"}]}"#;

fn policy(kind: PolicyKind, name: &str, account: &str, text: &str) -> LabelledPolicy {
    match parse_policy(text, kind) {
        Ok(doc) => LabelledPolicy::new(kind, name, account, doc),
        Err(e) => panic!("bench fixture {name}: {e}"),
    }
}

fn main() {
    let source_side = vec![
        policy(PolicyKind::Identity, "inline:transfer", SRC, INLINE),
        policy(PolicyKind::Identity, "managed:arn:aws:iam::111111111111:policy/baseline", SRC, MANAGED),
        policy(PolicyKind::Boundary, "boundary:transfer-boundary", SRC, BOUNDARY),
    ];
    let with = |extra: Vec<LabelledPolicy>| {
        let mut v = source_side.clone();
        v.extend(extra);
        v
    };
    let dest_s3 = with(vec![policy(PolicyKind::Bucket, "bucket policy of datalake-raw", DST, DEST_BUCKET)]);
    let src_s3 = with(vec![policy(PolicyKind::Bucket, "bucket policy of prod-exports", SRC, SRC_BUCKET)]);
    let dest_kms = with(vec![policy(PolicyKind::Key, "key policy of datalake key", DST, DEST_KEY)]);
    let src_kms = with(vec![policy(PolicyKind::Key, "key policy of prod key", SRC, SRC_KEY)]);

    let principal = Principal::from_arn(SESSION).expect("principal").with_role_arn(ROLE);
    let req = |action: &str, resource: &str, account: &str| {
        Request::new(principal.clone(), action, resource, account)
            .with_context("aws:SecureTransport", "true")
            .with_context("s3:x-amz-server-side-encryption", "aws:kms")
            .with_context("s3:x-amz-server-side-encryption-aws-kms-key-id", DKEY)
            .with_context("kms:ViaService", "s3.eu-west-1.amazonaws.com")
            .with_context("aws:SourceIp", "203.0.113.10")
    };
    let pairs: Vec<(Request, &Vec<LabelledPolicy>)> = vec![
        (req("s3:GetObject", "arn:aws:s3:::prod-exports/2024/05/part-0001.parquet", SRC), &src_s3),
        (req("s3:ListBucket", "arn:aws:s3:::prod-exports", SRC), &src_s3),
        (req("kms:Decrypt", SKEY, SRC), &src_kms),
        (req("s3:PutObject", "arn:aws:s3:::datalake-raw/prod/2024/05/part-0001.parquet", DST), &dest_s3),
        (req("s3:PutObjectTagging", "arn:aws:s3:::datalake-raw/prod/2024/05/part-0001.parquet", DST), &dest_s3),
        (req("s3:PutObjectAcl", "arn:aws:s3:::datalake-raw/prod/2024/05/part-0001.parquet", DST), &dest_s3),
        (req("kms:GenerateDataKey", DKEY, DST), &dest_kms),
        (req("kms:Encrypt", DKEY, DST), &dest_kms),
        (req("kms:Decrypt", DKEY, DST), &dest_kms),
        (req("s3:DeleteBucket", "arn:aws:s3:::datalake-raw", DST), &dest_s3),
    ];

    let mut counts = [0usize; 4];
    for (r, p) in &pairs {
        let d = evaluate(r, p).decision;
        counts[d as usize] += 1;
    }
    // Warm-up, then the measured run.
    for (r, p) in pairs.iter().cycle().take(1_000) {
        black_box(evaluate(black_box(r), black_box(p)));
    }
    const N: usize = 10_000;
    let start = Instant::now();
    for (r, p) in pairs.iter().cycle().take(N) {
        black_box(evaluate(black_box(r), black_box(p)));
    }
    let elapsed = start.elapsed();
    println!(
        "policy_eval: {N} evaluations of {} (request, policy set) pairs in {:.1} ms ({:.2} us each); mix per cycle: \
         allow {}, explicit deny {}, implicit deny {}, unknown {}",
        pairs.len(),
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / N as f64,
        counts[Decision::Allow as usize],
        counts[Decision::ExplicitDeny as usize],
        counts[Decision::ImplicitDeny as usize],
        counts[Decision::Unknown as usize],
    );
}
