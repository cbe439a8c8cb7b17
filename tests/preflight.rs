//! The preflight against real accounts on the emulator: each of the seed's eight steps left out
//! in turn fails exactly its check; the all-good migration is ready.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;
use support::world::{self, Migration, Steps};
use support::{Workspace, moto};

struct Outcome {
    code: i32,
    report: Value,
    text: String,
}

impl Outcome {
    fn statuses(&self) -> BTreeMap<String, String> {
        self.report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_str().unwrap().to_string(), c["status"].as_str().unwrap().to_string()))
            .collect()
    }

    fn check(&self, id: &str) -> &Value {
        self.report["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()
    }
}

async fn scenario(steps: Steps) -> (Migration, Workspace, String) {
    let (m, ws) = world::scenario(steps).await;
    let src = m.source_bucket.clone();
    world::put(&moto().s3(support::PROD), &src, "exports/a.csv", b"a,b\n1,2\n".to_vec()).await;
    let config = ws.write("migration.toml", &m.config_toml(&moto().endpoint, "")).display().to_string();
    (m, ws, config)
}

fn preflight(ws: &Workspace, config: &str, extra: &[&str]) -> Outcome {
    let run = |json: bool| {
        let mut args = vec!["preflight", "--config", config];
        if json {
            args.push("--json");
        }
        args.extend(extra);
        Command::new(env!("CARGO_BIN_EXE_s3ferry")).args(&args).env_clear().envs(ws.env()).output().unwrap()
    };
    let out = run(true);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    // Probes write: run them once per call, so the JSON run is the only one then.
    let text = if extra.contains(&"--probe") {
        String::new()
    } else {
        String::from_utf8_lossy(&run(false).stdout).into_owned()
    };
    Outcome { code: out.status.code().unwrap_or(-1), report, text }
}

/// Asserts the report: `fail` fails, `unknown` are unknown, everything else passes.
fn expect(o: &Outcome, fail: &[&str], unknown: &[&str]) {
    for (id, status) in o.statuses() {
        let want = if fail.contains(&id.as_str()) {
            "fail"
        } else if unknown.contains(&id.as_str()) {
            "unknown"
        } else {
            "pass"
        };
        assert_eq!(status, want, "{id}\n{}", o.text);
    }
    assert_eq!(o.statuses().len(), s3ferry::core::preflight::checks::CHECKS.len(), "every check reports");
}

#[tokio::test(flavor = "multi_thread")]
async fn all_eight_steps_done_is_ready() {
    let (m, ws, config) = scenario(Steps::ALL).await;
    let o = preflight(&ws, &config, &[]);
    expect(&o, &[], &[]);
    assert_eq!((o.code, o.report["verdict"].as_str()), (0, Some("ready")), "{}", o.text);
    assert!(o.report["principal"].as_str().unwrap().contains("assumed-role"));
    assert!(o.text.contains("Verdict: READY (16 pass, 0 fail, 0 warn, 0 unknown)"), "{}", o.text);
    assert!(o.check("source.role")["detail"].to_string().contains(&m.role_arn));
}

// Step 1: no transfer role. Nothing can be judged for a principal that does not exist; the
// destination's own settings still are.
#[tokio::test(flavor = "multi_thread")]
async fn step_1_missing_role() {
    let (_m, ws, config) = scenario(Steps { role: false, ..Steps::ALL }).await;
    let o = preflight(&ws, &config, &[]);
    expect(
        &o,
        &["source.role"],
        &[
            "source.read",
            "source.key",
            "source.policy.write",
            "source.policy.key",
            "destination.bucket_policy",
            "destination.key_policy",
            "credentials.lifetime",
            "organization.scp",
            "organization.rcp",
        ],
    );
    assert_eq!(o.code, 1);
    assert!(o.check("source.role")["detail"].to_string().contains("assume"), "{}", o.text);
}

