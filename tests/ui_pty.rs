//! The real binary in a pseudo-terminal against the emulator: `s3ferry cp --config FILE` opens
//! the console on the plan, shows the credential countdown, `y` runs the copy to the end on
//! the dashboard, and `q` leaves with the terminal restored.
//!
//! The source assumes the transfer role for 15 minutes (DurationSeconds=900, the AWS minimum;
//! moto reports that expiry but never enforces it, so renewal is exercised by
//! tests/transfer_faults.rs through the fault proxy, not here).

mod support;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use support::world::{self, Names, Steps};
use support::{LAKE, PROD, Workspace, moto, unique};

const OBJECTS: usize = 150;

struct Screen {
    parser: Arc<Mutex<vt100::Parser>>,
}

impl Screen {
    fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Polls the screen until `pred` holds, or fails with the screen as it was.
    fn wait_for(&self, what: &str, deadline: Duration, pred: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + deadline;
        loop {
            let text = self.text();
            if pred(&text) {
                return text;
            }
            assert!(Instant::now() < until, "timed out waiting for {what}; the screen:\n{text}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn countdown_on(line_start: &str, text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.contains(line_start))?;
    let at = line.find("source ")? + "source ".len();
    Some(line[at..].split(" · ").next()?.trim().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn cp_in_a_terminal_shows_the_plan_the_countdown_and_a_run_to_the_end() {
    let (src, dst, role, op, aud) =
        (unique("pty-src"), unique("pty-dst"), unique("transfer"), unique("operator"), unique("auditor"));
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
    let puts = (0..OBJECTS).map(|i| {
        let (prod, bucket) = (prod.clone(), m.source_bucket.clone());
        async move { world::put(&prod, &bucket, &format!("t/obj-{i:04}.txt"), vec![b'p'; 100 + i]).await }
    });
    futures::future::join_all(puts).await;
    let mut ws = Workspace::new();
    ws.profile("operator", &m.operator).profile("auditor", &m.auditor);
    let text = m.config_toml(&moto().endpoint, "").replace("session_duration = \"1h\"", "session_duration = \"15m\"");
    let config = ws.write("migration.toml", &format!("{text}\n[transfer]\nconcurrency = 16\n")).display().to_string();

    let pty = native_pty_system();
    let pair = pty.openpty(PtySize { rows: 30, cols: 100, pixel_width: 0, pixel_height: 0 }).expect("openpty");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_s3ferry"));
    cmd.args(["cp", "--config", &config, "--rate", "100"]);
    cmd.env_clear();
    for (k, v) in ws.env() {
        cmd.env(k, v);
    }
    cmd.env("TERM", "xterm-256color");
    cmd.cwd(ws.path());
    let mut child = pair.slave.spawn_command(cmd).expect("spawn s3ferry in the pty");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("pty reader");
    let mut writer = pair.master.take_writer().expect("pty writer");
    let parser = Arc::new(Mutex::new(vt100::Parser::new(30, 100, 0)));
    let feed = parser.clone();
    // Reads until the pty closes (the child exits); bounded by that, never by a sleep.
    let reader_thread = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => feed.lock().unwrap().process(&buf[..n]),
            }
        }
    });
    let screen = Screen { parser };

    // The plan: counts, the estimate, and the countdown of the 15-minute role session.
    let plan = screen.wait_for("the plan", Duration::from_secs(60), |t| t.contains("Plan complete"));
    assert!(plan.contains(&format!("To copy   {OBJECTS} objects")), "{plan}");
    assert!(plan.contains(&format!("{OBJECTS} single copy · 0 multipart")), "{plan}");
    assert!(plan.contains("ETA       2 s at 100 objects/s (--rate)"), "{plan}");
    let countdown = countdown_on("Creds     source", &plan).expect("a countdown on the plan");
    assert!(countdown.starts_with("0:1") && countdown.ends_with("renews"), "{countdown:?}\n{plan}");
    assert!(!plan.contains("cannot renew"), "a role on long-term keys renews: no warning\n{plan}");

    // y: the dashboard runs to the end.
    writer.write_all(b"y").unwrap();
    writer.flush().unwrap();
    let done = screen.wait_for("the run to finish", Duration::from_secs(120), |t| t.contains("cp · finished"));
    assert!(done.contains(&format!("{OBJECTS}/{OBJECTS}")), "{done}");
    assert!(done.contains("Errors 0"), "{done}");
    let countdown = countdown_on("Creds source", &done).expect("a countdown on the dashboard");
    assert!(countdown.starts_with("0:1") && countdown.ends_with("renews"), "{countdown:?}\n{done}");

    writer.write_all(b"q").unwrap();
    writer.flush().unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < until, "s3ferry did not quit on q:\n{}", screen.text());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    drop(writer);
    drop(pair.master);
    let _ = reader_thread.join();

    let lake = moto().s3(LAKE);
    let listed = lake.list_objects_v2().bucket(&m.destination_bucket).prefix("prod/").send().await.expect("list");
    assert_eq!(listed.key_count(), Some(OBJECTS as i32));
}
