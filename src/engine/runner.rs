//! The engine task behind the TUI: connects both sides, serves listing requests, and watches
//! credential lifetimes. It receives [`EngineCommand`]s and answers with [`EngineEvent`]s.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use crate::config::{Access, Config};
use crate::core::listing::Location;
use crate::core::progress::Mode;
use crate::core::progress::{Halt, TransferEvent};
use crate::core::scope::Request;
use crate::core::side::Side;
use crate::engine::copier::{self, Controls, Options, ResumePolicy, VerifyReport};
use crate::engine::events::EngineEvent;
use crate::engine::inspect;
use crate::engine::lister::{PrefixPages, list_buckets};
use crate::engine::preflight;
use crate::engine::session::Session;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineCommand {
    List {
        side: Side,
        request: u64,
        location: Location,
    },
    /// Run the preflight; `probe` also runs the live probes (the operator confirmed them).
    Preflight {
        probe: bool,
    },
    /// S3 Batch Operations: plan, submit (after the operator's confirmation) or refresh a job.
    Batch(crate::engine::batch::BatchRequest),
    /// List both sides and plan the transfer without writing anything (the plan screen); what
    /// a journal of the same transfer records as done is counted apart.
    Plan(Request),
    /// Start the transfer, or resume it from its journal (after re-authenticating, a cancel, or
    /// to retry what failed: the credential chain is read again and only what is not done runs).
    Transfer(Request),
    /// Hold (true) or release dispatching of new objects.
    Pause(bool),
    /// Stop dispatching; requests in flight finish and the journal is saved.
    Cancel,
    /// An object's details; `tags` asks for its tags too.
    Details {
        side: Side,
        request: u64,
        bucket: String,
        key: String,
        tags: bool,
    },
    /// Count what a prefix holds (streamed); a later `Totals` or `StopTotals` ends the last one.
    Totals {
        side: Side,
        request: u64,
        bucket: String,
        prefix: String,
    },
    StopTotals {
        side: Side,
    },
}

/// How a plan or a transfer ended (the engine's [`copier::Outcome`] without its internals).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferEnd {
    pub dry_run: bool,
    pub interrupted: bool,
    pub halted: Option<Halt>,
    /// What to do about a credentials halt.
    pub hint: Option<String>,
    pub journal: Option<String>,
    pub plan_error: Option<String>,
    /// The run could not start (credentials, journal, bad globs).
    pub error: Option<String>,
    /// `--verify`'s report, when it ran.
    pub verify: Option<VerifyReport>,
    /// The console stopped the run for a signal (1 SIGHUP, 2 Ctrl-C, 15 SIGTERM): the exit code
    /// is 128 + it. Set by the console, not the engine.
    pub signal: Option<i32>,
}

/// How often the credential countdown is re-checked against the SDK's cache.
const LIFETIME_CHECK: Duration = Duration::from_secs(15);
/// Within this much of expiry, renewable credentials are exercised so the SDK renews them.
const NUDGE_BEFORE_EXPIRY: Duration = Duration::from_secs(360);

/// Starts the engine; it stops when the command sender is dropped. Transfers use the
/// config's `[transfer]` settings.
pub fn spawn(config: &Config, events: mpsc::UnboundedSender<EngineEvent>) -> mpsc::UnboundedSender<EngineCommand> {
    let opts = Options {
        mode: config.transfer.mode,
        settings: config.transfer.clone(),
        dry_run: false,
        resume: ResumePolicy::Auto,
    };
    spawn_with(config, opts, events)
}

/// [`spawn`] with the transfer options of `s3ferry cp|sync` (flags applied).
pub fn spawn_with(
    config: &Config,
    transfer: Options,
    events: mpsc::UnboundedSender<EngineEvent>,
) -> mpsc::UnboundedSender<EngineCommand> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (dst_access, dst_via) = config.destination_browser();
    let plans = [
        (config.source.access.clone(), "source credentials", config.source.bucket.clone()),
        (dst_access, dst_via, config.destination.bucket.clone()),
    ];
    tokio::spawn(run(config.clone(), transfer, plans, rx, events));
    tx
}

