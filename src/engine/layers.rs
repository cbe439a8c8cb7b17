//! Evidence of the layers above and around the accounts: the organization's SCPs and RCPs, and
//! the sides' VPC endpoint policies. SCPs and RCPs come from `[organization]` files (one a level,
//! root first) when given, else from the Organizations API with the `[organization]`
//! credentials (the management account or a delegated administrator: read-only). Without
//! either, the transfer principal asks whether its account is in an organization at all: if not,
//! nothing is above it; if so, the layer is unknown and the evidence says what would read it.

use std::path::PathBuf;

use aws_sdk_organizations::types::{ParentType, PolicyType};

use crate::config::{Config, OrganizationConfig};
use crate::core::preflight::evidence::{Fetched, LayerEvidence, NamedPolicy};
use crate::engine::errors::{describe_sdk_error, error_code};
use crate::engine::session::Session;

/// Levels above an account at most (a root and up to five OUs deep, with room).
const MAX_DEPTH: usize = 8;

/// Whose SCPs and RCPs to read: the transfer principal's account, and each bucket's.
pub struct Accounts<'a> {
    pub principal: &'a str,
    pub source: &'a str,
    pub destination: Option<&'a str>,
}

pub async fn gather(
    config: &Config,
    source: &Session,
    reader: Option<&Session>,
    accounts: Accounts<'_>,
) -> LayerEvidence {
    let org = config.organization.clone().unwrap_or_default();
    let mut ev = organization(config, &org, source, &accounts).await;
    if let Some(id) = &config.source.vpc_endpoint_id {
        ev.source_endpoint = Some((id.clone(), endpoint(source, id, "source").await));
    }
    if let Some(id) = &config.destination.vpc_endpoint_id {
        ev.destination_endpoint = Some((id.clone(), endpoint(reader.unwrap_or(source), id, "destination").await));
    }
    ev
}

async fn organization(
    config: &Config,
    org: &OrganizationConfig,
    source: &Session,
    accounts: &Accounts<'_>,
) -> LayerEvidence {
    let files = |list: &[PathBuf]| (!list.is_empty()).then(|| read_levels(config, list));
    let admin = match &org.access {
        Some(access) => match Session::connect(access, "organization credentials", None).await {
            Ok(s) => Ok(Some(s)),
            Err(e) => Err(e.to_string()),
        },
        None => Ok(None),
    };
    let asker = match &admin {
        Ok(Some(s)) => s,
        _ => source,
    };
    let client = aws_sdk_organizations::Client::new(&asker.sdk);
    let mut ev = LayerEvidence::none();
    let in_org = match client.describe_organization().send().await {
        Ok(out) => {
            ev.management_account = out.organization().and_then(|o| o.master_account_id()).map(str::to_string);
            Ok(true)
        }
        Err(e) if error_code(&e).as_deref() == Some("AWSOrganizationsNotInUseException") => Ok(false),
        Err(e) => Err(format!(
            "cannot tell whether account {} is in an organization (organizations:DescribeOrganization as {}: {})",
            accounts.principal,
            asker.info.via,
            describe_sdk_error(&e)
        )),
    };
    let wanted = [
        (&org.scp_files, PolicyType::ServiceControlPolicy, Some(accounts.principal), "SCPs"),
        (&org.source_rcp_files, PolicyType::ResourceControlPolicy, Some(accounts.source), "RCPs"),
        (&org.destination_rcp_files, PolicyType::ResourceControlPolicy, accounts.destination, "RCPs"),
    ];
    let mut out = Vec::new();
    for (list, kind, account, what) in wanted {
        let fetched = match (files(list), &in_org, &admin, account) {
            (Some(f), _, _, _) => f,
            (None, Ok(false), _, _) => Fetched::Absent,
            (None, _, _, None) => Fetched::Unreadable(format!("the account whose {what} apply is unknown")),
            (None, _, Err(e), _) => Fetched::Unreadable(format!("the [organization] credentials failed: {e}")),
            (None, Ok(true), Ok(Some(_)), Some(account)) => read_from_api(&client, account, kind.clone()).await,
            (None, Ok(true), Ok(None), Some(account)) => Fetched::Unreadable(how_to_read(
                what,
                account,
                "the account is in an organization, and no credentials given may read its policies",
            )),
            (None, Err(why), Ok(_), Some(account)) => Fetched::Unreadable(how_to_read(what, account, why)),
        };
        out.push(fetched);
    }
    let mut out = out.into_iter();
    ev.scps = out.next().unwrap_or(Fetched::Absent);
    ev.source_rcps = out.next().unwrap_or(Fetched::Absent);
    ev.destination_rcps = out.next().unwrap_or(Fetched::Absent);
    ev
}

/// What would let the preflight read a layer it could not.
fn how_to_read(what: &str, account: &str, why: &str) -> String {
    format!(
        "the {what} above account {account} were not read ({why}). Next: give [organization] {}_files (one file a level, \
         root first, as the organization's administrator exports them), or [organization] profile/role_arn of the \
         management account or a delegated administrator with organizations:ListParents, ListPoliciesForTarget and \
         DescribePolicy",
        if what == "SCPs" { "scp" } else { "source_rcp/destination_rcp" }
    )
}

