//! The Preflight screen: every check grouped by account with its mark; the selected check's
//! explanation and fix beside it; Enter for the full detail; `w` writes all fixes to a file.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use tui_input::Input;

use crate::core::preflight::checks::{Area, Check, Report, Status, Verdict};

#[derive(Debug, Clone, Default)]
pub enum Run {
    #[default]
    NotRun,
    Running,
    Done(Box<Report>),
}

#[derive(Debug, Clone, Default)]
pub struct PreflightState {
    pub run: Run,
    pub selected: usize,
    /// Full-screen detail of the selected check, scrolled by this many lines.
    pub detail: Option<u16>,
    /// The "write fixes to" prompt, when open.
    pub save: Option<Input>,
    /// The last file operation's outcome, shown in the footer.
    pub message: Option<String>,
    /// The probe confirmation, naming where they would write, when open.
    pub confirm_probe: Option<String>,
}

pub const DEFAULT_FIXES_FILE: &str = "s3ferry-fixes.md";

impl PreflightState {
    pub fn report(&self) -> Option<&Report> {
        match &self.run {
            Run::Done(r) => Some(r),
            _ => None,
        }
    }

    /// Checks in display order: grouped by side, as the list shows them.
    pub fn ordered(&self) -> Vec<&Check> {
        let Some(report) = self.report() else { return Vec::new() };
        Area::ALL
            .iter()
            .flat_map(|area| report.checks.iter().chain(&report.probes).filter(move |c| c.side == *area))
            .collect()
    }

    pub fn selected_check(&self) -> Option<&Check> {
        self.ordered().get(self.selected).copied()
    }

    pub fn move_by(&mut self, delta: isize) {
        let len = self.ordered().len();
        self.selected = if len == 0 { 0 } else { self.selected.saturating_add_signed(delta).min(len - 1) };
        self.detail = self.detail.map(|_| 0);
    }

    /// One line for the title bar.
    pub fn badge(&self) -> String {
        match &self.run {
            Run::NotRun => "preflight: not run".into(),
            Run::Running => "preflight: running…".into(),
            Run::Done(r) => {
                let fails = r.checks.iter().filter(|c| c.status == Status::Fail).count();
                let unknown = r.checks.iter().filter(|c| c.status == Status::Unknown).count();
                match r.verdict {
                    Verdict::Ready => "preflight: READY".into(),
                    Verdict::Blocked => format!("preflight: BLOCKED ({fails} fail)"),
                    Verdict::Unknown => format!("preflight: UNKNOWN ({unknown} unknown)"),
                }
            }
        }
    }
}

/// Every fix of the report as one document an operator can hand to each account's owner.
pub fn fixes_document(report: &Report) -> String {
    let mut out = format!("# s3ferry preflight fixes\n\nPrincipal: {}\n", report.principal);
    let mut any = false;
    for c in &report.checks {
        for f in &c.fixes {
            any = true;
            out.push_str(&format!(
                "\n## {} ({})\n\nApply in account {}: {}.\n\n{}\n\n```json\n{}\n```\n\n```hcl\n{}\n```\n",
                c.id,
                c.summary,
                f.account,
                f.target,
                c.detail.join("\n"),
                f.json.trim_end(),
                f.terraform.trim_end()
            ));
        }
    }
    if !any {
        out.push_str("\nNo fixes: no check failed for want of a policy statement.\n");
    }
    out
}

fn mark(status: Status) -> Span<'static> {
    match status {
        Status::Pass => Span::styled("PASS", Style::default().fg(Color::Green)),
        Status::Fail => Span::styled("FAIL", Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)),
        Status::Warn => Span::styled("WARN", Style::default().fg(Color::Yellow)),
        Status::Unknown => Span::styled("  ? ", Style::default().fg(Color::Magenta)),
    }
}

