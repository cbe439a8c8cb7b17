//! The Preflight screen from fixed reports, cell for cell, and its keys.

mod screen;

use screen::key;
use std::time::{Duration, UNIX_EPOCH};

use crossterm::event::KeyCode;
use s3ferry::core::listing::Location;
use s3ferry::core::policy::PolicyKind;
use s3ferry::core::preflight::checks::{Area, CHECKS, Check, FixOut, Report, Status, Verdict};
use s3ferry::core::side::Side;
use s3ferry::engine::events::EngineEvent;
use s3ferry::engine::runner::EngineCommand;
use s3ferry::ui::msg::{Command, Msg};
use s3ferry::ui::screens::browse::PaneState;
use s3ferry::ui::state::{AppState, Screen};
use s3ferry::ui::update::{start, update};

const ROLE: &str = "arn:aws:iam::111111111111:role/transfer";
const KEY: &str = "arn:aws:kms:eu-west-2:222222222222:key/k-1";

fn report() -> Report {
    let checks = CHECKS
        .iter()
        .map(|def| {
            let id = def.id;
            let mut c = Check {
                id,
                side: def.area,
                status: Status::Pass,
                summary: format!("{id} ok"),
                detail: vec![],
                fix: None,
                fixes: vec![],
            };
            if id == "destination.key_policy" {
                c.status = Status::Fail;
                c.summary = "the key policy does not let the role use the key".into();
                c.detail = vec!["no statement allows kms:GenerateDataKey".into()];
                let fix = FixOut {
                    account: "222222222222".into(),
                    policy: PolicyKind::Key,
                    target: format!("the key policy of {KEY}"),
                    json: format!("{{\n  \"Effect\": \"Allow\",\n  \"Principal\": {{\"AWS\": \"{ROLE}\"}}\n}}"),
                    terraform: "statement {\n  effect = \"Allow\"\n}".into(),
                };
                c.fix = Some(fix.clone());
                c.fixes = vec![fix];
            }
            if id == "destination.public_access" {
                c.status = Status::Unknown;
                c.summary = "the public access block could not be read".into();
            }
            c
        })
        .collect();
    Report {
        verdict: Verdict::Blocked,
        principal: "arn:aws:sts::111111111111:assumed-role/transfer/s3ferry".into(),
        checks,
        probes: vec![],
    }
}

fn state_with_report() -> AppState {
    let loc = Location::Prefix { bucket: "prod-data".into(), prefix: String::new() };
    let mut s = AppState::new(
        "migration.toml",
        PaneState::new(Side::Source, loc.clone()),
        PaneState::new(Side::Destination, loc),
        UNIX_EPOCH + Duration::from_secs(1_764_094_860),
    );
    start(&mut s);
    update(&mut s, Msg::Engine(EngineEvent::Preflight(Box::new(report()))));
    s
}

/// The screen at 80x24, one string per row.
fn text(s: &mut AppState) -> Vec<String> {
    screen::text(&screen::render(s, 80, 24))
}

#[test]
fn checks_grouped_by_account_with_the_selected_fix_beside_them() {
    let mut s = state_with_report();
    assert_eq!(key(&mut s, KeyCode::Char('p')), []);
    assert_eq!(s.screen, Screen::Preflight);
    for _ in 0..9 {
        key(&mut s, KeyCode::Down);
    }
    let expected = [
        " s3ferry · preflight · migration.toml               preflight: BLOCKED (1 fail) ",
        "┌ Checks ──────────────────────────┐┌ destination.key_policy ──────────────────┐",
        "│Source account                    ││FAIL the key policy does not let the role │",
        "│ PASS source.role                 ││use the key                               │",
        "│ PASS source.read                 ││                                          │",
        "│ PASS source.key                  ││no statement allows kms:GenerateDataKey   │",
        "│ PASS source.policy.write         ││                                          │",
        "│ PASS source.policy.key           ││Fix: in account 222222222222, add to the  │",
        "│ PASS source.endpoint             ││key policy of                             │",
        "│Destination account               ││arn:aws:kms:eu-west-2:222222222222:key/k-1│",
        "│ PASS destination.bucket          ││:                                         │",
        "│ PASS destination.encryption      ││{                                         │",
        "│ PASS destination.bucket_policy   ││  \"Effect\": \"Allow\",                      │",
        "│ FAIL destination.key_policy      ││  \"Principal\": {\"AWS\":                    │",
        "│ PASS destination.ownership       ││\"arn:aws:iam::111111111111:role/transfer\"}│",
        "│   ?  destination.public_access   ││}                                         │",
        "│ PASS destination.endpoint        ││                                          │",
        "│Organization (SCPs, RCPs)         ││                                          │",
        "│ PASS organization.scp            ││                                          │",
        "│ PASS organization.rcp            ││                                          │",
        "│Credentials                       ││                                          │",
        "│ PASS credentials.lifetime        ││                                          │",
        "└──────────────────────────────────┘└──────────────────────────────────────────┘",
        " ↑↓ select · Enter detail · r rerun · w write fixes · p browse · ? help · q quit",
    ];
    assert_eq!(text(&mut s), expected);
}

