//! `s3ferry cp` and `s3ferry sync`: run the transfer engine headless, print progress (text or
//! NDJSON) and a final summary, and turn the result into an exit code.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::cli::exit::Exit;
use crate::config::{Config, MAX_CONCURRENCY, MAX_LIST_PAGE_SIZE};
use crate::core::listing::printable;
use crate::core::progress::{Mode, Planned, Progress, TransferEvent};
use crate::core::units::{format_size, parse_size};
use crate::engine::copier::{self, Options, Outcome, ResumePolicy, TransferError};
use crate::engine::journal::JournalError;

pub const EXIT_HELP: &str = "Exit codes: 0 = every object in scope is at the destination (or nothing needed doing); \
1 = some objects failed, a listing failed, verification found mismatches or the run was interrupted \
(the summary says which; rerun the same command to resume); 2 = usage or configuration error; \
4 = credentials expire (or expired) and cannot renew: the run stopped before losing anything; \
re-authenticate and rerun the same command to resume; \
5 = --max-failures was reached: dispatching stopped (requests in flight finished, the journal is kept); \
6 = --require-ready and the preflight is not READY: nothing was copied; \
129, 130, 143 = stopped by SIGHUP, Ctrl-C (SIGINT) or SIGTERM: the requests in flight finished and \
the journal is saved; rerun the same command to resume. \
In a terminal the console opens on the plan (y starts); --headless, or a stdout that is not a terminal, \
runs without it.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressFormat {
    /// A status line on stderr every few seconds and a text summary.
    Text,
    /// NDJSON on stdout: {"type":"progress"} about once a second, {"type":"failure"},
    /// {"type":"warning"}, {"type":"plan"} (dry run) and a final {"type":"summary"}.
    Json,
    /// Only the summary.
    None,
}

/// Flags shared by `cp` and `sync`; each overrides the `[transfer]` field of the same name.
#[derive(Debug, Clone, clap::Args)]
pub struct CopyArgs {
    /// Requests in flight (1-4096), lowered automatically on 503 SlowDown. Unset, s3ferry starts
    /// at 256 and grows to 1024 while answers come as fast as the link allows; set, it is the most.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=MAX_CONCURRENCY as i64))]
    pub concurrency: Option<u16>,
    /// Let the limit grow past --concurrency up to this many while latency shows the link binds
    /// (1-4096; default 1024 when --concurrency is unset).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=MAX_CONCURRENCY as i64))]
    pub max_concurrency: Option<u16>,
    /// Copy objects larger than this in parts (5MiB-5GiB; default 5GiB).
    #[arg(long, value_name = "SIZE", value_parser = part_size_arg)]
    pub multipart_threshold: Option<u64>,
    /// Part size for multipart copies (5MiB-5GiB; default 64MiB; grown to fit 10,000 parts).
    #[arg(long, value_name = "SIZE", value_parser = part_size_arg)]
    pub part_size: Option<u64>,
    /// Take keys (relative to the source prefix) matching this glob; repeatable. Filters apply
    /// in order and the later wins, as in aws s3 cp (--exclude '*' --include '*.csv' takes the
    /// CSVs); a first --include starts from nothing. Filters given here replace the config's.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out keys matching this glob; repeatable; in order with --include.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// --include and --exclude in the order given (set from the command line's positions).
    #[arg(skip)]
    pub filters: Vec<crate::core::plan::FilterRule>,
    /// Re-check every object at the end (size, recorded source ETag, checksums) and list mismatches.
    #[arg(long)]
    pub verify: bool,
    /// Keys asked for per listing page (1-100000; default 1000). S3 never returns more than
    /// 1,000; some S3-compatible stores honour more, saving round trips on large buckets.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=MAX_LIST_PAGE_SIZE as i64))]
    pub list_page_size: Option<u32>,
    /// Where journals live (default: transfer.state_dir, else .s3ferry/ beside the config).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print the plan and its counts; write nothing (no bucket writes, no journal).
    #[arg(long, alias = "dryrun")]
    pub dry_run: bool,
    /// Continue an interrupted run; fails when there is none. (Without it, a journal for the
    /// same transfer is resumed automatically.)
    #[arg(long, conflicts_with = "fresh")]
    pub resume: bool,
    /// Discard any journal of an earlier run and start over.
    #[arg(long)]
    pub fresh: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub progress: ProgressFormat,
    /// Same as --progress json: NDJSON on stdout, as every other command's --json.
    #[arg(long)]
    pub json: bool,
    /// Run without the console even in a terminal (as when stdout is not a terminal).
    #[arg(long)]
    pub headless: bool,
    /// Price table for the plan's cost estimate (TOML, the format of assets/prices.toml).
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// Objects per second to estimate the ETA with before the run has a rate of its own.
    #[arg(long, value_name = "OBJECTS_PER_S", value_parser = rate_arg)]
    pub rate: Option<f64>,
    /// Stop dispatching once this many objects have failed (exit 5; the journal keeps the rest).
    /// The console has its own guard: it pauses a run whose first objects all fail.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_failures: Option<u64>,
    /// Run the preflight first and copy nothing unless it is READY (exit 6, with the failing
    /// and unknown checks).
    #[arg(long)]
    pub require_ready: bool,
}

