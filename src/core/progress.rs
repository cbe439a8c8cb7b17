//! Transfer progress: the small events the copier sends, folded by one reducer into a state
//! that the dashboard and `--progress json` both read, plus the final summary.
//!
//! Time is passed in (as the time since the run started) so the reducer stays pure and
//! testable without clocks.

use std::collections::VecDeque;
use std::time::Duration;

use crate::core::credentials::CredentialLifetime;
use crate::core::plan::Reason;
use crate::core::side::Side;

/// How objects travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// CopyObject/UploadPartCopy by one identity that can read the source and write the destination.
    ServerSide,
    /// GET with the source credentials, PUT/multipart upload with the destination's.
    Stream,
}

/// `cp` or `sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Cp,
    Sync,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Cp => "cp",
            Mode::Sync => "sync",
        }
    }
}

/// The headers every destination write carries, and why (shown once per run).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteSettings {
    /// The destination's Object Ownership as read, or `None` when it could not be read.
    pub ownership: Option<String>,
    /// The canned ACL sent (`bucket-owner-full-control`), or `None` for no ACL header.
    pub acl: Option<String>,
    pub expected_bucket_owner: Option<String>,
    pub kms_key_arn: Option<String>,
}

/// What the planner decided for one object (the counts of a plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Planned {
    Copy,
    /// Needs a look at the destination before it is copied or skipped.
    Check,
    Skip,
    Delete,
}

/// A per-object failure: a record, never an early return.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    /// The source key (absolute, as in the bucket).
    pub key: String,
    /// The S3 error code ("AccessDenied", "NoSuchKey", ...) or a short name for transport errors.
    pub code: String,
    pub message: String,
    pub attempts: u32,
}

/// The messages the engine sends while a transfer runs. Small on purpose: keys appear only in
/// failures and in `LargeStarted` (objects copied in parts, worth showing on a dashboard).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TransferEvent {
    Started {
        mode: Mode,
        method: Method,
        concurrency: usize,
        resumed: bool,
        dry_run: bool,
        writes: WriteSettings,
        /// The journal's directory (`None` for a dry run, which writes none).
        journal: Option<String>,
    },
    /// Cumulative objects listed on a side.
    Listed {
        side: Side,
        objects: u64,
    },
    Planned {
        action: Planned,
        bytes: u64,
        /// Why a copy is planned (sync: new or changed; a dry-run cp: new or an overwrite).
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<Reason>,
    },
    PlanComplete,
    /// A multipart or streamed object began.
    LargeStarted {
        key: String,
        size: u64,
        parts: u64,
    },
    /// Part of a large object arrived.
    PartDone {
        bytes: u64,
    },
    Copied {
        bytes: u64,
        parted: bool,
    },
    /// A checked object turned out to be unchanged.
    Skipped {
        bytes: u64,
    },
    Deleted,
    /// An object already done in an earlier, interrupted run (resume).
    AlreadyDone {
        bytes: u64,
    },
    Failed {
        failure: Failure,
    },
    Retry {
        code: String,
    },
    Throttled,
    /// Credentials expired mid-request; the request is re-queued, not failed.
    CredentialsExpired {
        side: Side,
    },
    Concurrency {
        limit: usize,
    },
    /// A side's credentials as the run uses them: sent at the start and after each renewal.
    Lifetime {
        side: Side,
        lifetime: CredentialLifetime,
    },
    /// Requests in flight (sampled twice a second, sent when it changes).
    InFlight {
        requests: usize,
    },
    /// The operator paused (or resumed) dispatching; requests in flight continue.
    Paused {
        paused: bool,
    },
    /// An object whose credentials expired and could not be renewed in time: it is not a
    /// failure; it stays in the journal and is copied when the run resumes.
    Requeued {
        side: Side,
    },
    /// The run stops dispatching because a side's credentials cannot renew: they are about to
    /// expire (`expired: false`, the safety margin) or S3 refused them (`expired: true`).
    Halted {
        halt: Halt,
    },
    /// Something the operator should know that does not stop the run.
    Warning {
        message: String,
    },
    /// `--dry-run` only: one planned action, with its key, for the printed plan.
    DryRun {
        action: Planned,
        key: String,
        bytes: u64,
    },
    Finished,
}

/// Why a run stopped for credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Halt {
    pub side: Side,
    pub expired: bool,
}

