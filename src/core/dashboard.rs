//! Reductions behind the plan screen and the transfer dashboard: throughput history for the
//! chart, the ETA, and the per-file error table's filter and export. Pure: the UI samples
//! [`crate::core::progress::Progress`] and passes the time in.

use std::collections::VecDeque;
use std::time::Duration;

use crate::core::progress::Failure;

/// Seconds of history the chart keeps (it shows as many as fit).
pub const HISTORY_SECS: usize = 600;

/// Per-second deltas of cumulative counters: objects finished and bytes moved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    samples: VecDeque<(u64, u64)>,
    last: Option<(u64, u64, u64)>,
}

impl History {
    /// Records the totals as of `second` (since the run started). Seconds skipped since the last
    /// sample are filled: their movement is spread evenly, so the chart has no false gaps and no
    /// false spikes when the UI was slow to sample.
    pub fn record(&mut self, second: u64, objects: u64, bytes: u64) {
        let Some((s0, o0, b0)) = self.last else {
            self.last = Some((second, objects, bytes));
            return;
        };
        if second <= s0 {
            return;
        }
        let gap = second - s0;
        let (d_o, d_b) = (objects.saturating_sub(o0), bytes.saturating_sub(b0));
        for i in 0..gap.min(HISTORY_SECS as u64) {
            // Even split with the remainder on the last second.
            let share = |d: u64| d / gap + if i + 1 == gap { d % gap } else { 0 };
            self.samples.push_back((share(d_o), share(d_b)));
        }
        while self.samples.len() > HISTORY_SECS {
            self.samples.pop_front();
        }
        self.last = Some((second, objects, bytes));
    }

    /// The last `n` seconds of objects per second, oldest first.
    pub fn objects(&self, n: usize) -> Vec<u64> {
        self.tail(n).map(|(o, _)| o).collect()
    }

    /// The last `n` seconds of bytes per second, oldest first.
    pub fn bytes(&self, n: usize) -> Vec<u64> {
        self.tail(n).map(|(_, b)| b).collect()
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    fn tail(&self, n: usize) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.samples.iter().skip(self.samples.len().saturating_sub(n)).copied()
    }
}

/// Time to move what is left at the given rates: the slower of the object-bound and the
/// byte-bound estimates. `None` when there is no rate to go by.
pub fn eta(objects_left: u64, bytes_left: u64, objects_per_s: f64, bytes_per_s: f64) -> Option<Duration> {
    if objects_left == 0 && bytes_left == 0 {
        return Some(Duration::ZERO);
    }
    let by = |left: u64, rate: f64| (rate > 0.0 && rate.is_finite()).then(|| left as f64 / rate);
    let t = [by(objects_left, objects_per_s), by(bytes_left, bytes_per_s)]
        .into_iter()
        .flatten()
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))?;
    Some(Duration::from_secs_f64(t.min(1e9)))
}

/// "2 h 05 min", "12 min", "45 s".
pub fn format_eta(d: Duration) -> String {
    // Rounded up: an ETA should not promise less than it knows.
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    if s >= 3600 {
        format!("{} h {:02} min", s / 3600, (s / 60) % 60)
    } else if s >= 60 {
        format!("{} min", s.div_ceil(60))
    } else {
        format!("{s} s")
    }
}

/// Indexes of the failures matching `query`: every whitespace-separated word must appear,
/// case-insensitively, in the key, the code or the message.
pub fn filter_failures(failures: &[Failure], query: &str) -> Vec<usize> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    failures
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            let hay = format!("{}\u{1f}{}\u{1f}{}", f.key, f.code, f.message).to_lowercase();
            words.iter().all(|w| hay.contains(w.as_str()))
        })
        .map(|(i, _)| i)
        .collect()
}

/// Export format of the error table, chosen by the file name (`.json` or `.ndjson`, else CSV).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
}

impl ExportFormat {
    pub fn for_path(path: &str) -> ExportFormat {
        let lower = path.to_lowercase();
        if lower.ends_with(".json") || lower.ends_with(".ndjson") { ExportFormat::Json } else { ExportFormat::Csv }
    }
}

/// The failures as CSV (RFC 4180: quoted when needed, quotes doubled) or a JSON array.
pub fn export(failures: &[&Failure], format: ExportFormat) -> String {
    match format {
        ExportFormat::Json => serde_json::to_string_pretty(failures).unwrap_or_else(|_| "[]".into()) + "\n",
        ExportFormat::Csv => {
            let mut out = String::from("key,code,message,attempts\r\n");
            for f in failures {
                out.push_str(&format!(
                    "{},{},{},{}\r\n",
                    csv_field(&f.key),
                    csv_field(&f.code),
                    csv_field(&f.message),
                    f.attempts
                ));
            }
            out
        }
    }
}

