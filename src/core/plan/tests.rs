use super::*;

fn obj(key: &str, size: u64, etag: &str) -> Listed {
    Listed { key: key.to_string(), size, etag: etag.to_string(), modified: None }
}

fn at(mut o: Listed, modified: i64) -> Listed {
    o.modified = Some(modified);
    o
}

fn rec(key: &str, source_etag: &str, source_size: u64, dest_etag: &str) -> Recorded {
    Recorded {
        key: key.into(),
        source_etag: source_etag.into(),
        source_size,
        dest_etag: dest_etag.into(),
        source_modified: None,
        dest_modified: None,
    }
}

/// A record with the last-modified times of both sides (source, destination).
fn rec_at(key: &str, source_etag: &str, source_size: u64, dest_etag: &str, (m, dm): (i64, i64)) -> Recorded {
    Recorded { source_modified: Some(m), dest_modified: Some(dm), ..rec(key, source_etag, source_size, dest_etag) }
}

/// Runs a merge to the end, feeding each input `page` items at a time; returns the decisions
/// and the largest number of buffered entries seen.
fn run(
    src: &[Listed],
    dst: &[Listed],
    idx: &[Recorded],
    filter: Filter,
    delete: bool,
    page: usize,
) -> (Vec<Decision>, usize) {
    let mut m = SyncMerge::new(filter, delete);
    let (mut s, mut d, mut i) = (src.chunks(page), dst.chunks(page), idx.chunks(page));
    let mut out = Vec::new();
    let mut peak = 0;
    loop {
        peak = peak.max(m.buffered());
        match m.step() {
            Step::Decided(dec) => out.push(dec),
            Step::Done => return (out, peak),
            Step::Needs(Need::Source) => match s.next() {
                Some(p) => m.push_source(p.to_vec()),
                None => m.finish_source(),
            },
            Step::Needs(Need::Dest) => match d.next() {
                Some(p) => m.push_dest(p.to_vec()),
                None => m.finish_dest(),
            },
            Step::Needs(Need::Index) => match i.next() {
                Some(p) => m.push_index(p.to_vec()),
                None => m.finish_index(),
            },
        }
    }
}

fn short(d: &Decision) -> String {
    match d {
        Decision::Copy { object, reason } => format!("copy {} {reason:?}", object.key),
        Decision::Check { object, .. } => format!("check {}", object.key),
        Decision::Skip { object, .. } => format!("skip {}", object.key),
        Decision::Delete { key, .. } => format!("delete {key}"),
        Decision::Extra { key } => format!("extra {key}"),
    }
}