/// Retries counted by why they happened: a dashboard that says "retries 4,211" should also say
/// whether S3 is throttling, credentials are turning over, or the network is failing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetryReasons {
    pub throttle: u64,
    pub expiry: u64,
    pub timeout: u64,
    #[serde(rename = "5xx")]
    pub server: u64,
    pub other: u64,
}

/// S3's (and STS's) codes for "slow down": the copier backs off and lowers concurrency.
pub const THROTTLE_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequests",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
];
/// Codes for credentials that expired under a request: renew and send it again.
pub const EXPIRED_CODES: &[&str] = &["ExpiredToken", "ExpiredTokenException", "InvalidToken", "TokenRefreshRequired"];
/// Transient server trouble worth another try.
pub const SERVER_CODES: &[&str] = &[
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeoutException",
    "OperationAborted",
    "IncompleteBody",
    "ReadError",
    "HTTP 500",
    "HTTP 502",
    "HTTP 504",
];

impl RetryReasons {
    /// Counts one retry by its error code (S3's, or the copier's name for a transport error).
    pub fn count(&mut self, code: &str) {
        let slot = if THROTTLE_CODES.contains(&code) || matches!(code, "HTTP 503" | "HTTP 429") {
            &mut self.throttle
        } else if EXPIRED_CODES.contains(&code) || code == "HTTP 400" {
            &mut self.expiry
        } else if code.contains("Timeout") {
            &mut self.timeout
        } else if SERVER_CODES.contains(&code) {
            &mut self.server
        } else {
            &mut self.other
        };
        *slot += 1;
    }

    /// "throttle 12 · 5xx 3", the reasons that occurred; empty when none did.
    pub fn describe(&self) -> String {
        let named = [
            ("throttle", self.throttle),
            ("expiry", self.expiry),
            ("timeout", self.timeout),
            ("5xx", self.server),
            ("other", self.other),
        ];
        named.iter().filter(|(_, n)| *n > 0).map(|(w, n)| format!("{w} {n}")).collect::<Vec<_>>().join(" · ")
    }
}

const WINDOW_SECS: u64 = 10;
/// Failures kept in memory for the summary; all of them also go to the journal's failed.jsonl.
pub const KEPT_FAILURES: usize = 1_000;

/// The reduced state. Serializes as one `--progress json` line.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Progress {
    pub mode: Option<Mode>,
    pub method: Option<Method>,
    pub writes: WriteSettings,
    pub resumed: bool,
    pub dry_run: bool,
    pub listed_source: u64,
    pub listed_destination: u64,
    pub plan_complete: bool,
    pub planned_copy: u64,
    pub planned_copy_bytes: u64,
    pub planned_check: u64,
    pub planned_skip: u64,
    pub planned_delete: u64,
    pub copied: u64,
    pub bytes_copied: u64,
    pub skipped: u64,
    /// Bytes of checked objects found unchanged (done without a copy).
    pub skipped_bytes: u64,
    pub deleted: u64,
    pub already_done: u64,
    /// Bytes of the objects an earlier run finished (a resume's gauges count them as done).
    pub already_done_bytes: u64,
    pub failed: u64,
    pub retries: u64,
    /// Retries by reason ("throttle", "expiry", "timeout", "5xx", "other"), for the dashboard.
    pub retry_reasons: RetryReasons,
    pub throttles: u64,
    pub credential_expiries: u64,
    /// The journal's directory, once the run has opened it.
    pub journal: Option<String>,
    pub concurrency: usize,
    /// The highest the limit went (it grows past its start far from the bucket).
    pub concurrency_peak: usize,
    pub requeued: u64,
    pub in_flight: usize,
    pub paused: bool,
    pub halted: Option<Halt>,
    pub source_credentials: Option<CredentialLifetime>,
    pub destination_credentials: Option<CredentialLifetime>,
    pub large_in_flight: Vec<(String, u64)>,
    pub warnings: Vec<String>,
    pub finished: bool,
    #[serde(skip)]
    pub failures: Vec<Failure>,
    /// Bytes moved including parts of unfinished objects (for throughput).
    #[serde(skip)]
    moved: u64,
    #[serde(skip)]
    window: VecDeque<(u64, u64, u64)>,
}

/// One `--progress json` line.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Snapshot<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub elapsed_s: f64,
    #[serde(flatten)]
    pub progress: &'a Progress,
    pub objects_per_s: f64,
    pub bytes_per_s: f64,
    /// Objects still to do, once the plan is complete.
    pub remaining: Option<u64>,
}

