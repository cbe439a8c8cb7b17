//! The TUI loop: terminal and engine events in, `update`, then a redraw only when something
//! changed. Idle, it wakes once a second for the countdowns and nothing else.

use std::time::{Duration, SystemTime};

use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::core::listing::Location;
use crate::core::side::Side;
use crate::engine::runner;
use crate::engine::runner::TransferEnd;
use crate::ui::msg::{Command, Msg};
use crate::ui::screens::browse::{Connection, PaneState};
use crate::ui::screens::dashboard::RunPhase;
use crate::ui::screens::frame;
use crate::ui::screens::plan::{PlanState, TransferSetup};
use crate::ui::state::{AppState, Screen};
use crate::ui::terminal::TerminalGuard;
use crate::ui::update::{start, start_transfer, update};

/// The state the console opens in: each pane on its configured bucket and prefix.
pub fn initial_state(config: &Config, now: SystemTime) -> AppState {
    let at = |bucket: &str, prefix: &str| Location::Prefix { bucket: bucket.to_string(), prefix: prefix.to_string() };
    let title = config.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut state = AppState::new(
        title,
        PaneState::new(Side::Source, at(&config.source.bucket, &config.source.prefix)),
        PaneState::new(Side::Destination, at(&config.destination.bucket, &config.destination.prefix)),
        now,
    );
    state.batch.target = crate::engine::batch::BatchTarget::from_config(config)
        .map(|t| format!("manifest s3://{}/{} · role {}", t.manifest_bucket, t.prefix, t.role_arn));
    state.probe_target = format!("s3://{}/{}", config.destination.bucket, crate::engine::probe::probe_prefix(config));
    state
}

/// While a run is active, redraw at most this often (about ten times a second).
const FRAME: Duration = Duration::from_millis(100);

/// The console, opened on the browse screen; `t` plans a transfer with the config's settings.
pub async fn run(config: &Config) -> std::io::Result<()> {
    let prices = crate::core::cost::PriceTable::builtin();
    let setup = TransferSetup::from_config(config, config.transfer.mode, prices, None);
    let (events_tx, events) = mpsc::unbounded_channel();
    let engine = runner::spawn(config, events_tx);
    let mut state = initial_state(config, SystemTime::now());
    state.plan = Some(PlanState::new(setup));
    let pending = start(&mut state);
    run_loop(state, engine, events, pending).await.map(|_| ())
}

/// `s3ferry cp|sync` in a terminal: the console opened on the plan screen. Returns how the
/// last run ended (`None` when the operator quit before starting one).
pub async fn run_transfer(
    config: &Config,
    opts: crate::engine::copier::Options,
    setup: TransferSetup,
) -> std::io::Result<Option<(TransferEnd, u64)>> {
    let (events_tx, events) = mpsc::unbounded_channel();
    let engine = runner::spawn_with(config, opts, events_tx);
    let mut state = initial_state(config, SystemTime::now());
    state.plan = Some(PlanState::new(setup));
    let pending = start_transfer(&mut state);
    let state = run_loop(state, engine, events, pending).await?;
    let failed = state.dashboard.progress.failed;
    let end = match state.dashboard.phase {
        RunPhase::Ended(end) => Some(end),
        RunPhase::Halted { hint } => Some(TransferEnd {
            interrupted: true,
            hint: Some(hint),
            halted: state.dashboard.progress.halted,
            ..TransferEnd::default()
        }),
        RunPhase::Running | RunPhase::Cancelling => Some(TransferEnd { interrupted: true, ..TransferEnd::default() }),
        RunPhase::Idle => None,
    };
    Ok(end.map(|e| (e, failed)))
}

async fn run_loop(
    mut state: AppState,
    engine: mpsc::UnboundedSender<crate::engine::runner::EngineCommand>,
    mut events: mpsc::UnboundedReceiver<crate::engine::events::EngineEvent>,
    mut pending: Vec<Command>,
) -> std::io::Result<AppState> {
    let mut guard = TerminalGuard::enter()?;
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut hangup = signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut terminate = signal(tokio::signal::unix::SignalKind::terminate())?;

    let mut pending_msgs: Vec<Msg> = Vec::new();
    let mut dirty = true;
    let mut last_draw = tokio::time::Instant::now() - FRAME;
    loop {
        for command in pending.drain(..) {
            match command {
                Command::Quit => return Ok(state),
                Command::Engine(c) => {
                    let _ = engine.send(c);
                }
                Command::WriteFile { path, contents } => {
                    let written = write_private(&path, &contents)
                        .map(|()| path.display().to_string())
                        .map_err(|e| format!("cannot write {}: {e}", path.display()));
                    pending_msgs.push(Msg::Written(written));
                }
            }
        }
        for msg in pending_msgs.drain(..) {
            pending.extend(update(&mut state, msg));
            dirty = true;
        }
        // A run sends events all the time: draw at most every FRAME then, and only when
        // something changed otherwise. Drawing never holds up the engine (it has its own tasks
        // and an unbounded channel).
        let throttle = state.dashboard.active() || matches!(state.screen, Screen::Plan);
        let due = last_draw + FRAME;
        if dirty && (!throttle || tokio::time::Instant::now() >= due) {
            state.now = SystemTime::now().max(state.now);
            guard.terminal.draw(|f| frame::render(f, &mut state))?;
            dirty = false;
            last_draw = tokio::time::Instant::now();
        }
        let redraw_at = if dirty { due } else { tokio::time::Instant::now() + Duration::from_secs(3600) };
        let msg = tokio::select! {
            key = keys.next() => match key {
                Some(Ok(Event::Key(k))) => Msg::Key(k),
                Some(Ok(Event::Resize(..))) => Msg::Resize,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => return Ok(state),
            },
            _ = tokio::time::sleep_until(redraw_at), if dirty => continue,
            Some(event) = events.recv() => Msg::Engine(event),
            _ = tick.tick() => {
                if !shows_countdown(&state) && !state.dashboard.active() && state.screen != Screen::Plan {
                    continue;
                }
                Msg::Tick(SystemTime::now())
            }
            // An SSH drop sends SIGHUP: leave the terminal as we found it.
            _ = hangup.recv() => return Ok(state),
            _ = terminate.recv() => return Ok(state),
        };
        pending = update(&mut state, msg);
        // Pages and transfer events arrive in bursts: fold everything already queued into one
        // redraw (bounded, so keys stay responsive under a flood).
        for _ in 0..10_000 {
            let Ok(event) = events.try_recv() else { break };
            pending.extend(update(&mut state, Msg::Engine(event)));
        }
        dirty = true;
    }
}

/// Fix documents name accounts and ARNs: keep them readable by the operator only.
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

fn signal(kind: tokio::signal::unix::SignalKind) -> std::io::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind)
}

fn shows_countdown(state: &AppState) -> bool {
    state.panes.iter().any(|p| matches!(&p.connection, Connection::Connected(i) if i.lifetime.expires_at.is_some()))
}
