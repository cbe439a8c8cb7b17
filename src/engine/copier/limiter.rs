//! Adaptive concurrency: a semaphore whose permit count follows AIMD. A 503 SlowDown cuts the
//! limit to three quarters (at most once a second, so one burst of throttles is one cut); a
//! second of successes with no throttle grows it by an eighth, back up to the starting limit.
//!
//! Above the starting limit it grows only on evidence that the link, not the server, is what
//! binds: every permit was taken during a turn (one limit's worth of answers), and the turn's
//! answers took at most twice the quickest answer seen. Far from the bucket (100 ms away) 256
//! requests in flight cap a run at 2,560 answers a second whatever S3 could do; near it, or when
//! the client's CPU is the bottleneck, answers queue, latency rises, and the limit stays where
//! it started. A throttle caps growth at the limit S3 objected to.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const CUT_EVERY: Duration = Duration::from_secs(1);
const GROW_EVERY: Duration = Duration::from_secs(1);
/// Never below this many requests in flight.
pub const MIN_LIMIT: usize = 4;

/// One turn's evidence for growing past the starting limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Turn {
    pub limit: usize,
    pub ceiling: usize,
    /// Every permit was taken at some point in the turn: more would have been used.
    pub saturated: bool,
    /// The turn's mean answer time over the quickest answer seen in the run.
    pub latency_ratio: f64,
    /// Time since the last throttle cut.
    pub since_cut: Option<Duration>,
}

/// The limit after a turn spent at or above the starting limit. Latency within half again of
/// the quickest answer grows a quarter (a few turns take 256 to 600); within twice, an eighth.
pub fn after_turn(t: Turn) -> usize {
    let quiet = t.since_cut.is_none_or(|d| d >= CUT_EVERY);
    if !t.saturated || !quiet || t.limit >= t.ceiling {
        return t.limit;
    }
    let step = match t.latency_ratio {
        r if r <= 1.5 => t.limit / 4,
        r if r <= 2.0 => t.limit / 8,
        _ => 0,
    };
    (t.limit + step).min(t.ceiling)
}

/// Open files kept for everything but request sockets: stdio, the journal's files, the merge's
/// sorted runs (64 at a time), STS and listing connections.
pub const RESERVED_FILES: u64 = 128;

/// The most requests in flight an open-file limit allows: each holds a socket, two when an
/// object is streamed (a GET from the source and a PUT to the destination at once).
pub fn open_file_ceiling(open_files: u64, sockets_per_request: u64) -> usize {
    let per = sockets_per_request.max(1);
    usize::try_from(open_files.saturating_sub(RESERVED_FILES) / per).unwrap_or(usize::MAX).max(MIN_LIMIT)
}

#[derive(Debug)]
struct State {
    limit: usize,
    /// Where the run started: growth back up to here needs only a quiet second.
    start: usize,
    /// Growth past `start` stops here; a throttle lowers it to the limit S3 objected to.
    ceiling: usize,
    last_cut: Option<Instant>,
    last_change: Instant,
    successes: usize,
    /// The quickest answer of the run: the link's own latency, before any queueing.
    quickest: Option<Duration>,
    turn_answers: usize,
    turn_time: Duration,
}

/// Hands out request permits; permits returned while the limit is being cut are retired.
#[derive(Debug)]
pub struct Limiter {
    sem: Arc<Semaphore>,
    /// Permits to retire as they come back.
    debt: AtomicUsize,
    /// A request found no free permit since the turn began.
    saturated: AtomicBool,
    state: Mutex<State>,
}

/// One request's right to be in flight.
#[derive(Debug)]
pub struct Permit {
    permit: Option<OwnedSemaphorePermit>,
    limiter: Arc<Limiter>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let Some(p) = self.permit.take() else { return };
        let debt = &self.limiter.debt;
        let mut d = debt.load(Ordering::Acquire);
        while d > 0 {
            match debt.compare_exchange(d, d - 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    p.forget();
                    return;
                }
                Err(now) => d = now,
            }
        }
    }
}

impl Limiter {
    /// Starts at `start` requests in flight and may grow to `ceiling` (see the module's notes).
    pub fn new(start: usize, ceiling: usize) -> Arc<Limiter> {
        let start = start.max(1);
        let ceiling = ceiling.max(start);
        Arc::new(Limiter {
            sem: Arc::new(Semaphore::new(start)),
            debt: AtomicUsize::new(0),
            saturated: AtomicBool::new(false),
            state: Mutex::new(State {
                limit: start,
                start,
                ceiling,
                last_cut: None,
                last_change: Instant::now(),
                successes: 0,
                quickest: None,
                turn_answers: 0,
                turn_time: Duration::ZERO,
            }),
        })
    }

