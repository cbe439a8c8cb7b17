//! The plan screen and the transfer dashboard rendered from fixed states, checked cell for cell
//! with TestBackend; and their keys (start, pause, cancel, resume, filter, export).

mod screen;

use screen::{ended, engine, key, render, text};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossterm::event::KeyCode;
use ratatui::style::Color;
use s3ferry::core::cost::PriceTable;
use s3ferry::core::credentials::{CredentialSource, classify};
use s3ferry::core::listing::Location;
use s3ferry::core::plan::Reason;
use s3ferry::core::progress::{Failure, Halt, Method, Mode, Planned, TransferEvent, WriteSettings};
use s3ferry::core::scope::{Pair, Request};
use s3ferry::core::side::Side;
use s3ferry::engine::events::EngineEvent;
use s3ferry::engine::runner::{EngineCommand, TransferEnd};
use s3ferry::ui::msg::{Command, Msg};
use s3ferry::ui::screens::browse::PaneState;
use s3ferry::ui::screens::dashboard::RunPhase;
use s3ferry::ui::screens::plan::{PlanPhase, PlanState, TransferSetup};
use s3ferry::ui::state::{AppState, Screen};
use s3ferry::ui::update::{start_transfer, update};

const NOW: u64 = 1_764_094_860; // 2025-11-25 18:21 UTC
const MIB: u64 = 1 << 20;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn setup(rate: Option<f64>) -> TransferSetup {
    TransferSetup {
        mode: Mode::Sync,
        source: "s3://prod-data/".into(),
        destination: "s3://datalake-raw/prod/".into(),
        threshold: 100 * MIB,
        part_size: 16 * MIB,
        concurrency: 256,
        kms: true,
        region: "eu-west-2".into(),
        prices: PriceTable::builtin(),
        rate,
        pair: Pair {
            source_bucket: "prod-data".into(),
            source_prefix: String::new(),
            destination_bucket: "datalake-raw".into(),
            destination_prefix: "prod/".into(),
        },
    }
}

/// What the console of `s3ferry sync` plans and runs: the configured pair, whole.
fn whole() -> Request {
    Request { mode: Mode::Sync, scope: None }
}

fn console(rate: Option<f64>) -> (AppState, Vec<Command>) {
    let loc = |b: &str, p: &str| Location::Prefix { bucket: b.into(), prefix: p.into() };
    let mut state = AppState::new(
        "migration.toml",
        PaneState::new(Side::Source, loc("prod-data", "")),
        PaneState::new(Side::Destination, loc("datalake-raw", "prod/")),
        at(NOW),
    );
    state.plan = Some(PlanState::new(setup(rate)));
    let commands = start_transfer(&mut state);
    (state, commands)
}

fn send(state: &mut AppState, e: TransferEvent) {
    assert!(update(state, Msg::Engine(EngineEvent::Transfer(state.ticket, e))).is_empty());
}

fn lifetime(source: CredentialSource, expires_in: u64) -> s3ferry::core::credentials::CredentialLifetime {
    classify(source, Some(at(NOW + expires_in)), None)
}

/// A sync planned to the end: 1,000 small objects and 2 large ones to copy, 300 to skip.
/// The source credentials are exported session keys with 45 minutes left.
fn planned(rate: Option<f64>) -> AppState {
    planned_with(rate, CredentialSource::Environment)
}

fn planned_with(rate: Option<f64>, source: CredentialSource) -> AppState {
    let (mut s, _) = console(rate);
    send(
        &mut s,
        TransferEvent::Started {
            mode: Mode::Sync,
            method: Method::ServerSide,
            concurrency: 256,
            resumed: false,
            dry_run: true,
            writes: WriteSettings::default(),
            journal: None,
        },
    );
    send(&mut s, TransferEvent::Lifetime { side: Side::Source, lifetime: lifetime(source, 2_700) });
    send(&mut s, TransferEvent::Lifetime { side: Side::Destination, lifetime: lifetime(CredentialSource::Sso, 7_200) });
    send(&mut s, TransferEvent::Listed { side: Side::Source, objects: 1_302 });
    send(&mut s, TransferEvent::Listed { side: Side::Destination, objects: 300 });
    for i in 0..1_000 {
        send(&mut s, TransferEvent::Planned { action: Planned::Copy, bytes: 1_000 + i, reason: Some(Reason::New) });
    }
    for _ in 0..2 {
        send(&mut s, TransferEvent::Planned { action: Planned::Copy, bytes: 1 << 30, reason: Some(Reason::Changed) });
    }
    for _ in 0..300 {
        send(&mut s, TransferEvent::Planned { action: Planned::Skip, bytes: MIB, reason: None });
    }
    send(&mut s, TransferEvent::PlanComplete);
    ended(&mut s, TransferEnd { dry_run: true, ..TransferEnd::default() });
    s
}

