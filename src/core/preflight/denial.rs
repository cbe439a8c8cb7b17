//! Reading an AccessDenied (aws-rules section 6): which policy type said no, explicitly or not.
//! S3 gives these details only within one account or organization; a bare "Access Denied" is
//! ambiguous and reported as such.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    /// "identity-based", "resource-based", "permissions boundary", "session", "service control",
    /// "VPC endpoint", "role trust"; `None` when the message does not say.
    pub policy_type: Option<String>,
    pub explicit: bool,
    pub action: Option<String>,
    pub resource: Option<String>,
    pub summary: String,
}

/// Classifies an error code and message from S3 or KMS.
pub fn classify(code: &str, message: &str) -> Denial {
    let empty = |summary: String| Denial { policy_type: None, explicit: false, action: None, resource: None, summary };
    if code == "AccessControlListNotSupported" {
        return empty(
            "the bucket has ACLs disabled (BucketOwnerEnforced): the request must carry no ACL header".to_string(),
        );
    }
    if (code.contains("NotFoundException") || message.contains("NotFoundException")) && message.contains("aws/s3") {
        return empty(
            "the bucket's default encryption uses the AWS managed key aws/s3, which no other account can use"
                .to_string(),
        );
    }
    if code == "KMS.DisabledException" || message.contains("is disabled") {
        return empty("the KMS key is disabled".to_string());
    }
    if !(code == "AccessDenied" || code == "AccessDeniedException" || code.ends_with("AccessDenied")) {
        return empty(format!("{code}: {message}"));
    }
    let action = between(message, "perform: ", " ").or_else(|| between(message, "perform: ", ""));
    let resource = between(message, "on resource: ", " ");
    let explicit = message.contains("explicit deny");
    // "…with an explicit deny in a(n) TYPE [policy]" / "…because no TYPE [policy] allows…"
    let raw =
        if explicit { between(message, "explicit deny in a", "") } else { between(message, "because no ", " allows") };
    let policy_type = raw.map(|t| {
        let t = t.strip_prefix("n ").unwrap_or(&t).trim();
        t.strip_suffix(" policy").unwrap_or(t).to_string()
    });
    let summary = match (&policy_type, explicit) {
        (Some(t), true) => format!("explicitly denied by {} {t} policy", article(t)),
        (Some(t), false) => format!("no {t} policy allows it"),
        (None, _) => "Access Denied without details (across accounts or organizations S3 does not say which policy): check both the identity policy and the bucket or key policy".to_string(),
    };
    Denial { policy_type, explicit, action, resource, summary }
}

/// The preflight checks that judge the permission a failed copy lacked, by its code and message
/// (the copier's messages name the operation and the side). Empty when no check covers it.
pub fn covering_checks(code: &str, message: &str) -> &'static [&'static str] {
    // AWS names the KMS action it refused ("not authorized to perform: kms:Decrypt"); the
    // copier's own hints mention kms: on every write, so they do not count.
    let kms =
        code.starts_with("KMS") || message.contains("perform: kms:") || message.contains("resource: arn:aws:kms:");
    let source_side = ["GetObject", "HeadObject (source)", "GetObjectTagging", "ListObjects"]
        .iter()
        .any(|op| message.starts_with(op) || message.contains(&format!("{op} s3://")));
    match code {
        "ExpiredToken" | "ExpiredTokenException" | "InvalidToken" => &["credentials.lifetime"],
        "NoSuchBucket" => &["destination.bucket"],
        "AccessControlListNotSupported" => &["destination.ownership"],
        _ if !code.contains("AccessDenied") => &[],
        _ if kms && source_side => &["source.key"],
        _ if kms => &["destination.key_policy", "source.policy.key"],
        _ if source_side => &["source.read"],
        _ => &["destination.bucket_policy", "source.policy.write"],
    }
}

#[cfg(test)]
mod covering_tests {
    use super::covering_checks;

