//! The S3 Batch Operations screen: plan a job (Enter), confirm it (only `y` creates it), then
//! watch it (DescribeJob: status, total, succeeded, failed, elapsed) and list its failed tasks
//! from the completion report. `r` refreshes the status.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::core::batch::JobStatus;
use crate::core::preflight::checks::{Report, Status, Verdict};
use crate::core::progress::Failure;
use crate::core::units::format_size;
use crate::engine::batch::{BatchEvent, BatchRequest, ManifestPlan};
use crate::ui::action::Action;

#[derive(Debug, Clone, Default)]
pub enum Stage {
    #[default]
    Idle,
    Planning,
    /// A plan and the job-role verdict, waiting for `y`.
    Confirm {
        plan: Box<ManifestPlan>,
        checks: Box<Report>,
    },
    Submitting,
    Watching,
}

#[derive(Debug, Clone, Default)]
pub struct BatchState {
    /// Where jobs go, from the config's `[batch]` section; None when it has none.
    pub target: Option<String>,
    pub stage: Stage,
    pub job_id: Option<String>,
    pub job: Option<JobStatus>,
    /// The completion report's failed tasks (the per-file error table's records).
    pub failures: Vec<Failure>,
    pub selected: usize,
    /// Objects over 5 GiB left out of the job.
    pub local: usize,
    pub message: Option<String>,
    /// Seconds since the epoch, for the elapsed time of a running job.
    pub now: i64,
}

/// What an action on this screen does: engine requests, and whether to leave the screen.
pub fn on_action(s: &mut BatchState, action: Action) -> (Vec<BatchRequest>, bool) {
    match action {
        Action::Close | Action::Batch => return (Vec::new(), true),
        Action::Up => s.selected = s.selected.saturating_sub(1),
        Action::Down => s.selected = (s.selected + 1).min(s.failures.len().saturating_sub(1)),
        Action::Open if matches!(s.stage, Stage::Idle | Stage::Watching) => {
            if s.target.is_none() {
                s.message = Some("set [batch] manifest_bucket and job_role_arn in the config first".into());
            } else if s.job.as_ref().is_some_and(|j| !j.is_terminal()) {
                s.message = Some("a job is still running: r refreshes it".into());
            } else {
                s.stage = Stage::Planning;
                s.message = None;
                return (vec![BatchRequest::Plan], false);
            }
        }
        Action::Rerun => {
            if let Some(id) = &s.job_id {
                return (vec![BatchRequest::Refresh(id.clone())], false);
            }
        }
        _ => {}
    }
    (Vec::new(), false)
}

/// The confirmation is modal: only `y` creates the job (and only when no check blocks).
pub fn on_confirm(s: &mut BatchState, yes: bool) -> Vec<BatchRequest> {
    let Stage::Confirm { plan, checks } = std::mem::take(&mut s.stage) else { return Vec::new() };
    if yes && checks.verdict != Verdict::Blocked && plan.objects > 0 {
        s.stage = Stage::Submitting;
        s.message = None;
        return vec![BatchRequest::Submit(plan)];
    }
    s.stage = if s.job.is_some() { Stage::Watching } else { Stage::Idle };
    s.message = Some("no job created: nothing was uploaded".into());
    Vec::new()
}

pub fn confirming(s: &BatchState) -> bool {
    matches!(s.stage, Stage::Confirm { .. })
}

pub fn on_event(s: &mut BatchState, event: BatchEvent) {
    match event {
        BatchEvent::Planned { plan, checks } => s.stage = Stage::Confirm { plan, checks },
        BatchEvent::Created { job_id, local } => {
            s.stage = Stage::Watching;
            s.job_id = Some(job_id);
            s.job = None;
            s.failures.clear();
            s.selected = 0;
            s.local = local;
        }
        BatchEvent::Status(job) => {
            s.job_id = Some(job.job_id.clone());
            s.job = Some(*job);
            s.stage = Stage::Watching;
        }
        BatchEvent::Failures(f) => {
            s.failures = f;
            s.selected = s.selected.min(s.failures.len().saturating_sub(1));
        }
        BatchEvent::Error(e) => {
            if !matches!(s.stage, Stage::Watching) {
                s.stage = if s.job.is_some() { Stage::Watching } else { Stage::Idle };
            }
            s.message = Some(e);
        }
    }
}

