//! Gathers what a preflight needs from both accounts: identity policies, bucket settings and
//! policies, keys and key policies. Whatever cannot be read is recorded with the reason, never
//! guessed; destination policies come from the destination's own or audit credentials, or from
//! files the operator supplies.

use std::path::{Path, PathBuf};

use aws_sdk_s3::types::{ObjectOwnership, Payer, ServerSideEncryption};

use crate::config::Config;
use crate::core::preflight::evidence::{
    BucketEvidence, Encryption, Evidence, Fetched, KeyEvidence, LayerEvidence, NamedPolicy, Ownership,
    PrincipalEvidence, RoleEvidence, RunShape,
};
use crate::engine::errors::{describe_sdk_error, error_code, region_header};
use crate::engine::session::Session;

/// Policy documents the operator supplies instead of reading them (`--dst-bucket-policy FILE`).
#[derive(Debug, Clone, Default)]
pub struct SuppliedPolicies {
    pub destination_bucket: Option<PathBuf>,
    pub destination_key: Option<PathBuf>,
}

/// Gathers with whatever sessions exist. Without a source session (the principal did not resolve)
/// the destination is still read with its own or audit credentials.
pub async fn gather_all(
    config: &Config,
    source: Result<&Session, String>,
    reader: Option<&Session>,
    supplied: &SuppliedPolicies,
    run: RunShape,
) -> Evidence {
    let mut ev = match source {
        Ok(s) => gather(config, s, reader, supplied, run).await,
        Err(why) => {
            let mut destination = match reader {
                Some(r) => {
                    bucket(r, &config.destination.bucket, &config.destination.prefix, Some(&r.info.identity.account))
                        .await
                }
                None => BucketEvidence::unknown(&config.destination.bucket, &config.destination.prefix, &why),
            };
            if let Some(path) = &supplied.destination_bucket {
                destination.policy = read_file(path);
            }
            let destination_key = match (&config.destination.kms_key_arn, reader) {
                (Some(arn), Some(r)) => Some(key(r, arn, true).await),
                (Some(_), None) => Some(Fetched::Unreadable(why.clone())),
                (None, _) => None,
            };
            let destination_key_policy = destination_key_policy(destination_key.as_ref(), reader.is_some(), supplied);
            Evidence {
                principal: Fetched::Unreadable(why.clone()),
                credentials: None,
                source: BucketEvidence::unknown(&config.source.bucket, &config.source.prefix, &why),
                source_key: None,
                destination,
                destination_key_arn: config.destination.kms_key_arn.clone(),
                destination_key,
                destination_key_policy,
                run,
                layers: LayerEvidence::unknown(&why)
                    .with_endpoints([&config.source.vpc_endpoint_id, &config.destination.vpc_endpoint_id], &why),
            }
        }
    };
    // The copier sends bucket-owner-full-control exactly when the bucket prefers it.
    if ev.destination.ownership.got() == Some(&Ownership::BucketOwnerPreferred) {
        ev.run.acl = Some("bucket-owner-full-control".to_string());
    }
    ev
}

