//! Human units: byte sizes ("5MiB"), durations ("12h"), countdowns ("1:02:03").

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error(
        "`{input}` is not a size: use a number with an optional unit B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (for example \"5MiB\")"
    )]
    Size { input: String },
    #[error(
        "`{input}` is not a duration: use a number with s, m or h, optionally combined (for example \"12h\", \"90m\", \"1h30m\")"
    )]
    Duration { input: String },
}

/// Parses "5MiB", "5 GiB", "100KB", "42" (bytes). Decimal units are powers of 1000, binary of 1024.
pub fn parse_size(input: &str) -> Result<u64, UnitError> {
    let err = || UnitError::Size { input: input.to_string() };
    let s = input.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    if num.is_empty() {
        return Err(err());
    }
    let n: u64 = num.parse().map_err(|_| err())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1_000,
        "mb" | "m" => 1_000_000,
        "gb" | "g" => 1_000_000_000,
        "tb" | "t" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(err()),
    };
    n.checked_mul(mult).ok_or_else(err)
}

/// Parses "12h", "90m", "45s", "1h30m", or a bare number of seconds.
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    let err = || UnitError::Duration { input: input.to_string() };
    let s = input.trim();
    if s.is_empty() {
        return Err(err());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(err()),
        };
        let n: u64 = num.parse().map_err(|_| err())?;
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(err)?;
        num.clear();
    }
    if !num.is_empty() {
        return Err(err());
    }
    Ok(Duration::from_secs(total))
}

/// "0 B", "1023 B", "1.0 KiB", "117.7 MiB": binary units, one decimal above bytes.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A count with thousands separators: 1234567 -> "1,234,567".
/// "1 object", "2,110 objects": a count with its noun, singular for one.
pub fn count_of(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", format_count(n), if n == 1 { one } else { many })
}

pub fn format_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "h:mm:ss" for a countdown; hours grow past 24 rather than wrapping into days.
pub fn format_countdown(remaining: Duration) -> String {
    let s = remaining.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// "2026-11-25 18:21" in UTC: the listing's clock, whatever the operator's timezone.
pub fn format_time(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", secs / 3600, (secs / 60) % 60)
}

/// Howard Hinnant's days-to-civil algorithm: a date without pulling in a time crate.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        for (n, want) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (1_234_567, "1,234,567"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ] {
            assert_eq!(format_count(n), want);
        }
    }

    #[test]
    fn sizes() {
        let cases: &[(&str, Option<u64>)] = &[
            ("42", Some(42)),
            ("5MiB", Some(5 * 1024 * 1024)),
            ("5 GiB", Some(5 << 30)),
            ("100KB", Some(100_000)),
            ("1tib", Some(1 << 40)),
            ("", None),
            ("MiB", None),
            ("5 parsecs", None),
            ("-1", None),
            ("99999999999999999999TiB", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_size(input).ok(), *want, "{input}");
        }
    }

    #[test]
    fn durations() {
        let cases: &[(&str, Option<u64>)] = &[
            ("12h", Some(43_200)),
            ("90m", Some(5_400)),
            ("1h30m", Some(5_400)),
            ("900", Some(900)),
            ("45s", Some(45)),
            ("", None),
            ("h", None),
            ("12", Some(12)),
            ("12x", None),
            ("1h30", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input).ok().map(|d| d.as_secs()), *want, "{input}");
        }
    }

    #[test]
    fn formats() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1024), "1.0 KiB");
        assert_eq!(format_size(150 * 1024 * 1024), "150.0 MiB");
        assert_eq!(format_countdown(Duration::from_secs(3723)), "1:02:03");
        assert_eq!(format_countdown(Duration::from_secs(43_200)), "12:00:00");
        assert_eq!(format_countdown(Duration::from_secs(59)), "0:00:59");
    }
}
