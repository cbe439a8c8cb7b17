//! The operator's journey through the real binary in a pseudo-terminal, against the emulator:
//! browse into a prefix, mark two prefixes, plan them (scope and counts on the plan), start,
//! leave the run for browsing and come back, read the summary and a failed object's detail,
//! retry the failed objects once the denial is lifted, quit with the summary in the scrollback.
//! And the SSH drop: SIGHUP mid-run, a rerun whose plan says what is already done, gauges that
//! end at 100% of the bytes, and nothing copied twice.

mod support;

use std::time::Duration;

use serde_json::json;
use support::pty::Console;
use support::world::{self, Migration, Steps};
use support::{LAKE, PROD, Workspace, moto};

const SECS_60: Duration = Duration::from_secs(60);

async fn keys_under(bucket: &str, prefix: &str) -> Vec<String> {
    world::keys(&moto().s3(LAKE), bucket, prefix).await
}

async fn role_policy(m: &Migration, name: &str, statements: Option<serde_json::Value>) {
    let iam = moto().iam(PROD);
    let role = m.role_arn.rsplit('/').next().unwrap();
    match statements {
        Some(s) => {
            iam.put_role_policy()
                .role_name(role)
                .policy_name(name)
                .policy_document(world::policy(s))
                .send()
                .await
                .expect("put role policy");
        }
        None => {
            iam.delete_role_policy().role_name(role).policy_name(name).send().await.expect("delete role policy");
        }
    }
}

