//! The whole UI state: plain data, cloned freely in tests.

use std::time::SystemTime;

use crate::core::side::Side;
use crate::ui::screens::batch::BatchState;
use crate::ui::screens::browse::PaneState;
use crate::ui::screens::dashboard::DashboardState;
use crate::ui::screens::plan::PlanState;
use crate::ui::screens::preflight::PreflightState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Browse,
    Preflight,
    Batch,
    /// Before a run: counts, cost, ETA, credentials.
    Plan,
    /// During and after a run.
    Dashboard,
}

#[derive(Debug, Clone)]
pub struct AppState {
    /// Shown in the title bar: which migration this console is for.
    pub title: String,
    pub panes: [PaneState; 2],
    pub focus: Side,
    pub screen: Screen,
    pub preflight: PreflightState,
    pub batch: BatchState,
    /// The transfer this console can start (None: the plan screen is not available).
    pub plan: Option<PlanState>,
    pub dashboard: DashboardState,
    /// Where live probes would write, shown in their confirmation.
    pub probe_target: String,
    pub help: bool,
    pub now: SystemTime,
    /// Source of request ids for listings, so stale pages can be told apart.
    pub next_request: u64,
    /// A one-line answer to the last key (browse, plan), shown in the footer.
    pub message: Option<String>,
    /// The signal (1 SIGHUP, 15 SIGTERM) that stopped a run, for the exit code.
    pub signal: Option<i32>,
    /// Ctrl-C stopped a run (the exit code says SIGINT).
    pub ctrl_c: bool,
    /// The ticket of the latest plan or run asked for: events of older ones are dropped.
    pub ticket: u64,
    /// The destination pane follows the source pane's prefix (`f`).
    pub follow: bool,
    /// The last frame was too small to show anything but that: keys other than quit do nothing.
    pub too_small: bool,
}

impl AppState {
    pub fn new(title: impl Into<String>, source: PaneState, destination: PaneState, now: SystemTime) -> Self {
        AppState {
            title: title.into(),
            panes: [source, destination],
            focus: Side::Source,
            screen: Screen::Browse,
            preflight: PreflightState::default(),
            batch: BatchState::default(),
            plan: None,
            dashboard: DashboardState::default(),
            probe_target: String::new(),
            help: false,
            now,
            next_request: 1,
            message: None,
            signal: None,
            ctrl_c: false,
            ticket: 0,
            follow: false,
            too_small: false,
        }
    }

    pub fn pane(&self, side: Side) -> &PaneState {
        &self.panes[side.index()]
    }

    pub fn pane_mut(&mut self, side: Side) -> &mut PaneState {
        &mut self.panes[side.index()]
    }

    pub fn take_request_id(&mut self) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        id
    }
}
