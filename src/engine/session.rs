//! Per-side AWS sessions: SDK config from the migration config, the caller's identity, and a
//! live view of the credentials' expiry as the SDK renews them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_types::SdkConfig;
use aws_types::region::Region;
use tokio::sync::watch;

use crate::config::Access;
use crate::core::credentials::{CredentialLifetime, CredentialSource, classify};
use crate::engine::errors::{describe_sdk_error, region_header};

/// How long connecting and resolving an identity may take before we give up with a message.
const CONNECT_DEADLINE: Duration = Duration::from_secs(10);
/// TCP connect timeout of every client.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Renew cached credentials this long before they expire, so in-flight requests never carry
/// credentials that die mid-request.
const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(
        "{who}: no AWS credentials found{profile_hint}. Set a profile in the config, export AWS credentials, or run `aws sso login`."
    )]
    NoCredentials { who: String, profile_hint: String },
    #[error("{who}: could not resolve the caller identity: {detail}")]
    Identity { who: String, detail: String },
    #[error("{who}: no answer from {endpoint} within {secs} s. Check endpoint_url/region and the network.")]
    Timeout { who: String, endpoint: String, secs: u64 },
}

/// The identity a side acts as, as STS reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    pub account: String,
    pub arn: String,
}

/// What the UI and headless output show about a side's session; no secrets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionInfo {
    pub identity: Identity,
    pub region: String,
    /// Which credentials this session uses, e.g. "audit credentials".
    pub via: String,
    pub lifetime: CredentialLifetime,
}

impl SessionInfo {
    /// `ARN (account N)`: how messages name the identity a request was sent as.
    pub fn who(&self) -> String {
        format!("{} (account {})", self.identity.arn, self.identity.account)
    }
}

/// A connected side: SDK config, clients and the credential watch.
#[derive(Clone, Debug)]
pub struct Session {
    pub sdk: SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub info: SessionInfo,
    path_style: bool,
    base: watch::Receiver<Option<Observed>>,
    role: Option<watch::Receiver<Option<Observed>>>,
    /// Base and (when a role is assumed) role credentials, for [`Session::invalidate`].
    trackers: Vec<Arc<Tracked>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Observed {
    expiry: Option<SystemTime>,
    source: CredentialSource,
}

impl Session {
    /// Builds the SDK config for `access`, assumes its role if any, and resolves the identity.
    /// `bucket` lets the Region default to the bucket's own when nothing configures one.
    pub async fn connect(access: &Access, via: &str, bucket: Option<&str>) -> Result<Session, SessionError> {
        Ok(Self::connect_with(access, via, bucket, |_| ()).await?.0)
    }

    /// [`Session::connect`] that hands the session to `early` as soon as its clients are
    /// ready, while STS is still asked who the caller is: a transfer's first listing page is
    /// then on its way a round trip sooner. The session `early` sees has an empty identity;
    /// what `early` returns is dropped if the identity check fails.
    pub async fn connect_with<T>(
        access: &Access,
        via: &str,
        bucket: Option<&str>,
        early: impl FnOnce(&Session) -> T,
    ) -> Result<(Session, T), SessionError> {
        let endpoint = access.endpoint_url.clone().unwrap_or_else(|| "AWS".to_string());
        let timeout = || SessionError::Timeout {
            who: via.to_string(),
            endpoint: endpoint.clone(),
            secs: CONNECT_DEADLINE.as_secs(),
        };
        tokio::time::timeout(CONNECT_DEADLINE, Self::connect_inner(access, via, bucket, early))
            .await
            .map_err(|_| timeout())?
    }

