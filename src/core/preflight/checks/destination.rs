//! The checks of the destination side: the bucket, its default encryption, its bucket and key
//! policies, Object Ownership and the public access block.

use crate::core::policy::{PolicyKind, evaluate};
use crate::core::preflight::checks::{Area, Check, CheckDef, Ctx, Status, check, identity_and_bucket, judge, stand_in};
use crate::core::preflight::evidence::{Encryption, Evidence, Fetched, Ownership};

pub(super) fn bucket(def: &CheckDef, ev: &Evidence) -> Check {
    let (id, side) = (def.id, def.area);
    let b = &ev.destination;
    match (&b.exists, &b.region) {
        (Fetched::Absent, _) => check(id, side, Status::Fail, format!("bucket {} does not exist", b.bucket))
            .with_detail(["create it in the destination account (step 3), or fix [destination] bucket".to_string()]),
        (_, Fetched::Got(region)) => check(id, side, Status::Pass, format!("bucket {} exists in {region}", b.bucket)),
        (Fetched::Got(()), _) => {
            check(id, side, Status::Warn, format!("bucket {} exists; its Region is unknown", b.bucket))
        }
        (Fetched::Unreadable(why), _) => {
            check(id, side, Status::Unknown, format!("could not confirm bucket {} exists", b.bucket))
                .with_detail([why.clone()])
        }
    }
}

fn deferred(id: &'static str, side: Area, bucket: &str) -> Check {
    check(id, side, Status::Unknown, format!("skipped: bucket {bucket} does not exist (see destination.bucket)"))
}

pub(super) fn encryption(def: &CheckDef, ev: &Evidence) -> Check {
    let (id, side) = (def.id, def.area);
    let b = &ev.destination;
    if matches!(b.exists, Fetched::Absent) {
        return deferred(id, side, &b.bucket);
    }
    let configured = ev.destination_key_arn.as_deref();
    let enc = match &b.encryption {
        Fetched::Got(e) => e,
        Fetched::Absent => {
            return match configured {
                Some(k) => check(
                    id,
                    side,
                    Status::Fail,
                    format!("{} has no default encryption; the config names {k}", b.bucket),
                )
                .with_detail(["set the bucket's default encryption to SSE-KMS with that key ARN (step 4)".to_string()]),
                None => check(
                    id,
                    side,
                    Status::Pass,
                    format!("{} has no default encryption and the config names no key", b.bucket),
                ),
            };
        }
        Fetched::Unreadable(why) => {
            return check(
                id,
                side,
                Status::Unknown,
                format!("the default encryption of {} could not be read", b.bucket),
            )
            .with_detail([why.clone()]);
        }
    };
    let (key_id, bucket_key) = match enc {
        Encryption::SseKms { key_id, bucket_key } => (key_id, *bucket_key),
        Encryption::SseS3 => {
            return match configured {
                Some(k) => check(
                    id,
                    side,
                    Status::Fail,
                    format!("{} uses SSE-S3 by default, but the config names the KMS key {k}", b.bucket),
                )
                .with_detail([
                    "either set default encryption to SSE-KMS with that key (step 4) or remove kms_key_arn".to_string(),
                ]),
                None => check(id, side, Status::Pass, format!("{} uses SSE-S3 (no key policy involved)", b.bucket)),
            };
        }
        Encryption::Other(alg) => return check(id, side, Status::Warn, format!("{} uses {alg} by default", b.bucket)),
    };
    let aws_managed = key_id == "aws/s3"
        || key_id.ends_with("alias/aws/s3")
        || ev.destination_key.as_ref().and_then(|k| k.got()).is_some_and(|k| k.manager == "AWS");
    if aws_managed {
        return check(id, side, Status::Fail, format!("{} is encrypted with the AWS managed key aws/s3", b.bucket)).with_detail([
            "its key policy cannot be edited, so no other account can use it: cross-account writes fail with KMS.NotFoundException (Invalid keyId aws/s3)".to_string(),
            "create a customer-managed key, allow the source role in its key policy, and make it the bucket's default encryption (steps 4 and 6)".to_string(),
        ]);
    }
    if !key_id.starts_with("arn:") {
        return check(id, side, Status::Fail, format!("default encryption names the key as {key_id:?}, not by ARN"))
            .with_detail([
                "aliases and key ids resolve in the caller's account: name the key by its full ARN".to_string()
            ]);
    }
    let mut c = match configured {
        Some(k) if k != key_id => {
            check(id, side, Status::Fail, format!("default encryption uses {key_id}, but the config names {k}"))
        }
        None => check(
            id,
            side,
            Status::Warn,
            format!("default encryption uses {key_id}; set kms_key_arn to it so copies send the same key"),
        ),
        Some(_) => check(id, side, Status::Pass, format!("SSE-KMS with {key_id}")),
    };
    if let Some(Fetched::Got(k)) = &ev.destination_key {
        let mut problems = Vec::new();
        if !k.enabled {
            problems.push("the key is disabled".to_string());
        }
        if !k.symmetric {
            problems.push("the key is not symmetric (S3 needs SYMMETRIC_DEFAULT)".to_string());
        }
        if let Some(r) = b.region.got()
            && &k.region != r
        {
            problems.push(format!("the key is in {} but the bucket is in {r}", k.region));
        }
        if !problems.is_empty() {
            c.status = Status::Fail;
            c.summary = format!("the key {} cannot encrypt for this bucket", k.arn);
            c.detail.extend(problems);
        }
    }
    if c.status == Status::Pass && !bucket_key {
        c.status = Status::Warn;
        c.detail.push(
            "S3 Bucket Keys are off: every object written costs a KMS request (up to 99% more KMS cost)".to_string(),
        );
    }
    c
}

