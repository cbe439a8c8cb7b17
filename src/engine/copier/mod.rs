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

pub mod limiter;
pub mod listing;
pub mod object;
pub mod retry;
pub mod settle;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::types::{ObjectCannedAcl, ObjectOwnership};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::config::{Access, Config, TransferConfig};
use crate::core::credentials::{SAFETY_MARGIN, may_dispatch};
use crate::core::plan::{Decision, Filter, GlobError, Listed, Need, Reason, Recorded, Step, SyncMerge};
use crate::core::progress::{Halt, Method, Mode, Planned, TransferEvent, WriteSettings};
use crate::core::side::Side;
use crate::engine::copier::limiter::Limiter;
use crate::engine::copier::listing::{ObjectPages, Prefetched};
use crate::engine::errors::{describe_sdk_error, error_code};
use crate::engine::journal::{
    self, IndexReader, Journal, JournalError, PlanReader, PlanRecord, Resumed, RunIdentity, fnv128,
};
use crate::engine::session::{Session, SessionError, SessionInfo};

/// Tasks queued between planner and workers.
pub const QUEUE: usize = 2_048;
/// Streamed bytes held in memory at once (GET bodies waiting for their PUT).
pub const STREAM_BUFFER: u64 = 1 << 30;
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
    #[error("{0}")]
    List(String),
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

/// What every worker shares.
pub(crate) struct Ctx {
    pub(crate) src: aws_sdk_s3::Client,
    pub(crate) src_bucket: String,
    pub(crate) src_prefix: String,
    pub(crate) dst: aws_sdk_s3::Client,
    pub(crate) dst_bucket: String,
    pub(crate) dst_prefix: String,
    pub(crate) kms_key: Option<String>,
    pub(crate) dest_owner: Option<String>,
    pub(crate) acl: Option<ObjectCannedAcl>,
    pub(crate) method: Method,
    pub(crate) threshold: u64,
    pub(crate) part_size: u64,
    pub(crate) limiter: Arc<Limiter>,
    pub(crate) buffer: Semaphore,
    pub(crate) buffer_kib: u32,
    pub(crate) events: mpsc::UnboundedSender<TransferEvent>,
    pub(crate) journal: Option<Arc<Journal>>,
    journal_error: Mutex<Option<JournalError>>,
    pub(crate) src_who: String,
    pub(crate) dst_who: String,
    /// The sessions behind `src`/`dst`, to renew refused credentials (None in unit tests).
    pub(crate) sessions: [Option<Session>; 2],
    /// Set once when credentials cannot be renewed: dispatching stops.
    pub(crate) halt: Mutex<Option<Halt>>,
}

impl Ctx {
    pub(crate) fn session(&self, side: Side) -> Option<&Session> {
        self.sessions[side.index()].as_ref()
    }

    /// Whether a side's credentials renew themselves (unknown counts as yes: keep trying).
    pub(crate) fn renews(&self, side: Side) -> bool {
        self.session(side).is_none_or(|s| s.lifetime().renews)
    }

    pub(crate) fn halt_state(&self) -> Option<Halt> {
        *self.halt.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn halted(&self) -> bool {
        self.halt_state().is_some()
    }

    /// Stops dispatching for credentials; the first reason is the one reported.
    pub(crate) fn halt(&self, mut halt: Halt) {
        if self.method == Method::ServerSide {
            // One identity does both sides' requests: its credentials are the source's.
            halt.side = Side::Source;
        }
        let mut slot = self.halt.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(halt);
            self.emit(TransferEvent::Halted { halt });
        }
    }

    /// Writes to the journal; the first failure stops dispatching (we must not lose track).
    pub(crate) fn record(&self, f: impl FnOnce(&Journal) -> Result<(), JournalError>) {
        if let Some(j) = &self.journal
            && let Err(e) = f(j)
        {
            let mut slot = self.journal_error.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(e);
        }
    }

    fn journal_failed(&self) -> bool {
        self.journal_error.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }
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

/// A background task that ends with the scope that started it, whichever way it is left.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Removes a directory when dropped, unless told to keep it.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn who(info: &SessionInfo) -> String {
    format!("{} (account {})", info.identity.arn, info.identity.account)
}

