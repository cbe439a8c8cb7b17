//! Parser tests: malformed documents give the JSON path and a clear message; valid variants parse.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use s3ferry::core::policy::{ActionSpec, BaseOp, PolicyKind, PrincipalSet, PrincipalSpec, ResourceSpec, parse_policy};

use PolicyKind::{Boundary, Bucket, Identity, Key, Session};

struct Bad {
    rule: &'static str,
    kind: PolicyKind,
    text: &'static str,
    path: &'static str,
    message: &'static str,
}

fn bad_cases() -> Vec<Bad> {
    vec![
        // rule: not JSON at all
        Bad { rule: "truncated", kind: Identity, text: "{", path: "$", message: "invalid JSON at line 1 column 2" },
        // rule: empty input
        Bad { rule: "empty", kind: Identity, text: "", path: "$", message: "unexpected end of input" },
        // rule: syntax errors carry line, column and the path of the enclosing value
        Bad {
            rule: "trailing comma",
            kind: Identity,
            text: "{\"Version\":\"2012-10-17\",\n\"Statement\":[\n{\"Effect\":\"Allow\",}]}",
            path: "$.Statement[0]",
            message: "line 3",
        },
        // rule: duplicate keys are invalid (top level)
        Bad {
            rule: "dup top",
            kind: Identity,
            text: r#"{"Statement":[],"Statement":[]}"#,
            path: "$.Statement",
            message: "duplicate key \"Statement\"",
        },
        // rule: duplicate keys are invalid (statement)
        Bad {
            rule: "dup effect",
            kind: Identity,
            text: r#"{"Statement":[{"Effect":"Allow","Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#,
            path: "$.Statement[0].Effect",
            message: "duplicate key",
        },
        // rule: duplicate keys are invalid (condition key)
        Bad {
            rule: "dup condition key",
            kind: Identity,
            text: r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpc":"a","aws:SourceVpc":"b"}}}}"#,
            path: "$.Statement.Condition.StringEquals.aws:SourceVpc",
            message: "duplicate key",
        },
        // rule: duplicate keys are invalid (principal map)
        Bad {
            rule: "dup principal type",
            kind: Bucket,
            text: r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111","AWS":"*"},"Action":"s3:*","Resource":"*"}]}"#,
            path: "$.Statement[0].Principal.AWS",
            message: "duplicate key",
        },
        // rule: Effect is exactly "Allow" or "Deny"
        Bad {
            rule: "effect case",
            kind: Identity,
            text: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"allow","Action":"s3:*","Resource":"*"}]}"#,
            path: "$.Statement[1].Effect",
            message: "expected \"Allow\" or \"Deny\", found \"allow\"",
        },
        // rule: Effect is required
        Bad {
            rule: "missing effect",
            kind: Identity,
            text: r#"{"Statement":[{"Action":"s3:*","Resource":"*"}]}"#,
            path: "$.Statement[0]",
            message: "missing \"Effect\"",
        },
        // rule: Effect must be a string
        Bad {
            rule: "effect type",
            kind: Identity,
            text: r#"{"Statement":[{"Effect":true,"Action":"s3:*","Resource":"*"}]}"#,
            path: "$.Statement[0].Effect",
            message: "found a boolean",
        },
        // rule: Version is 2012-10-17 or 2008-10-17
        Bad {
            rule: "version",
            kind: Identity,
            text: r#"{"Version":"2012-10-18","Statement":[]}"#,
            path: "$.Version",
            message: "expected \"2012-10-17\" or \"2008-10-17\"",
        },
        // rule: unknown top-level keys are rejected
        Bad {
            rule: "unknown top key",
            kind: Identity,
            text: r#"{"Version":"2012-10-17","Statements":[]}"#,
            path: "$.Statements",
            message: "unknown top-level key \"Statements\"",
        },
        // rule: element names are case-sensitive; unknown statement keys rejected with a hint
        Bad {
            rule: "unknown statement key",
            kind: Identity,
            text: r#"{"Statement":[{"effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
            path: "$.Statement[0].effect",
            message: "did you mean \"Effect\"",
        },
        // rule: Principal only in resource policies (identity)
        Bad {
            rule: "principal in identity",
            kind: Identity,
            text: r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#,
            path: "$.Statement[0].Principal",
            message: "only allowed in resource policies",
        },
        // rule: Principal only in resource policies (boundary, NotPrincipal)
        Bad {
            rule: "notprincipal in boundary",
            kind: Boundary,
            text: r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"*"},"Action":"s3:*","Resource":"*"}]}"#,
            path: "$.Statement[0].NotPrincipal",
            message: "not in a permissions boundary",
        },
        // rule: Principal only in resource policies (session)
        Bad {
            rule: "principal in session",
            kind: Session,
            text: r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#,
            path: "$.Statement[0].Principal",
            message: "session policy",
        },
        // rule: resource policies need a Principal
        Bad {
            rule: "bucket without principal",
            kind: Bucket,
            text: r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
            path: "$.Statement[0]",
            message: "needs \"Principal\" or \"NotPrincipal\"",
        },
        // rule: Principal and NotPrincipal are exclusive
        Bad {
            rule: "principal and notprincipal",
            kind: Key,
            text: r#"{"Statement":[{"Effect":"Deny","Principal":"*","NotPrincipal":"*","Action":"kms:*","Resource":"*"}]}"#,
            path: "$.Statement[0]",
            message: "both \"Principal\" and \"NotPrincipal\"",
        },
        // rule: Principal map keys are AWS/Service/Federated/CanonicalUser
        Bad {
            rule: "principal type",
            kind: Bucket,
            text: r#"{"Statement":[{"Effect":"Allow","Principal":{"Aws":"*"},"Action":"s3:*","Resource":"*"}]}"#,
            path: "$.Statement[0].Principal.Aws",
            message: "unknown principal type",
        },
        // rule: Principal is "*" or a map
        Bad {
            rule: "principal string",
            kind: Bucket,
            text: r#"{"Statement":[{"Effect":"Allow","Principal":"111111111111","Action":"s3:*","Resource":"*"}]}"#,
            path: "$.Statement[0].Principal",
            message: "expected \"*\" or an object",
        },
        // rule: principal values are strings
        Bad {
            rule: "principal value type",
            kind: Bucket,
            text: r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["a",1]},"Action":"s3:*","Resource":"*"}]}"#,
            path: "$.Statement[0].Principal.AWS[1]",
            message: "expected a string, found a number",
        },
        // rule: Action is a string or an array of strings
        Bad {
            rule: "action type",
            kind: Identity,
            text: r#"{"Statement":[{"Effect":"Allow","Action":5,"Resource":"*"}]}"#,
            path: "$.Statement[0].Action",
            message: "found a number",
        },
        // rule: array items are checked with their index
        Bad {
            rule: "action item type",
            kind: Identity,
            text: r#"{"Statement":[{"Effect":"Allow","Action":["s3:GetObject",null],"Resource":"*"}]}"#,
            path: "$.Statement[0].Action[1]",
            message: "found null",
        },
        // rule: actions look like service:name
        Bad {
            rule: "action format",
            kind: Identity,
            text: r#"{"Statement":[{"Effect":"Allow","Action":"s3PutObject","Resource":"*"}]}"#,
            path: "$.Statement[0].Action",
            message: "expected an action like",
        },
        // rule: resources are ARNs or "*"
        Bad {
            rule: "resource format",
            kind: Identity,
            text: r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::b","datalake-raw/*"]}]}"#,
            path: "$.Statement[0].Resource[1]",
            message: "expected an ARN",
        },
        // rule: Action and NotAction are exclusive
        Bad {
            rule: "action and notaction",
            kind: Identity,
            text: r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","NotAction":"iam:*","Resource":"*"}]}"#,
            path: "$.Statement[0]",
            message: "both \"Action\" and \"NotAction\"",
        },
        // rule: Resource or NotResource is required
        Bad {
            rule: "missing resource",
            kind: Identity,
            text: r#"{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#,
            path: "$.Statement[0]",
            message: "missing \"Resource\" or \"NotResource\"",
        },
        // rule: Statement is an object or an array
        Bad {
            rule: "statement type",
            kind: Identity,
            text: r#"{"Statement":"Allow"}"#,
            path: "$.Statement",
            message: "expected a statement object",
        },
        // rule: Statement is required
        Bad {
            rule: "missing statement",
            kind: Identity,
            text: r#"{"Version":"2012-10-17"}"#,
            path: "$",
            message: "missing \"Statement\"",
        },
        // rule: the document is an object
        Bad {
            rule: "document type",
            kind: Identity,
            text: r#"[{"Effect":"Allow"}]"#,
            path: "$",
            message: "must be an object",
        },
        // rule: Sid is a string
        Bad {
            rule: "sid type",
            kind: Identity,
            text: r#"{"Statement":[{"Sid":1,"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
            path: "$.Statement[0].Sid",
            message: "expected a string",
        },
        // rule: Condition is an object of operators
        Bad {
            rule: "condition type",
            kind: Identity,
            text: r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":[]}]}"#,
            path: "$.Statement[0].Condition",
            message: "expected an object",
        },
        // rule: each operator maps keys to values
        Bad {
            rule: "condition operator type",
            kind: Identity,
            text: r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":"x"}}]}"#,
            path: "$.Statement[0].Condition.StringEquals",
            message: "expected an object of condition keys",
        },
        // rule: condition values are scalars
        Bad {
            rule: "condition value null",
            kind: Identity,
            text: r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":null}}}]}"#,
            path: "$.Statement[0].Condition.Bool.aws:SecureTransport",
            message: "found null",
        },
        // rule: percent-encoded documents report errors on the decoded document
        Bad {
            rule: "percent-encoded error",
            kind: Identity,
            text: "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Permit%22%2C%22Action%22%3A%22s3%3A*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D",
            path: "$.Statement[0].Effect",
            message: "found \"Permit\"",
        },
        // rule: percent-encoded invalid JSON says it was decoded
        Bad {
            rule: "percent-encoded syntax",
            kind: Identity,
            text: "%7B%22Statement%22%3A",
            path: "$.Statement",
            message: "percent-decoded",
        },
    ]
}

#[test]
fn malformed_documents_report_path_and_message() {
    let cases = bad_cases();
    let mut failures = Vec::new();
    for c in &cases {
        match parse_policy(c.text, c.kind) {
            Ok(doc) => failures.push(format!("[{}] parsed: {doc:?}", c.rule)),
            Err(e) => {
                if e.path != c.path || !e.message.contains(c.message) {
                    failures.push(format!(
                        "[{}] got {e} (path {:?}), expected path {:?} and message with {:?}",
                        c.rule, e.path, c.path, c.message
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn error_display_matches_spec() {
    let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"},{"Effect":"allow","Action":"s3:*","Resource":"*"}]}"#;
    let e = parse_policy(text, Identity).unwrap_err();
    assert_eq!(e.to_string(), r#"at $.Statement[1].Effect: expected "Allow" or "Deny", found "allow""#);
}

const VALID: &str = r#"{
  "Version": "2012-10-17",
  "Id": "key-consolepolicy-3",
  "Statement": [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "Allow use of the key", "Effect": "Allow",
     "Principal": {"AWS": ["arn:aws:iam::111111111111:role/ops/transfer", "111111111111"], "Service": "s3.amazonaws.com"},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
     "Condition": {"NumericLessThan": {"kms:x": 10}, "Bool": {"aws:SecureTransport": true}, "ForAnyValue:StringFancy": {"k": ["a", "b"]}}}
  ]
}"#;

#[test]
fn percent_encoded_documents_decode_to_the_same_model() {
    let plain = parse_policy(VALID, Key).expect("valid");
    let upper = utf8_percent_encode(VALID, NON_ALPHANUMERIC).to_string();
    assert!(upper.starts_with("%7B"));
    assert_eq!(parse_policy(&upper, Key).expect("encoded"), plain);
    let lower = upper.replace("%7B", "%7b").replace("%3A", "%3a").replace("%7D", "%7d");
    assert_eq!(parse_policy(&lower, Key).expect("lower-case hex"), plain);
    // IAM-style: only some characters encoded, starting with a raw brace.
    let partial = VALID.replace('"', "%22");
    assert_eq!(parse_policy(&partial, Key).expect("partially encoded"), plain);
}

#[test]
fn valid_variants_parse_into_the_model() {
    let doc = parse_policy(VALID, Key).expect("valid key policy");
    assert_eq!(doc.id.as_deref(), Some("key-consolepolicy-3"));
    assert_eq!(doc.statements.len(), 2);
    // Key-policy Sids may contain spaces.
    assert_eq!(doc.statements[0].sid.as_deref(), Some("Enable IAM User Permissions"));
    let s = &doc.statements[1];
    match &s.principal {
        Some(PrincipalSpec::Principal(PrincipalSet::Map(entries))) => assert_eq!(entries.len(), 3),
        other => panic!("principal {other:?}"),
    }
    assert_eq!(
        s.action,
        ActionSpec::Action(vec!["kms:Encrypt".into(), "kms:Decrypt".into(), "kms:GenerateDataKey*".into()])
    );
    assert_eq!(s.resource, ResourceSpec::Resource(vec!["*".into()]));
    assert_eq!(s.conditions.len(), 3);
    assert_eq!(s.conditions[0].values, vec!["10".to_string()]);
    assert_eq!(s.conditions[1].values, vec!["true".to_string()]);
    assert_eq!(s.conditions[0].operator.base, Some(BaseOp::NumericLessThan));
    // An unknown operator parses; evaluation reports it as unknown.
    assert_eq!(s.conditions[2].operator.base, None);

    // A single statement object, a BOM, and the old version.
    let single = "\u{feff}{\"Version\":\"2008-10-17\",\"Statement\":{\"Effect\":\"Deny\",\"NotAction\":\"s3:Get*\",\"NotResource\":[\"arn:aws:s3:::b/*\"]}}";
    let doc = parse_policy(single, Identity).expect("single statement");
    assert_eq!(doc.statements.len(), 1);
    assert!(!doc.supports_variables());
    assert_eq!(doc.statements[0].action, ActionSpec::NotAction(vec!["s3:Get*".into()]));

    // Sids with spaces are not rejected in identity policies either (AWS would refuse to store them, but a
    // document that exists is evaluated as written).
    let spaced = r#"{"Statement":[{"Sid":"Write datalake","Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}]}"#;
    assert!(parse_policy(spaced, Identity).is_ok());
    // "*" as a plain string is a valid principal in every kind that names principals.
    for kind in [Bucket, PolicyKind::Key, PolicyKind::Trust, PolicyKind::Rcp, PolicyKind::Endpoint] {
        let text = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}"#;
        let text = if kind == PolicyKind::Trust { text.replace(r#","Resource":"*""#, "") } else { text.to_string() };
        let doc = parse_policy(&text, kind).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(matches!(doc.statements[0].principal, Some(PrincipalSpec::Principal(PrincipalSet::Any))), "{kind}");
    }
    // Any other plain string, or a number, is no principal: a clear error at its path.
    for bad in [r#""arn:aws:iam::111111111111:root""#, "42"] {
        let text =
            format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":{bad},"Action":"s3:*","Resource":"*"}}]}}"#);
        let e = parse_policy(&text, Bucket).expect_err(bad).to_string();
        assert!(e.contains("Principal"), "{bad}: {e}");
    }
    // "*" principal.
    let star =
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
    assert!(matches!(
        parse_policy(star, Bucket).unwrap().statements[0].principal,
        Some(PrincipalSpec::Principal(PrincipalSet::Any))
    ));
}