/// A flag value `cp`/`sync` refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("a positive number of objects per second, e.g. 250")]
    Rate,
    #[error("{0}")]
    Size(String),
    #[error("S3 accepts 5MiB to 5GiB")]
    PartSize,
}

fn rate_arg(s: &str) -> Result<f64, FlagError> {
    match s.trim().trim_end_matches("/s").parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(FlagError::Rate),
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub common: CopyArgs,
    /// Delete destination objects missing from the source (within the include/exclude scope).
    #[arg(long)]
    pub delete: bool,
}

fn part_size_arg(s: &str) -> Result<u64, FlagError> {
    let n = parse_size(s).map_err(|e| FlagError::Size(e.to_string()))?;
    if !(crate::core::plan::MIN_PART..=crate::core::plan::MAX_PART).contains(&n) {
        return Err(FlagError::PartSize);
    }
    Ok(n)
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error("writing output failed: {0}")]
    Output(#[from] std::io::Error),
}

impl CopyError {
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            CopyError::Transfer(TransferError::Glob(_))
                | CopyError::Transfer(TransferError::Journal(JournalError::NothingToResume { .. }))
        )
    }
}

/// Applies the flags to the config's `[transfer]` settings.
pub fn options(config: &Config, mode: Mode, args: &CopyArgs, delete: bool) -> (Config, Options) {
    let mut config = config.clone();
    let t = &mut config.transfer;
    t.mode = mode;
    if let Some(c) = args.concurrency {
        t.set_concurrency(c as usize);
    }
    if let Some(m) = args.max_concurrency {
        t.set_max_concurrency(m as usize);
    }
    if let Some(v) = args.multipart_threshold {
        t.multipart_threshold = v;
    }
    if let Some(v) = args.part_size {
        t.part_size = v;
    }
    if let Some(n) = args.list_page_size {
        t.list_page_size = n;
    }
    if !args.filters.is_empty() {
        t.filters = args.filters.clone();
    } else if !args.include.is_empty() || !args.exclude.is_empty() {
        // Built without the command line's positions (a test, a caller): includes, then excludes.
        t.filters = crate::core::plan::FilterRule::lists(&args.include, &args.exclude);
    }
    t.verify |= args.verify;
    t.delete = mode == Mode::Sync && (delete || t.delete);
    if let Some(dir) = &args.state_dir {
        // A flag is relative to where the operator stands, not to the config file.
        t.state_dir = std::env::current_dir().map(|d| d.join(dir)).unwrap_or_else(|_| dir.clone());
    }
    let resume = if args.fresh {
        ResumePolicy::Fresh
    } else if args.resume {
        ResumePolicy::Require
    } else {
        ResumePolicy::Auto
    };
    let opts = Options { mode, settings: config.transfer.clone(), dry_run: args.dry_run, resume };
    (config, opts)
}