/// How long a copier request may wait for its answer. A server-side copy answers only when
/// the copy is done (S3 keeps the connection alive meanwhile; other stores send nothing), and a
/// 5 GiB UploadPartCopy can take minutes: the sessions' 60 s would cut it off and its retry
/// would start it again while the first one still runs. Stalled bodies are caught separately.
const COPY_READ_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The starting limit and ceiling, lowered (with a warning) to what the process's open-file
/// limit allows: past it, sockets fail to open and requests fail with "Too many open files".
fn within_open_files(settings: &TransferConfig, method: Method, emit: &impl Fn(TransferEvent)) -> (usize, usize) {
    let (start, ceiling) = (settings.concurrency, settings.max_concurrency.max(settings.concurrency));
    let Some(files) = crate::engine::open_files::limit() else { return (start, ceiling) };
    let per = if method == Method::Stream { 2 } else { 1 };
    let allowed = limiter::open_file_ceiling(files, per);
    if ceiling <= allowed {
        return (start, ceiling);
    }
    emit(TransferEvent::Warning {
        message: format!(
            "the open-file limit ({files}, ulimit -n) allows about {allowed} requests in flight: at most {allowed} \
             instead of {ceiling}. Raise the hard limit (ulimit -Hn, or LimitNOFILE= for a service) to go further"
        ),
    });
    (start.min(allowed), allowed)
}

/// A copy of a session's S3 client with the SDK's retries off: the copier retries itself so
/// throttles and retries are visible as events and drive the concurrency limit.
fn no_retry(s3: &aws_sdk_s3::Client) -> aws_sdk_s3::Client {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(crate::engine::session::CONNECT_TIMEOUT)
        .read_timeout(COPY_READ_TIMEOUT)
        .build();
    aws_sdk_s3::Client::from_conf(
        s3.config().to_builder().retry_config(RetryConfig::disabled()).timeout_config(timeouts).build(),
    )
}

fn with_region(mut access: Access, region: Option<String>, endpoint: Option<String>) -> Access {
    access.region = region;
    if access.endpoint_url.is_none() {
        access.endpoint_url = endpoint;
    }
    access
}