/// The footer hint for this screen.
pub fn hint(s: &BatchState) -> String {
    match (&s.message, &s.stage) {
        (Some(m), _) => format!(" {m}"),
        (None, Stage::Watching) => " r refresh · Enter new job · ↑↓ failures · Esc back · q quit".into(),
        (None, _) => " Enter plan a job · r refresh · Esc back · ? help · q quit".into(),
    }
}

pub fn render(frame: &mut Frame, area: Rect, s: &BatchState) {
    let [top, table] = Layout::vertical([Constraint::Length(8), Constraint::Min(3)]).areas(area);
    let mut lines = Vec::new();
    match (&s.stage, &s.job) {
        (Stage::Planning, _) => lines.push(Line::raw("Planning: listing both sides, diffing, checking the job role…")),
        (Stage::Submitting, _) => lines.push(Line::raw("Uploading the manifest and creating the job…")),
        (_, Some(job)) => {
            lines.push(Line::styled(format!("Job {}", job.job_id), Style::default().add_modifier(Modifier::BOLD)));
            lines.push(Line::raw(job.line(s.now)));
            lines.extend(job.failure_reasons.iter().map(|r| Line::raw(format!("job failure: {r}"))));
            if s.local > 0 {
                lines
                    .push(Line::raw(format!("{} object(s) over 5 GiB are not in the job: copy them with cp", s.local)));
            }
        }
        (Stage::Watching, None) => {
            lines.push(Line::raw(format!("Job {}: waiting for its first status…", s.job_id.as_deref().unwrap_or("?"))))
        }
        _ => match &s.target {
            Some(t) => {
                lines.push(Line::raw("No job yet. Enter plans one (nothing is written until you confirm)."));
                lines.push(Line::raw(t.clone()));
            }
            None => {
                lines.push(Line::raw("Set [batch] manifest_bucket and job_role_arn in the config to use S3 Batch."))
            }
        },
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" S3 Batch Operations ")),
        top,
    );
    let width = table.width.saturating_sub(2) as usize;
    let rows: Vec<Line> = s
        .failures
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let text = format!("{:<32} {:<16} {}", clip(&f.key, 32), clip(&f.code, 16), f.message);
            let text: String = text.chars().take(width).collect();
            if i == s.selected {
                Line::styled(text, Style::default().bg(Color::Cyan).fg(Color::Black))
            } else {
                Line::raw(text)
            }
        })
        .collect();
    let visible = table.height.saturating_sub(2) as usize;
    let skip = s.selected.saturating_sub(visible.saturating_sub(1));
    frame.render_widget(
        Paragraph::new(rows.into_iter().skip(skip).collect::<Vec<_>>())
            .block(Block::default().borders(Borders::ALL).title(format!(" Failed tasks ({}) ", s.failures.len()))),
        table,
    );
    if let Stage::Confirm { plan, checks } = &s.stage {
        render_confirm(frame, area, plan, checks);
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(n - 1).collect();
        c.push('…');
        c
    }
}

fn render_confirm(frame: &mut Frame, area: Rect, plan: &ManifestPlan, checks: &Report) {
    let width = 74.min(area.width);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + area.height.saturating_sub(10) / 2,
        width,
        height: 10,
    };
    let failing: Vec<&str> = checks.checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.id).collect();
    let mut text = vec![
        Line::raw(format!(
            "S3 Batch copies {} objects ({}) with role {}",
            plan.objects,
            format_size(plan.bytes),
            checks.principal.rsplit('/').next().unwrap_or_default()
        )),
        Line::raw(format!("{} object(s) over 5 GiB stay for this host.", plan.local.len())),
        Line::raw(format!(
            "Job-role checks: {}",
            match checks.verdict {
                Verdict::Ready => "ready".to_string(),
                Verdict::Unknown => "some could not be decided".to_string(),
                Verdict::Blocked => format!("BLOCKED by {}", failing.join(", ")),
            }
        )),
        Line::raw("Creating uploads the manifest and starts the job (it cannot be undone,"),
        Line::raw("only cancelled in the S3 console)."),
        Line::raw(""),
    ];
    let last = if checks.verdict == Verdict::Blocked {
        "Fix the checks first (s3ferry batch --check); any key closes."
    } else if plan.objects == 0 {
        "Nothing for S3 Batch to copy; any key closes."
    } else {
        "y creates the job; any other key cancels."
    };
    text.push(Line::styled(last, Style::default().add_modifier(Modifier::BOLD)));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Create the S3 Batch job? ")),
        popup,
    );
}
