//! `update(state, msg) -> commands`: every state change of the TUI goes through here.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tui_input::backend::crossterm::EventHandler;

use crate::core::listing::{Entry, Location};
use crate::core::progress::Mode;
use crate::core::scope::Request;
use crate::core::side::Side;
use crate::engine::events::EngineEvent;
use crate::engine::runner::EngineCommand;
use crate::ui::action::{Action, action_for};
use crate::ui::msg::{Command, Msg};
use crate::ui::screens::batch;
use crate::ui::screens::browse::{Connection, DetailsView, TotalsView};
use crate::ui::screens::dashboard::{DEFAULT_EXPORT_FILE, DashboardState, RunPhase};
use crate::ui::screens::plan::{Gate, PlanPhase};
use crate::ui::screens::preflight::{self, Run};
use crate::ui::state::{AppState, Screen};

/// Rows a PageUp/PageDown moves; the real list height varies, this is close enough to feel right.
const PAGE: isize = 10;

pub fn update(state: &mut AppState, msg: Msg) -> Vec<Command> {
    let commands = dispatch(state, msg);
    ticket(state, &commands);
    commands
}

/// Every plan and run the console asks for gets the next ticket; the engine numbers them in the
/// same order and tags their events, so a superseded plan's late events are told apart.
fn ticket(state: &mut AppState, commands: &[Command]) {
    for c in commands {
        match c {
            Command::Engine(EngineCommand::Plan(_)) => state.ticket += 1,
            Command::Engine(EngineCommand::Transfer(_)) => {
                state.ticket += 1;
                // A plan still being made is abandoned: its events no longer count.
                if let Some(plan) = state.plan.as_mut().filter(|p| p.phase == PlanPhase::Planning) {
                    plan.phase = PlanPhase::NotStarted;
                }
            }
            _ => {}
        }
    }
}

fn dispatch(state: &mut AppState, msg: Msg) -> Vec<Command> {
    match msg {
        Msg::Key(key) if key.kind != KeyEventKind::Release => on_key(state, key),
        Msg::Key(_) | Msg::Resize => Vec::new(),
        Msg::Tick(now) => {
            state.now = now;
            state.batch.now = now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default();
            if state.dashboard.active() {
                state.dashboard.sample(now);
            }
            Vec::new()
        }
        Msg::Engine(event) => {
            let commands = on_engine(state, event);
            let d = &state.dashboard;
            if d.quit_when_stopped && !matches!(d.phase, RunPhase::Running | RunPhase::Cancelling) {
                return vec![Command::Quit];
            }
            commands
        }
        // Only the preflight's fixes are written this way; the errors' export has its own
        // command and answer (`Exported`).
        Msg::Written(result) => {
            state.preflight.message = Some(match result {
                Ok(path) => format!("fixes written to {path}"),
                Err(e) => e,
            });
            Vec::new()
        }
        Msg::Exported(result) => {
            state.dashboard.message = Some(match result {
                Ok((n, path)) => format!("{n} errors written to {path}"),
                Err(e) => e,
            });
            Vec::new()
        }
    }
}

/// Opening commands: each pane lists where the config points it, and the preflight runs by
/// itself since the config already chose source and destination.
pub fn start(state: &mut AppState) -> Vec<Command> {
    let mut commands: Vec<Command> =
        Side::BOTH.into_iter().map(|side| list(state, side, state.pane(side).location.clone())).collect();
    state.preflight.run = Run::Running;
    commands.push(Command::Engine(EngineCommand::Preflight { probe: false }));
    commands
}

/// The console of `s3ferry cp|sync`: opens on the plan screen and plans at once.
pub fn start_transfer(state: &mut AppState) -> Vec<Command> {
    let mut commands = start(state);
    if let Some(plan) = &mut state.plan {
        state.screen = Screen::Plan;
        plan.restart();
        commands.push(Command::Engine(EngineCommand::Plan(plan.request.clone())));
    }
    ticket(state, &commands);
    commands
}

