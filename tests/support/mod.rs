//! The test bed: a real moto server (pinned 5.2.5) in a project-local virtualenv, with helpers to
//! act as any account and build buckets, keys, policies, users and roles. Shared by the
//! integration tests and the demo (examples/demo.rs).
#![allow(dead_code)] // each test binary uses a different subset

pub mod control;
pub mod fault;
pub mod pty;
pub mod world;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_types::region::Region;
use aws_types::sdk_config::SdkConfig;

pub const MOTO_PIN: &str = "moto[server]==5.2.5";
/// The demo's and the tests' accounts: Production and Data Lake, plus a stranger.
pub const PROD: &str = "111111111111";
pub const LAKE: &str = "222222222222";
pub const OTHER: &str = "333333333333";
pub const REGION: &str = "eu-west-2";

#[derive(Debug, Clone)]
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

pub struct Moto {
    pub endpoint: String,
    admins: HashMap<String, Keys>,
    // Held so the server lives as long as the process; its stdin closing stops it.
    _child: Mutex<Child>,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared server for this process, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        Moto::start(&[PROD, LAKE, OTHER]).unwrap_or_else(|e| panic!("cannot start the moto test server: {e}"))
    })
}

/// Creates `.cache/venv` with the pinned moto on first use. A file lock keeps parallel test
/// binaries from installing over each other.
pub fn ensure_venv() -> Result<PathBuf, String> {
    let cache = repo_root().join(".cache");
    fs::create_dir_all(&cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let venv = cache.join("venv");
    let python = venv.join("bin/python");
    let marker = venv.join(".s3ferry-moto-5.2.5");
    let lock = File::create(cache.join("venv.lock")).map_err(|e| e.to_string())?;
    lock.lock().map_err(|e| format!("cannot lock the venv: {e}"))?;
    if marker.exists() {
        return Ok(python);
    }
    eprintln!("test bed: installing {MOTO_PIN} into {} (first run only)", venv.display());
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", MOTO_PIN])
        .env("PIP_CACHE_DIR", cache.join("pip")))?;
    File::create(&marker).map_err(|e| e.to_string())?;
    Ok(python)
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() { Ok(()) } else { Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr))) }
}

impl Moto {
    pub fn start(accounts: &[&str]) -> Result<Moto, String> {
        let python = ensure_venv()?;
        let log = std::env::var_os("S3FERRY_MOTO_LOG")
            .and_then(|p| File::create(p).ok())
            .map(Stdio::from)
            .unwrap_or_else(Stdio::null);
        let mut child = Command::new(python)
            .arg(repo_root().join("tests/support/moto_runner.py"))
            .args(accounts)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start moto: {e}"))?;
        let stdout = child.stdout.take().ok_or("moto has no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
        let ready: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("moto did not start (got {line:?}): {e}"))?;
        let port = ready["port"].as_u64().ok_or("moto reported no port")?;
        let admins = accounts
            .iter()
            .map(|a| {
                let k = &ready["admins"][*a];
                (
                    a.to_string(),
                    Keys {
                        access_key_id: k["access_key_id"].as_str().unwrap_or_default().to_string(),
                        secret_access_key: k["secret_access_key"].as_str().unwrap_or_default().to_string(),
                    },
                )
            })
            .collect();
        Ok(Moto { endpoint: format!("http://127.0.0.1:{port}"), admins, _child: Mutex::new(child) })
    }

    pub fn admin(&self, account: &str) -> Keys {
        self.admins.get(account).cloned().unwrap_or_else(|| panic!("no admin for account {account}"))
    }

    pub fn sdk(&self, keys: &Keys) -> SdkConfig {
        let creds = Credentials::new(&keys.access_key_id, &keys.secret_access_key, None, None, "s3ferry-tests");
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
            // Setup traffic on a loaded 2-core machine can stall for seconds; a test's setup
            // should wait rather than abort (s3ferry itself keeps the SDK's protection).
            .stalled_stream_protection(aws_types::sdk_config::StalledStreamProtectionConfig::disabled())
            .build()
    }

    pub fn s3(&self, account: &str) -> aws_sdk_s3::Client {
        s3_for(&self.sdk(&self.admin(account)))
    }

    pub fn iam(&self, account: &str) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk(&self.admin(account)))
    }

    pub fn kms(&self, account: &str) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::new(&self.sdk(&self.admin(account)))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Ok(child) = self._child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn s3_for(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build())
}

/// A name no other test in this run uses: buckets and IAM names are global to the server.
pub fn unique(base: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{base}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A scratch directory with its own AWS config files, for running the real binary.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    credentials: String,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace { dir: tempfile::tempdir().expect("tempdir"), credentials: String::new() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Adds a profile with static keys (the way an operator's ~/.aws/credentials looks).
    pub fn profile(&mut self, name: &str, keys: &Keys) -> &mut Self {
        self.credentials.push_str(&format!(
            "[{name}]\naws_access_key_id = {}\naws_secret_access_key = {}\nregion = {REGION}\n\n",
            keys.access_key_id, keys.secret_access_key
        ));
        fs::write(self.path().join("credentials"), &self.credentials).expect("write credentials");
        fs::write(self.path().join("config"), "").expect("write config");
        self
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        fs::write(&path, text).expect("write file");
        path
    }

    /// Environment for an s3ferry process: only these AWS files, nothing from the host.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_SHARED_CREDENTIALS_FILE".into(), self.path().join("credentials").display().to_string()),
            ("AWS_CONFIG_FILE".into(), self.path().join("config").display().to_string()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), self.path().display().to_string()),
        ]
    }
}

/// What a run of the real binary printed, and how long it took.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: std::time::Duration,
}

impl Run {
    /// Every JSON line of stdout (NDJSON progress, summaries).
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// The final `{"type":"summary"}` line of a transfer.
    pub fn summary(&self) -> serde_json::Value {
        self.lines()
            .into_iter()
            .rfind(|v| v["type"] == "summary")
            .unwrap_or_else(|| panic!("no summary in {}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// The s3ferry binary under test (integration tests only; the demo runs the console in-process).
pub fn binary() -> &'static str {
    match option_env!("CARGO_BIN_EXE_s3ferry") {
        Some(path) => path,
        None => panic!("only integration tests run the binary; the demo runs the console in-process"),
    }
}

/// Runs the real binary with only the workspace's AWS files in its environment.
pub fn s3ferry(ws: &Workspace, args: &[&str]) -> Run {
    let started = std::time::Instant::now();
    let out = Command::new(binary()).args(args).env_clear().envs(ws.env()).output().expect("run s3ferry");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    }
}
