//! Shared fixtures: the Production (source) and Data Lake (destination) accounts of the issue.
#![allow(dead_code)]

use s3ferry::core::policy::{LabelledPolicy, PolicyKind, Principal, parse_policy};

pub const SRC: &str = "111111111111";
pub const DST: &str = "222222222222";
pub const OTHER: &str = "333333333333";
pub const ROLE: &str = "arn:aws:iam::111111111111:role/ops/transfer";
pub const SESSION: &str = "arn:aws:sts::111111111111:assumed-role/transfer/s3ferry-1";
pub const OBJ: &str = "arn:aws:s3:::datalake-raw/prod/2024/data.parquet";
pub const BUCKET: &str = "arn:aws:s3:::datalake-raw";
pub const SRC_OBJ: &str = "arn:aws:s3:::prod-exports/2024/data.parquet";
pub const DKEY: &str = "arn:aws:kms:eu-west-1:222222222222:key/0f1e2d3c-aaaa-bbbb-cccc-123456789012";
pub const SKEY: &str = "arn:aws:kms:eu-west-1:111111111111:key/11111111-aaaa-bbbb-cccc-111111111111";

/// The transfer role's session with its role ARN known (what the preflight has after iam:GetRole).
pub fn session() -> Principal {
    Principal::from_arn(SESSION).expect("fixture ARN").with_role_arn(ROLE)
}

/// A JSON statement. `principal`, `action`, `resource` and `cond` are JSON fragments.
pub fn st(effect: &str, principal: Option<&str>, action: &str, resource: &str, cond: Option<&str>) -> String {
    let mut s = format!(r#"{{"Effect":"{effect}""#);
    if let Some(p) = principal {
        s.push_str(&format!(r#","Principal":{p}"#));
    }
    s.push_str(&format!(r#","Action":{action},"Resource":{resource}"#));
    if let Some(c) = cond {
        s.push_str(&format!(r#","Condition":{c}"#));
    }
    s.push('}');
    s
}

pub fn doc(statements: &[String]) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, statements.join(","))
}

pub fn aws(arn: &str) -> String {
    format!(r#"{{"AWS":"{arn}"}}"#)
}

pub fn q(s: &str) -> String {
    format!("\"{s}\"")
}

pub fn labelled(kind: PolicyKind, name: &str, account: &str, json: &str) -> LabelledPolicy {
    let document = parse_policy(json, kind).unwrap_or_else(|e| panic!("fixture {name} does not parse: {e}\n{json}"));
    LabelledPolicy::new(kind, name, account, document)
}

pub fn default_name(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Identity => "inline:transfer-write",
        PolicyKind::Boundary => "boundary:transfer-boundary",
        PolicyKind::Session => "session policy",
        PolicyKind::Bucket => "bucket policy of datalake-raw",
        PolicyKind::Key => "key policy of datalake-key",
        PolicyKind::Trust => "trust policy of transfer",
        PolicyKind::Scp => "scp:root",
        PolicyKind::Rcp => "rcp:root",
        PolicyKind::Endpoint => "endpoint:vpce-1",
    }
}