fn on_engine(state: &mut AppState, event: EngineEvent) -> Vec<Command> {
    match event {
        EngineEvent::Transfer(ticket, _) | EngineEvent::TransferEnded(ticket, _) if ticket != state.ticket => {}
        EngineEvent::Transfer(_, e) => {
            if let Some(plan) = state.plan.as_mut().filter(|p| p.phase == PlanPhase::Planning) {
                plan.apply(&e);
            } else if state.dashboard.active() && state.dashboard.observe(&e, state.now) {
                // The guard tripped: hold dispatching until the operator chooses.
                state.dashboard.pause_asked = true;
                return vec![Command::Engine(EngineCommand::Pause(true))];
            }
        }
        EngineEvent::TransferEnded(_, end) => {
            if end.dry_run {
                if let Some(plan) = &mut state.plan {
                    plan.ended(&end);
                }
            } else {
                state.dashboard.ended(end, state.now);
                // What the run wrote shows in the destination pane without a manual refresh.
                let at = state.pane(Side::Destination).location.clone();
                if at != Location::Buckets {
                    return vec![list(state, Side::Destination, at)];
                }
            }
        }
        EngineEvent::Connected { side, info } => state.pane_mut(side).connection = Connection::Connected(info),
        EngineEvent::ConnectFailed { side, error } => {
            let pane = state.pane_mut(side);
            pane.connection = Connection::Failed(error.clone());
            pane.error = Some(error);
            pane.loading = false;
        }
        EngineEvent::Listed { side, request, entries, more } => {
            state.pane_mut(side).accept_page(request, entries, more)
        }
        EngineEvent::ListFailed { side, request, error } => state.pane_mut(side).accept_error(request, error),
        EngineEvent::Lifetime { side, lifetime } => {
            if let Connection::Connected(info) = &mut state.pane_mut(side).connection {
                info.lifetime = lifetime;
            }
        }
        EngineEvent::Batch(event) => {
            state.batch.now =
                state.now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default();
            batch::on_event(&mut state.batch, event)
        }
        EngineEvent::Preflight(report) => {
            let p = &mut state.preflight;
            p.run = Run::Done(report);
            p.selected = p.selected.min(p.ordered().len().saturating_sub(1));
        }
        EngineEvent::Details { side, request, details } => {
            if let Some(view) = state.pane_mut(side).details.as_mut().filter(|v| v.request == request) {
                view.details = Some(details);
            }
        }
        EngineEvent::Totals { side, request, objects, bytes, done, error } => {
            if let Some(t) = state.pane_mut(side).totals.as_mut().filter(|t| t.request == request) {
                (t.objects, t.bytes, t.done, t.error) = (objects, bytes, done, error);
            }
        }
    }
    Vec::new()
}

