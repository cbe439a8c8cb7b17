//! The browse screen: one pane per side, each listing buckets, prefixes and objects.

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use tui_input::Input;

use crate::core::listing::{Entry, Location, ObjectDetails, SortBy, printable};
use crate::core::side::Side;
pub use crate::core::units::format_time;
use crate::core::units::{count_of, format_count, format_size};
use crate::engine::session::SessionInfo;
use crate::ui::widgets::countdown::countdown;
pub use crate::ui::widgets::text::{clip, fit, pad};

#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    Connecting,
    Connected(SessionInfo),
    Failed(String),
}

/// One side's pane. Prefixes (or buckets) are kept apart from objects so folders list first
/// whatever order the pages arrive in.
#[derive(Debug, Clone)]
pub struct PaneState {
    pub side: Side,
    pub connection: Connection,
    pub location: Location,
    pub folders: Vec<Entry>,
    pub objects: Vec<Entry>,
    pub loading: bool,
    /// The listing request whose pages this pane accepts.
    pub request: u64,
    pub error: Option<String>,
    pub selected: usize,
    pub offset: usize,
    pub filter: Input,
    pub filtering: bool,
    /// Marked entries at this location, by name (a prefix ends in `/`), with objects' sizes.
    pub marks: std::collections::BTreeMap<String, Option<u64>>,
    pub sort: SortBy,
    /// The object whose details are open (Enter on an object).
    pub details: Option<DetailsView>,
    /// A prefix's totals, counted on request (`z`).
    pub totals: Option<TotalsView>,
    /// After going up: the prefix (or bucket) to put the cursor on once its page arrives.
    pub reselect: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DetailsView {
    pub request: u64,
    pub key: String,
    /// `None` while HeadObject is on its way.
    pub details: Option<Result<ObjectDetails, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotalsView {
    pub request: u64,
    pub prefix: String,
    pub objects: u64,
    pub bytes: u64,
    pub done: bool,
    pub error: Option<String>,
}

impl PaneState {
    pub fn new(side: Side, location: Location) -> Self {
        PaneState {
            side,
            connection: Connection::Connecting,
            location,
            folders: Vec::new(),
            objects: Vec::new(),
            loading: true,
            request: 0,
            error: None,
            selected: 0,
            offset: 0,
            filter: Input::default(),
            filtering: false,
            marks: std::collections::BTreeMap::new(),
            sort: SortBy::Name,
            details: None,
            totals: None,
            reselect: None,
        }
    }

    fn parent_prefix(&self) -> &str {
        match &self.location {
            Location::Buckets => "",
            Location::Prefix { prefix, .. } => prefix,
        }
    }

    /// Entries that pass the filter, folders first, objects in the chosen order.
    pub fn visible(&self) -> Vec<&Entry> {
        let filter = self.filter.value();
        let parent = self.parent_prefix();
        let mut objects: Vec<&Entry> = self.objects.iter().filter(|e| e.matches(parent, filter)).collect();
        if self.sort != SortBy::Name {
            objects.sort_by(|a, b| self.sort.order(a, b));
        }
        self.folders.iter().filter(|e| e.matches(parent, filter)).chain(objects).collect()
    }

    pub fn loaded(&self) -> usize {
        self.folders.len() + self.objects.len()
    }

    /// Starts showing `location`; the caller sends the listing request with id `request`.
    pub fn navigate(&mut self, location: Location, request: u64) {
        self.location = location;
        self.request = request;
        self.folders.clear();
        self.objects.clear();
        self.loading = true;
        self.error = None;
        self.selected = 0;
        self.offset = 0;
        self.filter.reset();
        self.filtering = false;
        self.marks.clear();
        self.details = None;
        self.totals = None;
        self.reselect = None;
    }

    pub fn accept_page(&mut self, request: u64, entries: Vec<Entry>, more: bool) {
        if request != self.request {
            return;
        }
        for e in entries {
            match e {
                Entry::Object { .. } => self.objects.push(e),
                _ => self.folders.push(e),
            }
        }
        self.loading = more;
        if let Some(name) = &self.reselect {
            let at = self.visible().iter().position(|e| match e {
                Entry::Bucket { bucket, .. } => bucket == name,
                Entry::Prefix { prefix } => prefix == name,
                Entry::Object { .. } => false,
            });
            if let Some(i) = at {
                self.selected = i;
                self.reselect = None;
            }
        }
    }

    pub fn accept_error(&mut self, request: u64, error: String) {
        if request == self.request {
            self.error = Some(error);
            self.loading = false;
        }
    }

    /// Moves the selection by `delta` rows within the visible list.
    pub fn move_by(&mut self, delta: isize) {
        let len = self.visible().len();
        if len == 0 {
            self.selected = 0;
            return;
        }
        self.selected = self.selected.saturating_add_signed(delta).min(len - 1);
    }

    pub fn selected_entry(&self) -> Option<&Entry> {
        self.visible().get(self.selected).copied()
    }

    /// Keeps the selection on screen for a list `rows` tall.
    fn scroll_into_view(&mut self, rows: usize) {
        if rows == 0 {
            return;
        }
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + rows {
            self.offset = self.selected + 1 - rows;
        }
    }
}

/// Renders both panes side by side into `area`.
pub fn render(frame: &mut Frame, area: Rect, panes: &mut [PaneState; 2], focus: Side, now: SystemTime) {
    let [left, right] = Layout::horizontal([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)]).areas(area);
    for (pane, rect) in panes.iter_mut().zip([left, right]) {
        let focused = pane.side == focus;
        render_pane(frame, rect, pane, focused, now);
    }
}

fn render_pane(frame: &mut Frame, area: Rect, pane: &mut PaneState, focused: bool, now: SystemTime) {
    let border = if focused { Style::default().fg(Color::Cyan) } else { Style::default().fg(Color::DarkGray) };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border)
        .title(Span::styled(format!(" {} ", pane.side.title()), Style::default().add_modifier(Modifier::BOLD)));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;