    async fn connect_inner<T>(
        access: &Access,
        via: &str,
        bucket: Option<&str>,
        early: impl FnOnce(&Session) -> T,
    ) -> Result<(Session, T), SessionError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
            TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).read_timeout(Duration::from_secs(60)).build(),
        );
        if let Some(p) = &access.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &access.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(e) = &access.endpoint_url {
            loader = loader.endpoint_url(e);
        }
        let mut sdk = loader.load().await;
        let configured_region = sdk.region().map(|r| r.to_string());
        if configured_region.is_none() {
            // STS and the first HeadBucket need some Region; the bucket's own replaces it below.
            sdk = sdk.into_builder().region(Region::from_static("us-east-1")).build();
        }
        let no_creds = || SessionError::NoCredentials {
            who: via.to_string(),
            profile_hint: access.profile.as_ref().map(|p| format!(" for profile `{p}`")).unwrap_or_default(),
        };
        let base_provider = sdk.credentials_provider().ok_or_else(no_creds)?;
        let (base_tx, base_rx) = watch::channel(None);
        let base_tracked = Tracked::new(base_provider, base_tx);
        // Tracked caches (and renews) credentials itself, so that a request refused with
        // ExpiredToken can make the next one fetch fresh credentials: the SDK's own cache
        // would keep handing out the refused ones until their stated expiry.
        sdk = sdk
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(TrackedHandle(base_tracked.clone())))
            .identity_cache(IdentityCache::no_cache())
            .build();
        let mut trackers = vec![base_tracked];

        let mut role_rx = None;
        if let Some(role) = &access.role {
            let mut builder =
                AssumeRoleProvider::builder(role.arn.clone()).session_name(session_name()).configure(&sdk);
            if let Some(d) = role.duration {
                builder = builder.session_length(d);
            }
            if let Some(policy) = &role.session_policy {
                builder = builder.policy(policy.clone());
            }
            if let Some(id) = &role.external_id {
                builder = builder.external_id(id.clone());
            }
            let provider = builder.build().await;
            let (tx, rx) = watch::channel(None);
            let tracked = Tracked::new(SharedCredentialsProvider::new(provider), tx);
            sdk = sdk
                .into_builder()
                .credentials_provider(SharedCredentialsProvider::new(TrackedHandle(tracked.clone())))
                .build();
            trackers.push(tracked);
            role_rx = Some(rx);
        }

        // Who the caller is and where the bucket lives are independent round trips: STS is
        // asked while HeadBucket looks for the Region, and while `early` starts its work.
        let sts = aws_sdk_sts::Client::new(&sdk);
        let mut asking = std::pin::pin!(sts.get_caller_identity().send());
        let path_style = access.endpoint_url.is_some();
        let mut s3 = s3_client(&sdk, path_style);
        let mut region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let mut answer = None;
        if configured_region.is_none()
            && let Some(b) = bucket
        {
            let (who, found) = tokio::join!(asking.as_mut(), bucket_region(&s3, b));
            answer = Some(who);
            if let Some(found) = found.filter(|f| *f != region) {
                sdk = sdk.into_builder().region(Region::new(found.clone())).build();
                s3 = s3_client(&sdk, path_style);
                region = found;
            }
        }

        let mut session = Session {
            sdk,
            s3,
            info: SessionInfo {
                identity: Identity { account: String::new(), arn: String::new() },
                region,
                via: via.to_string(),
                lifetime: classify(CredentialSource::Unknown, None, None),
            },
            path_style,
            base: base_rx,
            role: role_rx,
            trackers,
        };
        let started = early(&session);
        let who = match answer {
            Some(who) => who,
            None => asking.await,
        };
        let who = who.map_err(|e| {
            let detail = describe_sdk_error(&e);
            if detail.contains("no credentials") || detail.contains("NoCredentials") {
                no_creds()
            } else {
                SessionError::Identity { who: via.to_string(), detail: explain_identity_failure(access, &detail) }
            }
        })?;
        session.info.identity = Identity {
            account: who.account().unwrap_or_default().to_string(),
            arn: who.arn().unwrap_or_default().to_string(),
        };
        session.info.lifetime = session.lifetime();
        Ok((session, started))
    }

    /// The credentials' lifetime as last observed (the SDK renews them in the background).
    pub fn lifetime(&self) -> CredentialLifetime {
        let base = (*self.base.borrow()).unwrap_or(Observed { expiry: None, source: CredentialSource::Unknown });
        let role = self.role.as_ref().map(|r| r.borrow().and_then(|o| o.expiry));
        classify(base.source, base.expiry, role)
    }

    /// A request was refused because its credentials expired (ExpiredToken): make the next
    /// request fetch fresh ones (re-assume the role, re-read the chain). Credentials fetched
    /// within the last second are kept, so a burst of refusals causes one renewal, not one each.
    pub fn invalidate(&self) {
        if let Some(t) = self.trackers.last() {
            t.refusals.fetch_add(1, Ordering::Relaxed);
        }
        self.invalidate_unconfirmed();
    }

    /// [`Session::invalidate`] for a refusal that may not be an expiry (a HEAD's bare 400): it
    /// renews the same way but does not count in [`Session::refusals`], so that many objects
    /// answering 400 for their own reasons do not look like expiring credentials to each other.
    pub fn invalidate_unconfirmed(&self) {
        for t in &self.trackers {
            t.invalidate();
        }
    }

    /// How many requests were refused with ExpiredToken on these credentials so far.
    pub fn refusals(&self) -> u64 {
        self.trackers.last().map(|t| t.refusals.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// How many times credentials were fetched so far (the first fetch included).
    pub fn fetches(&self) -> u64 {
        self.trackers.last().map(|t| t.fetches.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// The same identity for another bucket, sharing this session's credentials (one cache,
    /// one renewal, one countdown): in `region`, or else the Region the bucket answers with.
    /// Saves a second credential fetch and identity check when one identity works both sides.
    pub async fn sibling(&self, via: &str, bucket: &str, region: Option<&str>) -> Session {
        let mut s = self.clone();
        s.info.via = via.to_string();
        let region = match region {
            Some(r) => Some(r.to_string()),
            None => bucket_region(&self.s3, bucket).await,
        };
        if let Some(r) = region.filter(|r| *r != self.info.region) {
            s.sdk = self.sdk_in(&r);
            s.s3 = s3_client(&s.sdk, self.path_style);
            s.info.region = r;
        }
        s
    }

    fn sdk_in(&self, region: &str) -> SdkConfig {
        self.sdk.clone().into_builder().region(Region::new(region.to_string())).build()
    }

    /// An S3 client for another Region with the same credentials.
    pub fn s3_in(&self, region: &str) -> aws_sdk_s3::Client {
        s3_client(&self.sdk_in(region), self.path_style)
    }

    /// Makes one cheap signed call so the SDK's cache renews credentials that are due, then
    /// returns the lifetime. Without traffic the cache would never renew and an idle console's
    /// countdown would run out although the credentials can renew.
    pub async fn refresh_lifetime(&self) -> CredentialLifetime {
        let _ = aws_sdk_sts::Client::new(&self.sdk).get_caller_identity().send().await;
        self.lifetime()
    }
}

fn s3_client(sdk: &SdkConfig, path_style: bool) -> aws_sdk_s3::Client {
    // Emulators and S3-compatible endpoints need path-style addressing.
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).build())
}

/// The bucket's Region from HeadBucket, which reports it even on a 301 or 403.
async fn bucket_region(s3: &aws_sdk_s3::Client, bucket: &str) -> Option<String> {
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(out) => out.bucket_region().map(str::to_string),
        Err(e) => region_header(&e),
    }
}