// Step 2: the role may not read the Production bucket.
#[tokio::test(flavor = "multi_thread")]
async fn step_2_role_cannot_read_source() {
    let (m, ws, config) = scenario(Steps { role_reads_source: false, ..Steps::ALL }).await;
    let o = preflight(&ws, &config, &[]);
    expect(&o, &["source.read"], &[]);
    let fix = &o.check("source.read")["fix"];
    assert_eq!(fix["account"], support::PROD);
    let json: Value = serde_json::from_str(fix["json"].as_str().unwrap()).unwrap();
    let text = json.to_string();
    assert!(text.contains("s3:ListBucket") && text.contains("s3:GetObject"), "{text}");
    assert!(text.contains(&format!("arn:aws:s3:::{}", m.source_bucket)), "{text}");
}

// Step 3: no Data Lake bucket: the checks about its settings defer to destination.bucket.
#[tokio::test(flavor = "multi_thread")]
async fn step_3_missing_destination_bucket() {
    let (m, ws, config) = scenario(Steps { destination_bucket: false, ..Steps::ALL }).await;
    let o = preflight(&ws, &config, &[]);
    expect(
        &o,
        &["destination.bucket"],
        &["destination.encryption", "destination.bucket_policy", "destination.ownership", "destination.public_access"],
    );
    assert!(o.check("destination.bucket")["summary"].as_str().unwrap().contains(&m.destination_bucket));
    assert!(o.check("destination.ownership")["summary"].as_str().unwrap().contains("see destination.bucket"));
}

// Step 4: the Data Lake bucket has no default encryption with the configured key.
#[tokio::test(flavor = "multi_thread")]
async fn step_4_no_default_encryption() {
    let (_m, ws, config) = scenario(Steps { destination_encryption: false, ..Steps::ALL }).await;
    let o = preflight(&ws, &config, &[]);
    expect(&o, &["destination.encryption"], &[]);
}

// Step 5: the Data Lake bucket policy does not let the role write.
#[tokio::test(flavor = "multi_thread")]
async fn step_5_bucket_policy_lacks_role() {
    let (m, ws, config) = scenario(Steps { bucket_policy_allows_role: false, ..Steps::ALL }).await;
    let o = preflight(&ws, &config, &[]);
    expect(&o, &["destination.bucket_policy"], &[]);
    let fix = &o.check("destination.bucket_policy")["fix"];
    assert_eq!(fix["account"], support::LAKE);
    let json: Value = serde_json::from_str(fix["json"].as_str().unwrap()).unwrap();
    let st = &json["Statement"][0];
    assert_eq!(st["Principal"]["AWS"], m.role_arn.as_str(), "{json}");
    assert_eq!(st["Resource"][0], format!("arn:aws:s3:::{}/prod/*", m.destination_bucket), "{json}");
    assert!(st["Action"].to_string().contains("s3:PutObject"));
    assert!(fix["terraform"].as_str().unwrap().contains("aws_iam_policy_document"));
    assert!(o.text.contains("Fix: in account 222222222222"), "{}", o.text);
}

// Step 6: the Data Lake key policy does not let the role use the key (the demo's missing step).
#[tokio::test(flavor = "multi_thread")]
async fn step_6_key_policy_lacks_role() {
    let (m, ws, config) = scenario(Steps { key_policy_allows_role: false, ..Steps::ALL }).await;
    let o = preflight(&ws, &config, &[]);
    expect(&o, &["destination.key_policy"], &[]);
    assert_eq!(o.code, 1);
    assert_eq!(o.report["verdict"], "blocked");
    let fix = &o.check("destination.key_policy")["fix"];
    assert_eq!(fix["account"], support::LAKE);
    let json: Value = serde_json::from_str(fix["json"].as_str().unwrap()).unwrap();
    let st = &json["Statement"][0];
    assert_eq!(st["Principal"]["AWS"], m.role_arn.as_str());
    assert_eq!(st["Resource"][0], "*", "inside a key policy, * means the key itself");
    let actions = st["Action"].to_string();
    assert!(actions.contains("kms:GenerateDataKey") && actions.contains("kms:Encrypt"), "{actions}");
    assert!(!actions.contains("kms:Decrypt"), "Decrypt only when multipart copies are planned: {actions}");
    // With multipart copies planned, Decrypt is needed too.
    let o = preflight(&ws, &config, &["--multipart"]);
    let json = o.check("destination.key_policy")["fix"]["json"].as_str().unwrap().to_string();
    assert!(json.contains("kms:Decrypt"), "{json}");
}

