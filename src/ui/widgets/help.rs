//! The `?` overlay, generated from the keymap: the keys of the screen it is opened on.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::ui::action::bindings;
use crate::ui::state::Screen;

pub fn render(frame: &mut Frame, area: Rect, screen: Screen) {
    let lines: Vec<Line> = bindings(screen)
        .map(|b| {
            Line::from(vec![
                Span::styled(format!(" {:<15}", b.keys), Style::default().add_modifier(Modifier::BOLD)),
                Span::raw(b.what),
            ])
        })
        .collect();
    let width = 76.min(area.width);
    let height = (lines.len() as u16 + 2).min(area.height);
    let popup = Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" Keys (? or Esc closes) ")),
        popup,
    );
}