fn session_name() -> String {
    let user = std::env::var("USER").unwrap_or_default();
    let clean: String = user.chars().filter(|c| c.is_ascii_alphanumeric()).take(32).collect();
    if clean.is_empty() { "s3ferry".to_string() } else { format!("s3ferry-{clean}") }
}

fn explain_identity_failure(access: &Access, detail: &str) -> String {
    let mut out = detail.to_string();
    // STS's refusal of AssumeRole reaches us inside the credential provider's error; some
    // services (moto) answer it without a code the SDK can parse, so a service error while
    // loading role credentials counts too.
    let assume_refused = detail.contains("loading credentials") && detail.contains("service error");
    if let Some(role) = &access.role
        && (detail.contains("AccessDenied") || detail.contains("not authorized") || assume_refused)
    {
        out.push_str(&format!(
            ". The base credentials may not assume {}: its trust policy must name the caller, and the caller needs sts:AssumeRole on it",
            role.arn
        ));
    }
    if detail.contains("InvalidClientTokenId") || detail.contains("SignatureDoesNotMatch") {
        out.push_str(". The access key or secret is wrong or deleted: check the profile or environment");
    }
    if let Some(cause) = network_cause(detail) {
        let endpoint = access.endpoint_url.clone().unwrap_or_else(|| {
            format!("the AWS endpoints of {}", access.region.as_deref().unwrap_or("the configured Region"))
        });
        return format!(
            "{cause} ({endpoint}). Next: check endpoint_url, region and the network (a proxy needs HTTPS_PROXY)"
        );
    }
    out
}

