//! The transfer engine behind `s3ferry cp|sync`.
//!
//! ```text
//! source listing ─┐
//! dest listing ───┼─ planner (SyncMerge, journal) ── bounded queue ── dispatcher ── workers
//! identity index ─┘                                                    (adaptive permits)
//! ```
//! The planner streams ListObjectsV2 pages through [`SyncMerge`] (`cp` skips the destination)
//! and writes each decision to the journal before queueing it; the queue holds at most
//! [`QUEUE`] tasks, so memory stays flat. The dispatcher starts one task per object under a
//! request permit from the [`Limiter`]; multipart parts take their own permits. Workers record
//! every outcome (journal + [`TransferEvent`]); per-object failures are records, never errors.

mod context;
mod dispatch;
pub mod limiter;
pub mod listing;
mod multipart;
pub mod object;
mod planner;
mod request;
pub mod retry;
pub mod settle;
mod setup;
mod verify;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::config::{Config, TransferConfig};
use crate::core::plan::{GlobError, Listed};
use crate::core::progress::{Halt, Mode, TransferEvent};
use crate::core::side::Side;
use crate::engine::journal::{IndexReader, Journal, JournalError, Resumed};
use crate::engine::session::SessionError;

pub(crate) use context::Ctx;

/// Tasks queued between planner and workers.
pub const QUEUE: usize = 2_048;
/// Streamed bytes held in memory at once (GET bodies waiting for their PUT).
pub const STREAM_BUFFER: u64 = 1 << 30;
/// Records read from the journal at a time.
const PAGE: usize = 1_000;

/// Whether to continue an earlier, interrupted run of the same transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumePolicy {
    /// Resume when a journal exists, else start.
    Auto,
    /// `--resume`: fail when there is no journal.
    Require,
    /// `--fresh`: discard any journal.
    Fresh,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub settings: TransferConfig,
    pub dry_run: bool,
    pub resume: ResumePolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Glob(#[from] GlobError),
    /// A listing failed for good: planning stops there (what it planned before still runs).
    #[error(transparent)]
    List(Box<ListError>),
    /// The run's own machinery failed: a task stopped, or the journal was still held at the end.
    #[error("{0}")]
    Internal(String),
}

/// A listing that failed for good, with the side, bucket, prefix and identity it ran as.
#[derive(Debug, thiserror::Error)]
#[error("listing the {} s3://{bucket}/{prefix} as {who} failed: {detail}{next}", .side.title().to_lowercase())]
pub struct ListError {
    pub side: Side,
    pub bucket: String,
    pub prefix: String,
    pub who: String,
    pub detail: String,
    /// What to do about it (". Next: ..."), or empty.
    pub next: String,
}

impl TransferError {
    /// A listing of `end` that failed with `detail`; `next` is the hint, if any.
    pub(crate) fn listing(side: Side, end: &context::Endpoint, detail: String, next: String) -> TransferError {
        let (bucket, prefix, who) = (end.bucket.clone(), end.prefix.clone(), end.who.clone());
        TransferError::List(Box::new(ListError { side, bucket, prefix, who, detail, next }))
    }
}

/// One object the verification found wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mismatch {
    pub key: String,
    pub problem: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    pub checked: u64,
    pub mismatches: Vec<Mismatch>,
}

/// How a run ended, beyond the events.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The journal directory kept for a retry (failures, interruption); `None` when retired.
    pub journal: Option<PathBuf>,
    pub verify: Option<VerifyReport>,
    /// Planning stopped early (a listing failed); objects planned before it were processed.
    pub plan_error: Option<String>,
    pub interrupted: bool,
    /// The run stopped because a side's credentials expire (or expired) and cannot renew;
    /// `interrupted` is set too. Re-authenticate and run again to resume from the journal.
    pub halted: Option<Halt>,
}

/// How the operator steers a run: `stop` ends dispatching (Ctrl-C, cancel); `pause` holds it
/// while true. Requests in flight finish either way.
#[derive(Debug, Clone)]
pub struct Controls {
    pub stop: watch::Receiver<bool>,
    pub pause: watch::Receiver<bool>,
}

#[derive(Debug, Clone)]
pub(crate) enum Task {
    Copy(Listed),
    Check(Listed),
    Delete { key: String, size: u64 },
}

/// The line that tells the operator how to continue after a credentials halt.
pub fn resume_hint(config: &Config, halt: &crate::core::progress::Halt) -> String {
    use crate::core::side::Side;
    let access = match halt.side {
        Side::Source => &config.source.access,
        Side::Destination => {
            config.destination_writer().map(|_| &config.destination.access).unwrap_or(&config.source.access)
        }
    };
    let how = match &access.profile {
        Some(p) => format!("for example `aws sso login --profile {p}`"),
        None => "for example `aws sso login`, or export fresh keys".to_string(),
    };
    let what = if halt.expired { "expired" } else { "expire within minutes" };
    format!(
        "the {} credentials {what} and cannot renew: nothing was lost (in-flight requests finished, the journal is saved). Re-authenticate ({how}) and rerun the same command to resume.",
        halt.side.title().to_lowercase()
    )
}

/// Runs a transfer to its end. `Err` only when it cannot start (credentials, journal, bad
/// globs); per-object failures arrive as events and in the journal. `stop` ends dispatching
/// early (Ctrl-C): in-flight objects finish and the journal keeps the rest for a resume.
pub async fn run(
    config: &Config,
    opts: &Options,
    events: mpsc::UnboundedSender<TransferEvent>,
    stop: watch::Receiver<bool>,
) -> Result<Outcome, TransferError> {
    let (_never, pause) = watch::channel(false);
    run_with(config, opts, events, Controls { stop, pause }).await
}

