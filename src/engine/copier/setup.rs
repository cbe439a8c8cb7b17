//! Setup, before the first copy: the journal (opened and locked first: whether there is a
//! listing to start depends on it), the sessions and how the copy is routed (server-side with
//! the source identity, or streamed through two), the destination's write headers, and the
//! context every worker shares.

use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_s3::types::{ObjectCannedAcl, ObjectOwnership};
use tokio::sync::mpsc;

use crate::config::{Access, Config, TransferConfig};
use crate::core::progress::{Method, Mode, TransferEvent};
use crate::engine::copier::context::{Ctx, Endpoint, Shared, Sizes};
use crate::engine::copier::limiter::{self, Limiter};
use crate::engine::copier::listing::ObjectPages;
use crate::engine::copier::planner::Listings;
use crate::engine::copier::{Options, ResumePolicy, STREAM_BUFFER, TransferError};
use crate::engine::dest_write::DestWrite;
use crate::engine::errors::{describe_sdk_error, error_code};
use crate::engine::journal::{self, IndexReader, Journal, Resumed, RunIdentity};
use crate::engine::session::Session;

/// Removes a directory when dropped, unless told to keep it.
pub(crate) struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    pub(crate) fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The run's journal and what an earlier run of the same transfer left.
pub(crate) struct Opened {
    pub(crate) id: RunIdentity,
    pub(crate) state_dir: PathBuf,
    /// None for a dry run: it writes nothing.
    pub(crate) journal: Option<Arc<Journal>>,
    pub(crate) resumed: Option<Resumed>,
    /// A journal this run created goes again if the run ends before planning (credentials
    /// refused, say): the next run would otherwise "resume" a run that never began.
    pub(crate) unplanned: RemoveOnDrop,
    /// Sync's identity index of earlier completions.
    pub(crate) index: Option<IndexReader>,
}

pub(crate) fn open_journal(config: &Config, opts: &Options) -> Result<Opened, TransferError> {
    let settings = &opts.settings;
    let (include, exclude, filters) = RunIdentity::filter_fields(&settings.filters);
    let id = RunIdentity {
        source: format!("s3://{}/{}", config.source.bucket, config.source.prefix),
        destination: format!("s3://{}/{}", config.destination.bucket, config.destination.prefix),
        source_endpoint: config.source.access.endpoint_url.clone(),
        destination_endpoint: config.destination.access.endpoint_url.clone(),
        mode: opts.mode,
        include,
        exclude,
        filters,
        delete: settings.delete && opts.mode == Mode::Sync,
        scope: settings.scope.clone(),
    };
    let state_dir = config.state_dir();
    let fresh = opts.resume == ResumePolicy::Fresh;
    let (journal, resumed) = if opts.dry_run {
        // A dry run writes nothing, but reads what an earlier run did: it plans only the rest.
        (None, if fresh { None } else { journal::peek(&state_dir, &id)? })
    } else {
        let (j, r) = Journal::open(&state_dir, &id, fresh, opts.resume == ResumePolicy::Require)?;
        (Some(Arc::new(j)), r)
    };
    let unplanned = RemoveOnDrop((journal.is_some() && resumed.is_none()).then(|| id.run_dir(&state_dir)));
    let index = match opts.mode {
        Mode::Sync => Some(IndexReader::for_run(&state_dir, &id)?),
        Mode::Cp => None,
    };
    Ok(Opened { id, state_dir, journal, resumed, unplanned, index })
}

/// The sessions a run uses and how it copies.
pub(crate) struct Routed {
    pub(crate) src: Session,
    /// The destination writer's session, or the source identity in the destination's Region.
    pub(crate) dst: Session,
    /// `[destination.audit]`: reads the destination's settings and, for verify, its objects.
    pub(crate) audit: Option<Session>,
    pub(crate) method: Method,
    /// None when the plan is complete (a resume of a fully planned run lists nothing).
    pub(crate) listings: Option<Listings>,
}

