//! Planning a transfer: which objects to copy, skip or delete, decided by a streaming merge of
//! two sorted listings; include/exclude globs; multipart part sizing.
//!
//! Memory stays flat: [`SyncMerge`] holds at most the pages it was given that it has not yet
//! decided on (one ListObjectsV2 page per side, plus one page of the identity index), however
//! many objects the buckets hold.
//!
//! # Content identity (why a raw ETag is not enough)
//! An S3 ETag is an MD5 only for single-part, non-KMS objects. A copy into an SSE-KMS bucket, or a
//! copy with a different part layout, gets a different ETag for the same bytes. So `sync` decides
//! "unchanged" only from evidence that survives re-encryption:
//! 1. sizes differ -> changed;
//! 2. the identity index (written by s3ferry as copies complete) says this destination object
//!    (by its ETag) was copied from a source object with this ETag and size -> exact answer;
//!    When the store lists no ETags (s3s-fs, some S3-compatible stores), the index matches on
//!    last-modified times instead: the destination's as it was right after s3ferry wrote it,
//!    the source's as it was when copied. Any rewrite of an object sets a new last-modified
//!    time, so an equal pair means nobody wrote either side since (the rule `aws s3 sync` and
//!    rclone apply to every object; s3ferry only where ETags are missing);
//! 3. destination ETag equals source ETag -> the same bytes (same MD5, or same multipart layout
//!    of the same parts), unchanged;
//! 4. otherwise the destination object must be looked at ([`Decision::Check`]): a HEAD reads the
//!    `x-amz-meta-s3ferry-source-etag` s3ferry writes on multipart and streamed copies; when it
//!    matches the source ETag the object is unchanged, otherwise (absent or different) it is
//!    copied again. Copying is the safe default: an object written by another tool under SSE-KMS
//!    is copied once, and from then on the index knows it.

use std::cmp::Ordering;
use std::collections::VecDeque;

/// Smallest part S3 accepts (except the last).
pub const MIN_PART: u64 = 5 << 20;
/// Largest part and largest single CopyObject.
pub const MAX_PART: u64 = 5 << 30;
/// Most parts in one multipart upload.
pub const MAX_PARTS: u64 = 10_000;
/// Largest object S3 stores.
pub const MAX_OBJECT: u64 = 5 << 40;

/// An object as a listing reports it; `key` is relative to the listed prefix and `etag` has its
/// quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub etag: String,
    /// Last-modified time in milliseconds since the Unix epoch, when the listing gave one.
    pub modified: Option<i64>,
}

/// What s3ferry recorded about a destination object it wrote (or verified).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    /// Relative key.
    #[serde(rename = "k")]
    pub key: String,
    /// The source object's ETag and size when it was copied.
    #[serde(rename = "e")]
    pub source_etag: String,
    #[serde(rename = "s")]
    pub source_size: u64,
    /// The destination object's ETag right after the copy: if it changes, someone else wrote it.
    #[serde(rename = "d")]
    pub dest_etag: String,
    /// The source's last-modified time (ms) when it was copied.
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub source_modified: Option<i64>,
    /// The destination's last-modified time (ms) right after the copy, when the write said.
    #[serde(rename = "dm", default, skip_serializing_if = "Option::is_none")]
    pub dest_modified: Option<i64>,
}

impl Recorded {
    /// What the index keeps about `source` once its copy at the destination has `dest_etag`.
    pub fn of(source: Listed, dest_etag: String, dest_modified: Option<i64>) -> Recorded {
        Recorded {
            key: source.key,
            source_etag: source.etag,
            source_size: source.size,
            dest_etag,
            source_modified: source.modified,
            dest_modified,
        }
    }

    /// Whether this record is about the destination object listed now: same ETag, or, where
    /// the store lists no ETags, the last-modified time s3ferry saw right after writing it.
    pub fn describes(&self, dest: &Listed) -> bool {
        if !dest.etag.is_empty() {
            return self.dest_etag == dest.etag;
        }
        self.dest_modified.is_some() && self.dest_modified == dest.modified
    }

    /// Whether `source` is still the object that was copied: `None` when there is no evidence
    /// either way (no ETag and no last-modified time to compare).
    pub fn same_source(&self, source: &Listed) -> Option<bool> {
        if self.source_size != source.size {
            return Some(false);
        }
        if !source.etag.is_empty() && !self.source_etag.is_empty() {
            return Some(self.source_etag == source.etag);
        }
        match (self.source_modified, source.modified) {
            (Some(then), Some(now)) => Some(then == now),
            _ => None,
        }
    }
}