/// `source` is the transfer principal's session; `reader` reads the destination account's own
/// settings (destination or audit credentials) when the config gives any.
pub async fn gather(
    config: &Config,
    source: &Session,
    reader: Option<&Session>,
    supplied: &SuppliedPolicies,
    run: RunShape,
) -> Evidence {
    let principal = principal(source).await;
    let src = bucket(source, &config.source.bucket, &config.source.prefix, Some(&source.info.identity.account)).await;
    let source_key = source_key(source, &src).await;

    let dst_account =
        config.destination.kms_key_arn.as_deref().and_then(|arn| arn.split(':').nth(4)).map(str::to_string);
    let mut destination = match reader {
        Some(r) => {
            bucket(r, &config.destination.bucket, &config.destination.prefix, Some(&r.info.identity.account)).await
        }
        None => {
            let mut b =
                bucket(source, &config.destination.bucket, &config.destination.prefix, dst_account.as_deref()).await;
            if dst_account.as_deref() != Some(source.info.identity.account.as_str()) {
                // AWS answers GetBucketPolicy with 405 to every other account, whatever the
                // policy says; say so rather than ask (an emulator might answer).
                b.policy = Fetched::Unreadable(
                    "GetBucketPolicy is answered only to the bucket owner's account (405): add [destination.audit] credentials or pass --dst-bucket-policy FILE".into(),
                );
                let why = "not readable with the source identity: add [destination.audit] credentials";
                b.ownership = b.ownership.or_unreadable(why);
                b.restrict_public_buckets = b.restrict_public_buckets.or_unreadable(why);
                b.policy_is_public = b.policy_is_public.or_unreadable(why);
            }
            b
        }
    };
    if let Some(path) = &supplied.destination_bucket {
        destination.policy = read_file(path);
    }
    let destination_key = match &config.destination.kms_key_arn {
        Some(arn) => Some(key(reader.unwrap_or(source), arn, reader.is_some()).await),
        None => None,
    };
    let destination_key_policy = destination_key_policy(destination_key.as_ref(), reader.is_some(), supplied);
    let mut principal = principal;
    if let (Fetched::Got(p), Some(role)) = (&mut principal, &config.source.access.role) {
        p.session_policy = role
            .session_policy
            .clone()
            .map(|text| NamedPolicy { name: "session policy (source.session_policy)".to_string(), text });
    }
    let account = source.info.identity.account.clone();
    let destination_account = destination.account.clone().or(dst_account);
    let accounts = crate::engine::layers::Accounts {
        principal: &account,
        source: src.account.as_deref().unwrap_or(&account),
        destination: destination_account.as_deref(),
    };
    let layers = crate::engine::layers::gather(config, source, reader, accounts).await;
    Evidence {
        layers,
        principal,
        credentials: Some(source.info.lifetime.clone()),
        source: src,
        source_key,
        destination,
        destination_key_arn: config.destination.kms_key_arn.clone(),
        destination_key,
        destination_key_policy,
        run,
    }
}

/// The destination key policy: from a file when supplied, else as read with the destination's
/// own or audit credentials. kms:GetKeyPolicy does not work across accounts.
fn destination_key_policy(
    key: Option<&Fetched<KeyEvidence>>,
    read_in_account: bool,
    supplied: &SuppliedPolicies,
) -> Option<Fetched<NamedPolicy>> {
    if let Some(path) = &supplied.destination_key {
        return Some(read_file(path));
    }
    let key = key?;
    Some(match (key, read_in_account) {
        (Fetched::Got(k), true) => k.policy.clone(),
        (Fetched::Unreadable(why), true) => Fetched::Unreadable(why.clone()),
        _ => Fetched::Unreadable(
            "kms:GetKeyPolicy only works inside the key's account: add [destination.audit] credentials or pass --dst-key-policy FILE".into(),
        ),
    })
}

impl<T> Fetched<T> {
    /// Marks a fact unreadable unless it was actually read.
    fn or_unreadable(self, why: &str) -> Fetched<T> {
        match self {
            Fetched::Got(v) => Fetched::Got(v),
            _ => Fetched::Unreadable(why.to_string()),
        }
    }
}

fn read_file(path: &Path) -> Fetched<NamedPolicy> {
    match crate::config::read_text(path, crate::config::MAX_DOCUMENT_BYTES) {
        Ok(text) => Fetched::Got(NamedPolicy { name: format!("file:{}", path.display()), text }),
        Err(e) => Fetched::Unreadable(format!("cannot read {}: {e}", path.display())),
    }
}

/// The caller's role (or user) and its identity policies.
async fn principal(session: &Session) -> Fetched<PrincipalEvidence> {
    let iam = aws_sdk_iam::Client::new(&session.sdk);
    let arn = session.info.identity.arn.clone();
    let account = session.info.identity.account.clone();
    let resource = arn.split(':').nth(5).unwrap_or_default();
    let mut ev = PrincipalEvidence {
        account: account.clone(),
        arn: arn.clone(),
        role_arn: None,
        role: Fetched::Absent,
        identity_policies: Fetched::Absent,
        boundary: None,
        session_policy: None,
    };
    if let Some(rest) = resource.strip_prefix("assumed-role/") {
        let name = rest.split('/').next().unwrap_or_default().to_string();
        match iam.get_role().role_name(&name).send().await {
            Ok(out) => {
                let role = out.role;
                let role_arn = role.as_ref().map(|r| r.arn.clone());
                let boundary_arn = role
                    .as_ref()
                    .and_then(|r| r.permissions_boundary.as_ref())
                    .and_then(|b| b.permissions_boundary_arn.clone());
                ev.role_arn = role_arn;
                ev.role = Fetched::Got(RoleEvidence {
                    name: name.clone(),
                    max_session_secs: role.as_ref().and_then(|r| r.max_session_duration).unwrap_or(3600).max(0) as u64,
                    boundary_arn: boundary_arn.clone(),
                });
                if let Some(b) = boundary_arn {
                    ev.boundary = Some(managed_policy(&iam, &b).await);
                }
            }
            Err(e) => {
                ev.role_arn = Some(format!("arn:aws:iam::{account}:role/{name}"));
                ev.role = Fetched::Unreadable(format!(
                    "iam:GetRole on {name} failed ({}); grant the role iam:GetRole and iam:List*Policies/iam:Get*Policy* on itself, or review its policies by hand",
                    describe_sdk_error(&e)
                ));
            }
        }
        ev.identity_policies = role_policies(&iam, &name).await;
    } else if let Some(rest) = resource.strip_prefix("user/") {
        let name = rest.rsplit('/').next().unwrap_or_default().to_string();
        ev.identity_policies = user_policies(&iam, &name).await;
    } else {
        ev.identity_policies = Fetched::Unreadable(format!(
            "{arn} is neither a role session nor a user: its identity policies were not read"
        ));
    }
    Fetched::Got(ev)
}

