//! Condition operators.
//!
//! Each condition yields true, false or unknown. Unknown (an operator we do not implement, a value we
//! cannot parse, a key AWS always sets but the request context lacks) is never rounded to true or false:
//! the evaluator decides whether it matters.

use std::net::IpAddr;

use serde::Serialize;

use super::document::Condition;
use super::matcher::{Piece, arn_like, expand_vars, glob, is_six_part, pieces_glob, pieces_to_string};
use super::request::Lookup;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SetQualifier {
    None,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BaseOp {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const OPERATORS: [(&str, BaseOp); 27] = [
    ("StringEquals", BaseOp::StringEquals),
    ("StringNotEquals", BaseOp::StringNotEquals),
    ("StringEqualsIgnoreCase", BaseOp::StringEqualsIgnoreCase),
    ("StringNotEqualsIgnoreCase", BaseOp::StringNotEqualsIgnoreCase),
    ("StringLike", BaseOp::StringLike),
    ("StringNotLike", BaseOp::StringNotLike),
    ("NumericEquals", BaseOp::NumericEquals),
    ("NumericNotEquals", BaseOp::NumericNotEquals),
    ("NumericLessThan", BaseOp::NumericLessThan),
    ("NumericLessThanEquals", BaseOp::NumericLessThanEquals),
    ("NumericGreaterThan", BaseOp::NumericGreaterThan),
    ("NumericGreaterThanEquals", BaseOp::NumericGreaterThanEquals),
    ("DateEquals", BaseOp::DateEquals),
    ("DateNotEquals", BaseOp::DateNotEquals),
    ("DateLessThan", BaseOp::DateLessThan),
    ("DateLessThanEquals", BaseOp::DateLessThanEquals),
    ("DateGreaterThan", BaseOp::DateGreaterThan),
    ("DateGreaterThanEquals", BaseOp::DateGreaterThanEquals),
    ("Bool", BaseOp::Bool),
    ("BinaryEquals", BaseOp::BinaryEquals),
    ("IpAddress", BaseOp::IpAddress),
    ("NotIpAddress", BaseOp::NotIpAddress),
    ("ArnEquals", BaseOp::ArnEquals),
    ("ArnLike", BaseOp::ArnLike),
    ("ArnNotEquals", BaseOp::ArnNotEquals),
    ("ArnNotLike", BaseOp::ArnNotLike),
    ("Null", BaseOp::Null),
];

impl BaseOp {
    /// Negated operators are true when the key is absent, and true when no value matches.
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            BaseOp::StringNotEquals
                | BaseOp::StringNotEqualsIgnoreCase
                | BaseOp::StringNotLike
                | BaseOp::NumericNotEquals
                | BaseOp::DateNotEquals
                | BaseOp::NotIpAddress
                | BaseOp::ArnNotEquals
                | BaseOp::ArnNotLike
        )
    }

    fn takes_variables(self) -> bool {
        matches!(
            self,
            BaseOp::StringEquals
                | BaseOp::StringNotEquals
                | BaseOp::StringEqualsIgnoreCase
                | BaseOp::StringNotEqualsIgnoreCase
                | BaseOp::StringLike
                | BaseOp::StringNotLike
                | BaseOp::ArnEquals
                | BaseOp::ArnLike
                | BaseOp::ArnNotEquals
                | BaseOp::ArnNotLike
        )
    }
}

/// A condition operator as written, e.g. `ForAllValues:StringLikeIfExists`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Operator {
    pub name: String,
    pub qualifier: SetQualifier,
    /// None: an operator this engine does not know; conditions using it evaluate to unknown.
    pub base: Option<BaseOp>,
    pub if_exists: bool,
}

impl Operator {
    pub fn parse(name: &str) -> Operator {
        let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, r)
        } else if let Some(r) = name.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, r)
        } else {
            (SetQualifier::None, name)
        };
        let (if_exists, rest) = match rest.strip_suffix("IfExists") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let base = OPERATORS.iter().find(|(n, _)| *n == rest).map(|(_, op)| *op);
        Operator { name: name.to_string(), qualifier, base, if_exists }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CondResult {
    True,
    False,
    Unknown(String),
}