/// Sessions: the source; the destination writer (its own credentials => streaming), else the
/// source identity in the destination's Region (server-side copy). The source's first page is
/// on its way while STS confirms the source identity and the destination's Region and Object
/// Ownership are looked up: three round trips less before the first copy.
pub(crate) async fn connect(
    config: &Config,
    opts: &Options,
    resumed: Option<&Resumed>,
) -> Result<Routed, TransferError> {
    let listing = !resumed.is_some_and(Resumed::whole_plan);
    let after = resumed.and_then(|r| r.last_planned_key.clone());
    let start_listing = |session: &Session, bucket: &str, prefix: &str| {
        ObjectPages::transfer(session, bucket, prefix, after.as_deref(), opts.settings.list_page_size)
    };
    let (src, source_pages) =
        Session::connect_with(&config.source.access, "source credentials", Some(&config.source.bucket), |s| {
            listing.then(|| start_listing(s, &config.source.bucket, &config.source.prefix))
        })
        .await?;
    // The destination's session and the audit identity (its account decides
    // ExpectedBucketOwner) are looked up at the same time.
    let (destination, audit) = tokio::join!(destination(config, &src), audit(config));
    let (dst, method) = destination?;
    let listings = source_pages.map(|source| Listings {
        source,
        // A dry-run cp lists the destination too: the plan says what it would overwrite.
        destination: (opts.mode == Mode::Sync || opts.dry_run)
            .then(|| start_listing(&dst, &config.destination.bucket, &config.destination.prefix)),
    });
    Ok(Routed { src, dst, audit, method, listings })
}

async fn destination(config: &Config, src: &Session) -> Result<(Session, Method), TransferError> {
    if let Some(access) = config.destination_writer() {
        let session = Session::connect(&access, "destination credentials", Some(&config.destination.bucket)).await?;
        return Ok((session, Method::Stream));
    }
    let via = "source credentials (destination side)";
    let endpoint = config.source.access.endpoint_url.clone();
    let dst_endpoint = config.destination.access.endpoint_url.clone();
    let session = if dst_endpoint.is_none() || dst_endpoint == endpoint {
        src.sibling(via, &config.destination.bucket, config.destination.access.region.as_deref()).await
    } else {
        let access = with_region(config.source.access.clone(), config.destination.access.region.clone(), dst_endpoint);
        Session::connect(&access, via, Some(&config.destination.bucket)).await?
    };
    Ok((session, Method::ServerSide))
}

async fn audit(config: &Config) -> Option<Session> {
    let a = config.destination.audit.as_ref()?;
    let endpoint = config.destination.access.endpoint_url.clone().or(config.source.access.endpoint_url.clone());
    let a = with_region(a.clone(), a.region.clone(), endpoint);
    Session::connect(&a, "audit credentials", Some(&config.destination.bucket)).await.ok()
}

fn with_region(mut access: Access, region: Option<String>, endpoint: Option<String>) -> Access {
    access.region = region;
    if access.endpoint_url.is_none() {
        access.endpoint_url = endpoint;
    }
    access
}

/// The account named in a key ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`).
fn key_account(arn: &str) -> Option<String> {
    arn.split(':').nth(4).filter(|a| a.len() == 12).map(str::to_string)
}

/// The destination's write headers and its Object Ownership setting: its account (from the
/// key ARN, the audit identity, or the destination writer) decides ExpectedBucketOwner, its
/// Object Ownership the ACL. Warnings go out as events.
pub(crate) async fn dest_writes(
    config: &Config,
    routed: &Routed,
    emit: &impl Fn(TransferEvent),
) -> (DestWrite, Option<String>) {
    let expected_owner = config
        .destination
        .kms_key_arn
        .as_deref()
        .and_then(key_account)
        .or_else(|| routed.audit.as_ref().map(|a| a.info.identity.account.clone()))
        .or_else(|| (routed.method == Method::Stream).then(|| routed.dst.info.identity.account.clone()));
    if expected_owner.is_none() {
        emit(TransferEvent::Warning {
            message: "the destination bucket's account is unknown (no kms_key_arn, audit or destination credentials): ExpectedBucketOwner is not sent".into(),
        });
    }
    // Destination credentials first, then audit, then the source identity.
    let mut readers: Vec<&Session> = Vec::new();
    if routed.method == Method::Stream {
        readers.push(&routed.dst);
    }
    readers.extend(&routed.audit);
    if routed.method == Method::ServerSide {
        readers.push(&routed.dst);
    }
    let (ownership, acl, warning) = ownership(&readers, &config.destination.bucket, expected_owner.as_deref()).await;
    if let Some(message) = warning {
        emit(TransferEvent::Warning { message });
    }
    (DestWrite { kms_key_arn: config.destination.kms_key_arn.clone(), expected_owner, acl }, ownership)
}

