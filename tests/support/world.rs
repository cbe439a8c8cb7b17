//! A cross-account migration built for real on the emulator: the seed's eight permission steps,
//! each of which can be left out to reproduce its AccessDenied.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use serde_json::{Value, json};

use super::{Keys, LAKE, Moto, PROD, REGION};

/// The eight steps of the seed story. `true` = done.
#[derive(Debug, Clone)]
pub struct Steps {
    /// 1. a transfer role in the Production account
    pub role: bool,
    /// 2. the role may read the Production bucket
    pub role_reads_source: bool,
    /// 3. a bucket in the Data Lake account
    pub destination_bucket: bool,
    /// 4. its default encryption is the customer-managed key
    pub destination_encryption: bool,
    /// 5. the Data Lake bucket policy lets the role write
    pub bucket_policy_allows_role: bool,
    /// 6. the Data Lake key policy lets the role use the key
    pub key_policy_allows_role: bool,
    /// 7. the role's own policy allows writing to the Data Lake bucket
    pub role_writes_destination: bool,
    /// 8. the role's own policy allows using the Data Lake key
    pub role_uses_key: bool,
    /// The Data Lake bucket's Object Ownership (AWS's default since 2023 is BucketOwnerEnforced).
    pub ownership: aws_sdk_s3::types::ObjectOwnership,
}

impl Steps {
    pub const ALL: Steps = Steps {
        role: true,
        role_reads_source: true,
        destination_bucket: true,
        destination_encryption: true,
        bucket_policy_allows_role: true,
        key_policy_allows_role: true,
        role_writes_destination: true,
        role_uses_key: true,
        ownership: aws_sdk_s3::types::ObjectOwnership::BucketOwnerEnforced,
    };
}

/// Names and credentials of a built migration.
#[derive(Debug, Clone)]
pub struct Migration {
    pub source_bucket: String,
    pub destination_bucket: String,
    pub destination_prefix: String,
    pub key_arn: String,
    pub role_arn: String,
    /// Long-term keys of the Production operator, who assumes the transfer role.
    pub operator: Keys,
    /// Read-only keys in the Data Lake account (for `[destination.audit]`).
    pub auditor: Keys,
}

pub fn policy(statements: Value) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

pub async fn create_bucket(s3: &aws_sdk_s3::Client, name: &str) {
    s3.create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::from(REGION)).build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {name}: {e:?}"));
}

pub async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e:?}"));
}

/// Many objects, a bounded number at a time: the emulator is one process on a shared machine, and
/// thousands of simultaneous requests only make it time out.
/// Every key under `prefix` in a bucket, all pages.
pub async fn keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .expect("list");
        out.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return out;
        }
    }
}

pub async fn put_many(s3: &aws_sdk_s3::Client, bucket: &str, objects: impl IntoIterator<Item = (String, Vec<u8>)>) {
    use futures::StreamExt;
    futures::stream::iter(objects)
        .for_each_concurrent(32, |(key, body)| async move { put(s3, bucket, &key, body).await })
        .await;
}

/// An IAM user with one inline policy and an access key.
pub async fn create_user(iam: &aws_sdk_iam::Client, name: &str, inline: &str) -> Keys {
    iam.create_user().user_name(name).send().await.unwrap_or_else(|e| panic!("create user {name}: {e:?}"));
    iam.put_user_policy()
        .user_name(name)
        .policy_name("inline")
        .policy_document(inline)
        .send()
        .await
        .expect("put user policy");
    let key = iam.create_access_key().user_name(name).send().await.expect("create access key");
    let key = key.access_key.expect("access key");
    Keys { access_key_id: key.access_key_id, secret_access_key: key.secret_access_key }
}

/// A customer-managed symmetric key with the given key policy; returns its ARN.
pub async fn create_key(kms: &aws_sdk_kms::Client, key_policy: &str) -> String {
    let out = kms.create_key().policy(key_policy).description("s3ferry test key").send().await.expect("create key");
    out.key_metadata.expect("key metadata").arn.expect("key arn")
}

pub async fn default_encryption(s3: &aws_sdk_s3::Client, bucket: &str, key_arn: &str) {
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::AwsKms)
                .kms_master_key_id(key_arn)
                .build()
                .expect("sse default"),
        )
        .bucket_key_enabled(true)
        .build();
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder().rules(rule).build().expect("sse config"),
        )
        .send()
        .await
        .expect("put bucket encryption");
}

