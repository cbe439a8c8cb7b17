//! Renders of the browse screen from fixed states, checked cell for cell with TestBackend.

mod screen;

use screen::{key, render, text};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ratatui::style::Color;
use s3ferry::core::credentials::{CredentialSource, classify};
use s3ferry::core::listing::{Entry, Location};
use s3ferry::core::side::Side;
use s3ferry::engine::events::EngineEvent;
use s3ferry::engine::session::{Identity, SessionInfo};
use s3ferry::ui::msg::Msg;
use s3ferry::ui::screens::browse::PaneState;
use s3ferry::ui::state::AppState;
use s3ferry::ui::update::{start, update};

const NOW: u64 = 1_764_094_860; // 2025-11-25 18:21 UTC

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn info(account: &str, arn: &str, via: &str, expires_in: Option<u64>, renews: bool) -> SessionInfo {
    let source = if renews { CredentialSource::Sso } else { CredentialSource::Environment };
    let mut lifetime = classify(source, expires_in.map(|s| at(NOW + s)), None);
    if expires_in.is_none() {
        lifetime = classify(CredentialSource::StaticKeys, None, None);
    }
    SessionInfo {
        identity: Identity { account: account.into(), arn: arn.into() },
        region: "eu-west-2".into(),
        via: via.into(),
        lifetime,
    }
}

fn obj(key: &str, size: u64) -> Entry {
    Entry::Object { key: key.into(), size, last_modified: Some(NOW as i64 - 86_400), storage_class: "STANDARD".into() }
}

/// Both panes connected and listed, as the console looks a moment after opening.
fn opened() -> AppState {
    let loc = |b: &str, p: &str| Location::Prefix { bucket: b.into(), prefix: p.into() };
    let mut state = AppState::new(
        "migration.toml",
        PaneState::new(Side::Source, loc("prod-data", "")),
        PaneState::new(Side::Destination, loc("datalake-raw", "prod/")),
        at(NOW),
    );
    let commands = start(&mut state);
    assert_eq!(commands.len(), 3, "each pane asks for its listing, and the preflight runs by itself");
    assert_eq!(commands[2], Command::Engine(EngineCommand::Preflight { probe: false }));
    let events = [
        EngineEvent::Connected {
            side: Side::Source,
            info: info("111111111111", "arn:aws:sts::111111111111:assumed-role/transfer/s3ferry", "source credentials", Some(3 * 3600 + 62), true),
        },
        EngineEvent::Connected {
            side: Side::Destination,
            info: info("222222222222", "arn:aws:iam::222222222222:user/auditor", "audit credentials", None, false),
        },
        EngineEvent::Listed {
            side: Side::Source,
            request: 1,
            entries: vec![
                Entry::Prefix { prefix: "exports/".into() },
                obj("README.md", 2048),
                Entry::Prefix { prefix: "models/".into() },
                obj("naïve café.csv", 150 * 1024 * 1024),
            ],
            more: true,
        },
        EngineEvent::ListFailed {
            side: Side::Destination,
            request: 2,
            error: "AccessDenied listing s3://datalake-raw/prod/ as arn:aws:iam::222222222222:user/auditor (account 222222222222)".into(),
        },
    ];
    for e in events {
        assert!(update(&mut state, Msg::Engine(e)).is_empty());
    }
    state
}

use crossterm::event::KeyCode;
use s3ferry::engine::runner::EngineCommand;
use s3ferry::ui::msg::Command;