// Step 7: the role's own policies do not allow writing to the Data Lake bucket.
#[tokio::test(flavor = "multi_thread")]
async fn step_7_role_cannot_write_destination() {
    let (m, ws, config) = scenario(Steps { role_writes_destination: false, ..Steps::ALL }).await;
    let o = preflight(&ws, &config, &[]);
    expect(&o, &["source.policy.write"], &[]);
    let fix = &o.check("source.policy.write")["fix"];
    assert_eq!(fix["account"], support::PROD);
    assert!(fix["json"].as_str().unwrap().contains(&format!("arn:aws:s3:::{}/prod/*", m.destination_bucket)));
    assert!(!fix["json"].as_str().unwrap().contains("Principal"), "identity policies name no principal");
}

// Step 8: the role's own policies do not allow using the Data Lake key.
#[tokio::test(flavor = "multi_thread")]
async fn step_8_role_cannot_use_key() {
    let (m, ws, config) = scenario(Steps { role_uses_key: false, ..Steps::ALL }).await;
    let o = preflight(&ws, &config, &[]);
    expect(&o, &["source.policy.key"], &[]);
    let fix = &o.check("source.policy.key")["fix"];
    assert_eq!(fix["account"], support::PROD);
    assert!(fix["json"].as_str().unwrap().contains(&m.key_arn), "scoped to the key ARN");
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_managed_key_is_a_failure_with_the_reason() {
    let (m, ws, config) = scenario(Steps::ALL).await;
    let rule = aws_sdk_s3::types::ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            aws_sdk_s3::types::ServerSideEncryptionByDefault::builder()
                .sse_algorithm(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                .kms_master_key_id("alias/aws/s3")
                .build()
                .unwrap(),
        )
        .build();
    moto()
        .s3(support::LAKE)
        .put_bucket_encryption()
        .bucket(&m.destination_bucket)
        .server_side_encryption_configuration(
            aws_sdk_s3::types::ServerSideEncryptionConfiguration::builder().rules(rule).build().unwrap(),
        )
        .send()
        .await
        .unwrap();
    let o = preflight(&ws, &config, &[]);
    expect(&o, &["destination.encryption"], &[]);
    let detail = o.check("destination.encryption")["detail"].to_string();
    assert!(detail.contains("KMS.NotFoundException"), "{detail}");
}

async fn set_ownership(m: &Migration, mode: aws_sdk_s3::types::ObjectOwnership) {
    let rule = aws_sdk_s3::types::OwnershipControlsRule::builder().object_ownership(mode).build().unwrap();
    moto()
        .s3(support::LAKE)
        .put_bucket_ownership_controls()
        .bucket(&m.destination_bucket)
        .ownership_controls(aws_sdk_s3::types::OwnershipControls::builder().rules(rule).build().unwrap())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn each_ownership_mode() {
    use aws_sdk_s3::types::ObjectOwnership;
    let (m, ws, config) = scenario(Steps::ALL).await;
    // BucketOwnerEnforced was covered by the all-good scenario. ObjectWriter: the Data Lake would
    // not own the copies.
    set_ownership(&m, ObjectOwnership::ObjectWriter).await;
    let o = preflight(&ws, &config, &[]);
    expect(&o, &["destination.ownership"], &[]);
    assert!(o.check("destination.ownership")["summary"].as_str().unwrap().contains("ObjectWriter"));
    // BucketOwnerPreferred: copies carry bucket-owner-full-control, which needs s3:PutObjectAcl,
    // granted on neither side: one check fails, with a fix for each account.
    set_ownership(&m, ObjectOwnership::BucketOwnerPreferred).await;
    let o = preflight(&ws, &config, &[]);
    expect(&o, &["destination.ownership"], &[]);
    let fixes = o.check("destination.ownership")["fixes"].as_array().unwrap().clone();
    let accounts: Vec<&str> = fixes.iter().map(|f| f["account"].as_str().unwrap()).collect();
    assert!(accounts.contains(&support::PROD) && accounts.contains(&support::LAKE), "{accounts:?}");
    assert!(fixes.iter().all(|f| f["json"].as_str().unwrap().contains("s3:PutObjectAcl")));
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_destination_policies_are_unknown_and_files_fill_the_gap() {
    let (m, mut ws, _) = scenario(Steps::ALL).await;
    // No [destination.audit]: the source role cannot read the Data Lake's policies.
    let toml = m.config_toml(&moto().endpoint, "");
    let without_audit = toml[..toml.find("[destination.audit]").unwrap()].to_string();
    let config = ws.write("no-audit.toml", &without_audit).display().to_string();
    let o = preflight(&ws, &config, &[]);
    assert_eq!(o.check("destination.bucket_policy")["status"], "unknown", "{}", o.text);
    assert_eq!(o.check("destination.key_policy")["status"], "unknown", "{}", o.text);
    assert!(o.check("destination.key_policy")["detail"].to_string().contains("--dst-key-policy"), "{}", o.text);
    assert_eq!((o.code, o.report["verdict"].as_str()), (3, Some("unknown")));
    assert!(o.check("destination.bucket_policy")["detail"].to_string().contains("--dst-bucket-policy"), "{}", o.text);

    // The operator supplies the documents (as the Data Lake team sent them).
    let lake = moto().s3(support::LAKE);
    let bp = lake.get_bucket_policy().bucket(&m.destination_bucket).send().await.unwrap().policy.unwrap();
    let kp = moto()
        .kms(support::LAKE)
        .get_key_policy()
        .key_id(&m.key_arn)
        .policy_name("default")
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    let bp_file = ws.write("dl-bucket.json", &bp).display().to_string();
    let kp_file = ws.write("dl-key.json", &kp).display().to_string();
    let o = preflight(&ws, &config, &["--dst-bucket-policy", &bp_file, "--dst-key-policy", &kp_file]);
    assert_eq!(o.check("destination.bucket_policy")["status"], "pass", "{}", o.text);
    assert_eq!(o.check("destination.key_policy")["status"], "pass", "{}", o.text);

    // A malformed file is the operator's to fix, not the bucket's fault: a usage error (exit 2)
    // naming the flag, the file and the parse location; nothing panics.
    let broken = ws.write(
        "broken.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Effect":"Deny"}]}"#,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_s3ferry"))
        .args(["preflight", "--json", "--config", &config, "--dst-bucket-policy", broken.to_str().unwrap()])
        .args(["--dst-key-policy", &kp_file])
        .env_clear()
        .envs(ws.env())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--dst-bucket-policy") && stderr.contains("$.Statement[0]"), "{stderr}");
    assert!(out.stdout.is_empty(), "no report for a run that did not happen");
    ws.profile("unused", &m.auditor);
}

