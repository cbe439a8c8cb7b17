//! parse_policy and evaluate never panic: arbitrary text, JSON-ish noise, and structured random policies.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use s3ferry::core::policy::{Decision, LabelledPolicy, PolicyKind, Principal, Request, evaluate, parse_policy};

const KINDS: [PolicyKind; 5] =
    [PolicyKind::Identity, PolicyKind::Boundary, PolicyKind::Session, PolicyKind::Bucket, PolicyKind::Key];

fn kind() -> impl Strategy<Value = PolicyKind> {
    prop::sample::select(KINDS.to_vec())
}

/// Strings drawn from values that matter to the engine, plus noise.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "*",
            "s3:*",
            "s3:PutObject",
            "s3:Put*",
            "S3:GETOBJECT",
            "kms:*",
            "kms:Decrypt",
            "kms:GenerateDataKey?",
            "arn:aws:s3:::datalake-raw/*",
            "arn:aws:s3:::datalake-raw/prod/${aws:username}/*",
            "arn:aws:s3:::${*}",
            "arn:aws:kms:eu-west-1:222222222222:key/k",
            "arn:aws:iam::111111111111:role/ops/transfer",
            "arn:aws:iam::111111111111:root",
            "111111111111",
            "222222222222",
            "AROAEXAMPLEROLEID12345",
            "arn:aws:sts::111111111111:assumed-role/transfer/s",
            "arn:aws:iam::*:role/*",
            "aws:kms",
            "AES256",
            "true",
            "false",
            "10",
            "1e999",
            "2024-01-01T00:00:00Z",
            "10.0.0.0/8",
            "::1/200",
            "${aws:PrincipalArn}",
            "${",
            "}",
            "",
            "arn:",
            "arn:aws",
            "é*?",
            "\u{0}",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,12}",
        any::<String>(),
    ]
}

fn words() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => word().prop_map(Value::String),
        6 => prop::collection::vec(word().prop_map(Value::String), 0..4).prop_map(Value::Array),
        1 => Just(json!(5)),
        1 => Just(Value::Null),
        1 => Just(json!({"AWS": 1})),
    ]
}

/// Mostly well-formed values from `pool`, sometimes anything `words()` gives.
fn pooled(pool: Vec<&'static str>) -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => prop::collection::vec(prop::sample::select(pool).prop_map(|s| Value::String(s.to_string())), 1..3)
            .prop_map(Value::Array),
        2 => words(),
    ]
}

fn actions() -> impl Strategy<Value = Value> {
    pooled(vec![
        "*",
        "s3:*",
        "s3:PutObject",
        "s3:Put*",
        "S3:GETOBJECT",
        "kms:*",
        "kms:Decrypt",
        "kms:GenerateDataKey?",
        "s3:Get?bject",
    ])
}

fn resources() -> impl Strategy<Value = Value> {
    pooled(vec![
        "*",
        "arn:aws:s3:::datalake-raw/*",
        "arn:aws:s3:::datalake-raw/prod/${aws:username}/*",
        "arn:aws:s3:::${*}",
        "arn:aws:kms:eu-west-1:222222222222:key/k",
        "arn:aws:kms:*:*:key/*",
        "arn:aws:s3:::datalake-raw/pro?/a",
    ])
}

fn operator() -> impl Strategy<Value = String> {
    let base = prop::sample::select(vec![
        "StringEquals",
        "StringNotEquals",
        "StringLike",
        "StringNotLike",
        "Bool",
        "Null",
        "ArnLike",
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
        "NumericEquals",
        "NumericLessThan",
        "NumericGreaterThanEquals",
        "DateEquals",
        "DateLessThan",
        "DateNotEquals",
        "Bool",
        "BinaryEquals",
        "IpAddress",
        "NotIpAddress",
        "ArnEquals",
        "ArnLike",
        "ArnNotEquals",
        "ArnNotLike",
        "Null",
        "Bogus",
    ]);
    let prefix = prop::sample::select(vec!["", "ForAnyValue:", "ForAllValues:"]);
    (prefix, base, any::<bool>()).prop_map(|(p, b, ie)| format!("{p}{b}{}", if ie { "IfExists" } else { "" }))
}

fn condition_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "aws:SecureTransport",
            "s3:x-amz-server-side-encryption",
            "s3:x-amz-acl",
            "aws:PrincipalArn",
            "kms:CallerAccount",
            "aws:SourceIp",
            "aws:CurrentTime",
            "aws:TagKeys",
            "AWS:securetransport",
        ])
        .prop_map(str::to_string),
        "[a-z:]{1,10}",
    ]
}

fn condition() -> impl Strategy<Value = Value> {
    prop::collection::vec((operator(), condition_key(), words()), 0..3).prop_map(|items| {
        let mut ops = Map::new();
        for (op, key, values) in items {
            let entry = ops.entry(op).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = entry {
                m.insert(key, values);
            }
        }
        Value::Object(ops)
    })
}

fn principal() -> impl Strategy<Value = Value> {
    let pool = vec![
        "*",
        "arn:aws:iam::111111111111:role/ops/transfer",
        "arn:aws:iam::111111111111:root",
        "111111111111",
        "222222222222",
        "AROAEXAMPLEROLEID12345",
        "arn:aws:sts::111111111111:assumed-role/transfer/s",
        "arn:aws:iam::*:role/*",
        "arn:aws:iam::111111111111:user/alice",
    ];
    prop_oneof![
        2 => Just(json!("*")),
        8 => pooled(pool).prop_map(|w| json!({ "AWS": w })),
        1 => words().prop_map(|w| json!({ "Service": w, "AWS": "111111111111" })),
        1 => words(),
    ]
}