pub(crate) async fn role_policies(iam: &aws_sdk_iam::Client, role: &str) -> Fetched<Vec<NamedPolicy>> {
    let mut docs = Vec::new();
    let names = match iam.list_role_policies().role_name(role).send().await {
        Ok(out) => out.policy_names,
        Err(e) => return Fetched::Unreadable(format!("iam:ListRolePolicies on {role}: {}", describe_sdk_error(&e))),
    };
    for name in names {
        match iam.get_role_policy().role_name(role).policy_name(&name).send().await {
            Ok(out) => docs.push(NamedPolicy { name: format!("inline:{name}"), text: out.policy_document }),
            Err(e) => {
                return Fetched::Unreadable(format!("iam:GetRolePolicy {name} on {role}: {}", describe_sdk_error(&e)));
            }
        }
    }
    let attached = match iam.list_attached_role_policies().role_name(role).send().await {
        Ok(out) => out.attached_policies.unwrap_or_default(),
        Err(e) => {
            return Fetched::Unreadable(format!("iam:ListAttachedRolePolicies on {role}: {}", describe_sdk_error(&e)));
        }
    };
    for p in attached {
        match managed_policy(iam, p.policy_arn().unwrap_or_default()).await {
            Fetched::Got(doc) => docs.push(doc),
            Fetched::Unreadable(why) => return Fetched::Unreadable(why),
            Fetched::Absent => {}
        }
    }
    Fetched::Got(docs)
}

async fn user_policies(iam: &aws_sdk_iam::Client, user: &str) -> Fetched<Vec<NamedPolicy>> {
    let mut docs = Vec::new();
    let names = match iam.list_user_policies().user_name(user).send().await {
        Ok(out) => out.policy_names,
        Err(e) => return Fetched::Unreadable(format!("iam:ListUserPolicies on {user}: {}", describe_sdk_error(&e))),
    };
    for name in names {
        match iam.get_user_policy().user_name(user).policy_name(&name).send().await {
            Ok(out) => docs.push(NamedPolicy { name: format!("inline:{name}"), text: out.policy_document }),
            Err(e) => {
                return Fetched::Unreadable(format!("iam:GetUserPolicy {name} on {user}: {}", describe_sdk_error(&e)));
            }
        }
    }
    let attached = match iam.list_attached_user_policies().user_name(user).send().await {
        Ok(out) => out.attached_policies.unwrap_or_default(),
        Err(e) => {
            return Fetched::Unreadable(format!("iam:ListAttachedUserPolicies on {user}: {}", describe_sdk_error(&e)));
        }
    };
    for p in attached {
        if let Fetched::Got(doc) = managed_policy(iam, p.policy_arn().unwrap_or_default()).await {
            docs.push(doc);
        }
    }
    Fetched::Got(docs)
}

pub(crate) async fn managed_policy(iam: &aws_sdk_iam::Client, arn: &str) -> Fetched<NamedPolicy> {
    let version = match iam.get_policy().policy_arn(arn).send().await {
        Ok(out) => out.policy.and_then(|p| p.default_version_id).unwrap_or_else(|| "v1".to_string()),
        Err(e) => return Fetched::Unreadable(format!("iam:GetPolicy {arn}: {}", describe_sdk_error(&e))),
    };
    match iam.get_policy_version().policy_arn(arn).version_id(&version).send().await {
        Ok(out) => match out.policy_version.and_then(|v| v.document) {
            Some(text) => Fetched::Got(NamedPolicy { name: format!("managed:{arn}"), text }),
            None => Fetched::Unreadable(format!("iam:GetPolicyVersion {arn} returned no document")),
        },
        Err(e) => Fetched::Unreadable(format!("iam:GetPolicyVersion {arn}: {}", describe_sdk_error(&e))),
    }
}

