//! The crash-safe record of a transfer: the plan, the completed keys and the failures, plus the
//! identity index that lets later syncs compare exactly.
//!
//! Layout under the state directory (default `.s3ferry/` beside the config), every file 0600 and
//! every directory 0700; no credentials are ever written:
//! ```text
//! pair-<hash of source, destination and endpoints>/
//!   index.jsonl                   identity index: {"k","e","s","d","m","dm"} sorted by key (see core::plan)
//!   lock-run-<mode>-<hash>        the advisory lock of a run in progress (holds its pid)
//!   run-<mode>-<hash of source, destination, mode, filters, delete, scope>/
//!     run.json                    what this journal is for
//!     plan.jsonl                  one decision per line, in key order; {"op":"end"} when planned
//!     done.jsonl                  {"k","d","dm"} copied/unchanged, {"k","x":true} deleted
//!     failed.jsonl                one failure record per line
//!     inflight.jsonl              {"k","s","t"} an object dispatched, {"k","u"} a multipart upload it opened
//! ```
//! `plan.jsonl` is written through a buffer and flushed every listing page; `done.jsonl` gets one
//! `write` per completion (so `kill -9` loses nothing the kernel has) and an fsync every second.
//! A torn last line (power loss) is ignored on reading. On resume, keys in `done.jsonl` are
//! never copied again, a complete plan is replayed without listing anything, and an incomplete
//! plan is continued from its last key (ListObjectsV2 `StartAfter`) on both sides.
//! When a run ends, the index is rebuilt by merging the old index with the plan and the
//! completions: a sorted merge in bounded memory (the completions are sorted in chunks of
//! 10,000, all but the last spilled to `done-sorted-N.jsonl`, and merged, at most 64 files at a
//! time). A run with no failures then removes its directory; otherwise the next run resumes it
//! and retries only what is not done.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::core::plan::{Decision, FilterRule, Listed, Reason, Recorded};
use crate::core::progress::{Failure, Mode};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {}: {source}. Check that the state directory is writable (transfer.state_dir / --state-dir).", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("--resume: there is no unfinished journal for this transfer in {}", dir.display())]
    NothingToResume { dir: PathBuf },
    #[error(
        "this transfer is already running{}: its journal {} is locked. Wait for it to end (or stop it), then run again",
        pid.map(|p| format!(" in process {p}")).unwrap_or_default(),
        dir.display()
    )]
    Locked { dir: PathBuf, pid: Option<u32> },
    #[error(
        "journal {}: a line s3ferry wrote there during this run does not read back ({detail}). The journal is kept and \
         done.jsonl still records every completion, so rerunning the same command resumes without copying anything \
         twice; if it happens again, check the disk under the state directory.",
        path.display()
    )]
    Unreadable { path: PathBuf, detail: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io { path: path.to_path_buf(), source }
}

/// What a journal is for. Two runs with the same identity share (resume) a journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunIdentity {
    pub source: String,
    pub destination: String,
    pub source_endpoint: Option<String>,
    pub destination_endpoint: Option<String>,
    pub mode: Mode,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub delete: bool,
    /// The console's marks: a scope is its own transfer, resumed as such. Left out when empty,
    /// so journals of whole-prefix runs keep the names they had.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
    /// The filters in their order, when it matters (an include after an exclude): the same
    /// globs in another order select other keys. Left out otherwise, so journals keep their names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<FilterRule>>,
}

impl RunIdentity {
    /// The identity's filter fields from the run's ordered filters.
    pub fn filter_fields(filters: &[FilterRule]) -> (Vec<String>, Vec<String>, Option<Vec<FilterRule>>) {
        let globs = |include: bool| filters.iter().filter(|r| r.include == include).map(|r| r.glob.clone()).collect();
        let first_exclude = filters.iter().position(|r| !r.include);
        let order_matters = first_exclude.is_some_and(|i| filters[i..].iter().any(|r| r.include));
        (globs(true), globs(false), order_matters.then(|| filters.to_vec()))
    }
}

impl RunIdentity {
    pub fn pair_dir(&self, state_dir: &Path) -> PathBuf {
        let pair = format!(
            "{}\n{}\n{}\n{}",
            self.source,
            self.destination,
            self.source_endpoint.as_deref().unwrap_or(""),
            self.destination_endpoint.as_deref().unwrap_or("")
        );
        state_dir.join(format!("pair-{:016x}", fnv128(pair.as_bytes()) as u64))
    }

    pub fn run_dir(&self, state_dir: &Path) -> PathBuf {
        let id = serde_json::to_string(self).unwrap_or_default();
        self.pair_dir(state_dir).join(format!("run-{}-{:016x}", self.mode.as_str(), fnv128(id.as_bytes()) as u64))
    }
}

/// FNV-1a, 128 bits: stable across Rust versions (unlike `DefaultHasher`), so journal names and
/// key hashes stay valid between s3ferry builds.
pub fn fnv128(bytes: &[u8]) -> u128 {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in bytes {
        h ^= *b as u128;
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    h
}

/// One line of `plan.jsonl`. The file keeps one-letter names (`k` key, `s` size, `e` the
/// source's ETag, `r` reason, `m` the source's last-modified ms, `d` and `dm` the destination's
/// ETag and last-modified ms); the optional times are left out when unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PlanRecord {
    Copy {
        #[serde(rename = "k")]
        key: String,
        #[serde(rename = "s")]
        size: u64,
        #[serde(rename = "e")]
        etag: String,
        #[serde(rename = "r")]
        reason: Reason,
        #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
        modified: Option<i64>,
    },
    Check {
        #[serde(rename = "k")]
        key: String,
        #[serde(rename = "s")]
        size: u64,
        #[serde(rename = "e")]
        etag: String,
        #[serde(rename = "d")]
        dest_etag: String,
        #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
        modified: Option<i64>,
    },
    Skip {
        #[serde(rename = "k")]
        key: String,
        #[serde(rename = "s")]
        size: u64,
        #[serde(rename = "e")]
        etag: String,
        #[serde(rename = "d")]
        dest_etag: String,
        #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
        modified: Option<i64>,
        #[serde(rename = "dm", default, skip_serializing_if = "Option::is_none")]
        dest_modified: Option<i64>,
    },
    Delete {
        #[serde(rename = "k")]
        key: String,
        #[serde(rename = "s")]
        size: u64,
    },
    /// Planning finished; nothing follows.
    End,
}

impl PlanRecord {
    /// The record of a planning decision; `None` for what needs no work (`Extra`).
    pub fn from_decision(d: Decision) -> Option<PlanRecord> {
        Some(match d {
            Decision::Copy { object: o, reason } => {
                PlanRecord::Copy { key: o.key, size: o.size, etag: o.etag, reason, modified: o.modified }
            }
            Decision::Check { object: o, dest_etag } => {
                PlanRecord::Check { key: o.key, size: o.size, etag: o.etag, dest_etag, modified: o.modified }
            }
            Decision::Skip { object: o, dest_etag, dest_modified } => PlanRecord::Skip {
                key: o.key,
                size: o.size,
                etag: o.etag,
                dest_etag,
                modified: o.modified,
                dest_modified,
            },
            Decision::Delete { key, size } => PlanRecord::Delete { key, size },
            Decision::Extra { .. } => return None,
        })
    }