    let [head, list, detail, foot] =
        Layout::vertical([Constraint::Length(5), Constraint::Min(1), Constraint::Length(1), Constraint::Length(1)])
            .areas(inner);
    frame.render_widget(Paragraph::new(header_lines(pane, now, width)), head);

    let rows = list.height as usize;
    if let Some(err) = &pane.error {
        let p = Paragraph::new(err.clone())
            .style(Style::default().fg(Color::Red))
            .wrap(ratatui::widgets::Wrap { trim: true });
        frame.render_widget(p, list);
    } else {
        pane.scroll_into_view(rows);
        let parent = pane.parent_prefix().to_string();
        let visible = pane.visible();
        let lines: Vec<Line> = visible
            .iter()
            .enumerate()
            .skip(pane.offset)
            .take(rows)
            .map(|(i, e)| {
                let marked = pane.marks.contains_key(e.display_name(&parent));
                let style = if i == pane.selected && focused {
                    Style::default().bg(Color::Cyan).fg(Color::Black)
                } else if i == pane.selected {
                    Style::default().add_modifier(Modifier::REVERSED)
                } else if marked {
                    Style::default().fg(Color::Yellow)
                } else {
                    Style::default()
                };
                let row = if marked {
                    format!("✔ {}", entry_row(e, &parent, width.saturating_sub(2)))
                } else {
                    entry_row(e, &parent, width)
                };
                Line::styled(row, style)
            })
            .collect();
        let empty = lines.is_empty() && !pane.loading;
        frame.render_widget(Paragraph::new(lines), list);
        if empty {
            let what = if pane.filter.value().is_empty() { "(empty)" } else { "(nothing matches the filter)" };
            frame.render_widget(Paragraph::new(what).style(Style::default().fg(Color::DarkGray)), list);
        }
    }
    frame.render_widget(Paragraph::new(detail_line(pane, width)), detail);
    frame.render_widget(Paragraph::new(footer_line(pane, width)), foot);
    if pane.filtering && focused {
        let x = foot.x + 1 + pane.filter.visual_cursor().min(width.saturating_sub(2)) as u16;
        frame.set_cursor_position((x, foot.y));
    }
}

