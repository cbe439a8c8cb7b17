//! The console journey's panels rendered from fixed states, cell for cell at 80x24: marks in the
//! browser, the plan with the preflight and its question, the guard's pause, the summary after
//! a run, a failure's detail and the grouped errors; and the keys between them.

mod screen;

use screen::{ended, key, render, text};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossterm::event::KeyCode;
use s3ferry::core::cost::PriceTable;
use s3ferry::core::listing::{Entry, Location, ObjectDetails};
use s3ferry::core::preflight::checks::{Area, Check, Report, Status, Verdict};
use s3ferry::core::progress::{Failure, Method, Mode, Planned, TransferEvent, WriteSettings};
use s3ferry::core::scope::{Pair, Request, Scope};
use s3ferry::core::side::Side;
use s3ferry::engine::copier::{Mismatch, VerifyReport};
use s3ferry::engine::events::EngineEvent;
use s3ferry::engine::runner::{EngineCommand, TransferEnd};
use s3ferry::ui::msg::{Command, Msg};
use s3ferry::ui::screens::browse::PaneState;
use s3ferry::ui::screens::plan::{PlanState, TransferSetup};
use s3ferry::ui::state::{AppState, Screen};
use s3ferry::ui::update::{start, update};

const NOW: u64 = 1_764_094_860;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn console() -> AppState {
    let loc = |b: &str, p: &str| Location::Prefix { bucket: b.into(), prefix: p.into() };
    let mut s = AppState::new(
        "migration.toml",
        PaneState::new(Side::Source, loc("prod-data", "")),
        PaneState::new(Side::Destination, loc("datalake-raw", "prod/")),
        at(NOW),
    );
    s.plan = Some(PlanState::new(TransferSetup {
        mode: Mode::Cp,
        source: "s3://prod-data/".into(),
        destination: "s3://datalake-raw/prod/".into(),
        threshold: 5 << 30,
        part_size: 64 << 20,
        concurrency: 256,
        kms: false,
        region: "eu-west-2".into(),
        prices: PriceTable::builtin(),
        rate: None,
        pair: Pair {
            source_bucket: "prod-data".into(),
            source_prefix: String::new(),
            destination_bucket: "datalake-raw".into(),
            destination_prefix: "prod/".into(),
        },
    }));
    start(&mut s);
    s
}

/// The source pane in `daily/2026/` with three prefixes and an object.
fn browsing() -> AppState {
    let mut s = console();
    let request = s.take_request_id();
    let pane = s.pane_mut(Side::Source);
    pane.navigate(Location::Prefix { bucket: "prod-data".into(), prefix: "daily/2026/".into() }, request);
    let p = |x: &str| Entry::Prefix { prefix: format!("daily/2026/{x}") };
    let object = Entry::Object {
        key: "daily/2026/index.json".into(),
        size: 2_048,
        last_modified: Some(NOW as i64),
        storage_class: "STANDARD".into(),
    };
    pane.accept_page(request, vec![p("01/"), p("02/"), p("03/"), object], false);
    s
}

fn send(s: &mut AppState, e: TransferEvent) -> Vec<Command> {
    update(s, Msg::Engine(EngineEvent::Transfer(s.ticket, e)))
}

