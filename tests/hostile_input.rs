//! Input an operator (or an attacker with write access to a bucket) can hand s3ferry: keys with
//! control characters, prefixes past S3's limit, broken policy files. Each gets a plain
//! one-line answer or is handled, never a panic, a Debug dump or a screen rewritten by a key.

mod support;

use support::world::{self, Steps};
use support::{LAKE, PROD, moto, s3ferry};

#[tokio::test(flavor = "multi_thread")]
async fn keys_with_control_characters_list_copy_and_print_escaped() {
    let (m, ws) = world::scenario(Steps::ALL).await;
    let hostile = [
        "ctl/nul\u{0}.txt",
        "ctl/bell\u{1}\u{1f}.txt",
        "ctl/esc\u{1b}[2J.txt",
        "ctl/cr\rline.txt",
        "ctl/csi\u{9b}31m.txt",
    ];
    let mut objects: Vec<(String, Vec<u8>)> = hostile.iter().map(|k| (k.to_string(), k.as_bytes().to_vec())).collect();
    objects.push(("ctl/plain.txt".into(), b"plain".to_vec()));
    // The longest key S3 takes, once under the destination prefix (prod/ is a byte longer).
    objects.push((format!("ctl/{}", "k".repeat(1_019)), b"long".to_vec()));
    world::put_many(&moto().s3(PROD), &m.source_bucket, objects.clone()).await;
    let config = ws.write("migration.toml", &m.config_toml(&moto().endpoint, "ctl/")).display().to_string();

    // ls prints them escaped: nothing that moves the cursor reaches the terminal.
    let run = s3ferry(&ws, &["ls", &format!("s3://{}/ctl/", m.source_bucket), "--config", &config]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for shown in ["nul\\x00.txt", "bell\\x01\\x1f.txt", "esc\\x1b[2J.txt", "cr\\x0dline.txt", "csi\\x9b31m.txt"] {
        assert!(run.stdout.contains(shown), "{shown} not in\n{}", run.stdout);
    }
    assert!(!run.stdout.contains('\u{1b}') && !run.stdout.contains('\r') && !run.stdout.contains('\u{9b}'));

    // cp copies every one of them, bytes intact.
    let run = s3ferry(&ws, &["cp", "--config", &config, "--progress", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.summary()["copied"], 7);
    let lake = moto().s3(LAKE);
    for (key, body) in &objects {
        let dkey = format!("prod/{}", key.strip_prefix("ctl/").unwrap());
        let got = lake.get_object().bucket(&m.destination_bucket).key(&dkey).send().await.expect("copied");
        assert_eq!(&got.body.collect().await.unwrap().into_bytes()[..], &body[..], "{dkey:?}");
    }
}

#[test]
fn long_prefixes_and_broken_policy_files_are_usage_errors() {
    let ws = support::Workspace::new();
    let config = ws
        .write("migration.toml", "[source]\nbucket = \"prod-data\"\n[destination]\nbucket = \"dl-raw\"\n")
        .display()
        .to_string();
    let long = format!("s3://prod-data/{}", "k".repeat(66_000));
    let run = s3ferry(&ws, &["ls", &long, "--config", &config]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("66000 bytes long; S3 keys and prefixes are at most 1,024 bytes"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    let bad = ws.write("bucket-policy.json", "{\"Version\": \"2012-10-17\", \"Statement\": [");
    let run = s3ferry(&ws, &["preflight", "--config", &config, "--dst-bucket-policy", &bad.display().to_string()]);
    assert_eq!(run.code, 2, "a broken file is the operator's, not the bucket's: {}", run.stderr);
    assert!(run.stderr.contains("--dst-bucket-policy") && run.stderr.contains("not a valid policy"), "{}", run.stderr);

    for flag in ["--config", "--prices"] {
        let args: Vec<&str> = if flag == "--config" {
            vec!["whoami", "--config", "/dev/zero"]
        } else {
            vec!["cp", "--config", &config, "--headless", "--prices", "/dev/zero"]
        };
        let run = s3ferry(&ws, &args);
        assert_eq!(run.code, 2, "{flag}: {}", run.stderr);
        assert!(run.stderr.contains("larger than"), "{flag}: {}", run.stderr);
    }
}

#[test]
fn an_unreachable_endpoint_never_prints_the_external_id() {
    let ws = support::Workspace::new();
    let config = ws
        .write(
            "migration.toml",
            "[source]\nbucket = \"prod-data\"\nregion = \"eu-west-2\"\nrole_arn = \"arn:aws:iam::111111111111:role/transfer\"\n\
             external_id = \"SEKRET-ID-4711\"\nendpoint_url = \"http://127.0.0.1:9\"\n[destination]\nbucket = \"dl-raw\"\n",
        )
        .display()
        .to_string();
    let mut ws = ws;
    ws.profile(
        "default",
        &support::Keys { access_key_id: "AKIDEXAMPLE".into(), secret_access_key: "wJalrEXAMPLEKEY".into() },
    );
    for args in [vec!["preflight", "--json"], vec!["whoami"], vec!["ls"], vec!["cp", "--headless"]] {
        let mut all = args.clone();
        all.extend(["--config", config.as_str()]);
        let run = s3ferry(&ws, &all);
        let out = format!("{}{}", run.stdout, run.stderr);
        assert!(!out.contains("SEKRET-ID-4711"), "{args:?} printed the external id:\n{out}");
        assert!(!out.contains("wJalrEXAMPLEKEY"), "{args:?} printed the secret key:\n{out}");
        assert!(
            !out.contains("DispatchFailure {") && !out.contains("ConnectorError {"),
            "{args:?}: a Debug dump:\n{out}"
        );
        match args[0] {
            // Nothing was judged: unknown (exit 3), never BLOCKED.
            "preflight" => {
                assert_eq!(run.code, 3, "{out}");
                let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
                assert_eq!(report["verdict"], "unknown", "{out}");
                let role = report["checks"].as_array().unwrap().iter().find(|c| c["id"] == "source.role").unwrap();
                assert_eq!(role["status"], "unknown", "{out}");
                assert!(role.to_string().contains("refused the connection"), "{role}");
            }
            // One plain line a side: the side, the cause, the endpoint, the next step.
            "whoami" | "ls" => {
                assert_eq!(run.code, 1, "{out}");
                let lines = if args[0] == "ls" { &run.stderr } else { &run.stdout };
                assert_eq!(lines.lines().count(), if args[0] == "ls" { 1 } else { 2 }, "{args:?}:\n{lines}");
                for line in lines.lines() {
                    for part in ["refused the connection", "http://127.0.0.1:9", "Next:"] {
                        assert!(line.contains(part), "{args:?} lacks {part:?}: {line}");
                    }
                }
            }
            _ => {}
        }
    }
}