fn on_key(state: &mut AppState, key: KeyEvent) -> Vec<Command> {
    let ctrl_c = key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
    if ctrl_c {
        state.ctrl_c |= state.dashboard.active();
        return interrupt(&mut state.dashboard);
    }
    if state.too_small {
        // The screen says only that it is too small: no key but quit may act unseen, and a
        // question it cannot show is not asked: q in a run stops it as Ctrl-C does.
        if key.code != KeyCode::Char('q') {
            return Vec::new();
        }
        let commands = interrupt(&mut state.dashboard);
        if state.dashboard.quit_when_stopped {
            state.dashboard.message = Some(
                "q on a screen too small to ask: stopping; requests in flight finish and the journal is saved".into(),
            );
        }
        return commands;
    }
    state.message = None;
    if state.screen == Screen::Dashboard
        && !state.help
        && let Some(commands) = dashboard_modal(state, key)
    {
        return commands;
    }
    if state.screen == Screen::Plan
        && let Some(plan) = state.plan.as_mut()
        && plan.confirm.take().is_some()
    {
        // Only an explicit `y` starts a run the preflight did not pass; anything else goes back.
        return if key.code == KeyCode::Char('y') { start_run(state) } else { Vec::new() };
    }
    if state.screen == Screen::Preflight && state.preflight.save.is_some() {
        return on_save_prompt(state, key);
    }
    if state.screen == Screen::Preflight && state.preflight.confirm_probe.take().is_some() {
        // Only an explicit `y` writes to the bucket; anything else cancels.
        if key.code == KeyCode::Char('y') && !matches!(state.preflight.run, Run::Running) {
            state.preflight.run = Run::Running;
            state.preflight.detail = None;
            return vec![Command::Engine(EngineCommand::Preflight { probe: true })];
        }
        state.preflight.message = Some("probes cancelled: nothing was written".into());
        return Vec::new();
    }
    if state.screen == Screen::Batch && batch::confirming(&state.batch) {
        // Only an explicit `y` creates the job; anything else cancels.
        let requests = batch::on_confirm(&mut state.batch, key.code == KeyCode::Char('y'));
        return requests.into_iter().map(|r| Command::Engine(EngineCommand::Batch(r))).collect();
    }
    let browsing = state.screen == Screen::Browse;
    if browsing && let Some(commands) = browse_modal(state, key) {
        return commands;
    }
    let pane = state.pane_mut(state.focus);
    if browsing && pane.filtering {
        match key.code {
            KeyCode::Enter => pane.filtering = false,
            KeyCode::Esc => {
                pane.filtering = false;
                pane.filter.reset();
            }
            _ => {
                pane.filter.handle_event(&Event::Key(key));
            }
        }
        pane.selected = 0;
        pane.offset = 0;
        return Vec::new();
    }
    let Some(action) = action_for(state.screen, key) else {
        return Vec::new();
    };
    if state.help {
        // The overlay is modal: only closing it (or quitting) does anything.
        match action {
            Action::Help | Action::Close => state.help = false,
            Action::Quit => {
                state.help = false;
                return quit(state);
            }
            _ => {}
        }
        return Vec::new();
    }
    match action {
        Action::Quit => quit(state),
        Action::Help => {
            state.help = true;
            Vec::new()
        }
        _ => match state.screen {
            Screen::Browse => browse(state, action),
            Screen::Preflight if action == Action::Batch => {
                state.screen = Screen::Batch;
                Vec::new()
            }
            Screen::Preflight if action == Action::Transfer => {
                to_transfer(state);
                Vec::new()
            }
            Screen::Preflight => preflight_screen(state, action),
            Screen::Batch => {
                let (requests, leave) = batch::on_action(&mut state.batch, action);
                if leave {
                    state.screen = Screen::Browse;
                }
                requests.into_iter().map(|r| Command::Engine(EngineCommand::Batch(r))).collect()
            }
            Screen::Plan => plan_screen(state, action),
            Screen::Dashboard => dashboard_screen(state, action),
        },
    }
}

/// Keys the browser takes before the keymap: the object details popup (Esc or Enter closes, T
/// loads the tags) and Esc on running totals (stops the count).
fn browse_modal(state: &mut AppState, key: KeyEvent) -> Option<Vec<Command>> {
    let side = state.focus;
    let bucket = match &state.pane(side).location {
        Location::Prefix { bucket, .. } => bucket.clone(),
        Location::Buckets => String::new(),
    };
    if let Some(view) = &state.pane(side).details {
        let key_name = view.key.clone();
        return Some(match key.code {
            KeyCode::Char('T') => {
                let request = state.take_request_id();
                state.pane_mut(side).details = Some(DetailsView { request, key: key_name.clone(), details: None });
                vec![Command::Engine(EngineCommand::Details { side, request, bucket, key: key_name, tags: true })]
            }
            KeyCode::Char('q') if key.modifiers.is_empty() => {
                state.pane_mut(side).details = None;
                Vec::new()
            }
            KeyCode::Esc | KeyCode::Enter | KeyCode::Backspace | KeyCode::Left => {
                state.pane_mut(side).details = None;
                Vec::new()
            }
            _ => Vec::new(),
        });
    }
    let counting = state.pane(side).totals.as_ref().is_some_and(|t| !t.done);
    if key.code == KeyCode::Esc && state.pane(side).totals.is_some() {
        state.pane_mut(side).totals = None;
        return Some(if counting { vec![Command::Engine(EngineCommand::StopTotals { side })] } else { Vec::new() });
    }
    None
}