#[test]
fn the_console_of_cp_opens_on_the_plan_and_plans_at_once() {
    let (s, commands) = console(None);
    assert_eq!(s.screen, Screen::Plan);
    assert_eq!(s.plan.as_ref().unwrap().phase, PlanPhase::Planning);
    assert_eq!(commands.last(), Some(&Command::Engine(EngineCommand::Plan(whole()))));
}

#[test]
fn plan_screen_at_80x24_cell_for_cell() {
    let mut s = planned(Some(0.25));
    let b = render(&mut s, 80, 24);
    let expected = [
        " s3ferry · plan · migration.toml                            preflight: running… ",
        "┌ Plan · sync s3://prod-data/ → s3://datalake-raw/prod/ ───────────────────────┐",
        "│Plan complete: y starts the run (asks first: preflight), Esc goes back        │",
        "│Preflight not finished yet                                                    │",
        "│To copy   1,002 objects, 2.0 GiB · to skip 300 objects, 300.0 MiB             │",
        "│          new 1,000 · changed 2 · to check 0 · unchanged 300                  │",
        "│Sizes     1,000 single copy · 2 multipart (128 parts)                         │",
        "│Requests                 count        cost                                    │",
        "│COPY/PUT                 1,132      <$0.01                                    │",
        "│GET/HEAD                     4      <$0.01                                    │",
        "│LIST                         3      <$0.01                                    │",
        "│DELETE                       0       $0.00                                    │",
        "│KMS                      1,130      <$0.01                                    │",
        "│KMS, Bucket Key             12      <$0.01                                    │",
        "│Total <$0.01 (<$0.01 with S3 Bucket Keys) in eu-west-2                        │",
        "│Prices: aws.amazon.com/s3/pricing + aws.amazon.com/kms/pricing, 2026-11-25    │",
        "│ETA       1 h 06 min at 0.25 objects/s (--rate)                               │",
        "│Creds     source 0:45:00 expires · destination 2:00:00 renews                 │",
        "│! Source credentials cannot renew: 0:45:00 left, the run needs ~1 h 06 min    │",
        "│  - use credentials that renew (role_arn + source_profile, SSO, instance role)│",
        "│  - raise session_duration (up to the role's maximum; 1 h when chaining)      │",
        "│  - narrow the run with --include/--exclude and run it in pieces              │",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        " y start · r plan again · p preflight · Esc back · ? help · q quit              ",
    ];
    assert_eq!(text(&b), expected);
    // Countdown colours: under an hour yellow, over an hour green.
    assert_eq!(b[(18, 17)].fg, Color::Yellow);
    assert_eq!(b[(48, 17)].fg, Color::Green);
    assert_eq!(b[(1, 18)].fg, Color::Yellow, "the expiry warning");
    assert_eq!(b[(1, 3)].fg, Color::Yellow, "a preflight that has not passed is not green");
}

#[test]
fn plan_without_a_rate_warns_that_the_run_length_is_unknown() {
    let mut s = planned(None);
    let lines = text(&render(&mut s, 80, 24));
    assert_eq!(lines[16], "│ETA       shown on the dashboard once the run has a rate (or pass --rate)     │");
    assert_eq!(lines[18], "│! Source credentials cannot renew: 0:45:00 left; the run's length is unknown  │");
    // With renewing credentials on both sides there is no warning at all.
    let mut s = planned_with(None, CredentialSource::Sso);
    let lines = text(&render(&mut s, 80, 24)).join("\n");
    assert!(lines.contains("source 0:45:00 renews"));
    assert!(!lines.contains("cannot renew"), "{lines}");
}

