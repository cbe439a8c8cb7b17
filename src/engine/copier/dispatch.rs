//! Dispatch: takes the planner's tasks one at a time, each under a request permit from the
//! adaptive limiter, and spawns a worker for it; holds while paused, stops on a stop request,
//! and stops a safety margin before credentials that cannot renew expire. Beside it run the
//! background reports (credential lifetimes, requests in flight) and the journal's syncs.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::core::credentials::{SAFETY_MARGIN, may_dispatch};
use crate::core::progress::{Halt, TransferEvent};
use crate::core::side::Side;
use crate::engine::copier::{Controls, Ctx, Task, object};
use crate::engine::journal::Journal;
use crate::engine::session::Session;

/// A background task that ends with the scope that started it, whichever way it is left.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl AbortOnDrop {
    /// Stops the task at its next await and waits until it has.
    pub(crate) async fn stop(self) {
        self.0.abort();
        self.join().await;
    }

    /// Waits for the task to end by itself.
    async fn join(mut self) {
        let handle = std::mem::replace(&mut self.0, tokio::spawn(async {}));
        let _ = handle.await;
    }
}

/// The countdowns follow the sessions the run really uses, renewals included, and the
/// dashboard sees the requests in flight. The first lifetimes go out at once, before the
/// planner starts: with its first page already listed, the plan could otherwise be complete
/// before this task has sent them.
/// It holds the limiter and the events, not the context: the run takes the journal back out
/// of the context when it ends.
pub(crate) fn report(ctx: &Ctx, sessions: [Session; 2]) -> AbortOnDrop {
    let first = [sessions[0].lifetime(), sessions[1].lifetime()];
    for (side, lifetime) in Side::BOTH.into_iter().zip(&first) {
        ctx.emit(TransferEvent::Lifetime { side, lifetime: lifetime.clone() });
    }
    let (limiter, events) = (ctx.shared.limiter.clone(), ctx.shared.events.clone());
    AbortOnDrop(tokio::spawn(async move {
        let mut last = first.map(Some);
        let mut last_in_flight = 0;
        loop {
            let in_flight = limiter.in_flight();
            if in_flight != last_in_flight {
                let _ = events.send(TransferEvent::InFlight { requests: in_flight });
                last_in_flight = in_flight;
            }
            for (side, session) in Side::BOTH.into_iter().zip(&sessions) {
                let now = session.lifetime();
                if last[side.index()].as_ref() != Some(&now) {
                    let _ = events.send(TransferEvent::Lifetime { side, lifetime: now.clone() });
                    last[side.index()] = Some(now);
                }
            }
            if events.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }))
}

/// Syncs the journal every second until stopped.
pub(crate) struct Syncer {
    stop: Arc<tokio::sync::Notify>,
    task: AbortOnDrop,
}

impl Syncer {
    /// Stops after the sync in progress, if any, has returned: once this returns, the syncer
    /// holds no reference to the journal (an aborted task could leave its blocking fdatasync
    /// running with one, and the run could not take the journal back to finish it).
    pub(crate) async fn stop(self) {
        self.stop.notify_one();
        self.task.join().await;
    }
}

/// The plan and the completions become durable every second; fdatasync blocks, so not on a
/// worker thread.
pub(crate) fn sync_every_second(journal: &Option<Arc<Journal>>) -> Option<Syncer> {
    let j = journal.clone()?;
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    let task = AbortOnDrop(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stopped.notified() => return,
            }
            let j = j.clone();
            let _ = tokio::task::spawn_blocking(move || j.sync()).await;
        }
    }));
    Some(Syncer { stop, task })
}

/// Runs every queued task to its end, or stops dispatching early; waits for the workers it
/// started. Returns whether the run was interrupted (stop, credentials halt).
pub(crate) async fn dispatch(
    ctx: &Arc<Ctx>,
    mut rx: mpsc::Receiver<Task>,
    controls: Controls,
    sides: [Session; 2],
) -> bool {
    let Controls { mut stop, mut pause } = controls;
    let mut workers = JoinSet::new();
    let mut interrupted = *stop.borrow();
    let mut was_paused = false;
    while !interrupted {
        if *pause.borrow() != was_paused {
            was_paused = !was_paused;
            ctx.emit(TransferEvent::Paused { paused: was_paused });
        }
        if was_paused {
            tokio::select! {
                Ok(()) = pause.changed() => {}
                _ = stop.changed() => interrupted = true,
            }
            continue;
        }
        // Credentials that cannot renew: stop a safety margin before they expire.
        let now = std::time::SystemTime::now();
        if let Some(side) =
            Side::BOTH.into_iter().find(|s| !may_dispatch(&sides[s.index()].lifetime(), now, SAFETY_MARGIN))
        {
            ctx.halt(Halt { side, expired: false });
        }
        if ctx.halted() {
            interrupted = true;
            break;
        }
        let task = tokio::select! {
            t = rx.recv() => t,
            _ = stop.changed() => { interrupted = true; None }
            Ok(()) = pause.changed() => continue,
        };
        let Some(task) = task else { break };
        if ctx.journal_failed() {
            break;
        }
        if let Some(h) = ctx.halt_state() {
            // Halted while this task waited: it stays in the journal for the resume.
            ctx.emit(TransferEvent::Requeued { side: h.side });
            interrupted = true;
            break;
        }
        let permit = tokio::select! {
            p = ctx.limiter().acquire() => p,
            _ = stop.changed() => { interrupted = true; break }
        };
        if let Task::Copy(o) | Task::Check(o) = &task {
            // Before the first request: a kill -9 from here on leaves a line the resume settles.
            ctx.record(|j| j.started(&o.key, o.size));
        }
        workers.spawn(object::process(ctx.clone(), task, permit));
        while workers.try_join_next().is_some() {}
    }
    drop(rx);
    while workers.join_next().await.is_some() {}
    // A halt that came from a refused request (not the dispatch gate) also ends the run.
    interrupted || ctx.halted()
}
