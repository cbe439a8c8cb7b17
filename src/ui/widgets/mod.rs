//! Small reusable pieces of screens.

pub mod countdown;
pub mod help;
pub mod text;
