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
    /// The outcome of a `Command::Export`: how many errors, and the absolute path.
    Exported(Result<(u64, String), String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Engine(EngineCommand),
    /// Save a file the operator asked for (fixes); the loop reports back with `Msg::Written`.
    WriteFile {
        path: std::path::PathBuf,
        contents: String,
    },
    /// Export the run's errors: every failure the journal records that is not done since
    /// (those matching `filter`), or `kept` when there is no journal.
    Export {
        path: std::path::PathBuf,
        journal: Option<std::path::PathBuf>,
        filter: String,
        kept: Vec<crate::core::progress::Failure>,
    },
    Quit,
}