    pub fn key(&self) -> Option<&str> {
        match self {
            PlanRecord::Copy { key: k, .. }
            | PlanRecord::Check { key: k, .. }
            | PlanRecord::Skip { key: k, .. }
            | PlanRecord::Delete { key: k, .. } => Some(k),
            PlanRecord::End => None,
        }
    }

    pub fn listed(&self) -> Option<Listed> {
        match self {
            PlanRecord::Copy { key: k, size: s, etag: e, modified: m, .. }
            | PlanRecord::Check { key: k, size: s, etag: e, modified: m, .. }
            | PlanRecord::Skip { key: k, size: s, etag: e, modified: m, .. } => {
                Some(Listed { key: k.clone(), size: *s, etag: e.clone(), modified: *m })
            }
            _ => None,
        }
    }
}

/// One line of `done.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DoneRecord {
    k: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    d: Option<String>,
    /// The destination's last-modified time (ms) as the write reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dm: Option<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    x: bool,
}

/// One line of `failed.jsonl`: the failure as reported, and the key as the completions name it
/// (`k`, absent in journals written before it was recorded).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FailedRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<String>,
    #[serde(flatten)]
    failure: Failure,
}

/// What an earlier, interrupted run left behind.
#[derive(Debug, Default)]
pub struct Resumed {
    /// Hashes of keys already done (copied, verified unchanged or deleted).
    pub done: std::collections::HashSet<u128>,
    /// Plan lines already written, in order (replayed instead of listing again).
    pub plan_lines: u64,
    pub plan_complete: bool,
    pub last_planned_key: Option<String>,
    /// Objects the earlier run had sent on their way but not finished when it stopped (neither
    /// done nor failed): a kill -9 or a crash leaves them. A resume settles them first.
    pub in_flight: Vec<InFlight>,
}

/// An object in flight when a run stopped, as `inflight.jsonl` recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InFlight {
    /// Relative to the run's prefixes, as in `done.jsonl`.
    pub key: String,
    pub size: u64,
    /// When its copy was dispatched (ms since the epoch): a destination object written since,
    /// of the same size, is that copy.
    pub started_ms: i64,
    /// Multipart uploads it created, none completed (an upload left open is billed).
    pub uploads: Vec<String>,
}

/// One line of `inflight.jsonl`: a dispatch (`s`, `t`) or a multipart upload created (`u`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct InFlightRecord {
    k: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    u: Option<String>,
}

impl Resumed {
    /// The earlier run planned everything: its plan is replayed and nothing is listed again.
    pub fn whole_plan(&self) -> bool {
        self.plan_lines > 0 && self.plan_complete
    }
}

/// An open journal: the plan writer (planner task only) and the shared completion log.
pub struct Journal {
    pub run_dir: PathBuf,
    pub pair_dir: PathBuf,
    plan: Mutex<BufWriter<File>>,
    /// The plan's open file again: `sync` makes it durable without the planner's lock.
    plan_sync: File,
    done: Mutex<File>,
    /// The same open file as `done`, for fdatasync without holding the writers' lock.
    done_sync: File,
    failed: Mutex<File>,
    /// `failed.jsonl`'s length when this run opened it: what an earlier run failed and this run
    /// copies after all does not keep the journal.
    failed_at_open: u64,
    /// What is sent on its way: one `write` per object (a kill -9 loses nothing the kernel has).
    in_flight: Mutex<File>,
    /// Held open (and locked) while the run lives: one run per journal.
    _lock: File,
}

/// Takes the journal's advisory lock (a file beside the run directory, so `--fresh` can remove
/// the directory under it), and writes this process's id into it for the next one to name.
fn lock(pair_dir: &Path, run_dir: &Path) -> Result<File, JournalError> {
    let name = run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let path = pair_dir.join(format!("lock-{name}"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut file, &mut text);
            return Err(JournalError::Locked { dir: run_dir.to_path_buf(), pid: text.trim().parse().ok() });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
    }
    file.set_len(0).map_err(io(&path))?;
    write!(file, "{}", std::process::id()).map_err(io(&path))?;
    Ok(file)
}

/// A directory only the owner can enter: created 0700, or an existing one (a state directory
/// made by hand, say 0777) narrowed to 0700. A symlink in its place is refused, not followed.
fn private_dir(path: &Path) -> Result<(), JournalError> {
    use std::os::unix::fs::PermissionsExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(path).map_err(io(path))?;
    let meta = fs::symlink_metadata(path).map_err(io(path))?;
    if meta.file_type().is_symlink() {
        let refused = std::io::Error::other("a symlink stands where the journal's directory should be; remove it");
        return Err(io(path)(refused));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(io(path))?;
    }
    Ok(())
}

/// Journal files are opened without following a symlink planted in their place (O_NOFOLLOW).
fn append(path: &Path) -> Result<File, JournalError> {
    OpenOptions::new().create(true).append(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(path).map_err(io(path))
}

/// A new (or emptied) file only the owner can read: journals name keys and buckets.
fn create_private(path: &Path) -> Result<File, JournalError> {
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io(path))
}

/// Writes `value` as one JSON line.
fn write_line<T: Serialize>(out: &mut impl Write, value: &T, path: &Path) -> Result<(), JournalError> {
    serde_json::to_writer(&mut *out, value).map_err(|e| io(path)(e.into()))?;
    out.write_all(b"\n").map_err(io(path))
}

/// Reads JSON lines, stopping at the first line that does not parse (a torn write); returns the
/// records and the byte length of the good prefix.
fn read_lines<T: for<'de> Deserialize<'de>>(path: &Path, mut each: impl FnMut(T)) -> Result<u64, JournalError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(path)(e)),
    };
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    let mut good = 0u64;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(io(path))?;
        if n == 0 || !line.ends_with('\n') {
            return Ok(good);
        }
        match serde_json::from_str::<T>(&line) {
            Ok(v) => each(v),
            Err(_) => return Ok(good),
        }
        good += n as u64;
    }
}

/// Reads what a run left in `run_dir`: the plan's length and last key, and the keys done.
/// Returns the byte length of the plan's good prefix too (a torn last line is not counted).
fn read_resumed(run_dir: &Path) -> Result<(Resumed, u64), JournalError> {
    let mut r = Resumed::default();
    let good = read_lines::<PlanRecord>(&run_dir.join("plan.jsonl"), |rec| {
        match rec.key() {
            Some(k) => r.last_planned_key = Some(k.to_string()),
            None => r.plan_complete = true,
        }
        r.plan_lines += 1;
    })?;
    r.done = read_done(run_dir)?;
    r.in_flight = read_in_flight(run_dir, &r.done)?;
    Ok((r, good))
}

