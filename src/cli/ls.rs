//! `s3ferry ls`: list a side's buckets, prefixes and objects the way its pane does.

use std::io::Write;

use crate::config::{Config, DEFAULT_LIST_PAGE_SIZE, MAX_LIST_PAGE_SIZE};
use crate::core::listing::{Entry, printable};
use crate::core::s3url::S3Location;
use crate::core::side::Side;
use crate::core::units::format_size;
use crate::core::units::format_time;
use crate::engine::lister::{PrefixPages, list_buckets};
use crate::engine::session::Session;

#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// What to list: s3://BUCKET/PREFIX. Default: the side's configured bucket and prefix.
    pub url: Option<String>,
    /// Which side's credentials to list with.
    #[arg(long, value_enum, default_value = "source")]
    pub side: Side,
    /// List the buckets the side's account owns instead of a prefix.
    #[arg(long, conflicts_with = "url")]
    pub buckets: bool,
    /// One JSON object per line: {"key","size","last_modified","storage_class"}, {"prefix"} or {"bucket"}.
    #[arg(long)]
    pub json: bool,
    /// Entries asked for per listing page (1-100000; default 1000). S3 never returns more than
    /// 1,000; some S3-compatible stores honour more.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LIST_PAGE_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=MAX_LIST_PAGE_SIZE as i64))]
    pub list_page_size: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum LsError {
    #[error(transparent)]
    Url(#[from] crate::core::s3url::S3UrlError),
    #[error(transparent)]
    Session(#[from] crate::engine::session::SessionError),
    #[error(transparent)]
    List(#[from] crate::engine::lister::ListError),
    #[error("writing the listing failed: {0}")]
    Output(#[from] std::io::Error),
}

impl LsError {
    pub fn is_usage(&self) -> bool {
        matches!(self, LsError::Url(_))
    }
}

/// Lists page by page, writing each page as it arrives: memory stays flat for any prefix size.
pub async fn run(config: &Config, args: &LsArgs, out: &mut impl Write) -> Result<usize, LsError> {
    let (access, via, default) = match args.side {
        Side::Source => (
            config.source.access.clone(),
            "source credentials",
            S3Location { bucket: config.source.bucket.clone(), prefix: config.source.prefix.clone() },
        ),
        Side::Destination => {
            let (access, via) = config.destination_browser();
            (
                access,
                via,
                S3Location { bucket: config.destination.bucket.clone(), prefix: config.destination.prefix.clone() },
            )
        }
    };
    let location = match &args.url {
        Some(url) => S3Location::parse(url)?,
        None => default,
    };
    let session = Session::connect(&access, via, Some(&location.bucket)).await?;
    let mut count = 0;
    if args.buckets {
        for entry in list_buckets(&session.s3, &session.info).await? {
            write_entry(out, &entry, args.json)?;
            count += 1;
        }
        return Ok(count);
    }
    let mut pages = PrefixPages::new(session.s3.clone(), &location.bucket, &location.prefix)
        .page_size(args.list_page_size)
        .following(&session);
    while let Some(page) = pages.next(&session.info).await {
        for entry in page? {
            write_entry(out, &entry, args.json)?;
            count += 1;
        }
        out.flush()?;
    }
    Ok(count)
}

fn write_entry(out: &mut impl Write, entry: &Entry, json: bool) -> std::io::Result<()> {
    if json {
        let value = match entry {
            Entry::Bucket { bucket, created } => serde_json::json!({"bucket": bucket, "created": created.map(rfc3339)}),
            Entry::Prefix { prefix } => serde_json::json!({"prefix": prefix}),
            Entry::Object { key, size, last_modified, storage_class } => serde_json::json!({
                "key": key, "size": size, "last_modified": last_modified.map(rfc3339), "storage_class": storage_class,
            }),
        };
        return writeln!(out, "{value}");
    }
    match entry {
        Entry::Bucket { bucket, created } => {
            writeln!(out, "{:<16}  {bucket}", created.map(format_time).unwrap_or_default())
        }
        // Keys may hold control characters: escaped in text, so they cannot rewrite the terminal.
        Entry::Prefix { prefix } => writeln!(out, "{:>16}  {:>10}  {:<12}  {}", "", "PRE", "", printable(prefix)),
        Entry::Object { key, size, last_modified, storage_class } => writeln!(
            out,
            "{:<16}  {:>10}  {:<12}  {}",
            last_modified.map(format_time).unwrap_or_default(),
            format_size(*size),
            storage_class,
            printable(key)
        ),
    }
}

/// "2026-11-25T18:21:07Z"
pub fn rfc3339(epoch: i64) -> String {
    let minute = format_time(epoch.div_euclid(60) * 60);
    format!("{}T{}:{:02}Z", &minute[..10], &minute[11..], epoch.rem_euclid(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines() {
        let mut out = Vec::new();
        let obj = Entry::Object {
            key: "a b+c.csv".into(),
            size: 1536,
            last_modified: Some(1_764_094_867),
            storage_class: "STANDARD".into(),
        };
        write_entry(&mut out, &obj, true).unwrap();
        write_entry(&mut out, &Entry::Prefix { prefix: "x/".into() }, true).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["key"], "a b+c.csv");
        assert_eq!(lines[0]["size"], 1536);
        assert_eq!(lines[0]["last_modified"], "2025-11-25T18:21:07Z");
        assert_eq!(lines[1]["prefix"], "x/");
    }
}
