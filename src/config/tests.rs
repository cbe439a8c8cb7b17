use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("migration.toml"), text)
}

const GOOD: &str = r#"
[source]
bucket = "prod-data"
prefix = "exports/"
region = "eu-west-2"
profile = "prod"
role_arn = "arn:aws:iam::111111111111:role/transfer"
session_duration = "12h"
external_id = "s3cr3t"
endpoint_url = "http://127.0.0.1:5000/"

[destination]
bucket = "datalake-raw"
prefix = "prod/"
kms_key_arn = "arn:aws:kms:eu-west-2:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"

[destination.audit]
profile = "datalake-audit"
"#;

#[test]
fn full_example_parses() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.source.bucket, "prod-data");
    assert_eq!(c.source.prefix, "exports/");
    let role = c.source.access.role.as_ref().unwrap();
    assert_eq!(role.duration, Some(Duration::from_secs(43_200)));
    assert_eq!(c.source.access.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
    assert!(!c.destination.access.has_credentials());
    assert_eq!(c.destination.audit.as_ref().unwrap().profile.as_deref(), Some("datalake-audit"));
    // The external id is a secret: Debug output must not carry it.
    assert!(!format!("{c:?}").contains("s3cr3t"));
}

#[test]
fn the_shipped_example_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/s3ferry.example.toml");
    let c = Config::load(&path).unwrap();
    assert!(c.destination.kms_key_arn.is_some());
    // The example spells out the defaults.
    let t = &c.transfer;
    assert_eq!((t.mode, t.concurrency, t.multipart_threshold, t.part_size), (Mode::Cp, 256, 5 << 30, 64 << 20));
    assert_eq!(t.max_concurrency, 1024);
    assert_eq!((t.delete, t.verify, t.state_dir.as_path()), (false, false, Path::new(".s3ferry")));
}

