//! Fault injection through a proxy between s3ferry and the emulator (moto never expires
//! credentials itself): ExpiredToken for credentials after a number of requests, and bursts of
//! 503 SlowDown. No object is lost, none is counted failed because of expiry or throttling,
//! renewable credentials are renewed mid-run, and credentials that cannot renew stop the run
//! (exit 4, journal kept) until the operator re-authenticates and runs it again.

mod support;

use std::process::Command;

use serde_json::Value;
use support::fault::FaultProxy;
use support::world::{self, Migration, Names, Steps};
use support::{LAKE, PROD, Workspace, moto, unique};

const OBJECTS: usize = 240;

/// Runs the real binary headless; returns (exit code, summary line, stderr).
fn run(ws: &Workspace, args: &[&str]) -> (i32, Value, String) {
    let (code, summary, stderr, _) = run_lines(ws, args);
    (code, summary, stderr)
}

/// Also returns every NDJSON line.
fn run_lines(ws: &Workspace, args: &[&str]) -> (i32, Value, String, Vec<Value>) {
    run_command(ws, Command::new(env!("CARGO_BIN_EXE_s3ferry")).args(args))
}

/// [`run_lines`] for a command that runs s3ferry (itself, or through a wrapper).
fn run_command(ws: &Workspace, command: &mut Command) -> (i32, Value, String, Vec<Value>) {
    let out = command.env_clear().envs(ws.env()).output().expect("run s3ferry");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<Value> = stdout.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).collect();
    let summary = lines
        .iter()
        .rfind(|v| v["type"] == "summary")
        .cloned()
        .unwrap_or_else(|| panic!("no summary:\n{stdout}\n{stderr}"));
    (out.status.code().unwrap_or(-1), summary, stderr, lines)
}

async fn destination_keys(m: &Migration) -> Vec<String> {
    let lake = moto().s3(LAKE);
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = lake
            .list_objects_v2()
            .bucket(&m.destination_bucket)
            .prefix(&m.destination_prefix)
            .set_continuation_token(token)
            .send()
            .await
            .expect("list the destination");
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return keys;
        }
    }
}

async fn migration(tag: &str) -> Migration {
    let (src, dst, role, op, aud) = (
        unique(&format!("{tag}-src")),
        unique(&format!("{tag}-dst")),
        unique("transfer"),
        unique("operator"),
        unique("auditor"),
    );
    let names = Names {
        source: &src,
        destination: &dst,
        destination_prefix: "prod/",
        role: &role,
        operator: &op,
        auditor: &aud,
    };
    let m = world::build(moto(), names, Steps::ALL).await;
    let prod = moto().s3(PROD);
    let puts =
        (0..OBJECTS).map(|i| {
            let (prod, bucket) = (prod.clone(), m.source_bucket.clone());
            async move {
                world::put(&prod, &bucket, &format!("d{:02}/obj-{i:04}.json", i % 7), vec![b'f'; 16 + i % 50]).await
            }
        });
    futures::future::join_all(puts).await;
    m
}

/// A workspace with the migration's operator and auditor profiles, and the path of its config
/// reaching moto through `proxy`, with these `[transfer]` lines.
fn through(m: &Migration, proxy: &FaultProxy, transfer: &str) -> (Workspace, String) {
    let mut ws = Workspace::new();
    ws.profile("operator", &m.operator).profile("auditor", &m.auditor);
    let text = format!("{}\n[transfer]\n{transfer}", m.config_toml(&proxy.endpoint, ""));
    let config = ws.write("migration.toml", &text).display().to_string();
    (ws, config)
}

