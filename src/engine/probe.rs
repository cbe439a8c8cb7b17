//! Opt-in live probes: real requests with the exact headers the copier sends, written under
//! `<destination prefix>.s3ferry-probe/` and cleaned up. They run only when the operator asks
//! (`--probe`, or the console's confirmed `P`), and each says what it wrote and removed.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::config::Config;
use crate::core::preflight::checks::{Area, Check, Status, check};
use crate::core::preflight::denial;
use crate::engine::copier::object::copy_source;
use crate::engine::dest_write::DestWrite;
use crate::engine::errors::error_code;
use crate::engine::session::Session;

/// The prefix probes write under; nothing else in the bucket is touched.
pub fn probe_prefix(config: &Config) -> String {
    format!("{}.s3ferry-probe/", config.destination.prefix)
}

/// A probe that worked but could not clean up is a warning: something was left behind.
fn left_behind(mut c: Check) -> Check {
    if c.status == Status::Pass && c.detail.iter().any(|d| d.starts_with("could NOT")) {
        c.status = Status::Warn;
        c.summary.push_str(
            ", but its cleanup was refused: grant s3:DeleteObject and s3:AbortMultipartUpload on the probe prefix",
        );
    }
    c
}

pub async fn run(config: &Config, source: &Session, headers: &DestWrite) -> Vec<Check> {
    let tag = format!(
        "{:x}{:x}",
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
        std::process::id()
    );
    let key = format!("{}{tag}", probe_prefix(config));
    vec![
        left_behind(put_probe(config, source, headers, &key).await),
        left_behind(multipart_probe(config, source, headers, &format!("{key}-multipart")).await),
        left_behind(copy_probe(config, source, headers, &format!("{key}-copy")).await),
    ]
}

fn failed<E: ProvideErrorMetadata + std::error::Error + 'static>(
    id: &'static str,
    what: &str,
    err: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> Check {
    let code = error_code(err).unwrap_or_else(|| "Error".into());
    let message = match err {
        SdkError::ServiceError(se) => se.err().message().unwrap_or_default().to_string(),
        other => crate::engine::errors::error_chain(other),
    };
    let d = denial::classify(&code, &message);
    check(id, Area::Probes, Status::Fail, format!("{what}: {code}"))
        .with_detail([d.summary, format!("AWS said: {code}: {message}")])
}

async fn delete(source: &Session, config: &Config, headers: &DestWrite, key: &str) -> String {
    match headers.guard(source.s3.delete_object().bucket(&config.destination.bucket).key(key)).send().await {
        Ok(_) => format!("removed s3://{}/{key} (a versioned bucket keeps a delete marker)", config.destination.bucket),
        Err(e) => format!(
            "could NOT remove s3://{}/{key} ({}): delete it by hand",
            config.destination.bucket,
            error_code(&e).unwrap_or_default()
        ),
    }
}

async fn put_probe(config: &Config, source: &Session, h: &DestWrite, key: &str) -> Check {
    let id = "probe.put";
    let req = source.s3.put_object().bucket(&config.destination.bucket).key(key).body(ByteStream::from_static(b""));
    match h.object(req).send().await {
        Ok(_) => {
            let cleanup = delete(source, config, h, key).await;
            check(id, Area::Probes, Status::Pass, "a zero-byte PutObject with the copier's headers succeeded")
                .with_detail([format!("wrote s3://{}/{key}", config.destination.bucket), cleanup])
        }
        Err(e) => failed(id, "PutObject with the copier's headers", &e),
    }
}

async fn multipart_probe(config: &Config, source: &Session, h: &DestWrite, key: &str) -> Check {
    let id = "probe.multipart";
    let bucket = &config.destination.bucket;
    let create = h.object(source.s3.create_multipart_upload().bucket(bucket).key(key));
    let upload = match create.send().await {
        Ok(out) => out.upload_id.unwrap_or_default(),
        Err(e) => return failed(id, "CreateMultipartUpload (needs kms:GenerateDataKey)", &e),
    };
    let part = source.s3.upload_part().bucket(bucket).key(key).upload_id(&upload).part_number(1);
    let part = h.guard(part.body(ByteStream::from_static(b"s3ferry probe"))).send().await;
    let abort = h.guard(source.s3.abort_multipart_upload().bucket(bucket).key(key).upload_id(&upload)).send().await;
    let cleanup = match abort {
        Ok(_) => format!("aborted the upload of s3://{bucket}/{key}: nothing left behind"),
        Err(e) => format!(
            "could NOT abort upload {upload} of s3://{bucket}/{key} ({}): abort it by hand or let a lifecycle rule do it",
            error_code(&e).unwrap_or_default()
        ),
    };
    match part {
        Ok(_) => check(
            id,
            Area::Probes,
            Status::Pass,
            "multipart create + UploadPart succeeded (GenerateDataKey and Decrypt work)",
        )
        .with_detail([cleanup]),
        Err(e) => {
            let mut c = failed(id, "UploadPart (needs kms:Decrypt on the destination key)", &e);
            c.detail.push(cleanup);
            c
        }
    }
}

async fn copy_probe(config: &Config, source: &Session, h: &DestWrite, key: &str) -> Check {
    let id = "probe.copy";
    let listed = source
        .s3
        .list_objects_v2()
        .bucket(&config.source.bucket)
        .prefix(&config.source.prefix)
        .max_keys(100)
        .send()
        .await;
    let smallest = match &listed {
        Ok(page) => {
            page.contents().iter().filter(|o| o.size().unwrap_or(0) < 5 << 20).min_by_key(|o| o.size().unwrap_or(0))
        }
        Err(e) => return failed(id, "listing the source to pick an object to copy", e),
    };
    let Some(object) = smallest.and_then(|o| o.key()) else {
        return check(id, Area::Probes, Status::Warn, "no object under 5 MiB in the source prefix to copy");
    };
    let req = source.s3.copy_object().bucket(&config.destination.bucket).key(key);
    match h.object(req.copy_source(copy_source(&config.source.bucket, object))).send().await {
        Ok(_) => {
            let cleanup = delete(source, config, h, key).await;
            check(id, Area::Probes, Status::Pass, format!("copied s3://{}/{object} server-side", config.source.bucket))
                .with_detail([format!("to s3://{}/{key}", config.destination.bucket), cleanup])
        }
        Err(e) => failed(id, &format!("CopyObject of s3://{}/{object}", config.source.bucket), &e),
    }
}
