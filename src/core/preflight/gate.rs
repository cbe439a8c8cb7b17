//! The preflight's verdict as a run's gate: what the console's plan shows and asks about before
//! `y`, and what `--require-ready` refuses on. Pure, so the console and the command line share it.

use crate::core::preflight::checks::{Report, Status, Verdict};

/// The preflight's verdict, with the checks that keep it from READY.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Gate {
    /// `None`: the preflight has not finished.
    pub verdict: Option<Verdict>,
    pub failing: Vec<&'static str>,
    pub unknown: Vec<&'static str>,
}

impl Gate {
    pub fn of(report: Option<&Report>) -> Gate {
        let Some(r) = report else { return Gate::default() };
        let with = |st: Status| r.checks.iter().chain(&r.probes).filter(|c| c.status == st).map(|c| c.id).collect();
        Gate { verdict: Some(r.verdict), failing: with(Status::Fail), unknown: with(Status::Unknown) }
    }

    pub fn ready(&self) -> bool {
        self.verdict == Some(Verdict::Ready)
    }

    /// "BLOCKED: fail destination.key_policy, source.policy.key" and the like.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.failing.is_empty() {
            parts.push(format!("fail {}", self.failing.join(", ")));
        }
        if !self.unknown.is_empty() {
            parts.push(format!("unknown {}", self.unknown.join(", ")));
        }
        let verdict = match self.verdict {
            None => return "not finished yet".to_string(),
            Some(Verdict::Ready) => "READY",
            Some(Verdict::Blocked) => "BLOCKED",
            Some(Verdict::Unknown) => "UNKNOWN",
        };
        if parts.is_empty() { verdict.to_string() } else { format!("{verdict}: {}", parts.join("; ")) }
    }
}
