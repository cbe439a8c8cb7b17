//! Least-privilege fixes, rendered as AWS policy JSON and as Terraform `aws_iam_policy_document`.

use serde::Serialize;

use super::document::PolicyKind;
use super::evaluate::{Evaluation, Need, PolicyOutcome};
use super::explain::Names;
use super::matcher::parse_arn;
use super::request::Request;

/// One Allow statement to add: exact principal (resource policies only), actions and resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixStatement {
    pub sid: String,
    /// The role (with path), user or account root ARN; None for caller-side policies.
    pub principal: Option<String>,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

impl FixStatement {
    pub fn new(principal: Option<String>, actions: Vec<String>, resources: Vec<String>) -> Self {
        FixStatement { sid: sid_for(&actions), principal, actions, resources }
    }
}

/// A change to one policy of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// The account that must apply it: the caller's for identity/boundary/session, the resource owner's for
    /// bucket and key policies.
    pub account: String,
    pub policy: PolicyKind,
    /// Which policy to edit, in words ("bucket policy of datalake-raw", "an identity policy of ...").
    pub target: String,
    pub statements: Vec<FixStatement>,
    /// A complete policy document holding just these statements (merge them into an existing policy).
    pub json: String,
    /// `data "aws_iam_policy_document"` with one `statement` block per statement.
    pub terraform: String,
}

impl Fix {
    pub fn new(account: String, policy: PolicyKind, target: String, statements: Vec<FixStatement>) -> Fix {
        let json = render_json(&statements);
        let terraform = render_terraform(policy, &account, &statements);
        Fix { account, policy, target, statements, json, terraform }
    }
}

