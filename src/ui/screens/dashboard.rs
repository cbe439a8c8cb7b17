//! The transfer dashboard, during a run: gauges, a throughput chart, in-flight and retry
//! counters, the ETA, a credential countdown per side, and the per-file error table (scroll,
//! filter, export). `p` pauses, `c` cancels (confirmed), `r` resumes after re-authenticating.

use std::time::{Duration, SystemTime};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Sparkline, Wrap};
use tui_input::Input;

use crate::core::dashboard::{History, eta, filter_failures, format_eta};
use crate::core::guard::{Guard, Limits, Trip};
use crate::core::preflight::denial::{classify, covering_checks};
use crate::core::progress::{Failure, Progress, TransferEvent};
use crate::core::scope::Request;
use crate::core::side::Side;
use crate::core::units::{count_of, format_count, format_size};
use crate::engine::runner::TransferEnd;
use crate::ui::widgets::countdown::countdown;
use crate::ui::widgets::text::{clip, pad};

pub const DEFAULT_EXPORT_FILE: &str = "s3ferry-errors.csv";

#[derive(Debug, Clone, PartialEq)]
pub enum RunPhase {
    /// No run yet (the dashboard shows zeros).
    Idle,
    Running,
    /// Cancel confirmed: waiting for the requests in flight.
    Cancelling,
    /// Stopped for credentials: waiting for the operator to re-authenticate and press r.
    Halted {
        hint: String,
    },
    Ended(TransferEnd),
}

/// How the error table shows the failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorView {
    #[default]
    List,
    ByCode,
    ByPrefix,
}

