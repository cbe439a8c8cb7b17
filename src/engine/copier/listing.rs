//! Recursive listings (no delimiter) as pages of [`Listed`], resumable with `StartAfter`.

use crate::core::listing::decode_listed;
use crate::core::plan::Listed;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::engine::copier::retry::{Class, MAX_EXPIRED_NO_RENEW, MAX_EXPIRED_RETRIES, classify};
use crate::engine::errors::{describe_sdk_error, error_code};
use crate::engine::session::Session;

/// One page, `None` at the end; an error is (code, description).
pub type Page = Result<Option<Vec<Listed>>, (String, String)>;

/// Keys a listing may hold ahead of the planner. In keys, not pages: with pages of 1,000 two
/// pages ahead keep the copies fed, and with pages of 10,000 one page is already plenty. Three
/// pages of 10,000 ahead were part of why a 100,000-object copy peaked at 61 MiB against 46 MiB
/// at 20,000 objects (53-54 MiB with one; README, benchmark results).
pub const PREFETCH_KEYS: u32 = 2_000;

/// Pages to hold ahead for this page size: at least one, so the next page is always on its way.
pub fn prefetch_depth(page_size: u32) -> usize {
    PREFETCH_KEYS.div_ceil(page_size.max(1)) as usize
}

type PageFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Page> + Send + 'a>>;

/// Runs `fetch` in a task, at most `depth` pages ahead of the reader. The slot is taken before
/// the request goes out, so a page being fetched counts: at most `depth` pages live beyond the
/// one being planned (sending after the fetch would hold one more, blocked in `send`).
fn spawn_prefetch<S, F>(depth: usize, mut source: S, fetch: F) -> Prefetched
where
    S: Send + 'static,
    F: for<'a> Fn(&'a mut S) -> PageFuture<'a> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(depth.max(1));
    let task = tokio::spawn(async move {
        loop {
            let Ok(slot) = tx.reserve().await else { return };
            let page = fetch(&mut source).await;
            let last = !matches!(page, Ok(Some(_)));
            slot.send(page);
            if last {
                return;
            }
        }
    });
    Prefetched { rx, _task: super::dispatch::AbortOnDrop(task), listed: 0, finished: false }
}

/// A cursor over every object under a prefix, in S3's key order.
pub struct ObjectPages {
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    token: Option<String>,
    start_after: Option<String>,
    page_size: i32,
    done: bool,
    pub listed: u64,
    /// Renews refused credentials (ExpiredToken) and tries the page again.
    session: Option<Session>,
}

impl ObjectPages {
    /// `after` is a key relative to `prefix`: listing resumes after it.
    pub fn new(s3: aws_sdk_s3::Client, bucket: &str, prefix: &str, after: Option<&str>) -> ObjectPages {
        ObjectPages {
            s3,
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            token: None,
            start_after: after.map(|a| format!("{prefix}{a}")),
            page_size: crate::config::DEFAULT_LIST_PAGE_SIZE as i32,
            done: false,
            listed: 0,
            session: None,
        }
    }

    /// Keys to ask for per page (MaxKeys); S3 caps it at 1,000.
    pub fn page_size(mut self, keys: u32) -> ObjectPages {
        self.page_size = i32::try_from(keys.max(1)).unwrap_or(i32::MAX);
        self
    }

    /// Pages refused with ExpiredToken are asked again after the session renews its
    /// credentials (a listing of millions of keys can outlive one credential).
    pub fn renewing(mut self, session: &Session) -> ObjectPages {
        self.session = Some(session.clone());
        self
    }

    /// The listing a transfer reads: renewing the session's expired credentials, prefetched.
    pub fn transfer(session: &Session, bucket: &str, prefix: &str, after: Option<&str>, page_size: u32) -> Prefetched {
        ObjectPages::new(session.s3.clone(), bucket, prefix, after).page_size(page_size).renewing(session).prefetch()
    }

    /// Lists ahead in a task of its own, [`prefetch_depth`] pages ahead of the planner: the two
    /// sides of a sync list at the same time, and the next page is on its way while this one is
    /// planned.
    pub fn prefetch(self) -> Prefetched {
        let depth = prefetch_depth(self.page_size.max(1) as u32);
        spawn_prefetch(depth, self, |pages| Box::pin(pages.next()))
    }

    /// The next page (keys relative to the prefix), `Ok(None)` at the end.
    pub async fn next(&mut self) -> Page {
        if self.done {
            return Ok(None);
        }
        let mut expired = 0;
        let page = loop {
            // encoding-type=url: a key holding a control character (legal in S3, not in XML 1.0)
            // would otherwise make the whole page unreadable.
            let mut req = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .max_keys(self.page_size)
                .encoding_type(aws_sdk_s3::types::EncodingType::Url);
            if let Some(t) = &self.token {
                req = req.continuation_token(t.clone());
            } else if let Some(a) = &self.start_after {
                req = req.start_after(a);
            }
            match req.send().await {
                Ok(page) => break page,
                Err(e) => {
                    let code = error_code(&e).unwrap_or_default();
                    let limit = match &self.session {
                        Some(s) if s.lifetime().renews => MAX_EXPIRED_RETRIES,
                        Some(_) => MAX_EXPIRED_NO_RENEW,
                        None => 0,
                    };
                    if classify(Some(&code), None, false) == Class::Expired && expired < limit {
                        expired += 1;
                        if let Some(s) = &self.session {
                            s.invalidate();
                        }
                        tokio::time::sleep(Duration::from_millis(250).saturating_mul(expired.min(8))).await;
                        continue;
                    }
                    return Err((code, describe_sdk_error(&e)));
                }
            }
        };
        let prefix_len = self.prefix.len();
        let objects: Vec<Listed> = page
            .contents()
            .iter()
            .filter_map(|o| {
                let key = decode_listed(o.key()?)?;
                Some(Listed {
                    key: key.get(prefix_len..)?.to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: o.e_tag().unwrap_or_default().trim_matches('"').to_string(),
                    modified: o.last_modified().and_then(|t| t.to_millis().ok()),
                })
            })
            .collect();
        self.listed += objects.len() as u64;
        self.token = page.next_continuation_token().map(str::to_string);
        self.done = self.token.is_none();
        Ok(Some(objects))
    }
}

