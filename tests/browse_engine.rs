//! The browse screen driven by the real engine against the emulator: events in, update, render.
//! One test per binary: it points the AWS SDK at its own profile files through the environment.

mod support;

use std::time::{Duration, Instant, SystemTime};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use s3ferry::config::Config;
use s3ferry::core::side::Side;
use s3ferry::engine::events::EngineEvent;
use s3ferry::engine::runner::{self, EngineCommand};
use s3ferry::ui::app::initial_state;
use s3ferry::ui::msg::{Command, Msg};
use s3ferry::ui::screens::browse::Connection;
use s3ferry::ui::screens::frame;
use s3ferry::ui::state::AppState;
use s3ferry::ui::update::{start, update};
use support::world::{self, Steps};
use support::{LAKE, PROD, moto};
use tokio::sync::mpsc;

fn screen(state: &mut AppState) -> String {
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| frame::render(f, state)).unwrap();
    let b = t.backend().buffer();
    b.content.chunks(80).map(|r| r.iter().map(|c| c.symbol()).collect::<String>()).collect::<Vec<_>>().join("\n")
}

/// Feeds engine events into `update` until `done` holds, forwarding commands to the engine.
async fn pump(
    state: &mut AppState,
    events: &mut mpsc::UnboundedReceiver<EngineEvent>,
    engine: &mpsc::UnboundedSender<EngineCommand>,
    mut seen: impl FnMut(&AppState, &EngineEvent),
    done: impl Fn(&AppState) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(state) {
        let left = deadline.saturating_duration_since(Instant::now());
        let event =
            tokio::time::timeout(left, events.recv()).await.expect("engine went quiet").expect("engine stopped");
        seen(state, &event);
        for c in update(state, Msg::Engine(event)) {
            if let Command::Engine(c) = c {
                engine.send(c).unwrap();
            }
        }
    }
}

fn idle(state: &AppState) -> bool {
    state.panes.iter().all(|p| matches!(p.connection, Connection::Connected(_)) && !p.loading)
}

#[tokio::test(flavor = "multi_thread")]
async fn both_accounts_browse_side_by_side() {
    let (m, ws) = world::scenario(Steps::ALL).await;
    let (src, dst) = (m.source_bucket.clone(), m.destination_bucket.clone());
    let prod = moto().s3(PROD);
    world::put_many(&prod, &src, (0..1_500).map(|i| (format!("events/2024/e-{i:04}.json"), vec![1; 10]))).await;
    for key in ["reports/Q1 summary (final).csv", "unicode/naïve café.txt", "top.bin"] {
        world::put(&prod, &src, key, vec![0; 4096]).await;
    }
    world::put(&moto().s3(LAKE), &dst, "prod/already-there.csv", vec![0; 100]).await;

    let path = ws.write("migration.toml", &m.config_toml(&moto().endpoint, ""));
    // SAFETY: this binary's only test sets these before the engine (and any SDK thread) starts.
    for (k, v) in ws.env() {
        if k.starts_with("AWS_") {
            unsafe { std::env::set_var(k, v) };
        }
    }
    let config = Config::load(&path).unwrap();

    let (tx, mut events) = mpsc::unbounded_channel();
    let engine = runner::spawn(&config, tx);
    let mut state = initial_state(&config, SystemTime::now());
    for c in start(&mut state) {
        if let Command::Engine(c) = c {
            engine.send(c).unwrap();
        }
    }
    pump(&mut state, &mut events, &engine, |_, _| {}, idle).await;
    let shown = screen(&mut state);
    for needle in [
        "account 111111111111",
        "account 222222222222",
        "via source credentials",
        "via audit credentials",
        &format!("s3://{src}/"),
        "events/",
        "reports/",
        "unicode/",
        "top.bin",
        "already-there.csv",
        "renews",
        "no expiry",
    ] {
        assert!(shown.contains(needle), "{needle:?} missing from\n{shown}");
    }

    // Descend into events/ then 2024/ (1,500 objects): pages arrive one at a time, and while the
    // rest is still listing the pane already shows the first page and says how many are loaded.
    let enter = || Msg::Key(crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Enter));
    let forward = |cmds: Vec<Command>| {
        for c in cmds {
            if let Command::Engine(c) = c {
                engine.send(c).unwrap();
            }
        }
    };
    forward(update(&mut state, enter()));
    pump(&mut state, &mut events, &engine, |_, _| {}, idle).await;
    assert!(screen(&mut state).contains("2024/"));
    forward(update(&mut state, enter()));
    let mut mid_listing = None;
    let mut capture = |s: &AppState, e: &EngineEvent| {
        if mid_listing.is_none() && matches!(e, EngineEvent::Listed { more: true, .. }) {
            let mut after = s.clone();
            update(&mut after, Msg::Engine(e.clone()));
            mid_listing = Some(screen(&mut after));
        }
    };
    pump(&mut state, &mut events, &engine, &mut capture, idle).await;
    let mid = mid_listing.expect("a 1,500-object prefix arrives in more than one page");
    assert!(mid.contains("1000 entries loaded, listing…"), "{mid}");
    assert!(mid.contains("e-0000.json"), "{mid}");
    let shown = screen(&mut state);
    assert!(shown.contains(&format!("s3://{src}/events/2024/")), "{shown}");
    assert!(shown.contains("1500 entries "), "{shown}");
    assert_eq!(state.pane(Side::Source).loaded(), 1_500);

    // Enter on an object: its details from HeadObject.
    forward(update(&mut state, enter()));
    pump(
        &mut state,
        &mut events,
        &engine,
        |_, _| {},
        |s| s.pane(Side::Source).details.as_ref().is_some_and(|d| d.details.is_some()),
    )
    .await;
    let details = state.pane(Side::Source).details.clone().unwrap().details.unwrap().expect("HeadObject answers");
    assert_eq!((details.key.as_str(), details.size), ("events/2024/e-0000.json", 10));
    assert!(screen(&mut state).contains("Object (Esc closes · T tags)"));
    let key = |code| Msg::Key(crossterm::event::KeyEvent::from(code));
    forward(update(&mut state, key(crossterm::event::KeyCode::Esc)));
    // Up to events/, then z counts what 2024/ holds, page by page, to the end.
    forward(update(&mut state, key(crossterm::event::KeyCode::Backspace)));
    pump(&mut state, &mut events, &engine, |_, _| {}, idle).await;
    forward(update(&mut state, key(crossterm::event::KeyCode::Char('z'))));
    pump(&mut state, &mut events, &engine, |_, _| {}, |s| s.pane(Side::Source).totals.as_ref().is_some_and(|t| t.done))
        .await;
    let totals = state.pane(Side::Source).totals.clone().unwrap();
    assert_eq!((totals.prefix.as_str(), totals.objects, totals.bytes), ("events/2024/", 1_500, 15_000));
    assert!(screen(&mut state).contains("2024/: 1,500 objects, 14.6 KiB"), "{}", screen(&mut state));
}
