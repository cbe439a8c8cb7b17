//! Rendering the console into a TestBackend and reading it back, for the UI tests.
#![allow(dead_code)] // each test binary uses a different subset

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use s3ferry::core::progress::TransferEvent;
use s3ferry::engine::events::EngineEvent;
use s3ferry::engine::runner::TransferEnd;
use s3ferry::ui::msg::{Command, Msg};
use s3ferry::ui::screens::frame;
use s3ferry::ui::state::AppState;
use s3ferry::ui::update::update;

/// The whole screen for `state` at `width` x `height`, styles included.
pub fn render(state: &mut AppState, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| frame::render(f, state)).unwrap();
    terminal.backend().buffer().clone()
}

/// The buffer's symbols, one string per row.
pub fn text(buffer: &Buffer) -> Vec<String> {
    let w = buffer.area.width as usize;
    buffer.content.chunks(w).map(|row| row.iter().map(|c| c.symbol()).collect()).collect()
}

/// One key press through `update`.
pub fn key(state: &mut AppState, code: KeyCode) -> Vec<Command> {
    update(state, Msg::Key(KeyEvent::from(code)))
}

/// The end of the current plan or run, as the engine reports it (with the current ticket).
pub fn ended(s: &mut AppState, end: TransferEnd) -> Vec<Command> {
    let ticket = s.ticket;
    update(s, Msg::Engine(EngineEvent::TransferEnded(ticket, end)))
}

/// An event of the current plan or run.
pub fn engine(s: &mut AppState, event: TransferEvent) -> Vec<Command> {
    let ticket = s.ticket;
    update(s, Msg::Engine(EngineEvent::Transfer(ticket, event)))
}