async fn probe_leftovers(m: &Migration) -> usize {
    let listed = moto()
        .s3(support::LAKE)
        .list_objects_v2()
        .bucket(&m.destination_bucket)
        .prefix("prod/.s3ferry-probe/")
        .send()
        .await
        .unwrap();
    let uploads = moto().s3(support::LAKE).list_multipart_uploads().bucket(&m.destination_bucket).send().await.unwrap();
    listed.contents().len() + uploads.uploads().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_write_with_the_copier_headers_and_clean_up() {
    let (m, ws, config) = scenario(Steps::ALL).await;
    let o = preflight(&ws, &config, &["--probe"]);
    let probes = o.report["probes"].as_array().expect("probes reported when asked for");
    let ids: Vec<&str> = probes.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["probe.put", "probe.multipart", "probe.copy"]);
    for p in probes {
        assert_eq!(p["status"], "pass", "{}", o.text);
    }
    assert_eq!(o.code, 0);
    let text = Command::new(env!("CARGO_BIN_EXE_s3ferry"))
        .args(["preflight", "--probe", "--config", &config])
        .env_clear()
        .envs(ws.env())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Live probes") && text.contains("removed s3://"), "{text}");
    assert_eq!(probe_leftovers(&m).await, 0, "probes leave nothing behind");
    // A role that may not delete leaves the probe objects behind, and is told so.
    let prod = moto().iam(support::PROD);
    let role = m.role_arn.rsplit('/').next().unwrap();
    let attached = prod.list_attached_role_policies().role_name(role).send().await.unwrap();
    let arn = attached.attached_policies()[0].policy_arn().unwrap().to_string();
    prod.detach_role_policy().role_name(role).policy_arn(&arn).send().await.unwrap();
    let no_cleanup = world::policy(
        serde_json::json!([{"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectTagging"], "Resource": format!("arn:aws:s3:::{}/prod/*", m.destination_bucket)}]),
    );
    prod.put_role_policy()
        .role_name(role)
        .policy_name("write-no-delete")
        .policy_document(no_cleanup)
        .send()
        .await
        .unwrap();
    let o = preflight(&ws, &config, &["--probe"]);
    let put = &o.report["probes"][0];
    assert_eq!(put["status"], "warn", "{}", o.text);
    assert!(put["detail"].to_string().contains("could NOT remove"), "{put}");
    assert_eq!(probe_leftovers(&m).await, 3, "the object, the copy and the upload stay, and the report says where");
    // Without --probe nothing is written at all.
    let o = preflight(&ws, &config, &[]);
    assert!(o.report.get("probes").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_probe_blocks_and_is_classified() {
    // Step 7 missing: the role's own policy does not allow writing to the Data Lake bucket.
    let (m, ws, config) = scenario(Steps { role_writes_destination: false, ..Steps::ALL }).await;
    let o = preflight(&ws, &config, &["--probe"]);
    let put = &o.report["probes"][0];
    assert_eq!(put["status"], "fail", "{}", o.text);
    assert!(put["summary"].as_str().unwrap().contains("AccessDenied"), "{put}");
    let detail = put["detail"].to_string();
    assert!(detail.contains("AWS said: AccessDenied"), "{detail}");
    // moto, like S3 across organizations, answers a bare "Access Denied": reported as ambiguous.
    assert!(detail.contains("without details"), "{detail}");
    assert_eq!(o.report["verdict"], "blocked");
    assert_eq!(probe_leftovers(&m).await, 0);
}

/// The organization's layers from files, and a VPC endpoint's policy read with the transfer
/// role: an OU's SCP that allows only EC2, and a gateway endpoint that lets through only the
/// Production account's own bucket, each block the copy on its own check; FullAWSAccess at
/// every level and the default endpoint policy are ready.
#[tokio::test(flavor = "multi_thread")]
async fn scp_files_and_endpoint_policies_are_judged() {
    let (m, ws, _) = scenario(Steps::ALL).await;
    let full = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let ec2_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#;
    ws.write("scp-root.json", full);
    ws.write("scp-ou.json", ec2_only);
    ws.write("scp-ou-full.json", full);
    let ec2 = aws_sdk_ec2::Client::new(&moto().sdk(&moto().admin(support::PROD)));
    let vpc = ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let own = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::{0}","arn:aws:s3:::{0}/*"]}}]}}"#,
        m.source_bucket
    );
    let endpoint = |policy: Option<String>| {
        let ec2 = ec2.clone();
        let vpc = vpc.clone();
        async move {
            let req = ec2
                .create_vpc_endpoint()
                .vpc_id(vpc)
                .service_name(format!("com.amazonaws.{}.s3", support::REGION))
                .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Gateway)
                .set_policy_document(policy);
            req.send().await.unwrap().vpc_endpoint.unwrap().vpc_endpoint_id.unwrap()
        }
    };
    let (narrow, open) = (endpoint(Some(own)).await, endpoint(None).await);
    let config = |ou: &str, vpce: &str| {
        let base = m.config_toml(&moto().endpoint, "");
        let base = base.replacen("[source]\n", &format!("[source]\nvpc_endpoint_id = \"{vpce}\"\n"), 1);
        let text = format!("{base}\n[organization]\nscp_files = [\"scp-root.json\", \"{ou}\"]\n");
        ws.write("migration-layers.toml", &text).display().to_string()
    };

    let o = preflight(&ws, &config("scp-ou.json", &narrow), &[]);
    expect(&o, &["organization.scp", "source.endpoint"], &[]);
    assert_eq!((o.code, o.report["verdict"].as_str()), (1, Some("blocked")), "{}", o.text);
    let scp = o.check("organization.scp").to_string();
    assert!(scp.contains("administrator") && scp.contains("scp-ou.json"), "{scp}");
    assert!(o.check("source.endpoint").to_string().contains(&narrow), "{}", o.text);

    let o = preflight(&ws, &config("scp-ou-full.json", &open), &[]);
    expect(&o, &[], &[]);
    assert_eq!(o.code, 0, "{}", o.text);

    // An RCP above the Data Lake that denies principals of other organizations, and a session
    // policy that withholds s3:PutObject: each fails its own check.
    let rcp = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringNotEqualsIfExists":{"aws:PrincipalOrgID":"o-lake"}}}]}"#;
    ws.write("rcp-lake.json", rcp);
    ws.write(
        "session.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"s3:PutObject","Resource":"*"}]}"#,
    );
    let base = m.config_toml(&moto().endpoint, "");
    let base = base.replacen("[source]\n", "[source]\nsession_policy = \"session.json\"\n", 1);
    let text = format!(
        "{base}\n[organization]\nscp_files = [\"scp-root.json\"]\ndestination_rcp_files = [\"rcp-lake.json\"]\n"
    );
    let o = preflight(&ws, &ws.write("migration-rcp.toml", &text).display().to_string(), &[]);
    expect(&o, &["organization.rcp", "source.policy.write"], &[]);
    assert!(o.check("organization.rcp").to_string().contains("explicitly denied"), "{}", o.text);
}

/// Read through the Organizations API as the management account: the levels from the root to
/// a member account, root first, each level's policies joined; an account outside the
/// organization has nothing of it above it.
#[tokio::test(flavor = "multi_thread")]
async fn organization_policies_are_read_level_by_level() {
    use aws_sdk_organizations::types::PolicyType;
    use s3ferry::core::preflight::evidence::Fetched;
    let org = aws_sdk_organizations::Client::new(&moto().sdk(&moto().admin(support::OTHER)));
    if org.describe_organization().send().await.is_err() {
        org.create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
            .unwrap();
    }
    let root = org.list_roots().send().await.unwrap().roots()[0].id().unwrap().to_string();
    let _ = org.enable_policy_type().root_id(&root).policy_type(PolicyType::ServiceControlPolicy).send().await;
    let email = format!("{}@example.com", support::unique("member"));
    let created = org.create_account().email(email).account_name(support::unique("member")).send().await.unwrap();
    let member = created.create_account_status().unwrap().account_id().unwrap().to_string();
    let ou_name = support::unique("data");
    let ou = org.create_organizational_unit().parent_id(&root).name(&ou_name).send().await.unwrap();
    let ou = ou.organizational_unit().unwrap().id().unwrap().to_string();
    org.move_account().account_id(&member).source_parent_id(&root).destination_parent_id(&ou).send().await.unwrap();
    let ec2_only = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*"}}"#;
    let policy = org
        .create_policy()
        .content(ec2_only)
        .description("ec2 only")
        .name(support::unique("ec2only"))
        .r#type(PolicyType::ServiceControlPolicy)
        .send()
        .await
        .unwrap();
    let policy_id = policy.policy().unwrap().policy_summary().unwrap().id().unwrap().to_string();
    org.attach_policy().policy_id(&policy_id).target_id(&ou).send().await.unwrap();

    let Fetched::Got(levels) =
        s3ferry::engine::layers::read_from_api(&org, &member, PolicyType::ServiceControlPolicy).await
    else {
        panic!("the levels above {member} were not read");
    };
    let names: Vec<&str> = levels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(levels.len(), 3, "root, OU, account: {names:?}");
    assert!(names[0].contains(&root) && names[1].contains(&ou) && names[2].contains(&member), "{names:?}");
    assert!(levels[1].text.contains("ec2:*"), "{}", levels[1].text);
    let statements: serde_json::Value = serde_json::from_str(&levels[1].text).unwrap();
    assert_eq!(statements["Statement"].as_array().unwrap().len(), 2, "FullAWSAccess and ec2-only joined");
    // An account outside this organization may be in another: not read, and said so.
    let outside = s3ferry::engine::layers::read_from_api(&org, support::LAKE, PolicyType::ServiceControlPolicy).await;
    assert!(outside.unreadable().is_some_and(|why| why.contains("not in the organization")), "{outside:?}");
}