#[test]
fn y_starts_only_a_complete_plan_and_esc_goes_back() {
    let (mut s, _) = console(None);
    assert!(key(&mut s, KeyCode::Char('y')).is_empty(), "still planning");
    let mut s = planned(None);
    // The preflight has not finished: y asks once more; any other key goes back to the plan.
    assert!(key(&mut s, KeyCode::Char('y')).is_empty());
    assert!(key(&mut s, KeyCode::Char('n')).is_empty());
    assert!(s.plan.as_ref().unwrap().confirm.is_none());
    assert_eq!(s.screen, Screen::Plan);
    key(&mut s, KeyCode::Char('y'));
    assert!(s.plan.as_ref().unwrap().confirm.as_deref().unwrap().contains("not finished"));
    assert_eq!(key(&mut s, KeyCode::Char('y')), [Command::Engine(EngineCommand::Transfer(whole()))]);
    assert_eq!(s.screen, Screen::Dashboard);
    assert_eq!(s.dashboard.phase, RunPhase::Running);
    let mut s = planned(None);
    key(&mut s, KeyCode::Esc);
    assert_eq!(s.screen, Screen::Browse);
    assert!(key(&mut s, KeyCode::Char('t')).is_empty(), "planned already: back to it without a new plan");
    assert_eq!(s.screen, Screen::Plan);
}

fn failure(key: &str, code: &str, message: &str, attempts: u32) -> TransferEvent {
    TransferEvent::Failed { failure: Failure { key: key.into(), code: code.into(), message: message.into(), attempts } }
}

/// A run 40 seconds in: 600 of 1,002 objects done, a chart of rising throughput, two failures.
fn running() -> AppState {
    let mut s = planned(None);
    // The preflight has not finished in these fixtures: y asks, y starts.
    key(&mut s, KeyCode::Char('y'));
    key(&mut s, KeyCode::Char('y'));
    let t0 = NOW;
    send(
        &mut s,
        TransferEvent::Started {
            mode: Mode::Sync,
            method: Method::ServerSide,
            concurrency: 256,
            resumed: false,
            dry_run: false,
            writes: WriteSettings::default(),
            journal: None,
        },
    );
    send(
        &mut s,
        TransferEvent::Lifetime { side: Side::Source, lifetime: lifetime(CredentialSource::Environment, 2_700) },
    );
    send(&mut s, TransferEvent::Lifetime { side: Side::Destination, lifetime: lifetime(CredentialSource::Sso, 540) });
    for _ in 0..1_002 {
        send(&mut s, TransferEvent::Planned { action: Planned::Copy, bytes: MIB, reason: None });
    }
    send(&mut s, TransferEvent::PlanComplete);
    let mut done = 0;
    for second in 1..=40u64 {
        update(&mut s, Msg::Tick(at(t0 + second)));
        for _ in 0..(second / 3) {
            if done < 598 {
                send(&mut s, TransferEvent::Copied { bytes: MIB, parted: false });
                done += 1;
            }
        }
    }
    update(&mut s, Msg::Tick(at(t0 + 40)));
    send(
        &mut s,
        failure(
            "logs/2025/11/app-01.json",
            "AccessDenied",
            "PutObject s3://datalake-raw/prod/logs/2025/11/app-01.json denied",
            1,
        ),
    );
    send(&mut s, failure("img/cat.png", "NoSuchKey", "deleted after it was listed", 1));
    send(&mut s, TransferEvent::Throttled);
    send(&mut s, TransferEvent::Retry { code: "SlowDown".into() });
    send(&mut s, TransferEvent::Concurrency { limit: 192 });
    send(&mut s, TransferEvent::InFlight { requests: 17 });
    s
}

