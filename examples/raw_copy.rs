//! The bench bed's ceiling and workload generator: a minimal aws-sdk-s3 client with N requests
//! in flight and nothing else (no planning, journal, retry policy or UI). Used by
//! `scripts/bench-peers`; not part of s3ferry.
//!
//! ```text
//! raw_copy put        --endpoint URL --bucket B --count N --size BYTES [--stride K] [--seed S] [--inflight C]
//! raw_copy put-large  --endpoint URL --bucket B --key K --size BYTES [--part BYTES] [--inflight C]
//! raw_copy copy       --endpoint URL --src B --dst B [--inflight C]
//! raw_copy copy-large --endpoint URL --src B --key K --dst B [--part BYTES] [--inflight C]
//! raw_copy sync       --endpoint URL --src B --dst B [--inflight C]
//! raw_copy list       --endpoint URL --bucket B [--bucket2 B2]
//! raw_copy verify     --endpoint URL --src B --dst B [--stride K] [--inflight C]
//! ```
//! `copy` streams ListObjectsV2 pages into CopyObject calls; `copy-large` is CreateMultipartUpload,
//! UploadPartCopy for every part, CompleteMultipartUpload; `sync` lists both sides and copies what is
//! missing, differs in size or is newer at the source (the rule aws cli and s5cmd use); `verify`
//! HEADs every K-th source key on both sides and counts ETag mismatches. Listings ask for
//! `--page-size` keys a page (default 1,000, S3's maximum). Each command prints one
//! JSON line: `{"op","objects","bytes","seconds","inflight","errors"}`. Credentials come from
//! AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (default `bench`/`benchsecret`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

type Res<T> = Result<T, String>;

const ATTEMPTS: u32 = 3;

struct Args {
    cmd: String,
    flags: HashMap<String, String>,
}

impl Args {
    fn parse() -> Res<Args> {
        let mut it = std::env::args().skip(1);
        let cmd = it.next().ok_or("usage: raw_copy COMMAND --flag value ... (see the file's doc comment)")?;
        let mut flags = HashMap::new();
        while let Some(k) = it.next() {
            let name = k.strip_prefix("--").ok_or_else(|| format!("unexpected argument `{k}`"))?;
            let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            flags.insert(name.to_string(), v);
        }
        Ok(Args { cmd, flags })
    }

    fn str(&self, name: &str) -> Res<String> {
        self.flags.get(name).cloned().ok_or_else(|| format!("--{name} is required"))
    }

    fn num(&self, name: &str, default: u64) -> Res<u64> {
        match self.flags.get(name) {
            Some(v) => v.parse().map_err(|_| format!("--{name}: `{v}` is not a number")),
            None => Ok(default),
        }
    }
}

#[derive(Default)]
struct Tally {
    objects: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
}

fn client(endpoint: &str) -> Client {
    let key = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "bench".into());
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "benchsecret".into());
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(key, secret, None, None, "bench"))
        .build();
    Client::from_conf(conf)
}

/// Runs `f` up to [`ATTEMPTS`] times; counts a final failure in `errors`.
async fn retry<T, F, Fut>(tally: &Tally, what: &str, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Res<T>>,
{
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        match f().await {
            Ok(v) => return Some(v),
            Err(e) => last = e,
        }
    }
    if tally.errors.fetch_add(1, Ordering::Relaxed) < 5 {
        eprintln!("raw_copy: {what}: {last}");
    }
    None
}

fn err(e: impl std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(&format!(": {inner}"));
        src = inner.source();
    }
    s
}

fn key(i: u64) -> String {
    format!("obj-{i:07}")
}

/// Object body: a shared pattern with the index and seed stamped in, so every ETag differs.
fn body(base: &[u8], i: u64, seed: u64) -> Bytes {
    let mut b = base.to_vec();
    let stamp = format!("{i:016}:{seed:016}:");
    let n = stamp.len().min(b.len());
    b[..n].copy_from_slice(&stamp.as_bytes()[..n]);
    Bytes::from(b)
}

#[derive(Clone)]
struct Entry {
    size: u64,
    modified: Option<SystemTime>,
}

