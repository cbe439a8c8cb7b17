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
    Context, Decision, Evaluation, Fix, LabelledPolicy, PolicyKind, Principal, Request, StatementRef, evaluate,
    parse_policy,
};

/// `--policy KIND=FILE`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyArg {
    pub kind: PolicyKind,
    pub path: PathBuf,
}

fn parse_policy_arg(s: &str) -> Result<PolicyArg, String> {
    let (kind, path) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KIND=FILE (e.g. identity=role-policy.json), found \"{s}\""))?;
    if path.is_empty() {
        return Err(format!("no file given after \"{kind}=\""));
    }
    Ok(PolicyArg { kind: kind.parse()?, path: PathBuf::from(path) })
}

fn parse_context_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE (e.g. aws:SecureTransport=true), found \"{s}\"")),
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
        Err(message) => {
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

fn build(args: &ExplainArgs) -> Result<(Request, Vec<LabelledPolicy>), String> {
    let mut principal = Principal::from_arn(&args.principal).map_err(|e| format!("--principal: {e}"))?;
    if let Some(role_arn) = &args.role_arn {
        let role = Principal::from_arn(role_arn).map_err(|e| format!("--role-arn: {e}"))?;
        if role.role_arn.is_none() {
            return Err(format!("--role-arn: \"{role_arn}\" is not a role ARN (arn:aws:iam::ACCOUNT:role/PATH/NAME)"));
        }
        if role.account != principal.account {
            return Err(format!(
                "--role-arn is in account {} but --principal is in account {}",
                role.account, principal.account
            ));
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
        let text = crate::config::read_text(&p.path, crate::config::MAX_DOCUMENT_BYTES)
            .map_err(|e| format!("cannot read {} {shown}: {e}", p.kind.describe()))?;
        let document = parse_policy(&text, p.kind).map_err(|e| format!("{shown} ({}): {e}", p.kind.describe()))?;
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

fn resolve_resource_account(args: &ExplainArgs) -> Result<String, String> {
    let from_arn = args.resource.split(':').nth(4).filter(|a| !a.is_empty()).map(str::to_string);
    if !args.resource.starts_with("arn:") || args.resource.split(':').count() < 6 {
        return Err(format!("--resource: \"{}\" is not an ARN", args.resource));
    }
    let account = match (&args.resource_account, from_arn) {
        (Some(given), Some(arn)) if *given != arn => {
            return Err(format!("--resource-account {given} contradicts the account {arn} in the resource ARN"));
        }
        (Some(given), _) => given.clone(),
        (None, Some(arn)) => arn,
        (None, None) => {
            return Err(
                "--resource-account is required: S3 ARNs carry no account id; give the bucket owner's 12-digit account id"
                    .to_string(),
            );
        }
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("resource account \"{account}\" is not a 12-digit account id"));
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
