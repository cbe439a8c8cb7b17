//! `s3ferry explain`: evaluate one request against policy files, headless.
//!
//! Exit codes: 0 allow, 1 deny (explicit or implicit), 3 unknown, 2 usage or input error.
//! Context defaults: `aws:SecureTransport=true` (s3ferry always uses TLS) unless `--context` sets it;
//! aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType, aws:ResourceAccount and kms:CallerAccount are
//! derived by the engine. S3 ARNs carry no account, so `--resource-account` is required for S3 resources
//! (guessing the caller's account would turn a cross-account deny into a same-account allow).

use std::path::PathBuf;

use serde::Serialize;

use crate::cli::exit::Exit;
use crate::core::policy::{
    ArnError, Context, Decision, Evaluation, Fix, LabelledPolicy, PolicyKind, Principal, Request, StatementRef,
    evaluate, parse_policy,
};

/// `--policy KIND=FILE`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyArg {
    pub kind: PolicyKind,
    pub path: PathBuf,
}

/// Why `explain`'s arguments or files cannot be used (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    #[error("expected KIND=FILE (e.g. identity=role-policy.json), found \"{0}\"")]
    PolicyArg(String),
    #[error("no file given after \"{0}=\"")]
    NoFile(String),
    #[error("{0}")]
    Kind(String),
    #[error("expected KEY=VALUE (e.g. aws:SecureTransport=true), found \"{0}\"")]
    ContextArg(String),
    #[error("{flag}: {error}")]
    Principal { flag: &'static str, error: ArnError },
    #[error("--role-arn: \"{0}\" is not a role ARN (arn:aws:iam::ACCOUNT:role/PATH/NAME)")]
    NotARole(String),
    #[error("--role-arn is in account {role} but --principal is in account {principal}")]
    Accounts { role: String, principal: String },
    #[error("cannot read {what} {path}: {error}")]
    Read { what: &'static str, path: String, error: String },
    #[error("{path} ({what}): {error}")]
    Parse { what: &'static str, path: String, error: String },
    #[error("--resource: \"{0}\" is not an ARN")]
    Resource(String),
    #[error("--resource-account {given} contradicts the account {arn} in the resource ARN")]
    Contradicts { given: String, arn: String },
    #[error("--resource-account is required: S3 ARNs carry no account id; give the bucket owner's 12-digit account id")]
    NoResourceAccount,
    #[error("resource account \"{0}\" is not a 12-digit account id")]
    ResourceAccount(String),
}

fn parse_policy_arg(s: &str) -> Result<PolicyArg, ExplainError> {
    let (kind, path) = s.split_once('=').ok_or_else(|| ExplainError::PolicyArg(s.to_string()))?;
    if path.is_empty() {
        return Err(ExplainError::NoFile(kind.to_string()));
    }
    Ok(PolicyArg { kind: kind.parse().map_err(ExplainError::Kind)?, path: PathBuf::from(path) })
}

fn parse_context_arg(s: &str) -> Result<(String, String), ExplainError> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(ExplainError::ContextArg(s.to_string())),
    }
}

/// Explain whether AWS would allow one request, and what to change if not.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ExplainArgs {
    /// Caller ARN as STS reports it: role session, role, user or account root.
    #[arg(long, value_name = "ARN")]
    pub principal: String,
    /// Role ARN with its path, for a role-session principal (session ARNs carry no path).
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// The action, e.g. s3:PutObject or kms:GenerateDataKey.
    #[arg(long)]
    pub action: String,
    /// Resource ARN: object, bucket or full KMS key ARN.
    #[arg(long, value_name = "ARN")]
    pub resource: String,
    /// Account owning the resource. Taken from the ARN when it has one (KMS); required for S3.
    #[arg(long, value_name = "ID")]
    pub resource_account: Option<String>,
    /// A policy file, repeatable: identity=, boundary=, session=, bucket=, key=, scp=, rcp= or
    /// endpoint=FILE. Give one scp= (or rcp=) file per level from the root to the account: each
    /// level must allow. Files may be percent-encoded as the IAM API returns them.
    #[arg(long = "policy", value_name = "KIND=FILE", value_parser = parse_policy_arg)]
    pub policies: Vec<PolicyArg>,
    /// Request context, repeatable; repeating a key makes it multi-valued. Default: aws:SecureTransport=true.
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_context_arg)]
    pub context: Vec<(String, String)>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `main` prints and the code it exits with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainOutput {
    pub exit_code: Exit,
    pub stdout: String,
    pub stderr: String,
}

impl ExplainOutput {
    /// Prints both streams and returns the exit code.
    pub fn emit(&self) -> Exit {
        if !self.stdout.is_empty() {
            print!("{}", self.stdout);
        }
        if !self.stderr.is_empty() {
            eprint!("{}", self.stderr);
        }
        self.exit_code
    }
}

pub fn run(args: &ExplainArgs) -> ExplainOutput {
    match build(args) {
        Ok((request, policies)) => {
            let evaluation = evaluate(&request, &policies);
            let exit_code = match evaluation.decision {
                Decision::Allow => Exit::Success,
                Decision::ExplicitDeny | Decision::ImplicitDeny => Exit::Failed,
                Decision::Unknown => Exit::Unknown,
            };
            let stdout = if args.json { render_json(&request, &evaluation) } else { render_text(&evaluation) };
            ExplainOutput { exit_code, stdout, stderr: String::new() }
        }
        Err(error) => {
            let message = error.to_string();
            let stdout = if args.json {
                let v = serde_json::json!({ "error": message });
                format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default())
            } else {
                String::new()
            };
            ExplainOutput { exit_code: Exit::Usage, stdout, stderr: format!("error: {message}\n") }
        }
    }
}