/// Hashes of the keys `done.jsonl` records as done.
fn read_done(run_dir: &Path) -> Result<std::collections::HashSet<u128>, JournalError> {
    let mut done = std::collections::HashSet::new();
    read_lines::<DoneRecord>(&run_dir.join("done.jsonl"), |d| {
        done.insert(fnv128(d.k.as_bytes()));
    })?;
    Ok(done)
}

/// The dispatched objects that neither completed nor failed, with the uploads they opened.
fn read_in_flight(run_dir: &Path, done: &std::collections::HashSet<u128>) -> Result<Vec<InFlight>, JournalError> {
    let mut failed = std::collections::HashSet::new();
    read_lines::<FailedRecord>(&run_dir.join("failed.jsonl"), |r| {
        if let Some(k) = r.k {
            failed.insert(fnv128(k.as_bytes()));
        }
    })?;
    let mut open: std::collections::BTreeMap<String, InFlight> = std::collections::BTreeMap::new();
    read_lines::<InFlightRecord>(&run_dir.join("inflight.jsonl"), |rec| {
        let h = fnv128(rec.k.as_bytes());
        if done.contains(&h) || failed.contains(&h) {
            return;
        }
        let entry = open.entry(rec.k.clone()).or_insert_with(|| InFlight { key: rec.k.clone(), ..InFlight::default() });
        if let (Some(s), Some(t)) = (rec.s, rec.t) {
            (entry.size, entry.started_ms) = (s, t);
        }
        entry.uploads.extend(rec.u);
    })?;
    Ok(open.into_values().collect())
}

/// What an earlier run of `id` left, read without changing anything: a dry run (the console's
/// plan, `--dry-run`) says what is already done and plans only the rest. `None`: no journal.
pub fn peek(state_dir: &Path, id: &RunIdentity) -> Result<Option<Resumed>, JournalError> {
    let run_dir = id.run_dir(state_dir);
    if !run_dir.join("run.json").exists() {
        return Ok(None);
    }
    read_resumed(&run_dir).map(|(r, _)| Some(r))
}