/// Why an object is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// `cp`: everything in scope is copied.
    Requested,
    /// Not at the destination.
    New,
    /// Different size or a different recorded identity.
    Changed,
    /// Same size, identity unknown (see the module docs, rule 4).
    Unverified,
}

/// One planning decision, in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Copy {
        object: Listed,
        reason: Reason,
    },
    /// Same size, identity unknown: read the destination's recorded source ETag, then copy or skip.
    Check {
        object: Listed,
        dest_etag: String,
    },
    /// Unchanged; `dest_etag` and `dest_modified` let the index record it.
    Skip {
        object: Listed,
        dest_etag: String,
        dest_modified: Option<i64>,
    },
    /// Only at the destination, and `--delete` was asked for.
    Delete {
        key: String,
        size: u64,
    },
    /// Only at the destination, kept (no `--delete`).
    Extra {
        key: String,
    },
}

impl Decision {
    pub fn key(&self) -> &str {
        match self {
            Decision::Copy { object, .. } | Decision::Check { object, .. } | Decision::Skip { object, .. } => {
                &object.key
            }
            Decision::Delete { key, .. } | Decision::Extra { key } => key,
        }
    }
}

/// Exact comparison of one key present on both sides (rules 1-4 of the module docs).
pub fn compare(source: &Listed, dest: &Listed, recorded: Option<&Recorded>) -> Decision {
    if source.size != dest.size {
        return Decision::Copy { object: source.clone(), reason: Reason::Changed };
    }
    let skip = || Decision::Skip { object: source.clone(), dest_etag: dest.etag.clone(), dest_modified: dest.modified };
    match recorded.filter(|r| r.describes(dest)).and_then(|r| r.same_source(source)) {
        Some(true) => return skip(),
        Some(false) => return Decision::Copy { object: source.clone(), reason: Reason::Changed },
        None => {}
    }
    // Some S3-compatible stores (s3s-fs, for one) list no ETags: two empty ETags prove nothing.
    if source.etag.is_empty() || dest.etag.is_empty() {
        return Decision::Check { object: source.clone(), dest_etag: dest.etag.clone() };
    }
    if source.etag == dest.etag {
        return skip();
    }
    Decision::Check { object: source.clone(), dest_etag: dest.etag.clone() }
}

/// The answer to a [`Decision::Check`] once the destination's `s3ferry-source-etag` is known.
pub fn resolve_check(source: &Listed, recorded_source_etag: Option<&str>) -> bool {
    recorded_source_etag.is_some_and(|e| e.trim_matches('"') == source.etag)
}

/// Which input [`SyncMerge`] needs before it can decide more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Source,
    Dest,
    Index,
}

/// A streaming three-way merge: the source listing, the destination listing and the identity
/// index, each sorted by key (S3 lists in UTF-8 byte order, which is `str`'s order).
/// Feed pages with `push_*`, mark the end with `finish_*`, and pull decisions with [`step`].
///
/// [`step`]: SyncMerge::step
#[derive(Debug)]
pub struct SyncMerge {
    filter: Filter,
    delete: bool,
    src: VecDeque<Listed>,
    dst: VecDeque<Listed>,
    idx: VecDeque<Recorded>,
    src_done: bool,
    dst_done: bool,
    idx_done: bool,
}

/// What [`SyncMerge::step`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Decided(Decision),
    Needs(Need),
    Done,
}

impl SyncMerge {
    pub fn new(filter: Filter, delete: bool) -> SyncMerge {
        SyncMerge {
            filter,
            delete,
            src: VecDeque::new(),
            dst: VecDeque::new(),
            idx: VecDeque::new(),
            src_done: false,
            dst_done: false,
            idx_done: false,
        }
    }

    /// Objects outside the include/exclude globs are dropped here, on both sides: `--delete`
    /// never touches a destination object the filters exclude.
    pub fn push_source(&mut self, page: impl IntoIterator<Item = Listed>) {
        let filter = &self.filter;
        self.src.extend(page.into_iter().filter(|o| filter.matches(&o.key)));
    }

    pub fn push_dest(&mut self, page: impl IntoIterator<Item = Listed>) {
        let filter = &self.filter;
        self.dst.extend(page.into_iter().filter(|o| filter.matches(&o.key)));
    }