pub(super) fn bucket_policy(def: &CheckDef, ctx: &Ctx) -> Check {
    let (id, side) = (def.id, def.area);
    if ctx.destination_missing {
        return deferred(id, side, &ctx.dst_bucket);
    }
    let Some(principal) = &ctx.principal else {
        return check(id, side, Status::Unknown, "the transfer principal is unknown");
    };
    let account = ctx.dst_account.clone().unwrap_or_default();
    if account == principal.account {
        return check(
            id,
            side,
            Status::Pass,
            "same account as the principal: its identity policy is enough (see source.policy.write)",
        );
    }
    let bucket_policy = match &ctx.destination_bucket {
        Ok(p) => p.clone(),
        Err(problem) => return problem.check(id, side, &format!("the bucket policy of {}", ctx.dst_bucket)),
    };
    let mut policies = vec![stand_in(PolicyKind::Identity, "", &principal.account)];
    policies.extend(bucket_policy);
    let evals = ctx.judge_writes(&policies);
    judge(
        id,
        side,
        &format!(
            "the bucket policy of {} (account {account}) letting {} write",
            ctx.dst_bucket,
            ctx.principal_for_policy()
        ),
        evals,
    )
}

pub(super) fn key_policy(def: &CheckDef, ctx: &Ctx) -> Check {
    let (id, side) = (def.id, def.area);
    let Some(arn) = &ctx.key_arn else {
        return check(id, side, Status::Pass, "not needed: no destination KMS key is configured");
    };
    let Some((key_account, policy)) = &ctx.destination_key else {
        return check(id, side, Status::Unknown, format!("the key {arn} is unknown"));
    };
    let Some(principal) = &ctx.principal else {
        return check(id, side, Status::Unknown, "the transfer principal is unknown");
    };
    let policy = match policy {
        Ok(p) => p.clone(),
        Err(problem) => return problem.check(id, side, &format!("the key policy of {arn}")),
    };
    let policies = vec![stand_in(PolicyKind::Identity, "", &principal.account), policy];
    let key_region = arn.split(':').nth(3).unwrap_or_default().to_string();
    let region = ctx.dst_region.clone().unwrap_or(key_region);
    let evals = ctx
        .requests(&ctx.key_actions(), arn, key_account, Some(&region))
        .iter()
        .map(|r| evaluate(r, &policies))
        .collect();
    judge(
        id,
        side,
        &format!("the key policy of {arn} (account {key_account}) letting {} use the key", ctx.principal_for_policy()),
        evals,
    )
}