/// The final report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub mode: Option<Mode>,
    pub method: Option<Method>,
    pub writes: WriteSettings,
    pub dry_run: bool,
    pub resumed: bool,
    pub planned_copy: u64,
    pub planned_check: u64,
    pub planned_delete: u64,
    pub copied: u64,
    pub skipped: u64,
    pub deleted: u64,
    pub already_done: u64,
    pub already_done_bytes: u64,
    /// Bytes the plan copies (a dry run's "would copy"; excludes what an earlier run did).
    pub planned_copy_bytes: u64,
    pub failed: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub objects_per_s: f64,
    pub bytes_per_s: f64,
    pub retries: u64,
    pub throttles: u64,
    /// The highest requests-in-flight limit of the run.
    pub concurrency_peak: usize,
    /// Requests refused with ExpiredToken (each retried after renewing, never a failure).
    pub credential_expiries: u64,
    /// Objects left for the resume because credentials could not be renewed.
    pub requeued: u64,
    pub halted: Option<Halt>,
    pub listed_source: u64,
    pub listed_destination: u64,
    pub warnings: Vec<String>,
    pub failures: Vec<Failure>,
}

impl Progress {
    pub fn apply(&mut self, event: &TransferEvent, at: Duration) {
        let (mut objects, mut bytes) = (0, 0);
        match event {
            TransferEvent::Started { mode, method, concurrency, resumed, dry_run, writes, journal } => {
                self.writes = writes.clone();
                self.journal = journal.clone();
                self.mode = Some(*mode);
                self.method = Some(*method);
                self.concurrency = *concurrency;
                self.concurrency_peak = *concurrency;
                self.resumed = *resumed;
                self.dry_run = *dry_run;
            }
            TransferEvent::Listed { side: Side::Source, objects } => self.listed_source = *objects,
            TransferEvent::Listed { side: Side::Destination, objects } => self.listed_destination = *objects,
            TransferEvent::Planned { action, bytes, .. } => match action {
                Planned::Copy => {
                    self.planned_copy += 1;
                    self.planned_copy_bytes += bytes;
                }
                Planned::Check => {
                    self.planned_check += 1;
                    self.planned_copy_bytes += bytes;
                }
                Planned::Skip => self.planned_skip += 1,
                Planned::Delete => self.planned_delete += 1,
            },
            TransferEvent::PlanComplete => self.plan_complete = true,
            TransferEvent::LargeStarted { key, size, .. } => self.large_in_flight.push((key.clone(), *size)),
            TransferEvent::PartDone { bytes: b } => {
                self.moved += b;
                bytes = *b;
            }
            TransferEvent::Copied { bytes: b, parted } => {
                self.copied += 1;
                self.bytes_copied += b;
                objects = 1;
                if !parted {
                    self.moved += b;
                    bytes = *b;
                }
                if *parted && !self.large_in_flight.is_empty() {
                    // The oldest large object is the most likely to finish first; the list is
                    // a display aid, trimmed so it never grows.
                    self.large_in_flight.remove(0);
                }
            }
            TransferEvent::Skipped { bytes } => {
                self.skipped += 1;
                self.skipped_bytes += bytes;
                objects = 1;
            }
            TransferEvent::Deleted => {
                self.deleted += 1;
                objects = 1;
            }
            TransferEvent::AlreadyDone { bytes } => {
                self.already_done += 1;
                self.already_done_bytes += bytes;
            }
            TransferEvent::Failed { failure } => {
                self.failed += 1;
                self.large_in_flight.retain(|(k, _)| *k != failure.key);
                objects = 1;
                if self.failures.len() < KEPT_FAILURES {
                    self.failures.push(failure.clone());
                }
            }
            TransferEvent::Retry { code } => {
                self.retries += 1;
                self.retry_reasons.count(code);
            }
            TransferEvent::Throttled => self.throttles += 1,
            TransferEvent::CredentialsExpired { .. } => self.credential_expiries += 1,
            TransferEvent::Concurrency { limit } => {
                self.concurrency = *limit;
                self.concurrency_peak = self.concurrency_peak.max(*limit);
            }
            TransferEvent::Lifetime { side: Side::Source, lifetime } => {
                self.source_credentials = Some(lifetime.clone())
            }
            TransferEvent::Lifetime { side: Side::Destination, lifetime } => {
                self.destination_credentials = Some(lifetime.clone())
            }
            TransferEvent::Paused { paused } => self.paused = *paused,
            TransferEvent::InFlight { requests } => self.in_flight = *requests,
            TransferEvent::Requeued { .. } => self.requeued += 1,
            TransferEvent::Halted { halt } => self.halted = Some(*halt),
            TransferEvent::Warning { message } => {
                if self.warnings.len() < 100 {
                    self.warnings.push(message.clone());
                }
            }
            TransferEvent::DryRun { .. } => {}
            TransferEvent::Finished => {
                self.finished = true;
                self.in_flight = 0;
                self.large_in_flight.clear();
            }
        }
        if objects > 0 || bytes > 0 {
            let second = at.as_secs();
            match self.window.back_mut() {
                Some((s, o, b)) if *s == second => {
                    *o += objects;
                    *b += bytes;
                }
                _ => self.window.push_back((second, objects, bytes)),
            }
            while self.window.front().is_some_and(|(s, _, _)| s + WINDOW_SECS <= second) {
                self.window.pop_front();
            }
        }
    }