/// The account named in a key ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`).
fn key_account(arn: &str) -> Option<String> {
    arn.split(':').nth(4).filter(|a| a.len() == 12).map(str::to_string)
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
pub async fn run_with(
    config: &Config,
    opts: &Options,
    events: mpsc::UnboundedSender<TransferEvent>,
    controls: Controls,
) -> Result<Outcome, TransferError> {
    let Controls { mut stop, mut pause } = controls;
    let settings = &opts.settings;
    let filter = settings.filter()?;
    let delete = settings.delete && opts.mode == Mode::Sync;
    let emit = |e: TransferEvent| {
        let _ = events.send(e);
    };

    // The journal (not for a dry run: it writes nothing), opened first: whether there is a
    // listing to start depends on it.
    let id = RunIdentity {
        source: format!("s3://{}/{}", config.source.bucket, config.source.prefix),
        destination: format!("s3://{}/{}", config.destination.bucket, config.destination.prefix),
        source_endpoint: config.source.access.endpoint_url.clone(),
        destination_endpoint: config.destination.access.endpoint_url.clone(),
        mode: opts.mode,
        include: settings.include.clone(),
        exclude: settings.exclude.clone(),
        delete,
        scope: settings.scope.clone(),
    };
    let state_dir = config.state_dir();
    let run_dir = id.run_dir(&state_dir);
    let (journal, resumed) = if opts.dry_run {
        // A dry run writes nothing, but reads what an earlier run did: it plans only the rest.
        let resumed = if opts.resume == ResumePolicy::Fresh { None } else { journal::peek(&state_dir, &id)? };
        (None, resumed)
    } else {
        let (j, r) =
            Journal::open(&state_dir, &id, opts.resume == ResumePolicy::Fresh, opts.resume == ResumePolicy::Require)?;
        (Some(Arc::new(j)), r)
    };
    // A journal this run created goes again if the run ends before planning (credentials
    // refused, say): the next run would otherwise "resume" a run that never began.
    let unplanned = RemoveOnDrop((journal.is_some() && resumed.is_none()).then(|| id.run_dir(&state_dir)));
    let index = match opts.mode {
        Mode::Sync => Some(IndexReader::for_run(&state_dir, &id)?),
        Mode::Cp => None,
    };

    // Sessions: the source; the destination writer (its own credentials => streaming), else the
    // source identity in the destination's Region (server-side copy). The source's first page
    // is on its way while STS confirms the source identity and the destination's Region and
    // Object Ownership are looked up: three round trips less before the first copy. A plan
    // that is complete lists nothing.
    let listing = !resumed.as_ref().is_some_and(Resumed::whole_plan);
    let after = resumed.as_ref().and_then(|r| r.last_planned_key.clone());
    let start_listing = |session: &Session, bucket: &str, prefix: &str| {
        ObjectPages::transfer(session, bucket, prefix, after.as_deref(), settings.list_page_size)
    };
    let (src, source_pages) =
        Session::connect_with(&config.source.access, "source credentials", Some(&config.source.bucket), |s| {
            listing.then(|| start_listing(s, &config.source.bucket, &config.source.prefix))
        })
        .await?;

    // The destination's session and the audit identity (its account decides
    // ExpectedBucketOwner) are looked up at the same time.
    let endpoint = config.source.access.endpoint_url.clone();
    let destination = async {
        Ok::<_, TransferError>(match config.destination_writer() {
            Some(access) => (
                Session::connect(&access, "destination credentials", Some(&config.destination.bucket)).await?,
                Method::Stream,
            ),
            None => {
                let via = "source credentials (destination side)";
                let dst_endpoint = config.destination.access.endpoint_url.clone();
                let session = if dst_endpoint.is_none() || dst_endpoint == endpoint {
                    src.sibling(via, &config.destination.bucket, config.destination.access.region.as_deref()).await
                } else {
                    let access = with_region(
                        config.source.access.clone(),
                        config.destination.access.region.clone(),
                        dst_endpoint,
                    );
                    Session::connect(&access, via, Some(&config.destination.bucket)).await?
                };
                (session, Method::ServerSide)
            }
        })
    };
    let audit = async {
        let a = config.destination.audit.as_ref()?;
        let a = with_region(
            a.clone(),
            a.region.clone(),
            config.destination.access.endpoint_url.clone().or(endpoint.clone()),
        );
        Session::connect(&a, "audit credentials", Some(&config.destination.bucket)).await.ok()
    };
    let (destination, audit) = tokio::join!(destination, audit);
    let (dst, method) = destination?;
    let listings = source_pages.map(|source| Listings {
        source,
        // A dry-run cp lists the destination too: the plan says what it would overwrite.
        destination: (opts.mode == Mode::Sync || opts.dry_run)
            .then(|| start_listing(&dst, &config.destination.bucket, &config.destination.prefix)),
    });

    // The destination's account and Object Ownership decide ExpectedBucketOwner and the ACL.
    let dest_owner = config
        .destination
        .kms_key_arn
        .as_deref()
        .and_then(key_account)
        .or_else(|| audit.as_ref().map(|a| a.info.identity.account.clone()))
        .or_else(|| (method == Method::Stream).then(|| dst.info.identity.account.clone()));
    if dest_owner.is_none() {
        emit(TransferEvent::Warning {
            message: "the destination bucket's account is unknown (no kms_key_arn, audit or destination credentials): ExpectedBucketOwner is not sent".into(),
        });
    }
    let mut readers: Vec<&Session> = Vec::new();
    if method == Method::Stream {
        readers.push(&dst);
    }
    if let Some(a) = &audit {
        readers.push(a);
    }
    if method == Method::ServerSide {
        readers.push(&dst);
    }
    let (ownership_mode, acl, warning) = ownership(&readers, &config.destination.bucket, dest_owner.as_deref()).await;
    let writes = WriteSettings {
        ownership: ownership_mode,
        acl: acl.as_ref().map(|a| a.as_str().to_string()),
        expected_bucket_owner: dest_owner.clone(),
        kms_key_arn: config.destination.kms_key_arn.clone(),
    };
    if let Some(message) = warning {
        emit(TransferEvent::Warning { message });
    }

    let (start, ceiling) = within_open_files(settings, method, &emit);
    let limiter = Limiter::new(start, ceiling);
    let buffer_kib = (STREAM_BUFFER / 1024) as u32;
    let ctx = Arc::new(Ctx {
        src: no_retry(&src.s3),
        src_bucket: config.source.bucket.clone(),
        src_prefix: config.source.prefix.clone(),
        dst: no_retry(&dst.s3),
        dst_bucket: config.destination.bucket.clone(),
        dst_prefix: config.destination.prefix.clone(),
        kms_key: config.destination.kms_key_arn.clone(),
        dest_owner,
        acl,
        method,
        threshold: settings.multipart_threshold,
        part_size: settings.part_size,
        limiter: limiter.clone(),
        buffer: Semaphore::new(buffer_kib as usize),
        buffer_kib,
        events: events.clone(),
        journal: journal.clone(),
        journal_error: Mutex::new(None),
        src_who: who(&src.info),
        dst_who: who(&dst.info),
        sessions: [Some(src.clone()), Some(dst.clone())],
        halt: Mutex::new(None),
    });
    emit(TransferEvent::Started {
        mode: opts.mode,
        method,
        concurrency: start,
        resumed: resumed.is_some(),
        dry_run: opts.dry_run,
        writes,
        journal: journal.as_ref().map(|j| j.run_dir.display().to_string()),
    });

    // The countdowns follow the sessions the run really uses, renewals included. The first
    // lifetimes go out before the planner starts: with its first page already listed, the plan
    // could otherwise be complete before the task below has sent them.
    let first = [src.lifetime(), dst.lifetime()];
    for (side, lifetime) in Side::BOTH.into_iter().zip(&first) {
        emit(TransferEvent::Lifetime { side, lifetime: lifetime.clone() });
    }
    let lifetimes = {
        let (sessions, events, limiter) = ([src.clone(), dst.clone()], events.clone(), limiter.clone());
        AbortOnDrop(tokio::spawn(async move {
            let mut last = first.map(Some);
            let mut last_in_flight = 0;
            loop {
                let in_flight = limiter.in_flight();
                if in_flight != last_in_flight {
                    let _ = events.send(TransferEvent::InFlight { requests: in_flight });
                    last_in_flight = in_flight;
                }
                for (side, session) in Side::BOTH.into_iter().zip(&sessions) {
                    let now = session.lifetime();
                    if last[side.index()].as_ref() != Some(&now) {
                        let _ = events.send(TransferEvent::Lifetime { side, lifetime: now.clone() });
                        last[side.index()] = Some(now);
                    }
                }
                if events.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }))
    };

    // The plan and the completions become durable every second; fdatasync blocks, so not on a
    // worker thread.
    let syncer = journal.clone().map(|j| {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let j = j.clone();
                let _ = tokio::task::spawn_blocking(move || j.sync()).await;
            }
        })
    });

    let (tx, mut rx) = mpsc::channel::<Task>(QUEUE);
    let planner = Planner {
        src_bucket: config.source.bucket.clone(),
        src_prefix: config.source.prefix.clone(),
        dst_bucket: config.destination.bucket.clone(),
        dst_prefix: config.destination.prefix.clone(),
        mode: opts.mode,
        filter: filter.clone(),
        delete,
        dry_run: opts.dry_run,
        journal: journal.clone(),
        run_dir,
        events: events.clone(),
        src_who: who(&src.info),
        dst_who: who(&dst.info),
        ctx: ctx.clone(),
    };
    unplanned.keep();
    let mut resumed = resumed;
    if let Some(r) = resumed.as_mut().filter(|r| !r.in_flight.is_empty() && !opts.dry_run) {
        let pending = std::mem::take(&mut r.in_flight);
        let s = settle::settle(&ctx, pending, &mut r.done).await;
        emit(TransferEvent::Warning {
            message: format!(
                "the last run stopped with {} objects in flight: {} were already at the destination (journaled, not copied again), {} are copied again; {} open multipart uploads aborted",
                s.copied + s.again,
                s.copied,
                s.again,
                s.aborted
            ),
        });
    }
    let planning = tokio::spawn(planner.run(resumed, index, listings, tx));

    let mut workers = JoinSet::new();
    let mut interrupted = *stop.borrow();
    let mut was_paused = false;
    let sides = [src.clone(), dst.clone()];
    while !interrupted {
        if *pause.borrow() != was_paused {
            was_paused = !was_paused;
            emit(TransferEvent::Paused { paused: was_paused });
        }
        if was_paused {
            tokio::select! {
                Ok(()) = pause.changed() => {}
                _ = stop.changed() => interrupted = true,
            }
            continue;
        }
        // Credentials that cannot renew: stop a safety margin before they expire.
        let now = std::time::SystemTime::now();
        if let Some(side) =
            Side::BOTH.into_iter().find(|s| !may_dispatch(&sides[s.index()].lifetime(), now, SAFETY_MARGIN))
        {
            ctx.halt(Halt { side, expired: false });
        }
        if ctx.halted() {
            interrupted = true;
            break;
        }
        let task = tokio::select! {
            t = rx.recv() => t,
            _ = stop.changed() => { interrupted = true; None }
            Ok(()) = pause.changed() => continue,
        };
        let Some(task) = task else { break };
        if ctx.journal_failed() {
            break;
        }
        if let Some(h) = ctx.halt_state() {
            // Halted while this task waited: it stays in the journal for the resume.
            emit(TransferEvent::Requeued { side: h.side });
            interrupted = true;
            break;
        }
        let permit = tokio::select! {
            p = limiter.acquire() => p,
            _ = stop.changed() => { interrupted = true; break }
        };
        if let Task::Copy(o) | Task::Check(o) = &task {
            // Before the first request: a kill -9 from here on leaves a line the resume settles.
            ctx.record(|j| j.started(&o.key, o.size));
        }
        workers.spawn(object::process(ctx.clone(), task, permit));
        while workers.try_join_next().is_some() {}
    }
    drop(rx);
    while workers.join_next().await.is_some() {}
    drop(lifetimes);
    let halted = ctx.halt_state();
    // A halt that came from a refused request (not the dispatch gate) also ends the run.
    interrupted |= halted.is_some();
    let plan_result = planning.await.unwrap_or_else(|e| Err(TransferError::List(format!("the planner stopped: {e}"))));
    if let Some(s) = syncer {
        s.abort();
        let _ = s.await;
    }
    if let Some(e) = ctx.journal_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(e.into());
    }

    let mut outcome = Outcome { interrupted, halted, ..Outcome::default() };
    let plan_complete = match plan_result {
        Ok(complete) => complete,
        Err(TransferError::List(message)) => {
            outcome.plan_error = Some(message);
            false
        }
        Err(e) => return Err(e),
    };
    drop(ctx);
    if let Some(j) = journal {
        let j = Arc::try_unwrap(j).map_err(|_| TransferError::List("the journal is still in use".into()))?;
        let clean = plan_complete && !interrupted && !j.failed_this_run();
        let run_dir = j.run_dir.clone();
        j.finish(clean)?;
        if !clean {
            outcome.journal = Some(run_dir);
        }
    }

    if settings.verify && !opts.dry_run && !interrupted {
        // Read the destination with the best reader: audit credentials when configured (a
        // transfer role is often write-only), else the writer.
        let reader = audit.as_ref().unwrap_or(&dst);
        let ctx = Ctx {
            src: no_retry(&src.s3),
            dst: no_retry(&reader.s3),
            journal: None,
            journal_error: Mutex::new(None),
            limiter: limiter.clone(),
            buffer: Semaphore::new(1),
            events: events.clone(),
            src_bucket: config.source.bucket.clone(),
            src_prefix: config.source.prefix.clone(),
            dst_bucket: config.destination.bucket.clone(),
            dst_prefix: config.destination.prefix.clone(),
            kms_key: None,
            dest_owner: None,
            acl: None,
            method,
            threshold: settings.multipart_threshold,
            part_size: settings.part_size,
            buffer_kib: 1,
            src_who: who(&src.info),
            dst_who: who(&reader.info),
            sessions: [Some(src.clone()), Some(reader.clone())],
            halt: Mutex::new(None),
        };
        let index = IndexReader::for_run(&state_dir, &id)?;
        outcome.verify = Some(verify(Arc::new(ctx), [&src, reader], settings.list_page_size, filter, index).await?);
    }
    emit(TransferEvent::Finished);
    Ok(outcome)
}

