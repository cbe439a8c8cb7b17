//! Adaptive concurrency: a semaphore whose permit count follows AIMD. A 503 SlowDown cuts the
//! limit to three quarters (at most once a second, so one burst of throttles is one cut); a
//! second of successes with no throttle grows it by an eighth, up to the configured maximum.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const CUT_EVERY: Duration = Duration::from_secs(1);
const GROW_EVERY: Duration = Duration::from_secs(1);
/// Never below this many requests in flight.
pub const MIN_LIMIT: usize = 4;

#[derive(Debug)]
struct State {
    limit: usize,
    max: usize,
    last_cut: Option<Instant>,
    last_change: Instant,
    successes: usize,
}

/// Hands out request permits; permits returned while the limit is being cut are retired.
#[derive(Debug)]
pub struct Limiter {
    sem: Arc<Semaphore>,
    /// Permits to retire as they come back.
    debt: AtomicUsize,
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
    pub fn new(max: usize) -> Arc<Limiter> {
        let max = max.max(1);
        Arc::new(Limiter {
            sem: Arc::new(Semaphore::new(max)),
            debt: AtomicUsize::new(0),
            state: Mutex::new(State { limit: max, max, last_cut: None, last_change: Instant::now(), successes: 0 }),
        })
    }

    pub async fn acquire(self: &Arc<Self>) -> Permit {
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
        let new = (s.limit * 3 / 4).max(MIN_LIMIT.min(s.max));
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

    /// A request succeeded. Returns the new limit if it grew.
    pub fn succeeded(&self) -> Option<usize> {
        let now = Instant::now();
        let mut s = self.lock();
        s.successes += 1;
        if s.limit >= s.max || s.successes < s.limit || now.duration_since(s.last_change) < GROW_EVERY {
            return None;
        }
        let grow = (s.limit / 8).max(1).min(s.max - s.limit);
        s.limit += grow;
        s.successes = 0;
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
        Some(s.limit)
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

    #[tokio::test]
    async fn cuts_on_throttle_and_grows_back() {
        let l = Limiter::new(100);
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
        let l = Limiter::new(8);
        let mut held = Vec::new();
        for _ in 0..8 {
            held.push(l.acquire().await);
        }
        assert_eq!(l.throttled(), Some(6));
        drop(held);
        assert_eq!(l.available(), 6, "two returned permits were retired");

        // Growth needs a full window of successes and a quiet second.
        for _ in 0..10 {
            assert_eq!(l.succeeded(), None, "too soon after the cut");
        }
        l.lock().last_change -= GROW_EVERY;
        assert_eq!(l.succeeded(), Some(7));
        assert_eq!(l.available(), 7);
        l.lock().last_change -= GROW_EVERY;
        for _ in 0..7 {
            l.succeeded();
        }
        assert_eq!((l.limit(), l.available()), (8, 8));
        l.lock().last_change -= GROW_EVERY;
        for _ in 0..20 {
            assert_eq!(l.succeeded(), None, "never above the maximum of 8");
        }
    }

    #[tokio::test]
    async fn never_below_the_floor() {
        let l = Limiter::new(5);
        for _ in 0..10 {
            l.lock().last_cut = None;
            l.throttled();
        }
        assert_eq!(l.limit(), MIN_LIMIT);
        assert_eq!(l.available(), MIN_LIMIT);
    }
}