fn report(verdict: Verdict, checks: &[(&'static str, Status)]) -> Report {
    let checks = checks
        .iter()
        .map(|(id, status)| Check {
            id,
            side: Area::Destination,
            status: *status,
            summary: String::new(),
            detail: vec![],
            fix: None,
            fixes: vec![],
        })
        .collect();
    Report { verdict, principal: "arn:aws:iam::111111111111:role/transfer".into(), checks, probes: vec![] }
}

fn scope() -> Request {
    Request {
        mode: Mode::Cp,
        scope: Some(Scope { prefix: "daily/2026/".into(), entries: vec!["01/".into(), "02/".into()] }),
    }
}

/// Marked 01/ and 02/, planned (10 objects of 1 KiB each), the preflight BLOCKED.
fn planned_blocked() -> AppState {
    let mut s = browsing();
    key(&mut s, KeyCode::Char(' '));
    key(&mut s, KeyCode::Char(' '));
    assert_eq!(key(&mut s, KeyCode::Char('c')), [Command::Engine(EngineCommand::Plan(scope()))]);
    let blocked = report(
        Verdict::Blocked,
        &[
            ("destination.key_policy", Status::Fail),
            ("source.read", Status::Pass),
            ("destination.ownership", Status::Unknown),
        ],
    );
    update(&mut s, Msg::Engine(EngineEvent::Preflight(Box::new(blocked))));
    let started = TransferEvent::Started {
        mode: Mode::Cp,
        method: Method::ServerSide,
        concurrency: 256,
        resumed: true,
        dry_run: true,
        writes: WriteSettings::default(),
        journal: None,
    };
    send(&mut s, started);
    for _ in 0..4 {
        send(&mut s, TransferEvent::AlreadyDone { bytes: 1_024 });
    }
    for _ in 0..10 {
        send(&mut s, TransferEvent::Planned { action: Planned::Copy, bytes: 1_024, reason: None });
    }
    send(&mut s, TransferEvent::PlanComplete);
    ended(&mut s, TransferEnd { dry_run: true, ..TransferEnd::default() });
    s
}

#[test]
fn marks_show_in_the_pane_and_the_footer() {
    let mut s = browsing();
    key(&mut s, KeyCode::Char(' '));
    key(&mut s, KeyCode::Down);
    key(&mut s, KeyCode::Char(' '));
    let lines = text(&render(&mut s, 80, 24));
    let expected = [
        " s3ferry · browse · migration.toml                          preflight: running… ",
        "┌ Source ──────────────────────────────┐┌ Destination ─────────────────────────┐",
        "│connecting…                           ││connecting…                           │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│s3://prod-data/daily/2026/            ││s3://datalake-raw/prod/               │",
        "│✔ 01/                                 ││                                      │",
        "│02/                                   ││                                      │",
        "│✔ 03/                                 ││                                      │",
        "│index.json                     2.0 KiB││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│2.0 KiB  2025-11-25 18:21  STANDARD   ││                                      │",
        "│2 marked: 2 prefixes · c cp · s sync  ││0 entries loaded, listing…            │",
        "└──────────────────────────────────────┘└──────────────────────────────────────┘",
        " Space mark · c cp · s sync · Enter open · ⌫ up · p preflight · ? help · q quit ",
    ];
    assert_eq!(lines, expected);
    // Space again unmarks; a new location clears the marks.
    key(&mut s, KeyCode::Up);
    key(&mut s, KeyCode::Char(' '));
    assert_eq!(s.pane(Side::Source).marks.keys().collect::<Vec<_>>(), ["01/"]);
}

#[test]
fn c_outside_the_source_or_at_the_bucket_list_says_why_and_plans_nothing() {
    let mut s = console();
    key(&mut s, KeyCode::Tab);
    assert!(key(&mut s, KeyCode::Char(' ')).is_empty());
    assert!(s.message.as_deref().unwrap().contains("Source pane"));
    let request = s.take_request_id();
    s.pane_mut(Side::Source).navigate(Location::Prefix { bucket: "other".into(), prefix: String::new() }, request);
    key(&mut s, KeyCode::Tab);
    assert!(key(&mut s, KeyCode::Char('c')).is_empty());
    let lines = text(&render(&mut s, 80, 24));
    assert!(lines[23].starts_with(" s3://other is not this migration's source: open s3://prod-data/"), "{}", lines[23]);
    assert_eq!(s.screen, Screen::Browse);
    // t with nothing planned says how to plan.
    key(&mut s, KeyCode::Char('t'));
    assert!(s.message.as_deref().unwrap().contains("Space"));
}

#[test]
fn the_plan_shows_its_scope_what_is_done_and_the_preflight_and_asks_before_a_blocked_run() {
    let mut s = planned_blocked();
    let lines = text(&render(&mut s, 80, 24));
    let expected = [
        " s3ferry · plan · migration.toml                    preflight: BLOCKED (1 fail) ",
        "┌ Plan · cp ───────────────────────────────────────────────────────────────────┐",
        "│Plan complete: y starts the run (asks first: preflight), Esc goes back        │",
        "│From      s3://prod-data/daily/2026/{01/, 02/}                                │",
        "│Into      s3://datalake-raw/prod/daily/2026/                                  │",
        "│Preflight BLOCKED: fail destination.key_policy; unknown destination.ownership │",
        "│Resuming: 4 objects (4.0 KiB) done by an earlier run; below is only the rest  │",
        "│To copy   10 objects, 10.0 KiB                                                │",
        "│Sizes     10 single copy · 0 multipart (0 parts)                              │",
        "│Requests                 count        cost                                    │",
        "│COPY/PUT                    10      <$0.01                                    │",
        "│GET/HEAD                     0       $0.00                                    │",
        "│LIST                         1      <$0.01                                    │",
        "│DELETE                       0       $0.00                                    │",
        "│KMS                          0       $0.00                                    │",
        "│KMS, Bucket Key              0       $0.00                                    │",
        "│Total <$0.01 in eu-west-2                                                     │",
        "│Prices: aws.amazon.com/s3/pricing + aws.amazon.com/kms/pricing, 2026-11-25    │",
        "│ETA       shown on the dashboard once the run has a rate (or pass --rate)     │",
        "│Creds     source … · destination …                                            │",
        "│The run continues the earlier plan: objects added since are not in it; once it│",
        "│ends, the next plan lists anew.                                               │",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        " y start · r plan again · p preflight · Esc back · ? help · q quit              ",
    ];
    assert_eq!(lines, expected);
    assert!(key(&mut s, KeyCode::Char('y')).is_empty(), "BLOCKED: y asks");
    let lines = text(&render(&mut s, 80, 24));
    let expected = [
        " s3ferry · plan · migration.toml                    preflight: BLOCKED (1 fail) ",
        "┌ Plan · cp ───────────────────────────────────────────────────────────────────┐",
        "│Plan complete: y starts the run (asks first: preflight), Esc goes back        │",
        "│From      s3://prod-data/daily/2026/{01/, 02/}                                │",
        "│Into┌ Start although the preflight is not READY? ────────────────────────┐    │",
        "│Pref│The preflight says BLOCKED: fail destination.key_policy; unknown    │hip │",
        "│Resu│destination.ownership.                                              │st  │",
        "│To c│y starts anyway; any other key goes back to the plan.               │    │",
        "│Size│                                                                    │    │",
        "│Requ└────────────────────────────────────────────────────────────────────┘    │",
        "│COPY/PUT                    10      <$0.01                                    │",
        "│GET/HEAD                     0       $0.00                                    │",
        "│LIST                         1      <$0.01                                    │",
        "│DELETE                       0       $0.00                                    │",
        "│KMS                          0       $0.00                                    │",
        "│KMS, Bucket Key              0       $0.00                                    │",
        "│Total <$0.01 in eu-west-2                                                     │",
        "│Prices: aws.amazon.com/s3/pricing + aws.amazon.com/kms/pricing, 2026-11-25    │",
        "│ETA       shown on the dashboard once the run has a rate (or pass --rate)     │",
        "│Creds     source … · destination …                                            │",
        "│The run continues the earlier plan: objects added since are not in it; once it│",
        "│ends, the next plan lists anew.                                               │",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        " y start anyway · any other key back to the plan                                ",
    ];
    assert_eq!(lines, expected);
    assert_eq!(key(&mut s, KeyCode::Char('y')), [Command::Engine(EngineCommand::Transfer(scope()))]);
    // The first frame of the dashboard already has the plan's totals (10 to copy, 4 done before).
    let lines = text(&render(&mut s, 80, 24));
    assert!(lines[2].contains(" 0/14+"), "{}", lines[2]);
}

/// The run of that plan, started although BLOCKED: 4 objects done before, 40 planned.
fn running_blocked() -> AppState {
    let mut s = planned_blocked();
    key(&mut s, KeyCode::Char('y'));
    key(&mut s, KeyCode::Char('y'));
    let started = TransferEvent::Started {
        mode: Mode::Cp,
        method: Method::ServerSide,
        concurrency: 64,
        resumed: true,
        dry_run: false,
        writes: WriteSettings::default(),
        journal: Some("/srv/.s3ferry/pair-1/run-cp-2".into()),
    };
    send(&mut s, started);
    for _ in 0..4 {
        send(&mut s, TransferEvent::AlreadyDone { bytes: 1_024 });
    }
    for _ in 0..40 {
        send(&mut s, TransferEvent::Planned { action: Planned::Copy, bytes: 1_024, reason: None });
    }
    s
}

#[test]
fn a_run_whose_first_objects_all_fail_pauses_itself_and_says_why() {
    let mut s = running_blocked();
    let denied = |i: u32| TransferEvent::Failed {
        failure: Failure {
            key: format!("daily/2026/02/f-{i:02}.txt"),
            code: "AccessDenied".into(),
            message: format!(
                "AccessDenied: CopyObject s3://prod-data/daily/2026/02/f-{i:02}.txt -> s3://datalake-raw/prod/daily/2026/02/f-{i:02}.txt as arn:aws:iam::111111111111:role/transfer: User is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:eu-west-2:222222222222:key/k with an explicit deny in a resource-based policy"
            ),
            attempts: 1,
        },
    };
    for i in 0..19 {
        assert!(send(&mut s, denied(i)).is_empty(), "object {i}");
    }
    assert_eq!(send(&mut s, denied(19)), [Command::Engine(EngineCommand::Pause(true))], "the 20th pauses");
    assert!(send(&mut s, denied(20)).is_empty(), "once");
    send(&mut s, TransferEvent::Paused { paused: true });
    let lines = text(&render(&mut s, 80, 24));
    let expected = [
        " s3ferry · trans… run: cp 62% paused by the guard · preflight: BLOCKED (1 fail) ",
        "┌ cp · paused by the guard ────────────────────────────────────────────────────┐",
        "│Objects ███████████████████████░░░░░░░░░░░░░░░  62% 25/40+                    │",
        "│Bytes   ███░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░  10% 4.0 KiB/40.0 KiB+         │",
        "│Copied 0 · skipped 0 · failed 21 · done before 4 (4.0 KiB)                    │",
        "│In flight 0 · limit 64 · retries 0 · ETA –                                    │",
        "│Creds source … · destination …                                                │",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        "┌ Paused by the guard ─────────────────────────────────────────────────────────┐",
        "│Dispatching stopped: the first 20 objects all failed, AccessDenied under      │",
        "│daily/2026/02/.                                                               │",
        "│the preflight checks destination.key_policy and source.policy.key cover it;   │",
        "│requests in flight finish.                                                    │",
        "│r resume anyway · c cancel (journal kept) · p open the preflight              │",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        "│daily/2026/02/f-00.txt          AccessDenied        1 AccessDenied: CopyObjec…│",
        "│daily/2026/02/f-01.txt          AccessDenied        1 AccessDenied: CopyObjec…│",
        "│daily/2026/02/f-02.txt          AccessDenied        1 AccessDenied: CopyObjec…│",
        "│daily/2026/02/f-03.txt          AccessDenied        1 AccessDenied: CopyObjec…│",
        "│daily/2026/02/f-04.txt          AccessDenied        1 AccessDenied: CopyObjec…│",
        "│daily/2026/02/f-05.txt          AccessDenied        1 AccessDenied: CopyObjec…│",
        "│daily/2026/02/f-06.txt          AccessDenied        1 AccessDenied: CopyObjec…│",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        " r resume anyway · c cancel · p open the preflight                              ",
    ];
    assert_eq!(lines, expected);
    // The failure's detail: the whole message, the denial, the check.
    key(&mut s, KeyCode::Char('p'));
    assert_eq!(s.screen, Screen::Preflight, "p opens the preflight from the guard");
    key(&mut s, KeyCode::Char('t'));
    assert_eq!(s.screen, Screen::Dashboard);
    assert_eq!(key(&mut s, KeyCode::Char('r')), [Command::Engine(EngineCommand::Pause(false))], "resume anyway");
    assert!(s.dashboard.tripped.is_none());
    key(&mut s, KeyCode::Enter);
    let lines = text(&render(&mut s, 80, 24));
    let expected = [
        " s3ferry · transfer · migrati… run: cp 62% paused · preflight: BLOCKED (1 fail) ",
        "┌ cp · paused ─────────────────────────────────────────────────────────────────┐",
        "│Objects ███████████████████████░░░░░░░░░░░░░░░  62% 25/40+                    │",
        "│Bytes   ███░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░  10% 4.0 KiB/40.0 KiB+         │",
        "│Copied 0 · skipped 0 · failed 21 · done before 4 (4.0 KiB)                    │",
        "│In flight 0 · limit 64 · retries 0 · ETA –                                    │",
        "│Creds source … · destination …                                                │",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        "┌ Error (Enter or Esc closes) ─────────────────────────────────────────────────┐",
        "│key      daily/2026/02/f-00.txt                                               │",
        "│code     AccessDenied after 1 attempt(s)                                      │",
        "│denied   yes: an explicit Deny; explicitly denied by a resource-based policy  │",
        "│check    destination.key_policy, source.policy.key                            │",
        "│AccessDenied: CopyObject s3://prod-data/daily/2026/02/f-00.txt ->             │",
        "│s3://datalake-raw/prod/daily/2026/02/f-00.txt as                              │",
        "│arn:aws:iam::111111111111:role/transfer: User is not authorized to perform:   │",
        "│kms:GenerateDataKey on resource: arn:aws:kms:eu-west-2:222222222222:key/k with│",
        "│an explicit deny in a resource-based policy                                   │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        " Enter/Esc close                                                                ",
    ];
    assert_eq!(lines, expected);
    key(&mut s, KeyCode::Esc);
    key(&mut s, KeyCode::Char('v'));
    let lines = text(&render(&mut s, 80, 24));
    let expected = [
        " s3ferry · transfer · migrati… run: cp 62% paused · preflight: BLOCKED (1 fail) ",
        "┌ cp · paused ─────────────────────────────────────────────────────────────────┐",
        "│Objects ███████████████████████░░░░░░░░░░░░░░░  62% 25/40+                    │",
        "│Bytes   ███░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░  10% 4.0 KiB/40.0 KiB+         │",
        "│Copied 0 · skipped 0 · failed 21 · done before 4 (4.0 KiB)                    │",
        "│In flight 0 · limit 64 · retries 0 · ETA –                                    │",
        "│Creds source … · destination …                                                │",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        "┌ objects/s 0 · peak 0 · 0 s ──────────┐┌ MiB/s 0.0 · peak 0.0 ────────────────┐",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "└──────────────────────────────────────┘└──────────────────────────────────────┘",
        "┌ Errors 21 · by code ─────────────────────────────────────────────────────────┐",
        "│code                               count example                              │",
        "│AccessDenied                          21 daily/2026/02/f-00.txt               │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        " p resume · c cancel · Esc browse · Enter error · v group · e export · ? help   ",
    ];
    assert_eq!(lines, expected);
    key(&mut s, KeyCode::Char('v'));
    let lines = text(&render(&mut s, 80, 24));
    assert!(lines[15].starts_with("│daily/2026/02/"), "{}", lines[15]);
}

#[test]
fn after_the_run_a_summary_with_verify_and_the_journal_and_r_retries_the_failed() {
    let mut s = running_blocked();
    for _ in 0..8 {
        send(&mut s, TransferEvent::Copied { bytes: 1_024, parted: false });
    }
    send(
        &mut s,
        TransferEvent::Failed {
            failure: Failure {
                key: "daily/2026/02/x.txt".into(),
                code: "NoSuchKey".into(),
                message: "gone".into(),
                attempts: 1,
            },
        },
    );
    update(&mut s, Msg::Tick(at(NOW + 4)));
    let end = TransferEnd {
        journal: Some("/srv/.s3ferry/pair-1/run-cp-2".into()),
        verify: Some(VerifyReport {
            checked: 12,
            mismatches: vec![Mismatch { key: "daily/2026/01/a.txt".into(), problem: "size 1 != 2".into() }],
        }),
        ..TransferEnd::default()
    };
    ended(&mut s, end);
    let lines = text(&render(&mut s, 80, 24));
    let expected = [
        " s3ferry · transfer · migra… run: cp 32% failures · preflight: BLOCKED (1 fail) ",
        "┌ cp · finished with failures ─────────────────────────────────────────────────┐",
        "│Objects ████████████░░░░░░░░░░░░░░░░░░░░░░░░░░  32% 13/40                     │",
        "│Bytes   ███████████░░░░░░░░░░░░░░░░░░░░░░░░░░░  30% 12.0 KiB/40.0 KiB         │",
        "│Copied 8 · skipped 0 · failed 1 · done before 4 (4.0 KiB)                     │",
        "│In flight 0 · limit 64 · retries 0 · ETA –                                    │",
        "│Creds source … · destination …                                                │",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        "┌ Summary · finished with failures ────────────────────────────────────────────┐",
        "│Copied 8 objects (8.0 KiB) in 4 s · 2.2 objects/s, 2.0 KiB/s on average       │",
        "│Verify: 12 checked, 1 MISMATCH (first: daily/2026/01/a.txt)                   │",
        "│Journal /srv/.s3ferry/pair-1/run-cp-2 (kept: r resumes, R retries)            │",
        "│                                                                              │",
        "│                                                                              │",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        "┌ Errors 1 ────────────────────────────────────────────────────────────────────┐",
        "│key                             code              try message                 │",
        "│daily/2026/02/x.txt             NoSuchKey           1 gone                    │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        " R retry failed · Esc back · Enter error · v group · e export · q quit          ",
    ];
    assert_eq!(lines, expected);
    assert_eq!(key(&mut s, KeyCode::Char('R')), [Command::Engine(EngineCommand::Transfer(scope()))]);
    assert_eq!(s.dashboard.runs, 2);
}

#[test]
fn enter_on_an_object_opens_its_details_and_t_loads_its_tags() {
    let mut s = browsing();
    for _ in 0..3 {
        key(&mut s, KeyCode::Down);
    }
    let commands = key(&mut s, KeyCode::Enter);
    let [Command::Engine(EngineCommand::Details { side, request, bucket, key: k, tags: false })] = commands.as_slice()
    else {
        panic!("{commands:?}")
    };
    assert_eq!((side, bucket.as_str(), k.as_str()), (&Side::Source, "prod-data", "daily/2026/index.json"));
    let details = ObjectDetails {
        key: k.clone(),
        size: 2_048,
        etag: "9b2cf535f27731c974343645a3985328".into(),
        last_modified: Some(NOW as i64),
        storage_class: "STANDARD".into(),
        encryption: "aws:kms".into(),
        kms_key: Some("arn:aws:kms:eu-west-2:111111111111:key/1234".into()),
        content_type: Some("application/json".into()),
        metadata: vec![("owner".into(), "data-team".into())],
        tags: None,
    };
    update(&mut s, Msg::Engine(EngineEvent::Details { side: Side::Source, request: *request, details: Ok(details) }));
    let lines = text(&render(&mut s, 80, 24));
    let expected = [
        " s3ferry · browse · migration.toml                          preflight: running… ",
        "┌ Source ──────────────────────────────┐┌ Destination ─────────────────────────┐",
        "│c┌ Object (Esc closes · T tags) ────────────────────────────────────────────┐ │",
        "│ │key           daily/2026/index.json                                       │ │",
        "│ │size          2.0 KiB (2,048 bytes)                                       │ │",
        "│ │ETag          9b2cf535f27731c974343645a3985328                            │ │",
        "│s│last modified 2025-11-25 18:21                                            │ │",
        "│0│storage class STANDARD                                                    │ │",
        "│0│encryption    aws:kms · key arn:aws:kms:eu-west-2:111111111111:key/1234   │ │",
        "│0│content type  application/json                                            │ │",
        "│i│metadata      owner=data-team                                             │ │",
        "│ │tags          T loads them (GetObjectTagging)                             │ │",
        "│ │                                                                          │ │",
        "│ └──────────────────────────────────────────────────────────────────────────┘ │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│2.0 KiB  2025-11-25 18:21  STANDARD   ││                                      │",
        "│4 entries                             ││0 entries loaded, listing…            │",
        "└──────────────────────────────────────┘└──────────────────────────────────────┘",
        " Esc close · T load tags                                                        ",
    ];
    assert_eq!(lines, expected);
    let commands = key(&mut s, KeyCode::Char('T'));
    assert!(
        matches!(commands.as_slice(), [Command::Engine(EngineCommand::Details { tags: true, .. })]),
        "{commands:?}"
    );
    key(&mut s, KeyCode::Esc);
    assert!(s.pane(Side::Source).details.is_none());
}

#[test]
fn sort_totals_and_a_destination_that_follows() {
    let mut s = browsing();
    let request = s.pane(Side::Source).request;
    let object = |k: &str, size: u64, when: i64| Entry::Object {
        key: format!("daily/2026/{k}"),
        size,
        last_modified: Some(when),
        storage_class: "STANDARD".into(),
    };
    s.pane_mut(Side::Source).accept_page(request, vec![object("big.bin", 9_000, 1), object("new.bin", 10, 9)], false);
    let names = |s: &AppState| -> Vec<String> {
        s.pane(Side::Source).visible().iter().map(|e| e.display_name("daily/2026/").to_string()).collect()
    };
    assert_eq!(names(&s), ["01/", "02/", "03/", "index.json", "big.bin", "new.bin"]);
    key(&mut s, KeyCode::Char('o'));
    assert_eq!(names(&s), ["01/", "02/", "03/", "big.bin", "index.json", "new.bin"], "by size, largest first");
    key(&mut s, KeyCode::Char('o'));
    assert_eq!(names(&s), ["01/", "02/", "03/", "index.json", "new.bin", "big.bin"], "by date, newest first");
    assert!(text(&render(&mut s, 80, 24))[21].contains("6 entries · by date"));

    // z counts the selected prefix, streamed; Esc stops it.
    let commands = key(&mut s, KeyCode::Char('z'));
    let [Command::Engine(EngineCommand::Totals { request, prefix, .. })] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!(prefix, "daily/2026/01/");
    let totals = EngineEvent::Totals {
        side: Side::Source,
        request: *request,
        objects: 1_234,
        bytes: 5 << 30,
        done: false,
        error: None,
    };
    update(&mut s, Msg::Engine(totals));
    let lines = text(&render(&mut s, 80, 24));
    assert_eq!(lines[20], "│01/: 1,234 objects, 5.0 GiB · countin…││                                      │");
    assert_eq!(key(&mut s, KeyCode::Esc), [Command::Engine(EngineCommand::StopTotals { side: Side::Source })]);
    assert!(s.pane(Side::Source).totals.is_none());

    // f: the destination pane goes to the prefix the source maps to, and keeps following.
    let commands = key(&mut s, KeyCode::Char('f'));
    let lists = |c: &[Command]| -> Vec<(Side, String)> {
        c.iter()
            .filter_map(|c| match c {
                Command::Engine(EngineCommand::List { side, location, .. }) => Some((*side, location.describe())),
                _ => None,
            })
            .collect()
    };
    assert_eq!(lists(&commands), [(Side::Destination, "s3://datalake-raw/prod/daily/2026/".to_string())]);
    let commands = key(&mut s, KeyCode::Enter);
    assert_eq!(
        lists(&commands),
        [
            (Side::Source, "s3://prod-data/daily/2026/01/".to_string()),
            (Side::Destination, "s3://datalake-raw/prod/daily/2026/01/".to_string())
        ]
    );
}

#[test]
fn a_superseded_plan_s_late_events_are_dropped() {
    let mut s = browsing();
    key(&mut s, KeyCode::Char('c'));
    let first = s.ticket;
    key(&mut s, KeyCode::Esc);
    key(&mut s, KeyCode::Char(' '));
    key(&mut s, KeyCode::Char('s'));
    assert_eq!(s.ticket, first + 1);
    // The first plan's events, still on their way, neither count nor end the second one.
    let late = TransferEvent::Planned { action: Planned::Copy, bytes: 1, reason: None };
    update(&mut s, Msg::Engine(EngineEvent::Transfer(first, late)));
    update(
        &mut s,
        Msg::Engine(EngineEvent::TransferEnded(first, TransferEnd { dry_run: true, ..TransferEnd::default() })),
    );
    let plan = s.plan.as_ref().unwrap();
    assert_eq!((plan.shape.copy_objects, plan.phase.clone()), (0, s3ferry::ui::screens::plan::PlanPhase::Planning));
    send(&mut s, TransferEvent::Planned { action: Planned::Copy, bytes: 1, reason: None });
    assert_eq!(s.plan.as_ref().unwrap().shape.copy_objects, 1);
}

#[test]
fn the_guard_waits_behind_open_popups_and_q_never_abandons_requests_in_flight() {
    let mut s = running_blocked();
    // The export prompt is open when the guard trips: the letters typed stay in the prompt.
    send(
        &mut s,
        TransferEvent::Failed {
            failure: Failure { key: "a".into(), code: "X".into(), message: String::new(), attempts: 1 },
        },
    );
    key(&mut s, KeyCode::Char('e'));
    for i in 0..19 {
        let f = Failure { key: format!("k{i}"), code: "X".into(), message: String::new(), attempts: 1 };
        send(&mut s, TransferEvent::Failed { failure: f });
    }
    assert!(s.dashboard.tripped.is_some());
    assert!(key(&mut s, KeyCode::Char('r')).is_empty(), "r is typed into the file name");
    assert!(s.dashboard.export.as_ref().unwrap().value().ends_with('r'));
    assert!(s.dashboard.tripped.is_some());
    key(&mut s, KeyCode::Esc);
    assert_eq!(key(&mut s, KeyCode::Char('r')), [Command::Engine(EngineCommand::Pause(false))]);

    // q from the help overlay asks, as q anywhere in a run does.
    key(&mut s, KeyCode::Char('?'));
    assert!(key(&mut s, KeyCode::Char('q')).is_empty());
    assert!(s.dashboard.confirm_cancel && s.dashboard.confirm_quit);
    assert_eq!(key(&mut s, KeyCode::Char('y')), [Command::Engine(EngineCommand::Cancel)]);
    // While it stops, q waits for the requests in flight rather than leaving at once.
    let mut s = running_blocked();
    key(&mut s, KeyCode::Char('c'));
    key(&mut s, KeyCode::Char('y'));
    assert!(key(&mut s, KeyCode::Char('q')).is_empty());
    assert!(s.dashboard.quit_when_stopped);
    assert_eq!(ended(&mut s, TransferEnd { interrupted: true, ..TransferEnd::default() }), [Command::Quit]);

    // Too small to show a question: q in a run stops it as Ctrl-C does; other keys do nothing.
    let mut s = running_blocked();
    render(&mut s, 40, 10);
    assert!(key(&mut s, KeyCode::Char('c')).is_empty());
    assert_eq!(key(&mut s, KeyCode::Char('q')), [Command::Engine(EngineCommand::Cancel)]);
}

#[test]
fn what_a_first_walk_through_found() {
    // p p quickly: two toggles, whether or not the engine has confirmed the first.
    let mut s = running_blocked();
    assert_eq!(key(&mut s, KeyCode::Char('p')), [Command::Engine(EngineCommand::Pause(true))]);
    assert_eq!(key(&mut s, KeyCode::Char('p')), [Command::Engine(EngineCommand::Pause(false))]);

    // When a run ends, the destination pane lists again: what the run wrote shows.
    let commands = ended(&mut s, TransferEnd::default());
    let relisted = |c: &Command| matches!(c, Command::Engine(EngineCommand::List { side: Side::Destination, .. }));
    assert!(commands.iter().any(relisted), "{commands:?}");
    // r on a finished run says why nothing happens.
    key(&mut s, KeyCode::Char('r'));
    assert!(s.dashboard.message.as_deref().unwrap().starts_with("nothing to resume"));

    // A filter on and nothing marked: c does not plan more than the pane shows.
    let mut s = browsing();
    key(&mut s, KeyCode::Char('/'));
    key(&mut s, KeyCode::Char('1'));
    key(&mut s, KeyCode::Enter);
    assert!(key(&mut s, KeyCode::Char('c')).is_empty());
    assert!(s.message.as_deref().unwrap().starts_with("a filter is on"), "{:?}", s.message);

    // Nothing marked at a bucket's root: the plan says it covers the whole bucket.
    let mut s = console();
    let request = s.pane(Side::Source).request;
    s.pane_mut(Side::Source).accept_page(request, vec![Entry::Prefix { prefix: "daily/".into() }], false);
    key(&mut s, KeyCode::Char('c'));
    let warnings = &s.plan.as_ref().unwrap().warnings;
    assert_eq!(warnings, &["nothing was marked: this plan covers the whole bucket s3://prod-data".to_string()]);
}

#[test]
fn going_up_puts_the_cursor_on_the_prefix_you_came_from() {
    let mut s = browsing();
    key(&mut s, KeyCode::Backspace);
    let request = s.pane(Side::Source).request;
    let p = |x: &str| Entry::Prefix { prefix: x.into() };
    s.pane_mut(Side::Source).accept_page(request, vec![p("daily/2024/"), p("daily/2025/")], true);
    assert_eq!(s.pane(Side::Source).selected, 0, "not listed yet: the cursor waits");
    s.pane_mut(Side::Source).accept_page(request, vec![p("daily/2026/"), p("daily/2027/")], false);
    assert_eq!(s.pane(Side::Source).selected_entry(), Some(&p("daily/2026/")));
}
