//! What a key does. The keymap is one table: dispatch ([`action_for`]) and the `?` help (per
//! screen) both read it, so the help can never drift from the real bindings.

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
    /// Browse: mark or unmark the selected entry (what `c`/`s` plan).
    Mark,
    /// Browse: plan a cp of the marks (or of the prefix on screen).
    PlanCopy,
    /// Browse: plan a sync of the marks (or of the prefix on screen).
    PlanSync,
    /// Browse, preflight: back to the plan or the run.
    Transfer,
    /// Plan: start the run; confirmations: yes.
    Yes,
    /// Dashboard: pause or resume dispatching.
    Pause,
    /// Dashboard: cancel the run (asks first).
    Cancel,
    /// Dashboard: export the error table.
    Export,
    /// Dashboard, after a run: run again for the failed objects only.
    Retry,
    /// Dashboard: the error table as a list, grouped by code, grouped by prefix.
    View,
    /// Browse: sort objects by name, size, date.
    Sort,
    /// Browse: count the objects and bytes under the selected prefix.
    Totals,
    /// Browse: the destination pane follows the source prefix (toggle).
    Follow,
    Quit,
}

/// One row of the keymap: the keys as shown, what they do, the action, and the screens where
/// they do it (empty: every screen).
pub struct Binding {
    pub keys: &'static str,
    pub what: &'static str,
    pub action: Action,
    pub on: &'static [Screen],
}

const fn b(keys: &'static str, what: &'static str, action: Action, on: &'static [Screen]) -> Binding {
    Binding { keys, what, action, on }
}

use Screen::{Batch as BA, Browse as BR, Dashboard as DA, Plan as PL, Preflight as PF};

pub const KEYMAP: &[Binding] = &[
    b("Tab", "switch between Source and Destination", Action::SwitchPane, &[BR]),
    b("↑ ↓ / k j", "move up / down", Action::Up, &[]),
    b("PgUp / PgDn", "move a page", Action::PageDown, &[BR, PF, DA]),
    b("Home End / g G", "first / last entry", Action::Top, &[BR, PF, DA]),
    b("Enter / → / l", "open bucket or prefix; on an object, its details", Action::Open, &[BR]),
    b("Enter", "open the check's detail", Action::Open, &[PF]),
    b("Enter", "open the selected error: whole message, cause, fix", Action::Open, &[DA]),
    b("⌫ / ← / h", "go up a level", Action::Back, &[BR]),
    b("Space", "mark or unmark the selected prefix or object", Action::Mark, &[BR]),
    b("c", "plan a cp of the marks (or of the prefix on screen)", Action::PlanCopy, &[BR]),
    b("s", "plan a sync of the marks (or of the prefix on screen)", Action::PlanSync, &[BR]),
    b("t", "back to the plan or the run", Action::Transfer, &[BR, PF]),
    b("o", "sort objects by name, size, date", Action::Sort, &[BR]),
    b("z", "count objects and bytes under the prefix (Esc stops)", Action::Totals, &[BR]),
    b("f", "destination pane follows the source prefix (toggle)", Action::Follow, &[BR]),
    b("/", "filter the pane or error table (Enter keeps)", Action::Filter, &[BR, DA]),
    b("p", "switch between browse and preflight", Action::Preflight, &[BR, PF]),
    b("p", "open the preflight", Action::Preflight, &[PL]),
    b("y", "start the run (asks again if preflight is not READY)", Action::Yes, &[PL]),
    b("r", "plan again", Action::Rerun, &[PL]),
    b("p", "pause or resume dispatching new objects", Action::Pause, &[DA]),
    b("c", "cancel (asks; requests in flight finish)", Action::Cancel, &[DA]),
    b("r", "resume after a cancel, a guard pause or re-login", Action::Rerun, &[DA]),
    b("R", "after the run: retry the failed objects only", Action::Retry, &[DA]),
    b("v", "errors: list · by code · by prefix", Action::View, &[DA]),
    b("e", "export every error (CSV, or JSON for .json)", Action::Export, &[DA]),
    b("r", "rerun the preflight", Action::Rerun, &[PF]),
    b("w", "write all fixes to a file", Action::SaveFixes, &[PF]),
    b("P", "run live probes (asks; writes, then cleans up)", Action::Probe, &[PF]),
    b("b", "S3 Batch Operations: plan, create (asks), watch", Action::Batch, &[BR, PF]),
    b("r", "refresh the job", Action::Rerun, &[BA]),
    b("?", "show or hide this help", Action::Help, &[]),
    b("Esc", "close, clear the filter, go back (a run goes on)", Action::Close, &[]),
    b("q / Ctrl-C", "quit (in a run: asks, then stops it and quits)", Action::Quit, &[]),
];

