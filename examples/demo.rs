//! The demo: a realistic cross-account migration on a local emulator, opened in the console.
//!
//! `cargo run --example demo` installs the pinned emulator into `.cache/` on first use, seeds a
//! Production account (111111111111) and a Data Lake account (222222222222) with one of the
//! eight permission steps deliberately missing, opens s3ferry on it, and stops the emulator when
//! you quit. It writes only under this repository (`.cache/`, `target/demo/`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use support::world::{self, Names, Steps};
use support::{LAKE, Moto, PROD, REGION};

const SMALL_OBJECTS: usize = 2_100;
const LARGE_OBJECT_MIB: usize = 105;

fn main() -> ExitCode {
    if !std::io::stdout().is_terminal() {
        eprintln!("demo: run this in a terminal (it opens the s3ferry console)");
        return ExitCode::from(2);
    }
    let dir = support::repo_root().join("target/demo");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("demo: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    // The console reads these profile files; set before any thread exists.
    // SAFETY: single-threaded here; the runtime starts below.
    unsafe {
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"));
        std::env::set_var("AWS_CONFIG_FILE", dir.join("config"));
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        for var in ["AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"] {
            std::env::remove_var(var);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(demo(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn demo(dir: PathBuf) -> Result<(), String> {
    eprintln!("demo: starting the AWS emulator (moto 5.2.5; the first run installs it into .cache/)…");
    let moto = Moto::start(&[PROD, LAKE])?;
    let names = Names {
        source: "prod-data",
        destination: "datalake-raw",
        destination_prefix: "prod/",
        role: "s3ferry-transfer",
        operator: "operator",
        auditor: "datalake-audit",
    };
    // Step 6 left out: the Data Lake key policy does not name the Production role, the classic
    // cause of AccessDenied on KMS-encrypted cross-account writes. The preflight finds it.
    let steps = Steps { key_policy_allows_role: false, ..Steps::ALL };
    eprintln!("demo: building accounts, roles, policies, the KMS key and buckets…");
    let m = world::build(&moto, names, steps).await;
    seed_objects(&moto, &m.source_bucket).await;
    let lake = moto.s3(LAKE);
    for key in ["prod/_manifest.json", "prod/README.txt"] {
        world::put(&lake, &m.destination_bucket, key, format!("placed by the Data Lake team: {key}\n").into_bytes())
            .await;
    }

    std::fs::write(
        dir.join("credentials"),
        format!(
            "[operator]\naws_access_key_id = {}\naws_secret_access_key = {}\nregion = {REGION}\n\n[auditor]\naws_access_key_id = {}\naws_secret_access_key = {}\nregion = {REGION}\n",
            m.operator.access_key_id, m.operator.secret_access_key, m.auditor.access_key_id, m.auditor.secret_access_key
        ),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("config"), "").map_err(|e| e.to_string())?;
    let config_path = dir.join("s3ferry-demo.toml");
    std::fs::write(&config_path, m.config_toml(&moto.endpoint, "")).map_err(|e| e.to_string())?;
    let config = s3ferry::config::Config::load(&config_path).map_err(|e| e.to_string())?;

    eprintln!("demo: opening the console on {} (press ? for keys, q to quit)", config_path.display());
    let result = s3ferry::ui::run(&config).await;
    drop(moto);
    eprintln!("demo: the emulator has stopped; nothing was left running.");
    result.map_err(|e| format!("console error: {e}"))
}

/// Several prefixes of 1-200 KB objects, awkward key names, and one object over 100 MB.
async fn seed_objects(moto: &Moto, bucket: &str) {
    let s3 = moto.s3(PROD);
    let mut keys: Vec<(String, usize)> = Vec::with_capacity(SMALL_OBJECTS + 20);
    let mut rng: u64 = 0x5eed;
    let mut size = || {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        1_024 + (rng >> 33) as usize % (199 * 1_024)
    };
    for i in 0..SMALL_OBJECTS {
        let key = match i % 5 {
            0 | 1 => format!("exports/{}/{:02}/part-{i:05}.parquet", 2023 + i % 3, 1 + i % 12),
            2 => format!("raw/events/dt=2024-06-{:02}/batch-{i:05}.json.gz", 1 + i % 28),
            3 => format!("features/user_embeddings/shard-{i:05}.npy"),
            _ => format!("labels/verification/{i:05}.csv"),
        };
        keys.push((key, size()));
    }
    for awkward in [
        "reports/Q1 summary (final).csv",
        "reports/café menu – naïve.txt",
        "reports/日本語のレポート.pdf",
        "odd/a+b=c&d.json",
        "odd/100% done.txt",
        "odd/question?.txt",
        "odd/hash#tag.txt",
        "odd/ leading space.txt",
        "odd/very/deep/nested/path/with/many/levels/file.txt",
    ] {
        keys.push((awkward.to_string(), size()));
    }
    keys.push((format!("odd/long/{}", "k".repeat(1_000)), 2_048));
    let total = keys.len();
    let done = Arc::new(AtomicUsize::new(0));
    futures::stream::iter(keys)
        .map(|(key, len)| {
            let (s3, done) = (s3.clone(), done.clone());
            async move {
                world::put(&s3, bucket, &key, vec![b'.'; len]).await;
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n % 250 == 0 || n == total {
                    eprintln!("demo: seeded {n}/{total} small objects");
                }
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    eprintln!("demo: writing one {LARGE_OBJECT_MIB} MiB object…");
    world::put(&s3, bucket, "models/large/embeddings-v3.bin", vec![7; LARGE_OBJECT_MIB * 1024 * 1024]).await;
}