/// The context every worker shares, and the concurrency the run starts at.
pub(crate) fn context(
    config: &Config,
    settings: &TransferConfig,
    routed: &Routed,
    writes: DestWrite,
    journal: Option<Arc<Journal>>,
    events: mpsc::UnboundedSender<TransferEvent>,
) -> (Ctx, usize) {
    let emit = |e| {
        let _ = events.send(e);
    };
    let (start, ceiling) = within_open_files(settings, routed.method, &emit);
    let sizes = Sizes { method: routed.method, threshold: settings.multipart_threshold, part_size: settings.part_size };
    let shared = Shared::new(Limiter::new(start, ceiling), (STREAM_BUFFER / 1024) as u32, events, journal);
    let src = Endpoint::of(&routed.src, &config.source.bucket, &config.source.prefix);
    let dst = Endpoint::of(&routed.dst, &config.destination.bucket, &config.destination.prefix);
    (Ctx::new(src, dst, writes, sizes, shared), start)
}

/// The starting limit and ceiling, lowered (with a warning) to what the process's open-file
/// limit allows: past it, sockets fail to open and requests fail with "Too many open files".
fn within_open_files(settings: &TransferConfig, method: Method, emit: &impl Fn(TransferEvent)) -> (usize, usize) {
    let (start, ceiling) = (settings.concurrency, settings.max_concurrency.max(settings.concurrency));
    let Some(files) = crate::engine::open_files::limit() else { return (start, ceiling) };
    let per = if method == Method::Stream { 2 } else { 1 };
    let allowed = limiter::open_file_ceiling(files, per);
    if ceiling <= allowed {
        return (start, ceiling);
    }
    emit(TransferEvent::Warning {
        message: format!(
            "the open-file limit ({files}, ulimit -n) allows about {allowed} requests in flight: at most {allowed} \
             instead of {ceiling}. Raise the hard limit (ulimit -Hn, or LimitNOFILE= for a service) to go further"
        ),
    });
    (start.min(allowed), allowed)
}

/// Object Ownership decides the ACL header: none for BucketOwnerEnforced (ACLs disabled; any
/// other ACL fails), `bucket-owner-full-control` for BucketOwnerPreferred and ObjectWriter.
/// Tried with each reader in turn (destination credentials > audit > source identity).
async fn ownership(
    readers: &[&Session],
    bucket: &str,
    owner: Option<&str>,
) -> (Option<String>, Option<ObjectCannedAcl>, Option<String>) {
    let mut tried = Vec::new();
    for s in readers {
        let out =
            s.s3.get_bucket_ownership_controls()
                .bucket(bucket)
                .set_expected_bucket_owner(owner.map(str::to_string))
                .send()
                .await;
        match out {
            Ok(o) => {
                let rule = o.ownership_controls().and_then(|c| c.rules().first()).map(|r| r.object_ownership().clone());
                let name = rule.as_ref().map(|r| r.as_str().to_string());
                return match rule {
                    Some(ObjectOwnership::BucketOwnerEnforced) | None => (name, None, None),
                    Some(ObjectOwnership::BucketOwnerPreferred) => {
                        (name, Some(ObjectCannedAcl::BucketOwnerFullControl), None)
                    }
                    Some(other) => (
                        name,
                        Some(ObjectCannedAcl::BucketOwnerFullControl),
                        Some(format!(
                            "s3://{bucket} uses Object Ownership {}: copies stay owned by the writing account; sending bucket-owner-full-control so the bucket owner at least gets full control. Switch the bucket to BucketOwnerEnforced.",
                            other.as_str()
                        )),
                    ),
                };
            }
            Err(e) if error_code(&e).as_deref() == Some("OwnershipControlsNotFoundError") => {
                return (
                    Some("ObjectWriter".to_string()),
                    Some(ObjectCannedAcl::BucketOwnerFullControl),
                    Some(format!(
                        "s3://{bucket} has no Object Ownership setting (legacy ObjectWriter): copies stay owned by the writing account; sending bucket-owner-full-control"
                    )),
                );
            }
            Err(e) => tried.push(format!("{}: {}", s.info.via, describe_sdk_error(&e))),
        }
    }
    (
        None,
        None,
        Some(format!(
            "could not read the Object Ownership of s3://{bucket} ({}); sending no ACL header, which is right for BucketOwnerEnforced (the AWS default since April 2023). If copies fail with AccessDenied on an older bucket, set it to BucketOwnerEnforced or give [destination.audit] credentials.",
            if tried.is_empty() { "no credentials to read it with".to_string() } else { tried.join("; ") }
        )),
    )
}