#[test]
fn dashboard_at_80x24_cell_for_cell() {
    let mut s = running();
    let b = render(&mut s, 80, 24);
    let expected = [
        " s3ferry · transfer · migration.to… run: sync 26% running · preflight: running… ",
        "┌ sync · running ──────────────────────────────────────────────────────────────┐",
        "│Objects █████████░░░░░░░░░░░░░░░░░░░░░░░░░░░░░  26% 262/1,002                 │",
        "│Bytes   █████████░░░░░░░░░░░░░░░░░░░░░░░░░░░░░  25% 260.0 MiB/1002.0 MiB      │",
        "│Copied 260 · skipped 0 · failed 2                                             │",
        "│In flight 17 · limit 192 · retries 1 (throttle 1) · ETA 59 s                  │",
        "│Creds source 0:44:20 expires · destination 0:08:20 renews                     │",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        "┌ objects/s 13 · peak 13 · 38 s ───────┐┌ MiB/s 13.0 · peak 13.0 ──────────────┐",
        "│                            ▂▂▂▄▄▄▆▆▆█││                            ▂▂▂▄▄▄▆▆▆█│",
        "│             ▁▁▁▃▃▃▄▄▄▆▆▆█████████████││             ▁▁▁▃▃▃▄▄▄▆▆▆█████████████│",
        "│ ▁▁▁▃▃▃▅▅▅▇▇▇█████████████████████████││ ▁▁▁▃▃▃▅▅▅▇▇▇█████████████████████████│",
        "└──────────────────────────────────────┘└──────────────────────────────────────┘",
        "┌ Errors 2 ────────────────────────────────────────────────────────────────────┐",
        "│key                             code              try message                 │",
        "│logs/2025/11/app-01.json        AccessDenied        1 PutObject s3://datalake…│",
        "│img/cat.png                     NoSuchKey           1 deleted after it was li…│",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "│                                                                              │",
        "└──────────────────────────────────────────────────────────────────────────────┘",
        " p pause · c cancel · Esc browse · Enter error · v group · e export · ? help    ",
    ];
    assert_eq!(text(&b), expected);
    assert_eq!(b[(14, 6)].fg, Color::Yellow, "source: under an hour");
    assert_eq!(b[(44, 6)].fg, Color::Red, "destination: under ten minutes");
    assert_eq!(b[(1, 15)].bg, Color::Cyan, "selected error row");
    assert_eq!(b[(1, 16)].bg, Color::Reset, "other rows");
    assert_eq!(b[(38, 9)].fg, Color::Cyan, "objects/s chart");
    assert_eq!(b[(78, 9)].fg, Color::Magenta, "MiB/s chart");
    assert_eq!(b[(9, 13)].fg, Color::Red, "failed counts in red");
    assert_eq!(b[(26, 4)].fg, Color::Red, "failed counts in red");
}

#[test]
fn pause_and_cancel_go_to_the_engine_and_cancel_is_confirmed() {
    let mut s = running();
    assert_eq!(key(&mut s, KeyCode::Char('p')), [Command::Engine(EngineCommand::Pause(true))]);
    send(&mut s, TransferEvent::Paused { paused: true });
    let lines = text(&render(&mut s, 80, 24));
    assert!(lines[1].starts_with("┌ sync · paused: requests in flight finish ─"), "{}", lines[1]);
    assert!(lines[5].contains("· ETA – "), "paused: no ETA: {}", lines[5]);
    assert_eq!(key(&mut s, KeyCode::Char('p')), [Command::Engine(EngineCommand::Pause(false))]);

    // c asks; anything but y keeps the run going.
    assert!(key(&mut s, KeyCode::Char('c')).is_empty());
    let lines = text(&render(&mut s, 80, 24));
    assert_eq!(lines[8], "┌ Cancel the run? ─────────────────────────────────────────────────────────────┐");
    assert_eq!(lines[9], "│Requests in flight finish and the journal is saved; run again to resume.      │");
    assert_eq!(lines[10], "│y cancels; any other key keeps the run going.                                 │");
    assert!(key(&mut s, KeyCode::Char('n')).is_empty());
    assert_eq!(s.dashboard.phase, RunPhase::Running);
    assert_eq!(key(&mut s, KeyCode::Char('c')), []);
    assert_eq!(key(&mut s, KeyCode::Char('y')), [Command::Engine(EngineCommand::Cancel)]);
    assert_eq!(s.dashboard.phase, RunPhase::Cancelling);
    assert!(!s.dashboard.quit_when_stopped, "a cancel does not quit");
    ended(&mut s, TransferEnd { interrupted: true, ..TransferEnd::default() });
    assert!(text(&render(&mut s, 80, 24))[1].starts_with("┌ sync · cancelled: journal saved ─"));
    // After a cancel: r resumes the same request; Esc goes back to browsing.
    assert_eq!(key(&mut s, KeyCode::Char('r')), [Command::Engine(EngineCommand::Transfer(whole()))]);
    assert_eq!(s.dashboard.runs, 2);
    // q during a run asks, on any screen; y stops the run and quits once it has stopped.
    key(&mut s, KeyCode::Esc);
    assert_eq!(s.screen, Screen::Browse);
    assert!(key(&mut s, KeyCode::Char('q')).is_empty());
    assert_eq!(s.screen, Screen::Dashboard);
    let lines = text(&render(&mut s, 80, 24));
    assert_eq!(lines[8], "┌ Quit? ───────────────────────────────────────────────────────────────────────┐");
    assert_eq!(key(&mut s, KeyCode::Char('y')), [Command::Engine(EngineCommand::Cancel)]);
    let ended =
        Msg::Engine(EngineEvent::TransferEnded(s.ticket, TransferEnd { interrupted: true, ..TransferEnd::default() }));
    assert_eq!(update(&mut s, ended), [Command::Quit], "quits once the run has stopped");
}