/// The failures recorded in `run_dir` whose objects are still not done: the last record of each
/// key (a resume appends a new one each time it fails again), in the order they first failed.
pub fn outstanding_failures(run_dir: &Path) -> Result<Vec<Failure>, JournalError> {
    // Only the completions: the plan (millions of lines on a large run) has nothing to say here.
    let completed = read_done(run_dir)?;
    // Failures name whole keys; the completions name keys relative to the run's prefixes, which
    // each failure record carries as `k`. Journals from before `k` was written fall back to the
    // source prefix from run.json.
    let header: serde_json::Value = fs::read_to_string(run_dir.join("run.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let source = header["identity"]["source"].as_str().unwrap_or_default().trim_start_matches("s3://").to_string();
    let source_prefix = source.split_once('/').map(|(_, p)| p.to_string()).unwrap_or_default();
    let done = |r: &FailedRecord| {
        let key = r.k.as_deref().or_else(|| r.failure.key.strip_prefix(source_prefix.as_str()));
        key.is_some_and(|k| completed.contains(&fnv128(k.as_bytes())))
    };
    let mut order: Vec<String> = Vec::new();
    let mut last: std::collections::HashMap<String, FailedRecord> = std::collections::HashMap::new();
    read_lines::<FailedRecord>(&run_dir.join("failed.jsonl"), |r| {
        if !last.contains_key(&r.failure.key) {
            order.push(r.failure.key.clone());
        }
        last.insert(r.failure.key.clone(), r);
    })?;
    Ok(order.into_iter().filter_map(|k| last.remove(&k)).filter(|r| !done(r)).map(|r| r.failure).collect())
}

impl Journal {
    /// Opens (or creates) the journal for `id`. `fresh` discards an earlier one; `require`
    /// fails when there is none to resume.
    pub fn open(
        state_dir: &Path,
        id: &RunIdentity,
        fresh: bool,
        require: bool,
    ) -> Result<(Journal, Option<Resumed>), JournalError> {
        let pair_dir = id.pair_dir(state_dir);
        let run_dir = id.run_dir(state_dir);
        private_dir(state_dir)?;
        private_dir(&pair_dir)?;
        let lock = lock(&pair_dir, &run_dir)?;
        if fresh && run_dir.exists() {
            fs::remove_dir_all(&run_dir).map_err(io(&run_dir))?;
        }
        let existed = run_dir.join("run.json").exists();
        if require && !existed {
            return Err(JournalError::NothingToResume { dir: run_dir });
        }
        private_dir(&run_dir)?;
        let mut resumed = None;
        if existed {
            let (r, good) = read_resumed(&run_dir)?;
            // Drop a torn tail so appended lines start clean.
            let plan_path = run_dir.join("plan.jsonl");
            if let Ok(f) = OpenOptions::new().write(true).open(&plan_path) {
                f.set_len(good).map_err(io(&plan_path))?;
            }
            resumed = Some(r);
        } else {
            let header = serde_json::json!({
                "version": 1,
                "identity": id,
                "created": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            });
            let path = run_dir.join("run.json");
            let mut f = create_private(&path)?;
            writeln!(f, "{header}").map_err(io(&path))?;
            f.sync_all().map_err(io(&path))?;
        }
        let done_path = run_dir.join("done.jsonl");
        let done = append(&done_path)?;
        let plan_path = run_dir.join("plan.jsonl");
        let plan = append(&plan_path)?;
        let journal = Journal {
            plan_sync: plan.try_clone().map_err(io(&plan_path))?,
            plan: Mutex::new(BufWriter::with_capacity(1 << 16, plan)),
            done_sync: done.try_clone().map_err(io(&done_path))?,
            done: Mutex::new(done),
            failed_at_open: fs::metadata(run_dir.join("failed.jsonl")).map(|m| m.len()).unwrap_or(0),
            failed: Mutex::new(append(&run_dir.join("failed.jsonl"))?),
            in_flight: Mutex::new(append(&run_dir.join("inflight.jsonl"))?),
            run_dir,
            pair_dir,
            _lock: lock,
        };
        Ok((journal, resumed))
    }

    pub fn plan(&self, record: &PlanRecord) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(record).unwrap_or_default();
        line.push('\n');
        let mut w = self.plan.lock().unwrap_or_else(|p| p.into_inner());
        w.write_all(line.as_bytes()).map_err(io(&self.run_dir.join("plan.jsonl")))
    }

    /// Hands buffered plan lines to the kernel (at every listing page), where a crash of the
    /// process cannot lose them; [`Journal::sync`] makes them durable. No fdatasync here: the
    /// planner runs on an async worker, and on a disk busy with the copies' writes one
    /// fdatasync can block that worker for a second.
    pub fn flush_plan(&self) -> Result<(), JournalError> {
        let path = self.run_dir.join("plan.jsonl");
        let mut w = self.plan.lock().unwrap_or_else(|p| p.into_inner());
        w.flush().map_err(io(&path))
    }

    /// Reads the plan written so far in batches (resume replays it without listing).
    pub fn plan_reader(&self) -> Result<PlanReader, JournalError> {
        PlanReader::open(&self.run_dir)
    }

    /// Iterates the plan written so far.
    pub fn replay(&self, each: impl FnMut(PlanRecord)) -> Result<(), JournalError> {
        read_lines::<PlanRecord>(&self.run_dir.join("plan.jsonl"), each).map(|_| ())
    }

    fn done_line(&self, record: &DoneRecord) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(record).unwrap_or_default();
        line.push('\n');
        let mut f = self.done.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(line.as_bytes()).map_err(io(&self.run_dir.join("done.jsonl")))
    }

    /// A copy finished (or a checked object proved unchanged); `dest_etag` and the
    /// destination's last-modified time (when the write reported it) go to the index.
    pub fn copied(&self, key: &str, dest_etag: &str, dest_modified: Option<i64>) -> Result<(), JournalError> {
        self.done_line(&DoneRecord { k: key.to_string(), d: Some(dest_etag.to_string()), dm: dest_modified, x: false })
    }

    pub fn deleted(&self, key: &str) -> Result<(), JournalError> {
        self.done_line(&DoneRecord { k: key.to_string(), d: None, dm: None, x: true })
    }

    /// Whether this run recorded a failure (a resume retries every object not done, so these
    /// are the objects still failing).
    pub fn failed_this_run(&self) -> bool {
        fs::metadata(self.run_dir.join("failed.jsonl")).is_ok_and(|m| m.len() > self.failed_at_open)
    }

    /// The copy of `key` (`size` bytes) is sent on its way now.
    pub fn started(&self, key: &str, size: u64) -> Result<(), JournalError> {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64);
        self.in_flight_line(&InFlightRecord { k: key.to_string(), s: Some(size), t: t.ok(), u: None })
    }

    /// The copy of `key` opened multipart upload `upload_id`.
    pub fn upload(&self, key: &str, upload_id: &str) -> Result<(), JournalError> {
        self.in_flight_line(&InFlightRecord { k: key.to_string(), s: None, t: None, u: Some(upload_id.to_string()) })
    }

    fn in_flight_line(&self, record: &InFlightRecord) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(record).unwrap_or_default();
        line.push('\n');
        let mut f = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(line.as_bytes()).map_err(io(&self.run_dir.join("inflight.jsonl")))
    }

    /// A failure of the object `key` (relative to the run's prefixes, as in `done.jsonl`).
    pub fn failed(&self, key: &str, failure: &Failure) -> Result<(), JournalError> {
        let record = FailedRecord { k: Some(key.to_string()), failure: failure.clone() };
        let mut line = serde_json::to_string(&record).unwrap_or_default();
        line.push('\n');
        let mut f = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(line.as_bytes()).map_err(io(&self.run_dir.join("failed.jsonl")))
    }

    /// Makes the flushed plan and the completions durable (called every second off the async
    /// workers, and at the end). A completion made durable before its plan line is harmless: a
    /// resume lists that key again, finds it done and skips it.
    pub fn sync(&self) -> Result<(), JournalError> {
        self.plan_sync.sync_data().map_err(io(&self.run_dir.join("plan.jsonl")))?;
        self.done_sync.sync_data().map_err(io(&self.run_dir.join("done.jsonl")))
    }

    /// Rebuilds the identity index from the old index, the plan and the completions; then
    /// removes the run directory when `clean` (nothing failed, plan complete).
    pub fn finish(self, clean: bool) -> Result<(), JournalError> {
        self.finish_in_chunks(clean, DONE_CHUNK, MERGE_FAN_IN)
    }

    fn finish_in_chunks(self, clean: bool, chunk: usize, fan_in: usize) -> Result<(), JournalError> {
        self.flush_plan()?;
        self.sync()?;
        let mut done = SortedDone::new(&self.run_dir, chunk, fan_in)?;
        let index = self.pair_dir.join("index.jsonl");
        let tmp = self.pair_dir.join("index.jsonl.tmp");
        {
            let mut out = BufWriter::new(create_private(&tmp)?);
            let mut old = IndexReader::open(&index)?;
            let mut write = |r: &Recorded| write_line(&mut out, r, &tmp);
            let mut err = None;
            self.replay(|p| {
                if err.is_some() {
                    return;
                }
                let Some(key) = p.key() else { return };
                let result = (|| {
                    // Carry old records for earlier keys.
                    while let Some(r) = old.peek()? {
                        if r.key.as_str() >= key {
                            break;
                        }
                        write(&old.take()?.expect("peeked"))?;
                    }
                    let previous = match old.peek()? {
                        Some(r) if r.key == key => old.take()?,
                        _ => None,
                    };
                    let completion = done.take(key)?;
                    let next = match (&p, completion.as_ref()) {
                        (PlanRecord::Skip { dest_etag: d, dest_modified: dm, .. }, _) => {
                            p.listed().map(|o| Recorded::of(o, d.clone(), *dm))
                        }
                        (PlanRecord::Copy { .. } | PlanRecord::Check { .. }, Some(Some((d, dm)))) => {
                            p.listed().map(|o| Recorded::of(o, d.clone(), *dm))
                        }
                        (PlanRecord::Delete { .. }, Some(None)) => None,
                        // Not done: what was true before still is.
                        _ => previous,
                    };
                    if let Some(r) = next {
                        write(&r)?;
                    }
                    Ok::<(), JournalError>(())
                })();
                if let Err(e) = result {
                    err = Some(e);
                }
            })?;
            if let Some(e) = err {
                return Err(e);
            }
            while let Some(r) = old.take()? {
                write(&r)?;
            }
            let file = out.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
            file.sync_all().map_err(io(&tmp))?;
        }
        fs::rename(&tmp, &index).map_err(io(&index))?;
        done.remove_runs();
        if clean {
            fs::remove_dir_all(&self.run_dir).map_err(io(&self.run_dir))?;
        }
        Ok(())
    }
}

/// A key's last completion: `Some((dest ETag, dest last-modified))`, or `None` when deleted.
type Completion = Option<(String, Option<i64>)>;

/// Completions held in memory at once while the index is rebuilt. At 50,000, the rebuild raised
/// a 100,000-object copy's RSS from 48-49 MiB to 51.9 MiB at its end (one malloc arena, so the
/// copy's own RSS stayed flat); at 10,000 it did not show (50.6 MiB peak, 49-50 MiB before).
const DONE_CHUNK: usize = 10_000;

