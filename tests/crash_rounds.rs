//! The resume promise under fire: one copy interrupted again and again, at pseudo-random
//! moments, by kill -9, SIGTERM and SIGHUP, headless and in the console, then finished.
//! Afterwards every object is at the destination with its bytes, no multipart upload is left
//! open, and the writes the server took (counted by the fault proxy, per object) show how many
//! objects were written twice: none for a graceful stop, and after kill -9 at most what was in
//! flight (the resume settles what landed, so in practice none either).

mod support;

use std::time::{Duration, Instant};

use support::fault::FaultProxy;
use support::pty::Console;
use support::world::{self, Steps};
use support::{LAKE, PROD, moto};

const SMALL: usize = 240;
const LARGE: usize = 2;
const CONCURRENCY: usize = 4;

fn writes(proxy: &FaultProxy) -> u64 {
    proxy.stats()["writes"].as_object().map(|w| w.values().filter_map(|n| n.as_u64()).sum()).unwrap_or(0)
}

/// Waits until the server has taken `more` writes since `from` (or the run ended).
fn wait_writes(proxy: &FaultProxy, from: u64, more: u64, ended: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(60);
    while writes(proxy) < from + more && !ended() {
        assert!(Instant::now() < until, "no progress: {} writes", writes(proxy));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupted_at_random_by_every_kind_of_stop_it_finishes_with_nothing_lost_or_left_open() {
    let (m, ws) = world::scenario(Steps::ALL).await;
    let mut objects: Vec<(String, Vec<u8>)> =
        (0..SMALL).map(|i| (format!("c/s-{i:04}.bin"), format!("small object {i}").into_bytes())).collect();
    // Large enough for three parts of 5 MiB: a kill can land between them.
    objects.extend((0..LARGE).map(|i| (format!("c/large-{i}.bin"), vec![b'a' + i as u8; 12 << 20])));
    world::put_many(&moto().s3(PROD), &m.source_bucket, objects.clone()).await;
    let proxy = FaultProxy::start(&moto().endpoint, &["--delay", "0.01"]);
    let text = format!(
        "{}\n[transfer]\nconcurrency = {CONCURRENCY}\nmultipart_threshold = \"5MiB\"\npart_size = \"5MiB\"\n",
        m.config_toml(&proxy.endpoint, "c/")
    );
    let config = ws.write("migration.toml", &text).display().to_string();

    let mut rng = fastrand::Rng::with_seed(0x5eed_f3e7);
    // (signal, in the console?)
    let rounds = [
        (libc::SIGKILL, false),
        (libc::SIGTERM, false),
        (libc::SIGKILL, true),
        (libc::SIGHUP, false),
        (libc::SIGHUP, true),
        (libc::SIGKILL, false),
    ];
    let mut kills = 0;
    for (signal, console) in rounds {
        let from = writes(&proxy);
        let more = rng.u64(8..40);
        if console {
            let mut c = Console::spawn(&ws, &["cp", "--config", &config], 30, 110);
            c.wait_text("Plan complete", Duration::from_secs(60));
            c.start_run();
            wait_writes(&proxy, from, more, || false);
            c.signal(signal);
            c.wait_exit(Duration::from_secs(60));
        } else {
            let mut child = std::process::Command::new(support::binary())
                .args(["cp", "--config", &config, "--headless", "--progress", "none"])
                .env_clear()
                .envs(ws.env())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("run s3ferry");
            wait_writes(&proxy, from, more, || false);
            // SAFETY: kill(2) on the child this test started.
            unsafe { libc::kill(child.id() as i32, signal) };
            child.wait().expect("wait");
        }
        kills += usize::from(signal == libc::SIGKILL);
        // Requests the stopped process had sent may still land: let them before the next round.
        std::thread::sleep(Duration::from_millis(300));
    }

    let run = support::s3ferry(&ws, &["cp", "--config", &config, "--headless", "--progress", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, run.summary());

    // Every object is there with its bytes.
    let lake = moto().s3(LAKE);
    for (key, body) in &objects {
        let dkey = format!("prod/{}", key.strip_prefix("c/").unwrap());
        let got = lake.get_object().bucket(&m.destination_bucket).key(&dkey).send().await.expect("copied");
        let bytes = got.body.collect().await.unwrap().into_bytes();
        assert!(bytes[..] == body[..], "{dkey}: {} bytes, want {}", bytes.len(), body.len());
    }
    let stats = proxy.stats();
    assert_eq!(stats["open_uploads"].as_array().map(Vec::len), Some(0), "no multipart upload left open: {stats}");
    let per_object = stats["writes"].as_object().unwrap();
    assert_eq!(per_object.len(), SMALL + LARGE, "{per_object:?}");
    let twice: Vec<(&String, u64)> =
        per_object.iter().map(|(k, n)| (k, n.as_u64().unwrap())).filter(|(_, n)| *n > 1).collect();
    let recopies: u64 = twice.iter().map(|(_, n)| n - 1).sum();
    eprintln!("{} rounds ({kills} kill -9): {recopies} objects written more than once {twice:?}", rounds.len());
    // Only a kill -9 can write an object twice, and only what it had in flight.
    assert!(recopies as usize <= kills * CONCURRENCY, "{recopies} re-copies: {twice:?}");
}