#[test]
fn enter_opens_the_detail_and_esc_closes_it() {
    let mut s = state_with_report();
    key(&mut s, KeyCode::Char('p'));
    for _ in 0..9 {
        key(&mut s, KeyCode::Down);
    }
    key(&mut s, KeyCode::Enter);
    let lines = text(&mut s);
    assert_eq!(lines[1], "┌ destination.key_policy ──────────────────────────────────────────────────────┐");
    assert_eq!(lines[2], "│FAIL the key policy does not let the role use the key                         │");
    assert_eq!(lines[6], "│Fix: in account 222222222222, add to the key policy of                        │");
    assert_eq!(lines[7], "│arn:aws:kms:eu-west-2:222222222222:key/k-1:                                   │");
    assert_eq!(lines[23], " ↑↓ scroll · Enter/Esc close · r rerun · w write fixes                          ");
    // ↓ scrolls the detail rather than moving the selection.
    key(&mut s, KeyCode::Down);
    assert_eq!(text(&mut s)[2], "│                                                                              │");
    assert_eq!(s.preflight.selected_check().unwrap().id, "destination.key_policy");
    key(&mut s, KeyCode::Esc);
    assert!(s.preflight.detail.is_none());
    assert_eq!(s.screen, Screen::Preflight);
    key(&mut s, KeyCode::Esc);
    assert_eq!(s.screen, Screen::Browse, "Esc from the list goes back to browsing");
}

#[test]
fn w_writes_every_fix_to_the_named_file() {
    let mut s = state_with_report();
    key(&mut s, KeyCode::Char('p'));
    key(&mut s, KeyCode::Char('w'));
    let lines = text(&mut s);
    assert!(lines.iter().any(|l| l.contains("Write all fixes to (Enter writes, Esc cancels)")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("│s3ferry-fixes.md")), "the default name is offered");
    // Typing edits the name ('q' is text here, not quit); Enter asks the loop to write it.
    for _ in 0.."s3ferry-fixes.md".len() {
        key(&mut s, KeyCode::Backspace);
    }
    for c in "dl-fixes-q.md".chars() {
        assert_eq!(key(&mut s, KeyCode::Char(c)), []);
    }
    let commands = key(&mut s, KeyCode::Enter);
    let [Command::WriteFile { path, contents }] = commands.as_slice() else { panic!("{commands:?}") };
    assert_eq!(path.to_str(), Some("dl-fixes-q.md"));
    assert!(contents.contains("## destination.key_policy"), "{contents}");
    assert!(contents.contains("Apply in account 222222222222"), "{contents}");
    assert!(contents.contains(ROLE) && contents.contains("```hcl"), "{contents}");
    update(&mut s, Msg::Written(Ok("dl-fixes-q.md".into())));
    assert_eq!(text(&mut s)[23].trim_end(), " fixes written to dl-fixes-q.md");
}

#[test]
fn r_reruns_and_the_badge_follows() {
    let mut s = state_with_report();
    key(&mut s, KeyCode::Char('p'));
    assert_eq!(key(&mut s, KeyCode::Char('r')), [Command::Engine(EngineCommand::Preflight { probe: false })]);
    assert!(text(&mut s)[0].contains("preflight: running…"));
    assert_eq!(key(&mut s, KeyCode::Char('r')), [], "no second run while one is running");
    let mut ready = report();
    ready.verdict = Verdict::Ready;
    ready.checks.iter_mut().for_each(|c| {
        c.status = Status::Pass;
        c.fix = None;
        c.fixes.clear();
    });
    update(&mut s, Msg::Engine(EngineEvent::Preflight(Box::new(ready))));
    assert!(text(&mut s)[0].ends_with("preflight: READY "));
}

#[test]
fn probes_run_only_after_an_explicit_yes() {
    let mut s = state_with_report();
    s.probe_target = "s3://datalake-raw/prod/.s3ferry-probe/".into();
    key(&mut s, KeyCode::Char('p'));
    assert_eq!(key(&mut s, KeyCode::Char('P')), [], "P only asks");
    let screen = text(&mut s).join("\n");
    assert!(
        screen.contains("Run live probes?") && screen.contains("s3://datalake-raw/prod/.s3ferry-probe/"),
        "{screen}"
    );
    assert!(screen.contains("y runs the probes; any other key cancels."), "{screen}");
    // Enter is not yes.
    assert_eq!(key(&mut s, KeyCode::Enter), []);
    assert_eq!(text(&mut s)[23].trim_end(), " probes cancelled: nothing was written");
    key(&mut s, KeyCode::Char('P'));
    assert_eq!(key(&mut s, KeyCode::Char('y')), [Command::Engine(EngineCommand::Preflight { probe: true })]);
    // Results come back as their own group.
    let mut with_probes = report();
    with_probes.probes = vec![Check {
        id: "probe.put",
        side: Area::Probes,
        status: Status::Pass,
        summary: "a zero-byte PutObject with the copier's headers succeeded".into(),
        detail: vec![],
        fix: None,
        fixes: vec![],
    }];
    update(&mut s, Msg::Engine(EngineEvent::Preflight(Box::new(with_probes))));
    // The last group, below the others: the end of the list shows it.
    key(&mut s, KeyCode::End);
    let lines = text(&mut s);
    let at = lines.iter().position(|l| l.starts_with("│Live probes ")).unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(lines[at + 1].starts_with("│ PASS probe.put                   ││"), "{lines:#?}");
    assert!(lines[2].contains("PASS a zero-byte PutObject"), "the selected probe's detail beside: {lines:#?}");
}
