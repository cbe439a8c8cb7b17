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
    let mut ev = organization(config, &org, [Some(source), reader], &accounts).await;
    if let Some(id) = &config.source.vpc_endpoint_id {
        ev.source_endpoint = Some((id.clone(), endpoint(source, id, "source").await));
    }
    if let Some(id) = &config.destination.vpc_endpoint_id {
        ev.destination_endpoint = Some((id.clone(), endpoint(reader.unwrap_or(source), id, "destination").await));
    }
    ev
}

/// Whether an account is in an organization, as an identity of that account sees it (only an
/// account's own identities can tell: another account's "no organization" says nothing of it).
enum Membership {
    None,
    /// In an organization, with its management account.
    In(Option<String>),
    Unknown(String),
}

async fn membership(session: &Session) -> Membership {
    let client = aws_sdk_organizations::Client::new(&session.sdk);
    match client.describe_organization().send().await {
        Ok(out) => Membership::In(out.organization().and_then(|o| o.master_account_id()).map(str::to_string)),
        Err(e) if error_code(&e).as_deref() == Some("AWSOrganizationsNotInUseException") => Membership::None,
        Err(e) => Membership::Unknown(format!(
            "organizations:DescribeOrganization as {} failed: {}",
            session.info.via,
            describe_sdk_error(&e)
        )),
    }
}

async fn organization(
    config: &Config,
    org: &OrganizationConfig,
    sessions: [Option<&Session>; 2],
    accounts: &Accounts<'_>,
) -> LayerEvidence {
    let admin = match &org.access {
        Some(access) => {
            Some(Session::connect(access, "organization credentials", None).await.map_err(|e| e.to_string()))
        }
        None => None,
    };
    let admin_client = match &admin {
        Some(Ok(s)) => Some(aws_sdk_organizations::Client::new(&s.sdk)),
        _ => None,
    };
    let mut ev = LayerEvidence::none();
    let wanted = [
        (&org.scp_files, PolicyType::ServiceControlPolicy, Some(accounts.principal), "SCPs"),
        (&org.source_rcp_files, PolicyType::ResourceControlPolicy, Some(accounts.source), "RCPs"),
        (&org.destination_rcp_files, PolicyType::ResourceControlPolicy, accounts.destination, "RCPs"),
    ];
    let mut out = Vec::new();
    let mut asked: Vec<(String, Membership)> = Vec::new();
    for (list, kind, account, what) in wanted {
        if !list.is_empty() {
            out.push(read_levels(config, list));
            continue;
        }
        let Some(account) = account else {
            out.push(Fetched::Unreadable(format!("the account whose {what} apply is unknown")));
            continue;
        };
        // An identity of that very account says whether there is an organization at all; asked
        // once per account (the SCPs' and the source RCPs' account is usually the same).
        let at = match asked.iter().position(|(a, _)| a == account) {
            Some(at) => at,
            None => {
                let own = sessions.iter().flatten().find(|s| s.info.identity.account == account);
                let answer = match own {
                    Some(s) => membership(s).await,
                    None => Membership::Unknown(format!("no credentials of account {account} to ask")),
                };
                asked.push((account.to_string(), answer));
                asked.len() - 1
            }
        };
        let member = &asked[at].1;
        if let Membership::In(Some(m)) = &member
            && account == accounts.principal
        {
            ev.management_account = Some(m.clone());
        }
        let fetched = match (&member, &admin, &admin_client) {
            (Membership::None, _, _) => Fetched::Absent,
            (_, Some(Err(e)), _) => Fetched::Unreadable(format!("the [organization.credentials] failed: {e}")),
            (_, _, Some(client)) => read_from_api(client, account, kind.clone()).await,
            (Membership::In(_), _, None) => Fetched::Unreadable(how_to_read(
                what,
                account,
                "the account is in an organization, and no credentials given may read its policies",
            )),
            (Membership::Unknown(why), _, None) => Fetched::Unreadable(how_to_read(what, account, why)),
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
         root first, as the organization's administrator exports them), or [organization.credentials] profile/role_arn of the \
         management account or a delegated administrator with organizations:ListRoots, ListParents, \
         ListPoliciesForTarget and DescribePolicy; an account in no organization says so to its own identity with \
         organizations:DescribeOrganization (the transfer role for its account, [destination.audit] for the destination)",
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
    match enabled(client, &kind).await {
        Ok(false) => return Fetched::Absent,
        Ok(true) => {}
        Err(e) => return Fetched::Unreadable(format!("reading the {} above account {account}: {e}", kind.as_str())),
    }
    match levels_of(client, account, kind.clone()).await {
        Ok(levels) => Fetched::Got(levels),
        Err(e) if e.contains("AccountNotFoundException") => Fetched::Unreadable(format!(
            "account {account} is not in the organization of the [organization.credentials]; if it is in another, \
             give its {} as files",
            kind.as_str()
        )),
        Err(e) => Fetched::Unreadable(format!("reading the {} above account {account}: {e}", kind.as_str())),
    }
}

/// Whether the organization has `kind` enabled at its root: when it does not, no such policy
/// applies anywhere in it.
async fn enabled(client: &aws_sdk_organizations::Client, kind: &PolicyType) -> Result<bool, String> {
    let roots = client.list_roots().send().await.map_err(|e| api_error("ListRoots", &e))?;
    let root = roots.roots().first().ok_or("the organization has no root")?;
    Ok(root.policy_types().iter().any(|t| {
        t.r#type() == Some(kind) && t.status() == Some(&aws_sdk_organizations::types::PolicyTypeStatus::Enabled)
    }))
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
        levels.push(level(client, &target, &kind).await?);
    }
    Ok(levels)
}

/// The policies of `kind` attached at one target, joined in one document. Every level of an
/// organization with the type enabled holds at least one; none is an answer not to judge by.
async fn level(client: &aws_sdk_organizations::Client, target: &str, kind: &PolicyType) -> Result<NamedPolicy, String> {
    let mut summaries = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let req = client.list_policies_for_target().target_id(target).filter(kind.as_str().into());
        let page = req.set_next_token(next.take()).send().await.map_err(|e| api_error("ListPoliciesForTarget", &e))?;
        summaries.extend(page.policies().iter().cloned());
        match page.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => break,
        }
    }
    if summaries.is_empty() {
        return Err(format!("no {} is attached at {target}", kind.as_str()));
    }
    let (mut statements, mut names) = (Vec::new(), Vec::new());
    for summary in &summaries {
        let id = summary.id().unwrap_or_default();
        let policy =
            client.describe_policy().policy_id(id).send().await.map_err(|e| api_error("DescribePolicy", &e))?;
        let content = policy.policy().and_then(|p| p.content()).unwrap_or_default();
        statements.extend(statements_of(content).map_err(|e| format!("policy {id}: {e}"))?);
        names.push(summary.name().unwrap_or(id).to_string());
    }
    let text = serde_json::json!({ "Version": "2012-10-17", "Statement": statements }).to_string();
    Ok(NamedPolicy { name: format!("{}:{target} ({})", kind.as_str(), names.join(", ")), text })
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