/// Object Ownership decides the ACL header: none for BucketOwnerEnforced (ACLs disabled; any
/// other ACL fails), `bucket-owner-full-control` for BucketOwnerPreferred and ObjectWriter.
/// Tried with each reader in turn (destination credentials > audit > source identity).
async fn ownership(
    readers: &[&Session],
    bucket: &str,
    owner: Option<&str>,
) -> (Option<String>, Option<ObjectCannedAcl>, Option<String>) {
    let mut tried = Vec::new();
    for s in readers {
        let out =
            s.s3.get_bucket_ownership_controls()
                .bucket(bucket)
                .set_expected_bucket_owner(owner.map(str::to_string))
                .send()
                .await;
        match out {
            Ok(o) => {
                let rule = o.ownership_controls().and_then(|c| c.rules().first()).map(|r| r.object_ownership().clone());
                let name = rule.as_ref().map(|r| r.as_str().to_string());
                return match rule {
                    Some(ObjectOwnership::BucketOwnerEnforced) | None => (name, None, None),
                    Some(ObjectOwnership::BucketOwnerPreferred) => {
                        (name, Some(ObjectCannedAcl::BucketOwnerFullControl), None)
                    }
                    Some(other) => (
                        name,
                        Some(ObjectCannedAcl::BucketOwnerFullControl),
                        Some(format!(
                            "s3://{bucket} uses Object Ownership {}: copies stay owned by the writing account; sending bucket-owner-full-control so the bucket owner at least gets full control. Switch the bucket to BucketOwnerEnforced.",
                            other.as_str()
                        )),
                    ),
                };
            }
            Err(e) if error_code(&e).as_deref() == Some("OwnershipControlsNotFoundError") => {
                return (
                    Some("ObjectWriter".to_string()),
                    Some(ObjectCannedAcl::BucketOwnerFullControl),
                    Some(format!(
                        "s3://{bucket} has no Object Ownership setting (legacy ObjectWriter): copies stay owned by the writing account; sending bucket-owner-full-control"
                    )),
                );
            }
            Err(e) => tried.push(format!("{}: {}", s.info.via, describe_sdk_error(&e))),
        }
    }
    (
        None,
        None,
        Some(format!(
            "could not read the Object Ownership of s3://{bucket} ({}); sending no ACL header, which is right for BucketOwnerEnforced (the AWS default since April 2023). If copies fail with AccessDenied on an older bucket, set it to BucketOwnerEnforced or give [destination.audit] credentials.",
            if tried.is_empty() { "no credentials to read it with".to_string() } else { tried.join("; ") }
        )),
    )
}

