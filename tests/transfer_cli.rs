//! `s3ferry cp|sync` against the emulator, through the real binary: awkward keys, metadata,
//! tags, multipart, SSE-KMS on every copy, Object Ownership, sync decisions, per-file errors,
//! streaming with two credential sets.

mod support;

use std::collections::HashMap;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ObjectOwnership, OwnershipControls, OwnershipControlsRule};
use futures::StreamExt;
use s3ferry::engine::copier::listing::ObjectPages;
use serde_json::{Value, json};
use support::world::{self, Migration, Steps};
use support::{LAKE, PROD, Workspace, moto, s3ferry, unique};

const MIB: usize = 1 << 20;

/// A fully permitted migration, a workspace with its profiles, and a config with `transfer`
/// appended as the `[transfer]` section.
async fn migration(steps: Steps, transfer: &str) -> (Migration, Workspace, String) {
    let (m, ws) = world::scenario(steps).await;
    let text = format!("{}\n[transfer]\n{transfer}\n", m.config_toml(&moto().endpoint, ""));
    let config = ws.write("migration.toml", &text).display().to_string();
    (m, ws, config)
}

struct Object {
    key: String,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    cache_control: Option<&'static str>,
    content_encoding: Option<&'static str>,
    metadata: Vec<(&'static str, &'static str)>,
    tags: Option<&'static str>,
}

fn plain(key: &str, body: Vec<u8>) -> Object {
    Object {
        key: key.to_string(),
        body,
        content_type: None,
        cache_control: None,
        content_encoding: None,
        metadata: vec![],
        tags: None,
    }
}

fn rich(key: &str, body: Vec<u8>) -> Object {
    Object {
        key: key.to_string(),
        body,
        content_type: Some("text/csv"),
        cache_control: Some("max-age=60"),
        content_encoding: Some("gzip"),
        metadata: vec![("owner", "finance"), ("batch-id", "42")],
        tags: Some("team=data%20lake&tier=gold"),
    }
}

/// Keys that trip naive CopySource encoding, 0-byte objects, nesting, metadata and tags.
fn keyset() -> Vec<Object> {
    let mut v = vec![
        plain("empty.txt", vec![]),
        plain("empty/nested/zero", vec![]),
        plain("a b/with space.txt", b"space".to_vec()),
        plain("plus+sign.csv", b"plus".to_vec()),
        plain("100%.txt", b"percent".to_vec()),
        plain("what?.txt", b"question".to_vec()),
        plain("hash#tag", b"hash".to_vec()),
        plain("caf\u{e9}/\u{65e5}\u{672c}\u{8a9e}.txt", "unicode \u{1f600}".as_bytes().to_vec()),
        plain("nested/a/b/c/d/deep.json", b"{}".to_vec()),
        // 1,019 bytes here + "prod/" = a 1,024-byte destination key, the S3 maximum.
        plain(&format!("long/{}", "k".repeat(1014)), b"long".to_vec()),
        rich("meta/report.csv", b"a,b\n1,2\n".to_vec()),
    ];
    for i in 0..20 {
        v.push(plain(&format!("many/{i:03}.dat"), vec![i as u8; i * 10]));
    }
    v
}

async fn put_object(s3: &aws_sdk_s3::Client, bucket: &str, o: &Object) {
    let mut req = s3
        .put_object()
        .bucket(bucket)
        .key(&o.key)
        .body(ByteStream::from(o.body.clone()))
        .set_content_type(o.content_type.map(str::to_string))
        .set_cache_control(o.cache_control.map(str::to_string))
        .set_content_encoding(o.content_encoding.map(str::to_string))
        .set_tagging(o.tags.map(str::to_string));
    for (k, v) in &o.metadata {
        req = req.metadata(*k, *v);
    }
    req.send().await.unwrap_or_else(|e| panic!("put {}: {e:?}", o.key));
}

async fn put_all(s3: &aws_sdk_s3::Client, bucket: &str, objects: &[Object]) {
    // Bounded, like world::put_many: the emulator times out under thousands of requests at once.
    futures::stream::iter(objects).for_each_concurrent(32, |o| put_object(s3, bucket, o)).await;
}

