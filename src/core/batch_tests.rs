use super::*;

#[test]
fn awkward_keys_are_encoded_unambiguously() {
    let cases = [
        ("plain/key.csv", "plain/key.csv"),
        ("object key with spaces", "object%20key%20with%20spaces"),
        ("a+b", "a%2Bb"),
        ("100%.txt", "100%25.txt"),
        ("comma,in,key", "comma%2Cin%2Ckey"),
        ("quote\"and'apos", "quote%22and%27apos"),
        ("line\nbreak\r", "line%0Abreak%0D"),
        ("tab\there", "tab%09here"),
        ("ünïcødé/日本.txt", "%C3%BCn%C3%AFc%C3%B8d%C3%A9/%E6%97%A5%E6%9C%AC.txt"),
        ("emoji-🚀", "emoji-%F0%9F%9A%80"),
        ("~tilde_under-dash.dot", "~tilde_under-dash.dot"),
        ("q?a=1&b=2#frag", "q%3Fa%3D1%26b%3D2%23frag"),
        ("//double//slash/", "//double//slash/"),
        ("back\\slash", "back%5Cslash"),
        ("*star[glob]", "%2Astar%5Bglob%5D"),
    ];
    for (key, want) in cases {
        assert_eq!(encode_key(key), want, "{key:?}");
        assert_eq!(decode_key(want).unwrap(), key, "round trip of {key:?}");
        let line = manifest_line("src-bucket", key);
        assert_eq!(line, format!("src-bucket,{want}\n"));
        // One line, two fields, whatever the key holds.
        assert_eq!(line.matches('\n').count(), 1);
        assert_eq!(line.trim_end().split(',').count(), 2, "{line:?}");
    }
}

#[test]
fn decoding_accepts_form_style_plus_and_rejects_bad_escapes() {
    assert_eq!(decode_key("a+b%2Bc").unwrap(), "a b+c");
    assert!(decode_key("bad%2").is_err());
    assert!(decode_key("bad%zz").is_err());
    assert!(decode_key("%FF%FE").is_err(), "not UTF-8");
}

#[test]
fn objects_over_5_gib_are_copied_locally() {
    assert_eq!(route(0), Route::Batch);
    assert_eq!(route(5 << 30), Route::Batch, "exactly 5 GiB is CopyObject's limit, inclusive");
    assert_eq!(route((5 << 30) + 1), Route::Local);
}

#[test]
fn acl_follows_object_ownership() {
    assert_eq!(canned_acl(Some("BucketOwnerEnforced")), None);
    assert_eq!(canned_acl(None), None);
    assert_eq!(canned_acl(Some("BucketOwnerPreferred")), Some("bucket-owner-full-control"));
    assert_eq!(canned_acl(Some("ObjectWriter")), Some("bucket-owner-full-control"));
}

#[test]
fn a_source_prefix_is_refused_with_the_way_out() {
    assert_eq!(source_prefix_problem("", "prod/"), None);
    let why = source_prefix_problem("exports/*2024/", "prod/").unwrap();
    assert!(why.contains("prod/exports/*2024/x"), "{why}");
    assert!(why.contains(r"include = ['exports/\*2024/*']"), "{why}");
}

#[test]
fn request_tokens_are_stable_and_within_64_chars() {
    let a = request_token(&["etag", "s3://m/k", "role"]);
    assert_eq!(a, request_token(&["etag", "s3://m/k", "role"]));
    assert_ne!(a, request_token(&["etag", "s3://m/k", "role2"]));
    assert_ne!(request_token(&["ab", "c"]), request_token(&["a", "bc"]), "parts are delimited");
    assert!(a.len() <= 64 && a.starts_with("s3ferry-"), "{a}");
}