/// What the command decided; the binary turns it into an exit code.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Complete,
    Incomplete,
    /// Stopped for credentials that cannot renew; resumable after re-authenticating.
    Credentials,
    /// Stopped by `--max-failures`.
    TooManyFailures,
    /// `--require-ready` and the preflight is not READY: nothing ran.
    NotReady,
    /// Stopped by this signal (2 SIGINT, 15 SIGTERM, 1 SIGHUP); the exit code is 128 + it.
    Signal(i32),
}

impl Verdict {
    pub fn exit(&self) -> Exit {
        match self {
            Verdict::Complete => Exit::Success,
            Verdict::Incomplete => Exit::Failed,
            Verdict::Credentials => Exit::Credentials,
            Verdict::TooManyFailures => Exit::MaxFailures,
            Verdict::NotReady => Exit::NotReady,
            Verdict::Signal(n) => Exit::Signal(*n),
        }
    }
}

pub use crate::engine::copier::resume_hint;

/// Runs the transfer, printing as it goes.
pub async fn run(
    config: &Config,
    mode: Mode,
    args: &CopyArgs,
    delete: bool,
    out: &mut impl Write,
) -> Result<Verdict, CopyError> {
    let (config, opts) = options(config, mode, args, delete);
    if args.require_ready && !opts.dry_run && !ready(&config).await {
        return Ok(Verdict::NotReady);
    }
    let config_for_hint = config.clone();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop = stop_tx.clone();
    let signalled = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
    let seen = signalled.clone();
    tokio::spawn(async move {
        if let Some((name, number)) = interrupted().await {
            eprintln!(
                "s3ferry: {name}: finishing the requests in flight (a second signal leaves now); rerun to resume"
            );
            seen.store(number, std::sync::atomic::Ordering::SeqCst);
            let _ = stop_tx.send(true);
            // The wait is the operator's to cut short: every finished copy is journaled already,
            // and the resume settles what is left in flight.
            if let Some((name, number)) = interrupted().await {
                eprintln!("s3ferry: {name} again: leaving now; the resume settles what was in flight");
                std::process::exit(crate::cli::exit::Exit::Signal(number).code().into());
            }
        }
    });
    let mut too_many = false;
    let engine = tokio::spawn(async move { copier::run(&config, &opts, tx, stop_rx).await });

    let started = Instant::now();
    let mut progress = Progress::default();
    let every = match args.progress {
        ProgressFormat::Json => Duration::from_secs(1),
        _ => Duration::from_secs(5),
    };
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            event = rx.recv() => {
                let Some(event) = event else { break };
                progress.apply(&event, started.elapsed());
                show(out, args.progress, &event)?;
                if let Some(max) = args.max_failures
                    && progress.failed >= max
                    && !too_many
                {
                    too_many = true;
                    eprintln!("s3ferry: {}", max_failures_hint(&progress, max));
                    let _ = stop.send(true);
                }
            }
            _ = tick.tick() => {
                match args.progress {
                    ProgressFormat::Json => {
                        writeln!(out, "{}", serde_json::to_string(&progress.snapshot(started.elapsed())).unwrap_or_default())?;
                    }
                    ProgressFormat::Text if !args.dry_run => eprintln!("s3ferry: {}", status_line(&progress, started.elapsed())),
                    _ => {}
                }
                out.flush()?;
            }
        }
    }
    let outcome = engine.await.map_err(|e| TransferError::Internal(format!("the transfer engine stopped: {e}")))??;
    let summary = progress.summary(started.elapsed());
    let halt_hint = outcome.halted.as_ref().map(|h| resume_hint(&config_for_hint, h));
    let complete = summary.failed == 0
        && outcome.plan_error.is_none()
        && !outcome.interrupted
        && outcome.verify.as_ref().is_none_or(|v| v.mismatches.is_empty());
    match args.progress {
        ProgressFormat::Json => {
            let mut v = serde_json::to_value(&summary).unwrap_or_default();
            v["verify"] = serde_json::to_value(&outcome.verify).unwrap_or_default();
            v["journal"] =
                serde_json::to_value(outcome.journal.as_ref().map(|p| p.display().to_string())).unwrap_or_default();
            v["plan_error"] = serde_json::to_value(&outcome.plan_error).unwrap_or_default();
            v["interrupted"] = outcome.interrupted.into();
            v["resume_hint"] = serde_json::to_value(&halt_hint).unwrap_or_default();
            v["failures_total"] = summary.failed.into();
            writeln!(out, "{v}")?;
        }
        _ => text_summary(out, &summary, &outcome)?,
    }
    out.flush()?;
    if let Some(hint) = &halt_hint {
        eprintln!("s3ferry: {hint}");
    }
    let signal = signalled.load(std::sync::atomic::Ordering::SeqCst);
    Ok(if outcome.halted.is_some() {
        Verdict::Credentials
    } else if signal != 0 && outcome.interrupted {
        Verdict::Signal(signal)
    } else if too_many {
        Verdict::TooManyFailures
    } else if complete {
        Verdict::Complete
    } else {
        Verdict::Incomplete
    })
}

