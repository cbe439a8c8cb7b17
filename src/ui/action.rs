//! What a key does. The keymap is one table, so the help overlay is generated from it and can
//! never drift from the real bindings.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

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
    Quit,
}

/// (keys as shown in help, description, action)
pub const KEYMAP: &[(&str, &str, Action)] = &[
    ("Tab", "switch between Source and Destination", Action::SwitchPane),
    ("↑ / k", "move up", Action::Up),
    ("↓ / j", "move down", Action::Down),
    ("PgUp / PgDn", "move a page", Action::PageDown),
    ("Home / End", "first / last entry", Action::Top),
    ("Enter / →", "open bucket or prefix", Action::Open),
    ("Backspace / ←", "go up a level", Action::Back),
    ("/", "filter this pane (Enter keeps, Esc clears)", Action::Filter),
    ("p", "switch between browsing and the preflight checks", Action::Preflight),
    ("r", "preflight: run the checks again", Action::Rerun),
    ("w", "preflight: write all fixes to a file", Action::SaveFixes),
    ("P", "preflight: run live probes (asks; writes, then cleans up)", Action::Probe),
    ("b", "S3 Batch Operations: plan, create (asks) and watch a job", Action::Batch),
    ("?", "show or hide this help", Action::Help),
    ("Esc", "close help or detail, clear the filter", Action::Close),
    ("q / Ctrl-C", "quit", Action::Quit),
];

/// Maps a key to an action in normal (non-editing) mode.
pub fn action_for(key: KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return (key.code == KeyCode::Char('c')).then_some(Action::Quit);
    }
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
        KeyCode::Char('p') => Action::Preflight,
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
        ];
        let reachable: Vec<Action> = keys.iter().filter_map(|k| action_for(KeyEvent::from(*k))).collect();
        for (_, _, action) in KEYMAP {
            assert!(reachable.contains(action), "{action:?} is in the help but no key reaches it");
        }
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(ctrl_c), Some(Action::Quit));
    }
}
