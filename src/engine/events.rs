//! The small messages the engine sends; the UI reduces them into its state.

use crate::core::credentials::CredentialLifetime;
use crate::core::listing::{Entry, ObjectDetails};
use crate::core::preflight::checks::Report;
use crate::core::side::Side;
use crate::engine::session::SessionInfo;

/// The copier's messages (cp/sync); reduced by [`crate::core::progress::Progress`].
pub use crate::core::progress::{Failure, TransferEvent};

#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    Connected {
        side: Side,
        info: SessionInfo,
    },
    ConnectFailed {
        side: Side,
        error: String,
    },
    /// One page of a listing; `request` ties it to the navigation that asked for it, so pages
    /// of an abandoned listing are dropped.
    Listed {
        side: Side,
        request: u64,
        entries: Vec<Entry>,
        more: bool,
    },
    ListFailed {
        side: Side,
        request: u64,
        error: String,
    },
    Lifetime {
        side: Side,
        lifetime: CredentialLifetime,
    },
    Preflight(Box<Report>),
    /// S3 Batch Operations: a plan, a created job, its status, its failed tasks.
    Batch(crate::engine::batch::BatchEvent),
    /// A message of a plan or transfer, with the ticket of the command that started it (the
    /// engine numbers `Plan` and `Transfer` commands 1, 2, … in the order it receives them).
    Transfer(u64, TransferEvent),
    /// That plan or transfer ended.
    TransferEnded(u64, crate::engine::runner::TransferEnd),
    /// An object's details (Enter on an object).
    Details {
        side: Side,
        request: u64,
        details: Result<ObjectDetails, String>,
    },
    /// A prefix's running totals (objects and bytes under it), `done` at the end.
    Totals {
        side: Side,
        request: u64,
        objects: u64,
        bytes: u64,
        done: bool,
        error: Option<String>,
    },
}
