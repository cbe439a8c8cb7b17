//! The run guard: a run whose objects all fail (a missing permission, a wrong key) should stop
//! within seconds, not after every object has failed. Fed each finished object, it trips when
//! the first objects all failed with one code, or when failures fill a window; the console then
//! pauses dispatching and says which code, on which prefix, and which preflight check covers it.

use std::collections::{HashMap, VecDeque};

use crate::core::progress::Failure;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Trip when this many first finished objects all failed with the same code.
    pub first: u64,
    /// Trip when at least `rate` of the last `window` finished objects failed.
    pub window: usize,
    pub rate: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { first: 20, window: 200, rate: 0.5 }
    }
}

/// Why the guard stopped dispatching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trip {
    /// The most frequent failure code among the failures that tripped it.
    pub code: String,
    /// The longest prefix (up to a `/`) every failed key shares; empty when they share none.
    pub prefix: String,
    pub failed: u64,
    /// Of this many finished objects.
    pub of: u64,
    /// "the first 20 objects all failed" / "120 of the last 200 objects failed".
    pub why: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Guard {
    limits: Limits,
    finished: u64,
    /// The code every object so far failed with (`None` once one did not).
    first_code: Option<String>,
    all_failed: bool,
    recent: VecDeque<Option<String>>,
    failed_in_window: usize,
    common: Option<String>,
    /// The operator said "resume anyway": the first-objects rule is spent, the window starts over.
    overridden: bool,
}

impl Guard {
    pub fn new(limits: Limits) -> Guard {
        Guard {
            limits,
            finished: 0,
            first_code: None,
            all_failed: true,
            recent: VecDeque::new(),
            failed_in_window: 0,
            common: None,
            overridden: false,
        }
    }

    /// An object finished without failing (copied, skipped, deleted).
    pub fn succeeded(&mut self) -> Option<Trip> {
        self.all_failed = false;
        self.push(None)
    }

    pub fn failed(&mut self, failure: &Failure) -> Option<Trip> {
        if self.finished == 0 {
            self.first_code = Some(failure.code.clone());
        } else if self.first_code.as_deref() != Some(failure.code.as_str()) {
            self.all_failed = false;
        }
        let dir = dir_of(&failure.key);
        self.common = Some(match self.common.take() {
            None => dir.to_string(),
            Some(c) => shared_dir(&c, dir),
        });
        self.push(Some(failure.code.clone()))
    }

    /// The operator chose to go on: trip again only on a full window of failures from now.
    pub fn override_once(&mut self) {
        self.overridden = true;
        self.recent.clear();
        self.failed_in_window = 0;
    }

    fn push(&mut self, code: Option<String>) -> Option<Trip> {
        self.finished += 1;
        self.failed_in_window += usize::from(code.is_some());
        self.recent.push_back(code);
        if self.recent.len() > self.limits.window
            && let Some(Some(_)) = self.recent.pop_front()
        {
            self.failed_in_window -= 1;
        }
        if !self.overridden && self.all_failed && self.finished == self.limits.first {
            return Some(self.trip(format!("the first {} objects all failed", self.limits.first)));
        }
        let full = self.recent.len() == self.limits.window;
        if full && self.failed_in_window as f64 >= self.limits.rate * self.limits.window as f64 {
            let why = format!("{} of the last {} objects failed", self.failed_in_window, self.limits.window);
            let trip = self.trip(why);
            // Trip once per window: the next verdict needs a window of new objects.
            self.recent.clear();
            self.failed_in_window = 0;
            return Some(trip);
        }
        None
    }

    fn trip(&self, why: String) -> Trip {
        let mut counts: HashMap<&str, u64> = HashMap::new();
        for code in self.recent.iter().flatten() {
            *counts.entry(code.as_str()).or_default() += 1;
        }
        let code = counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .map(|(c, _)| c.to_string())
            .unwrap_or_default();
        Trip {
            code,
            prefix: self.common.clone().unwrap_or_default(),
            failed: self.failed_in_window as u64,
            of: self.recent.len() as u64,
            why,
        }
    }
}