/// The listings a plan reads, started before the planner (see `run_with`).
struct Listings {
    source: Prefetched,
    /// Sync only.
    destination: Option<Prefetched>,
}

struct Planner {
    src_bucket: String,
    src_prefix: String,
    dst_bucket: String,
    dst_prefix: String,
    mode: Mode,
    filter: Filter,
    delete: bool,
    dry_run: bool,
    journal: Option<Arc<Journal>>,
    /// Where this run's journal is (or would be): a resume, dry or not, replays its plan.
    run_dir: PathBuf,
    events: mpsc::UnboundedSender<TransferEvent>,
    src_who: String,
    dst_who: String,
    /// To halt the run when a listing meets credentials that cannot be renewed.
    ctx: Arc<Ctx>,
}

impl Planner {
    fn emit(&self, e: TransferEvent) {
        let _ = self.events.send(e);
    }

    /// Plans (or replays the plan of an interrupted run) and queues the work. Returns whether
    /// the plan is complete. Stops quietly when the dispatcher stops listening.
    async fn run(
        self,
        resumed: Option<Resumed>,
        mut index: Option<IndexReader>,
        listings: Option<Listings>,
        tx: mpsc::Sender<Task>,
    ) -> Result<bool, TransferError> {
        let resumed = resumed.unwrap_or_default();
        if resumed.plan_lines > 0 {
            let mut reader = PlanReader::open(&self.run_dir)?;
            loop {
                let batch = reader.next_batch(PAGE)?;
                if batch.is_empty() {
                    break;
                }
                for rec in batch {
                    if !self.queue_record(&rec, &resumed, &tx).await {
                        return Ok(false);
                    }
                }
            }
            if resumed.whole_plan() {
                self.emit(TransferEvent::PlanComplete);
                return Ok(true);
            }
        }
        let after = resumed.last_planned_key.as_deref();
        let not_started = || TransferError::List("the plan is incomplete, but its listings were not started".into());
        let Listings { source: mut src, destination } = listings.ok_or_else(not_started)?;
        let list_err = |side: &str, bucket: &str, prefix: &str, who: &str, (code, detail): (String, String)| {
            if retry::classify(Some(&code), None, false) == retry::Class::Expired {
                // Credentials that could not be renewed: a stop for re-authentication, like a
                // refused copy, not a listing failure.
                let side = if side == "source" { Side::Source } else { Side::Destination };
                self.ctx.halt(Halt { side, expired: true });
            }
            let hint = if code == "AccessDenied" {
                format!(". Next: allow s3:ListBucket on arn:aws:s3:::{bucket} for {who}")
            } else {
                String::new()
            };
            TransferError::List(format!("listing the {side} s3://{bucket}/{prefix} as {who} failed: {detail}{hint}"))
        };
        match self.mode {
            Mode::Cp if destination.is_none() => loop {
                let page = src
                    .next()
                    .await
                    .map_err(|e| list_err("source", &self.src_bucket, &self.src_prefix, &self.src_who, e))?;
                let Some(page) = page else { break };
                self.emit(TransferEvent::Listed { side: Side::Source, objects: src.listed });
                for object in page.into_iter().filter(|o| self.filter.matches(&o.key)) {
                    let rec = PlanRecord::Copy {
                        k: object.key,
                        s: object.size,
                        e: object.etag,
                        r: Reason::Requested,
                        m: object.modified,
                    };
                    if !self.plan(rec, &resumed, &tx).await? {
                        return Ok(false);
                    }
                }
                self.flush()?;
            },
            // sync, and a dry-run cp, which lists the destination to say what it would overwrite.
            _ => {
                let mut dst = destination.ok_or_else(not_started)?;
                let mut merge = SyncMerge::new(self.filter.clone(), self.delete);
                loop {
                    match merge.step() {
                        Step::Done => break,
                        Step::Needs(Need::Source) => {
                            let page = src.next().await.map_err(|e| {
                                list_err("source", &self.src_bucket, &self.src_prefix, &self.src_who, e)
                            })?;
                            match page {
                                Some(p) => merge.push_source(p),
                                None => merge.finish_source(),
                            }
                            self.emit(TransferEvent::Listed { side: Side::Source, objects: src.listed });
                            self.flush()?;
                        }
                        Step::Needs(Need::Dest) => {
                            let page = match dst.next().await {
                                // A cp needs no destination listing; its plan only counts
                                // overwrites with one. Without it, every object is a copy.
                                Err((code, detail)) if self.mode == Mode::Cp => {
                                    self.emit(TransferEvent::Warning {
                                        message: format!(
                                            "cannot list s3://{}/{} to count overwrites ({code}: {detail}); the plan counts every object as a copy",
                                            self.dst_bucket, self.dst_prefix
                                        ),
                                    });
                                    None
                                }
                                page => page.map_err(|e| {
                                    list_err("destination", &self.dst_bucket, &self.dst_prefix, &self.dst_who, e)
                                })?,
                            };
                            match page {
                                Some(p) => merge.push_dest(p),
                                None => merge.finish_dest(),
                            }
                            self.emit(TransferEvent::Listed { side: Side::Destination, objects: dst.listed });
                        }
                        Step::Needs(Need::Index) => {
                            let page = match &mut index {
                                Some(i) => i.page(PAGE, after)?,
                                None => Vec::new(),
                            };
                            if page.is_empty() {
                                merge.finish_index();
                            } else {
                                merge.push_index(page);
                            }
                        }
                        Step::Decided(d) => {
                            let rec = match self.mode {
                                Mode::Sync => PlanRecord::from_decision(d),
                                Mode::Cp => cp_record(d),
                            };
                            let Some(rec) = rec else { continue };
                            if !self.plan(rec, &resumed, &tx).await? {
                                return Ok(false);
                            }
                        }
                    }
                }
            }
        }
        if let Some(j) = &self.journal {
            j.plan(&PlanRecord::End)?;
        }
        self.flush()?;
        self.emit(TransferEvent::PlanComplete);
        Ok(true)
    }

