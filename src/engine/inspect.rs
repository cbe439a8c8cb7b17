//! What the browser asks about one object or one prefix: an object's details (HeadObject, and
//! GetObjectTagging on request) and a prefix's totals (a full listing, counted as it streams).

use aws_sdk_s3::primitives::DateTime;
use tokio::sync::mpsc;

use crate::core::listing::{Entry, ObjectDetails};
use crate::core::side::Side;
use crate::engine::errors::describe_sdk_error;
use crate::engine::events::EngineEvent;
use crate::engine::lister::PrefixPages;
use crate::engine::session::Session;

/// An object's details could not be read: which object, as whom, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HeadObject s3://{bucket}/{key} as {who} failed: {detail}. Next: allow s3:GetObject on it")]
pub struct InspectError {
    pub bucket: String,
    pub key: String,
    pub who: String,
    pub detail: String,
}

/// HeadObject (and GetObjectTagging when `tags`): one line naming the object and the identity
/// when it fails.
pub async fn object_details(
    session: &Session,
    bucket: &str,
    key: &str,
    tags: bool,
) -> Result<ObjectDetails, InspectError> {
    let who = session.info.who();
    let head = session.s3.head_object().bucket(bucket).key(key).send().await.map_err(|e| InspectError {
        bucket: bucket.to_string(),
        key: key.to_string(),
        who: who.clone(),
        detail: describe_sdk_error(&e),
    })?;
    let mut metadata: Vec<(String, String)> =
        head.metadata().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    metadata.sort();
    let tags = if tags {
        Some(match session.s3.get_object_tagging().bucket(bucket).key(key).send().await {
            Ok(t) => Ok(t.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()),
            Err(e) => Err(format!(
                "GetObjectTagging as {who} failed: {}. Next: allow s3:GetObjectTagging",
                describe_sdk_error(&e)
            )),
        })
    } else {
        None
    };
    Ok(ObjectDetails {
        key: key.to_string(),
        size: head.content_length().unwrap_or(0).max(0) as u64,
        etag: head.e_tag().unwrap_or_default().trim_matches('"').to_string(),
        last_modified: head.last_modified().map(DateTime::secs),
        storage_class: head.storage_class().map(|c| c.as_str().to_string()).unwrap_or_else(|| "STANDARD".into()),
        encryption: head.server_side_encryption().map(|e| e.as_str().to_string()).unwrap_or_else(|| "none".into()),
        kms_key: head.ssekms_key_id().map(str::to_string),
        content_type: head.content_type().map(str::to_string),
        metadata,
        tags,
    })
}

/// Counts the objects and bytes under `prefix`, sending the running totals after every page;
/// the caller aborts the task to cancel.
pub async fn prefix_totals(
    side: Side,
    request: u64,
    session: Session,
    bucket: String,
    prefix: String,
    events: mpsc::UnboundedSender<EngineEvent>,
) {
    let mut pages = PrefixPages::new(session.s3.clone(), &bucket, &prefix).recursive().following(&session);
    let (mut objects, mut bytes) = (0u64, 0u64);
    while let Some(page) = pages.next(&session.info).await {
        let (done, error) = match page {
            Ok(entries) => {
                for e in entries {
                    if let Entry::Object { size, .. } = e {
                        objects += 1;
                        bytes += size;
                    }
                }
                (pages.is_done(), None)
            }
            Err(e) => (true, Some(e.message)),
        };
        let event = EngineEvent::Totals { side, request, objects, bytes, done, error };
        if events.send(event).is_err() || done {
            return;
        }
    }
}
