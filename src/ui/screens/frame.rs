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
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
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
    let badge = state.preflight.badge();
    let left = format!("· {screen} · {}", state.title);
    let room = (title.width as usize).saturating_sub(9 + left.chars().count() + badge.chars().count() + 1);
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
            if state.pane(state.focus).filtering {
                " type to filter · Enter keep · Esc clear".to_string()
            } else {
                " Tab pane · Enter open · ⌫ up · / filter · p preflight · ? help · q quit".to_string()
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
                plan::render(frame, body, plan, now);
                " y start · r plan again · Esc back · ? help · q quit".into()
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
                (None, RunPhase::Running) if d.progress.paused => {
                    " p resume · c cancel · / filter · e export · ↑↓ errors · ? help".into()
                }
                (None, RunPhase::Running) => " p pause · c cancel · / filter · e export · ↑↓ errors · ? help".into(),
                (None, RunPhase::Halted { .. }) => " r resume (after re-authenticating) · e export · q quit".into(),
                (None, _) => " / filter · e export · ↑↓ errors · ? help · q quit".into(),
            }
        }
    };
    frame.render_widget(Paragraph::new(hint).style(Style::default().fg(Color::DarkGray)), keys);
    if state.help {
        help::render(frame, body);
    }
}