fn build(args: &ExplainArgs) -> Result<(Request, Vec<LabelledPolicy>), ExplainError> {
    let mut principal =
        Principal::from_arn(&args.principal).map_err(|error| ExplainError::Principal { flag: "--principal", error })?;
    if let Some(role_arn) = &args.role_arn {
        let role =
            Principal::from_arn(role_arn).map_err(|error| ExplainError::Principal { flag: "--role-arn", error })?;
        if role.role_arn.is_none() {
            return Err(ExplainError::NotARole(role_arn.clone()));
        }
        if role.account != principal.account {
            return Err(ExplainError::Accounts { role: role.account, principal: principal.account });
        }
        principal = principal.with_role_arn(role_arn.clone());
    }
    let resource_account = resolve_resource_account(args)?;
    let mut context = Context::new();
    for (k, v) in &args.context {
        context.insert(k, v.clone());
    }
    if !context.contains("aws:SecureTransport") {
        context.insert("aws:SecureTransport", "true");
    }
    let mut policies = Vec::with_capacity(args.policies.len());
    for p in &args.policies {
        let shown = p.path.display();
        let text = crate::config::read_text(&p.path, crate::config::MAX_DOCUMENT_BYTES).map_err(|e| {
            ExplainError::Read { what: p.kind.describe(), path: shown.to_string(), error: e.to_string() }
        })?;
        let document = parse_policy(&text, p.kind).map_err(|e| ExplainError::Parse {
            what: p.kind.describe(),
            path: shown.to_string(),
            error: e.to_string(),
        })?;
        // SCPs sit above the caller's account, RCPs above the resource's; an endpoint policy
        // governs whatever passes through the endpoint. Each SCP or RCP file is one level.
        let account = match p.kind {
            PolicyKind::Endpoint => String::new(),
            PolicyKind::Scp => principal.account.clone(),
            k if k.is_resource_policy() => resource_account.clone(),
            _ => principal.account.clone(),
        };
        policies.push(LabelledPolicy::new(p.kind, format!("{} {shown}", p.kind.describe()), account, document));
    }
    let request =
        Request { principal, action: args.action.clone(), resource: args.resource.clone(), resource_account, context };
    Ok((request, policies))
}

fn resolve_resource_account(args: &ExplainArgs) -> Result<String, ExplainError> {
    let from_arn = args.resource.split(':').nth(4).filter(|a| !a.is_empty()).map(str::to_string);
    if !args.resource.starts_with("arn:") || args.resource.split(':').count() < 6 {
        return Err(ExplainError::Resource(args.resource.clone()));
    }
    let account = match (&args.resource_account, from_arn) {
        (Some(given), Some(arn)) if *given != arn => {
            return Err(ExplainError::Contradicts { given: given.clone(), arn });
        }
        (Some(given), _) => given.clone(),
        (None, Some(arn)) => arn,
        (None, None) => return Err(ExplainError::NoResourceAccount),
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ExplainError::ResourceAccount(account));
    }
    Ok(account)
}

#[derive(Serialize)]
struct JsonOut<'a> {
    decision: &'static str,
    explanation: &'a [String],
    /// The first fix (the caller side when both sides need one); all of them are in `fixes`.
    fix: Option<FixOut<'a>>,
    fixes: Vec<FixOut<'a>>,
    matched: &'a [StatementRef],
    missing_context: &'a [String],
    flags: &'a [String],
    request: RequestOut<'a>,
}

#[derive(Serialize)]
struct FixOut<'a> {
    account: &'a str,
    policy: PolicyKind,
    target: &'a str,
    json: &'a str,
    terraform: &'a str,
}

#[derive(Serialize)]
struct RequestOut<'a> {
    principal: &'a str,
    role_arn: Option<&'a str>,
    action: &'a str,
    resource: &'a str,
    resource_account: &'a str,
}

fn fix_out(f: &Fix) -> FixOut<'_> {
    FixOut { account: &f.account, policy: f.policy, target: &f.target, json: &f.json, terraform: &f.terraform }
}

fn render_json(request: &Request, e: &Evaluation) -> String {
    let out = JsonOut {
        decision: e.decision.as_str(),
        explanation: &e.explanation,
        fix: e.fix().map(fix_out),
        fixes: e.fixes.iter().map(fix_out).collect(),
        matched: &e.matched,
        missing_context: &e.missing_context,
        flags: &e.flags,
        request: RequestOut {
            principal: &request.principal.arn,
            role_arn: request.principal.role_arn.as_deref(),
            action: &request.action,
            resource: &request.resource,
            resource_account: &request.resource_account,
        },
    };
    format!("{}\n", serde_json::to_string_pretty(&out).unwrap_or_default())
}

fn render_text(e: &Evaluation) -> String {
    let mut s = format!("Decision: {}\n\nWhy:\n", e.decision.to_string().to_uppercase());
    for line in &e.explanation {
        s.push_str(&format!("  - {line}\n"));
    }
    if !e.flags.is_empty() {
        s.push_str("\nWarnings:\n");
        for f in &e.flags {
            s.push_str(&format!("  - {f}\n"));
        }
    }
    if !e.missing_context.is_empty() {
        s.push_str(&format!("\nContext keys not given: {}\n", e.missing_context.join(", ")));
    }
    let n = e.fixes.len();
    for (i, f) in e.fixes.iter().enumerate() {
        s.push_str(&format!(
            "\nFix {} of {n}: in account {}, add to {}:\n{}\n\nTerraform:\n{}",
            i + 1,
            f.account,
            f.target,
            f.json,
            f.terraform
        ));
    }
    s
}
