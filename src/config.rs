//! The TOML contract that describes a migration (`--config FILE`).
//!
//! Every value is validated while it is read, so an error can name the file, the line and the
//! field. The example with every field commented is `assets/s3ferry.example.toml`.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::core::plan::{Filter, FilterRule, Glob, MAX_PART, MIN_PART};
use crate::core::progress::Mode;
use crate::core::s3url::validate_bucket;
use crate::core::units::{parse_duration, parse_size};

/// A configuration problem, located in its file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}:{column}: {field}: {message}", path.display())]
    Invalid { path: PathBuf, line: usize, column: usize, field: String, message: String },
    /// A file the configuration names (a session policy) that cannot be used.
    #[error("{}: {field}: {message}", path.display())]
    File { path: PathBuf, field: String, message: String },
}

/// A migration file is a few kilobytes; anything past this is not one (`--config /dev/zero`).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Price tables and policy documents: AWS caps policies at 20-32 KB; a megabyte is generous.
pub const MAX_DOCUMENT_BYTES: u64 = 1 << 20;

/// Reads a text file the operator named, refusing one larger than `max` bytes (or endless, like
/// a device) instead of reading without bound.
pub fn read_text(path: &Path, max: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "it is larger than {} KiB, more than such a file ever holds",
            max / 1024
        )));
    }
    String::from_utf8(bytes).map_err(|_| std::io::Error::other("it is not UTF-8 text"))
}

/// An endpoint URL as aws cli takes it: `http(s)://HOST[:PORT]` with an optional trailing `/`.
/// Credentials in the URL are refused (they would end up in logs and journals); a path, a query,
/// a port outside 1-65535 or an empty host are errors. Returns it without the trailing `/`.
/// Why an endpoint URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("an endpoint URL has no spaces or control characters and is under 2,048 characters")]
    Characters,
    #[error("expected a URL starting with http:// or https://")]
    Scheme,
    #[error("credentials in the endpoint URL are refused: give them in a profile or the environment")]
    Credentials,
    #[error("an endpoint is a scheme, host and port only; remove `{0}`")]
    Path(String),
    #[error("an IPv6 host needs its closing `]`")]
    UnclosedIpv6,
    #[error("`[{0}]` is not an IPv6 address")]
    Ipv6(String),
    #[error("the endpoint URL has no host")]
    NoHost,
    #[error("`{0}` is not a host name")]
    Host(String),
    #[error("port `{0}` is not a port number (1-65535)")]
    Port(String),
}