/// Streams every key of `bucket` into `tx` (page by page), returning how many.
async fn list_into(s3: Client, bucket: String, page_size: i32, tx: mpsc::Sender<(String, Entry)>) -> Res<u64> {
    let mut pages = s3.list_objects_v2().bucket(&bucket).max_keys(page_size).into_paginator().send();
    let mut n = 0;
    while let Some(page) = pages.next().await {
        let page = page.map_err(err)?;
        for o in page.contents() {
            let entry = Entry {
                size: o.size().unwrap_or(0).max(0) as u64,
                modified: o.last_modified().and_then(|t| SystemTime::try_from(*t).ok()),
            };
            n += 1;
            if tx.send((o.key().unwrap_or_default().to_string(), entry)).await.is_err() {
                return Ok(n);
            }
        }
    }
    Ok(n)
}

async fn list_all(s3: &Client, bucket: &str, page_size: i32) -> Res<HashMap<String, Entry>> {
    let (tx, mut rx) = mpsc::channel(4_096);
    let lister = tokio::spawn(list_into(s3.clone(), bucket.to_string(), page_size, tx));
    let mut map = HashMap::new();
    while let Some((k, e)) = rx.recv().await {
        map.insert(k, e);
    }
    lister.await.map_err(err)??;
    Ok(map)
}

async fn copy_one(s3: &Client, tally: &Tally, src: &str, dst: &str, key: &str, size: u64) {
    let source = format!("{src}/{key}");
    let ok = retry(tally, &format!("CopyObject {key}"), || async {
        s3.copy_object().bucket(dst).key(key).copy_source(&source).send().await.map_err(err)
    })
    .await;
    if ok.is_some() {
        tally.objects.fetch_add(1, Ordering::Relaxed);
        tally.bytes.fetch_add(size, Ordering::Relaxed);
    }
}

/// Runs `work` for every item from `rx` with at most `inflight` at once.
async fn pump<T, F, Fut>(mut rx: mpsc::Receiver<T>, inflight: usize, work: F)
where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let sem = Arc::new(Semaphore::new(inflight));
    let mut set = JoinSet::new();
    while let Some(item) = rx.recv().await {
        let permit = sem.clone().acquire_owned().await.expect("semaphore open");
        let fut = work(item);
        set.spawn(async move {
            fut.await;
            drop(permit);
        });
        while set.try_join_next().is_some() {}
    }
    while set.join_next().await.is_some() {}
}

