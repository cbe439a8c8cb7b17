//! Policy document model and parser.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

use super::condition::Operator;
use super::json::{self, Json, Seg, render_path};

/// Which role a document plays in a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    Identity,
    Boundary,
    Session,
    Bucket,
    Key,
    /// A role's trust policy (who may assume it): a resource policy without `Resource`.
    Trust,
    /// A service control policy: one level of the organization above the caller's account.
    Scp,
    /// A resource control policy: one level above the resource's account.
    Rcp,
    /// A VPC endpoint policy: limits every request through the endpoint.
    Endpoint,
}

impl PolicyKind {
    /// The kinds `explain --policy KIND=FILE` takes.
    pub const ALL: [PolicyKind; 8] = [
        PolicyKind::Identity,
        PolicyKind::Boundary,
        PolicyKind::Session,
        PolicyKind::Bucket,
        PolicyKind::Key,
        PolicyKind::Scp,
        PolicyKind::Rcp,
        PolicyKind::Endpoint,
    ];

    /// Resource policies name principals; caller-side policies apply to whoever holds them.
    /// (RCPs and endpoint policies name principals too, so they parse as resource policies.)
    pub fn is_resource_policy(self) -> bool {
        matches!(
            self,
            PolicyKind::Bucket | PolicyKind::Key | PolicyKind::Trust | PolicyKind::Rcp | PolicyKind::Endpoint
        )
    }

    /// Layers that only limit: SCPs, RCPs and endpoint policies never grant.
    pub fn is_guardrail(self) -> bool {
        matches!(self, PolicyKind::Scp | PolicyKind::Rcp | PolicyKind::Endpoint)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Identity => "identity",
            PolicyKind::Boundary => "boundary",
            PolicyKind::Session => "session",
            PolicyKind::Bucket => "bucket",
            PolicyKind::Key => "key",
            PolicyKind::Trust => "trust",
            PolicyKind::Scp => "scp",
            PolicyKind::Rcp => "rcp",
            PolicyKind::Endpoint => "endpoint",
        }
    }

    /// Words for explanations: "identity policy", "permissions boundary", ...
    pub fn describe(self) -> &'static str {
        match self {
            PolicyKind::Identity => "identity policy",
            PolicyKind::Boundary => "permissions boundary",
            PolicyKind::Session => "session policy",
            PolicyKind::Bucket => "bucket policy",
            PolicyKind::Key => "key policy",
            PolicyKind::Trust => "role trust policy",
            PolicyKind::Scp => "service control policy",
            PolicyKind::Rcp => "resource control policy",
            PolicyKind::Endpoint => "VPC endpoint policy",
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PolicyKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyKind::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            format!(
                "unknown policy kind \"{s}\": expected identity, boundary, session, bucket, key, scp, rcp or endpoint"
            )
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Effect {
    Allow,
    Deny,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        })
    }
}