pub fn check_endpoint(url: &str) -> Result<String, EndpointError> {
    if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(EndpointError::Characters);
    }
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")).ok_or(EndpointError::Scheme)?;
    let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err(EndpointError::Credentials);
    }
    if !(path.is_empty() || path == "/") {
        return Err(EndpointError::Path(path.to_string()));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']').ok_or(EndpointError::UnclosedIpv6)?;
            if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
                return Err(EndpointError::Ipv6(addr.to_string()));
            }
            (addr, after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err(EndpointError::NoHost);
    }
    if !authority.starts_with('[')
        && !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    {
        return Err(EndpointError::Host(host.to_string()));
    }
    if let Some(p) = port
        && !p.parse::<u16>().is_ok_and(|n| n > 0)
    {
        return Err(EndpointError::Port(p.to_string()));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Credentials and endpoint for one identity. All fields optional: the default chain applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub role: Option<RoleSpec>,
    pub endpoint_url: Option<String>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct RoleSpec {
    pub arn: String,
    pub duration: Option<Duration>,
    pub external_id: Option<String>,
    /// A session policy passed with AssumeRole (its text, read from `source.session_policy`).
    pub session_policy: Option<String>,
}

// The external id is a shared secret between accounts: never print it.
impl std::fmt::Debug for RoleSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleSpec")
            .field("arn", &self.arn)
            .field("duration", &self.duration)
            .field("external_id", &self.external_id.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Access {
    /// True when this section names its own credentials rather than inheriting another's.
    pub fn has_credentials(&self) -> bool {
        self.profile.is_some() || self.role.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    pub bucket: String,
    pub prefix: String,
    pub access: Access,
    /// The VPC endpoint this side's requests go through (its policy is judged).
    pub vpc_endpoint_id: Option<String>,
    /// A session policy s3ferry passes when it assumes `role_arn` (a file beside the config).
    pub session_policy: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationConfig {
    pub bucket: String,
    pub prefix: String,
    pub kms_key_arn: Option<String>,
    /// Empty when the source identity writes (server-side copy).
    pub access: Access,
    /// Read-only credentials in the destination account, for reading its policies.
    pub audit: Option<Access>,
    /// The VPC endpoint this side's requests go through (its policy is judged).
    pub vpc_endpoint_id: Option<String>,
}

/// `[organization]`: where the preflight finds the SCPs and RCPs above the accounts. Files (one
/// a level, root first, as the administrator exports them) win; else `access` (the management
/// account or a delegated administrator, read-only) reads them with the Organizations API.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrganizationConfig {
    pub scp_files: Vec<PathBuf>,
    pub source_rcp_files: Vec<PathBuf>,
    pub destination_rcp_files: Vec<PathBuf>,
    pub access: Option<Access>,
}

/// The `[transfer]` section: how `cp`/`sync` run. Every field is also a command-line flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferConfig {
    /// What the console's copy action does; the `cp`/`sync` subcommands choose for themselves.
    pub mode: Mode,
    /// Requests in flight to start with. The copier backs off from here on SlowDown.
    pub concurrency: usize,
    /// Most requests in flight: past `concurrency` the copier grows only while answers come
    /// about as fast as the link allows (far from the bucket). Equals `concurrency` when only
    /// that was set: a number the operator chose is a ceiling.
    pub max_concurrency: usize,
    /// Objects up to this size are copied with one CopyObject; larger ones in parts.
    pub multipart_threshold: u64,
    /// Part size for multipart copies (grown automatically to stay within 10,000 parts).
    pub part_size: u64,
    /// `include` and `exclude` globs in the order given (the later wins; see `Filter::new`).
    pub filters: Vec<FilterRule>,
    /// `sync` only: delete destination objects that are not in the source.
    pub delete: bool,
    /// Re-check every object at the end of the run.
    pub verify: bool,
    /// Where journals and the identity index live; relative paths are relative to the config.
    pub state_dir: PathBuf,
    /// Keys asked for per ListObjectsV2 page. S3 answers at most 1,000 whatever is asked; some
    /// S3-compatible stores honour more, and there a larger page saves round trips.
    pub list_page_size: u32,
    /// The console's marks (names relative to the source prefix; a trailing `/` takes a whole
    /// prefix). Not read from the file: the operator chooses them in the browser.
    pub scope: Vec<String>,
}

pub const DEFAULT_CONCURRENCY: usize = 256;
pub const DEFAULT_MAX_CONCURRENCY: usize = 1024;
pub const MAX_CONCURRENCY: usize = 4096;
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 5 << 30;
pub const DEFAULT_PART_SIZE: u64 = 64 << 20;
pub const DEFAULT_LIST_PAGE_SIZE: u32 = 1000;
/// A page is held in memory while it is planned: 100,000 keys is tens of MiB of XML at most.
pub const MAX_LIST_PAGE_SIZE: u32 = 100_000;

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            mode: Mode::Cp,
            concurrency: DEFAULT_CONCURRENCY,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            part_size: DEFAULT_PART_SIZE,
            filters: Vec::new(),
            delete: false,
            verify: false,
            state_dir: PathBuf::from(".s3ferry"),
            list_page_size: DEFAULT_LIST_PAGE_SIZE,
            scope: Vec::new(),
        }
    }
}

impl Config {
    /// The configured source and destination, which a console scope stays within.
    pub fn pair(&self) -> crate::core::scope::Pair {
        crate::core::scope::Pair {
            source_bucket: self.source.bucket.clone(),
            source_prefix: self.source.prefix.clone(),
            destination_bucket: self.destination.bucket.clone(),
            destination_prefix: self.destination.prefix.clone(),
        }
    }
}

