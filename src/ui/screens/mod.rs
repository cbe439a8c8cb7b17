//! One module per screen: its state, its update logic and its pure render function.

pub mod batch;
pub mod browse;
pub mod dashboard;
pub mod frame;
pub mod plan;
pub mod preflight;
