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
    let setup = config.transfer_setup(config.transfer.mode, prices, None);
    let (events_tx, events) = mpsc::unbounded_channel();
    let engine = runner::spawn(config, events_tx);
    let mut state = initial_state(config, SystemTime::now());
    state.plan = Some(PlanState::new(setup));
    let pending = start(&mut state);
    let state = run_loop(state, engine, events, pending).await?;
    print_summary(&state);
    Ok(())
}

/// After the console closes, what the run did stays in the terminal's scrollback.
fn print_summary(state: &AppState) {
    use std::io::Write;
    let Some(text) = summary_text(state) else { return };
    // The terminal may be gone (SSH drop): nothing to do about a failed write then.
    let _ = std::io::stdout().write_all(text.as_bytes());
}

/// The summary printed on exit, `None` when no run started.
pub fn summary_text(state: &AppState) -> Option<String> {
    use crate::core::units::{format_count, format_size};
    let d = &state.dashboard;
    if d.runs == 0 {
        return None;
    }
    let p = &d.progress;
    let mode = p.mode.or(d.request.as_ref().map(|r| r.mode)).map(|m| m.as_str()).unwrap_or("run");
    // The run's own scope (a plan made afterwards and not started names another).
    let what = match &state.plan {
        Some(plan) => {
            let (from, to) = plan.setup.pair.describe(d.request.as_ref().and_then(|r| r.scope.as_ref()));
            format!("{mode} {from} → {to}")
        }
        None => mode.to_string(),
    };
    let (secs, objects_per_s, _) = d.average(state.now);
    let state_word = d.badge().unwrap_or_default();
    let mut out = format!("s3ferry: {what}: {}\n", state_word.split_once(' ').map(|(_, w)| w).unwrap_or(&state_word));
    out.push_str(&format!(
        "s3ferry: copied {} objects ({}), skipped {}, failed {}, done before {} ({}), in {:.1} s ({:.1} objects/s on average)\n",
        format_count(p.copied),
        format_size(p.bytes_copied),
        format_count(p.skipped + p.planned_skip),
        format_count(p.failed),
        format_count(p.already_done),
        format_size(p.already_done_bytes),
        secs,
        objects_per_s,
    ));
    if let RunPhase::Ended(end) = &d.phase {
        if let Some(v) = &end.verify {
            out.push_str(&format!("s3ferry: verified {} objects: {} mismatches\n", v.checked, v.mismatches.len()));
        }
        if let Some(j) = &end.journal {
            let again = if d.request.as_ref().is_some_and(|r| r.scope.is_some()) {
                "mark the same prefixes and objects again in the console (c or s) to retry what is not done"
            } else {
                "rerun the same command to retry what is not done"
            };
            out.push_str(&format!("s3ferry: journal kept in {j}: {again}\n"));
        }
    }
    Some(out)
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
    print_summary(&state);
    let failed = state.dashboard.progress.failed;
    // Ctrl-C in a run is a key in the console's raw mode; it counts as SIGINT all the same.
    let signal = state.signal.or(state.dashboard.quit_when_stopped.then_some(2).filter(|_| state.ctrl_c));
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
    Ok(end.map(|e| (TransferEnd { signal: signal.filter(|_| e.interrupted), ..e }, failed)))
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
                        .map(|()| absolute(&path))
                        .map_err(|e| format!("cannot write {}: {e}", path.display()));
                    pending_msgs.push(Msg::Written(written));
                }
                Command::Export { path, journal, filter, kept } => {
                    pending_msgs.push(Msg::Exported(export_errors(&path, journal.as_deref(), &filter, kept)));
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
                // The terminal is gone (an SSH drop can close it before SIGHUP arrives): stop
                // the run as the signal would.
                Some(Err(_)) | None => return Ok(stop_run(state, &engine, &mut events, 1).await),
            },
            _ = tokio::time::sleep_until(redraw_at), if dirty => continue,
            Some(event) = events.recv() => Msg::Engine(event),
            _ = tick.tick() => {
                if !shows_countdown(&state) && !state.dashboard.active() && state.screen != Screen::Plan {
                    continue;
                }
                Msg::Tick(SystemTime::now())
            }
            // An SSH drop sends SIGHUP: stop the run as a cancel would (requests in flight
            // finish, the journal is saved), then leave the terminal as we found it.
            _ = hangup.recv() => return Ok(stop_run(state, &engine, &mut events, 1).await),
            _ = terminate.recv() => return Ok(stop_run(state, &engine, &mut events, 15).await),
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

/// How long a signal waits for the requests in flight before leaving anyway (the journal
/// already holds every finished copy).
const STOP_WAIT: Duration = Duration::from_secs(30);

/// SIGHUP or SIGTERM: cancel a run and wait (bounded) for it to end, so nothing in flight is
/// abandoned and copied again by the resume.
async fn stop_run(
    mut state: AppState,
    engine: &mpsc::UnboundedSender<crate::engine::runner::EngineCommand>,
    events: &mut mpsc::UnboundedReceiver<crate::engine::events::EngineEvent>,
    signal: i32,
) -> AppState {
    if !state.dashboard.active() {
        return state;
    }
    state.signal = Some(signal);
    let _ = engine.send(crate::engine::runner::EngineCommand::Cancel);
    state.dashboard.phase = RunPhase::Cancelling;
    let until = tokio::time::Instant::now() + STOP_WAIT;
    while state.dashboard.active() {
        match tokio::time::timeout_at(until, events.recv()).await {
            Ok(Some(event)) => {
                update(&mut state, Msg::Engine(event));
            }
            _ => break,
        }
    }
    state
}

/// Every failure of the run (from the journal: those still not done, the last attempt of each)
/// matching `filter`, written as CSV or JSON; the count and the absolute path.
fn export_errors(
    path: &std::path::Path,
    journal: Option<&std::path::Path>,
    filter: &str,
    kept: Vec<crate::core::progress::Failure>,
) -> Result<(u64, String), String> {
    use crate::core::dashboard::{ExportFormat, export, filter_failures};
    let all = match journal {
        Some(dir) => crate::engine::journal::outstanding_failures(dir).map_err(|e| e.to_string())?,
        None => kept,
    };
    let chosen: Vec<&crate::core::progress::Failure> =
        filter_failures(&all, filter).into_iter().map(|i| &all[i]).collect();
    let text = export(&chosen, ExportFormat::for_path(&path.to_string_lossy()));
    write_private(path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok((chosen.len() as u64, absolute(path)))
}

fn absolute(path: &std::path::Path) -> String {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
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
