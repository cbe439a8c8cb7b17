//! The plan screen, before a run: what will be copied and skipped, the size distribution, the
//! request and cost estimate, the ETA, and whether the credentials last. `y` starts the run.

use std::time::{Duration, SystemTime};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::core::cost::{Estimate, PlanShape, estimate, format_money};
use crate::core::credentials::{Coverage, CredentialLifetime, EXPIRY_OPTIONS, coverage};
use crate::core::dashboard::{eta, format_eta};
use crate::core::plan::Reason;
use crate::core::preflight::checks::Verdict;
pub use crate::core::preflight::gate::Gate;
use crate::core::progress::{Method, Mode, TransferEvent};
use crate::core::scope::Request;
use crate::core::side::Side;
use crate::core::units::{count_of, format_count, format_countdown, format_size};
use crate::engine::runner::TransferEnd;
use crate::ui::widgets::countdown::countdown;

pub use crate::core::setup::TransferSetup;

#[derive(Debug, Clone, PartialEq)]
pub enum PlanPhase {
    NotStarted,
    Planning,
    Ready,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanState {
    pub setup: TransferSetup,
    /// What is planned: the mode and the console's scope.
    pub request: Request,
    pub phase: PlanPhase,
    /// A journal of the same transfer exists: objects and bytes it records as done.
    pub resumed: bool,
    pub already: (u64, u64),
    /// `y` pressed while the preflight is not READY: the question asked before starting.
    pub confirm: Option<String>,
    /// Of the copies: objects not at the destination, and objects there that differ (sync) or
    /// that a cp overwrites. Both zero when the plan did not compare (a cp without a listing).
    pub new_objects: u64,
    pub changed_objects: u64,
    pub shape: PlanShape,
    pub method: Option<Method>,
    pub lifetimes: [Option<CredentialLifetime>; 2],
    pub warnings: Vec<String>,
}

impl PlanState {
    pub fn new(setup: TransferSetup) -> Self {
        PlanState {
            request: Request { mode: setup.mode, scope: None },
            setup,
            phase: PlanPhase::NotStarted,
            resumed: false,
            already: (0, 0),
            confirm: None,
            new_objects: 0,
            changed_objects: 0,
            shape: PlanShape::default(),
            method: None,
            lifetimes: [None, None],
            warnings: Vec::new(),
        }
    }

    /// A fresh planning pass.
    pub fn restart(&mut self) {
        *self = PlanState {
            phase: PlanPhase::Planning,
            request: self.request.clone(),
            ..PlanState::new(self.setup.clone())
        };
    }

    /// Plans `request` from now on: the title shows its scope and where it lands.
    pub fn plan(&mut self, request: Request) {
        self.setup.mode = request.mode;
        (self.setup.source, self.setup.destination) = self.setup.pair.describe(request.scope.as_ref());
        self.request = request;
        self.restart();
    }

    pub fn apply(&mut self, event: &TransferEvent) {
        let s = &self.setup;
        match event {
            TransferEvent::Started { method, resumed, .. } => {
                self.method = Some(*method);
                self.resumed = *resumed;
            }
            TransferEvent::AlreadyDone { bytes } => {
                self.already.0 += 1;
                self.already.1 += bytes;
            }
            TransferEvent::Listed { side: Side::Source, objects } => self.shape.listed_source = *objects,
            TransferEvent::Listed { side: Side::Destination, objects } => self.shape.listed_destination = *objects,
            TransferEvent::Planned { action, bytes, reason } => {
                self.shape.add(*action, *bytes, s.threshold, s.part_size);
                match reason {
                    Some(Reason::New) => self.new_objects += 1,
                    Some(Reason::Changed | Reason::Unverified) => self.changed_objects += 1,
                    _ => {}
                }
            }
            TransferEvent::Lifetime { side, lifetime } => self.lifetimes[side.index()] = Some(lifetime.clone()),
            TransferEvent::Warning { message } if self.warnings.len() < 20 => self.warnings.push(message.clone()),
            _ => {}
        }
    }

    pub fn ended(&mut self, end: &TransferEnd) {
        self.phase = match (&end.error, &end.plan_error) {
            (Some(e), _) | (None, Some(e)) => PlanPhase::Failed(e.clone()),
            (None, None) => PlanPhase::Ready,
        };
    }