/// Merges the fixes of several evaluations (e.g. kms:GenerateDataKey, kms:Encrypt and kms:Decrypt on one
/// key; s3:PutObject and s3:PutObjectTagging on one object) into one fix per (account, policy, target).
/// Statements with the same principal and resources are merged into one statement with the union of
/// actions; different resource sets stay separate statements so no action is granted on a resource it was
/// not evaluated for. Only evaluations with fixes (implicit denies) contribute.
pub fn combined_fix(evaluations: &[Evaluation]) -> Vec<Fix> {
    struct Group {
        account: String,
        policy: PolicyKind,
        target: String,
        statements: Vec<(Option<String>, Vec<String>, Vec<String>)>,
    }
    let mut groups: Vec<Group> = Vec::new();
    for fix in evaluations.iter().flat_map(|e| &e.fixes) {
        let idx = match groups
            .iter()
            .position(|g| g.account == fix.account && g.policy == fix.policy && g.target == fix.target)
        {
            Some(i) => i,
            None => {
                groups.push(Group {
                    account: fix.account.clone(),
                    policy: fix.policy,
                    target: fix.target.clone(),
                    statements: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let group = &mut groups[idx];
        for st in &fix.statements {
            let mut resources = st.resources.clone();
            resources.sort();
            resources.dedup();
            match group.statements.iter_mut().find(|(p, _, r)| *p == st.principal && *r == resources) {
                Some((_, actions, _)) => {
                    for a in &st.actions {
                        if !actions.iter().any(|x| x.eq_ignore_ascii_case(a)) {
                            actions.push(a.clone());
                        }
                    }
                }
                None => group.statements.push((st.principal.clone(), st.actions.clone(), resources)),
            }
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let statements = g.statements.into_iter().map(|(p, a, r)| FixStatement::new(p, a, r)).collect();
            Fix::new(g.account, g.policy, g.target, statements)
        })
        .collect()
}

/// A fix statement must itself be a valid policy: a `service:action` on an ARN.
pub(super) fn fixable(request: &Request) -> bool {
    let action_ok = request.action.split_once(':').is_some_and(|(s, a)| !s.is_empty() && !a.is_empty());
    action_ok && parse_arn(&request.resource).is_some()
}

pub(super) fn fixes_for(
    needs: &[Need],
    outcomes: &[PolicyOutcome],
    resource_kind: PolicyKind,
    n: &Names,
    request: &Request,
    resource_account: Option<&str>,
) -> Vec<Fix> {
    let existing = |kind: PolicyKind| outcomes.iter().find(|o| o.policy.kind == kind).map(|o| o.policy.name.clone());
    needs
        .iter()
        .map(|need| {
            let (kind, account, target, principal, resource) = match need {
                Need::Identity => (
                    PolicyKind::Identity,
                    n.caller_account.clone(),
                    format!("an identity policy of {} (e.g. a new inline policy)", n.grantee),
                    None,
                    request.resource.clone(),
                ),
                Need::Boundary => (
                    PolicyKind::Boundary,
                    n.caller_account.clone(),
                    existing(PolicyKind::Boundary).unwrap_or_else(|| "the permissions boundary".into()),
                    None,
                    request.resource.clone(),
                ),
                Need::Session => (
                    PolicyKind::Session,
                    n.caller_account.clone(),
                    existing(PolicyKind::Session)
                        .unwrap_or_else(|| "the session policy passed to sts:AssumeRole".into()),
                    None,
                    request.resource.clone(),
                ),
                Need::Resource => (
                    resource_kind,
                    resource_account.unwrap_or_default().to_string(),
                    existing(resource_kind).unwrap_or_else(|| {
                        format!("the {} of {}", resource_kind.describe(), resource_label(&request.resource))
                    }),
                    Some(n.grantee.clone()),
                    // In a key policy "*" means "this key".
                    if resource_kind == PolicyKind::Key { "*".to_string() } else { request.resource.clone() },
                ),
            };
            Fix::new(
                account,
                kind,
                target,
                vec![FixStatement::new(principal, vec![request.action.clone()], vec![resource])],
            )
        })
        .collect()
}

fn resource_label(resource: &str) -> String {
    match parse_arn(resource) {
        Some(a) if a.service == "s3" => a.resource.split('/').next().unwrap_or(a.resource).to_string(),
        _ => resource.to_string(),
    }
}

/// "S3ferryAllowGenerateDataKeyEncryptDecrypt": alphanumeric, as IAM requires of Sids.
fn sid_for(actions: &[String]) -> String {
    let mut sid = String::from("S3ferryAllow");
    for a in actions {
        let name = a.split_once(':').map_or(a.as_str(), |(_, n)| n);
        sid.extend(name.chars().filter(char::is_ascii_alphanumeric));
    }
    sid.truncate(100);
    sid
}

#[derive(Serialize)]
struct DocOut<'a> {
    #[serde(rename = "Version")]
    version: &'static str,
    #[serde(rename = "Statement")]
    statement: Vec<StmtOut<'a>>,
}

#[derive(Serialize)]
struct StmtOut<'a> {
    #[serde(rename = "Sid")]
    sid: &'a str,
    #[serde(rename = "Effect")]
    effect: &'static str,
    #[serde(rename = "Principal", skip_serializing_if = "Option::is_none")]
    principal: Option<PrincipalOut<'a>>,
    #[serde(rename = "Action")]
    action: &'a [String],
    #[serde(rename = "Resource")]
    resource: &'a [String],
}

#[derive(Serialize)]
struct PrincipalOut<'a> {
    #[serde(rename = "AWS")]
    aws: &'a str,
}

fn render_json(statements: &[FixStatement]) -> String {
    let doc = DocOut {
        version: "2012-10-17",
        statement: statements
            .iter()
            .map(|s| StmtOut {
                sid: &s.sid,
                effect: "Allow",
                principal: s.principal.as_deref().map(|aws| PrincipalOut { aws }),
                action: &s.actions,
                resource: &s.resources,
            })
            .collect(),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn render_terraform(policy: PolicyKind, account: &str, statements: &[FixStatement]) -> String {
    let mut out = format!("data \"aws_iam_policy_document\" \"s3ferry_{}_{}\" {{\n", policy.as_str(), ident(account));
    for s in statements {
        out.push_str("  statement {\n");
        out.push_str(&format!("    sid       = {}\n", hcl_string(&s.sid)));
        out.push_str("    effect    = \"Allow\"\n");
        out.push_str(&format!("    actions   = {}\n", hcl_list(&s.actions)));
        out.push_str(&format!("    resources = {}\n", hcl_list(&s.resources)));
        if let Some(p) = &s.principal {
            out.push_str("\n    principals {\n");
            out.push_str("      type        = \"AWS\"\n");
            out.push_str(&format!("      identifiers = {}\n", hcl_list(std::slice::from_ref(p))));
            out.push_str("    }\n");
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    out
}

fn ident(s: &str) -> String {
    let id: String = s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if id.is_empty() { "fix".to_string() } else { id }
}

/// HCL strings also interpolate `${` and `%{`, which ARNs with policy variables would trigger.
fn hcl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn hcl_list(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| hcl_string(s)).collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcl_escapes_interpolation_and_quotes() {
        assert_eq!(hcl_string("a\"b${x}%{y}$z"), "\"a\\\"b$${x}%%{y}$z\"");
    }

    #[test]
    fn sid_is_alphanumeric() {
        let sid = sid_for(&["kms:GenerateDataKey".into(), "kms:Re-Encrypt*".into()]);
        assert_eq!(sid, "S3ferryAllowGenerateDataKeyReEncrypt");
    }
}