/// The rows of the help on `screen`.
pub fn bindings(screen: Screen) -> impl Iterator<Item = &'static Binding> {
    KEYMAP.iter().filter(move |b| b.on.is_empty() || b.on.contains(&screen))
}

/// Maps a key to an action on `screen` in normal (non-editing) mode.
pub fn action_for(screen: Screen, key: KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return (key.code == KeyCode::Char('c')).then_some(Action::Quit);
    }
    let dashboard = screen == Screen::Dashboard;
    let browse = screen == Screen::Browse;
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
        KeyCode::Char(' ') if browse => Action::Mark,
        KeyCode::Char('p') if dashboard => Action::Pause,
        KeyCode::Char('p') => Action::Preflight,
        KeyCode::Char('c') if dashboard => Action::Cancel,
        KeyCode::Char('c') if browse => Action::PlanCopy,
        KeyCode::Char('s') if browse => Action::PlanSync,
        KeyCode::Char('o') if browse => Action::Sort,
        KeyCode::Char('z') if browse => Action::Totals,
        KeyCode::Char('f') if browse => Action::Follow,
        KeyCode::Char('e') if dashboard => Action::Export,
        KeyCode::Char('R') if dashboard => Action::Retry,
        KeyCode::Char('v') if dashboard => Action::View,
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

    const SCREENS: [Screen; 5] = [Screen::Browse, Screen::Preflight, Screen::Batch, Screen::Plan, Screen::Dashboard];

    #[test]
    fn every_binding_in_help_is_reachable_on_its_screens() {
        let keys = [
            KeyCode::Tab,
            KeyCode::Up,
            KeyCode::PageDown,
            KeyCode::Home,
            KeyCode::Enter,
            KeyCode::Backspace,
            KeyCode::Char('/'),
            KeyCode::Char('?'),
            KeyCode::Char(' '),
            KeyCode::Esc,
            KeyCode::Char('q'),
            KeyCode::Char('p'),
            KeyCode::Char('r'),
            KeyCode::Char('R'),
            KeyCode::Char('v'),
            KeyCode::Char('w'),
            KeyCode::Char('P'),
            KeyCode::Char('b'),
            KeyCode::Char('t'),
            KeyCode::Char('y'),
            KeyCode::Char('c'),
            KeyCode::Char('s'),
            KeyCode::Char('e'),
            KeyCode::Char('o'),
            KeyCode::Char('z'),
            KeyCode::Char('f'),
        ];
        for b in KEYMAP {
            let on: Vec<Screen> = if b.on.is_empty() { SCREENS.to_vec() } else { b.on.to_vec() };
            for screen in on {
                let reached = keys.iter().any(|k| action_for(screen, KeyEvent::from(*k)) == Some(b.action));
                assert!(reached, "{} ({:?}) is in the help of {screen:?} but no key reaches it", b.keys, b.action);
            }
        }
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(Screen::Dashboard, ctrl_c), Some(Action::Quit));
        // Per-screen meanings, as the help says.
        let k = |s, c| action_for(s, KeyEvent::from(KeyCode::Char(c)));
        assert_eq!(k(Screen::Browse, 'p'), Some(Action::Preflight));
        assert_eq!(k(Screen::Dashboard, 'p'), Some(Action::Pause));
        assert_eq!(k(Screen::Browse, 'c'), Some(Action::PlanCopy));
        assert_eq!(k(Screen::Dashboard, 'c'), Some(Action::Cancel));
        assert_eq!(k(Screen::Plan, 'c'), None);
        // Each screen's help fits the smallest body (24 rows less title and hints and border).
        for screen in SCREENS {
            let n = bindings(screen).count();
            assert!(n <= 20, "{n} keys on {screen:?} do not fit an 80x24 help overlay");
        }
        for b in KEYMAP {
            assert!(
                b.keys.chars().count() <= 15 && b.what.chars().count() <= 58,
                "{}: {} is too wide for the help",
                b.keys,
                b.what
            );
        }
    }
}