    pub fn estimate(&self) -> Estimate {
        let method = self.method.unwrap_or(Method::ServerSide);
        estimate(&self.shape, method, self.setup.kms, &self.setup.prices, &self.setup.region)
    }

    /// The ETA at `--rate` (objects/s), bytes unconstrained.
    pub fn eta(&self) -> Option<Duration> {
        eta(self.shape.copy_objects + self.shape.deletes, 0, self.setup.rate?, 0.0)
    }
}

pub fn render(frame: &mut Frame, area: Rect, state: &PlanState, gate: &Gate, now: SystemTime) {
    let s = &state.shape;
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let (mode, from, to) = (state.setup.mode.as_str(), &state.setup.source, &state.setup.destination);
    let mut title = format!(" Plan · {mode} {from} → {to} ");
    // The mapping must be read whole: when the title cannot hold it, it gets lines of its own.
    let mapping_lines = title.chars().count() + 2 > area.width as usize;
    if mapping_lines {
        title = format!(" Plan · {mode} ");
    }
    let status = match &state.phase {
        PlanPhase::NotStarted | PlanPhase::Planning => {
            Line::styled(format!("Listing and planning… {} source objects listed", format_count(s.listed_source)), bold)
        }
        PlanPhase::Ready if !gate.ready() => Line::styled(
            "Plan complete: y starts the run (asks first: preflight), Esc goes back",
            bold.fg(Color::Yellow),
        ),
        PlanPhase::Ready => Line::styled("Plan complete: y starts the run, Esc goes back", bold.fg(Color::Green)),
        PlanPhase::Failed(e) => Line::styled(format!("Planning failed: {e}"), bold.fg(Color::Red)),
    };
    let mut lines = vec![status];
    if mapping_lines {
        lines.push(Line::raw(format!("From      {from}")));
        lines.push(Line::raw(format!("Into      {to}")));
    }
    let gate_style = match gate.verdict {
        Some(Verdict::Ready) => Style::default().fg(Color::Green),
        Some(Verdict::Blocked) => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        _ => Style::default().fg(Color::Yellow),
    };
    lines.push(Line::styled(format!("Preflight {}", gate.describe()), gate_style));
    if state.resumed {
        lines.push(Line::raw(format!(
            "Resuming: {} ({}) done by an earlier run; below is only the rest",
            count_of(state.already.0, "object", "objects"),
            format_size(state.already.1)
        )));
    }
    lines.extend(work_lines(state));
    let eta = state.eta();
    lines.extend(cost_lines(state, eta));
    lines.extend(credential_lines(state, now, eta));
    for w in &state.warnings {
        lines.push(Line::styled(format!("! {w}"), Style::default().fg(Color::Yellow)));
    }
    let note = if state.resumed {
        "The run continues the earlier plan: objects added since are not in it; once it ends, the next plan lists anew."
    } else {
        "The run lists again (what changed since this plan is caught); the journal skips what is done."
    };
    lines.push(Line::styled(note, Style::default().fg(Color::Gray)));
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
    if let Some(question) = &state.confirm {
        confirm(frame, area, question);
    }
}

/// What the run would copy: counts and bytes, new vs changed, single vs multipart.
fn work_lines(state: &PlanState) -> Vec<Line<'static>> {
    let s = &state.shape;
    let mut lines = Vec::new();
    let mut copy =
        format!("To copy   {}, {}", count_of(s.copy_objects, "object", "objects"), format_size(s.copy_bytes));
    if state.setup.mode == Mode::Sync {
        let skip = count_of(s.skip_objects, "object", "objects");
        copy.push_str(&format!(" · to skip {skip}, {}", format_size(s.skip_bytes)));
    }
    lines.push(Line::raw(copy));
    let compared = state.new_objects + state.changed_objects > 0;
    let planned = state.phase == PlanPhase::Ready || compared;
    match state.setup.mode {
        Mode::Sync if planned && !state.resumed => lines.push(Line::raw(format!(
            "          new {} · changed {} · to check {} · unchanged {}",
            format_count(state.new_objects),
            format_count(state.changed_objects),
            format_count(s.checks),
            format_count(s.skip_objects)
        ))),
        Mode::Cp if compared => {
            let over = Style::default().fg(if state.changed_objects > 0 { Color::Yellow } else { Color::Reset });
            lines.push(Line::styled(
                format!(
                    "          new {} · overwrites {} already at the destination",
                    format_count(state.new_objects),
                    format_count(state.changed_objects)
                ),
                over,
            ));
        }
        _ => {}
    }
    let mut sizes = format!(
        "Sizes     {} single copy · {} multipart ({} parts)",
        format_count(s.single),
        format_count(s.multipart),
        format_count(s.parts)
    );
    if s.deletes > 0 {
        sizes.push_str(&format!(" · {} to delete", format_count(s.deletes)));
    }
    if s.too_large > 0 {
        sizes.push_str(&format!(" · {} over 5 TiB", format_count(s.too_large)));
    }
    lines.push(Line::raw(sizes));
    lines
}