async fn run(
    config: Config,
    transfer: Options,
    plans: [(Access, &'static str, String); 2],
    mut commands: mpsc::UnboundedReceiver<EngineCommand>,
    events: mpsc::UnboundedSender<EngineEvent>,
) {
    let (conn_tx, mut connected) = mpsc::unbounded_channel::<(Side, Session)>();
    for (side, (access, via, bucket)) in Side::BOTH.into_iter().zip(plans) {
        let events = events.clone();
        let conn_tx = conn_tx.clone();
        tokio::spawn(async move {
            match Session::connect(&access, via, Some(&bucket)).await {
                Ok(session) => {
                    let _ = events.send(EngineEvent::Connected { side, info: session.info.clone() });
                    let _ = conn_tx.send((side, session));
                }
                Err(e) => {
                    let _ = events.send(EngineEvent::ConnectFailed { side, error: e.to_string() });
                }
            }
        });
    }
    drop(conn_tx);
    let mut runner = Runner::new(config, transfer, events);
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(cmd) => runner.command(cmd),
                None => break,
            },
            Some((side, session)) = connected.recv() => runner.connected(side, session),
        }
    }
    runner.abort_all();
}

/// The engine's state between commands: the sessions as they connect, and the tasks it runs.
struct Runner {
    config: Config,
    transfer: Options,
    events: mpsc::UnboundedSender<EngineEvent>,
    sessions: [Option<Session>; 2],
    /// A listing asked for before its side connected.
    pending: [Option<(u64, Location)>; 2],
    /// Each pane's listing; a new one replaces it.
    listing: [Option<AbortHandle>; 2],
    totals: [Option<AbortHandle>; 2],
    watchers: Vec<AbortHandle>,
    stop: watch::Sender<bool>,
    pause: watch::Sender<bool>,
    runs: u32,
    /// Plans and transfers are numbered as they arrive; their events carry the number.
    tickets: u64,
    planning: Option<AbortHandle>,
}

impl Runner {
    fn new(config: Config, transfer: Options, events: mpsc::UnboundedSender<EngineEvent>) -> Runner {
        Runner {
            config,
            transfer,
            events,
            sessions: [None, None],
            pending: [None, None],
            listing: [None, None],
            totals: [None, None],
            watchers: Vec::new(),
            stop: watch::channel(false).0,
            pause: watch::channel(false).0,
            runs: 0,
            tickets: 0,
            planning: None,
        }
    }

    fn command(&mut self, cmd: EngineCommand) {
        match cmd {
            EngineCommand::List { side, request, location } => self.list(side, request, location),
            EngineCommand::Preflight { probe } => self.preflight(probe),
            EngineCommand::Batch(request) => self.batch(request),
            EngineCommand::Plan(request) => self.start(request, true),
            EngineCommand::Transfer(request) => self.start(request, false),
            EngineCommand::Pause(paused) => {
                self.pause.send_replace(paused);
            }
            EngineCommand::Cancel => {
                self.stop.send_replace(true);
            }
            EngineCommand::Details { side, request, bucket, key, tags } => {
                self.details(side, request, bucket, key, tags)
            }
            EngineCommand::Totals { side, request, bucket, prefix } => self.count(side, request, bucket, prefix),
            EngineCommand::StopTotals { side } => {
                if let Some(old) = self.totals[side.index()].take() {
                    old.abort();
                }
            }
        }
    }

    fn connected(&mut self, side: Side, session: Session) {
        let i = side.index();
        self.watchers.push(tokio::spawn(watch_lifetime(side, session.clone(), self.events.clone())).abort_handle());
        if let Some((request, location)) = self.pending[i].take() {
            self.listing[i] = Some(spawn_listing(side, session.clone(), request, location, self.events.clone()));
        }
        self.sessions[i] = Some(session);
    }

