//! What a transfer will ask of S3 and KMS, and roughly what those requests cost: from the shape
//! of a plan (objects to copy, their sizes, listings) and a price table (assets/prices.toml or
//! the operator's own).
//!
//! Requests counted per object copied:
//! - single copy: one CopyObject (server-side) or one GET + one PUT (streamed);
//! - multipart: CreateMultipartUpload + one UploadPartCopy/UploadPart per part +
//!   CompleteMultipartUpload, plus a HEAD and a GetObjectTagging of the source and, streamed, one ranged
//!   GET per part;
//! - sync checks: one HEAD of the destination each;
//! - listings: one ListObjectsV2 per 1,000 keys listed on each side;
//! - KMS without S3 Bucket Keys: one GenerateDataKey per object written and one Decrypt per
//!   part uploaded; with Bucket Keys AWS says up to 99% fewer, estimated here as 1%.
//!
//! Deletes are free in S3 and not counted as cost (they are counted as requests).

use std::collections::BTreeMap;

use crate::core::plan::{PartPlan, part_plan};
use crate::core::progress::{Method, Planned};

/// The table shipped with s3ferry; `--prices FILE` replaces it.
pub const BUILTIN_PRICES: &str = include_str!("../../assets/prices.toml");

/// Unit prices for one Region, in the table's currency.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// PUT, COPY, POST and LIST requests, per 1,000.
    pub put_per_1000: f64,
    /// GET, HEAD and other requests, per 1,000.
    pub get_per_1000: f64,
    /// KMS requests, per 10,000.
    pub kms_per_10000: f64,
}

/// A price table with its provenance.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    /// Where the figures were taken from.
    pub source: String,
    /// When (a date).
    pub taken: String,
    #[serde(default = "usd")]
    pub currency: String,
    pub regions: BTreeMap<String, Prices>,
}

fn usd() -> String {
    "USD".into()
}

/// Why a price table is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PriceError {
    #[error("price table: {0}")]
    Toml(String),
    #[error("price table: {region}.{name} = {value} is not a price")]
    NotAPrice { region: String, name: &'static str, value: f64 },
}

impl PriceTable {
    /// Parses a table; a price that is negative or not a number is an error, not a zero.
    pub fn parse(text: &str) -> Result<PriceTable, PriceError> {
        let table: PriceTable = toml::from_str(text).map_err(|e| PriceError::Toml(e.to_string()))?;
        for (region, p) in &table.regions {
            for (name, v) in
                [("put_per_1000", p.put_per_1000), ("get_per_1000", p.get_per_1000), ("kms_per_10000", p.kms_per_10000)]
            {
                if !v.is_finite() || v < 0.0 {
                    return Err(PriceError::NotAPrice { region: region.clone(), name, value: v });
                }
            }
        }
        Ok(table)
    }

    pub fn builtin() -> PriceTable {
        PriceTable::parse(BUILTIN_PRICES).expect("assets/prices.toml parses (checked by a test)")
    }

    pub fn region(&self, region: &str) -> Option<&Prices> {
        self.regions.get(region)
    }
}

/// The counts a plan reduces to. Built one planned object at a time, so a plan of any size
/// costs a few counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanShape {
    /// Objects to copy (new or changed); in sync, objects to check are counted here too, since
    /// each may turn out to need a copy (so the figures are an upper bound).
    pub copy_objects: u64,
    pub copy_bytes: u64,
    /// Of those, copied with one request.
    pub single: u64,
    /// Of those, copied in parts, and how many parts in all.
    pub multipart: u64,
    pub parts: u64,
    /// sync: objects whose destination must be read (HEAD) before deciding.
    pub checks: u64,
    /// sync: objects already at the destination.
    pub skip_objects: u64,
    pub skip_bytes: u64,
    /// sync --delete: destination objects to delete.
    pub deletes: u64,
    /// Objects too large for S3 (more than 5 TiB): they will fail.
    pub too_large: u64,
    pub listed_source: u64,
    pub listed_destination: u64,
}

impl PlanShape {
    /// Counts one planned object. `threshold`/`part_size` are the run's settings.
    pub fn add(&mut self, action: Planned, bytes: u64, threshold: u64, part_size: u64) {
        match action {
            Planned::Skip => {
                self.skip_objects += 1;
                self.skip_bytes += bytes;
                return;
            }
            Planned::Delete => {
                self.deletes += 1;
                return;
            }
            Planned::Check => self.checks += 1,
            Planned::Copy => {}
        }
        self.copy_objects += 1;
        self.copy_bytes += bytes;
        match part_plan(bytes, threshold, part_size) {
            Ok(PartPlan::Single) => self.single += 1,
            Ok(PartPlan::Multipart { count, .. }) => {
                self.multipart += 1;
                self.parts += count;
            }
            Err(_) => self.too_large += 1,
        }
    }
}