/// Waits for Ctrl-C, SIGTERM or SIGHUP (an SSH drop): each stops the run the same way, the
/// requests in flight finishing and the journal saved, so a resume copies none of them again.
async fn interrupted() -> Option<(&'static str, i32)> {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) else {
        return tokio::signal::ctrl_c().await.ok().map(|()| ("interrupted", 2));
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.ok().map(|()| ("interrupted", 2)),
        _ = term.recv() => Some(("SIGTERM", 15)),
        _ = hup.recv() => Some(("SIGHUP", 1)),
    }
}

/// `--require-ready`: the preflight's verdict, and on stderr what keeps it from READY.
async fn ready(config: &Config) -> bool {
    let report = crate::engine::preflight::run(config, &crate::engine::preflight::Options::default()).await;
    let gate = crate::core::preflight::gate::Gate::of(Some(&report));
    if !gate.ready() {
        eprintln!(
            "s3ferry: --require-ready: the preflight says {}; nothing was copied. Run `s3ferry preflight` for the fixes.",
            gate.describe()
        );
    }
    gate.ready()
}

/// What `--max-failures` says when it stops a run: how many failed, the commonest code and the
/// prefix they share, and what to do.
pub fn max_failures_hint(p: &Progress, max: u64) -> String {
    use crate::core::guard::{dir_of, shared_dir};
    let mut codes: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for f in &p.failures {
        *codes.entry(f.code.as_str()).or_default() += 1;
    }
    let code = codes.iter().max_by_key(|(_, n)| **n).map(|(c, _)| *c).unwrap_or("?");
    let prefix = p.failures.iter().map(|f| dir_of(&f.key).to_string()).reduce(|a, b| shared_dir(&a, &b));
    let under = prefix.filter(|p| !p.is_empty()).map(|p| format!(" under {p}")).unwrap_or_default();
    format!(
        "--max-failures {max}: {} objects failed (most {code}{under}); dispatching stopped, the requests in flight finish and the journal keeps the rest. Fix the cause (`s3ferry preflight` names the missing permission) and rerun the same command to resume.",
        p.failed
    )
}

fn show(out: &mut impl Write, format: ProgressFormat, event: &TransferEvent) -> std::io::Result<()> {
    match (format, event) {
        (ProgressFormat::Json, TransferEvent::Failed { failure }) => {
            let mut v = serde_json::to_value(failure).unwrap_or_default();
            v["type"] = "failure".into();
            writeln!(out, "{v}")
        }
        (ProgressFormat::Json, TransferEvent::Warning { message }) => {
            writeln!(out, "{}", serde_json::json!({"type": "warning", "message": message}))
        }
        (ProgressFormat::Json, TransferEvent::DryRun { action, key, bytes }) => {
            writeln!(out, "{}", serde_json::json!({"type": "plan", "action": action, "key": key, "bytes": bytes}))
        }
        (_, TransferEvent::Warning { message }) => {
            eprintln!("s3ferry: warning: {message}");
            Ok(())
        }
        (ProgressFormat::Text, TransferEvent::Failed { failure }) => {
            eprintln!("s3ferry: failed: {}", printable(&failure.message));
            Ok(())
        }
        (ProgressFormat::Text, TransferEvent::DryRun { action, key, bytes }) => {
            let verb = match action {
                Planned::Copy => "copy",
                Planned::Check => "check",
                Planned::Delete => "delete",
                Planned::Skip => "skip",
            };
            writeln!(out, "{verb:<6} {:>10}  {}", format_size(*bytes), printable(key))
        }
        _ => Ok(()),
    }
}