pub fn render(frame: &mut Frame, area: Rect, state: &PreflightState) {
    match &state.run {
        Run::Done(_) => {}
        Run::NotRun | Run::Running => {
            let text = "Checking both accounts: identity, bucket policies, keys, encryption, ownership…";
            frame.render_widget(
                Paragraph::new(text).block(Block::default().borders(Borders::ALL).title(" Preflight ")),
                area,
            );
            return;
        }
    }
    if let Some(scroll) = state.detail {
        render_detail(frame, area, state.selected_check(), scroll);
        return;
    }
    let [list, side] = Layout::horizontal([Constraint::Length(36), Constraint::Min(20)]).areas(area);
    let mut lines = Vec::new();
    let ordered = state.ordered();
    let mut index = 0;
    let mut selected_line = 0;
    for area in Area::ALL {
        if !ordered.iter().any(|c| c.side == area) {
            continue;
        }
        lines.push(Line::styled(area.heading(), Style::default().add_modifier(Modifier::BOLD)));
        for c in ordered.iter().filter(|c| c.side == area) {
            let style = if index == state.selected {
                selected_line = lines.len();
                Style::default().bg(Color::Cyan).fg(Color::Black)
            } else {
                Style::default()
            };
            lines.push(Line::from(vec![Span::raw(" "), mark(c.status), Span::styled(format!(" {:<29}", c.id), style)]));
            index += 1;
        }
    }
    // More checks than rows: scroll so the selected one stays in sight.
    let rows = list.height.saturating_sub(2) as usize;
    let top = (selected_line + 1).saturating_sub(rows) as u16;
    let block = Block::default().borders(Borders::ALL).title(" Checks ");
    frame.render_widget(Paragraph::new(lines).scroll((top, 0)).block(block), list);
    render_detail(frame, side, state.selected_check(), 0);
    if let Some(input) = &state.save {
        render_prompt(frame, area, input);
    }
    if let Some(target) = &state.confirm_probe {
        render_confirm(frame, area, target);
    }
}

fn render_confirm(frame: &mut Frame, area: Rect, target: &str) {
    let width = 74.min(area.width);
    let popup =
        Rect { x: area.x + (area.width - width) / 2, y: area.y + area.height.saturating_sub(8) / 2, width, height: 8 };
    let text = vec![
        Line::raw("Live probes WRITE to the destination, then delete what they wrote:"),
        Line::raw(format!("  {target}")),
        Line::raw("  a zero-byte object, a multipart upload (aborted), one copied object."),
        Line::raw("Cleanup needs s3:DeleteObject and s3:AbortMultipartUpload there."),
        Line::raw(""),
        Line::styled("y runs the probes; any other key cancels.", Style::default().add_modifier(Modifier::BOLD)),
    ];
    frame.render_widget(ratatui::widgets::Clear, popup);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Run live probes? ")),
        popup,
    );
}

fn render_detail(frame: &mut Frame, area: Rect, check: Option<&Check>, scroll: u16) {
    let Some(c) = check else { return };
    let mut lines = vec![Line::from(vec![mark(c.status), Span::raw(format!(" {}", c.summary))]), Line::raw("")];
    lines.extend(c.detail.iter().map(|d| Line::raw(d.clone())));
    for f in &c.fixes {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!("Fix: in account {}, add to {}:", f.account, f.target),
            Style::default().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
        lines.extend(f.json.lines().map(|l| Line::raw(l.to_string())));
    }
    let title = format!(" {} ", c.id);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

fn render_prompt(frame: &mut Frame, area: Rect, input: &Input) {
    let width = 60.min(area.width);
    let popup = Rect { x: area.x + (area.width - width) / 2, y: area.y + area.height / 2 - 1, width, height: 3 };
    frame.render_widget(ratatui::widgets::Clear, popup);
    frame.render_widget(
        Paragraph::new(input.value().to_string())
            .block(Block::default().borders(Borders::ALL).title(" Write all fixes to (Enter writes, Esc cancels) ")),
        popup,
    );
    frame.set_cursor_position((popup.x + 1 + input.visual_cursor() as u16, popup.y + 1));
}
