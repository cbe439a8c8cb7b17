//! The checks of the layers no account's own settings show: the organization's SCPs (above the
//! transfer principal's account) and RCPs (above each bucket's account), and each side's VPC
//! endpoint policy. Each judges the copy's requests against its layer alone: the accounts' own
//! policies are stood in as allowing, so a failure names the layer, the level and its owner.

use crate::core::policy::{LabelledPolicy, PolicyKind, Request, evaluate};
use crate::core::preflight::checks::{Check, CheckDef, Ctx, Problem, Status, check, judge, labelled, stand_in};
use crate::core::preflight::evidence::{Fetched, LayerEvidence, NamedPolicy};

/// The layers' documents, parsed.
pub(in crate::core::preflight) struct Layers {
    /// `Ok(None)`: in no organization.
    scps: Result<Option<Vec<LabelledPolicy>>, Problem>,
    source_rcps: Result<Option<Vec<LabelledPolicy>>, Problem>,
    destination_rcps: Result<Option<Vec<LabelledPolicy>>, Problem>,
    management: Option<String>,
    source_endpoint: Option<(String, Result<LabelledPolicy, Problem>)>,
    destination_endpoint: Option<(String, Result<LabelledPolicy, Problem>)>,
}

fn levels(
    f: &Fetched<Vec<NamedPolicy>>,
    kind: PolicyKind,
    account: &str,
) -> Result<Option<Vec<LabelledPolicy>>, Problem> {
    match f {
        Fetched::Got(docs) => docs.iter().map(|d| labelled(d, kind, account)).collect::<Result<_, _>>().map(Some),
        Fetched::Absent => Ok(None),
        Fetched::Unreadable(why) => Err(Problem::Unreadable(why.clone())),
    }
}

fn endpoint(e: &Option<(String, Fetched<NamedPolicy>)>) -> Option<(String, Result<LabelledPolicy, Problem>)> {
    e.as_ref().map(|(id, f)| {
        let policy = match f {
            Fetched::Got(d) => labelled(d, PolicyKind::Endpoint, ""),
            Fetched::Absent => Err(Problem::Unreadable(format!("{id} was not found"))),
            Fetched::Unreadable(why) => Err(Problem::Unreadable(why.clone())),
        };
        (id.clone(), policy)
    })
}

impl Layers {
    pub(in crate::core::preflight) fn new(ev: &LayerEvidence, principal: &str, src: &str, dst: &str) -> Layers {
        Layers {
            scps: levels(&ev.scps, PolicyKind::Scp, principal),
            source_rcps: levels(&ev.source_rcps, PolicyKind::Rcp, src),
            destination_rcps: levels(&ev.destination_rcps, PolicyKind::Rcp, dst),
            management: ev.management_account.clone(),
            source_endpoint: endpoint(&ev.source_endpoint),
            destination_endpoint: endpoint(&ev.destination_endpoint),
        }
    }
}

/// Which of the copy's requests a layer sees.
#[derive(Clone, Copy)]
struct Part {
    reads: bool,
    writes: bool,
}

const ALL: Part = Part { reads: true, writes: true };

/// The copy's requests: reading the source (and its key), writing the destination (and its key).
fn requests(ctx: &Ctx, part: Part) -> Vec<Request> {
    let mut out = Vec::new();
    if part.reads {
        out.extend(ctx.read_requests());
        if let Some(Ok((key, _))) = &ctx.source_key {
            out.extend(ctx.requests(&["kms:Decrypt"], &key.arn, &key.account, Some(&key.region)));
        }
    }
    if part.writes {
        out.extend(ctx.write_requests());
        if let Some(arn) = &ctx.key_arn {
            let (key_account, region) = (arn.split(':').nth(4).unwrap_or_default(), arn.split(':').nth(3));
            out.extend(ctx.requests(&ctx.key_actions(), arn, key_account, region));
        }
    }
    out
}

/// The accounts' own policies, stood in as allowing everything, so only the layer decides.
fn stand_ins(ctx: &Ctx) -> Vec<LabelledPolicy> {
    let who = ctx.principal_for_policy();
    let principal_account = ctx.principal.as_ref().map(|p| p.account.clone()).unwrap_or_default();
    let dst = ctx.dst_account.clone().unwrap_or_default();
    let mut out = vec![
        stand_in(PolicyKind::Identity, &who, &principal_account),
        stand_in(PolicyKind::Bucket, &who, &ctx.src_account),
        stand_in(PolicyKind::Bucket, &who, &dst),
    ];
    if let Some(arn) = &ctx.key_arn {
        out.push(stand_in(PolicyKind::Key, &who, arn.split(':').nth(4).unwrap_or_default()));
    }
    if let Some(Ok((key, _))) = &ctx.source_key {
        out.push(stand_in(PolicyKind::Key, &who, &key.account));
    }
    out
}