#[test]
fn errors_name_line_and_field() {
    // (config text, line, field, a phrase the message must contain)
    let cases: &[(&str, usize, &str, &str)] = &[
        // A misspelt field is an error, not silently ignored.
        (
            "[source]\nbucket = \"prod-data\"\nrole_ar = \"x\"\n[destination]\nbucket = \"dl-raw\"\n",
            3,
            "source.role_ar",
            "unknown field",
        ),
        // Required field missing.
        ("[source]\nprefix = \"a/\"\n[destination]\nbucket = \"dl-raw\"\n", 1, "source", "missing field `bucket`"),
        ("[source]\nbucket = \"Prod_Data\"\n[destination]\nbucket = \"dl-raw\"\n", 2, "source.bucket", "lowercase"),
        (
            "[source]\nbucket = \"prod-data\"\nrole_arn = \"transfer\"\n[destination]\nbucket = \"dl-raw\"\n",
            3,
            "source.role_arn",
            "role ARN",
        ),
        (
            "[source]\nbucket = \"prod-data\"\nrole_arn = \"arn:aws:iam::111111111111:role/t\"\nsession_duration = \"24h\"\n[destination]\nbucket = \"dl-raw\"\n",
            4,
            "source.session_duration",
            "15m to 12h",
        ),
        (
            "[source]\nbucket = \"prod-data\"\nsession_duration = \"1h\"\n[destination]\nbucket = \"dl-raw\"\n",
            3,
            "source.session_duration",
            "only with role_arn",
        ),
        (
            "[source]\nbucket = \"prod-data\"\n[destination]\nbucket = \"dl-raw\"\nkms_key_arn = \"arn:aws:kms:eu-west-2:222222222222:alias/datalake\"\n",
            5,
            "destination.kms_key_arn",
            "alias",
        ),
        (
            "[source]\nbucket = \"prod-data\"\nkms_key_arn = \"arn:aws:kms:eu-west-2:222222222222:key/k\"\n[destination]\nbucket = \"dl-raw\"\n",
            3,
            "source.kms_key_arn",
            "only [destination]",
        ),
        (
            "[source]\nbucket = \"prod-data\"\nregion = \"London\"\n[destination]\nbucket = \"dl-raw\"\n",
            3,
            "source.region",
            "AWS region",
        ),
        (
            "[source]\nbucket = \"prod-data\"\nendpoint_url = \"127.0.0.1:5000\"\n[destination]\nbucket = \"dl-raw\"\n",
            3,
            "source.endpoint_url",
            "http://",
        ),
        (
            "[source]\nbucket = \"prod-data\"\n[destination]\nbucket = \"dl-raw\"\n[destination.audit]\nprofil = \"x\"\n",
            6,
            "destination.audit.profil",
            "unknown field",
        ),
        (
            "[source]\nbucket = \"prod-data\"\n[destination]\nbucket = \"dl-raw\"\n[transfr]\n",
            5,
            "transfr",
            "unknown field",
        ),
        (
            "[source]\nbucket = \"prod-data\"\n[destination]\nbucket = \"dl-raw\"\n[transfer]\nmode = \"copy\"\n",
            6,
            "transfer.mode",
            "\"cp\" or \"sync\"",
        ),
        (
            "[source]\nbucket = \"prod-data\"\n[destination]\nbucket = \"dl-raw\"\n[transfer]\nconcurrency = 0\n",
            6,
            "transfer.concurrency",
            "1 to 4096",
        ),
        (
            "[source]\nbucket = \"prod-data\"\n[destination]\nbucket = \"dl-raw\"\n[transfer]\nmax_concurrency = 5000\n",
            6,
            "transfer.max_concurrency",
            "1 to 4096",
        ),
        (
            "[source]\nbucket = \"prod-data\"\n[destination]\nbucket = \"dl-raw\"\n[transfer]\nconcurrency = 64\nmax_concurrency = 32\n",
            7,
            "transfer.max_concurrency",
            "32 is below concurrency = 64",
        ),
        (
            "[source]\nbucket = \"prod-data\"\n[destination]\nbucket = \"dl-raw\"\n[transfer]\nlist_page_size = 0\n",
            6,
            "transfer.list_page_size",
            "1 to 100000",
        ),
        (
            "[source]\nbucket = \"prod-data\"\n[destination]\nbucket = \"dl-raw\"\n[transfer]\nlist_page_size = 100001\n",
            6,
            "transfer.list_page_size",
            "1 to 100000",
        ),
        (
            "[source]\nbucket = \"prod-data\"\n[destination]\nbucket = \"dl-raw\"\n[transfer]\npart_size = \"1MiB\"\n",
            6,
            "transfer.part_size",
            "5MiB to 5GiB",
        ),
        (
            "[source]\nbucket = \"prod-data\"\n[destination]\nbucket = \"dl-raw\"\n[transfer]\nmultipart_threshold = \"lots\"\n",
            6,
            "transfer.multipart_threshold",
            "not a size",
        ),
        (
            "[source]\nbucket = \"prod-data\"\n[destination]\nbucket = \"dl-raw\"\n[transfer]\ninclude = [\"a/*\",\n  \"[x\"]\n",
            7,
            "transfer.include",
            "never closed",
        ),
        (
            "[source]\nbucket = \"prod-data\"\n[destination]\nbucket = \"dl-raw\"\n[transfer]\nmode = \"cp\"\ndelete = true\n",
            7,
            "transfer.delete",
            "only with mode = \"sync\"",
        ),
        (
            "[source]\nbucket = \"prod-data\"\n[destination]\nbucket = \"dl-raw\"\n[transfer]\nworkers = 5\n",
            6,
            "transfer.workers",
            "unknown field",
        ),
        // Not TOML at all.
        ("[source\nbucket = 1\n", 1, "source", ""),
        // Wrong type.
        ("[source]\nbucket = 5\n[destination]\nbucket = \"dl-raw\"\n", 2, "source.bucket", "string"),
    ];
    for (text, line, field, phrase) in cases {
        match parse(text) {
            Err(ConfigError::Invalid { line: l, field: f, message, path, .. }) => {
                assert_eq!((l, f.as_str()), (*line, *field), "for {text:?}: {message}");
                assert!(message.contains(phrase), "{message:?} should mention {phrase:?}");
                let shown = ConfigError::Invalid { path, line: l, column: 1, field: f, message }.to_string();
                assert!(shown.starts_with("migration.toml:"), "{shown}");
            }
            other => panic!("expected an error for {text:?}, got {other:?}"),
        }
    }
}