/// `q`: during a run it asks first (on the dashboard), then stops the run and quits.
fn quit(state: &mut AppState) -> Vec<Command> {
    let d = &mut state.dashboard;
    if d.phase == RunPhase::Cancelling {
        // Already stopping: leave once the requests in flight have finished.
        d.quit_when_stopped = true;
        d.message = Some("quitting once the requests in flight have finished (Ctrl-C quits now)".into());
        return Vec::new();
    }
    if d.phase != RunPhase::Running {
        return vec![Command::Quit];
    }
    state.screen = Screen::Dashboard;
    d.confirm_cancel = true;
    d.confirm_quit = true;
    Vec::new()
}

/// Ctrl-C. During a run it stops the run as a confirmed cancel would (requests in flight finish,
/// the journal keeps the rest) and the console leaves once the engine says the run ended; a
/// second Ctrl-C leaves at once (the journal still holds every finished copy). Otherwise it quits.
fn interrupt(d: &mut DashboardState) -> Vec<Command> {
    if d.quit_when_stopped || !matches!(d.phase, RunPhase::Running | RunPhase::Cancelling) {
        return vec![Command::Quit];
    }
    d.quit_when_stopped = true;
    d.confirm_cancel = false;
    d.message =
        Some("Ctrl-C: stopping; requests in flight finish and the journal is saved. Ctrl-C again quits now".into());
    if d.phase == RunPhase::Running {
        d.phase = RunPhase::Cancelling;
        return vec![Command::Engine(EngineCommand::Cancel)];
    }
    Vec::new()
}

/// Keys the dashboard takes before the keymap: the cancel or quit confirmation, the guard's
/// choice, the error detail, the export prompt and the filter being typed. `None` when the key
/// is for the keymap.
fn dashboard_modal(state: &mut AppState, key: KeyEvent) -> Option<Vec<Command>> {
    let d = &mut state.dashboard;
    if d.confirm_cancel {
        d.confirm_cancel = false;
        let quit = std::mem::take(&mut d.confirm_quit);
        if key.code == KeyCode::Char('y') && d.phase == RunPhase::Running {
            d.phase = RunPhase::Cancelling;
            d.quit_when_stopped = quit;
            return Some(vec![Command::Engine(EngineCommand::Cancel)]);
        }
        d.message = Some("the run goes on".into());
        return Some(Vec::new());
    }
    if d.detail.is_some() {
        if matches!(key.code, KeyCode::Enter | KeyCode::Esc | KeyCode::Char('q')) {
            d.detail = None;
        }
        return Some(Vec::new());
    }
    if let Some(input) = &mut d.export {
        match key.code {
            KeyCode::Esc => d.export = None,
            KeyCode::Enter => {
                let path = input.value().trim().to_string();
                d.export = None;
                if path.is_empty() {
                    d.message = Some("no file name given: nothing written".into());
                } else {
                    return Some(vec![Command::Export {
                        path: path.into(),
                        journal: d.progress.journal.clone().map(Into::into),
                        filter: d.filter.value().to_string(),
                        kept: d.visible().into_iter().cloned().collect(),
                    }]);
                }
            }
            _ => {
                input.handle_event(&Event::Key(key));
            }
        }
        return Some(Vec::new());
    }
    if d.filtering {
        match key.code {
            KeyCode::Enter => d.filtering = false,
            KeyCode::Esc => {
                d.filtering = false;
                d.filter.reset();
            }
            _ => {
                d.filter.handle_event(&Event::Key(key));
            }
        }
        d.selected = 0;
        return Some(Vec::new());
    }
    // The guard's choice comes after the popups above: keys typed into them stay theirs.
    if d.tripped.is_some() && d.phase == RunPhase::Running {
        return Some(match key.code {
            KeyCode::Char('r') => {
                d.tripped = None;
                d.pause_asked = false;
                d.guard.override_once();
                d.message = Some("resumed: the guard stops the run again only if failures fill a window".into());
                vec![Command::Engine(EngineCommand::Pause(false))]
            }
            KeyCode::Char('c') => {
                d.tripped = None;
                d.phase = RunPhase::Cancelling;
                vec![Command::Engine(EngineCommand::Cancel)]
            }
            KeyCode::Char('p') => {
                state.screen = Screen::Preflight;
                Vec::new()
            }
            KeyCode::Char('q') => quit(state),
            _ => Vec::new(),
        });
    }
    None
}

