//! Credential lifetime: when credentials expire and whether they renew themselves.
//!
//! The seed's copy died because a 12 h role session could not renew. Everything that shows a
//! countdown or plans around expiry reads this one classification.

use std::time::{Duration, SystemTime};

/// Where a side's credentials came from, as far as the SDK tells us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialSource {
    /// Keys given in code or read from a profile's static fields.
    StaticKeys,
    /// AWS_ACCESS_KEY_ID / AWS_SESSION_TOKEN in the environment (often exported by hand).
    Environment,
    /// A role assumed through a profile's role_arn + source_profile.
    ProfileRole,
    Sso,
    CredentialProcess,
    InstanceProfile,
    ContainerRole,
    WebIdentity,
    Unknown,
}

impl CredentialSource {
    /// Sources that can fetch fresh credentials on their own before the old ones expire.
    pub fn renews_itself(self) -> bool {
        matches!(
            self,
            CredentialSource::ProfileRole
                | CredentialSource::Sso
                | CredentialSource::CredentialProcess
                | CredentialSource::InstanceProfile
                | CredentialSource::ContainerRole
                | CredentialSource::WebIdentity
        )
    }

    pub fn describe(self) -> &'static str {
        match self {
            CredentialSource::StaticKeys => "static keys",
            CredentialSource::Environment => "environment variables",
            CredentialSource::ProfileRole => "profile role",
            CredentialSource::Sso => "SSO",
            CredentialSource::CredentialProcess => "credential_process",
            CredentialSource::InstanceProfile => "instance profile",
            CredentialSource::ContainerRole => "container role",
            CredentialSource::WebIdentity => "web identity",
            CredentialSource::Unknown => "unknown source",
        }
    }
}

/// The facts about one side's credentials that the UI and planner need.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CredentialLifetime {
    /// Seconds since the epoch; `None` for long-term keys.
    pub expires_at: Option<u64>,
    /// True when the provider will fetch new credentials itself (no operator action needed).
    pub renews: bool,
    /// True when s3ferry assumed a role on top of credentials that are themselves a role
    /// session: AWS caps such chained sessions at one hour.
    pub chained: bool,
    pub source: String,
}

/// How the base credentials (profile/chain) and an optional role we assume on top combine.
pub fn classify(
    base_source: CredentialSource,
    base_expiry: Option<SystemTime>,
    assumed: Option<Option<SystemTime>>,
) -> CredentialLifetime {
    let epoch = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).ok();
    match assumed {
        None => CredentialLifetime {
            expires_at: base_expiry.and_then(epoch),
            renews: base_expiry.is_some() && base_source.renews_itself(),
            chained: false,
            source: base_source.describe().to_string(),
        },
        Some(role_expiry) => {
            // We re-assume the role whenever the SDK's cache runs low, which works as long as the
            // base credentials are still valid: long-term keys, or ones that renew themselves.
            let base_lasts = base_expiry.is_none() || base_source.renews_itself();
            CredentialLifetime {
                expires_at: role_expiry.and_then(epoch),
                renews: base_lasts,
                chained: base_expiry.is_some(),
                source: format!("assumed role (on {})", base_source.describe()),
            }
        }
    }
}

impl CredentialLifetime {
    pub fn remaining(&self, now: SystemTime) -> Option<Duration> {
        let now = now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
        self.expires_at.map(|e| Duration::from_secs(e.saturating_sub(now)))
    }
}

/// Stop dispatching new objects this long before credentials that cannot renew expire, so the
/// requests in flight finish with valid credentials.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(300);

/// Whether a side's credentials last for a run of the given length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// Long-term keys, or no expiry known.
    NoExpiry,
    /// They expire but renew themselves (role with source_profile, SSO, instance profile, ...).
    Renews { left: Duration },
    /// They cannot renew but last past the end of the run (plus the safety margin).
    Lasts { left: Duration },
    /// They cannot renew and run out first: the run will stop before expiry for re-authentication.
    ExpiresFirst { left: Duration, eta: Duration },
    /// They cannot renew and the run's length is unknown (no rate yet).
    Unknown { left: Duration },
}

impl Coverage {
    pub fn warns(&self) -> bool {
        matches!(self, Coverage::ExpiresFirst { .. } | Coverage::Unknown { .. })
    }
}

/// What a run of length `eta` (when known) meets with these credentials.
pub fn coverage(lifetime: &CredentialLifetime, now: SystemTime, eta: Option<Duration>) -> Coverage {
    let Some(left) = lifetime.remaining(now) else { return Coverage::NoExpiry };
    if lifetime.renews {
        return Coverage::Renews { left };
    }
    match eta {
        Some(eta) if eta + SAFETY_MARGIN <= left => Coverage::Lasts { left },
        Some(eta) => Coverage::ExpiresFirst { left, eta },
        None => Coverage::Unknown { left },
    }
}

