//! Kill -9 in the middle of a sync, then rerun: only the rest is copied, the destination is not
//! listed again, and the journal retires itself once everything is done.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;
use support::world::{self, Steps};
use support::{LAKE, PROD, Workspace, moto};

const OBJECTS: usize = 1_200;

fn summary(ws: &Workspace, args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_s3ferry"))
        .args(args)
        .env_clear()
        .envs(ws.env())
        .output()
        .expect("run s3ferry");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let s = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .rfind(|v| v["type"] == "summary")
        .unwrap_or_else(|| panic!("no summary: {stdout}\n{stderr}"));
    (out.status.code().unwrap_or(-1), s, stderr)
}

fn lines_in(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_after_kill_copies_only_the_rest() {
    let (m, ws) = world::scenario(Steps::ALL).await;
    // Few requests in flight so the run lasts long enough to be killed in the middle.
    let text = format!("{}\n[transfer]\nconcurrency = 4\n", m.config_toml(&moto().endpoint, ""));
    let config = ws.write("migration.toml", &text).display().to_string();

    let prod = moto().s3(PROD);
    let objects = (0..OBJECTS).map(|i| (format!("part-{:02}/obj-{i:05}.json", i % 17), vec![b'r'; i % 64]));
    world::put_many(&prod, &m.source_bucket, objects).await;

    // First run: killed with SIGKILL once a few hundred objects are done.
    let mut child = Command::new(env!("CARGO_BIN_EXE_s3ferry"))
        // Slower still for the run that gets killed (concurrency is not part of the journal's identity).
        .args(["sync", "--config", &config, "--progress", "json", "--concurrency", "2"])
        .env_clear()
        .envs(ws.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn s3ferry");
    let stdout = child.stdout.take().unwrap();
    let mut copied_before_kill = 0;
    for line in BufReader::new(stdout).lines() {
        let Ok(v) = serde_json::from_str::<Value>(&line.unwrap()) else { continue };
        if v["type"] == "summary" {
            panic!("the run finished before it could be killed: {v}");
        }
        if v["type"] == "progress" && v["copied"].as_u64().unwrap_or(0) >= 200 {
            copied_before_kill = v["copied"].as_u64().unwrap();
            child.kill().expect("kill -9");
            break;
        }
    }
    child.wait().unwrap();
    assert!(copied_before_kill >= 200);
    // Requests the killed process had sent may still land at the server: let them.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let lake = moto().s3(LAKE);
    let at_destination = world::keys(&lake, &m.destination_bucket, "prod/").await.len();
    let journal = std::fs::read_dir(ws.path().join(".s3ferry"))
        .unwrap()
        .flatten()
        .flat_map(|pair| std::fs::read_dir(pair.path()).unwrap().flatten())
        .find(|e| e.file_name().to_string_lossy().starts_with("run-sync-"))
        .expect("the killed run left its journal")
        .path();
    let journaled = lines_in(&journal.join("done.jsonl"));
    eprintln!(
        "killed after {copied_before_kill} reported copies; {journaled} journaled; {at_destination} at the destination"
    );
    assert!(journaled >= copied_before_kill as usize, "every reported copy is in the journal");
    assert!(at_destination < OBJECTS, "killed in the middle: {at_destination} of {OBJECTS}");
    // Copies that completed at S3 while their answer was in flight are the only ones the
    // journal cannot know about: at most one per request in flight.
    assert!(at_destination >= journaled && at_destination <= journaled + 2, "{at_destination} vs {journaled}");
    use std::os::unix::fs::PermissionsExt;
    for f in ["run.json", "plan.jsonl", "done.jsonl"] {
        let mode = std::fs::metadata(journal.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let plan = std::fs::read_to_string(journal.join("plan.jsonl")).unwrap();
    assert!(!plan.contains("SECRET") && !plan.contains(&m.operator.secret_access_key), "no secrets in the journal");

    // Second run: resumes automatically, replays the plan instead of listing, copies the rest.
    let (code, s, stderr) = summary(&ws, &["sync", "--config", &config, "--progress", "json"]);
    assert_eq!(code, 0, "{s}\n{stderr}");
    assert_eq!(s["resumed"], true);
    assert_eq!(s["listed_destination"], 0, "the destination is not listed again");
    assert_eq!(s["listed_source"], 0, "a complete plan is replayed, not re-listed");
    // What was in flight at the kill and landed is found and journaled, not copied again: the
    // resume copies exactly what is not at the destination.
    assert_eq!(s["copied"].as_u64().unwrap() as usize, OBJECTS - at_destination, "nothing copied twice: {s}");
    assert_eq!(s["already_done"].as_u64().unwrap() as usize, at_destination);
    let settled = s["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("objects in flight"));
    assert!(settled, "the resume says what it settled: {s}");
    assert_eq!(s["failed"], 0);
    assert_eq!(world::keys(&lake, &m.destination_bucket, "prod/").await.len(), OBJECTS);
    assert!(!journal.exists(), "a finished run retires its journal");

    // Third run: a fresh sync that knows every object from the identity index.
    let (code, s, _) = summary(&ws, &["sync", "--config", &config, "--progress", "json"]);
    assert_eq!(code, 0);
    assert_eq!(
        (s["resumed"].as_bool(), s["copied"].as_u64(), s["skipped"].as_u64()),
        (Some(false), Some(0), Some(OBJECTS as u64))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_refused_before_it_plans_leaves_nothing_to_resume() {
    let (m, mut ws) = world::scenario(Steps::ALL).await;
    // The operator's keys are wrong: STS refuses them before anything is planned.
    let wrong = support::Keys { access_key_id: "AKIAWRONGWRONGWRONG1".into(), secret_access_key: "wrong".into() };
    ws.profile("stranger", &wrong);
    let text = m.config_toml(&moto().endpoint, "").replace("profile = \"operator\"", "profile = \"stranger\"");
    let config = ws.write("migration.toml", &text).display().to_string();

    let run = support::s3ferry(&ws, &["cp", "--config", &config, "--progress", "none"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("source credentials"), "{}", run.stderr);
    let journals: Vec<_> = std::fs::read_dir(ws.path().join(".s3ferry"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|pair| std::fs::read_dir(pair.path()).into_iter().flatten().flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with("run-"))
        .map(|e| e.path())
        .collect();
    assert!(journals.is_empty(), "no journal of a run that never began: {journals:?}");
    let again = support::s3ferry(&ws, &["cp", "--resume", "--config", &config, "--progress", "none"]);
    assert_eq!(again.code, 2, "--resume finds nothing to resume: {}", again.stderr);
}
