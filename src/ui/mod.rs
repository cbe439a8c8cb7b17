//! The terminal console. State is plain data; `update` turns messages into state changes and
//! engine commands; screens render a state snapshot and nothing else.

pub mod action;
pub mod app;
pub mod msg;
pub mod screens;
pub mod state;
pub mod terminal;
pub mod update;
pub mod widgets;

pub use app::run;
