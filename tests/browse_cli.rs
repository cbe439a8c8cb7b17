//! Identity and listing against the emulator, through the real binary: `whoami`, `ls`, and the
//! error messages an operator sees.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::fault::FaultProxy;
use support::world::{self, Migration, Steps};
use support::{LAKE, PROD, Workspace, moto, s3ferry};

/// A fully permitted migration plus a workspace whose config points at it.
async fn migration(steps: Steps) -> (Migration, Workspace, String) {
    let (m, ws) = world::scenario(steps).await;
    let config = ws.write("migration.toml", &m.config_toml(&moto().endpoint, "")).display().to_string();
    (m, ws, config)
}

#[tokio::test(flavor = "multi_thread")]
async fn whoami_resolves_each_side_in_its_own_account() {
    let (m, ws, config) = migration(Steps::ALL).await;
    let run = s3ferry(&ws, &["whoami", "--json", "--config", &config]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let role_name = m.role_arn.rsplit('/').next().unwrap();
    assert_eq!(v["source"]["identity"]["account"], PROD);
    let arn = v["source"]["identity"]["arn"].as_str().unwrap();
    assert!(arn.starts_with(&format!("arn:aws:sts::{PROD}:assumed-role/{role_name}/")), "{arn}");
    assert_eq!(v["source"]["region"], "eu-west-2");
    // A role assumed on long-term keys: it expires (1h requested) but s3ferry can renew it.
    let left = v["source"]["lifetime"]["expires_at"].as_u64().unwrap() as i64 - now() as i64;
    assert!((3000..=3600).contains(&left), "about an hour left, got {left}s");
    assert_eq!(v["source"]["lifetime"]["renews"], true);
    assert_eq!(v["source"]["lifetime"]["chained"], false);
    // The destination pane browses with the audit credentials, in the Data Lake account.
    assert_eq!(v["destination"]["identity"]["account"], LAKE);
    assert_eq!(v["destination"]["via"], "audit credentials");
    assert!(v["destination"]["lifetime"]["expires_at"].is_null(), "long-term audit keys have no expiry");
}

#[tokio::test(flavor = "multi_thread")]
async fn ls_pages_through_more_than_a_thousand_objects() {
    let (m, ws, config) = migration(Steps::ALL).await;
    let s3 = moto().s3(PROD);
    world::put_many(&s3, &m.source_bucket, (0..1_105).map(|i| (format!("many/obj-{i:05}.json"), vec![b'x'; i % 7])))
        .await;
    world::put(&s3, &m.source_bucket, "many/sub/inner.txt", b"inner".to_vec()).await;
    world::put(&s3, &m.source_bucket, "top level.csv", vec![0; 2048]).await;

    let url = format!("s3://{}/many/", m.source_bucket);
    let run = s3ferry(&ws, &["ls", &url, "--json", "--config", &config]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: Vec<Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let objects: Vec<&Value> = rows.iter().filter(|r| r.get("key").is_some()).collect();
    let prefixes: Vec<&Value> = rows.iter().filter(|r| r.get("prefix").is_some()).collect();
    assert_eq!(objects.len(), 1_105, "every object across pages, none twice");
    assert_eq!(prefixes.len(), 1);
    assert_eq!(prefixes[0]["prefix"], "many/sub/");
    let first = objects.iter().find(|o| o["key"] == "many/obj-00006.json").unwrap();
    assert_eq!(first["size"], 6);
    assert_eq!(first["storage_class"], "STANDARD");
    assert!(first["last_modified"].as_str().unwrap().ends_with('Z'));

    // Text output at the bucket root: the prefix and the object with a human size.
    let root = format!("s3://{}", m.source_bucket);
    let run = s3ferry(&ws, &["ls", &root, "--config", &config]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.lines().any(|l| l.contains("PRE") && l.ends_with("many/")), "{}", run.stdout);
    assert!(run.stdout.lines().any(|l| l.contains("2.0 KiB") && l.ends_with("top level.csv")), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn ls_follows_a_bucket_into_its_own_region() {
    let (m, ws, _) = migration(Steps::ALL).await;
    let s3 = moto().s3(PROD);
    world::put_many(&s3, &m.source_bucket, (0..3).map(|i| (format!("far/obj-{i}.json"), vec![b'x'; 10 + i]))).await;
    // The config says eu-west-2; the proxy answers as S3 does for a bucket that lives in
    // us-west-2: 301 PermanentRedirect naming the Region, to anything signed for another.
    let proxy = FaultProxy::start(&moto().endpoint, &["--bucket-region", &format!("{}:us-west-2", m.source_bucket)]);
    let config = ws.write("far.toml", &m.config_toml(&proxy.endpoint, "")).display().to_string();

    let url = format!("s3://{}/far/", m.source_bucket);
    let run = s3ferry(&ws, &["ls", &url, "--json", "--config", &config]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let keys: Vec<String> = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["key"].as_str().map(str::to_string))
        .collect();
    assert_eq!(keys, ["far/obj-0.json", "far/obj-1.json", "far/obj-2.json"]);
    assert!(proxy.stats()["redirects"].as_u64().unwrap() >= 1, "S3's redirect was met and followed");
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_names_bucket_account_and_fix() {
    // Step 2 missing: the transfer role may not list the Production bucket.
    let steps = Steps { role_reads_source: false, ..Steps::ALL };
    let (m, ws, config) = migration(steps).await;
    let run = s3ferry(&ws, &["ls", "--config", &config]);
    assert_eq!(run.code, 1);
    for needle in ["AccessDenied", m.source_bucket.as_str(), PROD, "s3:ListBucket"] {
        assert!(run.stderr.contains(needle), "{needle:?} missing from: {}", run.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_bucket_is_named() {
    // An identity allowed to list anything, so S3 (not IAM) answers: the bucket does not exist.
    let mut ws = Workspace::new();
    ws.profile("admin", &moto().admin(PROD));
    let config = ws.write(
        "m.toml",
        &format!("[source]\nbucket = \"no-such-bucket-here\"\nprofile = \"admin\"\nendpoint_url = \"{}\"\n[destination]\nbucket = \"dl-raw\"\n", moto().endpoint),
    );
    let config = config.display().to_string();
    let run = s3ferry(&ws, &["ls", "--config", &config]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no-such-bucket-here") && run.stderr.contains("does not exist"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_endpoint_fails_fast_with_a_message() {
    let (_m, ws, config) = migration(Steps::ALL).await;
    // Port 9 on loopback: nothing listens, the connection is refused.
    let run = s3ferry(&ws, &["whoami", "--config", &config, "--endpoint-url", "http://127.0.0.1:9"]);
    assert_eq!(run.code, 1);
    assert!(run.took < Duration::from_secs(15), "took {:?}", run.took);
    assert!(run.stdout.contains("127.0.0.1:9") || run.stdout.contains("cannot connect"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_keys_are_reported_as_such() {
    let (_m, mut ws, config) = migration(Steps::ALL).await;
    let bogus = support::Keys { access_key_id: "AKIAWRONGWRONGWRONG1".into(), secret_access_key: "nope".into() };
    ws.profile("operator", &bogus);
    let run = s3ferry(&ws, &["whoami", "--config", &config]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("source") && run.stdout.contains("error"), "{}", run.stdout);
    assert!(!run.stdout.contains("nope"), "secrets never reach the output");
}

#[test]
fn config_errors_exit_2_with_location() {
    let ws = Workspace::new();
    let config = ws.write(
        "bad.toml",
        "[source]\nbucket = \"prod-data\"\nrole_arn = \"nope\"\n[destination]\nbucket = \"dl-raw\"\n",
    );
    let run = s3ferry(&ws, &["ls", "--config", config.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("bad.toml:3:") && run.stderr.contains("source.role_arn"), "{}", run.stderr);
    let run = s3ferry(&ws, &["ls"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--config"), "{}", run.stderr);
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}