/// A bucket's settings as far as `session` may read them.
async fn bucket(session: &Session, name: &str, prefix: &str, account: Option<&str>) -> BucketEvidence {
    let mut ev = BucketEvidence::unknown(name, prefix, "not read");
    ev.account = account.map(str::to_string);
    let head = session.s3.head_bucket().bucket(name).send().await;
    let region = match &head {
        Ok(out) => out.bucket_region().map(str::to_string),
        Err(e) => region_header(e),
    };
    ev.exists = match &head {
        Ok(_) => Fetched::Got(()),
        Err(e) if error_code(e).as_deref() == Some("NotFound") => Fetched::Absent,
        Err(e) => Fetched::Unreadable(format!("HeadBucket: {}", describe_sdk_error(e))),
    };
    ev.region = match region {
        Some(r) => Fetched::Got(r),
        None if matches!(ev.exists, Fetched::Absent) => Fetched::Absent,
        None => Fetched::Unreadable("HeadBucket gave no Region".into()),
    };
    if matches!(ev.exists, Fetched::Absent) {
        let why = format!("bucket {name} does not exist");
        return BucketEvidence {
            exists: Fetched::Absent,
            region: Fetched::Absent,
            ..BucketEvidence::unknown(name, prefix, &why)
        };
    }
    let s3 = match ev.region.got() {
        Some(r) if Some(r.as_str()) != session.sdk.region().map(|x| x.as_ref()) => session.s3_in(r),
        _ => session.s3.clone(),
    };
    ev.policy = match s3.get_bucket_policy().bucket(name).send().await {
        Ok(out) => match out.policy {
            Some(text) => Fetched::Got(NamedPolicy { name: format!("bucket policy of {name}"), text }),
            None => Fetched::Absent,
        },
        Err(e) => absent_if(&e, &["NoSuchBucketPolicy"], "GetBucketPolicy"),
    };
    ev.encryption = match s3.get_bucket_encryption().bucket(name).send().await {
        Ok(out) => {
            let rule = out.server_side_encryption_configuration.and_then(|c| c.rules.into_iter().next());
            let bucket_key = rule.as_ref().and_then(|r| r.bucket_key_enabled).unwrap_or(false);
            match rule.and_then(|r| r.apply_server_side_encryption_by_default) {
                Some(d) => match d.sse_algorithm {
                    ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse => {
                        Fetched::Got(Encryption::SseKms {
                            key_id: d.kms_master_key_id.unwrap_or_else(|| "aws/s3".to_string()),
                            bucket_key,
                        })
                    }
                    ServerSideEncryption::Aes256 => Fetched::Got(Encryption::SseS3),
                    other => Fetched::Got(Encryption::Other(other.as_str().to_string())),
                },
                None => Fetched::Absent,
            }
        }
        Err(e) => absent_if(&e, &["ServerSideEncryptionConfigurationNotFoundError"], "GetBucketEncryption"),
    };
    ev.ownership = match s3.get_bucket_ownership_controls().bucket(name).send().await {
        Ok(out) => match out.ownership_controls.and_then(|c| c.rules.into_iter().next()).map(|r| r.object_ownership) {
            Some(ObjectOwnership::BucketOwnerEnforced) => Fetched::Got(Ownership::BucketOwnerEnforced),
            Some(ObjectOwnership::BucketOwnerPreferred) => Fetched::Got(Ownership::BucketOwnerPreferred),
            Some(ObjectOwnership::ObjectWriter) => Fetched::Got(Ownership::ObjectWriter),
            _ => Fetched::Absent,
        },
        Err(e) => absent_if(&e, &["OwnershipControlsNotFoundError"], "GetBucketOwnershipControls"),
    };
    ev.restrict_public_buckets = match s3.get_public_access_block().bucket(name).send().await {
        Ok(out) => {
            Fetched::Got(out.public_access_block_configuration.and_then(|c| c.restrict_public_buckets).unwrap_or(false))
        }
        Err(e) => absent_if(&e, &["NoSuchPublicAccessBlockConfiguration"], "GetPublicAccessBlock"),
    };
    ev.policy_is_public = match s3.get_bucket_policy_status().bucket(name).send().await {
        Ok(out) => Fetched::Got(out.policy_status.and_then(|s| s.is_public).unwrap_or(false)),
        Err(e) => absent_if(&e, &["NoSuchBucketPolicy"], "GetBucketPolicyStatus"),
    };
    ev.requester_pays = match s3.get_bucket_request_payment().bucket(name).send().await {
        Ok(out) => Fetched::Got(out.payer == Some(Payer::Requester)),
        Err(e) => Fetched::Unreadable(format!("GetBucketRequestPayment: {}", describe_sdk_error(&e))),
    };
    ev
}

