//! The S3 Batch screen from fixed engine events, cell for cell, and its confirmation.

mod screen;

use screen::key;
use std::time::{Duration, UNIX_EPOCH};

use crossterm::event::KeyCode;
use s3ferry::core::batch::{JobStatus, ReportTarget};
use s3ferry::core::listing::Location;
use s3ferry::core::preflight::checks::{Area, Check, Report, Status, Verdict};
use s3ferry::core::progress::Failure;
use s3ferry::core::side::Side;
use s3ferry::engine::batch::{BatchEvent, BatchRequest, LocalObject, ManifestPlan};
use s3ferry::engine::events::EngineEvent;
use s3ferry::engine::runner::EngineCommand;
use s3ferry::ui::msg::{Command, Msg};
use s3ferry::ui::screens::browse::PaneState;
use s3ferry::ui::state::{AppState, Screen};
use s3ferry::ui::update::update;

const NOW: u64 = 1_764_094_860;

fn state() -> AppState {
    let loc = Location::Prefix { bucket: "prod-data".into(), prefix: String::new() };
    let mut s = AppState::new(
        "migration.toml",
        PaneState::new(Side::Source, loc.clone()),
        PaneState::new(Side::Destination, loc),
        UNIX_EPOCH + Duration::from_secs(NOW),
    );
    s.batch.target =
        Some("manifest s3://prod-ops/s3ferry-batch/ · role arn:aws:iam::111111111111:role/batch-copy".into());
    s
}

fn event(s: &mut AppState, e: BatchEvent) {
    update(s, Msg::Engine(EngineEvent::Batch(e)));
}

/// The screen at 80x24, one string per row.
fn text(s: &mut AppState) -> Vec<String> {
    screen::text(&screen::render(s, 80, 24))
}

/// One bordered row of an 80-column screen.
fn row(text: &str) -> String {
    format!("│{text:<78}│")
}

fn plan(objects: u64) -> ManifestPlan {
    ManifestPlan {
        objects,
        bytes: 3 << 30,
        local: vec![LocalObject { key: "huge.bin".into(), size: 6 << 30 }],
        ..ManifestPlan::default()
    }
}

fn checks(verdict: Verdict) -> Report {
    let status = if verdict == Verdict::Blocked { Status::Fail } else { Status::Pass };
    let c =
        |id| Check { id, side: Area::Batch, status, summary: String::new(), detail: vec![], fix: None, fixes: vec![] };
    Report {
        verdict,
        principal: "arn:aws:iam::111111111111:role/batch-copy".into(),
        checks: vec![c("batch.trust"), c("batch.source")],
        probes: vec![],
    }
}

fn job(status: &str, succeeded: i64, failed: i64) -> JobStatus {
    JobStatus {
        job_id: "5a9f2c1e-0001".into(),
        status: status.into(),
        total: 5000,
        succeeded,
        failed,
        created: Some(NOW as i64 - 125),
        report: Some(ReportTarget { bucket: "prod-ops".into(), prefix: "s3ferry-batch/reports".into() }),
        ..JobStatus::default()
    }
}

#[test]
fn b_opens_the_screen_and_enter_plans_without_writing() {
    let mut s = state();
    assert_eq!(key(&mut s, KeyCode::Char('b')), []);
    assert_eq!(s.screen, Screen::Batch);
    let lines = text(&mut s);
    assert_eq!(lines[0], " s3ferry · batch · migration.toml                            preflight: not run ");
    assert_eq!(lines[2], row("No job yet. Enter plans one (nothing is written until you confirm)."));
    assert_eq!(lines[23].trim_end(), " Enter plan a job · r refresh · Esc back · ? help · q quit");
    assert_eq!(key(&mut s, KeyCode::Enter), [Command::Engine(EngineCommand::Batch(BatchRequest::Plan))]);
    assert_eq!(text(&mut s)[2], row("Planning: listing both sides, diffing, checking the job role…"));
    assert_eq!(key(&mut s, KeyCode::Esc), []);
    assert_eq!(s.screen, Screen::Browse);
}