fn plan_screen(state: &mut AppState, action: Action) -> Vec<Command> {
    let Some(plan) = &mut state.plan else {
        state.screen = Screen::Browse;
        return Vec::new();
    };
    match action {
        Action::Yes if plan.phase == PlanPhase::Ready && state.dashboard.active() => {
            state.message = Some("a run is going on: t shows it".into());
        }
        Action::Yes if plan.phase == PlanPhase::Ready => {
            let gate = Gate::of(state.preflight.report());
            if gate.ready() {
                return start_run(state);
            }
            plan.confirm = Some(format!("The preflight says {}.", gate.describe()));
        }
        Action::Rerun if plan.phase != PlanPhase::Planning => {
            plan.restart();
            return vec![Command::Engine(EngineCommand::Plan(plan.request.clone()))];
        }
        Action::Close | Action::Back => state.screen = Screen::Browse,
        Action::Preflight => state.screen = Screen::Preflight,
        _ => {}
    }
    Vec::new()
}

/// Starts the planned run: the dashboard opens with the plan's totals until the run's own.
fn start_run(state: &mut AppState) -> Vec<Command> {
    let Some(plan) = &state.plan else { return Vec::new() };
    let s = &plan.shape;
    let expected = (s.copy_objects + s.deletes + plan.already.0, s.copy_bytes + plan.already.1);
    state.screen = Screen::Dashboard;
    state.dashboard.begin(state.now, plan.request.clone(), expected);
    vec![Command::Engine(EngineCommand::Transfer(plan.request.clone()))]
}

fn dashboard_screen(state: &mut AppState, action: Action) -> Vec<Command> {
    let now = state.now;
    let d = &mut state.dashboard;
    d.message = None;
    if matches!(action, Action::Close | Action::Back) && d.filter.value().is_empty() {
        // Back to browsing; the run goes on, its state in the title bar, `t` returns here.
        state.screen = Screen::Browse;
        return Vec::new();
    }
    match action {
        Action::Pause if d.phase == RunPhase::Running => {
            // Toggle what was asked last: two quick presses are two toggles, whether or not the
            // engine has answered the first yet.
            d.pause_asked = !d.pause_asked;
            return vec![Command::Engine(EngineCommand::Pause(d.pause_asked))];
        }
        Action::Cancel if d.phase == RunPhase::Running => d.confirm_cancel = true,
        Action::Rerun if matches!(d.phase, RunPhase::Halted { .. }) || d.interrupted() => {
            // After re-authenticating or a cancel: the engine reads the credential chain again
            // and continues from the journal.
            return again(d, now, "resuming from the journal");
        }
        Action::Retry if d.over() && d.progress.failed > 0 => {
            return again(d, now, "retrying the failed objects: the journal skips what is done");
        }
        Action::Retry => d.message = Some("nothing failed: nothing to retry".into()),
        Action::Rerun if d.over() => {
            d.message = Some("nothing to resume: the run finished (R retries failed objects, if any)".into())
        }
        Action::Open if d.view == crate::ui::screens::dashboard::ErrorView::List && !d.visible().is_empty() => {
            d.detail = Some(d.selected)
        }
        Action::View => {
            d.view = d.view.next();
            d.selected = 0;
        }
        Action::Close => d.filter.reset(),
        Action::Export if d.progress.failed > 0 => {
            d.export = Some(tui_input::Input::new(DEFAULT_EXPORT_FILE.to_string()))
        }
        Action::Export => d.message = Some("no errors to export".into()),
        Action::Filter => d.filtering = true,
        Action::Up => d.move_by(-1),
        Action::Down => d.move_by(1),
        Action::PageUp => d.move_by(-PAGE),
        Action::PageDown => d.move_by(PAGE),
        Action::Top => d.selected = 0,
        Action::Bottom => d.move_by(isize::MAX),
        _ => {}
    }
    Vec::new()
}

