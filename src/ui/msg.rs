//! Messages into `update` and commands out of it.

use std::time::SystemTime;

use crossterm::event::KeyEvent;

use crate::engine::events::EngineEvent;
use crate::engine::runner::EngineCommand;

#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    Key(KeyEvent),
    Engine(EngineEvent),
    /// The clock moved: countdowns need a redraw.
    Tick(SystemTime),
    Resize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Engine(EngineCommand),
    Quit,
}