#[test]
fn opened_console_at_80x24_cell_for_cell() {
    let buffer = render(&mut opened(), 80, 24);
    let expected = [
        " s3ferry · browse · migration.toml                          preflight: running… ",
        "┌ Source ──────────────────────────────┐┌ Destination ─────────────────────────┐",
        "│account 111111111111  region eu-west-2││account 222222222222  region eu-west-2│",
        "│arn:aws:sts::111111111111:assumed-rol…││arn:aws:iam::222222222222:user/auditor│",
        "│creds 3:01:02 renews                  ││creds no expiry                       │",
        "│via source credentials                ││via audit credentials                 │",
        "│s3://prod-data/                       ││s3://datalake-raw/prod/               │",
        "│exports/                              ││AccessDenied listing                  │",
        "│models/                               ││s3://datalake-raw/prod/ as            │",
        "│README.md                      2.0 KiB││arn:aws:iam::222222222222:user/auditor│",
        "│naïve café.csv               150.0 MiB││(account 222222222222)                │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│                                      ││                                      │",
        "│4 entries loaded, listing…            ││0 entries                             │",
        "└──────────────────────────────────────┘└──────────────────────────────────────┘",
        " Space mark · c cp · s sync · Enter open · ⌫ up · p preflight · ? help · q quit ",
    ];
    assert_eq!(text(&buffer), expected);
    // Focus, selection and urgency are carried by colour: check the cells that carry them.
    assert_eq!(buffer[(0, 1)].fg, Color::Cyan, "focused pane border");
    assert_eq!(buffer[(40, 1)].fg, Color::DarkGray, "unfocused pane border");
    assert_eq!(buffer[(1, 7)].bg, Color::Cyan, "selected row of the focused pane");
    assert_eq!(buffer[(7, 4)].fg, Color::Green, "more than an hour left");
    assert_eq!(buffer[(41, 7)].fg, Color::Red, "pane error");
}

#[test]
fn countdown_colour_follows_time_left() {
    // (seconds left, renews, text, colour): >1h green, <1h yellow, <10min red.
    let cases = [
        (7_200, false, "creds 2:00:00 expires", Color::Green),
        (1_800, true, "creds 0:30:00 renews", Color::Yellow),
        (300, false, "creds 0:05:00 expires", Color::Red),
    ];
    for (left, renews, want, colour) in cases {
        let mut s = opened();
        let lifetime = info("111111111111", "x", "v", Some(left), renews).lifetime;
        update(&mut s, Msg::Engine(EngineEvent::Lifetime { side: Side::Source, lifetime }));
        let b = render(&mut s, 80, 24);
        let row = &text(&b)[4];
        assert!(row.strip_prefix('│').is_some_and(|r| r.starts_with(want)), "{row}");
        assert_eq!(b[(7, 4)].fg, colour, "{want}");
    }
    // The clock moves: a tick re-renders the countdown, and at zero it says expired.
    let mut s = opened();
    update(&mut s, Msg::Tick(at(NOW + 3 * 3600 + 62)));
    assert!(text(&render(&mut s, 80, 24))[4].starts_with("│creds expired"));
}

#[test]
fn enter_descends_backspace_goes_up_and_stale_pages_are_dropped() {
    let mut s = opened();
    assert!(key(&mut s, KeyCode::Down).is_empty());
    let commands = key(&mut s, KeyCode::Enter);
    let models = Location::Prefix { bucket: "prod-data".into(), prefix: "models/".into() };
    assert_eq!(
        commands,
        [Command::Engine(EngineCommand::List { side: Side::Source, request: 3, location: models.clone() })]
    );
    // A late page of the old listing must not leak into the new one.
    update(
        &mut s,
        Msg::Engine(EngineEvent::Listed {
            side: Side::Source,
            request: 1,
            entries: vec![obj("stale", 1)],
            more: false,
        }),
    );
    update(
        &mut s,
        Msg::Engine(EngineEvent::Listed {
            side: Side::Source,
            request: 3,
            entries: vec![obj("models/m.bin", 5)],
            more: false,
        }),
    );
    let lines = text(&render(&mut s, 80, 24));
    assert!(lines[6].starts_with("│s3://prod-data/models/ "), "{}", lines[6]);
    assert!(lines[7].starts_with("│m.bin "), "{}", lines[7]);
    assert!(lines[21].starts_with("│1 entry "), "{}", lines[21]);
    // Enter on an object asks for its details (tests/ui_journey.rs); Esc closes them.
    let details = key(&mut s, KeyCode::Enter);
    assert!(matches!(details.as_slice(), [Command::Engine(EngineCommand::Details { request: 4, .. })]), "{details:?}");
    key(&mut s, KeyCode::Esc);
    // Backspace lists the parent.
    let up = key(&mut s, KeyCode::Backspace);
    let root = Location::Prefix { bucket: "prod-data".into(), prefix: String::new() };
    assert_eq!(up, [Command::Engine(EngineCommand::List { side: Side::Source, request: 5, location: root })]);
    // From a bucket's root, up is the bucket list.
    let up = key(&mut s, KeyCode::Backspace);
    assert_eq!(
        up,
        [Command::Engine(EngineCommand::List { side: Side::Source, request: 6, location: Location::Buckets })]
    );
}