/// The key's directory: everything up to its last `/` (empty at the top level).
pub fn dir_of(key: &str) -> &str {
    key.rfind('/').map(|i| &key[..=i]).unwrap_or("")
}

/// The longest common prefix of two directory prefixes, cut back to a `/`.
pub fn shared_dir(a: &str, b: &str) -> String {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    // Equal bytes can end inside a character (日本/ and 日曜/ share a lead byte).
    while !a.is_char_boundary(n) {
        n -= 1;
    }
    let common = &a[..n];
    match common.rfind('/') {
        Some(i) => common[..=i].to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(key: &str, code: &str) -> Failure {
        Failure { key: key.into(), code: code.into(), message: String::new(), attempts: 1 }
    }

    /// Outcomes: Some((key, code)) a failure, None a success. Returns the index of the first trip.
    fn run(limits: Limits, outcomes: &[Option<(&str, &str)>]) -> Option<(usize, Trip)> {
        let mut g = Guard::new(limits);
        outcomes.iter().enumerate().find_map(|(i, o)| {
            let t = match o {
                Some((k, c)) => g.failed(&fail(k, c)),
                None => g.succeeded(),
            };
            t.map(|t| (i, t))
        })
    }

    #[test]
    fn trips_on_the_first_objects_all_failing_or_a_window_of_failures() {
        let small = Limits { first: 3, window: 4, rate: 0.75 };
        let denied = Some(("logs/2026/a", "AccessDenied"));
        let other = Some(("logs/x/b", "NoSuchKey"));
        // (outcomes, index of the trip or None, its code, its prefix)
        type Case<'a> = (Vec<Option<(&'a str, &'a str)>>, Option<usize>, &'a str, &'a str);
        let cases: Vec<Case> = vec![
            (vec![denied, denied, denied], Some(2), "AccessDenied", "logs/2026/"),
            // Two codes among the first: not the first rule, but the window (3 of 4) trips.
            (vec![denied, other, None, None], None, "", ""),
            (vec![denied, other, denied, denied], Some(3), "AccessDenied", "logs/"),
            // One success among the first and failures thin enough: no trip.
            (vec![None, denied, denied, None, None, denied, None], None, "", ""),
            (vec![None, denied, denied, denied], Some(3), "AccessDenied", "logs/2026/"),
        ];
        for (outcomes, at, code, prefix) in cases {
            let got = run(small, &outcomes);
            assert_eq!(got.as_ref().map(|(i, _)| *i), at, "{outcomes:?}");
            if let Some((_, t)) = got {
                assert_eq!((t.code.as_str(), t.prefix.as_str()), (code, prefix), "{outcomes:?}");
            }
        }
    }

    #[test]
    fn the_default_stops_an_all_failing_run_at_its_twentieth_object() {
        let mut g = Guard::new(Limits::default());
        let trip = (1..=3_010).find_map(|i| g.failed(&fail(&format!("d/{i}"), "AccessDenied")).map(|t| (i, t)));
        let (at, t) = trip.expect("a trip");
        assert_eq!(at, 20);
        assert_eq!(t.why, "the first 20 objects all failed");
        assert_eq!((t.failed, t.of), (20, 20));
    }

    #[test]
    fn shared_prefixes_stop_at_a_slash_and_never_inside_a_character() {
        let cases = [
            ("a/b/", "a/c/", "a/"),
            ("日本/x/", "日曜/x/", ""),
            ("データ/日本/", "データ/日曜/", "データ/"),
            ("", "a/", ""),
        ];
        for (a, b, want) in cases {
            assert_eq!(shared_dir(a, b), want, "{a} {b}");
        }
    }

    #[test]
    fn resume_anyway_needs_a_whole_new_window_to_trip_again() {
        let limits = Limits { first: 2, window: 3, rate: 1.0 };
        let mut g = Guard::new(limits);
        assert!(g.failed(&fail("a", "X")).is_none());
        assert!(g.failed(&fail("b", "X")).is_some());
        g.override_once();
        assert!(g.failed(&fail("c", "X")).is_none());
        assert!(g.failed(&fail("d", "X")).is_none());
        assert!(g.failed(&fail("e", "X")).is_some(), "a full window of failures trips again");
    }
}
