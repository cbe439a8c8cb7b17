//! The pure layer: no tokio, no AWS SDK, no terminal. Everything here is data in, data out,
//! so it is tested with plain tables.

pub mod batch;
pub mod cost;
pub mod credentials;
pub mod dashboard;
pub mod guard;
pub mod listing;
pub mod plan;
pub mod policy;
pub mod preflight;
pub mod progress;
pub mod s3url;
pub mod scope;
pub mod setup;
pub mod side;
pub mod units;