async fn body(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = s3.get_object().bucket(bucket).key(key).send().await.unwrap_or_else(|e| panic!("get {key}: {e:?}"));
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

async fn tags(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> HashMap<String, String> {
    let out = s3.get_object_tagging().bucket(bucket).key(key).send().await.expect("tagging");
    out.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

/// Adds an inline policy to the transfer role.
async fn allow_role(m: &Migration, name: &str, statements: Value) {
    let role = m.role_arn.rsplit('/').next().unwrap();
    moto()
        .iam(PROD)
        .put_role_policy()
        .role_name(role)
        .policy_name(name)
        .policy_document(world::policy(statements))
        .send()
        .await
        .expect("put role policy");
}

/// Each object arrived with its bytes, metadata and tags, encrypted with the configured key.
/// `writer` is the account that wrote the copies: moto keeps object tags per requesting account
/// (its tagging store is per account backend), so tags are read back as the writer.
async fn assert_copied(m: &Migration, objects: &[Object], stream: bool, writer: &str) {
    let lake = moto().s3(LAKE);
    let tag_reader = moto().s3(writer);
    for o in objects {
        let dkey = format!("prod/{}", o.key);
        let head = lake
            .head_object()
            .bucket(&m.destination_bucket)
            .key(&dkey)
            .send()
            .await
            .unwrap_or_else(|e| panic!("head {dkey}: {e:?}"));
        assert_eq!(head.content_length(), Some(o.body.len() as i64), "{dkey}");
        assert_eq!(head.server_side_encryption().map(|s| s.as_str()), Some("aws:kms"), "{dkey}");
        assert_eq!(head.ssekms_key_id(), Some(m.key_arn.as_str()), "{dkey} carries the configured key");
        assert_eq!(body(&lake, &m.destination_bucket, &dkey).await, o.body, "{dkey}");
        if let Some(ct) = o.content_type {
            assert_eq!(head.content_type(), Some(ct), "{dkey}");
            assert_eq!(head.cache_control(), o.cache_control, "{dkey}");
            assert_eq!(head.content_encoding(), o.content_encoding, "{dkey}");
        }
        let meta = head.metadata().cloned().unwrap_or_default();
        for (k, v) in &o.metadata {
            assert_eq!(meta.get(*k).map(String::as_str), Some(*v), "{dkey} metadata {k}");
        }
        if stream {
            assert!(meta.contains_key("s3ferry-source-etag"), "{dkey}: streamed copies record their source");
        }
        if let Some(t) = o.tags {
            let got = tags(&tag_reader, &m.destination_bucket, &dkey).await;
            let want: HashMap<String, String> = t
                .split('&')
                .map(|kv| kv.split_once('=').unwrap())
                .map(|(k, v)| (k.to_string(), v.replace("%20", " ")))
                .collect();
            assert_eq!(got, want, "{dkey} tags");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cp_then_sync_copies_everything_once_and_then_only_changes() {
    let (m, ws, config) =
        migration(Steps::ALL, "multipart_threshold = \"5MiB\"\npart_size = \"5MiB\"\nconcurrency = 32").await;
    let prod = moto().s3(PROD);
    let mut objects = keyset();
    let mut big = rich("big/blob.bin", (0..12 * MIB).map(|i| (i % 251) as u8).collect());
    big.content_type = Some("application/octet-stream");
    objects.push(big);
    put_all(&prod, &m.source_bucket, &objects).await;

    let run = s3ferry(&ws, &["cp", "--config", &config, "--progress", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let s = run.summary();
    assert_eq!(s["copied"], objects.len(), "{s}");
    assert_eq!(s["failed"], 0);
    assert_eq!(s["method"], "server_side");
    assert_eq!(s["bytes"], objects.iter().map(|o| o.body.len()).sum::<usize>());
    assert!(run.lines().iter().any(|l| l["type"] == "progress") || s["seconds"].as_f64().unwrap() < 1.0);
    assert_copied(&m, &objects, false, PROD).await;
    // The multipart object went up in parts and records its source ETag.
    let lake = moto().s3(LAKE);
    let head = lake.head_object().bucket(&m.destination_bucket).key("prod/big/blob.bin").send().await.unwrap();
    assert!(head.e_tag().unwrap().ends_with("-3\""), "3 parts of 5 MiB: {:?}", head.e_tag());
    assert!(head.metadata().unwrap().contains_key("s3ferry-source-etag"));

    // A second sync copies nothing: every object is known from the identity index.
    let run = s3ferry(&ws, &["sync", "--config", &config, "--progress", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = run.summary();
    assert_eq!((s["copied"].as_u64(), s["skipped"].as_u64()), (Some(0), Some(objects.len() as u64)), "{s}");

    // Change one object (same size, new bytes), add one, and leave an extra one at the destination.
    world::put(&prod, &m.source_bucket, "plus+sign.csv", b"PLUS".to_vec()).await;
    world::put(&prod, &m.source_bucket, "new/one.txt", b"new".to_vec()).await;
    world::put(&lake, &m.destination_bucket, "prod/extra.txt", b"extra".to_vec()).await;

    // --delete needs s3:DeleteObject, which the world's transfer role does not have.
    allow_role(&m, "delete", json!([{"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": format!("arn:aws:s3:::{}/prod/*", m.destination_bucket)}])).await;

    // Dry run: the plan, and nothing written.
    let before = world::keys(&lake, &m.destination_bucket, "prod/").await;
    let run = s3ferry(&ws, &["sync", "--delete", "--dry-run", "--config", &config, "--progress", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut plan: Vec<(String, String)> = run
        .lines()
        .iter()
        .filter(|l| l["type"] == "plan")
        .map(|l| (l["action"].as_str().unwrap().to_string(), l["key"].as_str().unwrap().to_string()))
        .collect();
    plan.sort();
    assert_eq!(
        plan,
        [
            ("copy".into(), "new/one.txt".into()),
            ("copy".into(), "plus+sign.csv".into()),
            ("delete".into(), "prod/extra.txt".into())
        ]
    );
    assert_eq!(world::keys(&lake, &m.destination_bucket, "prod/").await, before, "a dry run writes nothing");
    assert_eq!(body(&lake, &m.destination_bucket, "prod/plus+sign.csv").await, b"plus");

    // Filters apply in the order given, the later winning, as aws s3 cp's do.
    let planned = |args: &[&str]| {
        let mut all = vec!["cp", "--dry-run", "--config", &config, "--progress", "json"];
        all.extend(args);
        let run = s3ferry(&ws, &all);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let lines = run.lines();
        let keys: Vec<String> =
            lines.iter().filter(|l| l["type"] == "plan").map(|l| l["key"].as_str().unwrap().to_string()).collect();
        let warned = lines.iter().any(|l| l["type"] == "warning" && l["message"].to_string().contains("take no key"));
        (keys, warned)
    };
    let (keys, warned) = planned(&["--exclude", "*", "--include", "*.csv"]);
    assert!(!keys.is_empty() && keys.iter().all(|k| k.ends_with(".csv")) && !warned, "{keys:?}");
    let (keys, warned) = planned(&["--include", "*.csv", "--exclude", "*"]);
    assert!(keys.is_empty() && warned, "the later exclude takes everything away, and says so: {keys:?}");

    // Pages of 2 keys: the two sides' listings and the verification meet at page boundaries.
    let args = ["sync", "--delete", "--verify", "--list-page-size", "2", "--config", &config, "--progress", "json"];
    let run = s3ferry(&ws, &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let s = run.summary();
    assert_eq!((s["copied"].as_u64(), s["deleted"].as_u64()), (Some(2), Some(1)), "{s}");
    assert_eq!(s["verify"]["mismatches"], json!([]), "{s}");
    assert_eq!(s["verify"]["checked"], objects.len() + 1);
    assert_eq!(body(&lake, &m.destination_bucket, "prod/plus+sign.csv").await, b"PLUS");
    assert!(!world::keys(&lake, &m.destination_bucket, "prod/").await.contains(&"prod/extra.txt".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_ask_for_the_page_size_they_are_given() {
    let (m, _ws) = world::scenario(Steps::ALL).await;
    let prod = moto().s3(PROD);
    for i in 0..5 {
        world::put(&prod, &m.source_bucket, &format!("p/{i}"), b"x".to_vec()).await;
    }
    let sizes = |page_size: u32| {
        let mut pages = ObjectPages::new(prod.clone(), &m.source_bucket, "p/", None).page_size(page_size);
        async move {
            let mut sizes = Vec::new();
            while let Some(page) = pages.next().await.unwrap() {
                sizes.push(page.len());
            }
            sizes
        }
    };
    assert_eq!(sizes(2).await, [2, 2, 1]);
    assert_eq!(sizes(1000).await, [5]);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_ownership_mode_gets_the_acl_header_it_needs() {
    // (Object Ownership set on the destination, the ACL s3ferry must send)
    let cases = [
        (Some(ObjectOwnership::BucketOwnerEnforced), Value::Null),
        (Some(ObjectOwnership::BucketOwnerPreferred), json!("bucket-owner-full-control")),
        (None, json!("bucket-owner-full-control")),
    ];
    for (mode, want_acl) in cases {
        let (m, ws, config) = migration(Steps::ALL, "concurrency = 8").await;
        let lake = moto().s3(LAKE);
        if let Some(mode) = &mode {
            let rule = OwnershipControlsRule::builder().object_ownership(mode.clone()).build().unwrap();
            lake.put_bucket_ownership_controls()
                .bucket(&m.destination_bucket)
                .ownership_controls(OwnershipControls::builder().rules(rule).build().unwrap())
                .send()
                .await
                .expect("put ownership controls");
        } else {
            // A bucket from before 2023 with no ownership controls at all (the world sets them).
            lake.delete_bucket_ownership_controls()
                .bucket(&m.destination_bucket)
                .send()
                .await
                .expect("delete controls");
        }
        let objects = vec![plain("one.txt", b"1".to_vec()), plain("dir/two.txt", b"22".to_vec())];
        put_all(&moto().s3(PROD), &m.source_bucket, &objects).await;
        let run = s3ferry(&ws, &["cp", "--config", &config, "--progress", "json"]);
        assert_eq!(run.code, 0, "{mode:?}: {}\n{}", run.stdout, run.stderr);
        let s = run.summary();
        assert_eq!(s["copied"], 2, "{s}");
        // Read with the audit credentials (the role may not read its own bucket settings).
        let expected = mode.as_ref().map(|m| m.as_str()).unwrap_or("ObjectWriter");
        assert_eq!(s["writes"]["ownership"], expected, "{s}");
        assert_eq!(s["writes"]["acl"], want_acl, "{mode:?}");
        assert_eq!(s["writes"]["expected_bucket_owner"], LAKE, "from the key ARN's account");
        assert_eq!(s["writes"]["kms_key_arn"], m.key_arn.as_str());
        // The legacy mode is worth a warning; the modern ones are not.
        assert_eq!(s["warnings"].as_array().unwrap().is_empty(), mode.is_some(), "{s}");
        assert_copied(&m, &objects, false, PROD).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_prefix_fails_per_file_and_everything_else_is_copied() {
    let (m, ws, config) = migration(Steps::ALL, "concurrency = 16").await;
    // An explicit identity-policy Deny on one destination prefix.
    allow_role(
        &m,
        "deny-secret",
        json!([{"Effect": "Deny", "Action": "s3:PutObject", "Resource": format!("arn:aws:s3:::{}/prod/secret/*", m.destination_bucket)}]),
    )
    .await;
    let mut objects: Vec<Object> = (0..5).map(|i| plain(&format!("secret/{i}.txt"), vec![b's'; i])).collect();
    objects.extend((0..25).map(|i| plain(&format!("open/{i:02}.txt"), vec![b'o'; i])));
    put_all(&moto().s3(PROD), &m.source_bucket, &objects).await;

    let run = s3ferry(&ws, &["cp", "--config", &config, "--progress", "json"]);
    assert_eq!(run.code, 1, "some objects failed: {}", run.stderr);
    let s = run.summary();
    assert_eq!((s["copied"].as_u64(), s["failed"].as_u64()), (Some(25), Some(5)), "{s}");
    let mut failed: Vec<&str> = s["failures"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap()).collect();
    failed.sort();
    assert_eq!(failed, ["secret/0.txt", "secret/1.txt", "secret/2.txt", "secret/3.txt", "secret/4.txt"]);
    for f in s["failures"].as_array().unwrap() {
        assert_eq!(f["code"], "AccessDenied");
        assert_eq!(f["attempts"], 1, "AccessDenied is not retried");
        let msg = f["message"].as_str().unwrap();
        for needle in [m.destination_bucket.as_str(), "prod/secret/", PROD, "s3:PutObject"] {
            assert!(msg.contains(needle), "{needle:?} missing from {msg}");
        }
    }
    // Failure lines were streamed as they happened, too.
    assert_eq!(run.lines().iter().filter(|l| l["type"] == "failure").count(), 5);
    assert_copied(&m, &objects[5..], false, PROD).await;
    // The journal is kept so a rerun retries only the failures.
    let journal = s["journal"].as_str().expect("journal kept");
    let failed_log = std::fs::read_to_string(std::path::Path::new(journal).join("failed.jsonl")).unwrap();
    assert_eq!(failed_log.lines().count(), 5);
    let run = s3ferry(&ws, &["cp", "--config", &config, "--progress", "json"]);
    let s = run.summary();
    assert_eq!(
        (s["resumed"].as_bool(), s["copied"].as_u64(), s["failed"].as_u64()),
        (Some(true), Some(0), Some(5)),
        "{s}"
    );
    assert_eq!(s["already_done"], 25);
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_between_two_credential_sets() {
    // The transfer role cannot write the Data Lake at all; a Data Lake writer can, but cannot
    // read Production. Only streaming through this machine works.
    let steps =
        Steps { bucket_policy_allows_role: false, role_writes_destination: false, role_uses_key: false, ..Steps::ALL };
    let (m, mut ws, _) = migration(steps, "").await;
    let dst_arn = format!("arn:aws:s3:::{}", m.destination_bucket);
    let writer = world::create_user(
        &moto().iam(LAKE),
        &unique("writer"),
        &world::policy(json!([
            {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectTagging", "s3:GetObject", "s3:AbortMultipartUpload"], "Resource": format!("{dst_arn}/prod/*")},
            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketOwnershipControls"], "Resource": dst_arn},
            {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": m.key_arn},
        ])),
    )
    .await;
    ws.profile("writer", &writer);
    let text = m.config_toml(&moto().endpoint, "").replace(
        &format!("kms_key_arn = \"{}\"\n", m.key_arn),
        &format!("kms_key_arn = \"{}\"\nprofile = \"writer\"\nregion = \"eu-west-2\"\n", m.key_arn),
    );
    let text = format!("{text}\n[transfer]\npart_size = \"5MiB\"\nconcurrency = 16\n");
    let config = ws.write("stream.toml", &text).display().to_string();

    let mut objects = keyset();
    let mut big = rich("big/streamed.bin", (0..11 * MIB).map(|i| (i % 253) as u8).collect());
    big.content_type = Some("application/x-parquet");
    objects.push(big);
    put_all(&moto().s3(PROD), &m.source_bucket, &objects).await;

    let run = s3ferry(&ws, &["cp", "--config", &config, "--progress", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let s = run.summary();
    assert_eq!(s["method"], "stream");
    assert_eq!(s["copied"], objects.len(), "{s}");
    assert_copied(&m, &objects, true, LAKE).await;
    let head =
        moto().s3(LAKE).head_object().bucket(&m.destination_bucket).key("prod/big/streamed.bin").send().await.unwrap();
    assert!(head.e_tag().unwrap().ends_with("-3\""), "11 MiB in 5 MiB parts: {:?}", head.e_tag());

    // Streamed copies carry their source ETag, so even without the local index a sync knows them.
    let elsewhere = ws.path().join("elsewhere").display().to_string();
    let run = s3ferry(&ws, &["sync", "--config", &config, "--progress", "json", "--state-dir", &elsewhere]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = run.summary();
    assert_eq!((s["copied"].as_u64(), s["skipped"].as_u64()), (Some(0), Some(objects.len() as u64)), "{s}");
    // The multipart copy's ETag differs from its source's, so that one was decided by a HEAD
    // reading x-amz-meta-s3ferry-source-etag (moto gives single-part KMS copies MD5 ETags).
    assert_eq!(s["planned_check"], 1, "{s}");
}