/// Request counts by price class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    pub put: u64,
    pub get: u64,
    pub list: u64,
    pub delete: u64,
    pub kms: u64,
    pub kms_bucket_key: u64,
}

pub fn requests(shape: &PlanShape, method: Method, kms: bool) -> Requests {
    let writes = shape.single + shape.multipart * 2 + shape.parts;
    // Multipart: a HEAD and a GetObjectTagging of the source for metadata and tags.
    let mut get = shape.checks + shape.multipart * 2;
    if method == Method::Stream {
        get += shape.single + shape.parts;
    }
    let pages = |n: u64| n.div_ceil(1_000).max(1);
    let list =
        pages(shape.listed_source) + if shape.listed_destination > 0 { pages(shape.listed_destination) } else { 0 };
    let kms_requests = if kms { shape.single + shape.multipart + shape.parts } else { 0 };
    Requests {
        put: writes,
        get,
        list,
        delete: shape.deletes,
        kms: kms_requests,
        kms_bucket_key: if kms_requests == 0 { 0 } else { kms_requests.div_ceil(100) },
    }
}

/// One line of the estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct CostLine {
    pub label: &'static str,
    pub requests: u64,
    /// `None` when the table has no price for the Region.
    pub cost: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub region: String,
    pub currency: String,
    /// "aws.amazon.com/s3/pricing ..., 2026-11-25"
    pub provenance: String,
    pub lines: Vec<CostLine>,
    /// Requests without and with S3 Bucket Keys (KMS lines differ).
    pub total: Option<f64>,
    pub total_bucket_key: Option<f64>,
}

/// Prices the requests of a plan in the destination's Region (where the writes are billed).
pub fn estimate(shape: &PlanShape, method: Method, kms: bool, table: &PriceTable, region: &str) -> Estimate {
    let r = requests(shape, method, kms);
    let p = table.region(region);
    let per = |n: u64, unit: fn(&Prices) -> f64, per: f64| p.map(|p| n as f64 * unit(p) / per);
    let put = per(r.put + r.list, |p| p.put_per_1000, 1_000.0);
    let get = per(r.get, |p| p.get_per_1000, 1_000.0);
    let kms_cost = per(r.kms, |p| p.kms_per_10000, 10_000.0);
    let kms_bk = per(r.kms_bucket_key, |p| p.kms_per_10000, 10_000.0);
    let lines = vec![
        CostLine { label: "COPY/PUT", requests: r.put, cost: per(r.put, |p| p.put_per_1000, 1_000.0) },
        CostLine { label: "GET/HEAD", requests: r.get, cost: get },
        CostLine { label: "LIST", requests: r.list, cost: per(r.list, |p| p.put_per_1000, 1_000.0) },
        CostLine { label: "DELETE", requests: r.delete, cost: p.map(|_| 0.0) },
        CostLine { label: "KMS", requests: r.kms, cost: kms_cost },
        CostLine { label: "KMS, Bucket Key", requests: r.kms_bucket_key, cost: kms_bk },
    ];
    let sum = |k: Option<f64>| Some(put? + get? + k?);
    Estimate {
        region: region.to_string(),
        currency: table.currency.clone(),
        provenance: format!("{}, {}", table.source, table.taken),
        lines,
        total: sum(kms_cost),
        total_bucket_key: sum(kms_bk),
    }
}

