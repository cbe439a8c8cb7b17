//! Planning: streams listing pages (through [`SyncMerge`] for sync and a dry-run cp, straight
//! for cp), writes each decision to the journal before queueing it, and on a resume replays
//! the earlier plan first. A dry run queues nothing and reports what it would do.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::core::plan::{Decision, Filter, Need, Reason, Step, SyncMerge};
use crate::core::progress::{Halt, Mode, Planned, TransferEvent};
use crate::core::side::Side;
use crate::engine::copier::listing::Prefetched;
use crate::engine::copier::{Ctx, PAGE, Task, TransferError, retry};
use crate::engine::journal::{IndexReader, PlanReader, PlanRecord, Resumed, fnv128};

/// The listings a plan reads, started before the planner (see `setup`).
pub(crate) struct Listings {
    pub(crate) source: Prefetched,
    /// Sync and a dry-run cp only.
    pub(crate) destination: Option<Prefetched>,
}

pub(crate) struct Planner {
    pub(crate) mode: Mode,
    pub(crate) filter: Filter,
    pub(crate) delete: bool,
    pub(crate) dry_run: bool,
    /// Where this run's journal is (or would be): a resume, dry or not, replays its plan.
    pub(crate) run_dir: PathBuf,
    /// The endpoints, the journal (none for a dry run), and the halt a listing may trigger.
    pub(crate) ctx: Arc<Ctx>,
}

/// Whether to go on: false once the dispatcher stops listening.
type Go = Result<bool, TransferError>;

impl Planner {
    /// Plans (or replays the plan of an interrupted run) and queues the work. Returns whether
    /// the plan is complete. Stops quietly when the dispatcher stops listening.
    pub(crate) async fn run(
        self,
        resumed: Option<Resumed>,
        index: Option<IndexReader>,
        listings: Option<Listings>,
        tx: mpsc::Sender<Task>,
    ) -> Go {
        let resumed = resumed.unwrap_or_default();
        if resumed.plan_lines > 0 {
            if !self.replay(&resumed, &tx).await? {
                return Ok(false);
            }
            if resumed.whole_plan() {
                self.ctx.emit(TransferEvent::PlanComplete);
                return Ok(true);
            }
        }
        let Some(listings) = listings else {
            return Err(TransferError::Internal("the plan is incomplete, but its listings were not started".into()));
        };
        let go = match listings.destination {
            None if self.mode == Mode::Cp => self.plan_cp(listings.source, &resumed, &tx).await?,
            destination => {
                let Some(destination) = destination else {
                    return Err(TransferError::Internal("a sync needs the destination's listing".into()));
                };
                self.plan_merged(listings.source, destination, index, &resumed, &tx).await?
            }
        };
        if !go {
            return Ok(false);
        }
        if let Some(j) = &self.ctx.shared.journal {
            j.plan(&PlanRecord::End)?;
        }
        self.flush()?;
        self.ctx.emit(TransferEvent::PlanComplete);
        Ok(true)
    }

    /// Queues what the earlier run planned, in its order.
    async fn replay(&self, resumed: &Resumed, tx: &mpsc::Sender<Task>) -> Go {
        let mut reader = PlanReader::open(&self.run_dir)?;
        loop {
            let batch = reader.next_batch(PAGE)?;
            if batch.is_empty() {
                return Ok(true);
            }
            for rec in batch {
                if !self.queue_record(&rec, resumed, tx).await {
                    return Ok(false);
                }
            }
        }
    }

    /// cp: every listed object in scope is copied.
    async fn plan_cp(&self, mut src: Prefetched, resumed: &Resumed, tx: &mpsc::Sender<Task>) -> Go {
        loop {
            let page = src.next().await.map_err(|e| self.list_error(Side::Source, e))?;
            let Some(page) = page else { return Ok(true) };
            self.ctx.emit(TransferEvent::Listed { side: Side::Source, objects: src.listed });
            for object in page.into_iter().filter(|o| self.filter.matches(&o.key)) {
                let rec = PlanRecord::Copy {
                    key: object.key,
                    size: object.size,
                    etag: object.etag,
                    reason: Reason::Requested,
                    modified: object.modified,
                };
                if !self.plan(rec, resumed, tx).await? {
                    return Ok(false);
                }
            }
            self.flush()?;
        }
    }

