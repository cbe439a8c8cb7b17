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
use crate::ui::msg::{Command, Msg};
use crate::ui::screens::browse::{Connection, PaneState};
use crate::ui::screens::frame;
use crate::ui::state::AppState;
use crate::ui::terminal::TerminalGuard;
use crate::ui::update::{start, update};

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

pub async fn run(config: &Config) -> std::io::Result<()> {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let engine = runner::spawn(config, events_tx);
    let mut state = initial_state(config, SystemTime::now());
    let mut guard = TerminalGuard::enter()?;
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut hangup = signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut terminate = signal(tokio::signal::unix::SignalKind::terminate())?;

    let mut pending: Vec<Command> = start(&mut state);
    let mut pending_msgs: Vec<Msg> = Vec::new();
    let mut dirty = true;
    loop {
        for command in pending.drain(..) {
            match command {
                Command::Quit => return Ok(()),
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
        if dirty {
            guard.terminal.draw(|f| frame::render(f, &mut state))?;
            dirty = false;
        }
        let msg = tokio::select! {
            key = keys.next() => match key {
                Some(Ok(Event::Key(k))) => Msg::Key(k),
                Some(Ok(Event::Resize(..))) => Msg::Resize,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            Some(event) = events.recv() => Msg::Engine(event),
            _ = tick.tick() => {
                if !shows_countdown(&state) {
                    continue;
                }
                Msg::Tick(SystemTime::now())
            }
            // An SSH drop sends SIGHUP: leave the terminal as we found it.
            _ = hangup.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        };
        pending = update(&mut state, msg);
        // Pages arrive in bursts: fold everything already queued into one redraw.
        while let Ok(event) = events.try_recv() {
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