/// What kept a request from reaching its endpoint, in plain words, when the cause is the network.
fn network_cause(detail: &str) -> Option<&'static str> {
    let d = detail.to_ascii_lowercase();
    let causes: [(&[&str], &str); 5] = [
        (&["connection refused"], "the endpoint refused the connection: nothing listens there"),
        (
            &["dns error", "failed to lookup address", "name or service not known"],
            "the endpoint's host name does not resolve",
        ),
        (&["no route to host", "network is unreachable"], "no route to the endpoint"),
        (
            &["certificate", "tls handshake", "invalid peer"],
            "the TLS handshake failed (the certificate is not trusted)",
        ),
        (&["connection reset", "broken pipe"], "the endpoint closed the connection"),
    ];
    causes.iter().find(|(needles, _)| needles.iter().any(|n| d.contains(n))).map(|(_, cause)| *cause)
}

/// Wraps a provider: caches its credentials, renews them [`RENEW_BEFORE_EXPIRY`] before they
/// expire or when invalidated, and publishes each new credential's expiry and source so the
/// countdowns follow the renewals. One renewal at a time: concurrent requests wait for it.
#[derive(Debug)]
struct Tracked {
    inner: SharedCredentialsProvider,
    tx: watch::Sender<Option<Observed>>,
    /// Read by every request; written only by a fetch.
    cache: std::sync::RwLock<Option<Credentials>>,
    /// One fetch at a time: requests that find the cache stale wait here for it.
    fetching: tokio::sync::Mutex<()>,
    /// Set by `invalidate`: the cached credentials were refused.
    stale: AtomicBool,
    fetched_at: Mutex<Option<Instant>>,
    fetches: AtomicU64,
    /// Every report of refused credentials, renewing or not.
    refusals: AtomicU64,
}

impl Tracked {
    fn new(inner: SharedCredentialsProvider, tx: watch::Sender<Option<Observed>>) -> Arc<Tracked> {
        Arc::new(Tracked {
            inner,
            tx,
            cache: std::sync::RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
            stale: AtomicBool::new(false),
            fetched_at: Mutex::new(None),
            fetches: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
        })
    }

    fn invalidate(&self) {
        let recent = self
            .fetched_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1));
        if !recent {
            self.stale.store(true, Ordering::Release);
        }
    }

    /// The cached credentials unless refused or due for renewal.
    fn cached(&self) -> Option<Credentials> {
        if self.stale.load(Ordering::Acquire) {
            return None;
        }
        let slot = self.cache.read().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().filter(|c| c.expiry().is_none_or(|e| e > SystemTime::now() + RENEW_BEFORE_EXPIRY)).cloned()
    }

    /// Every request asks here, so the common case takes only a read lock; a renewal is
    /// fetched once while the requests that need it wait.
    async fn credentials(&self) -> aws_credential_types::provider::Result {
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let _one = self.fetching.lock().await;
        if let Some(c) = self.cached() {
            return Ok(c); // renewed while this request waited
        }
        let creds = self.inner.provide_credentials().await?;
        *self.cache.write().unwrap_or_else(|p| p.into_inner()) = Some(creds.clone());
        self.stale.store(false, Ordering::Release);
        *self.fetched_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::Relaxed);
        self.tx.send_replace(Some(Observed { expiry: creds.expiry(), source: source_of(&creds) }));
        Ok(creds)
    }
}

#[derive(Debug)]
struct TrackedHandle(Arc<Tracked>);

impl ProvideCredentials for TrackedHandle {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.0.credentials())
    }
}

