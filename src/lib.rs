//! s3ferry: move S3 data between AWS accounts. Three layers:
//! [`core`] is pure (policies, plans, progress), [`engine`] talks to AWS, [`ui`] draws the TUI.

pub mod cli;
pub mod config;
pub mod core;
pub mod engine;
pub mod ui;