    pub fn push_index(&mut self, records: impl IntoIterator<Item = Recorded>) {
        self.idx.extend(records);
    }

    pub fn finish_source(&mut self) {
        self.src_done = true;
    }

    pub fn finish_dest(&mut self) {
        self.dst_done = true;
    }

    pub fn finish_index(&mut self) {
        self.idx_done = true;
    }

    /// How many entries are buffered (for the memory bound's tests).
    pub fn buffered(&self) -> usize {
        self.src.len() + self.dst.len() + self.idx.len()
    }

    pub fn step(&mut self) -> Step {
        if self.src.is_empty() && !self.src_done {
            return Step::Needs(Need::Source);
        }
        if self.dst.is_empty() && !self.dst_done {
            return Step::Needs(Need::Dest);
        }
        let order = match (self.src.front(), self.dst.front()) {
            (None, None) => return Step::Done,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(s), Some(d)) => s.key.as_str().cmp(d.key.as_str()),
        };
        match order {
            Ordering::Less => {
                let object = self.src.pop_front().expect("checked above");
                Step::Decided(Decision::Copy { object, reason: Reason::New })
            }
            Ordering::Greater => {
                let d = self.dst.pop_front().expect("checked above");
                Step::Decided(if self.delete {
                    Decision::Delete { key: d.key, size: d.size }
                } else {
                    Decision::Extra { key: d.key }
                })
            }
            Ordering::Equal => {
                let key = self.src.front().map(|s| s.key.as_str()).unwrap_or_default();
                // Drop index records for keys before this one; they describe objects that are
                // gone from both listings (or outside the filters).
                while self.idx.front().is_some_and(|r| r.key.as_str() < key) {
                    self.idx.pop_front();
                }
                if self.idx.is_empty() && !self.idx_done {
                    return Step::Needs(Need::Index);
                }
                let s = self.src.pop_front().expect("checked above");
                let d = self.dst.pop_front().expect("checked above");
                let recorded = self.idx.front().filter(|r| r.key == s.key);
                Step::Decided(compare(&s, &d, recorded))
            }
        }
    }
}

/// Include/exclude globs over keys relative to the source prefix, applied in order, the later
/// winning (see [`Filter::new`]). Globs: `*` matches any run of
/// characters including `/` (as the AWS CLI's filters do), `?` one character, `[abc]`/`[a-z]`/
/// `[!abc]` one character of a set; `\` escapes the next character.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// (include?, glob), in the order given.
    rules: Vec<(bool, Glob)>,
    /// What the operator marked in the console (see [`Filter::within`]); empty: everything.
    scope: Vec<String>,
}

/// One `--include` or `--exclude` (or an entry of the config's lists), in the order given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FilterRule {
    pub include: bool,
    pub glob: String,
}

impl FilterRule {
    pub fn include(glob: &str) -> FilterRule {
        FilterRule { include: true, glob: glob.to_string() }
    }

    pub fn exclude(glob: &str) -> FilterRule {
        FilterRule { include: false, glob: glob.to_string() }
    }

    /// Includes then excludes: a key must match an include (when there are any) and no exclude.
    pub fn lists(include: &[String], exclude: &[String]) -> Vec<FilterRule> {
        let include = include.iter().map(|g| FilterRule::include(g));
        include.chain(exclude.iter().map(|g| FilterRule::exclude(g))).collect()
    }
}

impl Filter {
    /// Filters apply in order and the later wins, as in `aws s3 cp`: `--exclude '*' --include
    /// '*.csv'` takes the CSVs. Every key starts included, unless the first filter is an
    /// include: then only what some include takes (so `--include '*.csv'` alone takes the CSVs,
    /// where aws cli would take everything).
    pub fn new(rules: &[FilterRule]) -> Result<Filter, GlobError> {
        let rules = rules.iter().map(|r| Ok((r.include, Glob::new(&r.glob)?))).collect::<Result<_, GlobError>>()?;
        Ok(Filter { rules, scope: Vec::new() })
    }

    /// Whether no key can pass: a filter that matches every key excludes, and no include follows.
    pub fn matches_nothing(&self) -> bool {
        let last_total = self.rules.iter().rposition(|(_, g)| g.matches_everything());
        match last_total {
            Some(i) => !self.rules[i].0 && !self.rules[i + 1..].iter().any(|(include, _)| *include),
            None => false,
        }
    }