fn judge_layer(def: &CheckDef, ctx: &Ctx, layer: Vec<LabelledPolicy>, part: Part, what: &str) -> Check {
    let mut policies = stand_ins(ctx);
    policies.extend(layer);
    let evals = requests(ctx, part).iter().map(|r| evaluate(r, &policies)).collect();
    judge(def.id, def.area, what, evals)
}

const ASK_ADMIN: &str = "the organization's administrator owns these policies: send them the fix";

/// SCPs above the transfer principal's account: every level must allow each of its requests.
pub(super) fn scp(def: &CheckDef, ctx: &Ctx) -> Check {
    let (id, side) = (def.id, def.area);
    let Some(principal) = &ctx.principal else {
        return check(id, side, Status::Unknown, "the transfer principal is unknown");
    };
    if ctx.layers.management.as_deref() == Some(principal.account.as_str()) {
        return check(id, side, Status::Pass, "the management account: SCPs do not apply to it");
    }
    let levels = match &ctx.layers.scps {
        Ok(None) => {
            let summary = format!("account {} is in no organization: no SCPs apply", principal.account);
            return check(id, side, Status::Pass, summary);
        }
        Ok(Some(levels)) => levels.clone(),
        Err(problem) => return problem.check(id, side, &format!("the SCPs above account {}", principal.account)),
    };
    let what = format!("the SCPs above account {} ({} levels) allowing the copy", principal.account, levels.len());
    with_owner(judge_layer(def, ctx, levels, ALL, &what))
}

/// RCPs above the source's and the destination's accounts: each must allow the requests on its
/// account's resources.
pub(super) fn rcp(def: &CheckDef, ctx: &Ctx) -> Check {
    let (id, side) = (def.id, def.area);
    if ctx.principal.is_none() {
        return check(id, side, Status::Unknown, "the transfer principal is unknown");
    }
    let dst = ctx.dst_account.clone().unwrap_or_default();
    let sides = [(&ctx.layers.source_rcps, ctx.src_account.clone()), (&ctx.layers.destination_rcps, dst)];
    let mut layer = Vec::new();
    let mut absent = Vec::new();
    for (levels, account) in &sides {
        if ctx.layers.management.as_deref() == Some(account.as_str()) {
            absent.push(format!("account {account} is the management account"));
            continue;
        }
        match levels {
            Ok(None) => absent.push(format!("account {account} is in no organization")),
            Ok(Some(l)) => layer.extend(l.iter().cloned()),
            Err(problem) => return problem.check(id, side, &format!("the RCPs above account {account}")),
        }
    }
    if layer.is_empty() {
        return check(id, side, Status::Pass, format!("no RCPs apply: {}", absent.join("; ")));
    }
    with_owner(judge_layer(def, ctx, layer, ALL, "the RCPs above the buckets' accounts allowing the copy"))
}

/// A side's VPC endpoint policy: it must allow the requests that side's identity sends.
pub(super) fn source_endpoint(def: &CheckDef, ctx: &Ctx) -> Check {
    // The source identity reads, and (server-side) writes too: all of its requests pass the endpoint.
    endpoint_check(def, ctx, &ctx.layers.source_endpoint, ALL)
}

pub(super) fn destination_endpoint(def: &CheckDef, ctx: &Ctx) -> Check {
    endpoint_check(def, ctx, &ctx.layers.destination_endpoint, Part { reads: false, writes: true })
}

fn endpoint_check(
    def: &CheckDef,
    ctx: &Ctx,
    endpoint: &Option<(String, Result<LabelledPolicy, Problem>)>,
    part: Part,
) -> Check {
    let (id, side) = (def.id, def.area);
    let Some((vpce, policy)) = endpoint else {
        return check(
            id,
            side,
            Status::Pass,
            "no VPC endpoint configured: requests are taken not to pass one (set vpc_endpoint_id if they do)",
        );
    };
    if ctx.principal.is_none() {
        return check(id, side, Status::Unknown, "the transfer principal is unknown");
    }
    let policy = match policy {
        Ok(p) => p.clone(),
        Err(problem) => return problem.check(id, side, &format!("the policy of {vpce}")),
    };
    judge_layer(def, ctx, vec![policy], part, &format!("the policy of {vpce} letting the copy through"))
}

/// A failing organization check says whose change it is.
fn with_owner(mut c: Check) -> Check {
    if c.status == Status::Fail {
        c.detail.push(ASK_ADMIN.to_string());
    }
    c
}
