//! IAM / S3 / KMS policy engine: parse documents, decide a request the way AWS would, explain the
//! decision and propose the least-privilege fix. Pure: no I/O, no AWS SDK.
//!
//! Contract for callers (the preflight):
//! - pass one request per action and concrete resource ARN (an object ARN for object actions, the bucket ARN
//!   for bucket actions, the full key ARN for KMS);
//! - label each policy with the account that holds it; policies of other accounts, and bucket policies for
//!   KMS requests (key policies for others) are ignored, so one policy set can serve both sides of a copy.
//!   A key policy's `"Resource": "*"` means "this key": pass only the key policy of the key in the request;
//! - context keys AWS sets on every request (aws:SecureTransport, aws:SourceIp, aws:CurrentTime, ...) should be
//!   supplied; when a condition needs one that is missing, that statement is unknown rather than guessed.
//!   aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType, aws:ResourceAccount and kms:CallerAccount are
//!   derived from the request unless given.

mod condition;
mod document;
mod evaluate;
mod explain;
mod fix;
mod guardrails;
mod json;
mod matcher;
mod request;
mod trust;

pub use condition::{BaseOp, Operator, SetQualifier};
pub use document::{
    ActionSpec, Condition, Effect, PolicyDocument, PolicyError, PolicyKind, PrincipalEntry, PrincipalSet,
    PrincipalSpec, PrincipalType, ResourceSpec, Statement, parse_policy,
};
pub use evaluate::{Decision, Evaluation, LabelledPolicy, StatementRef, evaluate, evaluate_all};
pub use fix::{Fix, FixStatement, combined_fix};
pub use request::{ArnError, Context, Principal, Request};
pub use trust::{TrustEvaluation, evaluate_trust};