#[test]
fn compare_rules() {
    let s = obj("k", 10, "src");
    // (dest, index record, expected)
    let cases: Vec<(Listed, Option<Recorded>, &str)> = vec![
        // 1. sizes differ: changed, whatever the index says
        (obj("k", 11, "d1"), Some(rec("k", "src", 10, "d1")), "copy k Changed"),
        // 2. the index knows this destination object came from this source object
        (obj("k", 10, "d1"), Some(rec("k", "src", 10, "d1")), "skip k"),
        // 2. ... from an older source object
        (obj("k", 10, "d1"), Some(rec("k", "old", 10, "d1")), "copy k Changed"),
        // 2. the destination was rewritten since (ETag moved on): the record no longer applies
        (obj("k", 10, "d2"), Some(rec("k", "src", 10, "d1")), "check k"),
        // 3. equal ETags: the same bytes
        (obj("k", 10, "src"), None, "skip k"),
        // 4. same size, unknown identity: look at the destination
        (obj("k", 10, "other"), None, "check k"),
    ];
    for (dest, recorded, want) in cases {
        assert_eq!(short(&compare(&s, &dest, recorded.as_ref())), want, "{dest:?} {recorded:?}");
    }
    // 3. listings without ETags (some S3-compatible stores): equal emptiness is no evidence
    let blank = obj("k", 10, "");
    let cases: Vec<(Listed, Option<Recorded>, &str)> = vec![
        (obj("k", 10, ""), None, "check k"),
        (obj("k", 10, ""), Some(rec("k", "", 10, "d1")), "check k"),
        (obj("k", 11, ""), None, "copy k Changed"),
    ];
    for (dest, recorded, want) in cases {
        assert_eq!(short(&compare(&blank, &dest, recorded.as_ref())), want, "{dest:?} {recorded:?}");
    }
    let cases: Vec<(Listed, Option<Recorded>, &str)> = vec![(obj("k", 10, ""), None, "check k")];
    for (dest, recorded, want) in cases {
        assert_eq!(short(&compare(&s, &dest, recorded.as_ref())), want, "{dest:?} {recorded:?}");
    }
    // 2. without ETags, the index matches on last-modified times (source copied at 100, the
    // destination written at 200)
    let blank = at(obj("k", 10, ""), 100);
    let rec = rec_at("k", "", 10, "d1", (100, 200));
    let cases: Vec<(Listed, Listed, Option<Recorded>, &str)> = vec![
        // nobody wrote either side since the copy
        (blank.clone(), at(obj("k", 10, ""), 200), Some(rec.clone()), "skip k"),
        // the source was rewritten (same size)
        (at(obj("k", 10, ""), 101), at(obj("k", 10, ""), 200), Some(rec.clone()), "copy k Changed"),
        // the destination was rewritten by someone else: the record no longer applies
        (blank.clone(), at(obj("k", 10, ""), 201), Some(rec.clone()), "check k"),
        // a destination listed without a time cannot match
        (blank.clone(), obj("k", 10, ""), Some(rec.clone()), "check k"),
        // a record without times (older s3ferry, or a write that reported none) proves nothing
        (blank.clone(), at(obj("k", 10, ""), 200), Some(self::rec("k", "", 10, "d1")), "check k"),
        // a source without a time cannot match
        (obj("k", 10, ""), at(obj("k", 10, ""), 200), Some(rec.clone()), "check k"),
        // ETags win where the listings have them: the record's destination ETag moved on
        (
            at(obj("k", 10, "src"), 100),
            at(obj("k", 10, "d2"), 200),
            Some(rec_at("k", "src", 10, "d1", (100, 200))),
            "check k",
        ),
        // ... and the source ETag moved on although its time did not
        (
            at(obj("k", 10, "new"), 100),
            at(obj("k", 10, "d1"), 200),
            Some(rec_at("k", "src", 10, "d1", (100, 200))),
            "copy k Changed",
        ),
        // a record with no source ETag falls back to the time
        (
            at(obj("k", 10, "src"), 100),
            at(obj("k", 10, "d1"), 200),
            Some(rec_at("k", "", 10, "d1", (100, 200))),
            "skip k",
        ),
    ];
    for (source, dest, recorded, want) in cases {
        assert_eq!(short(&compare(&source, &dest, recorded.as_ref())), want, "{source:?} {dest:?} {recorded:?}");
    }
    assert!(resolve_check(&s, Some("\"src\"")));
    assert!(resolve_check(&s, Some("src")));
    assert!(!resolve_check(&s, Some("old")));
    assert!(!resolve_check(&s, None));
}

#[test]
fn merge_decides_in_key_order() {
    let src = [obj("a", 1, "e"), obj("b/c", 2, "e"), obj("b/d", 3, "e"), obj("d", 0, "z"), obj("e", 5, "e")];
    let dst = [obj("0", 9, "x"), obj("b/c", 2, "e"), obj("b/d", 4, "e"), obj("c", 1, "x"), obj("e", 5, "kms")];
    let idx = [rec("0", "x", 9, "x"), rec("e", "e", 5, "kms"), rec("zz", "q", 1, "q")];
    for page in [1, 2, 1000] {
        let (got, _) = run(&src, &dst, &idx, Filter::default(), false, page);
        let got: Vec<String> = got.iter().map(short).collect();
        assert_eq!(
            got,
            ["extra 0", "copy a New", "skip b/c", "copy b/d Changed", "extra c", "copy d New", "skip e"],
            "page size {page}"
        );
    }
    let (got, _) = run(&src, &dst, &idx, Filter::default(), true, 2);
    let deletes: Vec<String> = got.iter().map(short).filter(|s| s.starts_with("delete")).collect();
    assert_eq!(deletes, ["delete 0", "delete c"]);
}

