//! What a key does. The keymap is one table, so the help overlay is generated from it and can
//! never drift from the real bindings.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::ui::state::Screen;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SwitchPane,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    Filter,
    Help,
    Close,
    Preflight,
    Rerun,
    Probe,
    SaveFixes,
    Batch,
    /// Browse: open the plan screen.
    Transfer,
    /// Plan: start the run; confirmations: yes.
    Yes,
    /// Dashboard: pause or resume dispatching.
    Pause,
    /// Dashboard: cancel the run (asks first).
    Cancel,
    /// Dashboard: export the error table.
    Export,
    Quit,
}

/// (keys as shown in help, description, action). A key may mean different things on different
/// screens: the description says where (see [`action_for`]).
pub const KEYMAP: &[(&str, &str, Action)] = &[
    ("Tab", "switch between Source and Destination", Action::SwitchPane),
    ("↑ ↓ / k j", "move up / down", Action::Up),
    ("PgUp / PgDn", "move a page", Action::PageDown),
    ("Home / End", "first / last entry", Action::Top),
    ("Enter / →", "open bucket or prefix", Action::Open),
    ("Backspace / ←", "go up a level", Action::Back),
    ("/", "filter the pane or error table (Enter keeps, Esc clears)", Action::Filter),
    ("p", "browse, preflight: switch between the two", Action::Preflight),
    ("t", "browse: plan a transfer (counts, cost, ETA, credentials)", Action::Transfer),
    ("y", "plan: start the transfer", Action::Yes),
    ("p", "dashboard: pause or resume dispatching new objects", Action::Pause),
    ("c", "dashboard: cancel (asks; requests in flight finish)", Action::Cancel),
    ("e", "dashboard: export the errors (CSV, or JSON for .json)", Action::Export),
    ("r", "preflight: rerun; dashboard: resume after re-login", Action::Rerun),
    ("w", "preflight: write all fixes to a file", Action::SaveFixes),
    ("P", "preflight: run live probes (asks; writes, then cleans up)", Action::Probe),
    ("b", "S3 Batch Operations: plan, create (asks) and watch a job", Action::Batch),
    ("?", "show or hide this help", Action::Help),
    ("Esc", "close help or detail, clear the filter, go back", Action::Close),
    ("q / Ctrl-C", "quit (in a run: q asks first, Ctrl-C stops it, then quits)", Action::Quit),
];

/// Maps a key to an action on `screen` in normal (non-editing) mode.
pub fn action_for(screen: Screen, key: KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return (key.code == KeyCode::Char('c')).then_some(Action::Quit);
    }
    let dashboard = screen == Screen::Dashboard;
    Some(match key.code {
        KeyCode::Tab | KeyCode::BackTab => Action::SwitchPane,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Top,
        KeyCode::End | KeyCode::Char('G') => Action::Bottom,
        KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => Action::Open,
        KeyCode::Backspace | KeyCode::Left | KeyCode::Char('h') => Action::Back,
        KeyCode::Char('/') => Action::Filter,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char('p') if dashboard => Action::Pause,
        KeyCode::Char('p') => Action::Preflight,
        KeyCode::Char('c') if dashboard => Action::Cancel,
        KeyCode::Char('e') if dashboard => Action::Export,
        KeyCode::Char('t') => Action::Transfer,
        KeyCode::Char('y') => Action::Yes,
        KeyCode::Char('r') => Action::Rerun,
        KeyCode::Char('w') => Action::SaveFixes,
        KeyCode::Char('P') => Action::Probe,
        KeyCode::Char('b') => Action::Batch,
        KeyCode::Esc => Action::Close,
        KeyCode::Char('q') => Action::Quit,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_in_help_is_reachable() {
        let keys = [
            KeyCode::Tab,
            KeyCode::Up,
            KeyCode::Down,
            KeyCode::PageUp,
            KeyCode::PageDown,
            KeyCode::Home,
            KeyCode::End,
            KeyCode::Enter,
            KeyCode::Backspace,
            KeyCode::Char('/'),
            KeyCode::Char('?'),
            KeyCode::Esc,
            KeyCode::Char('q'),
            KeyCode::Char('p'),
            KeyCode::Char('r'),
            KeyCode::Char('w'),
            KeyCode::Char('P'),
            KeyCode::Char('b'),
            KeyCode::Char('t'),
            KeyCode::Char('y'),
            KeyCode::Char('c'),
            KeyCode::Char('e'),
        ];
        let screens = [Screen::Browse, Screen::Preflight, Screen::Plan, Screen::Dashboard];
        let reachable: Vec<Action> =
            screens.iter().flat_map(|s| keys.iter().filter_map(|k| action_for(*s, KeyEvent::from(*k)))).collect();
        for (_, _, action) in KEYMAP {
            assert!(reachable.contains(action), "{action:?} is in the help but no key reaches it");
        }
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(Screen::Dashboard, ctrl_c), Some(Action::Quit));
        // Per-screen meanings, as the help says.
        let p = KeyEvent::from(KeyCode::Char('p'));
        assert_eq!(action_for(Screen::Browse, p), Some(Action::Preflight));
        assert_eq!(action_for(Screen::Dashboard, p), Some(Action::Pause));
        assert_eq!(action_for(Screen::Browse, KeyEvent::from(KeyCode::Char('c'))), None);
        // The help fits the smallest body (24 rows less title and hints, less its border).
        assert!(KEYMAP.len() <= 20, "{} keys do not fit an 80x24 help overlay", KEYMAP.len());
        for (keys, what, _) in KEYMAP {
            assert!(
                keys.chars().count() <= 15 && what.chars().count() <= 58,
                "{keys}: {what} is too wide for the help"
            );
        }
    }
}
