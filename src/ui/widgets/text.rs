//! Text cut and padded to terminal columns (CJK and most emoji take two), with keys' control
//! characters escaped: one place for every screen's columns.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::core::listing::printable;

/// Truncates to `width` terminal columns with an ellipsis, so long keys never wrap a row. CJK
/// characters and most emoji take two columns: counting characters would push the columns
/// that follow out of line.
pub fn fit(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// Pads to `width` terminal columns.
pub fn pad(text: &str, width: usize) -> String {
    format!("{text}{}", " ".repeat(width.saturating_sub(text.width())))
}

/// A key or message from S3, shown: control characters escaped (they could move the cursor),
/// then cut to `width` columns.
pub fn clip(text: &str, width: usize) -> String {
    fit(&printable(text), width)
}