pub(super) fn ownership(def: &CheckDef, ev: &Evidence, ctx: &Ctx) -> Check {
    let (id, side) = (def.id, def.area);
    let b = &ev.destination;
    if matches!(b.exists, Fetched::Absent) {
        return deferred(id, side, &b.bucket);
    }
    match &b.ownership {
        Fetched::Got(Ownership::BucketOwnerEnforced) => {
            check(id, side, Status::Pass, "BucketOwnerEnforced: the Data Lake owns every copy; no ACL is sent")
        }
        Fetched::Got(Ownership::BucketOwnerPreferred) => match ev.run.acl.as_deref() {
            Some("bucket-owner-full-control") => acl_allowed(def, ctx),
            _ => check(id, side, Status::Fail, "BucketOwnerPreferred, but copies would be sent without bucket-owner-full-control")
                .with_detail(["without that ACL the source account would own the copies".to_string()]),
        },
        Fetched::Got(Ownership::ObjectWriter) | Fetched::Absent => check(
            id,
            side,
            Status::Fail,
            "ObjectWriter: copies would stay owned by the source account, and the Data Lake could not govern them",
        )
        .with_detail([format!(
            "set Object Ownership to BucketOwnerEnforced: aws s3api put-bucket-ownership-controls --bucket {} --ownership-controls 'Rules=[{{ObjectOwnership=BucketOwnerEnforced}}]'",
            b.bucket
        )]),
        Fetched::Unreadable(why) => check(id, side, Status::Unknown, "Object Ownership could not be read").with_detail([why.clone()]),
    }
}

/// BucketOwnerPreferred: the copier sends bucket-owner-full-control, which needs s3:PutObjectAcl
/// from both the principal's policies and (cross-account) the bucket policy.
fn acl_allowed(def: &CheckDef, ctx: &Ctx) -> Check {
    let (id, side) = (def.id, def.area);
    let policies = match identity_and_bucket(ctx, id, side, &ctx.dst_bucket, &ctx.destination_bucket) {
        Ok(p) => p,
        Err(c) => return *c,
    };
    let account = ctx.dst_account.clone().unwrap_or_default();
    let resource = format!("arn:aws:s3:::{}/{}*", ctx.dst_bucket, ctx.dst_prefix);
    let evals =
        ctx.requests(&["s3:PutObjectAcl"], &resource, &account, None).iter().map(|r| evaluate(r, &policies)).collect();
    let mut c = judge(id, side, "BucketOwnerPreferred: sending bucket-owner-full-control (s3:PutObjectAcl)", evals);
    if c.status == Status::Pass {
        c.summary =
            "BucketOwnerPreferred: copies are sent with bucket-owner-full-control, and s3:PutObjectAcl is allowed"
                .into();
    }
    c
}

pub(super) fn public_access(def: &CheckDef, ev: &Evidence) -> Check {
    let (id, side) = (def.id, def.area);
    let b = &ev.destination;
    if matches!(b.exists, Fetched::Absent) {
        return deferred(id, side, &b.bucket);
    }
    match (&b.restrict_public_buckets, &b.policy_is_public) {
        (Fetched::Got(false) | Fetched::Absent, _) => check(id, side, Status::Pass, "RestrictPublicBuckets is off"),
        (Fetched::Got(true), Fetched::Got(false) | Fetched::Absent) => check(
            id,
            side,
            Status::Pass,
            "RestrictPublicBuckets is on, and the bucket policy is not public: the cross-account grant is not blocked",
        ),
        (Fetched::Got(true), Fetched::Got(true)) => {
            check(id, side, Status::Fail, "RestrictPublicBuckets blocks the bucket policy, which AWS considers public")
                .with_detail([
                    "scope the policy's Principal to the source role ARN (no \"*\"), or turn RestrictPublicBuckets off"
                        .to_string(),
                ])
        }
        (Fetched::Got(true), Fetched::Unreadable(why)) => check(
            id,
            side,
            Status::Unknown,
            "RestrictPublicBuckets is on; whether the policy counts as public is unknown",
        )
        .with_detail([why.clone()]),
        (Fetched::Unreadable(why), _) => {
            check(id, side, Status::Unknown, "the public access block could not be read").with_detail([why.clone()])
        }
    }
}