/// Money as the plan screen shows it: cents, or fractions of a cent below one cent.
pub fn format_money(amount: f64, currency: &str) -> String {
    let symbol = if currency == "USD" { "$" } else { "" };
    let suffix = if currency == "USD" { String::new() } else { format!(" {currency}") };
    if amount > 0.0 && amount < 0.01 {
        format!("<{symbol}0.01{suffix}")
    } else {
        format!("{symbol}{amount:.2}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn shape(objects: &[(Planned, u64)], threshold: u64, part: u64) -> PlanShape {
        let mut s = PlanShape::default();
        for (a, b) in objects {
            s.add(*a, *b, threshold, part);
        }
        s
    }

    #[test]
    fn shapes() {
        // (planned objects, threshold, part size) -> (copy, bytes, single, multipart, parts, checks, skip, deletes)
        type Case = (Vec<(Planned, u64)>, u64, u64, [u64; 8]);
        let cases: Vec<Case> = vec![
            (vec![], 100 * MIB, 16 * MIB, [0, 0, 0, 0, 0, 0, 0, 0]),
            (
                vec![(Planned::Copy, 10), (Planned::Copy, 100 * MIB)],
                100 * MIB,
                16 * MIB,
                [2, 100 * MIB + 10, 2, 0, 0, 0, 0, 0],
            ),
            // 100 MiB + 1 byte over a 100 MiB threshold: 7 parts of 16 MiB.
            (vec![(Planned::Copy, 100 * MIB + 1)], 100 * MIB, 16 * MIB, [1, 100 * MIB + 1, 0, 1, 7, 0, 0, 0]),
            (
                vec![(Planned::Check, 5), (Planned::Skip, 7), (Planned::Skip, 8), (Planned::Delete, 9)],
                100 * MIB,
                16 * MIB,
                [1, 5, 1, 0, 0, 1, 2, 1],
            ),
        ];
        for (i, (objects, threshold, part, want)) in cases.into_iter().enumerate() {
            let s = shape(&objects, threshold, part);
            let got =
                [s.copy_objects, s.copy_bytes, s.single, s.multipart, s.parts, s.checks, s.skip_objects, s.deletes];
            assert_eq!(got, want, "case {i}");
        }
        let s = shape(&[(Planned::Copy, 6 << 40)], 100 * MIB, 16 * MIB);
        assert_eq!((s.too_large, s.single, s.multipart), (1, 0, 0), "larger than 5 TiB is neither");
    }

    #[test]
    fn request_counts() {
        let s = PlanShape {
            copy_objects: 12,
            single: 10,
            multipart: 2,
            parts: 30,
            checks: 3,
            deletes: 4,
            listed_source: 2_500,
            listed_destination: 1_000,
            ..PlanShape::default()
        };
        // (method, kms) -> (put, get, list, delete, kms, kms with bucket key)
        let cases = [
            (Method::ServerSide, true, (10 + 4 + 30, 3 + 4, 3 + 1, 4, 10 + 2 + 30, 1)),
            (Method::ServerSide, false, (44, 7, 4, 4, 0, 0)),
            (Method::Stream, true, (44, 7 + 10 + 30, 4, 4, 42, 1)),
        ];
        for (method, kms, (put, get, list, delete, k, kb)) in cases {
            let r = requests(&s, method, kms);
            assert_eq!(
                (r.put, r.get, r.list, r.delete, r.kms, r.kms_bucket_key),
                (put, get, list, delete, k, kb),
                "{method:?} kms={kms}"
            );
        }
        // cp lists only the source; an empty source is still one request.
        let r = requests(&PlanShape::default(), Method::ServerSide, false);
        assert_eq!((r.list, r.put), (1, 0));
    }

    #[test]
    fn a_million_small_objects_into_kms_in_london() {
        let s =
            PlanShape { copy_objects: 1_000_000, single: 1_000_000, listed_source: 1_000_000, ..Default::default() };
        let table = PriceTable::builtin();
        let e = estimate(&s, Method::ServerSide, true, &table, "eu-west-2");
        let by = |l: &str| e.lines.iter().find(|c| c.label == l).cloned().unwrap();
        assert_eq!(by("COPY/PUT").requests, 1_000_000);
        assert!((by("COPY/PUT").cost.unwrap() - 5.3).abs() < 1e-9);
        assert!((by("LIST").cost.unwrap() - 1_000.0 * 0.0053 / 1_000.0).abs() < 1e-9);
        assert!((by("KMS").cost.unwrap() - 3.0).abs() < 1e-9, "1M GenerateDataKey at $0.03 per 10k");
        assert!((by("KMS, Bucket Key").cost.unwrap() - 0.03).abs() < 1e-9);
        assert!((e.total.unwrap() - (5.3 + 0.0053 + 3.0)).abs() < 1e-9);
        assert!((e.total_bucket_key.unwrap() - (5.3 + 0.0053 + 0.03)).abs() < 1e-9);
        assert!(e.provenance.contains("2026-11-25"), "{}", e.provenance);
        // A Region the table does not know: counts without prices.
        let e = estimate(&s, Method::ServerSide, true, &table, "ap-south-2");
        assert_eq!((e.total, e.lines[0].cost, e.lines[0].requests), (None, None, 1_000_000));
    }

    #[test]
    fn tables_parse_and_reject_bad_prices() {
        let t = PriceTable::builtin();
        assert!(t.regions.len() >= 5 && t.source.contains("aws.amazon.com") && t.currency == "USD");
        let own = "source = \"our contract\"\ntaken = \"2026-01-01\"\ncurrency = \"EUR\"\n[regions.eu-west-1]\nput_per_1000 = 0.004\nget_per_1000 = 0.0003\nkms_per_10000 = 0.02\n";
        let t = PriceTable::parse(own).unwrap();
        assert_eq!(t.region("eu-west-1").unwrap().put_per_1000, 0.004);
        for bad in [
            own.replace("0.004", "-1"),
            own.replace("0.004", "\"cheap\""),
            own.replace("taken = \"2026-01-01\"\n", ""),
            own.replace("kms_per_10000", "kms_per_1000"),
            "not toml [".to_string(),
        ] {
            assert!(PriceTable::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn money() {
        let cases =
            [(0.0, "USD", "$0.00"), (0.004, "USD", "<$0.01"), (5.3053, "USD", "$5.31"), (2.0, "EUR", "2.00 EUR")];
        for (amount, currency, want) in cases {
            assert_eq!(format_money(amount, currency), want);
        }
    }
}