/// Global keys AWS puts in every request (or that we fill in ourselves). When one is missing from the
/// context, "absent" would be a wrong guess, so conditions on it are unknown.
const ALWAYS_PRESENT: [&str; 13] = [
    "aws:currenttime",
    "aws:epochtime",
    "aws:securetransport",
    "aws:sourceip",
    "aws:requestedregion",
    "aws:userid",
    "aws:principaltype",
    "aws:principalarn",
    "aws:principalaccount",
    "aws:resourceaccount",
    "aws:viaawsservice",
    "aws:principalisawsservice",
    "kms:calleraccount",
];

pub(crate) fn always_present(key_lower: &str) -> bool {
    ALWAYS_PRESENT.contains(&key_lower)
}

/// A policy value ready for comparison.
enum PVal<'a> {
    Str(&'a str),
    Expanded(Vec<Piece>),
    Num(f64),
    Date(i64),
    Bool(bool),
    Net(IpAddr, u8),
}

pub(crate) fn evaluate(cond: &Condition, ctx: &dyn Lookup, vars: bool) -> CondResult {
    let op = &cond.operator;
    let Some(base) = op.base else {
        return CondResult::Unknown(format!("condition operator \"{}\" is not supported by this evaluator", op.name));
    };
    let values = ctx.get(&cond.key_lower);
    let absent = values.is_none_or(|v| v.is_empty());
    if absent && always_present(&cond.key_lower) {
        return CondResult::Unknown(format!(
            "context key {} is set by AWS on every request but was not given",
            cond.key
        ));
    }
    if base == BaseOp::Null {
        if op.qualifier != SetQualifier::None || op.if_exists {
            return CondResult::Unknown(format!("condition operator \"{}\" is not supported", op.name));
        }
        let mut result = false;
        for v in &cond.values {
            match parse_bool(v) {
                Some(want_absent) => result |= want_absent == absent,
                None => {
                    return CondResult::Unknown(format!("Null expects true or false, found \"{v}\""));
                }
            }
        }
        return tri(result);
    }
    let prepared = match prepare(base, &cond.values, ctx, vars) {
        Ok(p) => p,
        Err(reason) => return CondResult::Unknown(reason),
    };
    let values = match values {
        Some(v) if !v.is_empty() => v,
        _ => {
            if op.if_exists {
                return CondResult::True;
            }
            return tri(match op.qualifier {
                SetQualifier::ForAnyValue => false,
                SetQualifier::ForAllValues => true,
                SetQualifier::None => base.is_negated(),
            });
        }
    };
    let positive = |v: &str| prepared.iter().any(|p| positive_match(base, p, v));
    // A request value that is not of the operator's type (no address for NotIpAddress, text
    // for NumericNotEquals) matches no operator, negated ones included: a negated operator is
    // not "true because the value could not be compared" (IAM User Guide, "IAM JSON policy
    // elements: Condition operators"; an independent simulator agrees).
    let typed = |v: &str| request_value_parses(base, v);
    let single = |v: &str| typed(v) && positive(v) != base.is_negated();
    tri(match op.qualifier {
        SetQualifier::None if base.is_negated() => {
            values.iter().all(|v| typed(v)) && !values.iter().any(|v| positive(v))
        }
        SetQualifier::None => values.iter().any(|v| positive(v)),
        SetQualifier::ForAnyValue => values.iter().any(|v| single(v)),
        SetQualifier::ForAllValues => values.iter().all(|v| single(v)),
    })
}

