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
    /// The outcome of a `Command::WriteFile`.
    Written(Result<String, String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Engine(EngineCommand),
    /// Save a file the operator asked for (fixes); the loop reports back with `Msg::Written`.
    WriteFile {
        path: std::path::PathBuf,
        contents: String,
    },
    Quit,
}