#[test]
fn transfer_defaults_and_values() {
    let c = parse(GOOD).unwrap();
    let t = &c.transfer;
    assert_eq!((t.mode, t.concurrency, t.delete, t.verify), (Mode::Cp, 256, false, false));
    assert_eq!(t.max_concurrency, 1024, "unset, the limit may grow past its start");
    assert_eq!((t.multipart_threshold, t.part_size, t.list_page_size), (5 << 30, 64 << 20, 1000));
    assert_eq!(c.state_dir(), PathBuf::from(".s3ferry"), "beside the config (here: the current directory)");

    let text = format!(
        "{GOOD}\n[transfer]\nmode = \"sync\"\nconcurrency = 64\nmultipart_threshold = \"5MiB\"\npart_size = \"8MiB\"\ninclude = [\"logs/*\"]\nexclude = [\"*.tmp\"]\ndelete = true\nverify = true\nstate_dir = \"/var/lib/s3ferry\"\nlist_page_size = 10000\n"
    );
    let c = Config::parse(Path::new("/etc/m/migration.toml"), &text).unwrap();
    let t = &c.transfer;
    assert_eq!((t.mode, t.concurrency, t.delete, t.verify), (Mode::Sync, 64, true, true));
    assert_eq!(t.max_concurrency, 64, "a concurrency the operator chose is the ceiling");
    assert_eq!((t.multipart_threshold, t.part_size, t.list_page_size), (5 << 20, 8 << 20, 10_000));
    assert_eq!(t.filters, [FilterRule::include("logs/*"), FilterRule::exclude("*.tmp")]);
    assert!(t.filter().unwrap().matches("logs/a") && !t.filter().unwrap().matches("logs/a.tmp"));
    assert_eq!(c.state_dir(), PathBuf::from("/var/lib/s3ferry"));
    for (lines, want) in [
        ("concurrency = 64\nmax_concurrency = 512\n", (64, 512)),
        ("max_concurrency = 512\n", (256, 512)),
        ("max_concurrency = 100\n", (100, 100)),
    ] {
        let c = parse(&format!("{GOOD}\n[transfer]\n{lines}")).unwrap();
        assert_eq!((c.transfer.concurrency, c.transfer.max_concurrency), want, "{lines}");
    }
    let rel = Config::parse(Path::new("/etc/m/migration.toml"), GOOD).unwrap();
    assert_eq!(rel.state_dir(), PathBuf::from("/etc/m/.s3ferry"));
}

#[test]
fn missing_file_is_named() {
    let err = Config::load(Path::new("/nonexistent/s3ferry.toml")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/s3ferry.toml"));
}

#[test]
fn flags_override_the_file() {
    let mut c = parse(GOOD).unwrap();
    let o = Overrides {
        source: Some("s3://other-src/2024/".into()),
        destination: Some("s3://other-dst".into()),
        source_profile: Some("sso-prod".into()),
        destination_profile: Some("lake-writer".into()),
        endpoint_url: Some("http://127.0.0.1:9000/".into()),
    };
    c.apply(&o).unwrap();
    assert_eq!((c.source.bucket.as_str(), c.source.prefix.as_str()), ("other-src", "2024/"));
    assert_eq!((c.destination.bucket.as_str(), c.destination.prefix.as_str()), ("other-dst", ""));
    assert_eq!(c.source.access.profile.as_deref(), Some("sso-prod"));
    assert!(c.destination.access.has_credentials(), "a destination profile makes the destination write itself");
    assert_eq!(c.destination.audit.unwrap().endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
    // Bad flags are named, and change nothing after the error.
    let cases = [
        (Overrides { source: Some("prod-data".into()), ..Default::default() }, "--source"),
        (Overrides { destination: Some("s3://Bad_Bucket".into()), ..Default::default() }, "--destination"),
        (Overrides { source_profile: Some(" ".into()), ..Default::default() }, "--source-profile"),
        (Overrides { endpoint_url: Some("localhost:9000".into()), ..Default::default() }, "--endpoint-url"),
    ];
    for (o, flag) in cases {
        let err = parse(GOOD).unwrap().apply(&o).unwrap_err().to_string();
        assert!(err.starts_with(flag), "{err}");
    }
}

#[test]
fn batch_section_is_optional_and_validated() {
    assert_eq!(parse(GOOD).unwrap().batch, None);
    let with = format!(
        "{GOOD}\n[batch]\nmanifest_bucket = \"ops-manifests\"\njob_role_arn = \"arn:aws:iam::111111111111:role/batch-copy\"\npriority = 50\n"
    );
    let b = parse(&with).unwrap().batch.unwrap();
    assert_eq!(b.manifest_bucket, "ops-manifests");
    assert_eq!((b.report_bucket, b.priority), (None, Some(50)));
    let bad_role = with.replace("role/batch-copy", "user/batch-copy");
    let e = parse(&bad_role).unwrap_err().to_string();
    assert!(e.contains("batch.job_role_arn") && e.contains(":22:"), "{e}");
    let bad_priority = with.replace("priority = 50", "priority = -1");
    assert!(parse(&bad_priority).unwrap_err().to_string().contains("batch.priority"));
    let typo = with.replace("priority = 50", "priorty = 50");
    assert!(parse(&typo).unwrap_err().to_string().contains("priorty"));
}

#[test]
fn hostile_values_are_refused_at_load_with_line_and_field() {
    let side = |extra: &str| format!("[source]\nbucket = \"prod-data\"\n{extra}\n[destination]\nbucket = \"dl-raw\"\n");
    let long_name = "x".repeat(5_000);
    let long_prefix = "p".repeat(1_025);
    // (source-side field line, field, a phrase the message must contain)
    let cases: Vec<(String, &str, &str)> = vec![
        ("endpoint_url = \"http://\"".into(), "source.endpoint_url", "no host"),
        ("endpoint_url = \"http://[::1\"".into(), "source.endpoint_url", "closing `]`"),
        ("endpoint_url = \"http://127.0.0.1:70000\"".into(), "source.endpoint_url", "not a port number"),
        ("endpoint_url = \"http://127.0.0.1:0\"".into(), "source.endpoint_url", "not a port number"),
        ("endpoint_url = \"http://host:9000/bucket\"".into(), "source.endpoint_url", "remove `/bucket`"),
        (
            "endpoint_url = \"https://user:pass@minio.local\"".into(),
            "source.endpoint_url",
            "credentials in the endpoint URL are refused",
        ),
        ("endpoint_url = \"http://a b\"".into(), "source.endpoint_url", "no spaces"),
        ("role_arn = \"arn:aws:iam::111111111111:role/trans fer\"".into(), "source.role_arn", "expected a role ARN"),
        ("role_arn = \"arn:aws:iam::111111111111:role/a\\nb\"".into(), "source.role_arn", "expected a role ARN"),
        (
            format!("role_arn = \"arn:aws:iam::111111111111:role/{long_name}\""),
            "source.role_arn",
            "expected a role ARN",
        ),
        (format!("prefix = \"{long_prefix}\""), "source.prefix", "at most 1,024 bytes"),
    ];
    for (line, field, phrase) in cases {
        let text = side(&line);
        let err = parse(&text).expect_err(&line).to_string();
        assert!(err.starts_with("migration.toml:3:"), "{line}: {err}");
        assert!(err.contains(field) && err.contains(phrase), "{line}: {err}");
        assert!(err.len() < 400, "one line, not a dump: {err}");
    }
    // What aws cli accepts still loads.
    for ok in
        ["http://127.0.0.1:5000/", "https://s3.eu-west-2.amazonaws.com", "http://[::1]:9000", "http://minio_1:9000"]
    {
        let c = parse(&side(&format!("endpoint_url = \"{ok}\""))).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert!(!c.source.access.endpoint_url.unwrap().ends_with('/'));
    }
}

#[test]
fn files_are_read_with_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; (MAX_CONFIG_BYTES + 1) as usize]).unwrap();
    let err = Config::load(&big).unwrap_err().to_string();
    assert!(err.contains("larger than 1024 KiB"), "{err}");
    // An endless file (a device) is cut at the bound, not read for ever.
    let err = read_text(Path::new("/dev/zero"), 4096).unwrap_err().to_string();
    assert!(err.contains("larger than 4 KiB"), "{err}");
    std::fs::write(&big, [0xff, 0xfe]).unwrap();
    assert!(read_text(&big, 4096).unwrap_err().to_string().contains("not UTF-8"));
}