#[test]
fn only_y_creates_the_job_and_a_blocked_role_never_does() {
    let mut s = state();
    key(&mut s, KeyCode::Char('b'));
    key(&mut s, KeyCode::Enter);
    event(&mut s, BatchEvent::Planned { plan: Box::new(plan(4_812)), checks: Box::new(checks(Verdict::Ready)) });
    let expected_popup = [
        "│  ┌ Create the S3 Batch job? ──────────────────────────────────────────────┐  │",
        "└──│S3 Batch copies 4812 objects (3.0 GiB) with role batch-copy             │──┘",
        "┌ F│1 object(s) over 5 GiB stay for this host.                              │──┐",
        "│  │Job-role checks: ready                                                  │  │",
        "│  │Creating uploads the manifest and starts the job (it cannot be undone,  │  │",
        "│  │only cancelled in the S3 console).                                      │  │",
        "│  │                                                                        │  │",
        "│  │y creates the job; any other key cancels.                               │  │",
        "│  │                                                                        │  │",
        "│  └────────────────────────────────────────────────────────────────────────┘  │",
    ];
    assert_eq!(text(&mut s)[7..17], expected_popup);
    // Enter is not yes.
    assert_eq!(key(&mut s, KeyCode::Enter), []);
    assert_eq!(text(&mut s)[23].trim_end(), " no job created: nothing was uploaded");
    event(&mut s, BatchEvent::Planned { plan: Box::new(plan(4_812)), checks: Box::new(checks(Verdict::Ready)) });
    let commands = key(&mut s, KeyCode::Char('y'));
    let [Command::Engine(EngineCommand::Batch(BatchRequest::Submit(p)))] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!(p.objects, 4_812);
    assert_eq!(text(&mut s)[2], row("Uploading the manifest and creating the job…"));
    // A blocked role: even `y` creates nothing.
    event(&mut s, BatchEvent::Planned { plan: Box::new(plan(10)), checks: Box::new(checks(Verdict::Blocked)) });
    let lines = text(&mut s);
    assert!(lines[10].contains("Job-role checks: BLOCKED by batch.trust, batch.source"), "{lines:#?}");
    assert!(lines[14].contains("Fix the checks first (s3ferry batch --check); any key closes."), "{lines:#?}");
    assert_eq!(key(&mut s, KeyCode::Char('y')), []);
}

#[test]
fn a_watched_job_shows_its_status_and_the_failed_tasks() {
    let mut s = state();
    key(&mut s, KeyCode::Char('b'));
    event(&mut s, BatchEvent::Created { job_id: "5a9f2c1e-0001".into(), local: 1 });
    assert_eq!(text(&mut s)[2], row("Job 5a9f2c1e-0001: waiting for its first status…"));
    event(&mut s, BatchEvent::Status(Box::new(job("Active", 1197, 3))));
    assert_eq!(text(&mut s)[3], row("Active: 1200 of 5000 done, 1197 succeeded, 3 failed in 2m 05s"));
    event(&mut s, BatchEvent::Status(Box::new(job("Complete", 4998, 2))));
    event(
        &mut s,
        BatchEvent::Failures(vec![
            Failure {
                key: "dir/with space.txt".into(),
                code: "AccessDenied".into(),
                message: "Access Denied".into(),
                attempts: 1,
            },
            Failure {
                key: "a/very/long/key/that/does/not/fit/in/the/column.csv".into(),
                code: "HTTP 400".into(),
                message: "Bad request".into(),
                attempts: 1,
            },
        ]),
    );
    key(&mut s, KeyCode::Down);
    let expected = [
        " s3ferry · batch · migration.toml                            preflight: not run ",
        "┌ S3 Batch Operations ─────────────────────────────────────────────────────────┐",
        "│Job 5a9f2c1e-0001                                                             │",
        "│Complete: 5000 of 5000 done, 4998 succeeded, 2 failed in 2m 05s               │",
        "│1 object(s) over 5 GiB are not in the job: copy them with cp                  │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        "┌ Failed tasks (2) ────────────────────────────────────────────────────────────┐",
        "│dir/with space.txt               AccessDenied     Access Denied               │",
        "│a/very/long/key/that/does/not/f… HTTP 400         Bad request                 │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        " r refresh · Enter new job · ↑↓ failures · Esc back · q quit                    ",
    ];
    assert_eq!(text(&mut s), expected);
    assert_eq!(s.batch.selected, 1);
    assert_eq!(
        key(&mut s, KeyCode::Char('r')),
        [Command::Engine(EngineCommand::Batch(BatchRequest::Refresh("5a9f2c1e-0001".into())))]
    );
    // An error keeps the job on screen and says what went wrong.
    event(&mut s, BatchEvent::Error("DescribeJob 5a9f2c1e-0001 in account 111111111111 failed: AccessDenied".into()));
    let lines = text(&mut s);
    assert_eq!(lines[3], expected[3]);
    assert!(lines[23].starts_with(" DescribeJob 5a9f2c1e-0001 in account 111111111111 failed"), "{}", lines[23]);
}

#[test]
fn without_a_batch_section_the_screen_says_what_to_set() {
    let mut s = state();
    s.batch.target = None;
    key(&mut s, KeyCode::Char('b'));
    assert_eq!(text(&mut s)[2], row("Set [batch] manifest_bucket and job_role_arn in the config to use S3 Batch."));
    assert_eq!(key(&mut s, KeyCode::Enter), [], "nothing to plan with");
}
