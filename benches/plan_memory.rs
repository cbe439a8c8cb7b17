//! Peak memory while planning a sync of 1,000,000 objects: the streaming merge of a source
//! listing, a destination listing and the identity index, with every decision written to the
//! journal, fed page by page exactly as the planner does (no network: the pages are generated).
//!
//! Run: `cargo bench --bench plan_memory` (add `--profile dev` to skip an optimized build of the
//! AWS SDK; memory is the same, time is slower). Prints peak RSS (VmHWM) and the counts.
//! Set PLAN_OBJECTS to change the size.

use std::io::Write;
use std::time::Instant;

use s3ferry::core::plan::{Decision, Filter, Listed, Need, Recorded, Step, SyncMerge};
use s3ferry::core::progress::Mode;
use s3ferry::engine::journal::{IndexReader, Journal, PlanRecord, RunIdentity};

const PAGE: u64 = 1_000;

fn key(i: u64) -> String {
    format!("exports/2024/{:02}/part-{i:08}.parquet", i % 97)
}

/// Source: every object. Destination: two thirds of them, one in seven of those changed.
/// Index: what an earlier run recorded for a third of them.
fn source(i: u64) -> Listed {
    Listed { key: key(i), size: 1_000 + i % 5_000, etag: format!("{i:032x}"), modified: Some(1_700_000_000_000) }
}

fn dest(i: u64) -> Option<Listed> {
    (!i.is_multiple_of(3)).then(|| Listed {
        key: key(i),
        size: 1_000 + i % 5_000 + u64::from(i.is_multiple_of(7)),
        etag: format!("d{i:031x}"),
        modified: Some(1_700_000_000_000 + 1),
    })
}

fn recorded(i: u64) -> Option<Recorded> {
    (i % 3 == 1).then(|| Recorded {
        key: key(i),
        source_etag: format!("{i:032x}"),
        source_size: 1_000 + i % 5_000,
        dest_etag: format!("d{i:031x}"),
        source_modified: Some(1_700_000_000_000),
        dest_modified: Some(1_700_000_000_000 + 1),
    })
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

fn main() {
    let n: u64 = std::env::var("PLAN_OBJECTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    // Keys are generated in index order; S3 lists in byte order, so sort one page's worth of
    // indexes by key... simpler: zero-padded keys sort by (i % 97, i), so list in that order.
    let order: Box<dyn Iterator<Item = u64>> = Box::new((0..97).flat_map(move |m| (m..n).step_by(97)));
    let dir = tempfile::tempdir().expect("tempdir");
    let id = RunIdentity {
        source: "s3://prod-data/".into(),
        destination: "s3://datalake-raw/prod/".into(),
        source_endpoint: None,
        destination_endpoint: None,
        mode: Mode::Sync,
        include: vec![],
        exclude: vec![],
        delete: true,
        scope: vec![],
        filters: None,
    };

    // Write the identity index an earlier run would have left (sorted, streamed to disk).
    let pair = id.pair_dir(dir.path());
    std::fs::create_dir_all(&pair).unwrap();
    let mut idx = std::io::BufWriter::new(std::fs::File::create(pair.join("index.jsonl")).unwrap());
    for i in (0..97).flat_map(move |m| (m..n).step_by(97)) {
        if let Some(r) = recorded(i) {
            serde_json::to_writer(&mut idx, &r).unwrap();
            idx.write_all(b"\n").unwrap();
        }
    }
    drop(idx);
    let baseline = peak_rss_kib();

    let started = Instant::now();
    let (journal, _) = Journal::open(dir.path(), &id, true, false).unwrap();
    let mut index = IndexReader::for_run(dir.path(), &id).unwrap();
    let mut merge = SyncMerge::new(Filter::default(), true);
    let mut src = order.map(source);
    let mut dst_order = (0..97).flat_map(move |m| (m..n).step_by(97)).filter_map(dest);
    let (mut copy, mut check, mut skip, mut delete, mut peak_buffered) = (0u64, 0u64, 0u64, 0u64, 0usize);
    loop {
        peak_buffered = peak_buffered.max(merge.buffered());
        match merge.step() {
            Step::Done => break,
            Step::Needs(Need::Source) => {
                let page: Vec<Listed> = src.by_ref().take(PAGE as usize).collect();
                if page.is_empty() {
                    merge.finish_source()
                } else {
                    merge.push_source(page)
                }
                journal.flush_plan().unwrap();
            }
            Step::Needs(Need::Dest) => {
                let page: Vec<Listed> = dst_order.by_ref().take(PAGE as usize).collect();
                if page.is_empty() { merge.finish_dest() } else { merge.push_dest(page) }
            }
            Step::Needs(Need::Index) => {
                let page = index.page(PAGE as usize, None).unwrap();
                if page.is_empty() { merge.finish_index() } else { merge.push_index(page) }
            }
            Step::Decided(d) => {
                match &d {
                    Decision::Copy { .. } => copy += 1,
                    Decision::Check { .. } => check += 1,
                    Decision::Skip { .. } => skip += 1,
                    Decision::Delete { .. } => delete += 1,
                    Decision::Extra { .. } => {}
                }
                if let Some(rec) = PlanRecord::from_decision(d) {
                    journal.plan(&rec).unwrap();
                }
            }
        }
    }
    journal.plan(&PlanRecord::End).unwrap();
    journal.flush_plan().unwrap();
    let took = started.elapsed();
    let peak = peak_rss_kib();
    println!(
        "plan_memory: {n} source objects, {} destination objects, {} index records",
        (0..n).filter(|i| i % 3 != 0).count(),
        (0..n).filter(|i| i % 3 == 1).count()
    );
    println!(
        "plan_memory: decisions copy={copy} check={check} skip={skip} delete={delete}; at most {peak_buffered} entries buffered"
    );
    println!(
        "plan_memory: planned in {:.2} s ({:.0} objects/s), journal {} MiB on disk",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        std::fs::metadata(journal.run_dir.join("plan.jsonl")).map(|m| m.len() >> 20).unwrap_or(0)
    );
    println!(
        "plan_memory: peak RSS {:.1} MiB (before planning {:.1} MiB); target < 150 MiB: {}",
        peak as f64 / 1024.0,
        baseline as f64 / 1024.0,
        if peak < 150 * 1024 { "PASS" } else { "FAIL" }
    );
    // The end of a run: every copy and check completes, then `finish` rebuilds the index from
    // the completions, sorted in bounded chunks (see engine::journal); printed separately so any
    // growth with the number of objects done would show.
    let mut done = 0u64;
    journal
        .replay(|p| {
            if matches!(p, PlanRecord::Copy { .. } | PlanRecord::Check { .. }) {
                let key = p.key().unwrap_or_default();
                journal.copied(key, "0123456789abcdef0123456789abcdef", Some(1_700_000_000_000)).unwrap();
                done += 1;
            }
        })
        .unwrap();
    let before_finish = peak_rss_kib();
    let finished = Instant::now();
    journal.finish(true).unwrap();
    println!(
        "plan_memory: finish with {done} completions took {:.2} s; peak RSS {:.1} MiB before it, {:.1} MiB after",
        finished.elapsed().as_secs_f64(),
        before_finish as f64 / 1024.0,
        peak_rss_kib() as f64 / 1024.0
    );
    if peak >= 150 * 1024 {
        std::process::exit(1);
    }
}