#[test]
fn report_rows_parse_with_quotes_and_encoded_keys() {
    let text = concat!(
        "src,ok%20key,,succeeded,200,,Successful\n",
        "src,a%2Cb/%C3%A9t%C3%A9.csv,,failed,AccessDenied,403,\"Access Denied, no \"\"kms:GenerateDataKey\"\"\"\r\n",
        "src,big+file,v1,failed,,400,\"multi\nline\"\n",
        "src,unquoted,,failed,InternalError,500,We encountered, an error\n",
        "\n",
    );
    let rows = parse_report(text).unwrap();
    assert_eq!(rows.len(), 4);
    assert!(!rows[0].failed());
    assert_eq!(rows[1].key, "a,b/été.csv");
    assert_eq!(rows[1].http_status, Some(403));
    assert_eq!(rows[1].message, "Access Denied, no \"kms:GenerateDataKey\"");
    assert_eq!(
        rows[1].failure(),
        Failure {
            key: "a,b/été.csv".into(),
            code: "AccessDenied".into(),
            message: "Access Denied, no \"kms:GenerateDataKey\"".into(),
            attempts: 1
        }
    );
    assert_eq!(rows[2].key, "big file");
    assert_eq!(rows[2].version_id.as_deref(), Some("v1"));
    assert_eq!(rows[2].failure().code, "HTTP 400", "no error code: the HTTP status names it");
    assert_eq!(rows[2].message, "multi\nline");
    assert_eq!(rows[3].message, "We encountered, an error");
}

#[test]
fn broken_reports_name_the_line() {
    let e = parse_report("src,k,,failed,AccessDenied,403,ok\nsrc,only,three\n").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.to_string().contains("expected 7 columns"), "{e}");
    let e = parse_report("src,k,,failed,X,500,\"never closed\n").unwrap_err();
    assert!(e.message.contains("never closed"));
    let e = parse_report("src,bad%zz,,failed,X,500,m\n").unwrap_err();
    assert_eq!(e.line, 1);
}

#[test]
fn report_manifest_lists_failed_results_first() {
    let doc = r#"{"Format":"Report_CSV_20180820","ReportCreationDate":"2019-04-05T17:48:39.725Z","Results":[
        {"TaskExecutionStatus":"succeeded","Bucket":"r","MD5Checksum":"x","Key":"p/job-1/results/a.csv"},
        {"TaskExecutionStatus":"failed","Bucket":"r","MD5Checksum":"y","Key":"p/job-1/results/b.csv"}],
        "ReportSchema":"Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"}"#;
    let files = parse_report_manifest(doc).unwrap();
    assert_eq!(files[0].key, "p/job-1/results/b.csv");
    assert_eq!(files[1].task_execution_status, "succeeded");
    assert!(parse_report_manifest(r#"{"Format":"Other","Results":[]}"#).unwrap_err().contains("Other"));
    assert!(parse_report_manifest("nope").is_err());
}

#[test]
fn report_manifest_key_joins_the_prefix() {
    let t = ReportTarget { bucket: "r".into(), prefix: "s3ferry-batch/reports/".into() };
    assert_eq!(t.manifest_key("abc"), "s3ferry-batch/reports/job-abc/manifest.json");
    let t = ReportTarget { bucket: "r".into(), prefix: String::new() };
    assert_eq!(t.manifest_key("abc"), "job-abc/manifest.json");
}

#[test]
fn job_status_line_and_elapsed() {
    let mut s = JobStatus {
        job_id: "j".into(),
        status: "Active".into(),
        total: 5000,
        succeeded: 1197,
        failed: 3,
        created: Some(1_000),
        ..JobStatus::default()
    };
    assert_eq!(s.line(1_125), "Active: 1200 of 5000 done, 1197 succeeded, 3 failed in 2m 05s");
    assert!(!s.is_terminal());
    s.status = "Complete".into();
    s.terminated = Some(1_000 + 3 * 3600 + 7 * 60);
    assert!(s.is_terminal());
    assert_eq!(s.elapsed_secs(99_999), Some(3 * 3600 + 7 * 60), "a finished job's clock stops");
    s.created = None;
    s.elapsed_reported = Some(42);
    assert_eq!(s.elapsed_secs(99_999), Some(42));
}
