//! Does the console slow a run down? The same `s3ferry cp` of N small objects, alternately
//! headless (stdout a pipe, `--progress none`) and in the console (a pseudo-terminal, 120x40,
//! `y` pressed on the plan), against the moto emulator. Prints each run's time and the
//! median ratio console/headless (the bar: within 5%).
//!
//! Run: `cargo bench --profile dev --bench tui_overhead` (`--profile dev` skips an optimized
//! build of the AWS SDK; both modes use the same binary, so the ratio is what matters).
//! TUI_BENCH_OBJECTS (default 2000) and TUI_BENCH_ROUNDS (default 3) change the size.
//!
//! What is timed: headless, the whole process (connect, list, copy, summary); console, from
//! the `y` key to the dashboard saying "finished" (connect, list, copy), polled every 10 ms.
//! The emulator (one Python process) is the bottleneck at these rates, so this measures
//! whether the UI takes anything away from the run, not the copier's ceiling.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use support::world::{self, Names, Steps};
use support::{PROD, Workspace, moto, unique};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn headless(ws: &Workspace, config: &str) -> Duration {
    let started = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_s3ferry"))
        .args(["cp", "--config", config, "--fresh", "--progress", "none"])
        .env_clear()
        .envs(ws.env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run s3ferry headless");
    let took = started.elapsed();
    assert!(status.success(), "headless run failed: {status:?}");
    took
}

fn console(ws: &Workspace, config: &str) -> Duration {
    let pair =
        native_pty_system().openpty(PtySize { rows: 40, cols: 120, pixel_width: 0, pixel_height: 0 }).expect("openpty");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_s3ferry"));
    cmd.args(["cp", "--config", config, "--fresh"]);
    cmd.env_clear();
    for (k, v) in ws.env() {
        cmd.env(k, v);
    }
    cmd.env("TERM", "xterm-256color");
    let mut child = pair.slave.spawn_command(cmd).expect("spawn in the pty");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("reader");
    let mut writer = pair.master.take_writer().expect("writer");
    let parser = Arc::new(Mutex::new(vt100::Parser::new(40, 120, 0)));
    let feed = parser.clone();
    let reading = std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            feed.lock().unwrap().process(&buf[..n]);
        }
    });
    let wait = |what: &str, needle: &str, poll: Duration| {
        let until = Instant::now() + Duration::from_secs(600);
        loop {
            if parser.lock().unwrap().screen().contents().contains(needle) {
                return;
            }
            assert!(Instant::now() < until, "timed out waiting for {what}");
            std::thread::sleep(poll);
        }
    };
    wait("the plan", "Plan complete", Duration::from_millis(50));
    writer.write_all(b"y").unwrap();
    writer.flush().unwrap();
    let started = Instant::now();
    wait("the end of the run", "cp · finished", Duration::from_millis(10));
    let took = started.elapsed();
    writer.write_all(b"q").unwrap();
    writer.flush().unwrap();
    let _ = child.wait();
    drop(writer);
    drop(pair.master);
    let _ = reading.join();
    took
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let objects = env_usize("TUI_BENCH_OBJECTS", 2_000);
    let rounds = env_usize("TUI_BENCH_ROUNDS", 3);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (ws, config) = rt.block_on(async {
        let (src, dst, role, op, aud) =
            (unique("bench-src"), unique("bench-dst"), unique("transfer"), unique("operator"), unique("auditor"));
        let names = Names {
            source: &src,
            destination: &dst,
            destination_prefix: "prod/",
            role: &role,
            operator: &op,
            auditor: &aud,
        };
        let m = world::build(moto(), names, Steps::ALL).await;
        let prod = moto().s3(PROD);
        for chunk in (0..objects).collect::<Vec<_>>().chunks(64) {
            let puts = chunk.iter().map(|i| {
                let (prod, bucket) = (prod.clone(), m.source_bucket.clone());
                async move { world::put(&prod, &bucket, &format!("b/obj-{i:06}.bin"), vec![b'b'; 256]).await }
            });
            futures::future::join_all(puts).await;
        }
        let mut ws = Workspace::new();
        ws.profile("operator", &m.operator).profile("auditor", &m.auditor);
        let config = ws
            .write(
                "migration.toml",
                &format!("{}\n[transfer]\nconcurrency = 64\n", m.config_toml(&moto().endpoint, "")),
            )
            .display()
            .to_string();
        (ws, config)
    });
    println!("tui_overhead: {objects} objects of 256 B, {rounds} rounds, concurrency 64, against moto");
    println!("cores: {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    let (mut h, mut c) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        // Alternate which goes first so a warming (or cooling) emulator favours neither.
        let order: [bool; 2] = if round % 2 == 1 { [false, true] } else { [true, false] };
        for tui in order {
            let took = if tui { console(&ws, &config) } else { headless(&ws, &config) };
            let secs = took.as_secs_f64();
            println!(
                "round {round} {:<8} {secs:>7.2} s  {:>7.1} objects/s",
                if tui { "console" } else { "headless" },
                objects as f64 / secs
            );
            if tui { c.push(secs) } else { h.push(secs) }
        }
    }
    let (mh, mc) = (median(h), median(c));
    println!("median headless {mh:.2} s, console {mc:.2} s: console/headless = {:.3}", mc / mh);
}
