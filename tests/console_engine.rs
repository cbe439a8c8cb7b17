//! The console's state machine driven against the real engine and the emulator, without a
//! terminal: the plan completes, `y` starts the run, `p` pauses dispatching (only requests in
//! flight finish) and resumes it, and a confirmed `c` cancels with the journal kept.

mod support;

use std::time::{Duration, Instant, SystemTime};

use crossterm::event::{KeyCode, KeyEvent};
use s3ferry::config::Config;
use s3ferry::core::cost::PriceTable;
use s3ferry::core::progress::Mode;
use s3ferry::engine::copier::{Options, ResumePolicy};
use s3ferry::engine::events::EngineEvent;
use s3ferry::engine::runner::{self, EngineCommand};
use s3ferry::ui::app::initial_state;
use s3ferry::ui::msg::{Command, Msg};
use s3ferry::ui::screens::dashboard::RunPhase;
use s3ferry::ui::screens::plan::{PlanPhase, PlanState};
use s3ferry::ui::state::{AppState, Screen};
use s3ferry::ui::update::{start_transfer, update};
use support::world::{self, Names, Steps};
use support::{PROD, Workspace, moto, unique};
use tokio::sync::mpsc;

const OBJECTS: usize = 300;

struct Console {
    state: AppState,
    engine: mpsc::UnboundedSender<EngineCommand>,
    events: mpsc::UnboundedReceiver<EngineEvent>,
}

impl Console {
    fn forward(&self, commands: Vec<Command>) {
        for c in commands {
            if let Command::Engine(c) = c {
                self.engine.send(c).expect("the engine is running");
            }
        }
    }

    fn key(&mut self, code: KeyCode) {
        let commands = update(&mut self.state, Msg::Key(KeyEvent::from(code)));
        self.forward(commands);
    }

    /// Feeds engine events (and the clock) into `update` until `done` holds.
    async fn pump_until(&mut self, what: &str, deadline: Duration, done: impl Fn(&AppState) -> bool) {
        let until = Instant::now() + deadline;
        while !done(&self.state) {
            assert!(Instant::now() < until, "timed out waiting for {what}: {:?}", self.state.dashboard.phase);
            update(&mut self.state, Msg::Tick(SystemTime::now()));
            if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(50), self.events.recv()).await {
                let commands = update(&mut self.state, Msg::Engine(e));
                self.forward(commands);
            }
        }
    }

    /// Feeds events for a while, whatever they are.
    async fn pump_for(&mut self, d: Duration) {
        let until = Instant::now() + d;
        self.pump_until("time to pass", d + Duration::from_secs(5), |_| Instant::now() >= until).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_start_pause_resume_and_confirmed_cancel() {
    let (src, dst, role, op, aud) =
        (unique("con-src"), unique("con-dst"), unique("transfer"), unique("operator"), unique("auditor"));
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
    let puts = (0..OBJECTS).map(|i| {
        let (prod, bucket) = (prod.clone(), m.source_bucket.clone());
        async move { world::put(&prod, &bucket, &format!("c/obj-{i:04}"), vec![b'c'; 64]).await }
    });
    futures::future::join_all(puts).await;
    let mut ws = Workspace::new();
    ws.profile("operator", &m.operator).profile("auditor", &m.auditor);
    let path =
        ws.write("migration.toml", &format!("{}\n[transfer]\nconcurrency = 2\n", m.config_toml(&moto().endpoint, "")));
    // SAFETY: this binary's only test sets these before the engine (and any SDK thread) starts.
    for (k, v) in ws.env() {
        if k.starts_with("AWS_") {
            unsafe { std::env::set_var(k, v) };
        }
    }
    let config = Config::load(&path).unwrap();
    let opts =
        Options { mode: Mode::Cp, settings: config.transfer.clone(), dry_run: false, resume: ResumePolicy::Fresh };
    let (tx, events) = mpsc::unbounded_channel();
    let engine = runner::spawn_with(&config, opts, tx);
    let mut state = initial_state(&config, SystemTime::now());
    state.plan = Some(PlanState::new(config.transfer_setup(Mode::Cp, PriceTable::builtin(), None)));
    let commands = start_transfer(&mut state);
    let mut c = Console { state, engine, events };
    c.forward(commands);

    c.pump_until("the plan", Duration::from_secs(60), |s| s.plan.as_ref().unwrap().phase == PlanPhase::Ready).await;
    let plan = c.state.plan.as_ref().unwrap();
    assert_eq!(plan.shape.copy_objects, OBJECTS as u64);
    assert!(plan.lifetimes[0].as_ref().is_some_and(|l| l.renews), "the plan knows the source renews");
    assert!(s3ferry_dest_is_empty(&m).await, "planning writes nothing");

    // y starts; when the preflight is not READY (or not finished) it asks once more.
    c.key(KeyCode::Char('y'));
    if c.state.plan.as_ref().unwrap().confirm.is_some() {
        c.key(KeyCode::Char('y'));
    }
    assert_eq!(c.state.screen, Screen::Dashboard);
    c.pump_until("some copies", Duration::from_secs(60), |s| s.dashboard.progress.copied >= 20).await;

    c.key(KeyCode::Char('p'));
    c.pump_until("the pause", Duration::from_secs(20), |s| s.dashboard.progress.paused).await;
    // Let what was in flight land, then nothing more may start.
    c.pump_for(Duration::from_millis(500)).await;
    let held = c.state.dashboard.progress.copied;
    c.pump_for(Duration::from_millis(1_500)).await;
    assert_eq!(c.state.dashboard.progress.copied, held, "paused: no new object was dispatched");
    assert!(held < OBJECTS as u64);

    c.key(KeyCode::Char('p'));
    c.pump_until("the run to go on", Duration::from_secs(30), |s| s.dashboard.progress.copied >= held + 10).await;
    assert!(!c.state.dashboard.progress.paused);

    // c asks; y confirms; the run ends with the journal kept.
    c.key(KeyCode::Char('c'));
    assert!(c.state.dashboard.confirm_cancel);
    c.key(KeyCode::Char('y'));
    assert_eq!(c.state.dashboard.phase, RunPhase::Cancelling);
    c.pump_until("the cancel", Duration::from_secs(30), |s| matches!(s.dashboard.phase, RunPhase::Ended(_))).await;
    let RunPhase::Ended(end) = &c.state.dashboard.phase else { unreachable!() };
    assert!(end.interrupted, "{end:?}");
    assert!(end.journal.as_deref().is_some_and(|j| std::path::Path::new(j).join("done.jsonl").exists()), "{end:?}");
    let p = &c.state.dashboard.progress;
    assert!(p.copied < OBJECTS as u64 && p.failed == 0, "copied {} failed {}", p.copied, p.failed);
}

async fn s3ferry_dest_is_empty(m: &world::Migration) -> bool {
    let lake = moto().s3(support::LAKE);
    let out = lake.list_objects_v2().bucket(&m.destination_bucket).send().await.expect("list");
    out.key_count().unwrap_or(0) == 0
}