#[test]
fn ctrl_c_during_a_run_stops_it_and_leaves_when_it_has_stopped() {
    let ctrl_c =
        || Msg::Key(crossterm::event::KeyEvent::new(KeyCode::Char('c'), crossterm::event::KeyModifiers::CONTROL));
    let ended = |ticket| {
        Msg::Engine(EngineEvent::TransferEnded(ticket, TransferEnd { interrupted: true, ..TransferEnd::default() }))
    };

    let mut s = running();
    assert_eq!(update(&mut s, ctrl_c()), [Command::Engine(EngineCommand::Cancel)], "no question: Ctrl-C means stop");
    assert_eq!(s.dashboard.phase, RunPhase::Cancelling);
    let lines = text(&render(&mut s, 80, 24)).join("\n");
    assert!(lines.contains("Ctrl-C: stopping"), "{lines}");
    // Progress from the requests in flight still counts; the console stays until the run ends.
    assert!(engine(&mut s, TransferEvent::Copied { bytes: MIB, parted: false }).is_empty());
    let ticket = s.ticket;
    assert_eq!(update(&mut s, ended(ticket)), [Command::Quit]);

    // A second Ctrl-C does not wait.
    let mut s = running();
    update(&mut s, ctrl_c());
    assert_eq!(update(&mut s, ctrl_c()), [Command::Quit]);

    // Outside a run, Ctrl-C quits at once.
    let mut s = planned(None);
    assert_eq!(update(&mut s, ctrl_c()), [Command::Quit]);
}

#[test]
fn expired_credentials_stop_the_run_and_r_resumes_it() {
    let mut s = running();
    let halt = Halt { side: Side::Source, expired: true };
    send(&mut s, TransferEvent::CredentialsExpired { side: Side::Source });
    send(&mut s, TransferEvent::Halted { halt });
    send(&mut s, TransferEvent::Requeued { side: Side::Source });
    let hint = "the source credentials expired and cannot renew: nothing was lost (in-flight requests finished, the journal is saved). Re-authenticate (for example `aws sso login --profile operator`) and rerun the same command to resume.";
    ended(
        &mut s,
        TransferEnd { interrupted: true, halted: Some(halt), hint: Some(hint.into()), ..TransferEnd::default() },
    );
    let b = render(&mut s, 80, 24);
    let lines = text(&b);
    assert!(lines[1].starts_with("┌ sync · stopped: credentials ─"), "{}", lines[1]);
    assert_eq!(lines[6], "│Creds source 0:44:20 expires · destination 0:08:20 renews · 1 ExpiredToken    │");
    assert_eq!(lines[8], "┌ Credentials ─────────────────────────────────────────────────────────────────┐");
    assert_eq!(lines[9], "│the source credentials expired and cannot renew: nothing was lost (in-flight  │");
    assert_eq!(lines[10], "│requests finished, the journal is saved). Re-authenticate (for example `aws   │");
    assert_eq!(lines[11], "│sso login --profile operator`) and rerun the same command to resume.          │");
    assert_eq!(lines[12], "│Press r to resume.                                                            │");
    assert_eq!(lines[13], "│                                                                              │");
    assert_eq!(lines[14], "└──────────────────────────────────────────────────────────────────────────────┘");
    assert_eq!(b[(0, 8)].fg, Color::Red);
    assert_eq!(lines[23], " r resume (after re-authenticating) · e export · q quit                         ");
    // The errors table never shows the expiry: still the two real failures.
    assert_eq!(s.dashboard.progress.failed, 2);
    assert!(s.dashboard.visible().iter().all(|f| f.code != "ExpiredToken"));
    // r re-reads the credentials and continues from the journal.
    assert_eq!(key(&mut s, KeyCode::Char('r')), [Command::Engine(EngineCommand::Transfer(whole()))]);
    assert_eq!(s.dashboard.phase, RunPhase::Running);
    assert_eq!(s.dashboard.runs, 2);
    assert_eq!(s.dashboard.progress.failed, 0, "the resumed run counts afresh");
}

