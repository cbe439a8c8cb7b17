//! The checks of the source side: the transfer principal, reading the source, its key, and the
//! principal's own policies for the writes and the destination key.

use crate::core::policy::{PolicyKind, evaluate};
use crate::core::preflight::checks::{
    Check, CheckDef, Ctx, Status, check, identity_and_bucket, identity_guard, judge, stand_in,
};
use crate::core::preflight::evidence::{Evidence, Fetched};
use crate::core::units::format_countdown;

pub(super) fn role(def: &CheckDef, ev: &Evidence) -> Check {
    let (id, side) = (def.id, def.area);
    match &ev.principal {
        Fetched::Got(p) => match &p.role {
            Fetched::Got(role) => check(
                id,
                side,
                Status::Pass,
                format!("acting as {} (account {}), role {}", p.arn, p.account, role.name),
            )
            .with_detail([
                format!("role ARN: {}", p.role_arn.clone().unwrap_or_default()),
                format!(
                    "MaxSessionDuration: {}",
                    format_countdown(std::time::Duration::from_secs(role.max_session_secs))
                ),
            ]),
            Fetched::Absent => {
                check(id, side, Status::Pass, format!("acting as {} (account {}), not a role", p.arn, p.account))
            }
            Fetched::Unreadable(why) => {
                check(id, side, Status::Unknown, format!("acting as {}, but the role could not be read", p.arn))
                    .with_detail([why.clone()])
            }
        },
        Fetched::Absent => check(id, side, Status::Fail, "no transfer principal"),
        // AWS answered and refused the credentials (AssumeRole denied, a deleted key): a fail.
        Fetched::Unreadable(why) if refused_by_aws(why) => {
            check(id, side, Status::Fail, "the transfer principal does not resolve").with_detail([why.clone()])
        }
        // Not reached (no route, refused connection, timeout, no credentials found): nothing
        // was judged, so the check is unknown, never a fail; the detail says why and what to do.
        Fetched::Unreadable(why) => {
            check(id, side, Status::Unknown, "the transfer principal could not be resolved").with_detail([why.clone()])
        }
    }
}

pub(super) fn read(def: &CheckDef, ctx: &Ctx) -> Check {
    let (id, side) = (def.id, def.area);
    let policies = match identity_and_bucket(ctx, id, side, &ctx.src_bucket, &ctx.source_bucket) {
        Ok(p) => p,
        Err(c) => return *c,
    };
    let evals = ctx.read_requests().iter().map(|r| evaluate(r, &policies)).collect();
    judge(id, side, &format!("reading s3://{}/{}", ctx.src_bucket, ctx.src_prefix), evals)
}

pub(super) fn key(def: &CheckDef, ctx: &Ctx) -> Check {
    let (id, side) = (def.id, def.area);
    if ctx.principal.is_none() {
        return check(
            id,
            side,
            Status::Unknown,
            "the source objects' encryption is unknown: the transfer principal did not resolve",
        );
    }
    let Some(key) = &ctx.source_key else {
        return check(id, side, Status::Pass, "not needed: the source objects are not encrypted with SSE-KMS");
    };
    let (key, policy) = match key {
        Ok(k) => k,
        Err(why) => {
            return check(id, side, Status::Unknown, "the source objects' KMS key could not be described")
                .with_detail([why.clone()]);
        }
    };
    if let Some(c) = identity_guard(ctx, id, side) {
        return c;
    }
    let policy = match policy {
        Ok(p) => p.clone(),
        Err(problem) => return problem.check(id, side, &format!("the key policy of {}", key.arn)),
    };
    let mut policies = ctx.identity.clone();
    policies.push(policy);
    let evals = ctx
        .requests(&["kms:Decrypt"], &key.arn, &key.account, Some(&key.region))
        .iter()
        .map(|r| evaluate(r, &policies))
        .collect();
    judge(id, side, &format!("decrypting with the source key {}", key.arn), evals)
}

pub(super) fn policy_write(def: &CheckDef, ctx: &Ctx) -> Check {
    let (id, side) = (def.id, def.area);
    if let Some(c) = identity_guard(ctx, id, side) {
        return c;
    }
    let account = ctx.dst_account.clone().unwrap_or_default();
    let mut policies = ctx.identity.clone();
    policies.push(stand_in(PolicyKind::Bucket, &ctx.principal_for_policy(), &account));
    let evals = ctx.judge_writes(&policies);
    judge(
        id,
        side,
        &format!("the principal's own policies allowing writes to s3://{}/{}", ctx.dst_bucket, ctx.dst_prefix),
        evals,
    )
}

pub(super) fn policy_key(def: &CheckDef, ctx: &Ctx) -> Check {
    let (id, side) = (def.id, def.area);
    let Some(arn) = &ctx.key_arn else {
        return check(id, side, Status::Pass, "not needed: no destination KMS key is configured");
    };
    if let Some(c) = identity_guard(ctx, id, side) {
        return c;
    }
    let key_account = arn.split(':').nth(4).unwrap_or_default().to_string();
    let region = arn.split(':').nth(3).unwrap_or_default().to_string();
    let mut policies = ctx.identity.clone();
    policies.push(stand_in(PolicyKind::Key, &ctx.principal_for_policy(), &key_account));
    let evals = ctx
        .requests(&ctx.key_actions(), arn, &key_account, Some(&region))
        .iter()
        .map(|r| evaluate(r, &policies))
        .collect();
    judge(id, side, &format!("the principal's own policies allowing use of {arn}"), evals)
}

/// Whether resolving the principal failed because AWS refused it (an answer), not because AWS
/// could not be reached or no credentials were found (no answer).
fn refused_by_aws(why: &str) -> bool {
    const REFUSALS: [&str; 6] = [
        "AccessDenied",
        "not authorized",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "may not assume",
    ];
    REFUSALS.iter().any(|r| why.contains(r))
}