    #[test]
    fn failures_map_to_the_checks_that_judge_them() {
        let write =
            "AccessDenied: CopyObject s3://a/k -> s3://b/k as role: Access Denied. Next: allow ... kms:GenerateDataKey";
        let cases: &[(&str, &str, &[&str])] = &[
            ("AccessDenied", write, &["destination.bucket_policy", "source.policy.write"]),
            ("AccessDenied", "AccessDenied: GetObject s3://a/k as role: denied", &["source.read"]),
            (
                "AccessDenied",
                "AccessDenied: CopyObject s3://a/k -> s3://b/k as r: not authorized to perform: kms:GenerateDataKey",
                &["destination.key_policy", "source.policy.key"],
            ),
            ("ExpiredToken", "", &["credentials.lifetime"]),
            ("NoSuchKey", "gone", &[]),
        ];
        for (code, message, want) in cases {
            assert_eq!(covering_checks(code, message), *want, "{code}: {message}");
        }
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let rest = &text[from..];
    let to = if end.is_empty() { rest.len() } else { rest.find(end).unwrap_or(rest.len()) };
    let found = rest[..to].trim_end_matches(['.', ',']).trim();
    (!found.is_empty()).then(|| found.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        // (code, message, policy type, explicit, action, summary contains)
        type Case<'a> = (&'a str, &'a str, Option<&'a str>, bool, Option<&'a str>, &'a str);
        let cases: &[Case] = &[
            // IAM-style message: no identity-based policy allows.
            (
                "AccessDenied",
                "User: arn:aws:sts::111111111111:assumed-role/transfer/s3ferry is not authorized to perform: s3:PutObject on resource: \"arn:aws:s3:::dl/prod/x\" because no identity-based policy allows the s3:PutObject action",
                Some("identity-based"),
                false,
                Some("s3:PutObject"),
                "no identity-based policy allows it",
            ),
            // Explicit deny in a resource-based policy.
            (
                "AccessDenied",
                "User: arn:aws:iam::111111111111:user/x is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::dl/a with an explicit deny in a resource-based policy",
                Some("resource-based"),
                true,
                Some("s3:PutObject"),
                "explicitly denied by a resource-based policy",
            ),
            // Permissions boundary.
            (
                "AccessDenied",
                "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:eu-west-2:2:key/k because no permissions boundary allows the kms:GenerateDataKey action",
                Some("permissions boundary"),
                false,
                Some("kms:GenerateDataKey"),
                "permissions boundary",
            ),
            // "in an identity-based policy": the article varies.
            (
                "AccessDenied",
                "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k with an explicit deny in an identity-based policy",
                Some("identity-based"),
                true,
                Some("s3:GetObject"),
                "explicitly denied by an identity-based policy",
            ),
            // KMS JSON API flavour of the code.
            (
                "AccessDeniedException",
                "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:eu-west-2:2:key/k with an explicit deny in a service control policy",
                Some("service control"),
                true,
                Some("kms:Decrypt"),
                "explicitly denied",
            ),
            // Bare message across organizations: ambiguous.
            ("AccessDenied", "Access Denied", None, false, None, "without details"),
            ("AccessControlListNotSupported", "The bucket does not allow ACLs", None, false, None, "ACLs disabled"),
            ("KMS.NotFoundException", "Invalid keyId aws/s3", None, false, None, "aws/s3"),
            ("SlowDown", "Please reduce your request rate.", None, false, None, "SlowDown"),
        ];
        for (code, message, kind, explicit, action, phrase) in cases {
            let d = classify(code, message);
            assert_eq!(d.policy_type.as_deref(), *kind, "{message}");
            assert_eq!(d.explicit, *explicit, "{message}");
            assert_eq!(d.action.as_deref(), *action, "{message}");
            assert!(d.summary.contains(phrase), "{:?} should contain {phrase:?}", d.summary);
        }
    }
}