#[test]
fn tab_switches_pane_and_keys_act_on_the_focused_one() {
    let mut s = opened();
    key(&mut s, KeyCode::Tab);
    assert_eq!(s.focus, Side::Destination);
    let b = render(&mut s, 80, 24);
    assert_eq!(b[(40, 1)].fg, Color::Cyan);
    key(&mut s, KeyCode::Char('j'));
    assert_eq!((s.pane(Side::Source).selected, s.pane(Side::Destination).selected), (0, 0), "empty pane stays at 0");
    key(&mut s, KeyCode::BackTab);
    key(&mut s, KeyCode::Char('j'));
    key(&mut s, KeyCode::End);
    assert_eq!(s.pane(Side::Source).selected, 3);
}

#[test]
fn filter_narrows_the_pane_and_esc_clears_it() {
    let mut s = opened();
    key(&mut s, KeyCode::Char('/'));
    for c in "CAF".chars() {
        key(&mut s, KeyCode::Char(c));
    }
    let lines = text(&render(&mut s, 80, 24));
    assert_eq!(lines[7], "│naïve café.csv               150.0 MiB││AccessDenied listing                  │");
    assert_eq!(lines[8], "│                                      ││s3://datalake-raw/prod/ as            │");
    assert_eq!(lines[20], "│150.0 MiB  2025-11-24 18:21  STANDARD ││                                      │");
    assert_eq!(lines[21], "│/CAF                                  ││0 entries                             │");
    assert_eq!(lines[23], " type to filter · Enter keep · Esc clear                                        ");
    // While typing, 'q' is text, not quit.
    assert!(key(&mut s, KeyCode::Char('q')).is_empty());
    key(&mut s, KeyCode::Esc);
    assert_eq!(s.pane(Side::Source).visible().len(), 4);
    assert_eq!(key(&mut s, KeyCode::Char('q')), [Command::Quit]);
}

#[test]
fn help_overlay_lists_every_key_and_is_modal() {
    let mut s = opened();
    key(&mut s, KeyCode::Char('?'));
    let lines = text(&render(&mut s, 80, 24)).join("\n");
    for b in s3ferry::ui::action::bindings(s.screen) {
        assert!(lines.contains(b.keys) && lines.contains(b.what), "help lacks {}: {}", b.keys, b.what);
    }
    assert!(key(&mut s, KeyCode::Tab).is_empty());
    assert_eq!(s.focus, Side::Source, "keys under the overlay do nothing");
    key(&mut s, KeyCode::Esc);
    assert!(!s.help);
}

#[test]
fn smaller_than_80x24_says_so() {
    for (w, h) in [(79, 24), (80, 23), (40, 10)] {
        let lines = text(&render(&mut opened(), w, h)).join("");
        assert!(lines.contains(&format!("Terminal too small: {w}x{h}")), "{lines}");
        assert!(lines.contains("80x24"));
    }
}

#[test]
fn wide_terminal_shows_every_column() {
    let lines = text(&render(&mut opened(), 160, 30));
    let row = &lines[9];
    assert!(
        row.contains("README.md")
            && row.contains("2.0 KiB")
            && row.contains("2025-11-24 18:21")
            && row.contains("STANDARD"),
        "{row}"
    );
}

#[test]
fn connection_failure_shows_in_its_pane_and_the_app_keeps_running() {
    let loc = Location::Prefix { bucket: "b".into(), prefix: String::new() };
    let mut s = AppState::new(
        "m.toml",
        PaneState::new(Side::Source, loc.clone()),
        PaneState::new(Side::Destination, loc),
        at(NOW),
    );
    start(&mut s);
    let error = "destination credentials: no answer from http://127.0.0.1:9 within 10 s. Check endpoint_url/region and the network.";
    update(&mut s, Msg::Engine(EngineEvent::ConnectFailed { side: Side::Destination, error: error.into() }));
    let lines = text(&render(&mut s, 80, 24));
    assert!(lines[2].ends_with("│destination credentials: no answer fr…│"), "{}", lines[2]);
    assert!(lines[7].ends_with("│destination credentials: no answer    │"), "{}", lines[7]);
    assert!(lines[2].starts_with("│connecting…"));
    assert!(key(&mut s, KeyCode::Down).is_empty());
}
