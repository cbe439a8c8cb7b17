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

use crate::core::dashboard::{ExportFormat, History, eta, export, filter_failures, format_eta};
use crate::core::progress::{Failure, Progress, TransferEvent};
use crate::core::side::Side;
use crate::core::units::{format_count, format_size};
use crate::engine::runner::TransferEnd;
use crate::ui::widgets::countdown::countdown;

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

#[derive(Debug, Clone)]
pub struct DashboardState {
    pub progress: Progress,
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
    pub fn begin(&mut self, now: SystemTime) {
        let keep = (self.progress.source_credentials.clone(), self.progress.destination_credentials.clone());
        self.progress = Progress::default();
        (self.progress.source_credentials, self.progress.destination_credentials) = keep;
        self.started = now;
        self.history = History::default();
        self.history.record(0, 0, 0);
        self.phase = RunPhase::Running;
        self.confirm_cancel = false;
        self.selected = 0;
        self.message = None;
        self.runs += 1;
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

    pub fn ended(&mut self, end: TransferEnd) {
        self.confirm_cancel = false;
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

    /// The export's file contents for `path`: the failures as filtered now.
    pub fn export_document(&self, path: &str) -> String {
        export(&self.visible(), ExportFormat::for_path(path))
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
    let [gauges, chart, errors] =
        Layout::vertical([Constraint::Length(6), Constraint::Length(5), Constraint::Min(4)]).areas(area);
    render_gauges(frame, gauges, state, now);
    render_chart(frame, chart, state);
    render_errors(frame, errors, state);
    if state.confirm_cancel {
        render_popup(
            frame,
            chart,
            " Cancel the run? ",
            vec![
                Line::raw("Requests in flight finish and the journal is saved; run again to resume."),
                Line::styled(
                    "y cancels; any other key keeps the run going.",
                    Style::default().add_modifier(Modifier::BOLD),
                ),
            ],
            Color::Yellow,
        );
    } else if let RunPhase::Halted { hint } = &state.phase {
        // Over the chart and the top of the error table: the hint must be read in full.
        let height = 7.min(area.bottom().saturating_sub(chart.y));
        let popup = Rect { height, ..chart };
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

fn render_popup(frame: &mut Frame, area: Rect, title: &str, lines: Vec<Line>, colour: Color) {
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::default().borders(Borders::ALL).border_style(Style::default().fg(colour)).title(title.to_string()),
        ),
        area,
    );
}

fn render_gauges(frame: &mut Frame, area: Rect, state: &DashboardState, now: SystemTime) {
    let p = &state.progress;
    let phase = match &state.phase {
        RunPhase::Idle => "not started".to_string(),
        RunPhase::Running if p.paused => "paused: requests in flight finish".to_string(),
        RunPhase::Running if !p.plan_complete => "running · planning".to_string(),
        RunPhase::Running => "running".to_string(),
        RunPhase::Cancelling => "cancelling: finishing requests in flight".to_string(),
        RunPhase::Halted { .. } => "stopped: credentials".to_string(),
        RunPhase::Ended(e) if e.error.is_some() => "could not start".to_string(),
        RunPhase::Ended(e) if e.interrupted => "cancelled: journal saved".to_string(),
        RunPhase::Ended(_) if p.failed > 0 => "finished with failures".to_string(),
        RunPhase::Ended(_) => "finished".to_string(),
    };
    let mode = p.mode.map(|m| m.as_str()).unwrap_or("transfer");
    let title = format!(" {mode} · {phase} ");
    let inner = area.width.saturating_sub(2) as usize;
    let width = inner.saturating_sub(40).clamp(10, 60);
    let total_objects = p.planned_copy + p.planned_check + p.planned_delete;
    let done_objects = p.finished_objects() + p.already_done;
    let total_bytes = p.planned_copy_bytes;
    let done_bytes = p.bytes_copied;
    let more = if p.plan_complete { "" } else { "+" };
    let eta_text = match &state.phase {
        RunPhase::Running if !p.paused => state.eta(now).map(format_eta).unwrap_or_else(|| "–".into()),
        _ => "–".into(),
    };
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
        Line::raw(format!(
            "In flight {} · limit {} · retries {} · throttles {} · failed {} · ETA {eta_text}",
            p.in_flight,
            p.concurrency,
            format_count(p.retries),
            format_count(p.throttles),
            format_count(p.failed)
        )),
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

fn render_errors(frame: &mut Frame, area: Rect, state: &DashboardState) {
    let visible = state.visible();
    let total = state.progress.failed;
    let filter = state.filter.value();
    let mut title = format!(" Errors {}", format_count(total));
    if !filter.is_empty() || state.filtering {
        title.push_str(&format!(" · /{filter} · {} shown", visible.len()));
    }
    if total as usize > state.progress.failures.len() {
        title.push_str(" · first 1,000 kept, all in failed.jsonl");
    }
    title.push(' ');
    let inner_w = area.width.saturating_sub(2) as usize;
    let rows = area.height.saturating_sub(3) as usize;
    let (key_w, code_w, att_w) = (inner_w * 2 / 5, 16, 4);
    let msg_w = inner_w.saturating_sub(key_w + code_w + att_w + 3);
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut lines =
        vec![Line::styled(format!("{:<key_w$} {:<code_w$} {:>att_w$} {}", "key", "code", "try", "message"), bold)];
    if visible.is_empty() {
        let none = if total == 0 { "no errors" } else { "no errors match the filter" };
        lines.push(Line::styled(none, Style::default().fg(Color::DarkGray)));
    }
    let offset = state.selected.saturating_sub(rows.saturating_sub(1));
    for (i, f) in visible.iter().enumerate().skip(offset).take(rows) {
        let style =
            if i == state.selected { Style::default().bg(Color::Cyan).fg(Color::Black) } else { Style::default() };
        lines.push(Line::styled(
            format!(
                "{:<key_w$} {:<code_w$} {:>att_w$} {}",
                clip(&f.key, key_w),
                clip(&f.code, code_w),
                f.attempts,
                clip(&f.message, msg_w)
            ),
            style,
        ));
    }
    frame.render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)), area);
}

/// Cuts to `width` characters with an ellipsis; control characters (a key may hold any) shown
/// as `?` so they cannot move the cursor.
fn clip(s: &str, width: usize) -> String {
    let clean: String = s.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    if clean.chars().count() <= width {
        clean
    } else {
        let mut out: String = clean.chars().take(width.saturating_sub(1)).collect();
        out.push('…');
        out
    }
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
        assert_eq!(clip("a\nb", 4), "a?b");
        assert_eq!(percent(1, 3), " 33%");
    }
}