    fn abort_all(self) {
        let tasks = self.listing.into_iter().chain(self.totals).chain([self.planning]).flatten();
        for handle in tasks.chain(self.watchers) {
            handle.abort();
        }
    }

    fn list(&mut self, side: Side, request: u64, location: Location) {
        let i = side.index();
        match &self.sessions[i] {
            Some(s) => {
                if let Some(old) = self.listing[i].take() {
                    old.abort();
                }
                self.listing[i] = Some(spawn_listing(side, s.clone(), request, location, self.events.clone()));
            }
            None => self.pending[i] = Some((request, location)),
        }
    }

    fn preflight(&mut self, probe: bool) {
        let (config, events) = (self.config.clone(), self.events.clone());
        let task = tokio::spawn(async move {
            let options = preflight::Options { probe, ..preflight::Options::default() };
            let report = preflight::run(&config, &options).await;
            let _ = events.send(EngineEvent::Preflight(Box::new(report)));
        });
        self.watchers.push(task.abort_handle());
    }

    fn batch(&mut self, request: crate::engine::batch::BatchRequest) {
        let (config, events) = (self.config.clone(), self.events.clone());
        let task = tokio::spawn(async move {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let serving = tokio::spawn(crate::engine::batch::serve(config, request, tx));
            while let Some(e) = rx.recv().await {
                if events.send(EngineEvent::Batch(e)).is_err() {
                    break;
                }
            }
            serving.abort();
        });
        self.watchers.push(task.abort_handle());
    }

    /// A plan (a dry run) or a transfer of the request; either supersedes a plan still running,
    /// which writes nothing and is stopped rather than left to list on.
    fn start(&mut self, request: Request, dry_run: bool) {
        self.tickets += 1;
        if let Some(old) = self.planning.take() {
            old.abort();
        }
        let (config, mut opts) = for_request(&self.config, &self.transfer, &request);
        opts.dry_run = dry_run;
        if dry_run {
            let controls = Controls { stop: self.stop.subscribe(), pause: self.pause.subscribe() };
            self.planning = Some(spawn_transfer(config, opts, controls, self.events.clone(), self.tickets));
            return;
        }
        // A second start is a resume: never discard the journal it needs.
        if self.runs > 0 {
            opts.resume = ResumePolicy::Auto;
        }
        self.runs += 1;
        self.stop.send_replace(false);
        self.pause.send_replace(false);
        let controls = Controls { stop: self.stop.subscribe(), pause: self.pause.subscribe() };
        self.watchers.push(spawn_transfer(config, opts, controls, self.events.clone(), self.tickets));
    }

    fn not_connected(side: Side) -> String {
        format!("the {} side is not connected yet", side.title().to_lowercase())
    }

    fn details(&mut self, side: Side, request: u64, bucket: String, key: String, tags: bool) {
        let Some(session) = self.sessions[side.index()].clone() else {
            let details = Err(Runner::not_connected(side));
            let _ = self.events.send(EngineEvent::Details { side, request, details });
            return;
        };
        let events = self.events.clone();
        let task = tokio::spawn(async move {
            let details = inspect::object_details(&session, &bucket, &key, tags).await.map_err(|e| e.to_string());
            let _ = events.send(EngineEvent::Details { side, request, details });
        });
        self.watchers.push(task.abort_handle());
    }

    fn count(&mut self, side: Side, request: u64, bucket: String, prefix: String) {
        if let Some(old) = self.totals[side.index()].take() {
            old.abort();
        }
        match self.sessions[side.index()].clone() {
            Some(session) => {
                let task = inspect::prefix_totals(side, request, session, bucket, prefix, self.events.clone());
                self.totals[side.index()] = Some(tokio::spawn(task).abort_handle());
            }
            None => {
                let error = Some(Runner::not_connected(side));
                let _ =
                    self.events.send(EngineEvent::Totals { side, request, objects: 0, bytes: 0, done: true, error });
            }
        }
    }
}