/// Runs the last request again: only what the journal does not record as done is copied.
fn again(d: &mut DashboardState, now: std::time::SystemTime, what: &str) -> Vec<Command> {
    let Some(request) = d.request.clone() else { return Vec::new() };
    let expected = d.objects();
    let bytes = d.bytes();
    d.begin(now, request.clone(), (expected.1, bytes.1));
    d.message = Some(what.to_string());
    vec![Command::Engine(EngineCommand::Transfer(request))]
}

fn on_save_prompt(state: &mut AppState, key: KeyEvent) -> Vec<Command> {
    let p = &mut state.preflight;
    match key.code {
        KeyCode::Esc => p.save = None,
        KeyCode::Enter => {
            let path = p.save.take().map(|i| i.value().trim().to_string()).unwrap_or_default();
            if path.is_empty() {
                p.message = Some("no file name given: nothing written".into());
            } else if let Some(report) = p.report() {
                return vec![Command::WriteFile { path: path.into(), contents: preflight::fixes_document(report) }];
            }
        }
        _ => {
            if let Some(input) = &mut p.save {
                input.handle_event(&Event::Key(key));
            }
        }
    }
    Vec::new()
}

fn preflight_screen(state: &mut AppState, action: Action) -> Vec<Command> {
    let p = &mut state.preflight;
    match action {
        Action::Preflight => state.screen = Screen::Browse,
        Action::Close if p.detail.is_some() => p.detail = None,
        Action::Close => state.screen = Screen::Browse,
        Action::Up if p.detail.is_some() => p.detail = p.detail.map(|s| s.saturating_sub(1)),
        Action::Down if p.detail.is_some() => p.detail = p.detail.map(|s| s.saturating_add(1)),
        Action::Up => p.move_by(-1),
        Action::Down => p.move_by(1),
        Action::PageUp => p.move_by(-PAGE),
        Action::PageDown => p.move_by(PAGE),
        Action::Top => p.selected = 0,
        Action::Bottom => p.move_by(isize::MAX),
        Action::Open => p.detail = if p.detail.is_some() { None } else { Some(0) },
        Action::Back => p.detail = None,
        Action::Rerun if !matches!(p.run, Run::Running) => {
            p.run = Run::Running;
            p.detail = None;
            p.message = None;
            return vec![Command::Engine(EngineCommand::Preflight { probe: false })];
        }
        Action::SaveFixes if p.report().is_some() => {
            p.save = Some(tui_input::Input::new(preflight::DEFAULT_FIXES_FILE.to_string()));
        }
        Action::SaveFixes => p.message = Some("the preflight has not finished yet".into()),
        Action::Probe if !matches!(p.run, Run::Running) => p.confirm_probe = Some(state.probe_target.clone()),
        _ => {}
    }
    Vec::new()
}

