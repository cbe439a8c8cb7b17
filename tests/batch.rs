//! `s3ferry batch` against the emulator: the manifest (awkward keys, filters, sync diffing), the
//! CreateJob request for each Object Ownership mode (sent to a local recording stub, since moto
//! has no S3 Control Batch Operations), the completion report, and job-role verdicts.

mod support;

use std::process::{Command, Output};

use serde_json::{Value, json};
use support::control::ControlStub;
use support::world::{self, Migration, Names, Steps};
use support::{LAKE, PROD, Workspace, moto, unique};

struct Bed {
    m: Migration,
    ws: Workspace,
    config: String,
    ops: String,
}

/// The seed migration, an operations bucket in Production for manifests and reports, and the
/// operator's right to use it (PutObject for the manifest, GetObject for reports).
async fn bed() -> Bed {
    let (src, dst, role, op, aud, ops) =
        (unique("src"), unique("dst"), unique("transfer"), unique("operator"), unique("auditor"), unique("ops"));
    let names = Names {
        source: &src,
        destination: &dst,
        destination_prefix: "prod/",
        role: &role,
        operator: &op,
        auditor: &aud,
    };
    let m = world::build(moto(), names, Steps::ALL).await;
    world::create_bucket(&moto().s3(PROD), &ops).await;
    moto()
        .iam(PROD)
        .put_role_policy()
        .role_name(&role)
        .policy_name("batch-operator")
        .policy_document(world::policy(json!([
            {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": format!("arn:aws:s3:::{ops}/*")},
            {"Effect": "Allow", "Action": "s3:GetBucketPolicy", "Resource": format!("arn:aws:s3:::{ops}")}
        ])))
        .send()
        .await
        .expect("operator policy");
    let mut ws = Workspace::new();
    ws.profile("operator", &m.operator).profile("auditor", &m.auditor);
    let config = ws.write("migration.toml", &m.config_toml(&moto().endpoint, "")).display().to_string();
    Bed { m, ws, config, ops }
}

/// A job role in Production. `good`: trusted by S3 Batch and allowed everything the job does,
/// and named in the Data Lake's bucket and key policies. Otherwise trusted by EC2 only and
/// unable to read the source, and not named by the Data Lake.
async fn job_role(bed: &Bed, good: bool) -> String {
    let name = unique("batch-copy");
    let arn = format!("arn:aws:iam::{PROD}:role/{name}");
    let (src, dst, ops) = (&bed.m.source_bucket, &bed.m.destination_bucket, &bed.ops);
    let service = if good { "batchoperations.s3.amazonaws.com" } else { "ec2.amazonaws.com" };
    let iam = moto().iam(PROD);
    iam.create_role()
        .role_name(&name)
        .assume_role_policy_document(world::policy(
            json!([{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]),
        ))
        .send()
        .await
        .expect("create job role");
    let mut statements = vec![
        json!({"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": format!("arn:aws:s3:::{ops}/s3ferry-batch/*")}),
        json!({"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectAcl"], "Resource": format!("arn:aws:s3:::{dst}/prod/*")}),
        json!({"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Encrypt"], "Resource": bed.m.key_arn}),
    ];
    if good {
        statements.push(json!({"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging"], "Resource": format!("arn:aws:s3:::{src}/*")}));
    }
    iam.put_role_policy()
        .role_name(&name)
        .policy_name("batch-copy")
        .policy_document(world::policy(Value::Array(statements)))
        .send()
        .await
        .expect("job role policy");
    if good {
        let lake = moto().s3(LAKE);
        let current = lake.get_bucket_policy().bucket(dst).send().await.unwrap().policy.unwrap();
        let mut doc: Value = serde_json::from_str(&current).unwrap();
        doc["Statement"].as_array_mut().unwrap().push(json!({
            "Sid": "BatchJobWrites", "Effect": "Allow", "Principal": {"AWS": arn},
            "Action": ["s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectAcl"], "Resource": format!("arn:aws:s3:::{dst}/prod/*")
        }));
        lake.put_bucket_policy().bucket(dst).policy(doc.to_string()).send().await.expect("bucket policy");
        let kms = moto().kms(LAKE);
        let current = kms.get_key_policy().key_id(&bed.m.key_arn).policy_name("default").send().await.unwrap();
        let mut doc: Value = serde_json::from_str(&current.policy.unwrap()).unwrap();
        doc["Statement"].as_array_mut().unwrap().push(json!({
            "Sid": "BatchJobEncrypts", "Effect": "Allow", "Principal": {"AWS": arn},
            "Action": ["kms:GenerateDataKey", "kms:Encrypt"], "Resource": "*"
        }));
        kms.put_key_policy()
            .key_id(&bed.m.key_arn)
            .policy_name("default")
            .policy(doc.to_string())
            .send()
            .await
            .expect("key policy");
    }
    arn
}

fn s3ferry(bed: &Bed, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_s3ferry"))
        .args(args)
        .args(["--config", &bed.config])
        .env_clear()
        .envs(bed.ws.env())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

async fn keys_in(account: &str, bucket: &str) -> Vec<String> {
    let out = moto().s3(account).list_objects_v2().bucket(bucket).send().await.unwrap();
    out.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect()
}

const AWKWARD: [(&str, &str); 6] = [
    ("plain.csv", "plain.csv"),
    ("dir/with space.txt", "dir/with%20space.txt"),
    ("a+b,c.txt", "a%2Bb%2Cc.txt"),
    ("100%/ünï 日本.txt", "100%25/%C3%BCn%C3%AF%20%E6%97%A5%E6%9C%AC.txt"),
    ("quote\"d'.txt", "quote%22d%27.txt"),
    ("star*[x]?.txt", "star%2A%5Bx%5D%3F.txt"),
];

#[tokio::test(flavor = "multi_thread")]
async fn manifest_out_encodes_awkward_keys_applies_filters_and_sync_and_creates_nothing() {
    let bed = bed().await;
    let prod = moto().s3(PROD);
    for (key, _) in AWKWARD {
        world::put(&prod, &bed.m.source_bucket, key, key.as_bytes().to_vec()).await;
    }
    world::put(&prod, &bed.m.source_bucket, "skip/me.tmp", b"x".to_vec()).await;
    let role = format!("arn:aws:iam::{PROD}:role/not-even-created");
    let out = bed.ws.path().join("review.csv");
    let o = s3ferry(
        &bed,
        &[
            "batch",
            "--manifest-out",
            out.to_str().unwrap(),
            "--manifest-bucket",
            &bed.ops,
            "--job-role",
            &role,
            "--exclude",
            "skip/*",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let report = json_of(&o);
    assert_eq!(report["created"], false);
    assert_eq!(report["plan"]["objects"], AWKWARD.len());
    let manifest = std::fs::read_to_string(&out).unwrap();
    let mut lines: Vec<&str> = manifest.lines().collect();
    lines.sort();
    let mut want: Vec<String> = AWKWARD.iter().map(|(_, enc)| format!("{},{enc}", bed.m.source_bucket)).collect();
    want.sort();
    assert_eq!(lines, want);
    assert!(manifest.ends_with('\n') && !manifest.contains("skip"), "{manifest}");
    // Nothing was written to any bucket.
    assert!(keys_in(PROD, &bed.ops).await.is_empty(), "no manifest uploaded");
    assert!(keys_in(LAKE, &bed.m.destination_bucket).await.is_empty(), "nothing copied");

    // sync: what is already at the destination (copied by s3ferry) is left out of the manifest.
    let o = s3ferry(&bed, &["cp", "--include", "plain.csv", "--progress", "none"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = s3ferry(
        &bed,
        &[
            "batch",
            "--manifest-out",
            out.to_str().unwrap(),
            "--manifest-bucket",
            &bed.ops,
            "--job-role",
            &role,
            "--exclude",
            "skip/*",
            "--mode",
            "sync",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("nothing was uploaded and no job was created"), "{}", text(&o));
    let manifest = std::fs::read_to_string(&out).unwrap();
    assert_eq!(manifest.lines().count(), AWKWARD.len() - 1, "{manifest}");
    assert!(!manifest.contains("plain.csv"), "{manifest}");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_job_request_for_each_ownership_mode() {
    use aws_sdk_s3::types::ObjectOwnership;
    let bed = bed().await;
    for (key, _) in AWKWARD {
        world::put(&moto().s3(PROD), &bed.m.source_bucket, key, key.as_bytes().to_vec()).await;
    }
    let role = job_role(&bed, true).await;
    for (mode, acl) in [
        (ObjectOwnership::BucketOwnerEnforced, None),
        (ObjectOwnership::BucketOwnerPreferred, Some("bucket-owner-full-control")),
        (ObjectOwnership::ObjectWriter, Some("bucket-owner-full-control")),
    ] {
        let rule = aws_sdk_s3::types::OwnershipControlsRule::builder().object_ownership(mode.clone()).build().unwrap();
        moto()
            .s3(LAKE)
            .put_bucket_ownership_controls()
            .bucket(&bed.m.destination_bucket)
            .ownership_controls(aws_sdk_s3::types::OwnershipControls::builder().rules(rule).build().unwrap())
            .send()
            .await
            .unwrap();
        let stub = ControlStub::start("job-0001");
        let o = s3ferry(
            &bed,
            &[
                "batch",
                "--manifest-bucket",
                &bed.ops,
                "--job-role",
                &role,
                "--control-endpoint-url",
                &stub.url,
                "--priority",
                "42",
                "--json",
            ],
        );
        assert!(o.status.success(), "{mode:?}: {}", text(&o));
        let out = json_of(&o);
        assert_eq!(out["job"]["job_id"], "job-0001", "{out}");
        assert_eq!(out["checks"]["verdict"], "ready", "{mode:?}: {}", out["checks"]);
        let reqs = stub.requests();
        assert_eq!(reqs.len(), 1, "{reqs:#?}");
        let r = &reqs[0];
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v20180820/jobs"));
        assert_eq!(r.header("x-amz-account-id"), Some(PROD), "the job runs in the source identity's account");
        assert!(r.header("authorization").is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256")), "signed");
        let el = |t: &str| r.element(t).unwrap_or_else(|| panic!("no <{t}> in {}", r.body)).to_string();
        assert_eq!(el("RoleArn"), role);
        assert_eq!(el("Priority"), "42");
        assert_eq!(el("ConfirmationRequired"), "false");
        assert!(el("ClientRequestToken").starts_with("s3ferry-"));
        assert_eq!(el("TargetResource"), format!("arn:aws:s3:::{}", bed.m.destination_bucket));
        assert_eq!(el("TargetKeyPrefix"), "prod/");
        assert_eq!(el("SSEAwsKmsKeyId"), bed.m.key_arn);
        assert_eq!(el("BucketKeyEnabled"), "true");
        assert_eq!(el("MetadataDirective"), "COPY");
        assert_eq!(el("SSEAlgorithm"), "KMS");
        assert_eq!(r.element("CannedAccessControlList"), acl, "{mode:?}");
        assert!(r.element("AccessControlGrants").is_none());
        assert!(r.body.contains("<Format>S3BatchOperations_CSV_20180820</Format>"), "{}", r.body);
        assert!(r.body.contains("<Fields><member>Bucket</member><member>Key</member></Fields>"), "{}", r.body);
        assert!(r.body.contains("<Format>Report_CSV_20180820</Format>"), "{}", r.body);
        assert_eq!(el("ReportScope"), "FailedTasksOnly");
        assert_eq!(el("Enabled"), "true");
        assert_eq!(el("Prefix"), "s3ferry-batch/reports");
        assert_eq!(el("Bucket"), format!("arn:aws:s3:::{}", bed.ops), "the report bucket ARN");
        // The manifest went to moto; CreateJob names it by ARN with its real ETag.
        let arn = el("ObjectArn");
        let key = arn.strip_prefix(&format!("arn:aws:s3:::{}/", bed.ops)).expect("manifest in the ops bucket");
        assert!(key.starts_with("s3ferry-batch/") && key.ends_with("/manifest.csv"), "{key}");
        let head = moto().s3(PROD).head_object().bucket(&bed.ops).key(key).send().await.unwrap();
        assert_eq!(el("ETag"), head.e_tag().unwrap().trim_matches('"'));
        let body = moto().s3(PROD).get_object().bucket(&bed.ops).key(key).send().await.unwrap();
        let body = String::from_utf8(body.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
        assert_eq!(body.lines().count(), AWKWARD.len());
        assert!(body.contains(&format!("{},dir/with%20space.txt\n", bed.m.source_bucket)), "{body}");
    }
    // Nothing copied by s3ferry itself: the job does the copying.
    assert!(keys_in(LAKE, &bed.m.destination_bucket).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_job_role_blocks_the_job_and_each_check_says_why() {
    let bed = bed().await;
    world::put(&moto().s3(PROD), &bed.m.source_bucket, "a.csv", b"a".to_vec()).await;
    let good = job_role(&bed, true).await;
    let o = s3ferry(&bed, &["batch", "--check", "--json", "--manifest-bucket", &bed.ops, "--job-role", &good]);
    let report = json_of(&o);
    let statuses: Vec<(String, String)> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c["status"].as_str().unwrap().to_string()))
        .collect();
    let ids: Vec<&str> = statuses.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(ids, s3ferry::core::preflight::batch::BATCH_CHECK_IDS);
    assert!(statuses.iter().all(|(_, s)| s == "pass"), "{statuses:?}\n{}", text(&o));
    assert_eq!((o.status.code(), report["verdict"].as_str()), (Some(0), Some("ready")));

    let broken = job_role(&bed, false).await;
    let stub = ControlStub::start("never");
    let o = s3ferry(
        &bed,
        &["batch", "--manifest-bucket", &bed.ops, "--job-role", &broken, "--control-endpoint-url", &stub.url],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("Batch Operations job role"), "{t}");
    assert!(t.contains("FAIL  batch.trust"), "{t}");
    assert!(t.contains("\"Service\": \"batchoperations.s3.amazonaws.com\""), "the trust fix: {t}");
    assert!(t.contains("FAIL  batch.source"), "{t}");
    assert!(t.contains("FAIL  batch.destination"), "{t}");
    assert!(t.contains("Fix: in account 222222222222"), "the Data Lake must name the job role: {t}");
    assert!(t.contains("no job created"), "{t}");
    assert!(stub.requests().is_empty(), "no CreateJob for a blocked role");
    assert!(keys_in(PROD, &bed.ops).await.is_empty(), "no manifest uploaded");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_describes_the_job_and_loads_the_failed_tasks() {
    let bed = bed().await;
    let prod = moto().s3(PROD);
    let job = "5a9f2c1e-0001";
    let results = format!("s3ferry-batch/reports/job-{job}/results/abc.csv");
    world::put(
        &prod,
        &bed.ops,
        &format!("s3ferry-batch/reports/job-{job}/manifest.json"),
        json!({
            "Format": "Report_CSV_20180820",
            "ReportCreationDate": "2025-11-25T18:02:05.000Z",
            "Results": [{"TaskExecutionStatus": "failed", "Bucket": bed.ops, "MD5Checksum": "x", "Key": results}],
            "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"
        })
        .to_string()
        .into_bytes(),
    )
    .await;
    let src = &bed.m.source_bucket;
    world::put(
        &prod,
        &bed.ops,
        &results,
        format!(
            "{src},dir/with%20space.txt,,failed,AccessDenied,403,\"Access Denied, kms:GenerateDataKey\"\n{src},a%2Bb%2Cc.txt,,failed,,400,Bad request\n"
        )
        .into_bytes(),
    )
    .await;
    let stub = ControlStub::start(job);
    stub.describe_with(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><DescribeJobResult><Job><JobId>{job}</JobId><Description>s3ferry: test</Description><Status>Complete</Status><Priority>10</Priority><ProgressSummary><TotalNumberOfTasks>3</TotalNumberOfTasks><NumberOfTasksSucceeded>1</NumberOfTasksSucceeded><NumberOfTasksFailed>2</NumberOfTasksFailed><Timers><ElapsedTimeInActiveSeconds>99</ElapsedTimeInActiveSeconds></Timers></ProgressSummary><Report><Bucket>arn:aws:s3:::{ops}</Bucket><Format>Report_CSV_20180820</Format><Enabled>true</Enabled><Prefix>s3ferry-batch/reports</Prefix><ReportScope>FailedTasksOnly</ReportScope></Report><CreationTime>2025-11-25T18:00:00Z</CreationTime><TerminationDate>2025-11-25T18:02:05Z</TerminationDate><RoleArn>arn:aws:iam::{PROD}:role/batch-copy</RoleArn></Job></DescribeJobResult>"#,
        ops = bed.ops
    ));
    let o = s3ferry(&bed, &["batch", "status", job, "--json", "--control-endpoint-url", &stub.url]);
    assert_eq!(o.status.code(), Some(1), "failed tasks: {}", text(&o));
    let out = json_of(&o);
    assert_eq!(out["job"]["status"], "Complete");
    assert_eq!((out["job"]["total"].as_i64(), out["job"]["succeeded"].as_i64()), (Some(3), Some(1)));
    assert_eq!(out["job"]["failed"], 2);
    assert_eq!(out["elapsed_secs"], 125, "creation to termination");
    let failures = out["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 2, "{out}");
    assert_eq!(failures[0]["key"], "dir/with space.txt");
    assert_eq!(failures[0]["code"], "AccessDenied");
    assert_eq!(failures[0]["message"], "Access Denied, kms:GenerateDataKey");
    assert_eq!(failures[1]["key"], "a+b,c.txt");
    assert_eq!(failures[1]["code"], "HTTP 400");
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!((reqs[0].method.as_str(), reqs[0].path.as_str()), ("GET", format!("/v20180820/jobs/{job}").as_str()));
    assert_eq!(reqs[0].header("x-amz-account-id"), Some(PROD));

    // Text: the status line and each failure.
    let o = s3ferry(&bed, &["batch", "status", job, "--control-endpoint-url", &stub.url]);
    let t = text(&o);
    assert!(t.contains("Complete: 3 of 3 done, 1 succeeded, 2 failed in 2m 05s"), "{t}");
    assert!(t.contains("dir/with space.txt [AccessDenied]: Access Denied, kms:GenerateDataKey"), "{t}");
}