/// Whether a request value is of the type a typed operator compares (any value is a string).
fn request_value_parses(base: BaseOp, v: &str) -> bool {
    use BaseOp::*;
    match base {
        NumericEquals
        | NumericNotEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => parse_num(v).is_some(),
        DateEquals | DateNotEquals | DateLessThan | DateLessThanEquals | DateGreaterThan | DateGreaterThanEquals => {
            parse_date(v).is_some()
        }
        IpAddress | NotIpAddress => v.parse::<IpAddr>().is_ok(),
        Bool => parse_bool(v).is_some(),
        _ => true,
    }
}

fn tri(b: bool) -> CondResult {
    if b { CondResult::True } else { CondResult::False }
}

fn prepare<'a>(base: BaseOp, values: &'a [String], ctx: &dyn Lookup, vars: bool) -> Result<Vec<PVal<'a>>, String> {
    values
        .iter()
        .map(|v| {
            use BaseOp::*;
            match base {
                _ if vars && base.takes_variables() && v.contains("${") => expand_vars(v, ctx)
                    .map(PVal::Expanded)
                    .map_err(|var| format!("policy variable {var} has no value in the request context")),
                NumericEquals
                | NumericNotEquals
                | NumericLessThan
                | NumericLessThanEquals
                | NumericGreaterThan
                | NumericGreaterThanEquals => {
                    parse_num(v).map(PVal::Num).ok_or_else(|| format!("\"{v}\" is not a number"))
                }
                DateEquals
                | DateNotEquals
                | DateLessThan
                | DateLessThanEquals
                | DateGreaterThan
                | DateGreaterThanEquals => {
                    parse_date(v).map(PVal::Date).ok_or_else(|| format!("\"{v}\" is not a date"))
                }
                Bool => {
                    parse_bool(v).map(PVal::Bool).ok_or_else(|| format!("Bool expects true or false, found \"{v}\""))
                }
                IpAddress | NotIpAddress => parse_cidr(v)
                    .map(|(a, m)| PVal::Net(a, m))
                    .ok_or_else(|| format!("\"{v}\" is not an IP address or CIDR")),
                ArnEquals | ArnLike | ArnNotEquals | ArnNotLike if v != "*" && !is_six_part(v) => {
                    Err(format!("\"{v}\" is not a six-part ARN pattern"))
                }
                _ => Ok(PVal::Str(v)),
            }
        })
        .collect()
}

fn positive_match(base: BaseOp, p: &PVal, v: &str) -> bool {
    use BaseOp::*;
    match (base, p) {
        (StringEquals | StringNotEquals, PVal::Str(s)) => *s == v,
        (StringEquals | StringNotEquals, PVal::Expanded(x)) => pieces_to_string(x) == v,
        (StringEqualsIgnoreCase | StringNotEqualsIgnoreCase, PVal::Str(s)) => eq_ignore_case(s, v),
        (StringEqualsIgnoreCase | StringNotEqualsIgnoreCase, PVal::Expanded(x)) => {
            eq_ignore_case(&pieces_to_string(x), v)
        }
        (StringLike | StringNotLike, PVal::Str(s)) => glob(s, v, false),
        (StringLike | StringNotLike, PVal::Expanded(x)) => pieces_glob(x, v, false),
        (ArnEquals | ArnLike | ArnNotEquals | ArnNotLike, PVal::Str(s)) => arn_like(s, v),
        (ArnEquals | ArnLike | ArnNotEquals | ArnNotLike, PVal::Expanded(x)) => arn_like(&pieces_to_string(x), v),
        (BinaryEquals, PVal::Str(s)) => *s == v,
        (Bool, PVal::Bool(b)) => parse_bool(v) == Some(*b),
        (_, PVal::Num(n)) => parse_num(v).is_some_and(|x| compare_num(base, x, *n)),
        (_, PVal::Date(d)) => parse_date(v).is_some_and(|x| compare_ord(base, x.cmp(d))),
        (_, PVal::Net(net, bits)) => v.parse::<IpAddr>().is_ok_and(|ip| in_network(ip, *net, *bits)),
        _ => false,
    }
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() { a.eq_ignore_ascii_case(b) } else { a.to_lowercase() == b.to_lowercase() }
}

