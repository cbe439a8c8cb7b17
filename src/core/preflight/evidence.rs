//! What the preflight knows, as plain data: the documents and settings gathered from both
//! accounts (or supplied as files), and for everything that could not be read, why.

use serde::Serialize;

/// One gathered fact: read, known to be absent, or unreadable (and then its check is `unknown`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "value")]
pub enum Fetched<T> {
    Got(T),
    /// Read, and there is none (no bucket policy, no default encryption, ...).
    Absent,
    Unreadable(String),
}

impl<T> Fetched<T> {
    pub fn got(&self) -> Option<&T> {
        match self {
            Fetched::Got(v) => Some(v),
            _ => None,
        }
    }

    pub fn unreadable(&self) -> Option<&str> {
        match self {
            Fetched::Unreadable(why) => Some(why),
            _ => None,
        }
    }
}

/// A policy document as text, with where it came from (for explanations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedPolicy {
    /// "inline:read-source", "managed:arn:aws:iam::...:policy/x", "file:dl-bucket.json", ...
    pub name: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrincipalEvidence {
    pub account: String,
    /// As STS reports it: a role session, a user, or root.
    pub arn: String,
    /// The role ARN with its path, when the principal is a role session.
    pub role_arn: Option<String>,
    pub role: Fetched<RoleEvidence>,
    /// Inline and attached identity policies.
    pub identity_policies: Fetched<Vec<NamedPolicy>>,
    pub boundary: Option<Fetched<NamedPolicy>>,
    /// The session policy s3ferry passes when it assumes the role (`source.session_policy`).
    pub session_policy: Option<NamedPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleEvidence {
    pub name: String,
    pub max_session_secs: u64,
    pub boundary_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Encryption {
    SseS3,
    SseKms { key_id: String, bucket_key: bool },
    Other(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Ownership {
    BucketOwnerEnforced,
    BucketOwnerPreferred,
    ObjectWriter,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyEvidence {
    pub arn: String,
    pub account: String,
    pub region: String,
    /// "AWS" for AWS managed keys (aws/s3), "CUSTOMER" otherwise.
    pub manager: String,
    pub enabled: bool,
    pub symmetric: bool,
    pub policy: Fetched<NamedPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BucketEvidence {
    pub bucket: String,
    pub prefix: String,
    /// The account that owns the bucket, when known.
    pub account: Option<String>,
    pub exists: Fetched<()>,
    pub region: Fetched<String>,
    pub policy: Fetched<NamedPolicy>,
    pub encryption: Fetched<Encryption>,
    pub ownership: Fetched<Ownership>,
    /// RestrictPublicBuckets from the bucket's public access block.
    pub restrict_public_buckets: Fetched<bool>,
    /// GetBucketPolicyStatus: whether AWS considers the bucket policy public.
    pub policy_is_public: Fetched<bool>,
    pub requester_pays: Fetched<bool>,
}

impl BucketEvidence {
    pub fn unknown(bucket: &str, prefix: &str, why: &str) -> BucketEvidence {
        fn u<T>(why: &str) -> Fetched<T> {
            Fetched::Unreadable(why.to_string())
        }
        BucketEvidence {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            account: None,
            exists: u(why),
            region: u(why),
            policy: u(why),
            encryption: u(why),
            ownership: u(why),
            restrict_public_buckets: u(why),
            policy_is_public: u(why),
            requester_pays: u(why),
        }
    }
}

/// What the run will do, as far as the checks care.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunShape {
    pub copies_tags: bool,
    pub multipart_planned: bool,
    /// The ACL header the copier sends, if any ("bucket-owner-full-control").
    pub acl: Option<String>,
    /// Estimated run time, when a plan exists.
    pub estimated_secs: Option<u64>,
}

/// Everything gathered for one preflight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub principal: Fetched<PrincipalEvidence>,
    pub credentials: Option<crate::core::credentials::CredentialLifetime>,
    pub source: BucketEvidence,
    /// The source objects' KMS key, when they use SSE-KMS (from default encryption or a sample).
    pub source_key: Option<Fetched<KeyEvidence>>,
    pub destination: BucketEvidence,
    pub destination_key_arn: Option<String>,
    pub destination_key: Option<Fetched<KeyEvidence>>,
    /// The destination key's policy, read in its account or supplied as a file; kept apart from
    /// `destination_key` because DescribeKey and GetKeyPolicy need different credentials.
    pub destination_key_policy: Option<Fetched<NamedPolicy>>,
    pub run: RunShape,
    /// The layers above the accounts (SCPs, RCPs) and around the host (VPC endpoints).
    pub layers: LayerEvidence,
}

/// SCPs, RCPs and VPC endpoint policies. For the organization's: `Absent` means the account is
/// in no organization (nothing above it), `Unreadable` says why and what would let s3ferry read
/// them, and each `Got` holds one document a level, root first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerEvidence {
    /// SCP levels above the transfer principal's account.
    pub scps: Fetched<Vec<NamedPolicy>>,
    /// RCP levels above the source bucket's account.
    pub source_rcps: Fetched<Vec<NamedPolicy>>,
    /// RCP levels above the destination bucket's account.
    pub destination_rcps: Fetched<Vec<NamedPolicy>>,
    /// The organization's management account: SCPs and RCPs do not apply to it.
    pub management_account: Option<String>,
    /// Each side's configured VPC endpoint and its policy.
    pub source_endpoint: Option<(String, Fetched<NamedPolicy>)>,
    pub destination_endpoint: Option<(String, Fetched<NamedPolicy>)>,
}

impl LayerEvidence {
    /// Nothing known about the organization, for `why`; no endpoints.
    pub fn unknown(why: &str) -> LayerEvidence {
        LayerEvidence {
            scps: Fetched::Unreadable(why.to_string()),
            source_rcps: Fetched::Unreadable(why.to_string()),
            destination_rcps: Fetched::Unreadable(why.to_string()),
            management_account: None,
            source_endpoint: None,
            destination_endpoint: None,
        }
    }

    /// The configured endpoints, unread for `why` (their checks are then unknown, not passed).
    pub fn with_endpoints(mut self, [source, destination]: [&Option<String>; 2], why: &str) -> LayerEvidence {
        let unread = |id: &Option<String>| id.clone().map(|id| (id, Fetched::Unreadable(why.to_string())));
        self.source_endpoint = unread(source);
        self.destination_endpoint = unread(destination);
        self
    }

    /// In no organization, no endpoints: nothing above or around the accounts.
    pub fn none() -> LayerEvidence {
        LayerEvidence {
            scps: Fetched::Absent,
            source_rcps: Fetched::Absent,
            destination_rcps: Fetched::Absent,
            management_account: None,
            source_endpoint: None,
            destination_endpoint: None,
        }
    }
}