#[test]
fn merge_handles_empty_sides_and_byte_order() {
    let (got, _) = run(&[], &[], &[], Filter::default(), true, 3);
    assert!(got.is_empty());
    let src = [obj("a", 1, "e")];
    let (got, _) = run(&src, &[], &[], Filter::default(), true, 3);
    assert_eq!(got.iter().map(short).collect::<Vec<_>>(), ["copy a New"]);
    let (got, _) = run(&[], &src, &[], Filter::default(), true, 3);
    assert_eq!(got.iter().map(short).collect::<Vec<_>>(), ["delete a"]);
    // S3's order is UTF-8 byte order: "a b" < "a+b" < "a/b" < "aé" and uppercase before lowercase.
    let keys = ["A", "a b", "a+b", "a/b", "a\u{e9}"];
    let listed: Vec<Listed> = keys.iter().map(|k| obj(k, 1, "e")).collect();
    let (got, _) = run(&listed, &listed, &[], Filter::default(), false, 2);
    assert_eq!(got.len(), keys.len());
    assert!(got.iter().all(|d| matches!(d, Decision::Skip { .. })), "{got:?}");
}

#[test]
fn merge_memory_is_bounded_by_the_page_size() {
    let src: Vec<Listed> = (0..10_000).map(|i| obj(&format!("k{i:06}"), 1, "e")).collect();
    let dst: Vec<Listed> = (0..10_000).step_by(2).map(|i| obj(&format!("k{i:06}"), 1, "e")).collect();
    let (got, peak) = run(&src, &dst, &[], Filter::default(), false, 100);
    assert_eq!(got.len(), 10_000);
    assert!(peak <= 300, "at most a page per input is held, saw {peak}");
}

#[test]
fn filters_apply_to_both_sides() {
    let f = Filter::new(&FilterRule::lists(&["logs/*".into(), "*.csv".into()], &["*/tmp/*".into()])).unwrap();
    let src = [obj("a.csv", 1, "e"), obj("logs/tmp/x", 1, "e"), obj("logs/y", 1, "e"), obj("z.txt", 1, "e")];
    let dst = [obj("logs/tmp/old", 1, "e"), obj("other.txt", 1, "e")];
    let (got, _) = run(&src, &dst, &[], f, true, 10);
    assert_eq!(got.iter().map(short).collect::<Vec<_>>(), ["copy a.csv New", "copy logs/y New"]);
}

#[test]
fn globs() {
    // (glob, text, matches)
    let cases: &[(&str, &str, bool)] = &[
        ("*", "", true),
        ("*", "a/b/c", true),
        ("*.csv", "dir/x.csv", true),
        ("*.csv", "x.csv.gz", false),
        ("logs/*", "logs/2024/01", true),
        ("logs/*", "other/logs/x", false),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("a?c", "a\u{e9}c", true),
        ("[ab]*", "b1", true),
        ("[!ab]*", "b1", false),
        ("[a-c]x", "cx", true),
        ("[a-c]x", "dx", false),
        ("[]]", "]", true),
        ("[a-]", "-", true),
        ("\\*", "*", true),
        ("\\*", "x", false),
        ("*a*b*c", "xxaxxbxxbxc", true),
        ("*a*b*c", "xxaxxbxxbx", false),
        ("x+y %20#?", "x+y %20#!", true),
    ];
    for (g, text, want) in cases {
        assert_eq!(Glob::new(g).unwrap().matches(text), *want, "{g} on {text}");
    }
    for bad in ["", "[abc", "a\\", "[z-a]"] {
        assert!(Glob::new(bad).is_err(), "{bad:?} should be rejected");
    }
    let err = Filter::new(&[FilterRule::include("[x")]).unwrap_err();
    assert!(err.to_string().contains("[x"));
}