    pub async fn acquire(self: &Arc<Self>) -> Permit {
        if self.sem.available_permits() == 0 {
            self.saturated.store(true, Ordering::Relaxed);
        }
        let permit = self.sem.clone().acquire_owned().await.expect("the limiter's semaphore is never closed");
        Permit { permit: Some(permit), limiter: self.clone() }
    }

    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// S3 asked us to slow down. Returns the new limit if it changed.
    pub fn throttled(&self) -> Option<usize> {
        let now = Instant::now();
        let mut s = self.lock();
        s.successes = 0;
        if s.last_cut.is_some_and(|t| now.duration_since(t) < CUT_EVERY) {
            return None;
        }
        // Past the start, the limit S3 objected to is as far as growth goes again.
        if s.limit > s.start {
            s.ceiling = s.ceiling.min(s.limit);
        }
        let new = (s.limit * 3 / 4).max(MIN_LIMIT.min(s.start));
        s.last_cut = Some(now);
        s.last_change = now;
        if new >= s.limit {
            return None;
        }
        let cut = s.limit - new;
        s.limit = new;
        let retired = self.sem.forget_permits(cut);
        self.debt.fetch_add(cut - retired, Ordering::AcqRel);
        Some(new)
    }

    /// A request was answered after `took`. Returns the new limit if it grew.
    pub fn succeeded(&self, took: Duration) -> Option<usize> {
        let now = Instant::now();
        let mut s = self.lock();
        s.successes += 1;
        s.quickest = Some(s.quickest.map_or(took, |q| q.min(took)));
        s.turn_answers += 1;
        s.turn_time += took;
        if s.limit < s.start {
            if s.successes < s.limit || now.duration_since(s.last_change) < GROW_EVERY {
                return None;
            }
            let grow = (s.limit / 8).max(1).min(s.start - s.limit);
            s.successes = 0;
            // Turns past the start count from here, with none of this climb's evidence.
            (s.turn_answers, s.turn_time) = (0, Duration::ZERO);
            self.saturated.store(false, Ordering::Relaxed);
            return Some(self.grow(&mut s, grow, now));
        }
        if s.turn_answers < s.limit {
            return None;
        }
        let mean = s.turn_time / s.turn_answers as u32;
        let quickest = s.quickest.unwrap_or(mean).max(Duration::from_micros(1));
        let turn = Turn {
            limit: s.limit,
            ceiling: s.ceiling,
            saturated: self.saturated.swap(false, Ordering::Relaxed),
            latency_ratio: mean.as_secs_f64() / quickest.as_secs_f64(),
            since_cut: s.last_cut.map(|t| now.duration_since(t)),
        };
        s.turn_answers = 0;
        s.turn_time = Duration::ZERO;
        let grow = after_turn(turn) - s.limit;
        (grow > 0).then(|| self.grow(&mut s, grow, now))
    }