fn write_config(m: &Migration, ws: &Workspace, transfer: &str) -> String {
    let text = format!("{}\n[transfer]\n{transfer}\n", m.config_toml(&moto().endpoint, ""));
    ws.write("migration.toml", &text).display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn mark_plan_run_leave_return_retry_and_quit() {
    let (m, ws) = world::scenario(Steps::ALL).await;
    let prod = moto().s3(PROD);
    let mut objects: Vec<(String, Vec<u8>)> =
        (0..300).map(|i| (format!("daily/2026/01/a-{i:03}.txt"), vec![b'a'; 100 + i])).collect();
    objects.extend((0..8).map(|i| (format!("daily/2026/02/b-{i}.txt"), vec![b'b'; 50])));
    objects.extend((0..5).map(|i| (format!("daily/2026/03/c-{i}.txt"), vec![b'c'; 10])));
    world::put_many(&prod, &m.source_bucket, objects).await;
    // The transfer role may not write 02/ at the destination: those objects fail per file.
    let denied = format!("arn:aws:s3:::{}/prod/daily/2026/02/*", m.destination_bucket);
    role_policy(&m, "deny-02", Some(json!([{"Effect": "Deny", "Action": "s3:PutObject", "Resource": denied}]))).await;
    let config = write_config(&m, &ws, "concurrency = 4");

    let mut c = Console::spawn(&ws, &["--config", &config], 30, 110);
    // Browse into daily/2026/ in the source pane.
    c.wait_text("daily/", SECS_60);
    c.press("\r");
    c.wait_text("2026/", SECS_60);
    c.press("\r");
    c.wait_text("03/", SECS_60);
    // Mark 01/ and 02/ (Space marks and moves down).
    c.press("  ");
    let marked = c.wait_text("2 marked: 2 prefixes · c cp · s sync", Duration::from_secs(5));
    assert!(marked.contains("✔ 01/") && marked.contains("✔ 02/") && !marked.contains("✔ 03/"), "{marked}");

    // c plans a cp of the marks: the scope and where it lands, and the counts.
    c.press("c");
    let plan = c.wait_text("Plan complete", SECS_60);
    let scope =
        format!("s3://{}/daily/2026/{{01/, 02/}} → s3://{}/prod/daily/2026/", m.source_bucket, m.destination_bucket);
    assert!(plan.contains(&scope), "{scope}\n{plan}");
    assert!(plan.contains("To copy   308 objects"), "{plan}");
    assert!(plan.contains("Preflight "), "the plan shows the preflight\n{plan}");

    c.start_run();
    c.wait_text("cp · running", SECS_60);
    // Esc: back to browsing while the run goes on; its state is in the title bar; t returns.
    c.press("\x1b");
    let browsing = c.wait_text("s3ferry · browse", Duration::from_secs(5));
    assert!(browsing.contains("run: cp"), "{browsing}");
    c.press("t");
    let done = c.wait_text("finished with failures", Duration::from_secs(120));
    assert!(done.contains("Summary"), "{done}");
    assert!(done.contains("Copied 300 · skipped 0 · failed 8"), "{done}");
    assert!(done.contains("Copied 300 objects"), "the summary panel\n{done}");
    assert!(done.contains("R retry failed"), "{done}");
    // Enter opens the selected error; v groups them.
    c.press("\r");
    let detail = c.wait_text("Error (Enter or Esc closes)", Duration::from_secs(5));
    assert!(detail.contains("daily/2026/02/b-") && detail.contains("AccessDenied"), "{detail}");
    // (A terminal cannot tell Esc followed at once by v from Alt-v: wait for the Esc to land.)
    c.press("\x1b");
    c.wait_for("the detail to close", Duration::from_secs(5), |t| !t.contains("Error (Enter or Esc closes)"));
    c.press("v");
    let grouped = c.wait_text("by code", Duration::from_secs(5));
    assert!(grouped.lines().any(|l| l.contains("AccessDenied") && l.contains(" 8 ")), "{grouped}");

    // The denial is lifted: R retries the failed objects only.
    role_policy(&m, "deny-02", None).await;
    c.press("R");
    let retried = c.wait_for("the retry to finish", Duration::from_secs(120), |t| t.contains("cp · finished ─"));
    assert!(retried.contains("Copied 8 · skipped 0 · failed 0 · done before 300"), "{retried}");
    assert!(retried.contains("100% 308/308"), "{retried}");

    c.press("q");
    let (status, after) = c.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    assert!(after.contains("s3ferry: copied 8 objects"), "the summary stays in the scrollback\n{after}");
    assert!(!after.contains("journal kept"), "a retry that copied every failure retires the journal\n{after}");
    assert!(retried.contains("Journal retired"), "{retried}");
    let copied = keys_under(&m.destination_bucket, "prod/").await;
    assert_eq!(copied.len(), 308, "01/ and 02/, nothing of 03/");
    assert!(copied.iter().all(|k| k.starts_with("prod/daily/2026/0") && !k.contains("/03/")));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ssh_drop_stops_gracefully_and_the_rerun_says_what_is_done() {
    let (m, ws) = world::scenario(Steps::ALL).await;
    let objects: Vec<(String, Vec<u8>)> = (0..600).map(|i| (format!("t/o-{i:04}.bin"), vec![b'x'; 1_000])).collect();
    world::put_many(&moto().s3(PROD), &m.source_bucket, objects).await;
    let config = write_config(&m, &ws, "concurrency = 2");

    let mut c = Console::spawn(&ws, &["cp", "--config", &config], 30, 110);
    c.wait_text("Plan complete", SECS_60);
    c.start_run();
    // Some objects copied, most not: the SSH session drops.
    c.wait_for("a run under way", SECS_60, |t| {
        t.lines()
            .find(|l| l.contains("Objects"))
            .and_then(|l| l.split_whitespace().find(|w| w.contains("/600")))
            .and_then(|w| w.split('/').next()?.replace(',', "").parse::<u64>().ok())
            .is_some_and(|n| n >= 40)
    });
    c.signal(libc::SIGHUP);
    let (status, _) = c.wait_exit(Duration::from_secs(40));
    assert_eq!(status.exit_code(), 129, "stopped by SIGHUP: 128 + 1");
    let done = keys_under(&m.destination_bucket, "prod/").await.len();
    assert!(done > 0 && done < 600, "{done} copied before the drop");

    // The rerun's plan says what is done and plans only the rest: objects, bytes.
    let mut c = Console::spawn(&ws, &["cp", "--config", &config], 30, 110);
    let plan = c.wait_text("Plan complete", SECS_60);
    let want = format!("Resuming: {done} objects ({}) done by an earlier run", size(done as u64 * 1_000));
    assert!(plan.contains(&want), "{want}\n{plan}");
    assert!(plan.contains(&format!("To copy   {} objects", 600 - done)), "{plan}");
    c.start_run();
    let end = c.wait_text("cp · finished ─", Duration::from_secs(180));
    // Every object copied once: the rerun copied exactly what the first run had not.
    assert!(end.contains(&format!("Copied {} · skipped 0 · failed 0 · done before {done}", 600 - done)), "{end}");
    assert!(end.lines().any(|l| l.contains("Bytes") && l.contains("100%")), "{end}");
    c.press("q");
    let (status, _) = c.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    assert_eq!(keys_under(&m.destination_bucket, "prod/").await.len(), 600);
}

/// s3ferry's own size format, for what it prints.
fn size(bytes: u64) -> String {
    s3ferry::core::units::format_size(bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn headless_max_failures_stops_an_all_failing_run_and_require_ready_refuses_to_start() {
    let (m, ws) = world::scenario(Steps::ALL).await;
    let objects: Vec<(String, Vec<u8>)> = (0..200).map(|i| (format!("d/{i:03}.txt"), vec![b'd'; 10])).collect();
    world::put_many(&moto().s3(PROD), &m.source_bucket, objects).await;
    let everything = format!("arn:aws:s3:::{}/*", m.destination_bucket);
    role_policy(&m, "deny-all", Some(json!([{"Effect": "Deny", "Action": "s3:PutObject", "Resource": everything}])))
        .await;
    let config = write_config(&m, &ws, "concurrency = 2");

    let run =
        support::s3ferry(&ws, &["cp", "--config", &config, "--headless", "--max-failures", "5", "--progress", "json"]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    let s = run.summary();
    let failed = s["failed"].as_u64().unwrap();
    assert!((5..200).contains(&failed), "stopped soon after the fifth failure: {failed}");
    assert!(
        run.stderr.contains("--max-failures 5: ") && run.stderr.contains("most AccessDenied under d/"),
        "{}",
        run.stderr
    );
    assert!(s["journal"].is_string(), "the journal keeps the rest: {s}");

    // --require-ready: a preflight that is not READY copies nothing.
    let (m, ws) = world::scenario(Steps { role_writes_destination: false, ..Steps::ALL }).await;
    world::put_many(&moto().s3(PROD), &m.source_bucket, vec![("a.txt".to_string(), vec![b'a'])]).await;
    let config = write_config(&m, &ws, "");
    let run = support::s3ferry(&ws, &["cp", "--config", &config, "--headless", "--require-ready"]);
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(
        run.stderr.contains("--require-ready: the preflight says BLOCKED: fail source.policy.write"),
        "{}",
        run.stderr
    );
    assert!(keys_under(&m.destination_bucket, "").await.is_empty(), "nothing was copied");
}

#[tokio::test(flavor = "multi_thread")]
async fn headless_runs_stopped_by_sigterm_or_sighup_resume_without_copying_anything_twice() {
    for signal in [libc::SIGTERM, libc::SIGHUP] {
        let (m, ws) = world::scenario(Steps::ALL).await;
        let objects: Vec<(String, Vec<u8>)> = (0..400).map(|i| (format!("h/{i:04}.bin"), vec![b'h'; 500])).collect();
        world::put_many(&moto().s3(PROD), &m.source_bucket, objects).await;
        let config = write_config(&m, &ws, "concurrency = 2");
        let args = ["cp", "--config", config.as_str(), "--headless", "--progress", "json"];
        let child = std::process::Command::new(support::binary())
            .args(args)
            .env_clear()
            .envs(ws.env())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run s3ferry");
        let until = std::time::Instant::now() + SECS_60;
        while keys_under(&m.destination_bucket, "prod/").await.len() < 30 {
            assert!(std::time::Instant::now() < until, "no progress");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // SAFETY: kill(2) on the child this test started.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(128 + signal), "signal {signal}: {stderr}");
        assert!(stderr.contains("finishing the requests in flight"), "{stderr}");
        let done = keys_under(&m.destination_bucket, "prod/").await.len() as u64;
        assert!(done < 400, "stopped before the end: {done}");

        let run = support::s3ferry(&ws, &args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let s = run.summary();
        assert_eq!(s["already_done"].as_u64(), Some(done), "signal {signal}: {s}");
        assert_eq!(s["copied"].as_u64(), Some(400 - done), "signal {signal}: nothing copied twice: {s}");
    }
}
