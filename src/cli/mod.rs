//! Headless subcommands: everything the TUI does, with text or JSON output for scripts.

pub mod batch;
pub mod copy;
pub mod exit;
pub mod explain;
pub mod ls;
pub mod preflight;
pub mod whoami;