impl ErrorView {
    pub fn next(self) -> ErrorView {
        match self {
            ErrorView::List => ErrorView::ByCode,
            ErrorView::ByCode => ErrorView::ByPrefix,
            ErrorView::ByPrefix => ErrorView::List,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DashboardState {
    pub progress: Progress,
    /// What the current run was asked for: retry and resume ask for it again.
    pub request: Option<Request>,
    /// The plan's totals (objects, bytes to copy), shown until the run's own plan passes them.
    pub expected: (u64, u64),
    pub guard: Guard,
    /// The guard paused dispatching: why, until the operator chooses.
    pub tripped: Option<Trip>,
    /// When the run ended (the summary's averages use it).
    pub ended_at: Option<SystemTime>,
    /// The cancel confirmation quits the console once the run has stopped (q during a run).
    pub confirm_quit: bool,
    pub view: ErrorView,
    /// The error whose detail is open (an index into the visible failures).
    pub detail: Option<usize>,
    /// What the operator last asked of the pause (the engine confirms with an event).
    pub pause_asked: bool,
    /// When the current run (or resume) started; the reducer's clock counts from here.
    pub started: SystemTime,
    pub history: History,
    pub phase: RunPhase,
    pub confirm_cancel: bool,
    /// Ctrl-C during a run: leave the console once the run has stopped.
    pub quit_when_stopped: bool,
    /// Error table: selected row among the filtered failures, the filter, and whether it is
    /// being typed.
    pub selected: usize,
    pub filter: Input,
    pub filtering: bool,
    /// The "export errors to" prompt, when open.
    pub export: Option<Input>,
    pub message: Option<String>,
    /// Runs so far (a resume is a new run with the same journal).
    pub runs: u32,
}

impl Default for DashboardState {
    fn default() -> Self {
        DashboardState {
            progress: Progress::default(),
            request: None,
            expected: (0, 0),
            guard: Guard::new(Limits::default()),
            tripped: None,
            ended_at: None,
            confirm_quit: false,
            view: ErrorView::List,
            detail: None,
            pause_asked: false,
            started: SystemTime::UNIX_EPOCH,
            history: History::default(),
            phase: RunPhase::Idle,
            confirm_cancel: false,
            quit_when_stopped: false,
            selected: 0,
            filter: Input::default(),
            filtering: false,
            export: None,
            message: None,
            runs: 0,
        }
    }
}

impl DashboardState {
    /// A run (or a resume) begins now. Counters restart: a resumed run reports what it did
    /// itself plus what the journal says was done before ("already done").
    pub fn begin(&mut self, now: SystemTime, request: Request, expected: (u64, u64)) {
        let keep = (self.progress.source_credentials.clone(), self.progress.destination_credentials.clone());
        self.progress = Progress::default();
        (self.progress.source_credentials, self.progress.destination_credentials) = keep;
        self.request = Some(request);
        self.expected = expected;
        self.guard = Guard::new(Limits::default());
        self.tripped = None;
        self.ended_at = None;
        self.started = now;
        self.history = History::default();
        self.history.record(0, 0, 0);
        self.phase = RunPhase::Running;
        self.confirm_cancel = false;
        self.confirm_quit = false;
        self.pause_asked = false;
        self.selected = 0;
        self.detail = None;
        self.message = None;
        self.runs += 1;
    }

    /// Folds one event in; true when the guard tripped on it (the caller pauses dispatching).
    pub fn observe(&mut self, event: &TransferEvent, now: SystemTime) -> bool {
        self.apply(event, now);
        let trip = match event {
            TransferEvent::Failed { failure } => self.guard.failed(failure),
            TransferEvent::Copied { .. } | TransferEvent::Skipped { .. } | TransferEvent::Deleted => {
                self.guard.succeeded()
            }
            _ => None,
        };
        match trip {
            Some(t) if self.phase == RunPhase::Running && self.tripped.is_none() => {
                self.tripped = Some(t);
                true
            }
            _ => false,
        }
    }

    /// The run's state for the title bar of every screen: "cp 62% running".
    pub fn badge(&self) -> Option<String> {
        if self.runs == 0 {
            return None;
        }
        let p = &self.progress;
        let mode = p.mode.or(self.request.as_ref().map(|r| r.mode)).map(|m| m.as_str()).unwrap_or("run");
        let (done, total) = self.objects();
        let pct = (done.min(total) * 100).checked_div(total).map(|n| format!(" {n}%")).unwrap_or_default();
        let what = match &self.phase {
            RunPhase::Running if self.tripped.is_some() => "paused by the guard",
            RunPhase::Running if p.paused => "paused",
            RunPhase::Running => "running",
            RunPhase::Cancelling => "stopping",
            RunPhase::Halted { .. } => "stopped: credentials",
            RunPhase::Ended(e) if e.error.is_some() => "could not start",
            RunPhase::Ended(e) if e.interrupted => "cancelled",
            RunPhase::Ended(_) if p.failed > 0 => "failures",
            RunPhase::Ended(_) => "done",
            RunPhase::Idle => return None,
        };
        Some(format!("{mode}{pct} {what}"))
    }

    /// (done, total) objects: finished now plus what an earlier run did, of the plan (or the
    /// plan screen's totals until the run's own planning passes them).
    pub fn objects(&self) -> (u64, u64) {
        let p = &self.progress;
        let planned = p.planned_copy + p.planned_check + p.planned_delete;
        let total = if p.plan_complete { planned } else { planned.max(self.expected.0) };
        (p.finished_objects() + p.already_done, total)
    }

    /// (done, total) bytes, likewise: a resumed run counts the journal's finished bytes as done.
    pub fn bytes(&self) -> (u64, u64) {
        let p = &self.progress;
        let total = if p.plan_complete { p.planned_copy_bytes } else { p.planned_copy_bytes.max(self.expected.1) };
        (p.bytes_copied + p.already_done_bytes + p.skipped_bytes, total)
    }

    /// How long the run took (to `now` while it runs), and its average objects and bytes per
    /// second over that time: what the summary panel and the exit summary report.
    pub fn average(&self, now: SystemTime) -> (f64, f64, f64) {
        let secs = self.ended_at.unwrap_or(now).duration_since(self.started).unwrap_or_default().as_secs_f64();
        let per = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        (secs, per(self.progress.finished_objects()), per(self.progress.bytes_copied))
    }

    /// The run ended because it was cancelled (or stopped by Ctrl-C): `r` resumes it.
    pub fn interrupted(&self) -> bool {
        matches!(&self.phase, RunPhase::Ended(e) if e.interrupted && e.error.is_none())
    }

    /// Whether the run is over (ended, cancelled or halted): the summary and its actions show.
    pub fn over(&self) -> bool {
        matches!(self.phase, RunPhase::Ended(_) | RunPhase::Halted { .. })
    }

    pub fn active(&self) -> bool {
        matches!(self.phase, RunPhase::Running | RunPhase::Cancelling)
    }

    pub fn elapsed(&self, now: SystemTime) -> Duration {
        now.duration_since(self.started).unwrap_or_default()
    }

    pub fn apply(&mut self, event: &TransferEvent, now: SystemTime) {
        self.progress.apply(event, self.elapsed(now));
    }

    /// Called every second while a run is active: one point of the chart.
    pub fn sample(&mut self, now: SystemTime) {
        let p = &self.progress;
        self.history.record(self.elapsed(now).as_secs(), p.finished_objects(), p.moved());
    }

    pub fn ended(&mut self, end: TransferEnd, now: SystemTime) {
        self.confirm_cancel = false;
        self.tripped = None;
        self.ended_at = Some(now);
        self.progress.in_flight = 0;
        self.phase = match (&end.halted, &end.hint) {
            (Some(_), Some(hint)) => RunPhase::Halted { hint: hint.clone() },
            _ => RunPhase::Ended(end),
        };
    }

    /// The failures the table shows (filtered), in arrival order.
    pub fn visible(&self) -> Vec<&Failure> {
        let all = &self.progress.failures;
        filter_failures(all, self.filter.value()).into_iter().map(|i| &all[i]).collect()
    }

    pub fn move_by(&mut self, delta: isize) {
        let len = self.visible().len();
        self.selected = if len == 0 { 0 } else { self.selected.saturating_add_signed(delta).min(len - 1) };
    }

    /// Objects still to do, once the plan is complete.
    pub fn remaining(&self) -> Option<u64> {
        let p = &self.progress;
        p.plan_complete.then(|| {
            (p.planned_copy + p.planned_check + p.planned_delete).saturating_sub(p.finished_objects() + p.already_done)
        })
    }

    pub fn eta(&self, now: SystemTime) -> Option<Duration> {
        let p = &self.progress;
        let (ops, bps) = p.rates(self.elapsed(now));
        let bytes_done = p.bytes_copied;
        let bytes_left = p.planned_copy_bytes.saturating_sub(bytes_done);
        eta(self.remaining()?, bytes_left, ops, bps)
    }
}

/// "██████░░░░" for a fraction of `width` cells.
pub fn bar(done: u64, total: u64, width: usize) -> String {
    let filled = if total == 0 { 0 } else { ((done.min(total) as u128 * width as u128) / total as u128) as usize };
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

fn percent(done: u64, total: u64) -> String {
    match (done.min(total) * 100).checked_div(total) {
        Some(p) => format!("{p:>3}%"),
        None => "  –".into(),
    }
}

pub fn render(frame: &mut Frame, area: Rect, state: &DashboardState, now: SystemTime) {
    let middle = if state.over() { 7 } else { 5 };
    let [gauges, chart, errors] =
        Layout::vertical([Constraint::Length(7), Constraint::Length(middle), Constraint::Min(4)]).areas(area);
    render_gauges(frame, gauges, state, now);
    if state.over() {
        render_summary(frame, chart, state, now);
    } else {
        render_chart(frame, chart, state);
    }
    render_errors(frame, errors, state);
    let below = Rect { height: area.bottom().saturating_sub(chart.y), ..chart };
    if let Some(i) = state.detail
        && let Some(f) = state.visible().get(i)
    {
        render_popup(frame, below, " Error (Enter or Esc closes) ", error_detail(f), Color::Red);
    } else if state.confirm_cancel {
        let (title, first) = if state.confirm_quit {
            (" Quit? ", "The run stops: requests in flight finish, the journal is saved, then s3ferry quits.")
        } else {
            (" Cancel the run? ", "Requests in flight finish and the journal is saved; run again to resume.")
        };
        let yes = if state.confirm_quit { "y quits" } else { "y cancels" };
        render_popup(
            frame,
            chart,
            title,
            vec![
                Line::raw(first),
                Line::styled(
                    format!("{yes}; any other key keeps the run going."),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
            ],
            Color::Yellow,
        );
    } else if let Some(trip) = &state.tripped {
        render_popup(
            frame,
            Rect { height: 7.min(below.height), ..below },
            " Paused by the guard ",
            guard_lines(state, trip),
            Color::Red,
        );
    } else if let RunPhase::Halted { hint } = &state.phase {
        // Over the chart and the top of the error table: the hint must be read in full.
        let popup = Rect { height: 7.min(below.height), ..below };
        render_popup(
            frame,
            popup,
            " Credentials ",
            vec![
                Line::raw(hint.clone()),
                Line::styled("Press r to resume.", Style::default().add_modifier(Modifier::BOLD)),
            ],
            Color::Red,
        );
    }
    if let Some(input) = &state.export {
        let width = 64.min(area.width);
        let popup = Rect { x: area.x + (area.width - width) / 2, y: chart.y + 1, width, height: 3 };
        frame.render_widget(Clear, popup);
        frame.render_widget(
            Paragraph::new(input.value().to_string()).block(
                Block::default().borders(Borders::ALL).title(" Export errors to (.json: JSON, else CSV; Esc cancels) "),
            ),
            popup,
        );
        frame.set_cursor_position((popup.x + 1 + input.visual_cursor() as u16, popup.y + 1));
    }
}

fn guard_lines(state: &DashboardState, trip: &Trip) -> Vec<Line<'static>> {
    let checks = covering_checks(&trip.code, "");
    let example = state.progress.failures.iter().rev().find(|f| f.code == trip.code);
    let checks = example.map(|f| covering_checks(&f.code, &f.message)).unwrap_or(checks);
    let prefix = if trip.prefix.is_empty() { "keys with no common prefix".to_string() } else { trip.prefix.clone() };
    let covered = match checks {
        [] => "no preflight check covers this code".to_string(),
        [one] => format!("the preflight check {one} covers it"),
        many => format!("the preflight checks {} cover it", many.join(" and ")),
    };
    vec![
        Line::raw(format!("Dispatching stopped: {}, {} under {prefix}.", trip.why, trip.code)),
        Line::raw(format!("{covered}; requests in flight finish.")),
        Line::styled(
            "r resume anyway · c cancel (journal kept) · p open the preflight",
            Style::default().add_modifier(Modifier::BOLD),
        ),
    ]
}

/// The detail of one failure: its whole message, what the denial says, and the check that
/// judges that permission before a run.
pub fn error_detail(f: &Failure) -> Vec<Line<'static>> {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let denial = classify(&f.code, &f.message);
    let checks = covering_checks(&f.code, &f.message);
    let mut lines = vec![
        Line::from(vec![Span::styled("key      ", bold), Span::raw(clip(&f.key, 200))]),
        Line::from(vec![
            Span::styled("code     ", bold),
            Span::raw(format!("{} after {} attempt(s)", f.code, f.attempts)),
        ]),
    ];
    if f.code.contains("AccessDenied") || f.code == "Forbidden" {
        let explicit = if denial.explicit { "yes: an explicit Deny" } else { "no explicit Deny named" };
        lines.push(Line::from(vec![
            Span::styled("denied   ", bold),
            Span::raw(format!("{explicit}; {}", denial.summary)),
        ]));
    }
    if !checks.is_empty() {
        lines.push(Line::from(vec![Span::styled("check    ", bold), Span::raw(checks.join(", "))]));
    }
    lines.push(Line::raw(clip(&f.message, 2_000)));
    lines
}

fn render_popup(frame: &mut Frame, area: Rect, title: &str, lines: Vec<Line>, colour: Color) {
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::default().borders(Borders::ALL).border_style(Style::default().fg(colour)).title(title.to_string()),
        ),
        area,
    );
}

fn phase_text(state: &DashboardState) -> String {
    let p = &state.progress;
    match &state.phase {
        RunPhase::Idle => "not started".to_string(),
        RunPhase::Running if state.tripped.is_some() => "paused by the guard".to_string(),
        RunPhase::Running if p.paused && p.in_flight > 0 => "paused: requests in flight finish".to_string(),
        RunPhase::Running if p.paused => "paused".to_string(),
        RunPhase::Running if !p.plan_complete => "running · planning".to_string(),
        RunPhase::Running => "running".to_string(),
        RunPhase::Cancelling => "cancelling: finishing requests in flight".to_string(),
        RunPhase::Halted { .. } => "stopped: credentials".to_string(),
        RunPhase::Ended(e) if e.error.is_some() => "could not start".to_string(),
        RunPhase::Ended(e) if e.interrupted => "cancelled: journal saved".to_string(),
        RunPhase::Ended(_) if p.failed > 0 => "finished with failures".to_string(),
        RunPhase::Ended(_) => "finished".to_string(),
    }
}

fn render_gauges(frame: &mut Frame, area: Rect, state: &DashboardState, now: SystemTime) {
    let p = &state.progress;
    let mode = p.mode.map(|m| m.as_str()).unwrap_or("transfer");
    let title = format!(" {mode} · {} ", phase_text(state));
    let inner = area.width.saturating_sub(2) as usize;
    let width = inner.saturating_sub(40).clamp(10, 60);
    let (done_objects, total_objects) = state.objects();
    let (done_bytes, total_bytes) = state.bytes();
    let more = if p.plan_complete || state.over() { "" } else { "+" };
    let eta_text = match &state.phase {
        RunPhase::Running if !p.paused => state.eta(now).map(format_eta).unwrap_or_else(|| "–".into()),
        _ => "–".into(),
    };
    let red = Style::default().fg(Color::Red).add_modifier(Modifier::BOLD);
    let failed =
        Span::styled(format!("failed {}", format_count(p.failed)), if p.failed > 0 { red } else { Style::default() });
    let mut counts = vec![Span::raw(format!(
        "Copied {} · skipped {} · ",
        format_count(p.copied),
        format_count(p.skipped + p.planned_skip)
    ))];
    counts.push(failed);
    if p.already_done > 0 {
        counts.push(Span::raw(format!(
            " · done before {} ({})",
            format_count(p.already_done),
            format_size(p.already_done_bytes)
        )));
    }
    let mut retries = format!("retries {}", format_count(p.retries));
    let reasons = p.retry_reasons.describe();
    if !reasons.is_empty() {
        retries.push_str(&format!(" ({reasons})"));
    }
    let mut lines = vec![
        Line::raw(format!(
            "Objects {} {} {}/{}{more}",
            bar(done_objects, total_objects, width),
            percent(done_objects, total_objects),
            format_count(done_objects),
            format_count(total_objects)
        )),
        Line::raw(format!(
            "Bytes   {} {} {}/{}{more}",
            bar(done_bytes, total_bytes, width),
            percent(done_bytes, total_bytes),
            format_size(done_bytes),
            format_size(total_bytes)
        )),
        Line::from(counts),
        Line::raw(format!("In flight {} · limit {} · {retries} · ETA {eta_text}", p.in_flight, p.concurrency)),
    ];
    let mut creds = vec![Span::raw("Creds ")];
    for side in Side::BOTH {
        if side == Side::Destination {
            creds.push(Span::raw(" · "));
        }
        creds.push(Span::raw(format!("{} ", side.title().to_lowercase())));
        creds.push(match p.credentials(side) {
            Some(l) => countdown(l, now),
            None => Span::raw("…"),
        });
    }
    if p.credential_expiries > 0 {
        creds.push(Span::raw(format!(" · {} ExpiredToken", format_count(p.credential_expiries))));
    }
    lines.push(Line::from(creds));
    frame.render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)), area);
}