    fn flush(&self) -> Result<(), TransferError> {
        if let Some(j) = &self.journal {
            j.flush_plan()?;
        }
        Ok(())
    }

    /// Records a new decision in the journal and queues it.
    async fn plan(&self, rec: PlanRecord, resumed: &Resumed, tx: &mpsc::Sender<Task>) -> Result<bool, TransferError> {
        if let Some(j) = &self.journal {
            j.plan(&rec)?;
        }
        Ok(self.queue_record(&rec, resumed, tx).await)
    }

    /// Counts a decision and queues its work unless an earlier run finished it. False when
    /// the dispatcher has stopped.
    async fn queue_record(&self, rec: &PlanRecord, resumed: &Resumed, tx: &mpsc::Sender<Task>) -> bool {
        let reason = match rec {
            PlanRecord::Copy { r: Reason::Requested, .. } => None,
            PlanRecord::Copy { r: Reason::New, .. } => Some(Reason::New),
            PlanRecord::Copy { .. } => Some(Reason::Changed),
            _ => None,
        };
        let (action, bytes, task) = match rec {
            PlanRecord::Copy { s, .. } => (Planned::Copy, *s, rec.listed().map(Task::Copy)),
            PlanRecord::Check { s, .. } => (Planned::Check, *s, rec.listed().map(Task::Check)),
            PlanRecord::Skip { s, .. } => (Planned::Skip, *s, None),
            PlanRecord::Delete { k, s } => (Planned::Delete, *s, Some(Task::Delete { key: k.clone(), size: *s })),
            PlanRecord::End => return true,
        };
        let done = task.is_some() && resumed.done.contains(&fnv128(rec.key().unwrap_or_default().as_bytes()));
        if done && self.dry_run {
            // What an earlier run finished is not planned again: the plan counts the rest.
            self.emit(TransferEvent::AlreadyDone { bytes });
            return true;
        }
        self.emit(TransferEvent::Planned { action, bytes, reason });
        if self.dry_run {
            if action != Planned::Skip {
                // Copies are named by their source key, deletions by their destination key.
                let prefix = if action == Planned::Delete { &self.dst_prefix } else { &self.src_prefix };
                let key = format!("{prefix}{}", rec.key().unwrap_or_default());
                self.emit(TransferEvent::DryRun { action, key, bytes });
            }
            return true;
        }
        let Some(task) = task else { return true };
        if done {
            self.emit(TransferEvent::AlreadyDone { bytes });
            return true;
        }
        tx.send(task).await.is_ok()
    }
}