/// The config and options of one console request: the scope's prefixes and marks, the mode.
fn for_request(config: &Config, base: &Options, request: &Request) -> (Config, Options) {
    let mut config = config.clone();
    let (source, destination) = config.pair().prefixes(request.scope.as_ref());
    config.source.prefix = source;
    config.destination.prefix = destination;
    let mut opts = base.clone();
    opts.mode = request.mode;
    opts.settings.mode = request.mode;
    opts.settings.delete &= request.mode == Mode::Sync;
    opts.settings.scope = request.scope.as_ref().map(|s| s.entries.clone()).unwrap_or_default();
    config.transfer = opts.settings.clone();
    (config, opts)
}

/// Runs the copier, forwarding its events (not the dry run's per-key lines: the plan screen
/// only needs the counts) and then how it ended.
fn spawn_transfer(
    config: Config,
    opts: Options,
    controls: Controls,
    events: mpsc::UnboundedSender<EngineEvent>,
    ticket: u64,
) -> AbortHandle {
    tokio::spawn(async move {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let forward = {
            let events = events.clone();
            tokio::spawn(async move {
                while let Some(e) = rx.recv().await {
                    if !matches!(e, TransferEvent::DryRun { .. }) {
                        let _ = events.send(EngineEvent::Transfer(ticket, e));
                    }
                }
            })
        };
        let result = copier::run_with(&config, &opts, tx, controls).await;
        let _ = forward.await;
        let end = match result {
            Ok(o) => TransferEnd {
                dry_run: opts.dry_run,
                interrupted: o.interrupted,
                hint: o.halted.as_ref().map(|h| copier::resume_hint(&config, h)),
                halted: o.halted,
                journal: o.journal.map(|p| p.display().to_string()),
                plan_error: o.plan_error,
                error: None,
                verify: o.verify,
                signal: None,
            },
            Err(e) => TransferEnd { dry_run: opts.dry_run, error: Some(e.to_string()), ..TransferEnd::default() },
        };
        let _ = events.send(EngineEvent::TransferEnded(ticket, end));
    })
    .abort_handle()
}

fn spawn_listing(
    side: Side,
    session: Session,
    request: u64,
    location: Location,
    events: mpsc::UnboundedSender<EngineEvent>,
) -> AbortHandle {
    tokio::spawn(async move {
        match location {
            Location::Buckets => {
                let event = match list_buckets(&session.s3, &session.info).await {
                    Ok(entries) => EngineEvent::Listed { side, request, entries, more: false },
                    Err(e) => EngineEvent::ListFailed { side, request, error: e.message },
                };
                let _ = events.send(event);
            }
            Location::Prefix { bucket, prefix } => {
                let mut pages = PrefixPages::new(session.s3.clone(), &bucket, &prefix).following(&session);
                while let Some(page) = pages.next(&session.info).await {
                    let event = match page {
                        Ok(entries) => EngineEvent::Listed { side, request, entries, more: !pages.is_done() },
                        Err(e) => EngineEvent::ListFailed { side, request, error: e.message },
                    };
                    if events.send(event).is_err() {
                        return;
                    }
                }
            }
        }
    })
    .abort_handle()
}

async fn watch_lifetime(side: Side, session: Session, events: mpsc::UnboundedSender<EngineEvent>) {
    let mut last = session.lifetime();
    loop {
        tokio::time::sleep(LIFETIME_CHECK).await;
        let now = std::time::SystemTime::now();
        let due = last.renews && last.remaining(now).is_some_and(|r| r < NUDGE_BEFORE_EXPIRY);
        let current = if due { session.refresh_lifetime().await } else { session.lifetime() };
        if current != last {
            if events.send(EngineEvent::Lifetime { side, lifetime: current.clone() }).is_err() {
                return;
            }
            last = current;
        }
    }
}