/// After the run: what it did, on average, what verify found, where the journal is, and what
/// can be done next.
fn render_summary(frame: &mut Frame, area: Rect, state: &DashboardState, now: SystemTime) {
    let p = &state.progress;
    let (secs, objects_per_s, bytes_per_s) = state.average(now);
    let mut lines = vec![Line::raw(format!(
        "Copied {} ({}) in {} · {objects_per_s:.1} objects/s, {}/s on average",
        count_of(p.copied, "object", "objects"),
        format_size(p.bytes_copied),
        format_eta(std::time::Duration::from_secs_f64(secs)),
        format_size(bytes_per_s as u64),
    ))];
    let end = match &state.phase {
        RunPhase::Ended(e) => Some(e),
        _ => None,
    };
    lines.push(match end.and_then(|e| e.verify.as_ref()) {
        Some(v) if v.mismatches.is_empty() => Line::styled(
            format!("Verify: {} checked, all match", count_of(v.checked, "object", "objects")),
            Style::default().fg(Color::Green),
        ),
        Some(v) => Line::styled(
            format!(
                "Verify: {} checked, {} MISMATCH (first: {})",
                format_count(v.checked),
                v.mismatches.len(),
                clip(&v.mismatches[0].key, 40)
            ),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        None => Line::raw("Verify: not asked for (--verify, or verify = true in [transfer])"),
    });
    let journal = end.and_then(|e| e.journal.clone()).or_else(|| p.journal.clone());
    let kept = end.is_some_and(|e| e.journal.is_some()) || matches!(state.phase, RunPhase::Halted { .. });
    lines.push(Line::raw(match (&journal, kept) {
        (Some(j), true) => format!("Journal {j} (kept: r resumes, R retries)"),
        (Some(_), false) => "Journal retired: everything in scope is done".to_string(),
        (None, _) => "Journal: none".to_string(),
    }));
    if let Some(e) = end.and_then(|e| e.error.as_ref().or(e.plan_error.as_ref())) {
        lines.push(Line::styled(clip(e, 300), Style::default().fg(Color::Red)));
    }
    let title = format!(" Summary · {} ", phase_text(state));
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

fn render_chart(frame: &mut Frame, area: Rect, state: &DashboardState) {
    let [left, right] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let n = left.width.saturating_sub(2) as usize;
    let objects = state.history.objects(n);
    let mib: Vec<u64> = state.history.bytes(n).into_iter().map(|b| b >> 20).collect();
    let bytes = state.history.bytes(n);
    let now_o = objects.last().copied().unwrap_or(0);
    let peak_o = objects.iter().copied().max().unwrap_or(0);
    let now_b = bytes.last().copied().unwrap_or(0);
    let peak_b = bytes.iter().copied().max().unwrap_or(0);
    let span = format_eta(Duration::from_secs(objects.len() as u64));
    let block = |t: String| Block::default().borders(Borders::ALL).title(t);
    frame.render_widget(
        Sparkline::default()
            .block(block(format!(" objects/s {} · peak {} · {span} ", format_count(now_o), format_count(peak_o))))
            .data(&objects)
            .max(peak_o.max(1))
            .style(Style::default().fg(Color::Cyan)),
        left,
    );
    frame.render_widget(
        Sparkline::default()
            .block(block(format!(" MiB/s {:.1} · peak {:.1} ", mib_f(now_b), mib_f(peak_b))))
            .data(&mib)
            .max(mib.iter().copied().max().unwrap_or(0).max(1))
            .style(Style::default().fg(Color::Magenta)),
        right,
    );
}

fn mib_f(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

/// Failures grouped by code or by prefix (the key's directory): (group, count, an example key),
/// largest first.
pub fn groups(failures: &[&Failure], view: ErrorView) -> Vec<(String, u64, String)> {
    let mut map: std::collections::BTreeMap<String, (u64, String)> = std::collections::BTreeMap::new();
    for f in failures {
        let group = match view {
            ErrorView::ByCode | ErrorView::List => f.code.clone(),
            ErrorView::ByPrefix => match crate::core::guard::dir_of(&f.key) {
                "" => "(top level)".to_string(),
                dir => dir.to_string(),
            },
        };
        let e = map.entry(group).or_insert_with(|| (0, f.key.clone()));
        e.0 += 1;
    }
    let mut out: Vec<(String, u64, String)> = map.into_iter().map(|(g, (n, k))| (g, n, k)).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

fn render_errors(frame: &mut Frame, area: Rect, state: &DashboardState) {
    let visible = state.visible();
    let total = state.progress.failed;
    let filter = state.filter.value();
    let red = Style::default().fg(Color::Red).add_modifier(Modifier::BOLD);
    let view = match state.view {
        ErrorView::List => "",
        ErrorView::ByCode => " · by code",
        ErrorView::ByPrefix => " · by prefix",
    };
    let mut title = vec![
        Span::raw(" Errors "),
        Span::styled(format_count(total), if total > 0 { red } else { Style::default() }),
        Span::raw(view),
    ];
    if !filter.is_empty() || state.filtering {
        title.push(Span::raw(format!(" · /{filter} · {} shown", visible.len())));
    }
    if total as usize > state.progress.failures.len() {
        title.push(Span::raw(" · first 1,000 shown, e exports all"));
    }
    title.push(Span::raw(" "));
    let inner_w = area.width.saturating_sub(2) as usize;
    let rows = area.height.saturating_sub(3) as usize;
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let selected = Style::default().bg(Color::Cyan).fg(Color::Black);
    let mut lines = Vec::new();
    if state.view != ErrorView::List {
        let g = groups(&visible, state.view);
        let (name_w, count_w) = (inner_w * 2 / 5, 8);
        let ex_w = inner_w.saturating_sub(name_w + count_w + 2);
        let head = if state.view == ErrorView::ByCode { "code" } else { "prefix" };
        lines.push(Line::styled(format!("{head:<name_w$} {:>count_w$} example", "count"), bold));
        for (name, n, example) in g.iter().take(rows) {
            lines.push(Line::raw(format!(
                "{} {:>count_w$} {}",
                pad(&clip(name, name_w), name_w),
                format_count(*n),
                clip(example, ex_w)
            )));
        }
    } else {
        let (key_w, code_w, att_w) = (inner_w * 2 / 5, 16, 4);
        let msg_w = inner_w.saturating_sub(key_w + code_w + att_w + 3);
        lines
            .push(Line::styled(format!("{:<key_w$} {:<code_w$} {:>att_w$} {}", "key", "code", "try", "message"), bold));
        let offset = state.selected.saturating_sub(rows.saturating_sub(1));
        for (i, f) in visible.iter().enumerate().skip(offset).take(rows) {
            let style = if i == state.selected { selected } else { Style::default() };
            lines.push(Line::styled(
                format!(
                    "{} {} {:>att_w$} {}",
                    pad(&clip(&f.key, key_w), key_w),
                    pad(&clip(&f.code, code_w), code_w),
                    f.attempts,
                    clip(&f.message, msg_w)
                ),
                style,
            ));
        }
    }
    if visible.is_empty() {
        let none = if total == 0 { "no errors" } else { "no errors match the filter" };
        lines.push(Line::styled(none, Style::default().fg(Color::DarkGray)));
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(Line::from(title))),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_and_clips() {
        assert_eq!(bar(0, 0, 4), "░░░░");
        assert_eq!(bar(1, 2, 4), "██░░");
        assert_eq!(bar(9, 2, 4), "████");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("a\nb", 6), "a\\x0ab");
        // The error table's columns are cut and padded by display width, as the browser's are.
        use unicode_width::UnicodeWidthStr;
        for key in ["reports/日本語のレポート.pdf", "reports/café menu – naïve.txt"] {
            assert_eq!(pad(&clip(key, 20), 20).width(), 20, "{key}");
        }
        assert_eq!(percent(1, 3), " 33%");
    }
}