fn absent_if<E, T>(
    err: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
    absent_codes: &[&str],
    call: &str,
) -> Fetched<T>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = error_code(err).unwrap_or_default();
    if absent_codes.contains(&code.as_str()) {
        return Fetched::Absent;
    }
    let hint = match code.as_str() {
        "MethodNotAllowed" => " (only the bucket owner's account may call this)",
        "NotImplemented" => " (the endpoint does not implement this API)",
        _ => "",
    };
    Fetched::Unreadable(format!("{call}: {}{hint}", describe_sdk_error(err)))
}

/// The key the source objects are encrypted with: the bucket default, or one sample object's.
async fn source_key(session: &Session, bucket: &BucketEvidence) -> Option<Fetched<KeyEvidence>> {
    let mut key_id = match bucket.encryption.got() {
        Some(Encryption::SseKms { key_id, .. }) => Some(key_id.clone()),
        _ => None,
    };
    if let Ok(page) =
        session.s3.list_objects_v2().bucket(&bucket.bucket).prefix(&bucket.prefix).max_keys(1).send().await
        && let Some(first) = page.contents().first().and_then(|o| o.key())
        && let Ok(head) = session.s3.head_object().bucket(&bucket.bucket).key(first).send().await
        && let Some(id) = head.ssekms_key_id()
    {
        key_id = Some(id.to_string());
    }
    let id = key_id?;
    Some(key(session, &id, false).await)
}

/// DescribeKey and, when `with_policy` or same-account, GetKeyPolicy.
pub(crate) async fn key(session: &Session, key_id: &str, with_policy: bool) -> Fetched<KeyEvidence> {
    let region = key_id.split(':').nth(3).filter(|r| !r.is_empty()).map(str::to_string);
    let sdk = match &region {
        Some(r) => session.sdk.clone().into_builder().region(aws_types::region::Region::new(r.clone())).build(),
        None => session.sdk.clone(),
    };
    let kms = aws_sdk_kms::Client::new(&sdk);
    let meta = match kms.describe_key().key_id(key_id).send().await {
        Ok(out) => match out.key_metadata {
            Some(m) => m,
            None => return Fetched::Unreadable(format!("kms:DescribeKey {key_id} returned no metadata")),
        },
        Err(e) => return Fetched::Unreadable(format!("kms:DescribeKey {key_id}: {}", describe_sdk_error(&e))),
    };
    let arn = meta.arn.clone().unwrap_or_else(|| key_id.to_string());
    let policy = if with_policy || meta.aws_account_id.as_deref() == Some(session.info.identity.account.as_str()) {
        match kms.get_key_policy().key_id(&arn).policy_name("default").send().await {
            Ok(out) => match out.policy {
                Some(text) => Fetched::Got(NamedPolicy { name: format!("key policy of {arn}"), text }),
                None => Fetched::Absent,
            },
            Err(e) => Fetched::Unreadable(format!("kms:GetKeyPolicy {arn}: {}", describe_sdk_error(&e))),
        }
    } else {
        Fetched::Unreadable("kms:GetKeyPolicy only works inside the key's account".into())
    };
    Fetched::Got(KeyEvidence {
        account: meta.aws_account_id.clone().unwrap_or_default(),
        region: arn.split(':').nth(3).unwrap_or_default().to_string(),
        manager: meta.key_manager.as_ref().map(|m| m.as_str().to_string()).unwrap_or_default(),
        enabled: meta.enabled,
        symmetric: meta.key_spec.as_ref().map(|s| s.as_str() == "SYMMETRIC_DEFAULT").unwrap_or(true),
        arn,
        policy,
    })
}