/// Builds the Production and Data Lake sides with the given steps done. `tag` keeps names
/// unique between tests; the demo passes fixed names.
pub async fn build(moto: &Moto, names: Names<'_>, steps: Steps) -> Migration {
    let (prod_s3, lake_s3) = (moto.s3(PROD), moto.s3(LAKE));
    let (prod_iam, lake_iam) = (moto.iam(PROD), moto.iam(LAKE));
    let role_arn = format!("arn:aws:iam::{PROD}:role/{}", names.role);
    let operator_arn = format!("arn:aws:iam::{PROD}:user/{}", names.operator);
    let src_arn = format!("arn:aws:s3:::{}", names.source);
    let dst_arn = format!("arn:aws:s3:::{}", names.destination);

    create_bucket(&prod_s3, names.source).await;
    // Without the role (step 1 left out) the operator has no role to assume. moto would let it
    // assume a role that does not exist; AWS would not, so grant nothing then.
    let assume = if steps.role {
        json!([{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}])
    } else {
        json!([{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}])
    };
    let operator = create_user(&prod_iam, names.operator, &policy(assume)).await;
    let auditor = create_user(
        &lake_iam,
        names.auditor,
        &policy(json!([{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*", "s3:HeadBucket", "kms:Describe*", "kms:Get*", "kms:List*", "organizations:DescribeOrganization"], "Resource": "*"}])),
    )
    .await;

    // The key policy: the Data Lake account's root (delegation to its IAM admins) always; the
    // Production role only when step 6 is done.
    let mut key_statements = vec![json!({
        "Sid": "Enable IAM policies of the key owner",
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{LAKE}:root")},
        "Action": "kms:*",
        "Resource": "*"
    })];
    if steps.key_policy_allows_role {
        key_statements.push(json!({
            "Sid": "Allow the Production transfer role to encrypt",
            "Effect": "Allow",
            "Principal": {"AWS": role_arn},
            "Action": ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*"
        }));
    }
    let key_arn = create_key(&moto.kms(LAKE), &policy(Value::Array(key_statements))).await;

    if steps.destination_bucket {
        create_bucket(&lake_s3, names.destination).await;
        if steps.destination_encryption {
            default_encryption(&lake_s3, names.destination, &key_arn).await;
        }
        let rule = aws_sdk_s3::types::OwnershipControlsRule::builder()
            .object_ownership(steps.ownership.clone())
            .build()
            .expect("rule");
        lake_s3
            .put_bucket_ownership_controls()
            .bucket(names.destination)
            .ownership_controls(aws_sdk_s3::types::OwnershipControls::builder().rules(rule).build().expect("controls"))
            .send()
            .await
            .expect("put ownership controls");
        let mut statements = vec![json!({
            "Sid": "AuditorsRead",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{LAKE}:user/{}", names.auditor)},
            "Action": ["s3:GetBucketPolicy", "s3:ListBucket"],
            "Resource": dst_arn
        })];
        if steps.bucket_policy_allows_role {
            statements.push(json!({
                "Sid": "ProductionTransferWrites",
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": ["s3:PutObject", "s3:PutObjectTagging"],
                "Resource": format!("{dst_arn}/{}*", names.destination_prefix)
            }));
            statements.push(json!({
                "Sid": "ProductionProbeCleanup",
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": ["s3:DeleteObject", "s3:AbortMultipartUpload"],
                "Resource": format!("{dst_arn}/{}.s3ferry-probe/*", names.destination_prefix)
            }));
            statements.push(json!({
                "Sid": "ProductionTransferLists",
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": "s3:ListBucket",
                "Resource": dst_arn
            }));
        }
        lake_s3
            .put_bucket_policy()
            .bucket(names.destination)
            .policy(policy(Value::Array(statements)))
            .send()
            .await
            .expect("put bucket policy");
    }

    if steps.role {
        // Trust names the operator user: moto does not admit an account's users through :root.
        let trust =
            policy(json!([{"Effect": "Allow", "Principal": {"AWS": operator_arn}, "Action": "sts:AssumeRole"}]));
        prod_iam
            .create_role()
            .role_name(names.role)
            .assume_role_policy_document(trust)
            .max_session_duration(43_200)
            .send()
            .await
            .expect("create role");
        // What s3ferry's preflight reads about the role itself and the buckets: independent of
        // the eight steps, so leaving out one step changes exactly one check. s3:HeadBucket is
        // moto's name for HEAD on a bucket (AWS checks s3:ListBucket there).
        let mut read = vec![
            json!({"Sid": "Browse", "Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "s3:GetBucketLocation", "s3:HeadBucket"], "Resource": "*"}),
            json!({"Sid": "InspectSelf", "Effect": "Allow", "Action": ["iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:GetPolicy", "iam:GetPolicyVersion"], "Resource": "*"}),
            // Whether the account is in an organization (if not, no SCP or RCP is above it), and
            // the policy of a VPC endpoint the config names.
            json!({"Sid": "InspectLayers", "Effect": "Allow", "Action": ["organizations:DescribeOrganization", "ec2:DescribeVpcEndpoints"], "Resource": "*"}),
            json!({"Sid": "InspectBuckets", "Effect": "Allow", "Action": ["s3:GetBucketPolicy", "s3:GetBucketPolicyStatus", "s3:GetEncryptionConfiguration", "s3:GetBucketOwnershipControls", "s3:GetBucketPublicAccessBlock", "s3:GetBucketRequestPayment"], "Resource": [src_arn.clone(), dst_arn.clone()]}),
        ];
        if steps.role_reads_source {
            read.push(json!({"Sid": "ReadSource", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject", "s3:GetObjectTagging"], "Resource": [src_arn, format!("{src_arn}/*")]}));
        }
        prod_iam
            .put_role_policy()
            .role_name(names.role)
            .policy_name("read-source")
            .policy_document(policy(Value::Array(read)))
            .send()
            .await
            .expect("put role policy");
        let mut write = Vec::new();
        if steps.role_writes_destination {
            write.push(json!({"Sid": "WriteDataLake", "Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectTagging"], "Resource": format!("{dst_arn}/{}*", names.destination_prefix)}));
            write.push(json!({"Sid": "ProbeCleanup", "Effect": "Allow", "Action": ["s3:DeleteObject", "s3:AbortMultipartUpload"], "Resource": format!("{dst_arn}/{}.s3ferry-probe/*", names.destination_prefix)}));
            write.push(json!({"Sid": "ListDataLake", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": dst_arn}));
        }
        if steps.role_uses_key {
            write.push(json!({"Sid": "UseDataLakeKey", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"], "Resource": key_arn}));
        }
        if !write.is_empty() {
            // A managed policy, so evidence gathering sees both inline and attached documents.
            let created = prod_iam
                .create_policy()
                .policy_name(format!("{}-datalake-write", names.role))
                .policy_document(policy(Value::Array(write)))
                .send()
                .await
                .expect("create policy");
            let arn = created.policy.and_then(|p| p.arn).expect("policy arn");
            prod_iam.attach_role_policy().role_name(names.role).policy_arn(arn).send().await.expect("attach policy");
        }
    }

    Migration {
        source_bucket: names.source.to_string(),
        destination_bucket: names.destination.to_string(),
        destination_prefix: names.destination_prefix.to_string(),
        key_arn,
        role_arn,
        operator,
        auditor,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    pub source: &'a str,
    pub destination: &'a str,
    pub destination_prefix: &'a str,
    pub role: &'a str,
    pub operator: &'a str,
    pub auditor: &'a str,
}

impl Migration {
    /// The s3ferry config for this migration, with profiles `operator` and `auditor`.
    pub fn config_toml(&self, endpoint: &str, source_prefix: &str) -> String {
        format!(
            r#"[source]
bucket = "{src}"
prefix = "{source_prefix}"
region = "{REGION}"
profile = "operator"
role_arn = "{role}"
session_duration = "1h"
endpoint_url = "{endpoint}"

[destination]
bucket = "{dst}"
prefix = "{dst_prefix}"
kms_key_arn = "{key}"

[destination.audit]
profile = "auditor"
region = "{REGION}"
"#,
            src = self.source_bucket,
            role = self.role_arn,
            dst = self.destination_bucket,
            dst_prefix = self.destination_prefix,
            key = self.key_arn,
        )
    }
}

/// A migration with names unique to this test, and a workspace holding its `operator` and
/// `auditor` profiles. Tests write the config they need with [`Migration::config_toml`].
pub async fn scenario(steps: Steps) -> (Migration, super::Workspace) {
    let (src, dst, role, op, aud) = (
        super::unique("src"),
        super::unique("dst"),
        super::unique("transfer"),
        super::unique("operator"),
        super::unique("auditor"),
    );
    let names = Names {
        source: &src,
        destination: &dst,
        destination_prefix: "prod/",
        role: &role,
        operator: &op,
        auditor: &aud,
    };
    let m = build(super::moto(), names, steps).await;
    let mut ws = super::Workspace::new();
    ws.profile("operator", &m.operator).profile("auditor", &m.auditor);
    (m, ws)
}