    /// Narrows the filter to the console's marks, relative to the source prefix: an entry ending
    /// in `/` takes every key under it, any other entry exactly that key. Marks are names, not
    /// globs, so a key holding `*` or `[` is marked as itself.
    pub fn within(mut self, scope: &[String]) -> Filter {
        self.scope = scope.to_vec();
        self
    }

    pub fn matches(&self, key: &str) -> bool {
        if !self.in_scope(key) {
            return false;
        }
        let mut included = self.rules.first().is_none_or(|(include, _)| !include);
        for (include, glob) in &self.rules {
            if glob.matches(key) {
                included = *include;
            }
        }
        included
    }

    fn in_scope(&self, key: &str) -> bool {
        self.scope.is_empty()
            || self.scope.iter().any(|e| if e.ends_with('/') { key.starts_with(e.as_str()) } else { key == e })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{glob}` is not a valid glob: {why}")]
pub struct GlobError {
    pub glob: String,
    pub why: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    Star,
    Class { negated: bool, ranges: Vec<(char, char)> },
}

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// `*` (or `**`): every key.
    fn matches_everything(&self) -> bool {
        self.tokens == [Token::Star]
    }

    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        let err = |why| GlobError { glob: pattern.to_string(), why };
        if pattern.is_empty() {
            return Err(err("it is empty"));
        }
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                '?' => tokens.push(Token::Any),
                '\\' => tokens.push(Token::Char(chars.next().ok_or_else(|| err("it ends with a lone `\\`"))?)),
                '[' => {
                    let negated = chars.next_if(|&c| c == '!' || c == '^').is_some();
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let c = chars.next().ok_or_else(|| err("a `[` is never closed"))?;
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        let c = if c == '\\' { chars.next().ok_or_else(|| err("a `[` is never closed"))? } else { c };
                        if chars.peek() == Some(&'-') {
                            chars.next();
                            match chars.next() {
                                Some(']') => {
                                    ranges.push((c, c));
                                    ranges.push(('-', '-'));
                                    break;
                                }
                                Some(hi) if hi >= c => ranges.push((c, hi)),
                                Some(_) => return Err(err("a range in `[...]` runs backwards")),
                                None => return Err(err("a `[` is never closed")),
                            }
                        } else {
                            ranges.push((c, c));
                        }
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                c => tokens.push(Token::Char(c)),
            }
        }
        Ok(Glob { tokens })
    }

    /// Linear-time wildcard match with single-star backtracking.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let (mut t, mut p) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::Star) => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                Some(tok) if one(tok, text[t]) => {
                    t += 1;
                    p += 1;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            }
        }
        self.tokens[p..].iter().all(|t| *t == Token::Star)
    }
}

fn one(token: &Token, c: char) -> bool {
    match token {
        Token::Char(x) => *x == c,
        Token::Any => true,
        Token::Class { negated, ranges } => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated,
        Token::Star => false,
    }
}

/// How an object is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartPlan {
    /// One CopyObject (or one GET + PUT when streaming).
    Single,
    /// `count` parts of `part_size` bytes, the last one `size - (count - 1) * part_size`.
    Multipart { part_size: u64, count: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{size} bytes is larger than the 5 TiB S3 allows for one object")]
pub struct TooLarge {
    pub size: u64,
}

/// Single copy up to `threshold`; above it, parts of at least `part_size`, grown (in whole MiB)
/// so the object fits in 10,000 parts, and never outside 5 MiB..=5 GiB.
pub fn part_plan(size: u64, threshold: u64, part_size: u64) -> Result<PartPlan, TooLarge> {
    if size > MAX_OBJECT {
        return Err(TooLarge { size });
    }
    if size <= threshold.min(MAX_PART) {
        return Ok(PartPlan::Single);
    }
    let mut part = part_size.clamp(MIN_PART, MAX_PART);
    let needed = size.div_ceil(MAX_PARTS);
    if needed > part {
        part = needed.div_ceil(1 << 20) * (1 << 20);
    }
    let part = part.min(MAX_PART);
    Ok(PartPlan::Multipart { part_size: part, count: size.div_ceil(part) })
}

/// The byte range (inclusive) of part `index` (0-based) of an object.
pub fn part_range(size: u64, part_size: u64, index: u64) -> (u64, u64) {
    let start = index * part_size;
    (start, (start + part_size).min(size) - 1)
}

#[cfg(test)]
mod tests;