async fn run(a: &Args) -> Res<(u64, Tally)> {
    let s3 = client(&a.str("endpoint")?);
    let inflight = a.num("inflight", 64)?.max(1) as usize;
    // MaxKeys: S3 answers at most 1,000 whatever is asked; some S3-compatible stores honour more.
    let page_size = i32::try_from(a.num("page-size", 1000)?.clamp(1, 1_000_000)).unwrap_or(1000);
    let tally = Arc::new(Tally::default());
    match a.cmd.as_str() {
        "put" => {
            let (bucket, count, size) = (a.str("bucket")?, a.num("count", 0)?, a.num("size", 100 << 10)?);
            let (stride, seed) = (a.num("stride", 1)?.max(1), a.num("seed", 0)?);
            let base: Arc<[u8]> = (0..size).map(|i| (i % 251) as u8).collect::<Vec<_>>().into();
            let (tx, rx) = mpsc::channel(1_024);
            tokio::spawn(async move {
                for i in (0..count).step_by(stride as usize) {
                    if tx.send(i).await.is_err() {
                        break;
                    }
                }
            });
            let (s3, t) = (s3.clone(), tally.clone());
            pump(rx, inflight, move |i| {
                let (s3, t, bucket, base) = (s3.clone(), t.clone(), bucket.clone(), base.clone());
                async move {
                    let data = body(&base, i, seed);
                    let ok = retry(&t, &format!("PutObject {}", key(i)), || async {
                        let body = ByteStream::from(data.clone());
                        s3.put_object().bucket(&bucket).key(key(i)).body(body).send().await.map_err(err)
                    })
                    .await;
                    if ok.is_some() {
                        t.objects.fetch_add(1, Ordering::Relaxed);
                        t.bytes.fetch_add(size, Ordering::Relaxed);
                    }
                }
            })
            .await;
        }
        "put-large" => {
            let (bucket, key, size) = (a.str("bucket")?, a.str("key")?, a.num("size", 0)?);
            let part = a.num("part", 64 << 20)?;
            let up = s3.create_multipart_upload().bucket(&bucket).key(&key).send().await.map_err(err)?;
            let id = up.upload_id().unwrap_or_default().to_string();
            let base: Arc<[u8]> = (0..part).map(|i| (i % 253) as u8).collect::<Vec<_>>().into();
            let parts = size.div_ceil(part);
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(async move {
                for n in 1..=parts {
                    let _ = tx.send(n).await;
                }
            });
            let done = Arc::new(std::sync::Mutex::new(Vec::new()));
            let (s3c, t, d) = (s3.clone(), tally.clone(), done.clone());
            let (b2, k2, id2) = (bucket.clone(), key.clone(), id.clone());
            pump(rx, inflight, move |n| {
                let (s3, t, d, base) = (s3c.clone(), t.clone(), d.clone(), base.clone());
                let (bucket, key, id) = (b2.clone(), k2.clone(), id2.clone());
                let len = part.min(size - (n - 1) * part);
                async move {
                    let data = body(&base[..len as usize], n, 0);
                    let out = retry(&t, &format!("UploadPart {n}"), || async {
                        let body = ByteStream::from(data.clone());
                        s3.upload_part()
                            .bucket(&bucket)
                            .key(&key)
                            .upload_id(&id)
                            .part_number(n as i32)
                            .body(body)
                            .send()
                            .await
                            .map_err(err)
                    })
                    .await;
                    if let Some(o) = out {
                        t.bytes.fetch_add(len, Ordering::Relaxed);
                        let etag = o.e_tag().unwrap_or_default().to_string();
                        d.lock()
                            .expect("parts")
                            .push(CompletedPart::builder().part_number(n as i32).e_tag(etag).build());
                    }
                }
            })
            .await;
            complete(&s3, &bucket, &key, &id, &done).await?;
            tally.objects.fetch_add(1, Ordering::Relaxed);
        }
        "copy" => {
            let (src, dst) = (a.str("src")?, a.str("dst")?);
            let (tx, rx) = mpsc::channel(2_048);
            let lister = tokio::spawn(list_into(s3.clone(), src.clone(), page_size, tx));
            let (s3c, t) = (s3.clone(), tally.clone());
            pump(rx, inflight, move |(k, e): (String, Entry)| {
                let (s3, t, src, dst) = (s3c.clone(), t.clone(), src.clone(), dst.clone());
                async move { copy_one(&s3, &t, &src, &dst, &k, e.size).await }
            })
            .await;
            lister.await.map_err(err)??;
        }
        "copy-large" => {
            let (src, key, dst) = (a.str("src")?, a.str("key")?, a.str("dst")?);
            let part = a.num("part", 64 << 20)?;
            let head = s3.head_object().bucket(&src).key(&key).send().await.map_err(err)?;
            let size = head.content_length().unwrap_or(0).max(0) as u64;
            let up = s3.create_multipart_upload().bucket(&dst).key(&key).send().await.map_err(err)?;
            let id = up.upload_id().unwrap_or_default().to_string();
            let parts = size.div_ceil(part);
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(async move {
                for n in 1..=parts {
                    let _ = tx.send(n).await;
                }
            });
            let done = Arc::new(std::sync::Mutex::new(Vec::new()));
            let source = format!("{src}/{key}");
            let (s3c, t, d) = (s3.clone(), tally.clone(), done.clone());
            let (b2, k2, id2) = (dst.clone(), key.clone(), id.clone());
            pump(rx, inflight, move |n| {
                let (s3, t, d, source) = (s3c.clone(), t.clone(), d.clone(), source.clone());
                let (bucket, key, id) = (b2.clone(), k2.clone(), id2.clone());
                let start = (n - 1) * part;
                let end = (start + part).min(size) - 1;
                async move {
                    let out = retry(&t, &format!("UploadPartCopy {n}"), || async {
                        s3.upload_part_copy()
                            .bucket(&bucket)
                            .key(&key)
                            .upload_id(&id)
                            .part_number(n as i32)
                            .copy_source(&source)
                            .copy_source_range(format!("bytes={start}-{end}"))
                            .send()
                            .await
                            .map_err(err)
                    })
                    .await;
                    if let Some(o) = out {
                        t.bytes.fetch_add(end + 1 - start, Ordering::Relaxed);
                        let etag = o.copy_part_result().and_then(|r| r.e_tag()).unwrap_or_default().to_string();
                        d.lock()
                            .expect("parts")
                            .push(CompletedPart::builder().part_number(n as i32).e_tag(etag).build());
                    }
                }
            })
            .await;
            complete(&s3, &dst, &key, &id, &done).await?;
            tally.objects.fetch_add(1, Ordering::Relaxed);
        }
        "sync" => {
            let (src, dst) = (a.str("src")?, a.str("dst")?);
            let (from, to) = tokio::join!(list_all(&s3, &src, page_size), list_all(&s3, &dst, page_size));
            let (from, to) = (from?, to?);
            let (tx, rx) = mpsc::channel(2_048);
            tokio::spawn(async move {
                for (k, e) in from {
                    let stale = match to.get(&k) {
                        None => true,
                        Some(d) => d.size != e.size || e.modified > d.modified,
                    };
                    if stale && tx.send((k, e)).await.is_err() {
                        break;
                    }
                }
            });
            let (s3c, t) = (s3.clone(), tally.clone());
            pump(rx, inflight, move |(k, e): (String, Entry)| {
                let (s3, t, src, dst) = (s3c.clone(), t.clone(), src.clone(), dst.clone());
                async move { copy_one(&s3, &t, &src, &dst, &k, e.size).await }
            })
            .await;
        }
        "list" => {
            // --bucket2: a second listing at the same time (a sync's two sides).
            let (tx, mut rx) = mpsc::channel(4_096);
            let mut listers = vec![tokio::spawn(list_into(s3.clone(), a.str("bucket")?, page_size, tx.clone()))];
            if let Ok(second) = a.str("bucket2") {
                listers.push(tokio::spawn(list_into(s3.clone(), second, page_size, tx.clone())));
            }
            drop(tx);
            while let Some((_, e)) = rx.recv().await {
                tally.objects.fetch_add(1, Ordering::Relaxed);
                tally.bytes.fetch_add(e.size, Ordering::Relaxed);
            }
            for l in listers {
                l.await.map_err(err)??;
            }
        }
        "verify" => {
            let (src, dst, stride) = (a.str("src")?, a.str("dst")?, a.num("stride", 1)?.max(1) as usize);
            let keys = list_all(&s3, &src, page_size).await?;
            let mut keys: Vec<String> = keys.into_keys().collect();
            keys.sort();
            let (tx, rx) = mpsc::channel(2_048);
            tokio::spawn(async move {
                for k in keys.into_iter().step_by(stride) {
                    if tx.send(k).await.is_err() {
                        break;
                    }
                }
            });
            let (s3c, t) = (s3.clone(), tally.clone());
            pump(rx, inflight, move |k: String| {
                let (s3, t, src, dst) = (s3c.clone(), t.clone(), src.clone(), dst.clone());
                async move {
                    let a = s3.head_object().bucket(&src).key(&k).send().await.map(|h| h.e_tag().map(str::to_string));
                    let b = s3.head_object().bucket(&dst).key(&k).send().await.map(|h| h.e_tag().map(str::to_string));
                    match (a, b) {
                        (Ok(x), Ok(y)) if x == y && x.is_some() => {
                            t.objects.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            if t.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("raw_copy: verify: {k} differs or is missing at the destination");
                            }
                        }
                    }
                }
            })
            .await;
        }
        other => return Err(format!("unknown command `{other}`")),
    }
    let t = Arc::try_unwrap(tally).map_err(|_| "tasks still running".to_string())?;
    Ok((inflight as u64, t))
}

async fn complete(
    s3: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    done: &std::sync::Mutex<Vec<CompletedPart>>,
) -> Res<()> {
    let mut parts = std::mem::take(&mut *done.lock().expect("parts"));
    parts.sort_by_key(|p| p.part_number());
    let upload = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(upload)
        .send()
        .await
        .map_err(err)?;
    Ok(())
}

fn main() {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("raw_copy: {e}");
            std::process::exit(2);
        }
    };
    let threads = std::env::var("RAW_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build();
    let rt = rt.expect("tokio runtime");
    let started = Instant::now();
    match rt.block_on(run(&args)) {
        Ok((inflight, t)) => {
            let line = serde_json::json!({
                "op": args.cmd,
                "objects": t.objects.load(Ordering::Relaxed),
                "bytes": t.bytes.load(Ordering::Relaxed),
                "seconds": started.elapsed().as_secs_f64(),
                "inflight": inflight,
                "errors": t.errors.load(Ordering::Relaxed),
            });
            println!("{line}");
            if t.errors.load(Ordering::Relaxed) > 0 {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("raw_copy: {}: {e}", args.cmd);
            std::process::exit(1);
        }
    }
}