/// A listing running ahead of its reader (see [`ObjectPages::prefetch`]); dropping it stops it.
pub struct Prefetched {
    rx: mpsc::Receiver<Page>,
    _task: super::dispatch::AbortOnDrop,
    pub listed: u64,
    finished: bool,
}

impl Prefetched {
    /// The next page, `Ok(None)` at the end, as [`ObjectPages::next`].
    pub async fn next(&mut self) -> Page {
        if self.finished {
            return Ok(None);
        }
        match self.rx.recv().await {
            Some(Ok(Some(page))) => {
                self.listed += page.len() as u64;
                Ok(Some(page))
            }
            Some(Ok(None)) => {
                self.finished = true;
                Ok(None)
            }
            Some(Err(e)) => {
                self.finished = true;
                Err(e)
            }
            // The task ended without saying the listing was complete: never take that as the end
            // (a plan would then be marked complete with objects missing).
            None => {
                self.finished = true;
                Err(("ListingStopped".into(), "the listing task stopped before the last page".into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(key: &str) -> Listed {
        Listed { key: key.into(), size: 1, etag: "e".into(), modified: None }
    }

    fn prefetched(pages: Vec<Page>) -> Prefetched {
        let (tx, rx) = mpsc::channel(pages.len().max(1));
        for p in pages {
            tx.try_send(p).unwrap();
        }
        let idle = tokio::spawn(async {});
        Prefetched { rx, _task: super::super::dispatch::AbortOnDrop(idle), listed: 0, finished: false }
    }

    #[test]
    fn prefetch_depth_holds_about_prefetch_keys() {
        for (page_size, depth) in [(1, 2_000), (100, 20), (999, 3), (1_000, 2), (1_001, 2), (2_000, 1), (10_000, 1)] {
            assert_eq!(prefetch_depth(page_size), depth, "page size {page_size}");
        }
        assert_eq!(prefetch_depth(0), 2_000, "a zero page size is taken as 1");
    }

    /// Five pages of one key each; counts the requests made.
    struct Counted {
        fetched: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    fn counted(depth: usize) -> (Prefetched, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let fetched = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let source = Counted { fetched: fetched.clone() };
        let p = spawn_prefetch(depth, source, |s| {
            Box::pin(async move {
                let n = s.fetched.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n < 5 { Ok(Some(vec![listed(&format!("k{n}"))])) } else { Ok(None) }
            })
        });
        (p, fetched)
    }

    #[tokio::test(start_paused = true)]
    async fn prefetch_requests_at_most_depth_pages_ahead() {
        use std::sync::atomic::Ordering::SeqCst;
        let idle = || tokio::time::sleep(std::time::Duration::from_secs(1));
        for depth in [1, 2] {
            let (mut p, fetched) = counted(depth);
            idle().await;
            assert_eq!(fetched.load(SeqCst), depth, "depth {depth}: before the first read");
            for taken in 1..=3 {
                assert!(p.next().await.unwrap().is_some());
                idle().await;
                assert_eq!(fetched.load(SeqCst), taken + depth, "depth {depth}: after {taken} pages read");
            }
        }
        // And the whole listing still arrives, ending with its end.
        let (mut p, _) = counted(1);
        let mut keys = 0;
        while let Some(page) = p.next().await.unwrap() {
            keys += page.len();
        }
        assert_eq!((keys, p.listed), (5, 5));
    }

    #[tokio::test]
    async fn a_listing_ends_only_when_it_says_so() {
        let mut p = prefetched(vec![Ok(Some(vec![listed("a"), listed("b")])), Ok(None)]);
        assert_eq!(p.next().await.unwrap().unwrap().len(), 2);
        assert_eq!(p.next().await.unwrap(), None);
        assert_eq!(p.next().await.unwrap(), None);
        assert_eq!(p.listed, 2);

        // The lister vanished after one page (a panic, an abort): an error, never "complete".
        let mut p = prefetched(vec![Ok(Some(vec![listed("a")]))]);
        assert!(p.next().await.unwrap().is_some());
        assert_eq!(p.next().await.unwrap_err().0, "ListingStopped");

        let mut p = prefetched(vec![Err(("AccessDenied".into(), "no".into()))]);
        assert_eq!(p.next().await.unwrap_err().0, "AccessDenied");
        assert_eq!(p.next().await.unwrap(), None, "nothing after the error");
    }
}