fn status_line(p: &Progress, elapsed: Duration) -> String {
    let (ops, bps) = p.rates(elapsed);
    let total = if p.plan_complete {
        format!("{}", p.planned_copy + p.planned_check + p.planned_delete)
    } else {
        format!("{}+ (planning)", p.planned_copy + p.planned_check + p.planned_delete)
    };
    format!(
        "{} done of {total}: copied {} ({}), skipped {}, failed {}; {:.0} objects/s, {}/s; {} in flight max",
        p.finished_objects() + p.already_done,
        p.copied,
        format_size(p.bytes_copied),
        p.skipped + p.planned_skip,
        p.failed,
        ops,
        format_size(bps as u64),
        p.concurrency
    )
}

fn text_summary(out: &mut impl Write, s: &crate::core::progress::Summary, outcome: &Outcome) -> std::io::Result<()> {
    if s.dry_run {
        writeln!(
            out,
            "dry run: would copy {} objects ({}), check {} (copied only if the destination's recorded source ETag differs), delete {}, skip {}; nothing was written",
            s.planned_copy,
            format_size(s.planned_copy_bytes),
            s.planned_check,
            s.planned_delete,
            s.skipped
        )?;
        if s.already_done > 0 {
            writeln!(
                out,
                "resuming: {} objects ({}) already done by an earlier run are not counted; the run copies only the rest",
                s.already_done,
                format_size(s.already_done_bytes)
            )?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "copied {} objects ({}) in {:.1} s ({:.0} objects/s, {}/s); skipped {}; deleted {}; failed {}{}",
        s.copied,
        format_size(s.bytes),
        s.seconds,
        s.objects_per_s,
        format_size(s.bytes_per_s as u64),
        s.skipped,
        s.deleted,
        s.failed,
        if s.already_done > 0 {
            format!("; {} already done by the interrupted run", s.already_done)
        } else {
            String::new()
        }
    )?;
    for f in &s.failures {
        writeln!(
            out,
            "  {} [{} after {} attempt(s)]: {}",
            printable(&f.key),
            f.code,
            f.attempts,
            printable(&f.message)
        )?;
    }
    if s.failed as usize > s.failures.len() {
        writeln!(out, "  ... and {} more (all in the journal's failed.jsonl)", s.failed as usize - s.failures.len())?;
    }
    if let Some(v) = &outcome.verify {
        writeln!(out, "verified {} objects: {} mismatches", v.checked, v.mismatches.len())?;
        for m in &v.mismatches {
            writeln!(out, "  {}: {}", m.key, m.problem)?;
        }
    }
    if let Some(e) = &outcome.plan_error {
        writeln!(out, "planning stopped: {e}")?;
    }
    if let Some(j) = &outcome.journal {
        writeln!(out, "journal kept in {}: rerun the same command to retry what is not done", j.display())?;
    }
    Ok(())
}

/// The `--include` and `--exclude` of a `cp`/`sync` command line, in the order they were given.
pub fn ordered_filters(matches: &clap::ArgMatches) -> Vec<crate::core::plan::FilterRule> {
    let mut rules: Vec<(usize, crate::core::plan::FilterRule)> = Vec::new();
    for (id, include) in [("include", true), ("exclude", false)] {
        let (Some(values), Some(at)) = (matches.get_many::<String>(id), matches.indices_of(id)) else { continue };
        rules.extend(at.zip(values).map(|(i, g)| (i, crate::core::plan::FilterRule { include, glob: g.clone() })));
    }
    rules.sort_by_key(|(i, _)| *i);
    rules.into_iter().map(|(_, r)| r).collect()
}
