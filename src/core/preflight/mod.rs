//! The preflight: evidence in, checks with stable ids and a verdict out.

pub mod batch;
pub mod checks;
pub mod denial;
pub mod evidence;
pub mod gate;