    fn grow(&self, s: &mut State, grow: usize, now: Instant) -> usize {
        s.limit += grow;
        s.last_change = now;
        // Cancel debt first: those permits were never retired.
        let mut add = grow;
        let mut d = self.debt.load(Ordering::Acquire);
        while d > 0 && add > 0 {
            let pay = d.min(add);
            match self.debt.compare_exchange(d, d - pay, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    add -= pay;
                    break;
                }
                Err(now) => d = now,
            }
        }
        self.sem.add_permits(add);
        s.limit
    }

    /// Requests holding a permit right now.
    pub fn in_flight(&self) -> usize {
        self.limit().saturating_sub(self.available())
    }

    /// Permits free right now (for tests).
    pub fn available(&self) -> usize {
        self.sem.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn cuts_on_throttle_and_grows_back() {
        let l = Limiter::new(100, 100);
        // 40 requests in flight when S3 throttles.
        let mut held = Vec::new();
        for _ in 0..40 {
            held.push(l.acquire().await);
        }
        assert_eq!(l.throttled(), Some(75));
        assert_eq!(l.throttled(), None, "one cut per second, however many 503s arrive");
        // 25 free permits were retired at once; 40 held: none owed.
        assert_eq!(l.available(), 35);
        drop(held);
        assert_eq!(l.available(), 75);

        // Now with everything in flight: the cut is paid as permits come back.
        let l = Limiter::new(8, 8);
        let mut held = Vec::new();
        for _ in 0..8 {
            held.push(l.acquire().await);
        }
        assert_eq!(l.throttled(), Some(6));
        drop(held);
        assert_eq!(l.available(), 6, "two returned permits were retired");

        // Growth needs a full window of successes and a quiet second.
        for _ in 0..10 {
            assert_eq!(l.succeeded(MS), None, "too soon after the cut");
        }
        l.lock().last_change -= GROW_EVERY;
        assert_eq!(l.succeeded(MS), Some(7));
        assert_eq!(l.available(), 7);
        l.lock().last_change -= GROW_EVERY;
        for _ in 0..7 {
            l.succeeded(MS);
        }
        assert_eq!((l.limit(), l.available()), (8, 8));
        l.lock().last_change -= GROW_EVERY;
        for _ in 0..20 {
            assert_eq!(l.succeeded(MS), None, "never above the maximum of 8");
        }
    }

    #[test]
    fn the_open_file_limit_bounds_requests_in_flight() {
        let cases = [
            ("a login shell's 1,024, server-side copies", 1024, 1, 896),
            ("streamed: a GET and a PUT each", 1024, 2, 448),
            ("a generous limit", 1 << 20, 1, (1 << 20) - 128),
            ("a limit below the reserve still lets a few through", 100, 1, MIN_LIMIT),
        ];
        for (what, files, per, want) in cases {
            assert_eq!(open_file_ceiling(files, per), want, "{what}");
        }
    }

    #[test]
    fn a_turn_grows_the_limit_only_when_the_link_binds() {
        let base = Turn { limit: 256, ceiling: 1024, saturated: true, latency_ratio: 1.2, since_cut: None };
        let s = Duration::from_secs(1);
        let cases = [
            ("latency near the link's own", base, 320),
            ("latency within twice", Turn { latency_ratio: 1.9, ..base }, 288),
            ("answers queue: the server or the CPU binds", Turn { latency_ratio: 2.5, ..base }, 256),
            ("permits to spare: more would not be used", Turn { saturated: false, ..base }, 256),
            ("a throttle cut this second", Turn { since_cut: Some(s / 2), ..base }, 256),
            ("the cut was a while ago", Turn { since_cut: Some(s * 5), ..base }, 320),
            ("never past the ceiling", Turn { limit: 1000, ..base }, 1024),
            ("at the ceiling", Turn { limit: 1024, ..base }, 1024),
        ];
        for (what, turn, want) in cases {
            assert_eq!(after_turn(turn), want, "{what}: {turn:?}");
        }
    }

    /// Answers a full turn: `limit` requests, each taking `took`, with every permit taken.
    async fn turn(l: &Arc<Limiter>, took: Duration) -> Option<usize> {
        let limit = l.limit();
        let held: Vec<_> = futures::future::join_all((0..limit).map(|_| l.acquire())).await;
        // One more asks while all are out: the turn was saturated.
        assert!(tokio::time::timeout(Duration::from_millis(1), l.acquire()).await.is_err());
        let mut grew = None;
        for p in held {
            drop(p);
            grew = grew.or(l.succeeded(took));
        }
        grew
    }

    #[tokio::test]
    async fn grows_past_the_start_while_latency_stays_near_the_quickest() {
        let l = Limiter::new(16, 64);
        assert_eq!(l.succeeded(100 * MS), None, "the quickest answer: 100 ms");
        assert_eq!(turn(&l, 110 * MS).await, Some(20));
        assert_eq!(turn(&l, 180 * MS).await, Some(22), "within twice: an eighth");
        assert_eq!(turn(&l, 250 * MS).await, None, "queueing: held");
        assert_eq!(l.limit(), 22);
        assert_eq!(l.available(), 22, "every permit came back and the new ones are free");

        // A throttle at 22 makes 22 the ceiling: it cuts, climbs back, and stops there.
        assert_eq!(l.throttled(), Some(16));
        l.lock().last_cut = Some(Instant::now() - CUT_EVERY);
        assert_eq!(turn(&l, 100 * MS).await, Some(20));
        assert_eq!(turn(&l, 100 * MS).await, Some(22));
        assert_eq!(turn(&l, 100 * MS).await, None, "S3 objected at 22");
    }

    #[tokio::test]
    async fn a_fixed_limit_never_grows() {
        let l = Limiter::new(16, 16);
        l.succeeded(100 * MS);
        for _ in 0..3 {
            assert_eq!(turn(&l, 100 * MS).await, None);
        }
        assert_eq!((l.limit(), l.available()), (16, 16));
    }

    #[tokio::test]
    async fn spare_permits_are_no_reason_to_grow() {
        let l = Limiter::new(16, 64);
        for _ in 0..64 {
            let p = l.acquire().await;
            drop(p);
            assert_eq!(l.succeeded(100 * MS), None);
        }
        assert_eq!(l.limit(), 16);
    }

    #[tokio::test]
    async fn never_below_the_floor() {
        let l = Limiter::new(5, 5);
        for _ in 0..10 {
            l.lock().last_cut = None;
            l.throttled();
        }
        assert_eq!(l.limit(), MIN_LIMIT);
        assert_eq!(l.available(), MIN_LIMIT);
    }
}