fn read_levels(config: &Config, files: &[PathBuf]) -> Fetched<Vec<NamedPolicy>> {
    let mut levels = Vec::new();
    for f in files {
        let path = config.file(f);
        match crate::config::read_text(&path, crate::config::MAX_DOCUMENT_BYTES) {
            Ok(text) => levels.push(NamedPolicy { name: format!("file:{}", path.display()), text }),
            Err(e) => return Fetched::Unreadable(format!("cannot read {}: {e}", path.display())),
        }
    }
    Fetched::Got(levels)
}

/// The levels from the root down to `account`, each level's policies of `kind` joined in one
/// document (a level allows what any of its policies allows).
pub async fn read_from_api(
    client: &aws_sdk_organizations::Client,
    account: &str,
    kind: PolicyType,
) -> Fetched<Vec<NamedPolicy>> {
    match levels_of(client, account, kind.clone()).await {
        Ok(levels) => Fetched::Got(levels),
        // The policy type is not enabled, or the account is not in this organization: nothing
        // of this organization's is above it.
        Err(e) if e.contains("PolicyTypeNotEnabledException") || e.contains("AccountNotFoundException") => {
            Fetched::Absent
        }
        Err(e) => Fetched::Unreadable(format!("reading the {} above account {account}: {e}", kind.as_str())),
    }
}

async fn levels_of(
    client: &aws_sdk_organizations::Client,
    account: &str,
    kind: PolicyType,
) -> Result<Vec<NamedPolicy>, String> {
    let mut targets = vec![account.to_string()];
    let mut child = account.to_string();
    for _ in 0..MAX_DEPTH {
        let out = client.list_parents().child_id(&child).send().await.map_err(|e| api_error("ListParents", &e))?;
        let Some(parent) = out.parents().first() else { break };
        let id = parent.id().unwrap_or_default().to_string();
        targets.push(id.clone());
        if parent.r#type() == Some(&ParentType::Root) {
            break;
        }
        child = id;
    }
    targets.reverse();
    let mut levels = Vec::new();
    for target in targets {
        let listed = client
            .list_policies_for_target()
            .target_id(&target)
            .filter(kind.clone().as_str().into())
            .send()
            .await
            .map_err(|e| api_error("ListPoliciesForTarget", &e))?;
        let mut statements = Vec::new();
        let mut names = Vec::new();
        for summary in listed.policies() {
            let id = summary.id().unwrap_or_default();
            let policy =
                client.describe_policy().policy_id(id).send().await.map_err(|e| api_error("DescribePolicy", &e))?;
            let content = policy.policy().and_then(|p| p.content()).unwrap_or_default();
            statements.extend(statements_of(content).map_err(|e| format!("policy {id}: {e}"))?);
            names.push(summary.name().unwrap_or(id).to_string());
        }
        let text = serde_json::json!({ "Version": "2012-10-17", "Statement": statements }).to_string();
        levels.push(NamedPolicy { name: format!("{}:{target} ({})", kind.as_str(), names.join(", ")), text });
    }
    Ok(levels)
}

fn api_error<E, R>(op: &str, e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: crate::engine::errors::HasStatus + std::fmt::Debug + 'static,
{
    format!("organizations:{op}: {}", describe_sdk_error(e))
}

/// The statements of one policy document, as a list.
fn statements_of(content: &str) -> Result<Vec<serde_json::Value>, String> {
    let doc: serde_json::Value = serde_json::from_str(content).map_err(|e| format!("not JSON: {e}"))?;
    Ok(match doc.get("Statement") {
        Some(serde_json::Value::Array(list)) => list.clone(),
        Some(one @ serde_json::Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    })
}

/// A VPC endpoint's policy, read with the side's identity (ec2:DescribeVpcEndpoints). An
/// endpoint without a policy document has the default one: full access.
async fn endpoint(session: &Session, id: &str, side: &str) -> Fetched<NamedPolicy> {
    endpoint_policy(&aws_sdk_ec2::Client::new(&session.sdk), id, side).await
}

pub async fn endpoint_policy(ec2: &aws_sdk_ec2::Client, id: &str, side: &str) -> Fetched<NamedPolicy> {
    match ec2.describe_vpc_endpoints().vpc_endpoint_ids(id).send().await {
        Ok(out) => match out.vpc_endpoints().first() {
            Some(e) => {
                let text = e.policy_document().map(str::to_string).unwrap_or_else(|| {
                    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#
                        .to_string()
                });
                Fetched::Got(NamedPolicy { name: format!("endpoint:{id}"), text })
            }
            None => Fetched::Absent,
        },
        Err(e) => Fetched::Unreadable(format!(
            "ec2:DescribeVpcEndpoints on {id} as the {side} identity: {}. Next: allow it ec2:DescribeVpcEndpoints",
            describe_sdk_error(&e)
        )),
    }
}