/// The request estimate, its price and the ETA.
fn cost_lines(state: &PlanState, eta: Option<Duration>) -> Vec<Line<'static>> {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut lines = Vec::new();
    let e = state.estimate();
    lines.push(Line::styled(format!("{:<18}{:>12}{:>12}", "Requests", "count", "cost"), bold));
    for l in &e.lines {
        let cost = l.cost.map(|c| format_money(c, &e.currency)).unwrap_or_else(|| "?".into());
        lines.push(Line::raw(format!("{:<18}{:>12}{:>12}", l.label, format_count(l.requests), cost)));
    }
    let total = match (e.total, e.total_bucket_key) {
        (Some(t), Some(b)) if state.setup.kms => format!(
            "Total {} ({} with S3 Bucket Keys) in {}",
            format_money(t, &e.currency),
            format_money(b, &e.currency),
            e.region
        ),
        (Some(t), _) => format!("Total {} in {}", format_money(t, &e.currency), e.region),
        _ => format!("No prices for {} in the table: counts only", e.region),
    };
    lines.push(Line::raw(total));
    lines.push(Line::styled(format!("Prices: {}", e.provenance), Style::default().fg(Color::DarkGray)));
    lines.push(Line::raw(match (eta, state.setup.rate) {
        (Some(t), Some(r)) => format!("ETA       {} at {r} objects/s (--rate)", format_eta(t)),
        _ => "ETA       shown on the dashboard once the run has a rate (or pass --rate)".to_string(),
    }));
    lines
}

/// Each side's countdown, and what to do when credentials that cannot renew run out first.
fn credential_lines(state: &PlanState, now: SystemTime, eta: Option<Duration>) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut creds = vec![Span::raw("Creds     ")];
    for side in Side::BOTH {
        if side == Side::Destination {
            creds.push(Span::raw(" · "));
        }
        creds.push(Span::raw(format!("{} ", side.title().to_lowercase())));
        creds.push(match &state.lifetimes[side.index()] {
            Some(l) => countdown(l, now),
            None => Span::raw("…"),
        });
    }
    lines.push(Line::from(creds));
    let warn = Style::default().fg(Color::Yellow).add_modifier(Modifier::BOLD);
    for side in Side::BOTH {
        let Some(l) = &state.lifetimes[side.index()] else { continue };
        let text = match coverage(l, now, eta) {
            Coverage::ExpiresFirst { left, eta } => format!(
                "! {} credentials cannot renew: {} left, the run needs ~{}",
                side.title(),
                format_countdown(left),
                format_eta(eta)
            ),
            Coverage::Unknown { left } => format!(
                "! {} credentials cannot renew: {} left; the run's length is unknown",
                side.title(),
                format_countdown(left)
            ),
            _ => continue,
        };
        lines.push(Line::styled(text, warn));
        lines.extend(EXPIRY_OPTIONS.iter().map(|o| Line::raw(format!("  - {o}"))));
    }
    lines
}

/// The question `y` asks when the preflight is not READY.
fn confirm(frame: &mut Frame, area: Rect, question: &str) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let width = 70.min(area.width);
    let popup = Rect { x: area.x + (area.width - width) / 2, y: area.y + 3, width, height: 6.min(area.height) };
    frame.render_widget(ratatui::widgets::Clear, popup);
    frame.render_widget(
        Paragraph::new(vec![
            Line::raw(question.to_string()),
            Line::styled("y starts anyway; any other key goes back to the plan.", bold),
        ])
        .wrap(Wrap { trim: true })
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(Style::default().fg(Color::Yellow))
                .title(" Start although the preflight is not READY? "),
        ),
        popup,
    );
}