fn compare_num(base: BaseOp, x: f64, n: f64) -> bool {
    match x.partial_cmp(&n) {
        Some(o) => compare_ord(base, o),
        None => false,
    }
}

fn compare_ord(base: BaseOp, o: std::cmp::Ordering) -> bool {
    use BaseOp::*;
    use std::cmp::Ordering::*;
    match base {
        NumericEquals | NumericNotEquals | DateEquals | DateNotEquals => o == Equal,
        NumericLessThan | DateLessThan => o == Less,
        NumericLessThanEquals | DateLessThanEquals => o != Greater,
        NumericGreaterThan | DateGreaterThan => o == Greater,
        NumericGreaterThanEquals | DateGreaterThanEquals => o != Less,
        _ => false,
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn parse_num(v: &str) -> Option<f64> {
    let ok = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
    if !ok {
        return None;
    }
    v.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Dates as epoch milliseconds: ISO 8601 (`2024-05-01`, `2024-05-01T12:00:00Z`, with fraction or offset)
/// or epoch seconds.
pub(crate) fn parse_date(v: &str) -> Option<i64> {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<i64>().ok().and_then(|s| s.checked_mul(1000));
    }
    let b = v.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = v.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) { s.parse().ok() } else { None }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let mut ms = days * 86_400_000;
    if b.len() == 10 {
        return Some(ms);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    ms += (h * 3600 + mi * 60 + s) * 1000;
    let mut rest = &v[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let first3: String = frac[..digits].chars().chain("000".chars()).take(3).collect();
        ms += first3.parse::<i64>().ok()?;
        rest = &frac[digits..];
    }
    match rest {
        "" | "Z" | "z" => Some(ms),
        _ => {
            if !rest.is_ascii() {
                return None;
            }
            let rb = rest.as_bytes();
            let sign = match rb.first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let (oh, om) = match rest.len() {
                6 if rb[3] == b':' => (rest[1..3].parse::<i64>().ok()?, rest[4..6].parse::<i64>().ok()?),
                5 => (rest[1..3].parse::<i64>().ok()?, rest[3..5].parse::<i64>().ok()?),
                _ => return None,
            };
            Some(ms - sign * (oh * 3600 + om * 60) * 1000)
        }
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parse_cidr(v: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match v.split_once('/') {
        Some((a, b)) => (a.parse::<IpAddr>().ok()?, Some(b.parse::<u8>().ok()?)),
        None => (v.parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((addr, bits))
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// "StringEquals s3:x-amz-server-side-encryption [\"aws:kms\"]" for explanations.
pub(crate) fn describe(cond: &Condition, ctx: &dyn Lookup) -> String {
    let policy_values = serde_json::to_string(&cond.values).unwrap_or_default();
    let request = match ctx.get(&cond.key_lower) {
        None => "the request has no value for it".to_string(),
        Some([]) => "the request has an empty set for it".to_string(),
        Some(v) => format!("the request has {}", serde_json::to_string(v).unwrap_or_default()),
    };
    format!("{} {} {} ({request})", cond.operator.name, cond.key, policy_values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::policy::request::Context;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        Condition {
            operator: Operator::parse(op),
            key: key.to_string(),
            key_lower: key.to_ascii_lowercase(),
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn eval(op: &str, key: &str, values: &[&str], ctx: &Context) -> CondResult {
        evaluate(&cond(op, key, values), ctx, true)
    }

    #[test]
    fn operator_names() {
        let op = Operator::parse("ForAllValues:StringLikeIfExists");
        assert_eq!(op.qualifier, SetQualifier::ForAllValues);
        assert_eq!(op.base, Some(BaseOp::StringLike));
        assert!(op.if_exists);
        assert_eq!(Operator::parse("StringEqualz").base, None);
    }

    #[test]
    fn numeric_date_ip_binary() {
        let ctx = Context::new()
            .with("s3:max-keys", "10")
            .with("aws:CurrentTime", "2024-05-01T12:00:00Z")
            .with("aws:SourceIp", "203.0.113.7")
            .with("x:bin", "QUJD");
        assert_eq!(eval("NumericLessThanEquals", "s3:max-keys", &["10"], &ctx), CondResult::True);
        assert_eq!(eval("NumericGreaterThan", "s3:max-keys", &["10"], &ctx), CondResult::False);
        assert_eq!(eval("DateLessThan", "aws:CurrentTime", &["2024-05-01T13:00:00+00:30"], &ctx), CondResult::True);
        assert_eq!(eval("DateGreaterThan", "aws:CurrentTime", &["2024-05-01"], &ctx), CondResult::True);
        assert_eq!(eval("IpAddress", "aws:SourceIp", &["203.0.113.0/24"], &ctx), CondResult::True);
        assert_eq!(eval("NotIpAddress", "aws:SourceIp", &["198.51.100.0/24"], &ctx), CondResult::True);
        assert_eq!(eval("BinaryEquals", "x:bin", &["QUJD"], &ctx), CondResult::True);
        assert!(matches!(eval("NumericEquals", "s3:max-keys", &["ten"], &ctx), CondResult::Unknown(_)));
    }

    /// IAM User Guide, "IAM JSON policy elements: Condition operators": a request value that is
    /// not of the operator's type makes the condition false, for negated operators too.
    #[test]
    fn a_request_value_of_the_wrong_type_matches_no_operator() {
        let ctx = Context::new()
            .with("aws:SourceIp", "not-an-address")
            .with("s3:max-keys", "ten")
            .with("aws:CurrentTime", "yesterday")
            .with("aws:SecureTransport", "maybe");
        let cases: &[(&str, &str, &str)] = &[
            ("NotIpAddress", "aws:SourceIp", "10.0.0.0/8"),
            ("IpAddress", "aws:SourceIp", "10.0.0.0/8"),
            ("NumericNotEquals", "s3:max-keys", "10"),
            ("NumericLessThan", "s3:max-keys", "10"),
            ("DateNotEquals", "aws:CurrentTime", "2024-05-01"),
            ("DateGreaterThan", "aws:CurrentTime", "2024-05-01"),
            ("Bool", "aws:SecureTransport", "true"),
            ("ForAnyValue:NotIpAddress", "aws:SourceIp", "10.0.0.0/8"),
            ("ForAllValues:NumericNotEquals", "s3:max-keys", "10"),
        ];
        for (op, key, value) in cases {
            assert_eq!(eval(op, key, &[value], &ctx), CondResult::False, "{op} {key}");
        }
        // A value of the right type still works both ways.
        let ctx = Context::new().with("aws:SourceIp", "203.0.113.7").with("s3:max-keys", "11");
        assert_eq!(eval("NotIpAddress", "aws:SourceIp", &["10.0.0.0/8"], &ctx), CondResult::True);
        assert_eq!(eval("NumericNotEquals", "s3:max-keys", &["10"], &ctx), CondResult::True);
    }

    #[test]
    fn dates_agree_across_formats() {
        assert_eq!(parse_date("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_date("86400"), Some(86_400_000));
        assert_eq!(parse_date("2024-02-29T00:00:00Z"), parse_date("2024-02-29"));
        assert_eq!(parse_date("2024-01-01T01:00:00+01:00"), parse_date("2024-01-01T00:00:00Z"));
        assert_eq!(parse_date("2024-01-01T00:00:00.5Z"), parse_date("2024-01-01").map(|d| d + 500));
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("2024-01-01Tnope"), None);
    }

    #[test]
    fn always_present_keys_are_unknown_when_missing() {
        let ctx = Context::new();
        assert!(matches!(eval("Bool", "aws:SecureTransport", &["false"], &ctx), CondResult::Unknown(_)));
        assert_eq!(eval("Bool", "s3:unknown-key", &["false"], &ctx), CondResult::False);
    }
}