    /// Objects and bytes per second over the last few seconds.
    pub fn rates(&self, at: Duration) -> (f64, f64) {
        let now = at.as_secs();
        let from = now.saturating_sub(WINDOW_SECS - 1);
        let (o, b) =
            self.window.iter().filter(|(s, _, _)| *s >= from).fold((0, 0), |(o, b), (_, wo, wb)| (o + wo, b + wb));
        // A window shorter than WINDOW_SECS at the start of a run.
        let span = (at.as_secs_f64() - from as f64).clamp(1.0, WINDOW_SECS as f64);
        (o as f64 / span, b as f64 / span)
    }

    /// Bytes moved so far, parts of unfinished objects included (the throughput chart's input).
    pub fn moved(&self) -> u64 {
        self.moved
    }

    /// The credentials of a side as last reported.
    pub fn credentials(&self, side: Side) -> Option<&CredentialLifetime> {
        match side {
            Side::Source => self.source_credentials.as_ref(),
            Side::Destination => self.destination_credentials.as_ref(),
        }
    }

    /// Objects finished in any way (copied, skipped after a check, deleted, failed).
    pub fn finished_objects(&self) -> u64 {
        self.copied + self.skipped + self.deleted + self.failed
    }

    pub fn snapshot(&self, at: Duration) -> Snapshot<'_> {
        let (objects_per_s, bytes_per_s) = self.rates(at);
        let work = self.planned_copy + self.planned_check + self.planned_delete;
        Snapshot {
            kind: "progress",
            elapsed_s: round(at.as_secs_f64()),
            progress: self,
            objects_per_s: round(objects_per_s),
            bytes_per_s: round(bytes_per_s),
            remaining: self.plan_complete.then(|| work.saturating_sub(self.finished_objects() + self.already_done)),
        }
    }

    pub fn summary(&self, at: Duration) -> Summary {
        let seconds = at.as_secs_f64();
        let per = |n: u64| if seconds > 0.0 { round(n as f64 / seconds) } else { 0.0 };
        Summary {
            kind: "summary",
            mode: self.mode,
            method: self.method,
            writes: self.writes.clone(),
            dry_run: self.dry_run,
            resumed: self.resumed,
            planned_copy: self.planned_copy,
            planned_check: self.planned_check,
            planned_delete: self.planned_delete,
            copied: self.copied,
            skipped: self.skipped + self.planned_skip,
            deleted: self.deleted,
            already_done: self.already_done,
            already_done_bytes: self.already_done_bytes,
            planned_copy_bytes: self.planned_copy_bytes,
            failed: self.failed,
            bytes: self.bytes_copied,
            seconds: round(seconds),
            objects_per_s: per(self.copied),
            bytes_per_s: per(self.bytes_copied),
            retries: self.retries,
            throttles: self.throttles,
            concurrency_peak: self.concurrency_peak,
            credential_expiries: self.credential_expiries,
            requeued: self.requeued,
            halted: self.halted,
            listed_source: self.listed_source,
            listed_destination: self.listed_destination,
            warnings: self.warnings.clone(),
            failures: self.failures.clone(),
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn reduces_a_run() {
        let mut p = Progress::default();
        let events = [
            (
                0.0,
                TransferEvent::Started {
                    mode: Mode::Sync,
                    method: Method::ServerSide,
                    concurrency: 256,
                    resumed: false,
                    dry_run: false,
                    writes: WriteSettings { acl: Some("bucket-owner-full-control".into()), ..WriteSettings::default() },
                    journal: None,
                },
            ),
            (0.1, TransferEvent::Listed { side: Side::Source, objects: 1000 }),
            (0.1, TransferEvent::Listed { side: Side::Destination, objects: 400 }),
            (0.2, TransferEvent::Planned { action: Planned::Copy, bytes: 10, reason: None }),
            (0.2, TransferEvent::Planned { action: Planned::Copy, bytes: 30, reason: None }),
            (0.2, TransferEvent::Planned { action: Planned::Check, bytes: 5, reason: None }),
            (0.2, TransferEvent::Planned { action: Planned::Skip, bytes: 7, reason: None }),
            (0.2, TransferEvent::Planned { action: Planned::Delete, bytes: 0, reason: None }),
            (0.3, TransferEvent::PlanComplete),
            (0.5, TransferEvent::Copied { bytes: 10, parted: false }),
            (1.0, TransferEvent::Concurrency { limit: 320 }),
            (1.2, TransferEvent::LargeStarted { key: "big".into(), size: 30, parts: 3 }),
            (1.3, TransferEvent::PartDone { bytes: 10 }),
            (1.4, TransferEvent::Throttled),
            (1.4, TransferEvent::Retry { code: "SlowDown".into() }),
            (1.4, TransferEvent::Concurrency { limit: 192 }),
            (1.5, TransferEvent::PartDone { bytes: 20 }),
            (1.5, TransferEvent::Copied { bytes: 30, parted: true }),
            (1.6, TransferEvent::Skipped { bytes: 5 }),
            (
                1.7,
                TransferEvent::Failed {
                    failure: Failure { key: "x".into(), code: "AccessDenied".into(), message: "m".into(), attempts: 1 },
                },
            ),
        ];
        for (t, e) in &events {
            p.apply(e, secs(*t));
        }
        assert_eq!((p.planned_copy, p.planned_copy_bytes, p.planned_check, p.planned_skip), (2, 45, 1, 1));
        assert_eq!((p.copied, p.bytes_copied, p.skipped, p.failed), (2, 40, 1, 1));
        assert_eq!((p.retries, p.throttles, p.concurrency), (1, 1, 192));
        assert_eq!(p.concurrency_peak, 320, "grew to 320 before the throttle cut it");
        assert!(p.large_in_flight.is_empty(), "the finished large object left the list");
        let snap = p.snapshot(secs(2.0));
        // 4 objects finished and 40 bytes moved within the first two seconds.
        assert_eq!((snap.objects_per_s, snap.bytes_per_s), (2.0, 20.0));
        assert_eq!(snap.remaining, Some(0), "copy x2 + check + delete = 4 to do; 2 copied, 1 skipped, 1 failed");
        let line = serde_json::to_value(&snap).unwrap();
        assert_eq!(line["type"], "progress");
        assert_eq!(line["copied"], 2);
        assert_eq!(line["concurrency"], 192);

        p.apply(&TransferEvent::Deleted, secs(3.0));
        p.apply(&TransferEvent::Finished, secs(4.0));
        let s = p.summary(secs(4.0));
        assert_eq!((s.copied, s.skipped, s.deleted, s.failed, s.bytes), (2, 2, 1, 1, 40));
        assert_eq!((s.objects_per_s, s.bytes_per_s), (0.5, 10.0));
        assert_eq!(s.failures[0].code, "AccessDenied");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["mode"], "sync");
        assert_eq!(json["method"], "server_side");
        assert_eq!(json["writes"]["acl"], "bucket-owner-full-control");
    }

    #[test]
    fn throughput_window_forgets_old_seconds() {
        let mut p = Progress::default();
        for i in 0..100 {
            p.apply(&TransferEvent::Copied { bytes: 1, parted: false }, secs(i as f64 * 0.01));
        }
        assert_eq!(p.rates(secs(0.99)).0, 100.0, "100 objects in the first second");
        // Fifteen seconds later nothing is in the window.
        assert_eq!(p.rates(secs(15.0)), (0.0, 0.0));
        p.apply(&TransferEvent::Copied { bytes: 1, parted: false }, secs(20.5));
        assert!(p.window.len() == 1, "old buckets are dropped: {:?}", p.window);
    }

    #[test]
    fn failures_kept_are_capped_but_counted() {
        let mut p = Progress::default();
        let f = Failure { key: "k".into(), code: "AccessDenied".into(), message: String::new(), attempts: 1 };
        for _ in 0..KEPT_FAILURES + 5 {
            p.apply(&TransferEvent::Failed { failure: f.clone() }, Duration::ZERO);
        }
        assert_eq!(p.failed as usize, KEPT_FAILURES + 5);
        assert_eq!(p.failures.len(), KEPT_FAILURES);
    }
}
