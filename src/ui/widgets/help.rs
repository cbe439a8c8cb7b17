//! The `?` overlay, generated from the keymap.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::ui::action::KEYMAP;

pub fn render(frame: &mut Frame, area: Rect) {
    let width = 76.min(area.width);
    let height = (KEYMAP.len() as u16 + 2).min(area.height);
    let popup = Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height };
    let lines: Vec<Line> = KEYMAP
        .iter()
        .map(|(keys, what, _)| {
            Line::from(vec![
                Span::styled(format!(" {keys:<15}"), Style::default().add_modifier(Modifier::BOLD)),
                Span::raw(*what),
            ])
        })
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" Keys (? or Esc closes) ")),
        popup,
    );
}