/// A dry-run cp's decision: every source object is copied, as new or as an overwrite of what
/// the destination holds; what is only at the destination is left alone.
fn cp_record(d: Decision) -> Option<PlanRecord> {
    let (object, reason) = match d {
        Decision::Copy { object, reason: Reason::New } => (object, Reason::New),
        Decision::Copy { object, .. } | Decision::Check { object, .. } | Decision::Skip { object, .. } => {
            (object, Reason::Changed)
        }
        Decision::Delete { .. } | Decision::Extra { .. } => return None,
    };
    Some(PlanRecord::Copy { k: object.key, s: object.size, e: object.etag, r: reason, m: object.modified })
}

/// `--verify`: lists both sides again and checks every object in scope: present, same size,
/// identity (index record or recorded source ETag, as `sync` decides), and equal checksums
/// where both sides have a whole-object checksum of the same algorithm.
async fn verify(
    ctx: Arc<Ctx>,
    [src_session, dst_session]: [&Session; 2],
    page_size: u32,
    filter: Filter,
    mut index: IndexReader,
) -> Result<VerifyReport, TransferError> {
    // Renewing, as the run's own listings: verify comes last, when credentials are oldest.
    let mut src = ObjectPages::transfer(src_session, &ctx.src_bucket, &ctx.src_prefix, None, page_size);
    let mut dst = ObjectPages::transfer(dst_session, &ctx.dst_bucket, &ctx.dst_prefix, None, page_size);
    let mut merge = SyncMerge::new(filter, false);
    let report = Arc::new(Mutex::new(VerifyReport::default()));
    let mut checks = JoinSet::new();
    let fail = |report: &Mutex<VerifyReport>, key: String, problem: String| {
        report.lock().unwrap_or_else(|p| p.into_inner()).mismatches.push(Mismatch { key, problem });
    };
    loop {
        match merge.step() {
            Step::Done => break,
            Step::Needs(Need::Source) => match src.next().await.map_err(|(_, d)| TransferError::List(d))? {
                Some(p) => merge.push_source(p),
                None => merge.finish_source(),
            },
            Step::Needs(Need::Dest) => match dst.next().await.map_err(|(_, d)| TransferError::List(d))? {
                Some(p) => merge.push_dest(p),
                None => merge.finish_dest(),
            },
            Step::Needs(Need::Index) => {
                let page: Vec<Recorded> = index.page(PAGE, None)?;
                if page.is_empty() {
                    merge.finish_index();
                } else {
                    merge.push_index(page);
                }
            }
            Step::Decided(Decision::Extra { .. } | Decision::Delete { .. }) => {}
            Step::Decided(d) => {
                report.lock().unwrap_or_else(|p| p.into_inner()).checked += 1;
                let key = format!("{}{}", ctx.src_prefix, d.key());
                let identity_known = matches!(d, Decision::Skip { .. });
                match d {
                    Decision::Copy { reason: Reason::New, .. } => {
                        fail(&report, key, "missing at the destination".into());
                    }
                    Decision::Copy { .. } => {
                        fail(&report, key, "size or recorded source identity differs".into());
                    }
                    Decision::Skip { object, .. } | Decision::Check { object, .. } => {
                        let (ctx, report) = (ctx.clone(), report.clone());
                        checks.spawn(async move {
                            let (s, t) = tokio::join!(
                                object::facts(&ctx, Side::Source, &object.key),
                                object::facts(&ctx, Side::Destination, &object.key)
                            );
                            let problem = match (s, t) {
                                (Err((_, m)), _) => Some(format!("cannot read the source: {m}")),
                                (_, Err((_, m))) => Some(format!("cannot read the destination: {m}")),
                                (Ok(s), Ok(t)) => {
                                    let checksum = s.checksums.iter().find_map(|(alg, v)| {
                                        t.checksums.iter().find(|(a, w)| a == alg && w != v).map(|(_, w)| {
                                            format!("{alg} checksum differs: source {v}, destination {w}")
                                        })
                                    });
                                    if s.size != t.size {
                                        Some(format!("size differs: source {}, destination {}", s.size, t.size))
                                    } else if checksum.is_some() {
                                        checksum
                                    } else if !identity_known
                                        && !crate::core::plan::resolve_check(&object, t.source_etag.as_deref())
                                    {
                                        Some(
                                            "same size, but no record that it was copied from this source version"
                                                .into(),
                                        )
                                    } else {
                                        None
                                    }
                                }
                            };
                            if let Some(p) = problem {
                                let key = format!("{}{}", ctx.src_prefix, object.key);
                                report
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .mismatches
                                    .push(Mismatch { key, problem: p });
                            }
                        });
                        while checks.len() > QUEUE {
                            checks.join_next().await;
                        }
                    }
                    Decision::Delete { .. } | Decision::Extra { .. } => {}
                }
            }
        }
    }
    while checks.join_next().await.is_some() {}
    let mut r = Arc::try_unwrap(report).map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner())).unwrap_or_default();
    r.mismatches.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(r)
}