fn csv_field(s: &str) -> String {
    // A leading = + - @ would be a formula in a spreadsheet: keys are data, so quote-prefix it.
    let guarded = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if guarded.contains([',', '"', '\n', '\r']) || guarded != s {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(key: &str, code: &str, message: &str) -> Failure {
        Failure { key: key.into(), code: code.into(), message: message.into(), attempts: 1 }
    }

    #[test]
    fn history_fills_gaps_and_keeps_a_window() {
        // (second, objects total, bytes total) samples -> per-second objects
        type Case<'a> = (&'a [(u64, u64, u64)], &'a [u64]);
        let cases: &[Case] = &[
            (&[], &[]),
            (&[(0, 0, 0)], &[]),
            (&[(0, 0, 0), (1, 10, 100), (2, 30, 300)], &[10, 20]),
            // A slow sample spreads 9 objects over three seconds.
            (&[(0, 0, 0), (3, 9, 0)], &[3, 3, 3]),
            (&[(0, 0, 0), (3, 10, 0)], &[3, 3, 4]),
            // The same second twice, or time going back, changes nothing.
            (&[(0, 0, 0), (1, 5, 0), (1, 8, 0), (0, 9, 0)], &[5]),
        ];
        for (samples, want) in cases {
            let mut h = History::default();
            for (s, o, b) in *samples {
                h.record(*s, *o, *b);
            }
            assert_eq!(h.objects(100), *want, "{samples:?}");
        }
        let mut h = History::default();
        for s in 0..(HISTORY_SECS as u64 + 50) {
            h.record(s, s * 2, s * 1024);
        }
        assert_eq!(h.len(), HISTORY_SECS);
        assert_eq!(h.objects(3), [2, 2, 2]);
        assert_eq!(h.bytes(2), [1024, 1024]);
    }

    #[test]
    fn etas() {
        let cases = [
            ((0, 0, 0.0, 0.0), Some(0)),
            ((100, 0, 10.0, 0.0), Some(10)),
            ((100, 1_000, 10.0, 10.0), Some(100)), // bytes are the bottleneck
            ((100, 1_000, 0.0, 0.0), None),
            ((100, 1_000, f64::NAN, 0.0), None),
            ((100, 1_000, 0.0, 100.0), Some(10)),
        ];
        for ((o, b, ops, bps), want) in cases {
            assert_eq!(eta(o, b, ops, bps).map(|d| d.as_secs()), want, "{o} {b} {ops} {bps}");
        }
        assert_eq!(format_eta(Duration::from_secs(7_500)), "2 h 05 min");
        assert_eq!(format_eta(Duration::from_secs(61)), "2 min");
        assert_eq!(format_eta(Duration::from_secs(45)), "45 s");
        assert_eq!(format_eta(Duration::from_millis(1_500)), "2 s");
    }

    #[test]
    fn filter_matches_every_word_anywhere() {
        let all = [
            f("logs/a.json", "AccessDenied", "PutObject denied"),
            f("logs/b.json", "NoSuchKey", "gone"),
            f("img/c.png", "AccessDenied", "kms:GenerateDataKey"),
        ];
        let cases = [
            ("", vec![0, 1, 2]),
            ("accessdenied", vec![0, 2]),
            ("logs denied", vec![0]),
            ("KMS", vec![2]),
            ("zzz", vec![]),
        ];
        for (q, want) in cases {
            assert_eq!(filter_failures(&all, q), want, "{q}");
        }
    }

    #[test]
    fn export_csv_and_json() {
        let a = f("a,b \"q\".txt", "AccessDenied", "line1\nline2");
        let b = f("=cmd()", "NoSuchKey", "plain");
        let csv = export(&[&a, &b], ExportFormat::Csv);
        assert_eq!(
            csv,
            "key,code,message,attempts\r\n\"a,b \"\"q\"\".txt\",AccessDenied,\"line1\nline2\",1\r\n\"'=cmd()\",NoSuchKey,plain,1\r\n"
        );
        let json: serde_json::Value = serde_json::from_str(&export(&[&a], ExportFormat::Json)).unwrap();
        assert_eq!(json[0]["key"], "a,b \"q\".txt");
        assert_eq!(json[0]["attempts"], 1);
        assert_eq!(ExportFormat::for_path("errors.JSON"), ExportFormat::Json);
        assert_eq!(ExportFormat::for_path("errors.csv"), ExportFormat::Csv);
        assert_eq!(ExportFormat::for_path("errors"), ExportFormat::Csv);
    }
}
