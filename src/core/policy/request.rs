//! The request being evaluated: who, what, on which resource, with which context keys.

use std::collections::BTreeMap;

use serde::Serialize;

use super::matcher::{is_account_id, parse_arn};

/// The caller as STS reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub account: String,
    /// Role session (`arn:aws:sts::ACCT:assumed-role/NAME/SESSION`), user, role or root ARN.
    pub arn: String,
    /// The role ARN with its path, for role sessions (session ARNs carry no path).
    pub role_arn: Option<String>,
}

/// Why a string is not a principal's ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    #[error("\"{0}\" is not an ARN")]
    NotAnArn(String),
    #[error("\"{0}\" has no 12-digit account id")]
    NoAccount(String),
    #[error(
        "\"{0}\" is not a role, role session, user or root ARN (arn:aws:iam::ACCOUNT:role/NAME, \
         arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION, arn:aws:iam::ACCOUNT:user/NAME)"
    )]
    NotAPrincipal(String),
}

impl Principal {
    /// Builds a principal from an ARN (or a bare account id, meaning its root), deriving the account.
    /// A role ARN becomes its own `role_arn`.
    pub fn from_arn(arn: &str) -> Result<Principal, ArnError> {
        if is_account_id(arn) {
            return Ok(Principal { account: arn.to_string(), arn: format!("arn:aws:iam::{arn}:root"), role_arn: None });
        }
        let parsed = parse_arn(arn).ok_or_else(|| ArnError::NotAnArn(arn.to_string()))?;
        if !is_account_id(parsed.account) {
            return Err(ArnError::NoAccount(arn.to_string()));
        }
        let supported = matches!(
            (parsed.service, parsed.resource.split('/').next()),
            ("iam", Some("role" | "user" | "root")) | ("sts", Some("assumed-role" | "federated-user"))
        );
        if !supported {
            return Err(ArnError::NotAPrincipal(arn.to_string()));
        }
        let role_arn = (parsed.service == "iam" && parsed.resource.starts_with("role/")).then(|| arn.to_string());
        Ok(Principal { account: parsed.account.to_string(), arn: arn.to_string(), role_arn })
    }

    /// The same principal with the role ARN of its session set.
    pub fn with_role_arn(mut self, role_arn: impl Into<String>) -> Principal {
        self.role_arn = Some(role_arn.into());
        self
    }
}

/// Request context: case-insensitive keys, each with one or more values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Context {
    /// Lower-cased key -> (key as first given, values).
    entries: BTreeMap<String, (String, Vec<String>)>,
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    /// Adds a value to `key` (a repeated key becomes multi-valued).
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.entries
            .entry(key.to_ascii_lowercase())
            .or_insert_with(|| (key.to_string(), Vec::new()))
            .1
            .push(value.into());
    }

    /// Replaces all values of `key`; an empty vector models a present-but-empty multivalued key.
    pub fn set(&mut self, key: &str, values: Vec<String>) {
        self.entries.insert(key.to_ascii_lowercase(), (key.to_string(), values));
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> Context {
        self.insert(key, value);
        self
    }

    pub fn remove(&mut self, key: &str) {
        self.entries.remove(&key.to_ascii_lowercase());
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.entries.get(&key.to_ascii_lowercase()).map(|(_, v)| v.as_slice())
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(&key.to_ascii_lowercase())
    }

    /// (key as given, values) in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.values().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    pub(crate) fn get_lower(&self, key_lower: &str) -> Option<&[String]> {
        self.entries.get(key_lower).map(|(_, v)| v.as_slice())
    }
}

/// Context lookup by lower-cased key, so the evaluator can layer derived keys over the caller's context.
pub(crate) trait Lookup {
    fn get(&self, key_lower: &str) -> Option<&[String]>;
}

impl Lookup for Context {
    fn get(&self, key_lower: &str) -> Option<&[String]> {
        self.get_lower(key_lower)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    pub principal: Principal,
    pub action: String,
    /// A concrete ARN: an object ARN for object actions, a bucket ARN for bucket actions, a key ARN for KMS.
    pub resource: String,
    /// The account owning the resource; empty means "take it from the ARN" (S3 ARNs have none).
    pub resource_account: String,
    pub context: Context,
}

impl Request {
    pub fn new(
        principal: Principal,
        action: impl Into<String>,
        resource: impl Into<String>,
        resource_account: impl Into<String>,
    ) -> Request {
        Request {
            principal,
            action: action.into(),
            resource: resource.into(),
            resource_account: resource_account.into(),
            context: Context::new(),
        }
    }

    pub fn with_context(mut self, key: &str, value: impl Into<String>) -> Request {
        self.context.insert(key, value);
        self
    }

    /// KMS requests are decided by the key policy; everything else by the bucket policy.
    pub fn is_kms(&self) -> bool {
        self.action.split_once(':').is_some_and(|(svc, _)| svc.eq_ignore_ascii_case("kms"))
            || parse_arn(&self.resource).is_some_and(|a| a.service == "kms")
    }
}