fn header_lines(pane: &PaneState, now: SystemTime, width: usize) -> Vec<Line<'static>> {
    let dim = Style::default().fg(Color::DarkGray);
    let mut lines = match &pane.connection {
        Connection::Connecting => vec![Line::styled("connecting…", dim), Line::raw(""), Line::raw(""), Line::raw("")],
        Connection::Failed(e) => vec![
            Line::styled(fit(e, width), Style::default().fg(Color::Red)),
            Line::raw(""),
            Line::raw(""),
            Line::raw(""),
        ],
        Connection::Connected(info) => vec![
            Line::from(vec![
                Span::styled("account ", dim),
                Span::raw(info.identity.account.clone()),
                Span::styled("  region ", dim),
                Span::raw(info.region.clone()),
            ]),
            Line::raw(fit(&info.identity.arn, width)),
            Line::from(vec![Span::styled("creds ", dim), countdown(&info.lifetime, now)]),
            Line::styled(fit(&format!("via {}", info.via), width), dim),
        ],
    };
    lines.push(Line::styled(clip(&pane.location.describe(), width), Style::default().add_modifier(Modifier::BOLD)));
    lines
}

fn footer_line(pane: &PaneState, width: usize) -> Line<'static> {
    if pane.filtering || !pane.filter.value().is_empty() {
        return Line::raw(fit(&format!("/{}", pane.filter.value()), width));
    }
    if !pane.marks.is_empty() {
        let prefixes = pane.marks.values().filter(|s| s.is_none()).count();
        let objects = pane.marks.len() - prefixes;
        let bytes: u64 = pane.marks.values().flatten().sum();
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let text = match (prefixes, objects) {
            (p, 0) => format!("{} marked: {} · c cp · s sync", pane.marks.len(), plural(p, "prefix", "prefixes")),
            (0, o) => {
                format!("{} marked: {}, {}", pane.marks.len(), plural(o, "object", "objects"), format_size(bytes))
            }
            (p, o) => format!(
                "{} marked: {}, {} ({})",
                pane.marks.len(),
                plural(p, "prefix", "prefixes"),
                plural(o, "object", "objects"),
                format_size(bytes)
            ),
        };
        return Line::styled(fit(&text, width), Style::default().fg(Color::Yellow).add_modifier(Modifier::BOLD));
    }
    let loaded = pane.loaded();
    let (one, many) =
        if matches!(pane.location, Location::Buckets) { ("bucket", "buckets") } else { ("entry", "entries") };
    let noun = if loaded == 1 { one } else { many };
    let mut status =
        if pane.loading { format!("{loaded} {noun} loaded, listing…") } else { format!("{loaded} {noun}") };
    if pane.sort != SortBy::Name {
        status.push_str(&format!(" · by {}", pane.sort.as_str()));
    }
    Line::styled(fit(&status, width), Style::default().fg(Color::DarkGray))
}

/// The selected object's size, last-modified and storage class: the columns a narrow pane drops.
fn detail_line(pane: &PaneState, width: usize) -> Line<'static> {
    if let Some(t) = &pane.totals {
        let state = match (&t.error, t.done) {
            (Some(e), _) => format!(" · stopped: {e}"),
            (None, true) => String::new(),
            (None, false) => " · counting… (Esc stops)".to_string(),
        };
        let name = t.prefix.strip_prefix(pane.parent_prefix()).unwrap_or(&t.prefix);
        let text = format!("{name}: {}, {}{state}", count_of(t.objects, "object", "objects"), format_size(t.bytes));
        return Line::styled(fit(&text, width), Style::default().fg(Color::Yellow));
    }
    let text = match pane.selected_entry() {
        Some(Entry::Object { size, last_modified, storage_class, .. }) if pane.error.is_none() => format!(
            "{}  {}  {storage_class}",
            format_size(*size),
            last_modified.map(format_time).unwrap_or_else(|| "-".to_string())
        ),
        _ => String::new(),
    };
    Line::styled(fit(&text, width), Style::default().fg(Color::Gray))
}