fn browse(state: &mut AppState, action: Action) -> Vec<Command> {
    let focus = state.focus;
    let pane = state.pane_mut(focus);
    match action {
        Action::Preflight => state.screen = Screen::Preflight,
        Action::Close => pane.filter.reset(),
        Action::SwitchPane => state.focus = focus.other(),
        Action::Up => pane.move_by(-1),
        Action::Down => pane.move_by(1),
        Action::PageUp => pane.move_by(-PAGE),
        Action::PageDown => pane.move_by(PAGE),
        Action::Top => pane.selected = 0,
        Action::Bottom => pane.move_by(isize::MAX),
        Action::Filter => pane.filtering = true,
        Action::Transfer => to_transfer(state),
        Action::Mark => mark(state),
        Action::PlanCopy => return plan_scope(state, Mode::Cp),
        Action::PlanSync => return plan_scope(state, Mode::Sync),
        Action::Batch => state.screen = Screen::Batch,
        Action::Quit
        | Action::Help
        | Action::Rerun
        | Action::SaveFixes
        | Action::Probe
        | Action::Yes
        | Action::Pause
        | Action::Cancel
        | Action::Retry
        | Action::View
        | Action::Export => {}
        Action::Open => {
            let selected = pane.selected_entry().cloned();
            if let (Some(Entry::Object { key, .. }), Location::Prefix { bucket, .. }) = (&selected, &pane.location) {
                let (bucket, key) = (bucket.clone(), key.clone());
                let request = state.take_request_id();
                state.pane_mut(focus).details = Some(DetailsView { request, key: key.clone(), details: None });
                return vec![Command::Engine(EngineCommand::Details {
                    side: focus,
                    request,
                    bucket,
                    key,
                    tags: false,
                })];
            }
            if let Some(next) = selected.and_then(|e| pane.location.child(&e)) {
                return list_following(state, focus, next);
            }
        }
        Action::Sort => {
            pane.sort = pane.sort.next();
            pane.selected = 0;
        }
        Action::Totals => return totals(state),
        Action::Follow => {
            state.follow = !state.follow;
            state.message = Some(if state.follow {
                "the destination follows the source prefix".into()
            } else {
                "the destination pane browses on its own".into()
            });
            if state.follow {
                let at = state.pane(Side::Source).location.clone();
                return follow_destination(state, &at).into_iter().collect();
            }
        }
        Action::Back => {
            if pane.location != Location::Buckets {
                // Up a level, the cursor lands on where the operator came from.
                let came_from = match &pane.location {
                    Location::Prefix { bucket, prefix } if prefix.is_empty() => bucket.clone(),
                    Location::Prefix { prefix, .. } => prefix.clone(),
                    Location::Buckets => String::new(),
                };
                let up = pane.location.parent();
                let commands = list_following(state, focus, up);
                state.pane_mut(focus).reselect = Some(came_from);
                return commands;
            }
        }
    }
    Vec::new()
}

/// `t`: back to the run, or to the plan; with neither, how to make one.
fn to_transfer(state: &mut AppState) {
    if state.dashboard.runs > 0 {
        state.screen = Screen::Dashboard;
    } else if state.plan.as_ref().is_some_and(|p| p.phase != PlanPhase::NotStarted) {
        state.screen = Screen::Plan;
    } else {
        state.message = Some("mark prefixes or objects with Space, then c plans a cp, s a sync".into());
    }
}

/// Space on the source pane: marks or unmarks the selected prefix or object, then moves down.
fn mark(state: &mut AppState) {
    if state.focus != Side::Source {
        state.message = Some("marks choose what to copy: mark in the Source pane (Tab)".into());
        return;
    }
    let pane = state.pane_mut(Side::Source);
    let parent = match &pane.location {
        Location::Prefix { prefix, .. } => prefix.clone(),
        Location::Buckets => {
            state.message = Some("open the source bucket first: marks are prefixes and objects".into());
            return;
        }
    };
    let Some(entry) = pane.selected_entry().cloned() else { return };
    let size = match &entry {
        Entry::Object { size, .. } => Some(*size),
        _ => None,
    };
    let name = entry.display_name(&parent).to_string();
    if pane.marks.remove(&name).is_none() {
        pane.marks.insert(name, size);
    }
    pane.move_by(1);
}