/// Sorted runs merged at once, so a run of millions of objects never holds more open files than
/// this (the default soft limit is often 1,024): more runs are first merged in groups.
const MERGE_FAN_IN: usize = 64;

/// This run's completions in key order, in bounded memory. `done.jsonl` is in completion order,
/// so it is cut into runs of at most `chunk` records, each sorted by key, and the runs are
/// merged, at most `fan_in` files at a time. Full runs are written to files; the last one stays
/// in memory, so a run with fewer than `chunk` completions writes nothing extra. For a key
/// completed more than once the last record wins (a stable sort keeps completion order inside a
/// run, later runs hold later completions, and merging consecutive runs keeps both true).
struct SortedDone {
    runs: Vec<SortedRun>,
    heads: Vec<Option<DoneRecord>>,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(String, usize)>>,
}

enum SortedRun {
    File(PathBuf, BufReader<File>),
    Memory(std::vec::IntoIter<DoneRecord>),
}

impl SortedDone {
    fn new(run_dir: &Path, chunk: usize, fan_in: usize) -> Result<SortedDone, JournalError> {
        let mut paths = Vec::new();
        let mut batch: Vec<DoneRecord> = Vec::new();
        let spill = |batch: &mut Vec<DoneRecord>, paths: &mut Vec<PathBuf>| -> Result<(), JournalError> {
            batch.sort_by(|a, b| a.k.cmp(&b.k));
            let path = run_dir.join(format!("done-sorted-{}.jsonl", paths.len()));
            let mut out = BufWriter::new(create_private(&path)?);
            for d in batch.drain(..) {
                write_line(&mut out, &d, &path)?;
            }
            out.flush().map_err(io(&path))?;
            paths.push(path);
            Ok(())
        };
        let mut failed = None;
        read_lines::<DoneRecord>(&run_dir.join("done.jsonl"), |d| {
            // After a failed spill the rebuild ends in that error: collecting the rest would
            // only grow the batch past its bound.
            if failed.is_some() {
                return;
            }
            batch.push(d);
            if batch.len() >= chunk.max(1) {
                failed = spill(&mut batch, &mut paths).err();
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        batch.sort_by(|a, b| a.k.cmp(&b.k));
        // One open file per run in the final merge: bring the count down a level at a time.
        let fan_in = fan_in.max(2);
        let mut level = 0;
        while paths.len() > fan_in {
            let mut merged = Vec::new();
            for (g, group) in paths.chunks(fan_in).enumerate() {
                let out = run_dir.join(format!("done-sorted-l{level}-{g}.jsonl"));
                SortedDone::merge_files(group, &out)?;
                for p in group {
                    let _ = fs::remove_file(p);
                }
                merged.push(out);
            }
            paths = merged;
            level += 1;
        }
        let mut runs = SortedDone::open_runs(&paths)?;
        runs.push(SortedRun::Memory(batch.into_iter()));
        SortedDone::of(runs)
    }

    fn open_runs(paths: &[PathBuf]) -> Result<Vec<SortedRun>, JournalError> {
        paths.iter().map(|p| Ok(SortedRun::File(p.clone(), BufReader::new(File::open(p).map_err(io(p))?)))).collect()
    }

    fn of(runs: Vec<SortedRun>) -> Result<SortedDone, JournalError> {
        let mut sorted = SortedDone { heads: runs.iter().map(|_| None).collect(), runs, heap: Default::default() };
        for i in 0..sorted.runs.len() {
            sorted.advance(i)?;
        }
        Ok(sorted)
    }

    /// Merges consecutive sorted runs into one file, every record kept, equal keys in run order.
    fn merge_files(group: &[PathBuf], out: &Path) -> Result<(), JournalError> {
        let mut merged = SortedDone::of(SortedDone::open_runs(group)?)?;
        let mut w = BufWriter::new(create_private(out)?);
        while let Some(d) = merged.pop()? {
            write_line(&mut w, &d, out)?;
        }
        w.flush().map_err(io(out))
    }

    /// The smallest key's next record (the earliest run's on a tie).
    fn pop(&mut self) -> Result<Option<DoneRecord>, JournalError> {
        let Some(std::cmp::Reverse((_, i))) = self.heap.pop() else { return Ok(None) };
        let d = self.heads[i].take().expect("a run in the heap has a head");
        self.advance(i)?;
        Ok(Some(d))
    }

    /// Reads run `i`'s next record into its head and the heap.
    fn advance(&mut self, i: usize) -> Result<(), JournalError> {
        self.heads[i] = match &mut self.runs[i] {
            SortedRun::Memory(records) => records.next(),
            SortedRun::File(path, reader) => {
                let mut line = String::new();
                let n = reader.read_line(&mut line).map_err(io(path))?;
                if n == 0 {
                    None
                } else {
                    // Written and flushed by this run moments ago: a bad line is a fault to
                    // report, not a torn end to stop at (that would drop the rest of the run's
                    // completions from the index, and the next sync would redo them).
                    let record = serde_json::from_str(&line)
                        .map_err(|e| JournalError::Unreadable { path: path.clone(), detail: e.to_string() })?;
                    Some(record)
                }
            }
        };
        if let Some(d) = &self.heads[i] {
            self.heap.push(std::cmp::Reverse((d.k.clone(), i)));
        }
        Ok(())
    }

    /// The last completion of `key` (`Some(None)`: deleted), dropping any for earlier keys.
    /// Keys must be asked for in ascending order.
    fn take(&mut self, key: &str) -> Result<Option<Completion>, JournalError> {
        let mut found = None;
        while self.heap.peek().is_some_and(|std::cmp::Reverse((k, _))| k.as_str() <= key) {
            let Some(d) = self.pop()? else { break };
            if d.k == key {
                found = Some(if d.x { None } else { d.d.map(|e| (e, d.dm)) });
            }
        }
        Ok(found)
    }

    fn remove_runs(&mut self) {
        for run in self.runs.drain(..) {
            if let SortedRun::File(path, _) = run {
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// Batches of plan records, stopping at a torn line.
pub struct PlanReader {
    reader: BufReader<File>,
    line: String,
    done: bool,
    path: PathBuf,
}

impl PlanReader {
    /// The plan of the run in `run_dir`, read-only (a dry run replays it too).
    pub fn open(run_dir: &Path) -> Result<PlanReader, JournalError> {
        let path = run_dir.join("plan.jsonl");
        let file = File::open(&path).map_err(io(&path))?;
        Ok(PlanReader { reader: BufReader::new(file), line: String::new(), done: false, path })
    }

    pub fn next_batch(&mut self, n: usize) -> Result<Vec<PlanRecord>, JournalError> {
        let mut out = Vec::new();
        while !self.done && out.len() < n {
            self.line.clear();
            let read = self.reader.read_line(&mut self.line).map_err(io(&self.path))?;
            if read == 0 || !self.line.ends_with('\n') {
                self.done = true;
                break;
            }
            match serde_json::from_str(&self.line) {
                Ok(r) => out.push(r),
                Err(_) => self.done = true,
            }
        }
        Ok(out)
    }
}

/// Streams the identity index in key order, a record at a time.
pub struct IndexReader {
    lines: Option<std::io::Lines<BufReader<File>>>,
    path: PathBuf,
    peeked: Option<Recorded>,
}

impl IndexReader {
    /// A missing index reads as empty.
    pub fn open(path: &Path) -> Result<IndexReader, JournalError> {
        let lines = match File::open(path) {
            Ok(f) => Some(BufReader::new(f).lines()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(path)(e)),
        };
        Ok(IndexReader { lines, path: path.to_path_buf(), peeked: None })
    }

    /// The index of the pair a run belongs to.
    pub fn for_run(state_dir: &Path, id: &RunIdentity) -> Result<IndexReader, JournalError> {
        IndexReader::open(&id.pair_dir(state_dir).join("index.jsonl"))
    }

    pub fn peek(&mut self) -> Result<Option<&Recorded>, JournalError> {
        if self.peeked.is_none() {
            self.peeked = self.read()?;
        }
        Ok(self.peeked.as_ref())
    }

    pub fn take(&mut self) -> Result<Option<Recorded>, JournalError> {
        match self.peeked.take() {
            Some(r) => Ok(Some(r)),
            None => self.read(),
        }
    }

    /// Up to `n` records with keys after `after`.
    pub fn page(&mut self, n: usize, after: Option<&str>) -> Result<Vec<Recorded>, JournalError> {
        let mut out = Vec::with_capacity(n.min(1024));
        while out.len() < n {
            match self.take()? {
                Some(r) if after.is_some_and(|a| r.key.as_str() <= a) => continue,
                Some(r) => out.push(r),
                None => break,
            }
        }
        Ok(out)
    }

    fn read(&mut self) -> Result<Option<Recorded>, JournalError> {
        let Some(lines) = &mut self.lines else { return Ok(None) };
        for line in lines {
            let line = line.map_err(io(&self.path))?;
            // An unparsable line (a torn write from a crash) only costs a HEAD later.
            if let Ok(r) = serde_json::from_str(&line) {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(mode: Mode) -> RunIdentity {
        RunIdentity {
            source: "s3://src/a/".into(),
            destination: "s3://dst/b/".into(),
            source_endpoint: None,
            destination_endpoint: None,
            mode,
            include: vec![],
            exclude: vec![],
            delete: false,
            scope: vec![],
            filters: None,
        }
    }

    #[test]
    fn a_scope_is_its_own_journal_and_no_scope_keeps_the_old_name() {
        let whole = id(Mode::Cp);
        // The name a journal had before scopes existed: the JSON of the identity without one.
        let old = r#"{"source":"s3://src/a/","destination":"s3://dst/b/","source_endpoint":null,"destination_endpoint":null,"mode":"cp","include":[],"exclude":[],"delete":false}"#;
        assert_eq!(serde_json::to_string(&whole).unwrap(), old);
        let scoped = RunIdentity { scope: vec!["daily/".into()], ..whole.clone() };
        assert_ne!(scoped.run_dir(Path::new("/s")), whole.run_dir(Path::new("/s")));
        assert_eq!(scoped.pair_dir(Path::new("/s")), whole.pair_dir(Path::new("/s")));
    }

    /// Filters whose order does not change what they select keep the journal name they had;
    /// an include after an exclude is a different selection, so a different journal.
    #[test]
    fn filter_order_names_the_journal_only_when_it_matters() {
        let (inc, exc) = (FilterRule::include("*.csv"), FilterRule::exclude("tmp/*"));
        let (i, e, order) = RunIdentity::filter_fields(&[inc.clone(), exc.clone()]);
        assert_eq!(
            (i.as_slice(), e.as_slice(), &order),
            (&["*.csv".to_string()][..], &["tmp/*".to_string()][..], &None)
        );
        let (_, _, order) = RunIdentity::filter_fields(&[exc.clone(), inc.clone()]);
        assert_eq!(order, Some(vec![exc, inc]));
    }

    #[test]
    fn one_run_per_journal_and_no_symlink_or_open_mode_is_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
        let id = id(Mode::Cp);
        let (first, _) = Journal::open(&state, &id, false, false).unwrap();
        assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o700, "narrowed");
        // A second run of the same transfer is refused and told which process holds it.
        let Err(JournalError::Locked { pid, .. }) = Journal::open(&state, &id, false, false) else { panic!() };
        assert_eq!(pid, Some(std::process::id()));
        let Err(JournalError::Locked { .. }) = Journal::open(&state, &id, true, false) else {
            panic!("--fresh may not remove a journal in use")
        };
        drop(first);
        let (again, resumed) = Journal::open(&state, &id, false, false).unwrap();
        assert!(resumed.is_some(), "the lock is gone with its run");
        drop(again);
        // A symlink planted where a journal file goes is not followed.
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "x").unwrap();
        let failed = id.run_dir(&state).join("failed.jsonl");
        std::fs::remove_file(&failed).unwrap();
        std::os::unix::fs::symlink(&target, &failed).unwrap();
        assert!(Journal::open(&state, &id, false, false).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "x");
    }

    #[test]
    fn the_export_holds_each_object_still_failed_once_with_its_last_failure() {
        let dir = tempfile::tempdir().unwrap();
        // A source prefix of "" and a destination prefix: a failure key alone could be either.
        let id = RunIdentity { source: "s3://prod/".into(), destination: "s3://lake/prod/".into(), ..id(Mode::Cp) };
        let (j, _) = Journal::open(dir.path(), &id, false, false).unwrap();
        let f =
            |key: &str, code: &str| Failure { key: key.into(), code: code.into(), message: String::new(), attempts: 1 };
        j.failed("prod/a.csv", &f("prod/a.csv", "AccessDenied")).unwrap();
        j.failed("b.csv", &f("b.csv", "AccessDenied")).unwrap();
        j.failed("prod/a.csv", &f("prod/a.csv", "SlowDown")).unwrap();
        j.copied("a.csv", "d", None).unwrap();
        j.copied("b.csv", "d", None).unwrap();
        let left = outstanding_failures(&j.run_dir).unwrap();
        assert_eq!(left, [f("prod/a.csv", "SlowDown")], "a.csv done is not prod/a.csv done; b.csv is done");
    }

    #[test]
    fn only_this_run_s_failures_keep_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let id = id(Mode::Cp);
        let f = Failure { key: "a".into(), code: "AccessDenied".into(), message: String::new(), attempts: 1 };
        let (j, _) = Journal::open(dir.path(), &id, false, false).unwrap();
        j.failed("a", &f).unwrap();
        assert!(j.failed_this_run());
        drop(j);
        // The retry copies what failed before: nothing of its own failed.
        let (j, _) = Journal::open(dir.path(), &id, false, false).unwrap();
        j.copied("a", "d", None).unwrap();
        assert!(!j.failed_this_run());
        j.failed("a", &f).unwrap();
        assert!(j.failed_this_run());
    }

    #[test]
    fn peek_reads_a_journal_without_touching_it() {
        let dir = tempfile::tempdir().unwrap();
        let id = id(Mode::Cp);
        assert!(peek(dir.path(), &id).unwrap().is_none());
        assert!(!id.run_dir(dir.path()).exists(), "peeking creates nothing");
        let (j, _) = Journal::open(dir.path(), &id, false, false).unwrap();
        j.plan(&copy("a", "e1")).unwrap();
        j.plan(&copy("b", "e2")).unwrap();
        j.flush_plan().unwrap();
        j.copied("a", "d1", None).unwrap();
        let before: Vec<_> = ["plan.jsonl", "done.jsonl"]
            .iter()
            .map(|f| std::fs::read(id.run_dir(dir.path()).join(f)).unwrap())
            .collect();
        let r = peek(dir.path(), &id).unwrap().expect("a journal");
        assert_eq!((r.plan_lines, r.plan_complete, r.last_planned_key.as_deref()), (2, false, Some("b")));
        assert!(r.done.contains(&fnv128(b"a")) && !r.done.contains(&fnv128(b"b")));
        let after: Vec<_> = ["plan.jsonl", "done.jsonl"]
            .iter()
            .map(|f| std::fs::read(id.run_dir(dir.path()).join(f)).unwrap())
            .collect();
        assert_eq!(before, after);
    }

    fn copy(k: &str, e: &str) -> PlanRecord {
        PlanRecord::Copy { key: k.into(), size: 1, etag: e.into(), reason: Reason::New, modified: None }
    }

    fn index(dir: &Path, id: &RunIdentity) -> Vec<(String, String, String)> {
        let mut r = IndexReader::for_run(dir, id).unwrap();
        let mut out = Vec::new();
        while let Some(x) = r.take().unwrap() {
            out.push((x.key, x.source_etag, x.dest_etag));
        }
        out
    }

    #[test]
    fn names_are_stable_and_distinct() {
        assert_eq!(fnv128(b""), 0x6c62272e07bb014262b821756295c58d);
        assert_ne!(id(Mode::Cp).run_dir(Path::new("s")), id(Mode::Sync).run_dir(Path::new("s")));
        assert_eq!(id(Mode::Cp).pair_dir(Path::new("s")), id(Mode::Sync).pair_dir(Path::new("s")));
    }

    #[test]
    fn resume_reads_plan_and_done_and_survives_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let id = id(Mode::Cp);
        let (j, resumed) = Journal::open(dir.path(), &id, false, false).unwrap();
        assert!(resumed.is_none());
        for k in ["a", "b", "c"] {
            j.plan(&copy(k, "e1")).unwrap();
        }
        j.flush_plan().unwrap();
        j.copied("a", "d-a", None).unwrap();
        drop(j);
        // A crash mid-write leaves half a line in each file.
        let mut f = OpenOptions::new().append(true).open(id.run_dir(dir.path()).join("plan.jsonl")).unwrap();
        f.write_all(b"{\"op\":\"copy\",\"k\":\"d\"").unwrap();
        let mut f = OpenOptions::new().append(true).open(id.run_dir(dir.path()).join("done.jsonl")).unwrap();
        f.write_all(b"{\"k\":\"b\"").unwrap();

        let (j, resumed) = Journal::open(dir.path(), &id, false, true).unwrap();
        let r = resumed.unwrap();
        assert_eq!((r.plan_lines, r.plan_complete, r.last_planned_key.as_deref()), (3, false, Some("c")));
        assert!(r.done.contains(&fnv128(b"a")) && !r.done.contains(&fnv128(b"b")));
        // Appending after the torn tail yields clean lines.
        j.plan(&copy("d", "e1")).unwrap();
        j.plan(&PlanRecord::End).unwrap();
        j.flush_plan().unwrap();
        let mut keys = Vec::new();
        j.replay(|p| keys.push(p.key().map(str::to_string))).unwrap();
        assert_eq!(keys, [Some("a".into()), Some("b".into()), Some("c".into()), Some("d".into()), None]);

        // Files are private.
        use std::os::unix::fs::PermissionsExt;
        for name in ["run.json", "plan.jsonl", "done.jsonl", "failed.jsonl"] {
            let mode = fs::metadata(j.run_dir.join(name)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name}");
        }
        assert_eq!(fs::metadata(&j.run_dir).unwrap().permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn finish_merges_the_index_and_retires_clean_runs() {
        let dir = tempfile::tempdir().unwrap();
        let id = id(Mode::Sync);
        let (j, _) = Journal::open(dir.path(), &id, false, false).unwrap();
        j.plan(&copy("b", "eb")).unwrap();
        j.plan(&PlanRecord::Skip {
            key: "c".into(),
            size: 1,
            etag: "ec".into(),
            dest_etag: "dc".into(),
            modified: None,
            dest_modified: None,
        })
        .unwrap();
        j.plan(&copy("d", "ed")).unwrap();
        j.plan(&PlanRecord::End).unwrap();
        j.copied("b", "db", None).unwrap();
        j.copied("d", "dd", None).unwrap();
        j.finish(true).unwrap();
        assert!(!id.run_dir(dir.path()).exists(), "a clean run leaves no journal behind");
        assert_eq!(
            index(dir.path(), &id),
            [
                ("b".into(), "eb".into(), "db".into()),
                ("c".into(), "ec".into(), "dc".into()),
                ("d".into(), "ed".into(), "dd".into())
            ]
        );

        // Second run: "a" is new, "b" changes but fails, "c" is deleted, "d" untouched, "e" new.
        let (j, _) = Journal::open(dir.path(), &id, false, false).unwrap();
        j.plan(&copy("a", "ea")).unwrap();
        j.plan(&copy("b", "eb2")).unwrap();
        j.plan(&PlanRecord::Delete { key: "c".into(), size: 1 }).unwrap();
        j.plan(&copy("e", "ee")).unwrap();
        j.plan(&PlanRecord::End).unwrap();
        j.copied("a", "da", None).unwrap();
        j.deleted("c").unwrap();
        j.copied("e", "de", None).unwrap();
        j.failed("b", &Failure { key: "b".into(), code: "AccessDenied".into(), message: "m".into(), attempts: 1 })
            .unwrap();
        j.finish(false).unwrap();
        assert!(id.run_dir(dir.path()).join("failed.jsonl").exists(), "a run with failures is kept for a retry");
        assert_eq!(
            index(dir.path(), &id),
            [
                ("a".into(), "ea".into(), "da".into()),
                ("b".into(), "eb".into(), "db".into()),
                ("d".into(), "ed".into(), "dd".into()),
                ("e".into(), "ee".into(), "de".into()),
            ]
        );
        let mut r = IndexReader::for_run(dir.path(), &id).unwrap();
        let page: Vec<String> = r.page(10, Some("b")).unwrap().into_iter().map(|r| r.key).collect();
        assert_eq!(page, ["d", "e"]);
    }

    #[test]
    fn a_spilled_run_that_does_not_read_back_is_an_error_not_an_early_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("done-sorted-0.jsonl");
        fs::write(&path, "{\"k\":\"a\",\"d\":\"e1\"}\n{\"k\":\"b\",\"d\n{\"k\":\"c\",\"d\":\"e3\"}\n").unwrap();
        let mut sorted = SortedDone::of(SortedDone::open_runs(std::slice::from_ref(&path)).unwrap()).unwrap();
        // Popping "a" reads the damaged line behind it.
        match sorted.pop().map(|d| d.map(|d| d.k)) {
            Err(JournalError::Unreadable { path: p, .. }) => assert_eq!(p, path),
            other => panic!("the second line is damaged: {other:?}"),
        }
    }

    #[test]
    fn completions_merge_in_bounded_chunks_and_the_last_one_wins() {
        // Chunks of 2 records: completions arrive out of key order, one key twice (a resumed
        // run), one deleted; the index must be what one big in-memory map would give, whether
        // the runs merge at once (fan-in 64) or first in groups (fan-in 2: 4 files, then 2).
        for fan_in in [64, 2] {
            completions_merge(fan_in);
        }
    }

    fn completions_merge(fan_in: usize) {
        let dir = tempfile::tempdir().unwrap();
        let id = id(Mode::Sync);
        let (j, _) = Journal::open(dir.path(), &id, false, false).unwrap();
        for k in ["a", "b", "c", "d", "e"] {
            j.plan(&copy(k, &format!("e{k}"))).unwrap();
        }
        j.plan(&PlanRecord::Delete { key: "f".into(), size: 1 }).unwrap();
        j.plan(&PlanRecord::End).unwrap();
        j.copied("e", "de", None).unwrap();
        j.copied("c", "dc-first", None).unwrap();
        j.deleted("f").unwrap();
        j.copied("a", "da-first", None).unwrap();
        j.copied("c", "dc-second", None).unwrap();
        j.copied("zz", "stray", None).unwrap(); // not in the plan: ignored
        j.copied("a", "da", None).unwrap();
        j.copied("c", "dc", None).unwrap();
        j.copied("b", "db", None).unwrap();
        let run_dir = j.run_dir.clone();
        j.finish_in_chunks(false, 2, fan_in).unwrap();
        assert_eq!(
            index(dir.path(), &id),
            [
                ("a".into(), "ea".into(), "da".into()),
                ("b".into(), "eb".into(), "db".into()),
                ("c".into(), "ec".into(), "dc".into()),
                ("e".into(), "ee".into(), "de".into()),
            ],
            "fan-in {fan_in}: d never completed and has no record; a's and c's last completions win"
        );
        let left: Vec<String> = fs::read_dir(&run_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("done-sorted"))
            .collect();
        assert!(left.is_empty(), "the sorted runs are removed: {left:?}");
    }

    #[test]
    fn last_modified_times_reach_the_index() {
        // For stores that list no ETags, sync matches on the times (core::plan rule 2).
        let dir = tempfile::tempdir().unwrap();
        let id = id(Mode::Sync);
        let (j, _) = Journal::open(dir.path(), &id, false, false).unwrap();
        j.plan(&PlanRecord::Copy {
            key: "a".into(),
            size: 1,
            etag: "".into(),
            reason: Reason::New,
            modified: Some(100),
        })
        .unwrap();
        j.plan(&PlanRecord::Skip {
            key: "b".into(),
            size: 1,
            etag: "".into(),
            dest_etag: "".into(),
            modified: Some(110),
            dest_modified: Some(210),
        })
        .unwrap();
        j.plan(&PlanRecord::Copy {
            key: "c".into(),
            size: 1,
            etag: "".into(),
            reason: Reason::New,
            modified: Some(120),
        })
        .unwrap();
        j.plan(&PlanRecord::End).unwrap();
        j.copied("a", "da", Some(200)).unwrap();
        j.copied("c", "dc", None).unwrap();
        j.finish(true).unwrap();
        let mut r = IndexReader::for_run(dir.path(), &id).unwrap();
        let times: Vec<(String, Option<i64>, Option<i64>)> =
            r.page(10, None).unwrap().into_iter().map(|r| (r.key, r.source_modified, r.dest_modified)).collect();
        assert_eq!(
            times,
            [("a".into(), Some(100), Some(200)), ("b".into(), Some(110), Some(210)), ("c".into(), Some(120), None)]
        );
        // Older lines without times still read.
        let plan: PlanRecord = serde_json::from_str(r#"{"op":"copy","k":"x","s":1,"e":"q","r":"new"}"#).unwrap();
        assert_eq!(plan.listed().unwrap().modified, None);
    }

    /// The Rust names are long; the file keeps its one-letter names, so journals written by
    /// earlier versions still resume.
    #[test]
    fn plan_lines_keep_their_file_format() {
        let cases = [
            (
                PlanRecord::Copy {
                    key: "a b".into(),
                    size: 3,
                    etag: "e1".into(),
                    reason: Reason::New,
                    modified: Some(7),
                },
                r#"{"op":"copy","k":"a b","s":3,"e":"e1","r":"new","m":7}"#,
            ),
            (
                PlanRecord::Check {
                    key: "c".into(),
                    size: 4,
                    etag: "e2".into(),
                    dest_etag: "d2".into(),
                    modified: None,
                },
                r#"{"op":"check","k":"c","s":4,"e":"e2","d":"d2"}"#,
            ),
            (
                PlanRecord::Skip {
                    key: "s".into(),
                    size: 5,
                    etag: "e3".into(),
                    dest_etag: "d3".into(),
                    modified: Some(1),
                    dest_modified: Some(2),
                },
                r#"{"op":"skip","k":"s","s":5,"e":"e3","d":"d3","m":1,"dm":2}"#,
            ),
            (PlanRecord::Delete { key: "x".into(), size: 6 }, r#"{"op":"delete","k":"x","s":6}"#),
            (PlanRecord::End, r#"{"op":"end"}"#),
        ];
        for (record, line) in cases {
            assert_eq!(serde_json::to_string(&record).unwrap(), line);
            assert_eq!(serde_json::from_str::<PlanRecord>(line).unwrap(), record);
        }
    }

    #[test]
    fn resume_is_required_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Journal::open(dir.path(), &id(Mode::Cp), false, true),
            Err(JournalError::NothingToResume { .. })
        ));
    }
}
