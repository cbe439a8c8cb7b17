//! What every worker of a run shares, in four parts: the two endpoints (client, bucket,
//! prefix, who), the destination's write headers, how objects are cut into requests, and the
//! run's shared state (limiter, buffer budget, events, journal, halt). [`Ctx::new`] is the one
//! constructor; verify builds its context from the run's by swapping the destination reader.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use tokio::sync::{Semaphore, mpsc};

use crate::core::plan::{PartPlan, part_plan};
use crate::core::progress::{Halt, Method, TransferEvent};
use crate::core::side::Side;
use crate::engine::copier::limiter::Limiter;
use crate::engine::dest_write::DestWrite;
use crate::engine::journal::{Journal, JournalError};
use crate::engine::session::Session;

/// How long a copier request may wait for its answer. A server-side copy answers only when
/// the copy is done (S3 keeps the connection alive meanwhile; other stores send nothing), and a
/// 5 GiB UploadPartCopy can take minutes: the sessions' 60 s would cut it off and its retry
/// would start it again while the first one still runs. Stalled bodies are caught separately.
const COPY_READ_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// One side of the run: whose client, which bucket and prefix.
pub(crate) struct Endpoint {
    /// The session's S3 client with the SDK's retries off (see [`Endpoint::of`]).
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) bucket: String,
    pub(crate) prefix: String,
    /// `ARN (account N)`, for messages.
    pub(crate) who: String,
    /// The session behind `s3`, to renew refused credentials (None in unit tests).
    pub(crate) session: Option<Session>,
}

impl Endpoint {
    /// A side as the copier uses it: the copier retries itself, so throttles and retries are
    /// visible as events and drive the concurrency limit; the SDK's own retries are off.
    pub(crate) fn of(session: &Session, bucket: &str, prefix: &str) -> Endpoint {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(crate::engine::session::CONNECT_TIMEOUT)
            .read_timeout(COPY_READ_TIMEOUT)
            .build();
        let conf = session.s3.config().to_builder().retry_config(RetryConfig::disabled()).timeout_config(timeouts);
        Endpoint {
            s3: aws_sdk_s3::Client::from_conf(conf.build()),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            who: session.info.who(),
            session: Some(session.clone()),
        }
    }

    /// The full key of a key relative to the run's prefix.
    pub(crate) fn key(&self, relative: &str) -> String {
        format!("{}{relative}", self.prefix)
    }

    /// `s3://bucket/prefix+relative`.
    pub(crate) fn url(&self, relative: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(relative))
    }
}

/// How objects are cut into requests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    pub(crate) method: Method,
    pub(crate) threshold: u64,
    pub(crate) part_size: u64,
}

impl Sizes {
    pub(crate) fn part_plan(&self, size: u64) -> PartPlan {
        // Streaming buffers at most one part per request, so anything above a part goes in parts.
        let threshold = match self.method {
            Method::ServerSide => self.threshold,
            Method::Stream => self.threshold.min(self.part_size),
        };
        part_plan(size, threshold, self.part_size).unwrap_or(PartPlan::Single)
    }
}

/// The run's state every request touches.
pub(crate) struct Shared {
    pub(crate) limiter: Arc<Limiter>,
    /// Streamed bytes in memory, in KiB permits.
    pub(crate) buffer: Semaphore,
    pub(crate) buffer_kib: u32,
    pub(crate) events: mpsc::UnboundedSender<TransferEvent>,
    pub(crate) journal: Option<Arc<Journal>>,
    journal_error: Mutex<Option<JournalError>>,
    /// Set once when credentials cannot be renewed: dispatching stops.
    halt: Mutex<Option<Halt>>,
}

impl Shared {
    pub(crate) fn new(
        limiter: Arc<Limiter>,
        buffer_kib: u32,
        events: mpsc::UnboundedSender<TransferEvent>,
        journal: Option<Arc<Journal>>,
    ) -> Shared {
        Shared {
            limiter,
            buffer: Semaphore::new(buffer_kib as usize),
            buffer_kib,
            events,
            journal,
            journal_error: Mutex::new(None),
            halt: Mutex::new(None),
        }
    }
}

/// What every worker shares.
pub(crate) struct Ctx {
    pub(crate) src: Endpoint,
    pub(crate) dst: Endpoint,
    pub(crate) writes: DestWrite,
    pub(crate) sizes: Sizes,
    pub(crate) shared: Shared,
}

impl Ctx {
    pub(crate) fn new(src: Endpoint, dst: Endpoint, writes: DestWrite, sizes: Sizes, shared: Shared) -> Ctx {
        Ctx { src, dst, writes, sizes, shared }
    }

    /// The context verify reads with: the same source and sizes, `reader` on the destination,
    /// no write headers, no journal, and a token buffer (verify streams nothing).
    pub(crate) fn reading_with(self, reader: &Session) -> Ctx {
        let dst = Endpoint::of(reader, &self.dst.bucket, &self.dst.prefix);
        let shared = Shared::new(self.shared.limiter.clone(), 1, self.shared.events.clone(), None);
        Ctx::new(self.src, dst, DestWrite::default(), self.sizes, shared)
    }

    pub(crate) fn endpoint(&self, side: Side) -> &Endpoint {
        match side {
            Side::Source => &self.src,
            Side::Destination => &self.dst,
        }
    }

    pub(crate) fn session(&self, side: Side) -> Option<&Session> {
        self.endpoint(side).session.as_ref()
    }

    pub(crate) fn limiter(&self) -> &Arc<Limiter> {
        &self.shared.limiter
    }

    pub(crate) fn emit(&self, event: TransferEvent) {
        let _ = self.shared.events.send(event);
    }

    /// Whether a side's credentials renew themselves (unknown counts as yes: keep trying).
    pub(crate) fn renews(&self, side: Side) -> bool {
        self.session(side).is_none_or(|s| s.lifetime().renews)
    }

    pub(crate) fn halt_state(&self) -> Option<Halt> {
        *self.shared.halt.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn halted(&self) -> bool {
        self.halt_state().is_some()
    }

    /// Stops dispatching for credentials; the first reason is the one reported.
    pub(crate) fn halt(&self, mut halt: Halt) {
        if self.sizes.method == Method::ServerSide {
            // One identity does both sides' requests: its credentials are the source's.
            halt.side = Side::Source;
        }
        let mut slot = self.shared.halt.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(halt);
            self.emit(TransferEvent::Halted { halt });
        }
    }

    /// Writes to the journal; the first failure stops dispatching (we must not lose track).
    pub(crate) fn record(&self, f: impl FnOnce(&Journal) -> Result<(), JournalError>) {
        if let Some(j) = &self.shared.journal
            && let Err(e) = f(j)
        {
            let mut slot = self.shared.journal_error.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(e);
        }
    }

    pub(crate) fn journal_failed(&self) -> bool {
        self.shared.journal_error.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    pub(crate) fn take_journal_error(&self) -> Option<JournalError> {
        self.shared.journal_error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}