/// `c` / `s`: plans the marks, or the prefix on screen, never silently the whole bucket.
fn plan_scope(state: &mut AppState, mode: Mode) -> Vec<Command> {
    if state.dashboard.active() {
        state.message = Some("a run is going on: t shows it; plan the next one when it ends".into());
        return Vec::new();
    }
    let pane = state.pane(Side::Source);
    let Location::Prefix { bucket, prefix } = pane.location.clone() else {
        state.message = Some("open the source bucket (and a prefix) to choose what to copy".into());
        return Vec::new();
    };
    let marks: Vec<String> = pane.marks.keys().cloned().collect();
    if marks.is_empty() && !pane.filter.value().is_empty() {
        // The filter only narrows what is shown: planning "the prefix on screen" would take
        // more than the operator sees.
        state.message =
            Some("a filter is on: mark what to copy with Space (or Esc clears the filter), then c or s".into());
        return Vec::new();
    }
    let Some(plan) = &mut state.plan else { return Vec::new() };
    match plan.setup.pair.scope_at(&bucket, &prefix, &marks) {
        Ok(scope) => {
            plan.plan(Request { mode, scope });
            if marks.is_empty() && prefix.is_empty() {
                plan.warnings.push(format!("nothing was marked: this plan covers the whole bucket s3://{bucket}"));
            }
            state.screen = Screen::Plan;
            vec![Command::Engine(EngineCommand::Plan(plan.request.clone()))]
        }
        Err(e) => {
            state.message = Some(e);
            Vec::new()
        }
    }
}

/// `z`: counts what the selected prefix (or, on an object, the prefix on screen) holds.
fn totals(state: &mut AppState) -> Vec<Command> {
    let side = state.focus;
    let pane = state.pane(side);
    let Location::Prefix { bucket, prefix } = pane.location.clone() else {
        state.message = Some("open a bucket first: totals are counted for a prefix".into());
        return Vec::new();
    };
    let prefix = match pane.selected_entry() {
        Some(Entry::Prefix { prefix }) => prefix.clone(),
        _ => prefix,
    };
    let request = state.take_request_id();
    state.pane_mut(side).totals =
        Some(TotalsView { request, prefix: prefix.clone(), objects: 0, bytes: 0, done: false, error: None });
    vec![Command::Engine(EngineCommand::Totals { side, request, bucket, prefix })]
}

/// Lists `location` on `side`; when the destination follows, a source move within the
/// migration's source takes the destination pane to the matching prefix too.
fn list_following(state: &mut AppState, side: Side, location: Location) -> Vec<Command> {
    let mut commands = vec![list(state, side, location.clone())];
    if state.follow && side == Side::Source {
        commands.extend(follow_destination(state, &location));
    }
    commands
}

/// Takes the destination pane to where `source` (a source location) maps, when it is within
/// the migration's source and the pane is not there already.
fn follow_destination(state: &mut AppState, source: &Location) -> Option<Command> {
    let Location::Prefix { bucket, prefix } = source else { return None };
    let pair = state.plan.as_ref()?.setup.pair.clone();
    let scope = pair.scope_at(bucket, prefix, &[]).ok()?;
    let (_, destination) = pair.prefixes(scope.as_ref());
    let at = Location::Prefix { bucket: pair.destination_bucket.clone(), prefix: destination };
    (state.pane(Side::Destination).location != at).then(|| list(state, Side::Destination, at))
}

fn list(state: &mut AppState, side: Side, location: Location) -> Command {
    let request = state.take_request_id();
    state.pane_mut(side).navigate(location.clone(), request);
    Command::Engine(EngineCommand::List { side, request, location })
}