fn assert_all_copied(keys: &[String]) {
    assert_eq!(keys.len(), OBJECTS, "every object is at the destination, none lost");
    for i in 0..OBJECTS {
        let want = format!("prod/d{:02}/obj-{i:04}.json", i % 7);
        assert!(keys.contains(&want), "{want} missing");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn renewable_credentials_are_renewed_after_expired_token_and_throttles_are_ridden_out() {
    let m = migration("renew").await;
    // Every role session the run gets is refused after 60 S3 requests; every 45th S3 request
    // starts a burst of four 503 SlowDown.
    let proxy = FaultProxy::start(
        &moto().endpoint,
        &["--expire-after", "60", "--slowdown-every", "45", "--slowdown-burst", "4"],
    );
    let (ws, config) = through(&m, &proxy, "concurrency = 8\n");

    let (code, s, stderr, lines) = run_lines(&ws, &["cp", "--config", &config, "--progress", "json"]);
    let stats = proxy.stats();
    // The countdown follows the renewals: the progress lines report the sessions' expiry as
    // the run renews them (a new 1 h session each time).
    // (Server-side copies: the CopyObject requests run on the destination-side session.)
    let mut expiries: Vec<u64> =
        lines.iter().filter_map(|l| l["destination_credentials"]["expires_at"].as_u64()).collect();
    expiries.dedup();
    eprintln!("destination-side expiries reported: {expiries:?}");
    assert!(expiries.len() >= 2, "each renewal reports its new expiry: {expiries:?}");
    assert!(expiries.windows(2).all(|w| w[0] < w[1]), "later sessions expire later: {expiries:?}");
    assert!(lines.iter().any(|l| l["source_credentials"]["renews"] == true), "the countdown says it renews itself");
    eprintln!("summary: {s}\nproxy: {stats}");
    assert_eq!(code, 0, "{s}\n{stderr}");
    assert_eq!(s["copied"], OBJECTS as u64);
    assert_eq!(s["failed"], 0, "neither expiry nor throttling makes a failure: {s}");
    assert!(s["credential_expiries"].as_u64().unwrap() >= 1, "ExpiredToken was met: {s}");
    assert!(s["throttles"].as_u64().unwrap() >= 1, "SlowDown was met: {s}");
    assert_eq!(s["requeued"], 0, "renewable credentials never stop the run");
    assert!(s["halted"].is_null());
    // The run renewed: more than one role session made S3 requests, and several were refused.
    let sessions = stats["session_keys_seen"].as_array().unwrap().len();
    let expired = stats["keys_expired"].as_array().unwrap().len();
    assert!(sessions >= 3 && expired >= 2, "renewed sessions: {stats}");
    assert!(stats["slowdowns"].as_u64().unwrap() >= 4);
    assert_all_copied(&destination_keys(&m).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_that_cannot_renew_stop_the_run_and_it_resumes_after_reauthentication() {
    let m = migration("norenew").await;
    // The operator "logs in": a role session exported into a profile as plain keys, the way
    // `aws configure export-credentials` or a copied console session looks. It cannot renew.
    let sts = aws_sdk_sts::Client::new(&moto().sdk(&m.operator));
    let session = |name: &'static str| {
        let sts = sts.clone();
        let role = m.role_arn.clone();
        async move {
            let c = sts
                .assume_role()
                .role_arn(role)
                .role_session_name(name)
                .send()
                .await
                .expect("assume the transfer role")
                .credentials
                .expect("credentials");
            (c.access_key_id, c.secret_access_key, c.session_token)
        }
    };
    let (key, secret, token) = session("first-login").await;
    let mut ws = Workspace::new();
    ws.profile("auditor", &m.auditor);
    let write_session = |ws: &Workspace, key: &str, secret: &str, token: &str| {
        let auditor = std::fs::read_to_string(ws.path().join("credentials")).unwrap();
        let auditor = auditor.split("[session]").next().unwrap().to_string();
        std::fs::write(
            ws.path().join("credentials"),
            format!(
                "{auditor}[session]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\naws_session_token = {token}\nregion = eu-west-2\n\n"
            ),
        )
        .unwrap();
    };
    write_session(&ws, &key, &secret, &token);
    // This session "expires" after 100 S3 requests: well before 240 objects are copied.
    let proxy = FaultProxy::start(&moto().endpoint, &["--expire-key", &format!("{key}:100")]);
    let proxy_endpoint = proxy.endpoint.clone();
    let text = m
        .config_toml(&proxy.endpoint, "")
        .replace(&format!("role_arn = \"{}\"\n", m.role_arn), "")
        .replace("session_duration = \"1h\"\n", "")
        .replace("profile = \"operator\"", "profile = \"session\"");
    let text = format!("{text}\n[transfer]\nconcurrency = 8\n");
    let config = ws.write("migration.toml", &text).display().to_string();

    let (code, s, stderr) = run(&ws, &["sync", "--config", &config, "--progress", "json"]);
    eprintln!("first run: {s}\n{stderr}\nproxy: {}", proxy.stats());
    assert_eq!(code, 4, "a distinct exit code for credentials: {s}\n{stderr}");
    assert_eq!(s["failed"], 0, "expiry never makes a failure: {s}");
    assert_eq!(s["halted"]["side"], "source");
    assert_eq!(s["halted"]["expired"], true);
    assert!(s["journal"].is_string(), "the journal is kept for the resume: {s}");
    let copied_first = s["copied"].as_u64().unwrap();
    assert!(copied_first > 0 && copied_first < OBJECTS as u64, "stopped in the middle: {s}");
    assert!(s["resume_hint"].as_str().unwrap().contains("aws sso login --profile session"), "{s}");
    assert!(stderr.contains("re-authenticate") || stderr.contains("Re-authenticate"), "{stderr}");
    let at_destination = destination_keys(&m).await.len() as u64;
    assert!(at_destination >= copied_first && at_destination < OBJECTS as u64);

    // Re-authenticate: a new session in the same profile; the same command resumes.
    let (key2, secret2, token2) = session("second-login").await;
    write_session(&ws, &key2, &secret2, &token2);
    let (code, s2, stderr) = run(&ws, &["sync", "--config", &config, "--progress", "json"]);
    eprintln!("resumed run: {s2}");
    assert_eq!(code, 0, "{s2}\n{stderr}");
    assert_eq!(s2["failed"], 0);
    assert!(s2["resumed"].as_bool().unwrap(), "continued from the journal: {s2}");
    assert!(s2["already_done"].as_u64().unwrap() >= copied_first, "what the first run did is not redone: {s2}");
    assert_eq!(
        s2["already_done"].as_u64().unwrap() + s2["copied"].as_u64().unwrap(),
        OBJECTS as u64,
        "together the two runs did every object exactly once: {s2}"
    );
    assert!(s2["journal"].is_null(), "a complete run retires its journal");
    assert_all_copied(&destination_keys(&m).await);

    // A listing refused for expiry is a stop for re-authentication too, not a listing failure.
    let (key3, secret3, token3) = session("third-login").await;
    write_session(&ws, &key3, &secret3, &token3);
    let proxy = FaultProxy::start(&moto().endpoint, &["--expire-key", &format!("{key3}:0")]);
    let config3 = ws.write("listing.toml", &text.replace(&proxy_endpoint, &proxy.endpoint)).display().to_string();
    let (code, s3, stderr) = run(&ws, &["sync", "--config", &config3, "--progress", "json"]);
    assert_eq!(code, 4, "{s3}\n{stderr}");
    assert_eq!((s3["failed"].as_u64(), s3["copied"].as_u64()), (Some(0), Some(0)), "{s3}");
    assert_eq!(s3["halted"]["side"], "source", "{s3}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_listing_page_is_asked_for_while_sts_says_who_the_caller_is() {
    let m = migration("early").await;
    // Each GetCallerIdentity is held 1.5 s; the proxy notes what arrives with the same
    // credentials before that answer goes back, i.e. what was sent without waiting for it.
    let proxy = FaultProxy::start(&moto().endpoint, &["--hold-identity", "1.5"]);
    let (ws, config) = through(&m, &proxy, "");

    let (code, s, stderr) = run(&ws, &["cp", "--config", &config, "--progress", "json"]);
    let stats = proxy.stats();
    assert_eq!(code, 0, "{s}\n{stderr}");
    assert_eq!(s["copied"], OBJECTS as u64);
    let early = stats["before_identity_answer"].as_array().expect("the proxy lists what came before identities");
    let source_listing = format!("GET /{}/?list-type=2", m.source_bucket);
    assert!(
        early.iter().any(|r| r["request"].as_str().is_some_and(|q| q.starts_with(&source_listing))),
        "the source's first page was asked for before STS said who the caller is: {stats}"
    );
    assert_all_copied(&destination_keys(&m).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_renews_credentials_that_expire_under_its_own_listings() {
    let m = migration("verify").await;
    // A role session expires at its fifth ListObjectsV2 page. With pages of 20 keys the run
    // lists the source in 12 pages and verify lists it again in 12 (verify reads the
    // destination with the audit keys, which do not expire here): pages 5, 9, 13, 17 and 21
    // are refused, the last three under verify, which must renew to finish. Its HEADs meet
    // the same expiries as bare 400s (a HEAD answer has no body for the code).
    let proxy = FaultProxy::start(&moto().endpoint, &["--expire-listing-after", "4"]);
    let (ws, config) = through(&m, &proxy, "concurrency = 8\nlist_page_size = 20\n");

    let (code, s, stderr) = run(&ws, &["cp", "--verify", "--config", &config, "--progress", "json"]);
    let stats = proxy.stats();
    eprintln!("summary: {s}\nproxy: {stats}");
    assert_eq!(code, 0, "{s}\n{stderr}");
    assert_eq!(s["copied"], OBJECTS as u64);
    assert_eq!(s["verify"]["checked"], OBJECTS as u64, "{s}");
    assert_eq!(s["verify"]["mismatches"], serde_json::json!([]), "{s}");
    let expired = stats["keys_expired"].as_array().unwrap().len();
    assert!(expired >= 5 && stats["expired_listings"].as_u64().unwrap() >= 5, "listings met expiry: {stats}");
    assert_all_copied(&destination_keys(&m).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn far_from_the_bucket_the_limit_grows_past_its_start_unless_the_operator_fixed_it() {
    let m = migration("far").await;
    // Every S3 request 150 ms away: with 4 in flight moto answers at once, latency stays near
    // the link's own, so the limit should grow toward max_concurrency.
    let proxy = FaultProxy::start(&moto().endpoint, &["--delay", "0.15"]);
    let (ws, config) = through(&m, &proxy, "concurrency = 4\nmax_concurrency = 32\n");
    let (code, s, stderr) = run(&ws, &["cp", "--config", &config, "--progress", "json"]);
    eprintln!("summary: {s}");
    assert_eq!(code, 0, "{s}\n{stderr}");
    assert_eq!(s["copied"], OBJECTS as u64);
    let peak = s["concurrency_peak"].as_u64().unwrap();
    assert!((8..=32).contains(&peak), "the limit grew from 4 and stayed under the ceiling: {s}");

    // The same, with --concurrency 4 on the command line: a number the operator chose is the most.
    let (ws, config) = through(&m, &proxy, "concurrency = 4\nmax_concurrency = 32\n");
    let (code, s, stderr) = run(&ws, &["cp", "--config", &config, "--progress", "json", "--concurrency", "4"]);
    assert_eq!(code, 0, "{s}\n{stderr}");
    assert_eq!((s["copied"].as_u64(), s["concurrency_peak"].as_u64()), (Some(OBJECTS as u64), Some(4)), "{s}");
    assert_all_copied(&destination_keys(&m).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_in_flight_stay_within_the_open_file_limit() {
    let m = migration("nofile").await;
    // Every request 0.3 s away, so that all 240 copies would be in flight at once.
    let proxy = FaultProxy::start(&moto().endpoint, &["--delay", "0.3"]);
    let (ws, config) = through(&m, &proxy, "");
    // A hard limit of 200 open files, which s3ferry cannot raise, and --concurrency 4096: each
    // request in flight holds a socket.
    let (code, s, stderr, _) = run_command(
        &ws,
        Command::new("/bin/sh")
            .args(["-c", "ulimit -n 200 && exec \"$0\" \"$@\"", env!("CARGO_BIN_EXE_s3ferry")])
            .args(["cp", "--config", &config, "--progress", "json", "--concurrency", "4096"]),
    );
    assert_eq!(code, 0, "{s}\n{stderr}");
    assert_eq!((s["copied"].as_u64(), s["failed"].as_u64()), (Some(OBJECTS as u64), Some(0)), "{s}");
    assert!(s["concurrency_peak"].as_u64().unwrap() <= 72, "200 files less 128 kept back: {s}");
    // Without the cap, sockets fail to open ("Too many open files") and are retried: 171 and
    // 230 retries in two runs of this test, and with more objects, failures.
    assert_eq!(s["retries"], 0, "no request met the open-file limit: {s}");
    let warned = s["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("open-file limit (200"));
    assert!(warned, "the operator is told why the limit is lower: {s}");
    assert_all_copied(&destination_keys(&m).await);
}