#[test]
fn the_error_table_filters_scrolls_and_exports() {
    let mut s = running();
    for i in 0..30 {
        send(&mut s, failure(&format!("bulk/k{i:02}.bin"), "AccessDenied", "denied by the bucket policy", 2));
    }
    key(&mut s, KeyCode::Char('/'));
    for c in "nosuch".chars() {
        key(&mut s, KeyCode::Char(c));
    }
    let lines = text(&render(&mut s, 80, 24));
    assert!(lines[13].starts_with("┌ Errors 32 · /nosuch · 1 shown ─"), "{}", lines[13]);
    assert!(lines[15].starts_with("│img/cat.png "), "{}", lines[15]);
    assert_eq!(lines[23], " type to filter the errors · Enter keep · Esc clear                             ");
    key(&mut s, KeyCode::Esc);
    assert_eq!(s.dashboard.visible().len(), 32);
    // Scrolling keeps the selection on screen.
    key(&mut s, KeyCode::End);
    let lines = text(&render(&mut s, 80, 24));
    assert!(lines[21].starts_with("│bulk/k29.bin "), "{}", lines[21]);
    // e asks for a file name; the export holds the filtered rows.
    key(&mut s, KeyCode::Char('/'));
    for c in "k0".chars() {
        key(&mut s, KeyCode::Char(c));
    }
    key(&mut s, KeyCode::Enter);
    assert!(key(&mut s, KeyCode::Char('e')).is_empty());
    for _ in 0.."s3ferry-errors.csv".len() {
        key(&mut s, KeyCode::Backspace);
    }
    for c in "errors.json".chars() {
        key(&mut s, KeyCode::Char(c));
    }
    let commands = key(&mut s, KeyCode::Enter);
    // Without a journal (none in this fixture) the export holds the rows kept in memory; with
    // one, the app reads every failure from it (tests/console_journey.rs).
    let [Command::Export { path, journal, filter, kept }] = commands.as_slice() else { panic!("{commands:?}") };
    assert_eq!((path.to_str(), journal, filter.as_str()), (Some("errors.json"), &None, "k0"));
    assert_eq!(kept.len(), 10, "k00..k09");
    assert_eq!(kept[0].key, "bulk/k00.bin");
    update(&mut s, Msg::Exported(Ok((10, "/home/op/errors.json".into()))));
    assert_eq!(text(&render(&mut s, 80, 24))[23].trim_end(), " 10 errors written to /home/op/errors.json");
}

#[test]
fn small_terminals_say_so_and_wide_ones_show_more() {
    for (w, h) in [(79, 24), (80, 23)] {
        let lines = text(&render(&mut running(), w, h)).join("");
        assert!(lines.contains(&format!("Terminal too small: {w}x{h}")), "{lines}");
    }
    let lines = text(&render(&mut running(), 160, 40));
    assert!(lines.iter().any(|l| l.contains("PutObject s3://datalake-raw/prod/logs/2025/11/app-01.json denied")));
}
