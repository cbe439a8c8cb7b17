//! The whole screen: title bar, the current screen, key hints, overlays, and the size guard.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::ui::screens::dashboard::{self, RunPhase};
use crate::ui::screens::{batch, browse, plan, preflight};
use crate::ui::state::{AppState, Screen};
use crate::ui::widgets::help;

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

pub fn render(frame: &mut Frame, state: &mut AppState) {
    let area = frame.area();
    state.too_small = area.width < MIN_WIDTH || area.height < MIN_HEIGHT;
    if state.too_small {
        let msg = format!(
            "Terminal too small: {}x{}. s3ferry needs at least {MIN_WIDTH}x{MIN_HEIGHT}. Enlarge the window, or press q to quit.",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }).alignment(Alignment::Center), area);
        return;
    }
    let [title, body, keys] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let bar = Style::default().bg(Color::Blue).fg(Color::White);
    let screen = match state.screen {
        Screen::Browse => "browse",
        Screen::Preflight => "preflight",
        Screen::Batch => "batch",
        Screen::Plan => "plan",
        Screen::Dashboard => "transfer",
    };
    // The run's state shows on every screen: it goes on while the operator browses.
    let badge = match state.dashboard.badge() {
        Some(run) => format!("run: {run} · {}", state.preflight.badge()),
        None => state.preflight.badge(),
    };
    let width = title.width as usize;
    let fixed = 9 + badge.chars().count() + 2;
    let left = browse::fit(&format!("· {screen} · {}", state.title), width.saturating_sub(fixed));
    let room = width.saturating_sub(9 + left.chars().count() + badge.chars().count() + 1);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" s3ferry ", bar.add_modifier(Modifier::BOLD)),
            Span::styled(left, bar),
            Span::styled(" ".repeat(room), bar),
            Span::styled(format!("{badge} "), bar.add_modifier(Modifier::BOLD)),
        ]))
        .style(bar),
        title,
    );
    let now = state.now;
    let hint = match state.screen {
        Screen::Browse => {
            browse::render(frame, body, &mut state.panes, state.focus, now);
            if let Some(view) = &state.pane(state.focus).details {
                browse::render_details(frame, body, view);
            }
            if state.pane(state.focus).details.is_some() {
                " Esc close · T load tags".to_string()
            } else if state.pane(state.focus).filtering {
                " type to filter · Enter keep · Esc clear".to_string()
            } else if let Some(m) = &state.message {
                format!(" {m}")
            } else if state.dashboard.runs > 0 {
                " Space mark · c cp · s sync · t the run · Enter open · ⌫ up · ? help · q quit".to_string()
            } else {
                " Space mark · c cp · s sync · Enter open · ⌫ up · p preflight · ? help · q quit".to_string()
            }
        }
        Screen::Preflight => {
            preflight::render(frame, body, &state.preflight);
            match &state.preflight.message {
                Some(m) => format!(" {m}"),
                None if state.preflight.detail.is_some() => {
                    " ↑↓ scroll · Enter/Esc close · r rerun · w write fixes".into()
                }
                None => " ↑↓ select · Enter detail · r rerun · w write fixes · p browse · ? help · q quit".into(),
            }
        }
        Screen::Batch => {
            batch::render(frame, body, &state.batch);
            batch::hint(&state.batch)
        }
        Screen::Plan => match &state.plan {
            Some(plan) => {
                plan::render(frame, body, plan, &plan::Gate::of(state.preflight.report()), now);
                match &state.message {
                    Some(m) => format!(" {m}"),
                    None if plan.confirm.is_some() => " y start anyway · any other key back to the plan".into(),
                    None => " y start · r plan again · p preflight · Esc back · ? help · q quit".into(),
                }
            }
            None => String::new(),
        },
        Screen::Dashboard => {
            let d = &state.dashboard;
            dashboard::render(frame, body, d, now);
            match (&d.message, &d.phase) {
                (Some(m), _) => format!(" {m}"),
                _ if d.filtering => " type to filter the errors · Enter keep · Esc clear".into(),
                _ if d.export.is_some() || d.confirm_cancel => String::new(),
                _ if d.detail.is_some() => " Enter/Esc close".into(),
                (None, RunPhase::Running) if d.tripped.is_some() => {
                    " r resume anyway · c cancel · p open the preflight".into()
                }
                (None, RunPhase::Running) if d.progress.paused => {
                    " p resume · c cancel · Esc browse · Enter error · v group · e export · ? help".into()
                }
                (None, RunPhase::Running) => {
                    " p pause · c cancel · Esc browse · Enter error · v group · e export · ? help".into()
                }
                (None, RunPhase::Halted { .. }) => " r resume (after re-authenticating) · e export · q quit".into(),
                (None, _) if d.over() && d.progress.failed > 0 && d.interrupted() => {
                    " r resume · R retry failed · Esc back · Enter error · v group · e export · q quit".into()
                }
                (None, _) if d.over() && d.progress.failed > 0 => {
                    " R retry failed · Esc back · Enter error · v group · e export · q quit".into()
                }
                (None, _) if d.interrupted() => " r resume · Esc back · q quit".into(),
                (None, _) => " Esc back · / filter · e export · ? help · q quit".into(),
            }
        }
    };
    frame.render_widget(Paragraph::new(hint).style(Style::default().fg(Color::DarkGray)), keys);
    if state.help {
        help::render(frame, body, state.screen);
    }
}