fn source_of(creds: &Credentials) -> CredentialSource {
    use AwsCredentialFeature as F;
    let features = creds.get_property::<Vec<AwsCredentialFeature>>().cloned().unwrap_or_default();
    let has = |f: F| features.contains(&f);
    // Most specific first: a profile role also carries the static-keys feature of its source.
    if has(F::CredentialsSso) || has(F::CredentialsProfileSso) {
        CredentialSource::Sso
    } else if has(F::CredentialsProcess) || has(F::CredentialsProfileProcess) {
        CredentialSource::CredentialProcess
    } else if has(F::CredentialsStsAssumeRoleWebId)
        || has(F::CredentialsEnvVarsStsWebIdToken)
        || has(F::CredentialsProfileStsWebIdToken)
    {
        CredentialSource::WebIdentity
    } else if has(F::CredentialsImds) {
        CredentialSource::InstanceProfile
    } else if has(F::CredentialsHttp) {
        CredentialSource::ContainerRole
    } else if has(F::CredentialsProfileSourceProfile) || has(F::CredentialsStsAssumeRole) {
        CredentialSource::ProfileRole
    } else if has(F::CredentialsEnvVars) {
        CredentialSource::Environment
    } else if has(F::CredentialsProfile) || has(F::CredentialsCode) {
        CredentialSource::StaticKeys
    } else {
        CredentialSource::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_failures_read_as_one_plain_cause() {
        let cases = [
            ("dispatch failure: io error: Connection refused (os error 111)", Some("refused")),
            ("dispatch failure: dns error: failed to lookup address information", Some("does not resolve")),
            ("io error: No route to host (os error 113)", Some("no route")),
            ("invalid peer certificate: UnknownIssuer", Some("TLS")),
            ("service error: AccessDenied", None),
        ];
        for (detail, want) in cases {
            match (network_cause(detail), want) {
                (Some(cause), Some(w)) => assert!(cause.contains(w), "{detail} -> {cause}"),
                (got, want) => assert_eq!(got.is_some(), want.is_some(), "{detail}"),
            }
        }
    }
    use std::sync::atomic::AtomicU32;

    /// A provider that hands out a new key each call, valid for `valid` from now.
    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicU32>,
        valid: Option<Duration>,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let expiry = self.valid.map(|v| SystemTime::now() + v);
            future::ProvideCredentials::ready(Ok(Credentials::new(format!("AKID{n}"), "secret", None, expiry, "test")))
        }
    }

    fn tracked(valid: Option<Duration>) -> (Arc<Tracked>, Arc<AtomicU32>, watch::Receiver<Option<Observed>>) {
        let calls = Arc::new(AtomicU32::new(0));
        let (tx, rx) = watch::channel(None);
        let t = Tracked::new(SharedCredentialsProvider::new(Counting { calls: calls.clone(), valid }), tx);
        (t, calls, rx)
    }

    #[tokio::test]
    async fn caches_until_due_and_renews_before_expiry() {
        // An hour left: one fetch serves every request.
        let (t, calls, rx) = tracked(Some(Duration::from_secs(3600)));
        for _ in 0..5 {
            assert_eq!(t.credentials().await.unwrap().access_key_id(), "AKID1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(rx.borrow().unwrap().expiry.is_some(), "the expiry is published for the countdown");
        // Within RENEW_BEFORE_EXPIRY of expiry: every request renews (the provider is due).
        let (t, calls, _) = tracked(Some(RENEW_BEFORE_EXPIRY - Duration::from_secs(1)));
        t.credentials().await.unwrap();
        assert_eq!(t.credentials().await.unwrap().access_key_id(), "AKID2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refusal_renews_once_not_once_per_request() {
        let (t, calls, rx) = tracked(None);
        assert_eq!(t.credentials().await.unwrap().access_key_id(), "AKID1");
        // Fetched under a second ago: a burst of refusals of the old key changes nothing yet...
        t.invalidate();
        assert_eq!(t.credentials().await.unwrap().access_key_id(), "AKID1");
        // ...later, the first refusal marks the key stale and the next request renews, once.
        *t.fetched_at.lock().unwrap() = Some(Instant::now() - Duration::from_secs(2));
        for _ in 0..8 {
            t.invalidate();
        }
        assert_eq!(t.credentials().await.unwrap().access_key_id(), "AKID2");
        assert_eq!(t.credentials().await.unwrap().access_key_id(), "AKID2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(rx.borrow().unwrap().expiry.is_none(), "long-term keys: no expiry");
    }
}
