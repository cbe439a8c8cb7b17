//! The real binary in a pseudo-terminal against the emulator: `s3ferry cp --config FILE` opens
//! the console on the plan, shows the credential countdown, `y` runs the copy to the end on
//! the dashboard, and `q` leaves with the terminal restored.
//!
//! The source assumes the transfer role for 15 minutes (DurationSeconds=900, the AWS minimum;
//! moto reports that expiry but never enforces it, so renewal is exercised by
//! tests/transfer_faults.rs through the fault proxy, not here).

mod support;

use std::time::Duration;

use support::pty::Console;
use support::world::{self, Names, Steps};
use support::{LAKE, PROD, Workspace, moto, unique};

const OBJECTS: usize = 150;

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

    let mut screen = Console::spawn(&ws, &["cp", "--config", &config, "--rate", "100"], 30, 100);

    // The plan: counts, the estimate, and the countdown of the 15-minute role session.
    let plan = screen.wait_for("the plan", Duration::from_secs(60), |t| t.contains("Plan complete"));
    assert!(plan.contains(&format!("To copy   {OBJECTS} objects")), "{plan}");
    assert!(plan.contains(&format!("{OBJECTS} single copy · 0 multipart")), "{plan}");
    assert!(plan.contains("ETA       2 s at 100 objects/s (--rate)"), "{plan}");
    let countdown = countdown_on("Creds     source", &plan).expect("a countdown on the plan");
    assert!(countdown.starts_with("0:1") && countdown.ends_with("renews"), "{countdown:?}\n{plan}");
    assert!(!plan.contains("cannot renew"), "a role on long-term keys renews: no warning\n{plan}");

    // y: the dashboard runs to the end (all eight steps are done: the preflight does not ask).
    assert!(!screen.start_run(), "a READY preflight starts at once:\n{}", screen.text());
    let done = screen.wait_for("the run to finish", Duration::from_secs(120), |t| t.contains("cp · finished ─"));
    assert!(done.contains(&format!("{OBJECTS}/{OBJECTS}")), "{done}");
    assert!(done.contains("Errors 0"), "{done}");
    let countdown = countdown_on("Creds source", &done).expect("a countdown on the dashboard");
    assert!(countdown.starts_with("0:1") && countdown.ends_with("renews"), "{countdown:?}\n{done}");

    screen.press("q");
    let (status, after) = screen.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    // The summary stays in the terminal after the console closes.
    assert!(after.contains(&format!("s3ferry: copied {OBJECTS} objects")), "{after}");

    let lake = moto().s3(LAKE);
    let listed = lake.list_objects_v2().bucket(&m.destination_bucket).prefix("prod/").send().await.expect("list");
    assert_eq!(listed.key_count(), Some(OBJECTS as i32));
}