/// An invalid document: where (JSON path) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("at {path}: {message}")]
pub struct PolicyError {
    pub path: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyDocument {
    pub version: Option<String>,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

impl PolicyDocument {
    /// Policy variables (`${aws:username}`) exist only in version 2012-10-17; older documents treat them
    /// as literal text.
    pub fn supports_variables(&self) -> bool {
        self.version.as_deref() == Some("2012-10-17")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub action: ActionSpec,
    pub resource: ResourceSpec,
    pub principal: Option<PrincipalSpec>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ActionSpec {
    Action(Vec<String>),
    NotAction(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ResourceSpec {
    Resource(Vec<String>),
    NotResource(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum PrincipalSpec {
    Principal(PrincipalSet),
    NotPrincipal(PrincipalSet),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum PrincipalSet {
    /// `"Principal": "*"`
    Any,
    Map(Vec<PrincipalEntry>),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrincipalEntry {
    pub kind: PrincipalType,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PrincipalType {
    Aws,
    Service,
    Federated,
    CanonicalUser,
}

impl PrincipalType {
    fn from_key(key: &str) -> Option<Self> {
        match key {
            "AWS" => Some(PrincipalType::Aws),
            "Service" => Some(PrincipalType::Service),
            "Federated" => Some(PrincipalType::Federated),
            "CanonicalUser" => Some(PrincipalType::CanonicalUser),
            _ => None,
        }
    }
}

/// One `operator: { key: values }` pair of a Condition block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    pub operator: Operator,
    pub key: String,
    /// Context keys are case-insensitive; lowering once here keeps evaluation allocation-free.
    #[serde(skip)]
    pub key_lower: String,
    pub values: Vec<String>,
}

/// Parses a policy document. `text` may be percent-encoded, as the IAM API returns documents.
pub fn parse_policy(text: &str, kind: PolicyKind) -> Result<PolicyDocument, PolicyError> {
    let raw = match json::parse(text) {
        Ok(v) => v,
        Err(raw_err) => match percent_decoded(text) {
            Some(decoded) => json::parse(&decoded).map_err(|e| PolicyError {
                path: e.path,
                message: format!("{} (in the percent-decoded document)", e.message),
            })?,
            None => {
                return Err(PolicyError { path: raw_err.path, message: raw_err.message });
            }
        },
    };
    let mut reader = Reader { path: Vec::new() };
    reader.document(&raw, kind)
}

/// The decoded text when `text` looks percent-encoded (IAM's `GetRolePolicy` returns `%7B%22Version...`).
fn percent_decoded(text: &str) -> Option<Cow<'_, str>> {
    let t = text.trim_start();
    let encoded = t.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("%7B"))
        || (t.starts_with('{') && (t.contains("%22") || t.contains("%20") || t.contains("%3A")));
    if !encoded {
        return None;
    }
    percent_decode_str(text).decode_utf8().ok()
}

struct Reader {
    path: Vec<Seg>,
}

const TOP_KEYS: [&str; 3] = ["Version", "Id", "Statement"];
const STATEMENT_KEYS: [&str; 9] =
    ["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];

impl Reader {
    fn err(&self, message: impl Into<String>) -> PolicyError {
        PolicyError { path: render_path(&self.path), message: message.into() }
    }

    fn err_at(&mut self, key: &str, message: impl Into<String>) -> PolicyError {
        self.path.push(Seg::Key(key.to_string()));
        let e = self.err(message);
        self.path.pop();
        e
    }

    fn document(&mut self, raw: &Json, kind: PolicyKind) -> Result<PolicyDocument, PolicyError> {
        let Json::Object(members) = raw else {
            return Err(self.err(format!("a policy document must be an object, found {}", raw.type_name())));
        };
        check_keys(self, members, &TOP_KEYS, "top-level")?;
        let version = match get(members, "Version") {
            None => None,
            Some(Json::String(v)) if v == "2012-10-17" || v == "2008-10-17" => Some(v.clone()),
            Some(other) => {
                return Err(
                    self.err_at("Version", format!("expected \"2012-10-17\" or \"2008-10-17\", found {}", show(other)))
                );
            }
        };
        let id = match get(members, "Id") {
            None => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(self.err_at("Id", format!("expected a string, found {}", other.type_name())));
            }
        };
        let Some(stmt_raw) = get(members, "Statement") else {
            return Err(self.err("missing \"Statement\""));
        };
        self.path.push(Seg::Key("Statement".into()));
        let statements = match stmt_raw {
            Json::Object(_) => vec![self.statement(stmt_raw, kind)?],
            Json::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    self.path.push(Seg::Index(i));
                    out.push(self.statement(item, kind)?);
                    self.path.pop();
                }
                out
            }
            other => {
                return Err(
                    self.err(format!("expected a statement object or an array of them, found {}", other.type_name()))
                );
            }
        };
        self.path.pop();
        Ok(PolicyDocument { version, id, statements })
    }

    fn statement(&mut self, raw: &Json, kind: PolicyKind) -> Result<Statement, PolicyError> {
        let Json::Object(m) = raw else {
            return Err(self.err(format!("a statement must be an object, found {}", raw.type_name())));
        };
        check_keys(self, m, &STATEMENT_KEYS, "statement")?;
        let sid = match get(m, "Sid") {
            None => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(self.err_at("Sid", format!("expected a string, found {}", other.type_name())));
            }
        };
        let effect = match get(m, "Effect") {
            None => return Err(self.err("missing \"Effect\"")),
            Some(Json::String(s)) if s == "Allow" => Effect::Allow,
            Some(Json::String(s)) if s == "Deny" => Effect::Deny,
            Some(other) => {
                return Err(self.err_at("Effect", format!("expected \"Allow\" or \"Deny\", found {}", show(other))));
            }
        };
        let action = match (get(m, "Action"), get(m, "NotAction")) {
            (Some(_), Some(_)) => {
                return Err(self.err("a statement cannot have both \"Action\" and \"NotAction\""));
            }
            (None, None) => return Err(self.err("missing \"Action\" or \"NotAction\"")),
            (Some(v), None) => ActionSpec::Action(self.actions("Action", v)?),
            (None, Some(v)) => ActionSpec::NotAction(self.actions("NotAction", v)?),
        };
        let resource = match (get(m, "Resource"), get(m, "NotResource")) {
            // IAM rejects a trust policy naming a resource ("Has prohibited field Resource"): the
            // resource is the role itself.
            (None, None) if kind == PolicyKind::Trust => ResourceSpec::Resource(vec!["*".to_string()]),
            (Some(_), _) | (_, Some(_)) if kind == PolicyKind::Trust => {
                let key = if get(m, "Resource").is_some() { "Resource" } else { "NotResource" };
                return Err(
                    self.err_at(key, format!("a role trust policy may not name \"{key}\": the role is the resource"))
                );
            }
            (Some(_), Some(_)) => {
                return Err(self.err("a statement cannot have both \"Resource\" and \"NotResource\""));
            }
            (None, None) => return Err(self.err("missing \"Resource\" or \"NotResource\"")),
            (Some(v), None) => ResourceSpec::Resource(self.resources("Resource", v)?),
            (None, Some(v)) => ResourceSpec::NotResource(self.resources("NotResource", v)?),
        };
        let principal = match (get(m, "Principal"), get(m, "NotPrincipal")) {
            (Some(_), Some(_)) => {
                return Err(self.err("a statement cannot have both \"Principal\" and \"NotPrincipal\""));
            }
            (None, None) if kind.is_resource_policy() => {
                return Err(
                    self.err(format!("a {} statement needs \"Principal\" or \"NotPrincipal\"", kind.describe()))
                );
            }
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) if !kind.is_resource_policy() => {
                let key = if get(m, "Principal").is_some() { "Principal" } else { "NotPrincipal" };
                return Err(self.err_at(
                    key,
                    format!(
                        "\"{key}\" is only allowed in resource policies (bucket or key policies), not in a {}",
                        kind.describe()
                    ),
                ));
            }
            (Some(v), None) => Some(PrincipalSpec::Principal(self.principals("Principal", v)?)),
            (None, Some(v)) => Some(PrincipalSpec::NotPrincipal(self.principals("NotPrincipal", v)?)),
        };
        let conditions = match get(m, "Condition") {
            None => Vec::new(),
            Some(v) => self.conditions(v)?,
        };
        Ok(Statement { sid, effect, action, resource, principal, conditions })
    }

    fn strings(&mut self, key: &str, raw: &Json) -> Result<Vec<String>, PolicyError> {
        self.path.push(Seg::Key(key.to_string()));
        let out = match raw {
            Json::String(s) => Ok(vec![s.clone()]),
            Json::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Json::String(s) => out.push(s.clone()),
                        other => {
                            self.path.push(Seg::Index(i));
                            let e = self.err(format!("expected a string, found {}", other.type_name()));
                            self.path.pop();
                            self.path.pop();
                            return Err(e);
                        }
                    }
                }
                Ok(out)
            }
            other => Err(self.err(format!("expected a string or an array of strings, found {}", other.type_name()))),
        };
        self.path.pop();
        out
    }

    fn actions(&mut self, key: &str, raw: &Json) -> Result<Vec<String>, PolicyError> {
        let values = self.strings(key, raw)?;
        for (i, a) in values.iter().enumerate() {
            let valid = a == "*" || a.split_once(':').is_some_and(|(svc, name)| !svc.is_empty() && !name.is_empty());
            if !valid {
                self.path.push(Seg::Key(key.to_string()));
                if matches!(raw, Json::Array(_)) {
                    self.path.push(Seg::Index(i));
                }
                let e = self.err(format!("expected an action like \"s3:GetObject\" or \"*\", found \"{a}\""));
                self.path.truncate(self.path.len() - if matches!(raw, Json::Array(_)) { 2 } else { 1 });
                return Err(e);
            }
        }
        Ok(values)
    }

    fn resources(&mut self, key: &str, raw: &Json) -> Result<Vec<String>, PolicyError> {
        let values = self.strings(key, raw)?;
        for (i, r) in values.iter().enumerate() {
            if r != "*" && !r.starts_with("arn:") {
                self.path.push(Seg::Key(key.to_string()));
                if matches!(raw, Json::Array(_)) {
                    self.path.push(Seg::Index(i));
                }
                let e = self.err(format!("expected an ARN or \"*\", found \"{r}\""));
                self.path.truncate(self.path.len() - if matches!(raw, Json::Array(_)) { 2 } else { 1 });
                return Err(e);
            }
        }
        Ok(values)
    }

    fn principals(&mut self, key: &str, raw: &Json) -> Result<PrincipalSet, PolicyError> {
        match raw {
            Json::String(s) if s == "*" => Ok(PrincipalSet::Any),
            Json::Object(map) => {
                self.path.push(Seg::Key(key.to_string()));
                let mut entries = Vec::new();
                for (ptype, values) in map {
                    let Some(kind) = PrincipalType::from_key(ptype) else {
                        let e = self.err_at(
                            ptype,
                            format!(
                                "unknown principal type \"{ptype}\": expected AWS, Service, Federated or CanonicalUser"
                            ),
                        );
                        self.path.pop();
                        return Err(e);
                    };
                    let values = match self.strings(ptype, values) {
                        Ok(v) => v,
                        Err(e) => {
                            self.path.pop();
                            return Err(e);
                        }
                    };
                    entries.extend(values.into_iter().map(|value| PrincipalEntry { kind, value }));
                }
                self.path.pop();
                Ok(PrincipalSet::Map(entries))
            }
            other => Err(self.err_at(
                key,
                format!("expected \"*\" or an object keyed AWS/Service/Federated/CanonicalUser, found {}", show(other)),
            )),
        }
    }

    fn conditions(&mut self, raw: &Json) -> Result<Vec<Condition>, PolicyError> {
        let Json::Object(ops) = raw else {
            return Err(self.err_at("Condition", format!("expected an object, found {}", raw.type_name())));
        };
        self.path.push(Seg::Key("Condition".into()));
        let mut out = Vec::new();
        for (op_name, keys) in ops {
            let Json::Object(keys) = keys else {
                let e =
                    self.err_at(op_name, format!("expected an object of condition keys, found {}", keys.type_name()));
                self.path.pop();
                return Err(e);
            };
            let operator = Operator::parse(op_name);
            self.path.push(Seg::Key(op_name.clone()));
            for (key, values) in keys {
                let values = match condition_values(values) {
                    Ok(v) => v,
                    Err(msg) => {
                        let e = self.err_at(key, msg);
                        self.path.truncate(self.path.len() - 2);
                        return Err(e);
                    }
                };
                out.push(Condition {
                    operator: operator.clone(),
                    key: key.clone(),
                    key_lower: key.to_ascii_lowercase(),
                    values,
                });
            }
            self.path.pop();
        }
        self.path.pop();
        Ok(out)
    }
}

fn condition_values(raw: &Json) -> Result<Vec<String>, String> {
    fn scalar(v: &Json) -> Option<String> {
        match v {
            Json::String(s) => Some(s.clone()),
            Json::Number(n) => Some(n.clone()),
            Json::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    match raw {
        Json::Array(items) => items
            .iter()
            .map(|i| scalar(i).ok_or_else(|| format!("expected a string, number or boolean, found {}", i.type_name())))
            .collect(),
        other => scalar(other)
            .map(|s| vec![s])
            .ok_or_else(|| format!("expected a value or an array of values, found {}", other.type_name())),
    }
}

fn get<'a>(members: &'a [(String, Json)], key: &str) -> Option<&'a Json> {
    members.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn check_keys(r: &mut Reader, members: &[(String, Json)], allowed: &[&str], what: &str) -> Result<(), PolicyError> {
    for (k, _) in members {
        if !allowed.contains(&k.as_str()) {
            let hint = allowed
                .iter()
                .find(|a| a.eq_ignore_ascii_case(k))
                .map(|a| format!(" (element names are case-sensitive: did you mean \"{a}\"?)"))
                .unwrap_or_default();
            return Err(r.err_at(k, format!("unknown {what} key \"{k}\"{hint}")));
        }
    }
    Ok(())
}

fn show(v: &Json) -> String {
    match v {
        Json::String(s) => serde_json::to_string(s).unwrap_or_else(|_| "a string".into()),
        other => other.type_name().to_string(),
    }
}
