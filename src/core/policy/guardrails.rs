//! The layers above an account: service control policies (SCPs), resource control policies
//! (RCPs) and VPC endpoint policies. None of them grants anything; each only limits what the
//! account's own policies allow (IAM User Guide, "Policy evaluation logic"):
//!
//! - **SCPs** limit the principals of member accounts: every level from the root to the account
//!   must allow the action (one file a level), and an explicit Deny at any level wins. They do
//!   not apply to the management account or to service-linked roles.
//! - **RCPs** limit the resources of member accounts (S3, KMS, STS, SQS, Secrets Manager) in the
//!   same way, level by level; their statements name `"Principal": "*"`.
//! - **A VPC endpoint policy** limits every request sent through the endpoint: it must allow the
//!   principal, action and resource, and its Deny wins.

use super::PolicyKind;
use super::evaluate::{LabelledPolicy, Tri};
use super::fix::{Fix, FixStatement};
use super::matcher::Caller;
use super::request::Request;

/// Services whose resources RCPs govern.
const RCP_SERVICES: [&str; 5] = ["s3", "kms", "sts", "sqs", "secretsmanager"];

/// One layer's verdict for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LayerVerdict {
    pub(super) name: String,
    pub(super) kind: PolicyKind,
    pub(super) account: String,
    pub(super) allows: Tri,
    pub(super) denies: Tri,
}

/// Whether a guardrail policy governs this request, or why it does not.
pub(super) fn governs(
    p: &LabelledPolicy,
    request: &Request,
    caller: &Caller,
    resource_account: Option<&str>,
) -> Result<(), String> {
    let of = |account: &str| p.account.is_empty() || p.account == account;
    match p.kind {
        PolicyKind::Scp if caller.is_service_linked() => Err("SCPs do not apply to service-linked roles".to_string()),
        PolicyKind::Scp if !of(caller.account) => {
            Err(format!("it is attached above account {}, the caller is in account {}", p.account, caller.account))
        }
        PolicyKind::Rcp if caller.is_service_linked() => Err("RCPs do not apply to service-linked roles".to_string()),
        PolicyKind::Rcp => {
            let service = request.action.split_once(':').map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default();
            if !RCP_SERVICES.contains(&service.as_str()) {
                return Err(format!("RCPs do not govern {service} resources"));
            }
            match resource_account {
                Some(ra) if !of(ra) => {
                    Err(format!("it is attached above account {}, the resource is in account {ra}", p.account))
                }
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// Folds the layers into one verdict: every layer must allow, any Deny denies.
pub(super) fn combine(layers: &[LayerVerdict]) -> (Tri, Tri) {
    let allows = layers.iter().fold(Tri::Yes, |acc, l| acc.and(l.allows));
    let denies = layers.iter().fold(Tri::No, |acc, l| acc.or(l.denies));
    (allows, denies)
}

/// For each layer that does not allow: the statement its owner would add.
pub(super) fn fixes(layers: &[LayerVerdict], request: &Request) -> Vec<Fix> {
    layers
        .iter()
        .filter(|l| l.allows == Tri::No && l.denies != Tri::Yes)
        .map(|l| {
            // SCPs name no principal; RCPs and endpoint policies must name "*" (or the caller).
            let principal = (l.kind != PolicyKind::Scp).then(|| "*".to_string());
            let statement = FixStatement::new(principal, vec![request.action.clone()], vec![request.resource.clone()]);
            let target = format!("{} ({}; owned by the organization's administrator)", l.name, l.kind.describe());
            Fix::new(l.account.clone(), l.kind, target, vec![statement])
        })
        .collect()
}

/// The explanation line of one layer.
pub(super) fn explain(l: &LayerVerdict, request: &Request) -> String {
    let what = format!("{} on {}", request.action, request.resource);
    match (l.denies, l.allows) {
        (Tri::Yes, _) => format!("{} ({}) explicitly denies {what}.", l.name, l.kind.describe()),
        (_, Tri::No) => format!(
            "{} ({}) does not allow {what}: every level must allow it, and nothing below can grant past it.",
            l.name,
            l.kind.describe()
        ),
        (_, Tri::Maybe) | (Tri::Maybe, _) => {
            format!("{} ({}) may or may not allow {what} (a condition cannot be decided).", l.name, l.kind.describe())
        }
        _ => format!("{} ({}) allows {what}.", l.name, l.kind.describe()),
    }
}