/// The object details popup (Enter on an object): what HeadObject says, tags on request.
pub fn render_details(frame: &mut Frame, area: Rect, view: &DetailsView) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let row = |name: &str, value: String| Line::from(vec![Span::styled(format!("{name:<14}"), bold), Span::raw(value)]);
    let mut lines = vec![row("key", printable(&view.key).into_owned())];
    match &view.details {
        None => lines.push(Line::raw("reading (HeadObject)…")),
        Some(Err(e)) => lines.push(Line::styled(e.clone(), Style::default().fg(Color::Red))),
        Some(Ok(d)) => {
            lines.push(row("size", format!("{} ({} bytes)", format_size(d.size), format_count(d.size))));
            lines.push(row("ETag", d.etag.clone()));
            lines.push(row("last modified", d.last_modified.map(format_time).unwrap_or_else(|| "-".into())));
            lines.push(row("storage class", d.storage_class.clone()));
            let key = d.kms_key.as_deref().map(|k| format!(" · key {k}")).unwrap_or_default();
            lines.push(row("encryption", format!("{}{key}", d.encryption)));
            lines.push(row("content type", d.content_type.clone().unwrap_or_else(|| "-".into())));
            let meta = if d.metadata.is_empty() {
                "none".to_string()
            } else {
                d.metadata.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
            };
            lines.push(row("metadata", meta));
            lines.push(match &d.tags {
                None => row("tags", "T loads them (GetObjectTagging)".into()),
                Some(Ok(t)) if t.is_empty() => row("tags", "none".into()),
                Some(Ok(t)) => row("tags", t.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")),
                Some(Err(e)) => row("tags", e.clone()),
            });
        }
    }
    let width = 76.min(area.width);
    // Two rows for the border, one spare for a long encryption or metadata line that wraps.
    let height = (lines.len() as u16 + 3).min(area.height);
    let popup = Rect { x: area.x + (area.width - width) / 2, y: area.y + 1, width, height };
    frame.render_widget(ratatui::widgets::Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Object (Esc closes · T tags) ")),
        popup,
    );
}

/// A listing row: name, then as many of size, last-modified and storage class as fit.
fn entry_row(entry: &Entry, parent: &str, width: usize) -> String {
    let cols = match entry {
        Entry::Object { size, last_modified, storage_class, .. } => {
            let when = last_modified.map(format_time).unwrap_or_default();
            if width >= 70 {
                format!("{:>10}  {:<16}  {:<12}", format_size(*size), when, storage_class)
            } else if width >= 50 {
                format!("{:>10}  {:<10}", format_size(*size), when.get(..10).unwrap_or(""))
            } else {
                format!("{:>10}", format_size(*size))
            }
        }
        Entry::Bucket { created, .. } if width >= 50 => {
            format!(
                "{:>10}",
                created.map(format_time).and_then(|t| t.get(..10).map(str::to_string)).unwrap_or_default()
            )
        }
        _ => String::new(),
    };
    let name_width = width.saturating_sub(cols.chars().count() + 1).max(1);
    format!("{} {cols}", pad(&clip(entry.display_name(parent), name_width), name_width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(format_time(0), "1970-01-01 00:00");
        assert_eq!(format_time(1_764_094_860), "2025-11-25 18:21");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00");
    }

    #[test]
    fn fitting() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        assert_eq!(fit("ünïcödé", 3), "ün…");
        assert_eq!(fit("x", 0), "");
        // Two columns a CJK character: the cut and the padding count columns, not characters.
        assert_eq!(fit("日本語のレポート.pdf", 9), "日本語の…");
        assert_eq!(pad("日本", 6), "日本  ");
        // A row fills its width exactly, whatever the name's script, so the columns line up.
        use unicode_width::UnicodeWidthStr;
        for name in ["naïve café.csv", "日本語のレポート.pdf", "emoji-📦-box.bin", "a"] {
            let e = Entry::Object {
                key: name.into(),
                size: 135_987,
                last_modified: Some(0),
                storage_class: "STANDARD".into(),
            };
            for width in [38, 60, 80] {
                let row = entry_row(&e, "", width);
                assert_eq!(row.width(), width, "{name} at {width}: {row:?}");
                assert!(row.trim_end().ends_with("STANDARD") || width < 70, "{row}");
            }
        }
    }

    #[test]
    fn stale_pages_are_dropped_and_folders_list_first() {
        let mut p = PaneState::new(Side::Source, Location::Buckets);
        p.navigate(Location::Prefix { bucket: "b".into(), prefix: String::new() }, 7);
        let obj =
            |k: &str| Entry::Object { key: k.into(), size: 1, last_modified: None, storage_class: "STANDARD".into() };
        p.accept_page(6, vec![obj("stale")], false);
        assert_eq!(p.loaded(), 0);
        p.accept_page(7, vec![obj("a.txt"), Entry::Prefix { prefix: "z/".into() }], true);
        assert!(p.loading);
        p.accept_page(7, vec![Entry::Prefix { prefix: "zz/".into() }], false);
        let names: Vec<&str> = p.visible().iter().map(|e| e.display_name("")).collect();
        assert_eq!(names, ["z/", "zz/", "a.txt"]);
        assert!(!p.loading);
    }
}
