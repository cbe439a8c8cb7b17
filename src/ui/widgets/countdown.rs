//! The credential countdown: time left, coloured by urgency, and whether it renews itself.

use std::time::{Duration, SystemTime};

use ratatui::style::{Color, Style};
use ratatui::text::Span;

use crate::core::credentials::CredentialLifetime;
use crate::core::units::format_countdown;

/// "11:59:58 renews", "0:09:12 expires", "expired", or "no expiry".
pub fn countdown(lifetime: &CredentialLifetime, now: SystemTime) -> Span<'static> {
    let Some(left) = lifetime.remaining(now) else {
        return Span::raw("no expiry");
    };
    let colour = if left > Duration::from_secs(3600) {
        Color::Green
    } else if left > Duration::from_secs(600) {
        Color::Yellow
    } else {
        Color::Red
    };
    let text = if left.is_zero() {
        "expired".to_string()
    } else if lifetime.renews {
        format!("{} renews", format_countdown(left))
    } else {
        format!("{} expires", format_countdown(left))
    };
    Span::styled(text, Style::default().fg(colour))
}