/// [`run`] with a pause control. Credentials that cannot renew halt the run a safety margin
/// before they expire (or when S3 refuses them): in-flight requests finish, the journal keeps
/// the rest, and `Outcome::halted` says which side needs re-authenticating.
///
/// The stages, each in its own module: `setup` (journal, sessions, write headers, context),
/// `settle` (what a stopped run left in flight), `planner` and `dispatch` running side by side,
/// then the journal's end and `verify`.
pub async fn run_with(
    config: &Config,
    opts: &Options,
    events: mpsc::UnboundedSender<TransferEvent>,
    controls: Controls,
) -> Result<Outcome, TransferError> {
    let settings = &opts.settings;
    let filter = settings.filter()?;
    let emit = |e: TransferEvent| {
        let _ = events.send(e);
    };
    if filter.matches_nothing() {
        emit(TransferEvent::Warning {
            message: "the include/exclude filters take no key: they apply in order and the later wins, so an \
                      exclude of \"*\" must come before the includes it leaves room for (--exclude '*' --include '*.csv')"
                .into(),
        });
    }
    let opened = setup::open_journal(config, opts)?;
    let routed = setup::connect(config, opts, opened.resumed.as_ref()).await?;
    let (writes, ownership) = setup::dest_writes(config, &routed, &emit).await;
    let started = writes.settings(ownership);
    let (ctx, start) = setup::context(config, settings, &routed, writes, opened.journal.clone(), events.clone());
    let ctx = Arc::new(ctx);
    emit(TransferEvent::Started {
        mode: opts.mode,
        method: routed.method,
        concurrency: start,
        resumed: opened.resumed.is_some(),
        dry_run: opts.dry_run,
        writes: started,
        journal: opened.journal.as_ref().map(|j| j.run_dir.display().to_string()),
    });
    let sides = [routed.src.clone(), routed.dst.clone()];
    let reports = dispatch::report(&ctx, sides.clone());
    let syncer = dispatch::sync_every_second(&opened.journal);

    let setup::Opened { id, state_dir, journal, mut resumed, unplanned, index } = opened;
    unplanned.keep();
    if !opts.dry_run {
        settle_resumed(&ctx, resumed.as_mut()).await;
    }
    let (tx, rx) = mpsc::channel::<Task>(QUEUE);
    let planner = planner::Planner {
        mode: opts.mode,
        filter: filter.clone(),
        delete: settings.delete && opts.mode == Mode::Sync,
        dry_run: opts.dry_run,
        run_dir: id.run_dir(&state_dir),
        ctx: ctx.clone(),
    };
    let planning = tokio::spawn(planner.run(resumed, index, routed.listings, tx));
    let interrupted = dispatch::dispatch(&ctx, rx, controls, sides).await;
    reports.stop().await;
    let halted = ctx.halt_state();
    let plan_result =
        planning.await.unwrap_or_else(|e| Err(TransferError::Internal(format!("the planner stopped: {e}"))));
    if let Some(s) = syncer {
        s.stop().await;
    }
    if let Some(e) = ctx.take_journal_error() {
        return Err(e.into());
    }
    let mut outcome = Outcome { interrupted, halted, ..Outcome::default() };
    let plan_complete = match plan_result {
        Ok(complete) => complete,
        Err(e @ (TransferError::List(_) | TransferError::Internal(_))) => {
            outcome.plan_error = Some(e.to_string());
            false
        }
        Err(e) => return Err(e),
    };
    let Ok(mut ctx) = Arc::try_unwrap(ctx) else {
        return Err(TransferError::Internal("the journal is still in use".into()));
    };
    // The journal is finished next: nothing else may hold it.
    ctx.shared.journal = None;
    outcome.journal = finish_journal(journal, plan_complete && !interrupted)?;
    if settings.verify && !opts.dry_run && !interrupted {
        // Read the destination with the best reader: audit credentials when configured (a
        // transfer role is often write-only), else the writer.
        let reader = routed.audit.as_ref().unwrap_or(&routed.dst);
        let ctx = ctx.reading_with(reader);
        let index = IndexReader::for_run(&state_dir, &id)?;
        let report = verify::verify(Arc::new(ctx), [&routed.src, reader], settings.list_page_size, filter, index);
        outcome.verify = Some(report.await?);
    }
    emit(TransferEvent::Finished);
    Ok(outcome)
}

/// A resume first settles what the stopped run left in flight (see `settle`).
async fn settle_resumed(ctx: &Arc<Ctx>, resumed: Option<&mut Resumed>) {
    let Some(r) = resumed.filter(|r| !r.in_flight.is_empty()) else { return };
    let pending = std::mem::take(&mut r.in_flight);
    let s = settle::settle(ctx, pending, &mut r.done).await;
    ctx.emit(TransferEvent::Warning {
        message: format!(
            "the last run stopped with {} objects in flight: {} were already at the destination (journaled, not copied again), {} are copied again; {} open multipart uploads aborted",
            s.copied + s.again,
            s.copied,
            s.again,
            s.aborted
        ),
    });
}

/// Retires the journal of a run that finished everything, without failures; else keeps it
/// and returns where, for a retry or resume.
fn finish_journal(journal: Option<Arc<Journal>>, complete: bool) -> Result<Option<PathBuf>, TransferError> {
    let Some(j) = journal else { return Ok(None) };
    let j = Arc::try_unwrap(j).map_err(|_| TransferError::Internal("the journal is still in use".into()))?;
    let clean = complete && !j.failed_this_run();
    let run_dir = j.run_dir.clone();
    j.finish(clean)?;
    Ok((!clean).then_some(run_dir))
}