/// A statement for a policy of `kind`: a Principal mostly where the kind wants one.
fn statement(kind: PolicyKind) -> impl Strategy<Value = Value> {
    (
        prop_oneof![9 => prop::sample::select(vec!["Allow", "Deny"]), 1 => Just("allow")],
        prop::bool::weighted(0.15),
        actions(),
        prop::bool::weighted(0.15),
        resources(),
        prop::bool::weighted(if kind.is_resource_policy() { 0.9 } else { 0.1 }),
        (prop::bool::weighted(0.15), principal()),
        prop::option::weighted(0.6, condition()),
        prop::option::of(word()),
    )
        .prop_map(|(effect, not_action, action, not_resource, resource, with_principal, (not, p), cond, sid)| {
            let mut m = Map::new();
            m.insert("Effect".into(), json!(effect));
            m.insert(if not_action { "NotAction" } else { "Action" }.into(), action);
            m.insert(if not_resource { "NotResource" } else { "Resource" }.into(), resource);
            if with_principal {
                m.insert(if not { "NotPrincipal" } else { "Principal" }.into(), p);
            }
            if let Some(c) = cond {
                m.insert("Condition".into(), c);
            }
            if let Some(s) = sid {
                m.insert("Sid".into(), json!(s));
            }
            Value::Object(m)
        })
}

fn document(kind: PolicyKind) -> impl Strategy<Value = Value> {
    (
        prop_oneof![5 => Just("2012-10-17"), 2 => Just("2008-10-17"), 1 => Just("2012")],
        prop::collection::vec(statement(kind), 0..4),
        any::<bool>(),
    )
        .prop_map(|(v, stmts, single)| {
            let statement = if single && stmts.len() == 1 { stmts[0].clone() } else { Value::Array(stmts) };
            json!({ "Version": v, "Statement": statement })
        })
}

fn labelled_doc() -> impl Strategy<Value = (PolicyKind, Value, bool)> {
    kind().prop_flat_map(|k| (Just(k), document(k), prop::bool::weighted(0.2)))
}

fn request() -> impl Strategy<Value = Request> {
    (
        prop::sample::select(vec![
            "arn:aws:sts::111111111111:assumed-role/transfer/s",
            "arn:aws:iam::111111111111:role/ops/transfer",
            "arn:aws:iam::111111111111:user/alice",
            "111111111111",
        ]),
        any::<bool>(),
        prop::sample::select(vec!["s3:PutObject", "s3:GetObject", "kms:Decrypt", "kms:GenerateDataKey", "x"]),
        prop::sample::select(vec![
            "arn:aws:s3:::datalake-raw/prod/a",
            "arn:aws:kms:eu-west-1:222222222222:key/k",
            "arn:aws:kms:eu-west-1:111111111111:alias/a",
            "not-an-arn",
            "",
        ]),
        prop::sample::select(vec!["111111111111", "222222222222", ""]),
        prop::collection::vec((condition_key(), word()), 0..4),
    )
        .prop_map(|(arn, with_role, action, resource, account, ctx)| {
            let mut p = Principal::from_arn(arn).expect("fixture principal");
            if with_role && arn.contains("assumed-role") {
                p = p.with_role_arn("arn:aws:iam::111111111111:role/ops/transfer");
            }
            let mut r = Request::new(p, action, resource, account);
            for (k, v) in ctx {
                r.context.insert(&k, v);
            }
            r
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in any::<String>(), k in kind()) {
        let _ = parse_policy(&text, k);
    }

    #[test]
    fn parse_never_panics_on_json_like_noise(text in r#"[{}\[\]":,%0-9A-Fa-z*?$\\ ]{0,120}"#, k in kind()) {
        let _ = parse_policy(&text, k);
    }

    #[test]
    fn structured_policies_evaluate_without_panicking(
        docs in prop::collection::vec(labelled_doc(), 1..5),
        req in request(),
    ) {
        let mut policies = Vec::new();
        for (k, doc, encode) in docs {
            let text = serde_json::to_string(&doc).expect("serialize");
            let text = if encode {
                percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC).to_string()
            } else {
                text
            };
            if let Ok(document) = parse_policy(&text, k) {
                let account = if k.is_resource_policy() { "222222222222" } else { "111111111111" };
                policies.push(LabelledPolicy::new(k, format!("{k} policy"), account, document));
            }
        }
        let e = evaluate(&req, &policies);
        // Invariants that hold for any input.
        prop_assert!(!e.explanation.is_empty());
        if e.decision != Decision::ImplicitDeny {
            prop_assert!(e.fixes.is_empty());
        }
        let mut patched = policies.clone();
        for f in &e.fixes {
            prop_assert!(!f.json.contains("\"AWS\": \"*\""));
            match parse_policy(&f.json, f.policy) {
                Ok(d) => patched.push(LabelledPolicy::new(f.policy, "fix", f.account.clone(), d)),
                Err(err) => prop_assert!(false, "fix does not parse: {err}\n{}", f.json),
            }
        }
        // A fix only adds allows, so it can leave an unevaluable statement (unknown) but never a deny.
        if !e.fixes.is_empty() {
            let after = evaluate(&req, &patched).decision;
            prop_assert!(matches!(after, Decision::Allow | Decision::Unknown), "after fixes: {after:?}");
        }
    }
}