/// The file's include and exclude entries apply in the order they are written.
#[test]
fn filters_apply_in_the_order_the_file_gives_them() {
    let text = format!("{GOOD}\n[transfer]\nexclude = [\"*\"]\ninclude = [\"*.csv\"]\n");
    let c = Config::parse(Path::new("/etc/m/migration.toml"), &text).unwrap();
    assert_eq!(c.transfer.filters, [FilterRule::exclude("*"), FilterRule::include("*.csv")]);
    let f = c.transfer.filter().unwrap();
    assert!(f.matches("a/b.csv") && !f.matches("a/b.txt"));
}

/// `[organization]` takes level files and, in `[organization.credentials]`, the identity that
/// reads them; a misspelt key and a malformed VPC endpoint id are errors, not ignored.
#[test]
fn organization_and_endpoint_settings_are_validated() {
    let text = format!(
        "{GOOD}\n[organization]\nscp_files = [\"root.json\", \"ou.json\"]\n[organization.credentials]\nprofile = \"org\"\n"
    );
    let o = parse(&text).unwrap().organization.unwrap();
    assert_eq!(o.scp_files, [PathBuf::from("root.json"), PathBuf::from("ou.json")]);
    assert_eq!(o.access.unwrap().profile.as_deref(), Some("org"));
    let misspelt = format!("{GOOD}\n[organization]\nscp_file = [\"x.json\"]\n");
    assert!(parse(&misspelt).is_err(), "scp_file is no field");
    let bad_vpce = GOOD.replacen("[destination]\n", "[destination]\nvpc_endpoint_id = \"vpc-123\"\n", 1);
    let err = parse(&bad_vpce).unwrap_err().to_string();
    assert!(err.contains("destination.vpc_endpoint_id") && err.contains("vpce-"), "{err}");
}