impl TransferConfig {
    /// A concurrency the operator chose: the start, and the most unless a ceiling is also set.
    pub fn set_concurrency(&mut self, n: usize) {
        self.concurrency = n;
        self.max_concurrency = n;
    }

    /// A ceiling the operator chose; the start comes down to it if need be.
    pub fn set_max_concurrency(&mut self, max: usize) {
        self.max_concurrency = max;
        self.concurrency = self.concurrency.min(max);
    }

    /// The compiled include/exclude globs (validated when the config was read).
    pub fn filter(&self) -> Result<Filter, crate::core::plan::GlobError> {
        Ok(Filter::new(&self.filters)?.within(&self.scope))
    }
}

/// The optional `[batch]` section: defaults for `s3ferry batch` and the console's batch screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchConfig {
    pub manifest_bucket: String,
    pub report_bucket: Option<String>,
    pub job_role_arn: String,
    pub prefix: Option<String>,
    pub priority: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub path: PathBuf,
    pub source: SourceConfig,
    pub destination: DestinationConfig,
    pub transfer: TransferConfig,
    pub batch: Option<BatchConfig>,
    pub organization: Option<OrganizationConfig>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read_text(path, MAX_CONFIG_BYTES)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Config::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let locate = |span: Option<Range<usize>>, field: Option<&str>, message: String| {
            let at = span.map(|s| s.start).unwrap_or(0).min(text.len());
            let line = text[..at].matches('\n').count() + 1;
            let column = at - text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                field: field.map(str::to_string).unwrap_or_else(|| field_at(text, at)),
                message,
            }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| locate(e.span(), None, e.message().to_string()))?;
        raw.validate()
            .map_err(|(span, field, message)| locate(Some(span), Some(&field), message))
            .map(|(source, destination, transfer, batch, organization)| Config {
                path: path.to_path_buf(),
                source,
                destination,
                transfer,
                batch,
                organization,
            })?
            .with_session_policy()
    }

    /// Reads `source.session_policy` (beside the config) into the role's AssumeRole request; a
    /// file that cannot be read, or is no valid session policy, is a configuration error.
    fn with_session_policy(mut self) -> Result<Config, ConfigError> {
        let Some(file) = self.source.session_policy.clone() else { return Ok(self) };
        let path = self.file(&file);
        let error = |message: String| ConfigError::File {
            path: self.path.clone(),
            field: "source.session_policy".to_string(),
            message,
        };
        let text =
            read_text(&path, MAX_DOCUMENT_BYTES).map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
        crate::core::policy::parse_policy(&text, crate::core::policy::PolicyKind::Session)
            .map_err(|e| error(format!("{} is not a valid session policy: {e}", path.display())))?;
        if let Some(role) = self.source.access.role.as_mut() {
            role.session_policy = Some(text);
        }
        Ok(self)
    }

    /// The state directory, resolved against the config's directory when relative.
    pub fn state_dir(&self) -> PathBuf {
        if self.transfer.state_dir.is_absolute() {
            self.transfer.state_dir.clone()
        } else {
            self.dir().join(&self.transfer.state_dir)
        }
    }

    /// A file the config names, resolved against the config's directory when relative.
    pub fn file(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_path_buf() } else { self.dir().join(path) }
    }

    /// The directory that holds state files for this migration: beside the config.
    pub fn dir(&self) -> PathBuf {
        self.path.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

/// Names the field at a byte offset as `section.key`, for errors the TOML parser reports without one.
fn field_at(text: &str, at: usize) -> String {
    let before = &text[..at];
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = text[line_start..].find('\n').map(|i| line_start + i).unwrap_or(text.len());
    let line = text[line_start..line_end].trim();
    let section = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key = line.split_once('=').map(|(k, _)| k.trim().to_string());
    match (section, key) {
        (_, None) if line.starts_with('[') => line.trim_matches(|c| c == '[' || c == ']').to_string(),
        (Some(s), Some(k)) => format!("{s}.{k}"),
        (None, Some(k)) => k,
        (Some(s), None) => s,
        (None, None) => "(top level)".to_string(),
    }
}

type Invalid = (Range<usize>, String, String);

type Validated = (SourceConfig, DestinationConfig, TransferConfig, Option<BatchConfig>, Option<OrganizationConfig>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    source: RawSide,
    destination: RawSide,
    transfer: Option<RawTransfer>,
    batch: Option<RawBatch>,
    organization: Option<RawOrganization>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrganization {
    #[serde(default)]
    scp_files: Vec<Spanned<String>>,
    #[serde(default)]
    source_rcp_files: Vec<Spanned<String>>,
    #[serde(default)]
    destination_rcp_files: Vec<Spanned<String>>,
    /// `[organization.credentials]`: the management account or a delegated administrator.
    credentials: Option<Spanned<RawAccess>>,
}

impl RawOrganization {
    fn validate(self) -> Result<OrganizationConfig, Invalid> {
        let files = |list: &[Spanned<String>], field: &str| -> Result<Vec<PathBuf>, Invalid> {
            list.iter()
                .map(|f| {
                    if f.get_ref().trim().is_empty() {
                        Err(bad(f, field, "the file name is empty"))
                    } else {
                        Ok(PathBuf::from(f.get_ref()))
                    }
                })
                .collect()
        };
        let scp_files = files(&self.scp_files, "organization.scp_files")?;
        let source_rcp_files = files(&self.source_rcp_files, "organization.source_rcp_files")?;
        let destination_rcp_files = files(&self.destination_rcp_files, "organization.destination_rcp_files")?;
        let access = match self.credentials {
            Some(c) => Some(c.into_inner().validate("organization.credentials")?),
            None => None,
        };
        Ok(OrganizationConfig { scp_files, source_rcp_files, destination_rcp_files, access })
    }
}

/// A VPC endpoint id: `vpce-` and hex digits.
fn vpc_endpoint(value: &Option<Spanned<String>>, field: &str) -> Result<Option<String>, Invalid> {
    let Some(v) = value else { return Ok(None) };
    let id = v.get_ref();
    let ok = id
        .strip_prefix("vpce-")
        .is_some_and(|h| !h.is_empty() && h.len() <= 32 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(bad(v, field, "expected a VPC endpoint id such as \"vpce-0a1b2c3d4e5f67890\""));
    }
    Ok(Some(id.clone()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatch {
    manifest_bucket: Spanned<String>,
    report_bucket: Option<Spanned<String>>,
    job_role_arn: Spanned<String>,
    prefix: Option<String>,
    priority: Option<Spanned<i64>>,
}

impl RawBatch {
    fn validate(self) -> Result<BatchConfig, Invalid> {
        let manifest_bucket = bucket(&self.manifest_bucket, "batch.manifest_bucket")?;
        let report_bucket = self.report_bucket.as_ref().map(|b| bucket(b, "batch.report_bucket")).transpose()?;
        if !is_role_arn(self.job_role_arn.get_ref()) {
            return Err(bad(
                &self.job_role_arn,
                "batch.job_role_arn",
                "expected a role ARN such as \"arn:aws:iam::111111111111:role/batch-copy\"",
            ));
        }
        let priority = match &self.priority {
            Some(p) => Some(
                i32::try_from(*p.get_ref())
                    .ok()
                    .filter(|p| *p >= 0)
                    .ok_or_else(|| bad(p, "batch.priority", "expected 0 to 2147483647 (higher runs first)"))?,
            ),
            None => None,
        };
        Ok(BatchConfig {
            manifest_bucket,
            report_bucket,
            job_role_arn: self.job_role_arn.into_inner(),
            prefix: self.prefix,
            priority,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransfer {
    mode: Option<Spanned<String>>,
    concurrency: Option<Spanned<i64>>,
    max_concurrency: Option<Spanned<i64>>,
    multipart_threshold: Option<Spanned<String>>,
    part_size: Option<Spanned<String>>,
    #[serde(default)]
    include: Vec<Spanned<String>>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    delete: Option<Spanned<bool>>,
    verify: Option<bool>,
    state_dir: Option<Spanned<String>>,
    list_page_size: Option<Spanned<i64>>,
}

impl RawTransfer {
    fn validate(self) -> Result<TransferConfig, Invalid> {
        let mut t = TransferConfig::default();
        if let Some(m) = &self.mode {
            t.mode = match m.get_ref().as_str() {
                "cp" => Mode::Cp,
                "sync" => Mode::Sync,
                _ => return Err(bad(m, "transfer.mode", "expected \"cp\" or \"sync\"")),
            };
        }
        if let Some(c) = &self.concurrency {
            if !(1..=MAX_CONCURRENCY as i64).contains(c.get_ref()) {
                return Err(bad(c, "transfer.concurrency", "expected 1 to 4096 requests in flight (default 256)"));
            }
            t.set_concurrency(*c.get_ref() as usize);
        }
        if let Some(m) = &self.max_concurrency {
            if !(1..=MAX_CONCURRENCY as i64).contains(m.get_ref()) {
                return Err(bad(m, "transfer.max_concurrency", "expected 1 to 4096 requests in flight (default 1024)"));
            }
            let max = *m.get_ref() as usize;
            if self.concurrency.is_some() && max < t.concurrency {
                return Err(bad(
                    m,
                    "transfer.max_concurrency",
                    &format!("{max} is below concurrency = {}: the ceiling must be at least the start", t.concurrency),
                ));
            }
            t.set_max_concurrency(max);
        }
        if let Some(v) = &self.multipart_threshold {
            t.multipart_threshold = transfer_size(v, "transfer.multipart_threshold")?;
        }
        if let Some(v) = &self.part_size {
            t.part_size = transfer_size(v, "transfer.part_size")?;
        }
        // In the file's order: an entry of one list written after an entry of the other comes
        // later (the later wins).
        let mut rules = Vec::new();
        for (list, field, include) in
            [(&self.include, "transfer.include", true), (&self.exclude, "transfer.exclude", false)]
        {
            for g in list {
                Glob::new(g.get_ref()).map_err(|e| bad(g, field, &e.to_string()))?;
                rules.push((g.span().start, FilterRule { include, glob: g.get_ref().clone() }));
            }
        }
        rules.sort_by_key(|(at, _)| *at);
        t.filters = rules.into_iter().map(|(_, r)| r).collect();
        if let Some(d) = &self.delete {
            if *d.get_ref() && t.mode == Mode::Cp && self.mode.is_some() {
                return Err(bad(d, "transfer.delete", "delete applies only with mode = \"sync\""));
            }
            t.delete = *d.get_ref();
        }
        t.verify = self.verify.unwrap_or(false);
        if let Some(dir) = &self.state_dir {
            if dir.get_ref().trim().is_empty() {
                return Err(bad(dir, "transfer.state_dir", "the directory is empty"));
            }
            t.state_dir = PathBuf::from(dir.get_ref());
        }
        if let Some(n) = &self.list_page_size {
            if !(1..=MAX_LIST_PAGE_SIZE as i64).contains(n.get_ref()) {
                return Err(bad(
                    n,
                    "transfer.list_page_size",
                    "expected 1 to 100000 keys a page (default 1000, the most S3 returns)",
                ));
            }
            t.list_page_size = *n.get_ref() as u32;
        }
        Ok(t)
    }
}

fn transfer_size(value: &Spanned<String>, field: &str) -> Result<u64, Invalid> {
    let n = parse_size(value.get_ref()).map_err(|e| bad(value, field, &e.to_string()))?;
    if !(MIN_PART..=MAX_PART).contains(&n) {
        return Err(bad(value, field, "S3 accepts 5MiB to 5GiB here"));
    }
    Ok(n)
}

/// One struct for both sides; fields only the destination may have are checked in `validate`.
/// The credential fields are spelled out rather than `#[serde(flatten)]`ed: flatten silently
/// disables `deny_unknown_fields`, and a misspelt `role_arn` must be an error, not ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSide {
    bucket: Spanned<String>,
    prefix: Option<Spanned<String>>,
    kms_key_arn: Option<Spanned<String>>,
    audit: Option<Spanned<RawAccess>>,
    region: Option<Spanned<String>>,
    profile: Option<Spanned<String>>,
    role_arn: Option<Spanned<String>>,
    session_duration: Option<Spanned<String>>,
    external_id: Option<Spanned<String>>,
    endpoint_url: Option<Spanned<String>>,
    vpc_endpoint_id: Option<Spanned<String>>,
    session_policy: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccess {
    region: Option<Spanned<String>>,
    profile: Option<Spanned<String>>,
    role_arn: Option<Spanned<String>>,
    session_duration: Option<Spanned<String>>,
    external_id: Option<Spanned<String>>,
    endpoint_url: Option<Spanned<String>>,
}

impl RawSide {
    fn access(&mut self) -> RawAccess {
        RawAccess {
            region: self.region.take(),
            profile: self.profile.take(),
            role_arn: self.role_arn.take(),
            session_duration: self.session_duration.take(),
            external_id: self.external_id.take(),
            endpoint_url: self.endpoint_url.take(),
        }
    }
}

impl RawConfig {
    fn validate(self) -> Result<Validated, Invalid> {
        let transfer = match self.transfer {
            Some(t) => t.validate()?,
            None => TransferConfig::default(),
        };
        let batch = self.batch.map(RawBatch::validate).transpose()?;
        let organization = self.organization.map(RawOrganization::validate).transpose()?;
        let mut src = self.source;
        if let Some(k) = &src.kms_key_arn {
            return Err(bad(
                k,
                "source.kms_key_arn",
                "only [destination] takes kms_key_arn (the source key is read from each object)",
            ));
        }
        if let Some(a) = &src.audit {
            return Err(bad(a, "source.audit", "audit credentials belong to [destination.audit]"));
        }
        let src_bucket = bucket(&src.bucket, "source.bucket")?;
        let access = src.access().validate("source")?;
        let session_policy = match &src.session_policy {
            Some(p) if access.role.is_none() => {
                return Err(bad(
                    p,
                    "source.session_policy",
                    "session_policy applies only with role_arn (s3ferry passes it when it assumes the role)",
                ));
            }
            Some(p) => Some(PathBuf::from(p.get_ref())),
            None => None,
        };
        let source = SourceConfig {
            bucket: src_bucket,
            prefix: prefix(&src.prefix, "source.prefix")?,
            access,
            vpc_endpoint_id: vpc_endpoint(&src.vpc_endpoint_id, "source.vpc_endpoint_id")?,
            session_policy,
        };
        let mut dst = self.destination;
        let kms_key_arn = dst.kms_key_arn.as_ref().map(key_arn).transpose()?;
        let audit = match dst.audit.take() {
            Some(a) => Some(a.into_inner().validate("destination.audit")?),
            None => None,
        };
        let dst_bucket = bucket(&dst.bucket, "destination.bucket")?;
        if let Some(p) = &dst.session_policy {
            return Err(bad(p, "destination.session_policy", "session_policy belongs to [source] (the transfer role)"));
        }
        let access = dst.access().validate("destination")?;
        let prefix = prefix(&dst.prefix, "destination.prefix")?;
        let vpc_endpoint_id = vpc_endpoint(&dst.vpc_endpoint_id, "destination.vpc_endpoint_id")?;
        let destination = DestinationConfig { bucket: dst_bucket, prefix, kms_key_arn, access, audit, vpc_endpoint_id };
        Ok((source, destination, transfer, batch, organization))
    }
}

impl RawAccess {
    fn validate(self, section: &str) -> Result<Access, Invalid> {
        let field = |name: &str| format!("{section}.{name}");
        let region = match self.region {
            Some(r) if !is_region(r.get_ref()) => {
                return Err(bad(&r, &field("region"), "expected an AWS region such as \"eu-west-2\""));
            }
            r => r.map(Spanned::into_inner),
        };
        let endpoint_url = match self.endpoint_url {
            Some(e) => {
                Some(check_endpoint(e.get_ref()).map_err(|why| bad(&e, &field("endpoint_url"), &why.to_string()))?)
            }
            None => None,
        };
        let profile = match self.profile {
            Some(p) if p.get_ref().trim().is_empty() => {
                return Err(bad(&p, &field("profile"), "the profile name is empty"));
            }
            p => p.map(Spanned::into_inner),
        };
        let role = match self.role_arn {
            Some(arn) => {
                if !is_role_arn(arn.get_ref()) {
                    return Err(bad(
                        &arn,
                        &field("role_arn"),
                        "expected a role ARN such as \"arn:aws:iam::111111111111:role/transfer\"",
                    ));
                }
                let duration = match &self.session_duration {
                    Some(d) => Some(session_duration(d, &field("session_duration"))?),
                    None => None,
                };
                Some(RoleSpec {
                    arn: arn.into_inner(),
                    duration,
                    external_id: self.external_id.map(Spanned::into_inner),
                    session_policy: None,
                })
            }
            None => {
                if let Some(d) = &self.session_duration {
                    return Err(bad(d, &field("session_duration"), "session_duration applies only with role_arn"));
                }
                if let Some(e) = &self.external_id {
                    return Err(bad(e, &field("external_id"), "external_id applies only with role_arn"));
                }
                None
            }
        };
        Ok(Access { region, profile, role, endpoint_url })
    }
}

fn bad<T>(value: &Spanned<T>, field: &str, message: &str) -> Invalid {
    (value.span(), field.to_string(), message.to_string())
}

fn prefix(value: &Option<Spanned<String>>, field: &str) -> Result<String, Invalid> {
    let Some(p) = value else { return Ok(String::new()) };
    crate::core::s3url::validate_prefix(p.get_ref()).map_err(|e| bad(p, field, &e.to_string()))?;
    Ok(p.get_ref().clone())
}

fn bucket(name: &Spanned<String>, field: &str) -> Result<String, Invalid> {
    validate_bucket(name.get_ref()).map_err(|e| bad(name, field, &e.to_string()))?;
    Ok(name.get_ref().clone())
}

fn key_arn(arn: &Spanned<String>) -> Result<String, Invalid> {
    let field = "destination.kms_key_arn";
    let parts: Vec<&str> = arn.get_ref().splitn(6, ':').collect();
    let ok_shape = parts.len() == 6 && parts[0] == "arn" && parts[2] == "kms" && is_account(parts[4]);
    if ok_shape && parts[5].starts_with("alias/") {
        return Err(bad(
            arn,
            field,
            "an alias is not enough: aliases resolve in the caller's account, so cross-account writes need the full key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)",
        ));
    }
    if !ok_shape || !parts[5].starts_with("key/") || parts[5].len() <= 4 || !is_region(parts[3]) {
        return Err(bad(
            arn,
            field,
            "expected a KMS key ARN such as \"arn:aws:kms:eu-west-2:222222222222:key/1234abcd-...\"",
        ));
    }
    Ok(arn.get_ref().clone())
}

fn session_duration(value: &Spanned<String>, field: &str) -> Result<Duration, Invalid> {
    let d = parse_duration(value.get_ref()).map_err(|e| bad(value, field, &e.to_string()))?;
    if !(900..=43_200).contains(&d.as_secs()) {
        return Err(bad(
            value,
            field,
            "AWS accepts role sessions from 15m to 12h (and no longer than the role's MaxSessionDuration)",
        ));
    }
    Ok(d)
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().take(parts.len() - 1).all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts.last().is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_role_arn(s: &str) -> bool {
    // IAM names and paths: letters, digits and +=,.@_-/ ; an ARN is at most 2,048 characters.
    let name_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c);
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    s.len() <= 2048
        && parts.len() == 6
        && parts[5].chars().all(name_char)
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && is_account(parts[4])
        && parts[5].strip_prefix("role/").is_some_and(|name| !name.is_empty() && !name.ends_with('/'))
}

#[cfg(test)]
mod tests;

impl Config {
    /// The identity that writes to the destination, with the endpoint inherited from the source
    /// when the destination names none. `None` when the source identity writes.
    pub fn destination_writer(&self) -> Option<Access> {
        self.destination.access.has_credentials().then(|| self.inherit(self.destination.access.clone()))
    }

    /// Credentials to browse the destination with, and how the pane should name them: the
    /// destination's own, else the audit credentials, else the source identity.
    pub fn destination_browser(&self) -> (Access, &'static str) {
        if let Some(writer) = self.destination_writer() {
            (writer, "destination credentials")
        } else if let Some(audit) = &self.destination.audit {
            (self.inherit(audit.clone()), "audit credentials")
        } else {
            let mut access = self.source.access.clone();
            access.region = self.destination.access.region.clone();
            (self.inherit(access), "source identity")
        }
    }

    fn inherit(&self, mut access: Access) -> Access {
        if access.endpoint_url.is_none() {
            access.endpoint_url =
                self.destination.access.endpoint_url.clone().or_else(|| self.source.access.endpoint_url.clone());
        }
        access
    }
}

/// A command-line override that is refused, named by its flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error("{flag}: {error}")]
    Location { flag: &'static str, error: crate::core::s3url::S3UrlError },
    #[error("{0}: the profile name is empty")]
    EmptyProfile(&'static str),
    #[error("--endpoint-url: {0}")]
    Endpoint(EndpointError),
}

/// Command-line overrides of the file's values; flags win over the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub source: Option<String>,
    pub destination: Option<String>,
    pub source_profile: Option<String>,
    pub destination_profile: Option<String>,
    pub endpoint_url: Option<String>,
}

impl Config {
    /// Applies flags over the file. URLs are validated like the file's buckets.
    pub fn apply(&mut self, o: &Overrides) -> Result<(), OverrideError> {
        use crate::core::s3url::S3Location;
        if let Some(url) = &o.source {
            let loc = S3Location::parse(url).map_err(|e| OverrideError::Location { flag: "--source", error: e })?;
            (self.source.bucket, self.source.prefix) = (loc.bucket, loc.prefix);
        }
        if let Some(url) = &o.destination {
            let loc =
                S3Location::parse(url).map_err(|e| OverrideError::Location { flag: "--destination", error: e })?;
            (self.destination.bucket, self.destination.prefix) = (loc.bucket, loc.prefix);
        }
        for (flag, value, target) in [
            ("--source-profile", &o.source_profile, &mut self.source.access.profile),
            ("--destination-profile", &o.destination_profile, &mut self.destination.access.profile),
        ] {
            if let Some(p) = value {
                if p.trim().is_empty() {
                    return Err(OverrideError::EmptyProfile(flag));
                }
                *target = Some(p.clone());
            }
        }
        if let Some(url) = &o.endpoint_url {
            let url = check_endpoint(url).map_err(OverrideError::Endpoint)?;
            self.source.access.endpoint_url = Some(url.clone());
            self.destination.access.endpoint_url = Some(url.clone());
            if let Some(audit) = &mut self.destination.audit {
                audit.endpoint_url = Some(url);
            }
        }
        Ok(())
    }
}

impl Config {
    /// What the console shows of the run it would start.
    pub fn transfer_setup(
        &self,
        mode: crate::core::progress::Mode,
        prices: crate::core::cost::PriceTable,
        rate: Option<f64>,
    ) -> crate::core::setup::TransferSetup {
        let config = self;
        let t = &config.transfer;
        crate::core::setup::TransferSetup {
            mode,
            source: format!("s3://{}/{}", config.source.bucket, config.source.prefix),
            destination: format!("s3://{}/{}", config.destination.bucket, config.destination.prefix),
            threshold: t.multipart_threshold,
            part_size: t.part_size,
            concurrency: t.concurrency,
            kms: config.destination.kms_key_arn.is_some(),
            region: config
                .destination
                .access
                .region
                .clone()
                .or_else(|| config.source.access.region.clone())
                .unwrap_or_else(|| "us-east-1".into()),
            prices,
            rate,
            pair: config.pair(),
        }
    }
}