    /// sync, and a dry-run cp, which lists the destination to say what it would overwrite.
    async fn plan_merged(
        &self,
        mut src: Prefetched,
        mut dst: Prefetched,
        mut index: Option<IndexReader>,
        resumed: &Resumed,
        tx: &mpsc::Sender<Task>,
    ) -> Go {
        let after = resumed.last_planned_key.as_deref();
        let mut merge = SyncMerge::new(self.filter.clone(), self.delete);
        loop {
            match merge.step() {
                Step::Done => return Ok(true),
                Step::Needs(Need::Source) => {
                    match src.next().await.map_err(|e| self.list_error(Side::Source, e))? {
                        Some(p) => merge.push_source(p),
                        None => merge.finish_source(),
                    }
                    self.ctx.emit(TransferEvent::Listed { side: Side::Source, objects: src.listed });
                    self.flush()?;
                }
                Step::Needs(Need::Dest) => {
                    match self.destination_page(&mut dst).await? {
                        Some(p) => merge.push_dest(p),
                        None => merge.finish_dest(),
                    }
                    self.ctx.emit(TransferEvent::Listed { side: Side::Destination, objects: dst.listed });
                }
                Step::Needs(Need::Index) => {
                    let page = match &mut index {
                        Some(i) => i.page(PAGE, after)?,
                        None => Vec::new(),
                    };
                    if page.is_empty() {
                        merge.finish_index();
                    } else {
                        merge.push_index(page);
                    }
                }
                Step::Decided(d) => {
                    let rec = match self.mode {
                        Mode::Sync => PlanRecord::from_decision(d),
                        Mode::Cp => cp_record(d),
                    };
                    let Some(rec) = rec else { continue };
                    if !self.plan(rec, resumed, tx).await? {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// The destination's next page. A cp needs no destination listing; its plan only counts
    /// overwrites with one. Without it, every object is a copy.
    async fn destination_page(
        &self,
        dst: &mut Prefetched,
    ) -> Result<Option<Vec<crate::core::plan::Listed>>, TransferError> {
        match dst.next().await {
            Err((code, detail)) if self.mode == Mode::Cp => {
                self.ctx.emit(TransferEvent::Warning {
                    message: format!(
                        "cannot list s3://{}/{} to count overwrites ({code}: {detail}); the plan counts every object as a copy",
                        self.ctx.dst.bucket, self.ctx.dst.prefix
                    ),
                });
                Ok(None)
            }
            page => page.map_err(|e| self.list_error(Side::Destination, e)),
        }
    }

    /// A listing that failed for good, named with its side, bucket, prefix and identity.
    fn list_error(&self, side: Side, (code, detail): (String, String)) -> TransferError {
        if retry::classify(Some(&code), None, false) == retry::Class::Expired {
            // Credentials that could not be renewed: a stop for re-authentication, like a
            // refused copy, not a listing failure.
            self.ctx.halt(Halt { side, expired: true });
        }
        let end = self.ctx.endpoint(side);
        let next = if code == "AccessDenied" {
            format!(". Next: allow s3:ListBucket on arn:aws:s3:::{} for {}", end.bucket, end.who)
        } else {
            String::new()
        };
        TransferError::listing(side, end, detail, next)
    }

    fn flush(&self) -> Result<(), TransferError> {
        if let Some(j) = &self.ctx.shared.journal {
            j.flush_plan()?;
        }
        Ok(())
    }

    /// Records a new decision in the journal and queues it.
    async fn plan(&self, rec: PlanRecord, resumed: &Resumed, tx: &mpsc::Sender<Task>) -> Go {
        if let Some(j) = &self.ctx.shared.journal {
            j.plan(&rec)?;
        }
        Ok(self.queue_record(&rec, resumed, tx).await)
    }

    /// Counts a decision and queues its work unless an earlier run finished it. False when
    /// the dispatcher has stopped.
    async fn queue_record(&self, rec: &PlanRecord, resumed: &Resumed, tx: &mpsc::Sender<Task>) -> bool {
        let reason = match rec {
            PlanRecord::Copy { reason: Reason::Requested, .. } => None,
            PlanRecord::Copy { reason: Reason::New, .. } => Some(Reason::New),
            PlanRecord::Copy { .. } => Some(Reason::Changed),
            _ => None,
        };
        let (action, bytes, task) = match rec {
            PlanRecord::Copy { size: s, .. } => (Planned::Copy, *s, rec.listed().map(Task::Copy)),
            PlanRecord::Check { size: s, .. } => (Planned::Check, *s, rec.listed().map(Task::Check)),
            PlanRecord::Skip { size: s, .. } => (Planned::Skip, *s, None),
            PlanRecord::Delete { key: k, size: s } => {
                (Planned::Delete, *s, Some(Task::Delete { key: k.clone(), size: *s }))
            }
            PlanRecord::End => return true,
        };
        let done = task.is_some() && resumed.done.contains(&fnv128(rec.key().unwrap_or_default().as_bytes()));
        if done && self.dry_run {
            // What an earlier run finished is not planned again: the plan counts the rest.
            self.ctx.emit(TransferEvent::AlreadyDone { bytes });
            return true;
        }
        self.ctx.emit(TransferEvent::Planned { action, bytes, reason });
        if self.dry_run {
            if action != Planned::Skip {
                // Copies are named by their source key, deletions by their destination key.
                let end = if action == Planned::Delete { &self.ctx.dst } else { &self.ctx.src };
                let key = end.key(rec.key().unwrap_or_default());
                self.ctx.emit(TransferEvent::DryRun { action, key, bytes });
            }
            return true;
        }
        let Some(task) = task else { return true };
        if done {
            self.ctx.emit(TransferEvent::AlreadyDone { bytes });
            return true;
        }
        tx.send(task).await.is_ok()
    }
}

/// A dry-run cp's decision: every source object is copied, as new or as an overwrite of what
/// the destination holds; what is only at the destination is left alone.
fn cp_record(d: Decision) -> Option<PlanRecord> {
    let (object, reason) = match d {
        Decision::Copy { object, reason: Reason::New } => (object, Reason::New),
        Decision::Copy { object, .. } | Decision::Check { object, .. } | Decision::Skip { object, .. } => {
            (object, Reason::Changed)
        }
        Decision::Delete { .. } | Decision::Extra { .. } => return None,
    };
    Some(PlanRecord::Copy { key: object.key, size: object.size, etag: object.etag, reason, modified: object.modified })
}
