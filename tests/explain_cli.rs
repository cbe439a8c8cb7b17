//! `s3ferry explain`: exit codes, JSON shape, input errors naming file and JSON path. The args are parsed
//! through a clap `Subcommand` exactly as main.rs will wire it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use s3ferry::cli::exit::Exit;
use s3ferry::cli::explain::{ExplainArgs, ExplainOutput, run};
const EXIT_ALLOW: Exit = Exit::Success;
const EXIT_DENY: Exit = Exit::Failed;
const EXIT_UNKNOWN: Exit = Exit::Unknown;
const EXIT_USAGE: Exit = Exit::Usage;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Explain(ExplainArgs),
}

const ROLE_SESSION: &str = "arn:aws:sts::111111111111:assumed-role/transfer/s3ferry";
const ROLE: &str = "arn:aws:iam::111111111111:role/ops/transfer";
const OBJ: &str = "arn:aws:s3:::datalake-raw/prod/a.parquet";
const KEY: &str = "arn:aws:kms:eu-west-1:222222222222:key/0f1e2d3c-aaaa-bbbb-cccc-123456789012";

const IDENTITY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Write","Effect":"Allow","Action":["s3:PutObject","kms:GenerateDataKey"],"Resource":["arn:aws:s3:::datalake-raw/prod/*","arn:aws:kms:eu-west-1:222222222222:key/0f1e2d3c-aaaa-bbbb-cccc-123456789012"]}]}"#;
const BUCKET: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"AllowTransfer","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/ops/transfer"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::datalake-raw/prod/*"},
  {"Sid":"DenyInsecure","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::datalake-raw/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
const BAD_EFFECT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"allow","Action":"s3:*","Resource":"*"}]}"#;

fn file(name: &str, body: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("explain_cli");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write fixture");
    path
}

fn parse(args: &[&str]) -> Result<ExplainArgs, clap::Error> {
    let argv = ["s3ferry", "explain"].iter().copied().chain(args.iter().copied());
    Cli::try_parse_from(argv).map(|cli| match cli.command {
        Command::Explain(a) => a,
    })
}

fn explain(args: &[String]) -> ExplainOutput {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&parse(&refs).unwrap_or_else(|e| panic!("clap rejected {args:?}: {e}")))
}

fn base(action: &str, resource: &str) -> Vec<String> {
    ["--principal", ROLE_SESSION, "--role-arn", ROLE, "--action", action, "--resource", resource]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn with(mut v: Vec<String>, extra: &[&str]) -> Vec<String> {
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn policy_arg(kind: &str, path: &std::path::Path) -> String {
    format!("{kind}={}", path.display())
}

/// The transfer session writing OBJ across accounts, judged by an identity and a bucket policy.
fn transfer_args(identity: &std::path::Path, bucket: &std::path::Path) -> Vec<String> {
    let (id, b) = (policy_arg("identity", identity), policy_arg("bucket", bucket));
    with(base("s3:PutObject", OBJ), &["--resource-account", "222222222222", "--policy", &id, "--policy", &b])
}

#[test]
fn allow_exits_zero_with_text() {
    let id = file("id.json", IDENTITY);
    let b = file("bucket.json", BUCKET);
    let out = explain(&transfer_args(&id, &b));
    assert_eq!(out.exit_code, EXIT_ALLOW, "{out:?}");
    assert!(out.stdout.starts_with("Decision: ALLOW"), "{}", out.stdout);
    assert!(out.stdout.contains("\"AllowTransfer\""));
    assert!(out.stderr.is_empty());
}

#[test]
fn secure_transport_defaults_to_true_and_can_be_overridden() {
    let id = file("id2.json", IDENTITY);
    let b = file("bucket2.json", BUCKET);
    let args = transfer_args(&id, &b);
    let out = explain(&with(args, &["--context", "aws:SecureTransport=false", "--json"]));
    assert_eq!(out.exit_code, EXIT_DENY);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["decision"], "explicit_deny");
    assert!(v["fix"].is_null());
    assert!(v["explanation"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().contains("DenyInsecure")));
}

#[test]
fn implicit_deny_json_shape_and_fix() {
    let id = file("id3.json", IDENTITY);
    let out = explain(&with(
        base("s3:PutObject", OBJ),
        &["--resource-account", "222222222222", "--policy", &policy_arg("identity", &id), "--json"],
    ));
    assert_eq!(out.exit_code, EXIT_DENY);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["decision"], "implicit_deny");
    assert!(v["explanation"].is_array());
    let fix = &v["fix"];
    assert_eq!(fix["account"], "222222222222");
    assert_eq!(fix["policy"], "bucket");
    let doc: serde_json::Value = serde_json::from_str(fix["json"].as_str().unwrap()).expect("fix json");
    assert_eq!(doc["Statement"][0]["Principal"]["AWS"], ROLE);
    assert_eq!(doc["Statement"][0]["Resource"][0], OBJ);
    assert!(fix["terraform"].as_str().unwrap().starts_with("data \"aws_iam_policy_document\""));
    assert_eq!(v["fixes"].as_array().map(Vec::len), Some(1));
}

#[test]
fn unknown_exits_three() {
    let id = file("id4.json", IDENTITY);
    let out = explain(&with(base("kms:GenerateDataKey", KEY), &["--policy", &policy_arg("identity", &id), "--json"]));
    assert_eq!(out.exit_code, EXIT_UNKNOWN, "{}", out.stdout);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["decision"], "unknown");
    // The KMS ARN carries the account: no --resource-account needed.
    assert_eq!(v["request"]["resource_account"], "222222222222");
}

#[test]
fn percent_encoded_policy_file_is_accepted() {
    let encoded: String =
        percent_encoding::utf8_percent_encode(IDENTITY, percent_encoding::NON_ALPHANUMERIC).to_string();
    let id = file("id-encoded.json", &encoded);
    let key = file(
        "key.json",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"kms:GenerateDataKey","Resource":"*"}]}"#,
    );
    let out = explain(&with(
        base("kms:GenerateDataKey", KEY),
        &["--policy", &policy_arg("identity", &id), "--policy", &policy_arg("key", &key)],
    ));
    assert_eq!(out.exit_code, EXIT_ALLOW, "{}{}", out.stdout, out.stderr);
}

#[test]
fn malformed_policy_names_file_and_json_path() {
    let bad = file("bad-effect.json", BAD_EFFECT);
    let out = explain(&with(
        base("s3:PutObject", OBJ),
        &["--resource-account", "222222222222", "--policy", &policy_arg("identity", &bad)],
    ));
    assert_eq!(out.exit_code, EXIT_USAGE);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains(&bad.display().to_string()), "{}", out.stderr);
    assert!(
        out.stderr.contains(r#"at $.Statement[1].Effect: expected "Allow" or "Deny", found "allow""#),
        "{}",
        out.stderr
    );
}

#[test]
fn malformed_policy_in_json_mode_prints_an_error_object() {
    let bad = file("bad-json.json", "{\"Statement\": [");
    let out = explain(&with(
        base("s3:PutObject", OBJ),
        &["--resource-account", "222222222222", "--policy", &policy_arg("bucket", &bad), "--json"],
    ));
    assert_eq!(out.exit_code, EXIT_USAGE);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json error");
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("bad-json.json") && msg.contains("$.Statement"), "{msg}");
}

#[test]
fn missing_file_is_an_input_error() {
    let out = explain(&with(
        base("s3:PutObject", OBJ),
        &["--resource-account", "222222222222", "--policy", "identity=/nonexistent/s3ferry/id.json"],
    ));
    assert_eq!(out.exit_code, EXIT_USAGE);
    assert!(out.stderr.contains("cannot read identity policy /nonexistent/s3ferry/id.json"), "{}", out.stderr);
}

#[test]
fn s3_resource_needs_resource_account() {
    let out = explain(&base("s3:PutObject", OBJ));
    assert_eq!(out.exit_code, EXIT_USAGE);
    assert!(out.stderr.contains("--resource-account is required"), "{}", out.stderr);
}

#[test]
fn usage_errors() {
    // Not an ARN.
    let out = explain(&with(
        vec![],
        &[
            "--principal",
            "transfer",
            "--action",
            "s3:PutObject",
            "--resource",
            OBJ,
            "--resource-account",
            "222222222222",
        ],
    ));
    assert_eq!(out.exit_code, EXIT_USAGE);
    assert!(out.stderr.contains("--principal"), "{}", out.stderr);
    // Role ARN in another account than the session.
    let out = explain(&with(
        vec![],
        &[
            "--principal",
            ROLE_SESSION,
            "--role-arn",
            "arn:aws:iam::999999999999:role/transfer",
            "--action",
            "s3:PutObject",
            "--resource",
            OBJ,
            "--resource-account",
            "222222222222",
        ],
    ));
    assert_eq!(out.exit_code, EXIT_USAGE);
    assert!(out.stderr.contains("--role-arn"), "{}", out.stderr);
    // Resource account contradicting the KMS ARN.
    let out = explain(&with(base("kms:Decrypt", KEY), &["--resource-account", "333333333333"]));
    assert_eq!(out.exit_code, EXIT_USAGE);
    assert!(out.stderr.contains("contradicts"), "{}", out.stderr);
    // clap-level errors: bad policy kind, bad context.
    assert!(
        parse(&["--principal", ROLE, "--action", "s3:GetObject", "--resource", OBJ, "--policy", "identiy=x.json"])
            .is_err()
    );
    assert!(
        parse(&["--principal", ROLE, "--action", "s3:GetObject", "--resource", OBJ, "--context", "novalue"]).is_err()
    );
    assert!(parse(&["--action", "s3:GetObject", "--resource", OBJ]).is_err());
}

#[test]
fn several_identity_policies_and_multi_valued_context() {
    let a = file("id-a.json", r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#);
    let b = file(
        "id-b.json",
        r#"{"Statement":{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::datalake-raw/*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["project","owner"]}}}}"#,
    );
    let args = with(
        base("s3:PutObject", "arn:aws:s3:::datalake-raw/x"),
        &[
            "--resource-account",
            "111111111111",
            "--policy",
            &policy_arg("identity", &a),
            "--policy",
            &policy_arg("identity", &b),
            "--context",
            "aws:TagKeys=project",
            "--context",
            "aws:TagKeys=owner",
        ],
    );
    assert_eq!(explain(&args).exit_code, EXIT_ALLOW);
    let args = with(args, &["--context", "aws:TagKeys=cost-center"]);
    assert_eq!(explain(&args).exit_code, EXIT_DENY);
}

/// `--policy scp=` and `rcp=` (one file a level) and `endpoint=` only take away: a level that
/// does not allow turns ALLOW into DENY, with the fix addressed to the organization's admin.
#[test]
fn organization_and_endpoint_layers_take_away() {
    let id = file("id-org.json", IDENTITY);
    let b = file("bucket-org.json", BUCKET);
    let root = file(
        "scp-root.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    );
    let ou = file(
        "scp-ou.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#,
    );
    let vpce = file(
        "vpce.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#,
    );
    let args = transfer_args(&id, &b);
    let allowed = explain(&with(
        args.clone(),
        &["--policy", &policy_arg("scp", &root), "--policy", &policy_arg("endpoint", &vpce)],
    ));
    assert_eq!(allowed.exit_code, EXIT_ALLOW, "{}", allowed.stdout);
    let denied = explain(&with(args, &["--policy", &policy_arg("scp", &root), "--policy", &policy_arg("scp", &ou)]));
    assert_eq!(denied.exit_code, EXIT_DENY, "{}", denied.stdout);
    assert!(
        denied.stdout.contains("service control policy") && denied.stdout.contains("does not allow"),
        "{}",
        denied.stdout
    );
    assert!(denied.stdout.contains("administrator"), "the fix names who applies it: {}", denied.stdout);
}

/// An action of a service s3ferry does not model is unknown (exit 3), never judged by S3's rules.
#[test]
fn an_unmodeled_service_is_unknown() {
    let id = file(
        "id-sts.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#,
    );
    let out = explain(&with(
        base("sts:AssumeRole", "arn:aws:iam::222222222222:role/other"),
        &["--policy", &policy_arg("identity", &id)],
    ));
    assert_eq!(out.exit_code, EXIT_UNKNOWN, "{}", out.stdout);
    assert!(out.stdout.contains("sts"), "{}", out.stdout);
}
