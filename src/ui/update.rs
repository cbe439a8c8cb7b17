//! `update(state, msg) -> commands`: every state change of the TUI goes through here.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tui_input::backend::crossterm::EventHandler;

use crate::core::listing::Location;
use crate::core::side::Side;
use crate::engine::events::EngineEvent;
use crate::engine::runner::EngineCommand;
use crate::ui::action::{Action, action_for};
use crate::ui::msg::{Command, Msg};
use crate::ui::screens::browse::Connection;
use crate::ui::state::AppState;

/// Rows a PageUp/PageDown moves; the real list height varies, this is close enough to feel right.
const PAGE: isize = 10;

pub fn update(state: &mut AppState, msg: Msg) -> Vec<Command> {
    match msg {
        Msg::Key(key) if key.kind != KeyEventKind::Release => on_key(state, key),
        Msg::Key(_) | Msg::Resize => Vec::new(),
        Msg::Tick(now) => {
            state.now = now;
            Vec::new()
        }
        Msg::Engine(event) => {
            on_engine(state, event);
            Vec::new()
        }
    }
}

/// Opening commands: each pane lists where the config points it.
pub fn start(state: &mut AppState) -> Vec<Command> {
    Side::BOTH.into_iter().map(|side| list(state, side, state.pane(side).location.clone())).collect()
}

fn on_engine(state: &mut AppState, event: EngineEvent) {
    match event {
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
    }
}

fn on_key(state: &mut AppState, key: KeyEvent) -> Vec<Command> {
    let ctrl_c = key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
    if ctrl_c {
        return vec![Command::Quit];
    }
    let pane = state.pane_mut(state.focus);
    if pane.filtering {
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
    let Some(action) = action_for(key) else {
        return Vec::new();
    };
    if state.help {
        // The overlay is modal: only closing it (or quitting) does anything.
        match action {
            Action::Help | Action::Close => state.help = false,
            Action::Quit => return vec![Command::Quit],
            _ => {}
        }
        return Vec::new();
    }
    apply(state, action)
}

fn apply(state: &mut AppState, action: Action) -> Vec<Command> {
    let focus = state.focus;
    let pane = state.pane_mut(focus);
    match action {
        Action::Quit => return vec![Command::Quit],
        Action::Help => state.help = true,
        Action::Close => pane.filter.reset(),
        Action::SwitchPane => state.focus = focus.other(),
        Action::Up => pane.move_by(-1),
        Action::Down => pane.move_by(1),
        Action::PageUp => pane.move_by(-PAGE),
        Action::PageDown => pane.move_by(PAGE),
        Action::Top => pane.selected = 0,
        Action::Bottom => pane.move_by(isize::MAX),
        Action::Filter => pane.filtering = true,
        Action::Open => {
            if let Some(next) = pane.selected_entry().and_then(|e| pane.location.child(e)) {
                return vec![list(state, focus, next)];
            }
        }
        Action::Back => {
            if pane.location != Location::Buckets {
                let up = pane.location.parent();
                return vec![list(state, focus, up)];
            }
        }
    }
    Vec::new()
}

fn list(state: &mut AppState, side: Side, location: Location) -> Command {
    let request = state.take_request_id();
    state.pane_mut(side).navigate(location.clone(), request);
    Command::Engine(EngineCommand::List { side, request, location })
}
