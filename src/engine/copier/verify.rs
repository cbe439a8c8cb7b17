//! `--verify`: lists both sides again and checks every object in scope: present, same size,
//! identity (index record or recorded source ETag, as `sync` decides), and equal checksums
//! where both sides have a whole-object checksum of the same algorithm.

use std::sync::{Arc, Mutex};

use tokio::task::JoinSet;

use crate::core::plan::{Decision, Filter, Listed, Need, Reason, Recorded, Step, SyncMerge};
use crate::core::side::Side;
use crate::engine::copier::listing::ObjectPages;
use crate::engine::copier::object::{self, Facts};
use crate::engine::copier::{Ctx, Mismatch, PAGE, QUEUE, TransferError, VerifyReport};
use crate::engine::journal::IndexReader;
use crate::engine::session::Session;

type Report = Arc<Mutex<VerifyReport>>;

fn mismatch(report: &Report, key: String, problem: String) {
    report.lock().unwrap_or_else(|p| p.into_inner()).mismatches.push(Mismatch { key, problem });
}

pub(crate) async fn verify(
    ctx: Arc<Ctx>,
    [src_session, dst_session]: [&Session; 2],
    page_size: u32,
    filter: Filter,
    mut index: IndexReader,
) -> Result<VerifyReport, TransferError> {
    // Renewing, as the run's own listings: verify comes last, when credentials are oldest.
    let mut src = ObjectPages::transfer(src_session, &ctx.src.bucket, &ctx.src.prefix, None, page_size);
    let mut dst = ObjectPages::transfer(dst_session, &ctx.dst.bucket, &ctx.dst.prefix, None, page_size);
    let mut merge = SyncMerge::new(filter, false);
    let report: Report = Arc::default();
    let mut checks = JoinSet::new();
    loop {
        match merge.step() {
            Step::Done => break,
            Step::Needs(Need::Source) => match src
                .next()
                .await
                .map_err(|(_, d)| TransferError::listing(Side::Source, &ctx.src, d, String::new()))?
            {
                Some(p) => merge.push_source(p),
                None => merge.finish_source(),
            },
            Step::Needs(Need::Dest) => match dst
                .next()
                .await
                .map_err(|(_, d)| TransferError::listing(Side::Destination, &ctx.dst, d, String::new()))?
            {
                Some(p) => merge.push_dest(p),
                None => merge.finish_dest(),
            },
            Step::Needs(Need::Index) => {
                let page: Vec<Recorded> = index.page(PAGE, None)?;
                if page.is_empty() {
                    merge.finish_index();
                } else {
                    merge.push_index(page);
                }
            }
            Step::Decided(Decision::Extra { .. } | Decision::Delete { .. }) => {}
            Step::Decided(d) => {
                report.lock().unwrap_or_else(|p| p.into_inner()).checked += 1;
                let identity_known = matches!(d, Decision::Skip { .. });
                match d {
                    Decision::Copy { reason: Reason::New, object } => {
                        mismatch(&report, ctx.src.key(&object.key), "missing at the destination".into());
                    }
                    Decision::Copy { object, .. } => {
                        mismatch(&report, ctx.src.key(&object.key), "size or recorded source identity differs".into());
                    }
                    Decision::Skip { object, .. } | Decision::Check { object, .. } => {
                        let (ctx, report) = (ctx.clone(), report.clone());
                        checks.spawn(async move {
                            if let Some(problem) = compare(&ctx, &object, identity_known).await {
                                mismatch(&report, ctx.src.key(&object.key), problem);
                            }
                        });
                        while checks.len() > QUEUE {
                            checks.join_next().await;
                        }
                    }
                    Decision::Delete { .. } | Decision::Extra { .. } => {}
                }
            }
        }
    }
    while checks.join_next().await.is_some() {}
    let mut r = Arc::try_unwrap(report).map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner())).unwrap_or_default();
    r.mismatches.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(r)
}

/// What is wrong with one object present on both sides, if anything.
async fn compare(ctx: &Ctx, object: &Listed, identity_known: bool) -> Option<String> {
    let (s, t) =
        tokio::join!(object::facts(ctx, Side::Source, &object.key), object::facts(ctx, Side::Destination, &object.key));
    let (s, t): (Facts, Facts) = match (s, t) {
        (Err((_, m)), _) => return Some(format!("cannot read the source: {m}")),
        (_, Err((_, m))) => return Some(format!("cannot read the destination: {m}")),
        (Ok(s), Ok(t)) => (s, t),
    };
    let checksum = s.checksums.iter().find_map(|(alg, v)| {
        t.checksums
            .iter()
            .find(|(a, w)| a == alg && w != v)
            .map(|(_, w)| format!("{alg} checksum differs: source {v}, destination {w}"))
    });
    if s.size != t.size {
        Some(format!("size differs: source {}, destination {}", s.size, t.size))
    } else if checksum.is_some() {
        checksum
    } else if !identity_known && !crate::core::plan::resolve_check(object, t.source_etag.as_deref()) {
        Some("same size, but no record that it was copied from this source version".into())
    } else {
        None
    }
}