/// Filters apply in order and the later wins, as `aws s3 cp`'s do; a first include starts
/// from nothing (aws cli would start from everything and make a lone --include a no-op).
#[test]
fn filters_apply_in_order_and_the_later_wins() {
    let (i, e) = (FilterRule::include, FilterRule::exclude);
    // (filters, key, taken?)
    let cases: Vec<(Vec<FilterRule>, &str, bool)> = vec![
        (vec![], "a.txt", true),
        (vec![e("*"), i("*.csv")], "data/x.csv", true),
        (vec![e("*"), i("*.csv")], "data/x.txt", false),
        (vec![i("*.csv")], "x.csv", true),
        (vec![i("*.csv")], "x.txt", false),
        (vec![i("*.csv"), e("tmp/*")], "tmp/x.csv", false),
        (vec![e("tmp/*"), i("tmp/keep/*")], "tmp/keep/a", true),
        (vec![e("tmp/*"), i("tmp/keep/*")], "tmp/other", false),
        (vec![e("tmp/*"), i("tmp/keep/*")], "root.txt", true),
        (vec![i("*.csv"), e("*")], "x.csv", false),
    ];
    for (rules, key, want) in &cases {
        assert_eq!(Filter::new(rules).unwrap().matches(key), *want, "{rules:?} on {key}");
    }
    // Includes-then-excludes (the config's two lists, written in that order) keep the meaning
    // they always had: an include must match, no exclude may.
    let f = Filter::new(&FilterRule::lists(&["logs/*".into()], &["*.tmp".into()])).unwrap();
    assert!(f.matches("logs/a") && !f.matches("logs/a.tmp") && !f.matches("b"));
    // A set that can take nothing is said so.
    assert!(Filter::new(&[i("*.csv"), e("*")]).unwrap().matches_nothing());
    assert!(!Filter::new(&[e("*"), i("*.csv")]).unwrap().matches_nothing());
    assert!(!Filter::new(&[e("tmp/*")]).unwrap().matches_nothing());
}

#[test]
fn part_sizing() {
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    // (size, threshold, part size, expected)
    let cases: &[(u64, u64, u64, PartPlan)] = &[
        (0, 5 * GIB, 64 * MIB, PartPlan::Single),
        (5 * GIB, 5 * GIB, 64 * MIB, PartPlan::Single),
        (5 * GIB + 1, 5 * GIB, 64 * MIB, PartPlan::Multipart { part_size: 64 * MIB, count: 81 }),
        (12 * MIB, 5 * MIB, 5 * MIB, PartPlan::Multipart { part_size: 5 * MIB, count: 3 }),
        // A part size under the minimum is raised to 5 MiB.
        (12 * MIB, 5 * MIB, MIB, PartPlan::Multipart { part_size: 5 * MIB, count: 3 }),
        // A threshold above 5 GiB still copies larger objects in parts.
        (6 * GIB, 10 * GIB, 64 * MIB, PartPlan::Multipart { part_size: 64 * MIB, count: 96 }),
        // 1 TiB at 64 MiB would be 16,384 parts: the part grows to fit 10,000.
        (1 << 40, 5 * GIB, 64 * MIB, PartPlan::Multipart { part_size: 105 * MIB, count: 9987 }),
        // 5 TiB: 525 MiB parts.
        (5 << 40, 5 * GIB, 64 * MIB, PartPlan::Multipart { part_size: 525 * MIB, count: 9987 }),
    ];
    for (size, threshold, part, want) in cases {
        let got = part_plan(*size, *threshold, *part).unwrap();
        assert_eq!(got, *want, "size {size}");
        if let PartPlan::Multipart { part_size, count } = got {
            assert!(count <= MAX_PARTS && (MIN_PART..=MAX_PART).contains(&part_size));
            let (_, last_end) = part_range(*size, part_size, count - 1);
            assert_eq!(last_end, size - 1, "the parts cover the object exactly");
        }
    }
    assert!(part_plan((5 << 40) + 1, 5 * GIB, 64 * MIB).is_err());
    assert_eq!(part_range(12 * MIB, 5 * MIB, 0), (0, 5 * MIB - 1));
    assert_eq!(part_range(12 * MIB, 5 * MIB, 2), (10 * MIB, 12 * MIB - 1));
}