/// What the operator can do about credentials that will not last (the plan screen lists these).
pub const EXPIRY_OPTIONS: [&str; 4] = [
    "use credentials that renew (role_arn + source_profile, SSO, instance role)",
    "raise session_duration (up to the role's maximum; 1 h when chaining)",
    "narrow the run with --include/--exclude and run it in pieces",
    "start anyway: it stops before expiry, keeps the journal; r resumes",
];

/// Whether new work may still be dispatched: false once credentials that cannot renew are
/// within `margin` of expiry (renewing credentials are renewed by the session instead).
pub fn may_dispatch(lifetime: &CredentialLifetime, now: SystemTime, margin: Duration) -> bool {
    lifetime.renews || lifetime.remaining(now).is_none_or(|left| left > margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn table() {
        use CredentialSource::*;
        // (base source, base expiry, assumed role expiry) -> (renews, chained, expires_at)
        type Case = (CredentialSource, Option<u64>, Option<Option<u64>>, bool, bool, Option<u64>);
        let cases: &[Case] = &[
            // Long-term IAM user keys: no expiry, nothing to renew.
            (StaticKeys, None, None, false, false, None),
            // Session keys exported by hand expire and cannot renew: the seed's failure mode.
            (Environment, Some(100), None, false, false, Some(100)),
            // SSO and instance profiles renew themselves.
            (Sso, Some(100), None, true, false, Some(100)),
            (InstanceProfile, Some(100), None, true, false, Some(100)),
            // A role we assume on long-term keys can be re-assumed forever.
            (StaticKeys, None, Some(Some(200)), true, false, Some(200)),
            // A role we assume on exported session keys is chained (1 h cap) and dies with them.
            (Environment, Some(100), Some(Some(200)), false, true, Some(200)),
            // Chained on SSO: renews, but still capped at one hour per session.
            (Sso, Some(100), Some(Some(200)), true, true, Some(200)),
        ];
        for (i, (src, base, assumed, renews, chained, exp)) in cases.iter().enumerate() {
            let got = classify(*src, base.map(at), assumed.map(|a| a.map(at)));
            assert_eq!((got.renews, got.chained, got.expires_at), (*renews, *chained, *exp), "case {i}");
        }
    }

    #[test]
    fn remaining_saturates() {
        let l = classify(CredentialSource::Environment, Some(at(100)), None);
        assert_eq!(l.remaining(at(40)), Some(Duration::from_secs(60)));
        assert_eq!(l.remaining(at(140)), Some(Duration::ZERO));
    }

    #[test]
    fn coverage_and_dispatch_gate() {
        use CredentialSource::*;
        let hour = Duration::from_secs(3600);
        let now = at(1_000);
        let exported = classify(Environment, Some(at(1_000 + 3600)), None);
        let sso = classify(Sso, Some(at(1_000 + 3600)), None);
        let keys = classify(StaticKeys, None, None);
        // (lifetime, eta) -> coverage
        let cases = [
            (&keys, Some(hour * 10), Coverage::NoExpiry),
            (&sso, Some(hour * 10), Coverage::Renews { left: hour }),
            (&exported, Some(Duration::from_secs(600)), Coverage::Lasts { left: hour }),
            // Within the safety margin of expiry counts as not lasting.
            (
                &exported,
                Some(hour - SAFETY_MARGIN + Duration::from_secs(1)),
                Coverage::ExpiresFirst { left: hour, eta: hour - SAFETY_MARGIN + Duration::from_secs(1) },
            ),
            (&exported, Some(hour * 2), Coverage::ExpiresFirst { left: hour, eta: hour * 2 }),
            (&exported, None, Coverage::Unknown { left: hour }),
        ];
        for (i, (l, eta, want)) in cases.into_iter().enumerate() {
            assert_eq!(coverage(l, now, eta), want, "case {i}");
        }
        // (lifetime, seconds from now) -> may dispatch
        let gate = [
            (&keys, 10_000_000, true),
            (&sso, 3_600, true),
            (&exported, 0, true),
            (&exported, 3_600 - 301, true),
            (&exported, 3_600 - 300, false),
            (&exported, 7_200, false),
        ];
        for (l, later, want) in gate {
            assert_eq!(may_dispatch(l, at(1_000 + later), SAFETY_MARGIN), want, "{} {later}", l.source);
        }
    }
}
