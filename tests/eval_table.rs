//! Table-driven decision tests. Each case names the AWS rule it exercises; the runner also checks every
//! fix it produces (parses, scoped to the role ARN and the request's resource, never a `*` principal).

mod common;

use common::*;
use s3ferry::core::policy::{
    Decision, Evaluation, LabelledPolicy, PolicyKind, Principal, Request, evaluate, parse_policy,
};

use Decision::{Allow, ExplicitDeny, ImplicitDeny, Unknown};
use PolicyKind::{Boundary, Bucket, Identity, Key, Session};

#[derive(Clone)]
enum Who {
    /// Role session with its role ARN (path included) known.
    Session,
    /// Role session, role ARN unknown: matching falls back to account + role name.
    SessionNoRoleArn,
    /// The role ARN given as the caller.
    Role,
    User,
    Root,
    /// A role with the same name and path in another account.
    ForeignSession,
}

impl Who {
    fn principal(&self) -> Principal {
        match self {
            Who::Session => session(),
            Who::SessionNoRoleArn => Principal::from_arn(SESSION).unwrap(),
            Who::Role => Principal::from_arn(ROLE).unwrap(),
            Who::User => Principal::from_arn("arn:aws:iam::111111111111:user/alice").unwrap(),
            Who::Root => Principal::from_arn(SRC).unwrap(),
            Who::ForeignSession => Principal::from_arn("arn:aws:sts::333333333333:assumed-role/transfer/x")
                .unwrap()
                .with_role_arn("arn:aws:iam::333333333333:role/ops/transfer"),
        }
    }
}

struct P {
    kind: PolicyKind,
    account: Option<&'static str>,
    json: String,
}

fn id(json: String) -> P {
    P { kind: Identity, account: None, json }
}
fn bkt(json: String) -> P {
    P { kind: Bucket, account: None, json }
}
fn key(json: String) -> P {
    P { kind: Key, account: None, json }
}
fn bnd(json: String) -> P {
    P { kind: Boundary, account: None, json }
}
fn ses(json: String) -> P {
    P { kind: Session, account: None, json }
}

struct Case {
    rule: &'static str,
    who: Who,
    action: &'static str,
    resource: &'static str,
    resource_account: &'static str,
    /// Added on top of aws:SecureTransport=true; ("!KEY", "") removes a key.
    context: Vec<(&'static str, &'static str)>,
    policies: Vec<P>,
    expect: Decision,
    /// Substrings the explanation (all lines joined) must contain.
    explain: Vec<&'static str>,
    /// (policy kind, account) of each expected fix, in order. Checked for implicit denies only.
    fixes: Vec<(PolicyKind, &'static str)>,
    /// Substrings some flag must contain.
    flags: Vec<&'static str>,
    /// Context keys that must be reported missing.
    missing: Vec<&'static str>,
}

impl Default for Case {
    fn default() -> Self {
        Case {
            rule: "",
            who: Who::Session,
            action: "s3:PutObject",
            resource: OBJ,
            resource_account: DST,
            context: vec![],
            policies: vec![],
            expect: Allow,
            explain: vec![],
            fixes: vec![],
            flags: vec![],
            missing: vec![],
        }
    }
}

// ---- policy fragments ----
const PUT: &str = r#""s3:PutObject""#;
const PROD: &str = r#""arn:aws:s3:::datalake-raw/prod/*""#;
const KMS_RW: &str = r#"["kms:GenerateDataKey","kms:Encrypt","kms:Decrypt"]"#;
const STAR: &str = r#""*""#;

fn id_put() -> P {
    id(doc(&[st("Allow", None, PUT, PROD, None)]))
}
fn bkt_put(principal: &str) -> P {
    bkt(doc(&[st("Allow", Some(principal), PUT, PROD, None)]))
}
fn bkt_put_role() -> P {
    bkt_put(&aws(ROLE))
}
/// The copier's deny-unless-SSE-KMS guard plus an allow for the role.
fn bkt_deny_unless_kms() -> P {
    let mut s = vec![st("Allow", Some(&aws(ROLE)), PUT, PROD, None)];
    let deny =
        st("Deny", Some(STAR), PUT, PROD, Some(r#"{"StringNotEquals":{"s3:x-amz-server-side-encryption":"aws:kms"}}"#));
    s.push(deny.replacen('{', r#"{"Sid":"DenyUnencryptedUploads","#, 1));
    bkt(doc(&s))
}
fn bkt_deny_unless_key() -> P {
    let cond = format!(r#"{{"StringNotEquals":{{"s3:x-amz-server-side-encryption-aws-kms-key-id":"{DKEY}"}}}}"#);
    let deny = st("Deny", Some(STAR), PUT, PROD, Some(&cond)).replacen('{', r#"{"Sid":"DenyWrongKey","#, 1);
    bkt(doc(&[st("Allow", Some(&aws(ROLE)), PUT, PROD, None), deny]))
}
fn bkt_deny_insecure() -> P {
    let deny = st(
        "Deny",
        Some(STAR),
        r#""s3:*""#,
        r#"["arn:aws:s3:::datalake-raw","arn:aws:s3:::datalake-raw/*"]"#,
        Some(r#"{"Bool":{"aws:SecureTransport":"false"}}"#),
    )
    .replacen('{', r#"{"Sid":"DenyInsecureTransport","#, 1);
    bkt(doc(&[st("Allow", Some(&aws(ROLE)), PUT, PROD, None), deny]))
}
fn bkt_with(extra: String) -> P {
    bkt(doc(&[st("Allow", Some(&aws(ROLE)), PUT, PROD, None), extra]))
}
fn id_kms(resource: &str) -> P {
    id(doc(&[st("Allow", None, KMS_RW, &q(resource), None)]))
}
/// The default key policy: the owner account root gets kms:* (delegation to the owner's IAM policies).
fn key_root_of(account: &str) -> String {
    st("Allow", Some(&aws(&format!("arn:aws:iam::{account}:root"))), r#""kms:*""#, STAR, None).replacen(
        '{',
        r#"{"Sid":"Enable IAM User Permissions","#,
        1,
    )
}
fn key_allow(principal: &str) -> String {
    st("Allow", Some(principal), KMS_RW, STAR, None).replacen('{', r#"{"Sid":"Allow use of the key","#, 1)
}

fn cases() -> Vec<Case> {
    vec![
        // ---------- same vs cross account (S3) ----------
        // rule: same account, identity policy alone allows (no bucket policy needed)
        Case { rule: "same-account identity allow", resource_account: SRC, resource: SRC_OBJ, action: "s3:GetObject",
            policies: vec![id(doc(&[st("Allow", None, r#""s3:GetObject""#, r#""arn:aws:s3:::prod-exports/*""#, None)]))],
            expect: Allow, explain: vec!["Same account"], ..Default::default() },
        // rule: same account, a bucket policy naming the role allows without any identity policy
        Case { rule: "same-account bucket policy direct", resource_account: SRC, resource: SRC_OBJ, action: "s3:GetObject",
            policies: vec![bkt(doc(&[st("Allow", Some(&aws(ROLE)), r#""s3:GetObject""#, r#""arn:aws:s3:::prod-exports/*""#, None)]))],
            expect: Allow, ..Default::default() },
        // rule: same account, a bucket policy naming only the account root delegates to IAM: no identity -> deny
        Case { rule: "same-account bucket root needs IAM", resource_account: SRC, resource: SRC_OBJ, action: "s3:GetObject",
            policies: vec![bkt(doc(&[st("Allow", Some(&aws("arn:aws:iam::111111111111:root")), r#""s3:GetObject""#, r#""arn:aws:s3:::prod-exports/*""#, None)]))],
            expect: ImplicitDeny, fixes: vec![(Identity, SRC)], explain: vec!["as a whole"], ..Default::default() },
        // rule: cross account, identity AND bucket policy allow
        Case { rule: "cross-account both sides", policies: vec![id_put(), bkt_put_role()], expect: Allow,
            explain: vec!["Cross-account"], ..Default::default() },
        // rule: cross account, identity alone is never enough; fix goes to the destination bucket policy
        Case { rule: "cross-account identity only", policies: vec![id_put()], expect: ImplicitDeny,
            fixes: vec![(Bucket, DST)], explain: vec!["No bucket policy was supplied for account 222222222222"], ..Default::default() },
        // rule: cross account, a bucket policy without a matching statement is named in the explanation
        Case { rule: "cross-account bucket lacks statement", policies: vec![id_put(), bkt_put(&aws("arn:aws:iam::111111111111:role/ops/other"))],
            expect: ImplicitDeny, fixes: vec![(Bucket, DST)],
            explain: vec!["bucket policy of datalake-raw (account 222222222222) has no statement allowing arn:aws:iam::111111111111:role/ops/transfer to s3:PutObject on arn:aws:s3:::datalake-raw/prod/2024/data.parquet"],
            ..Default::default() },
        // rule: cross account, the resource policy alone is never enough; fix goes to the caller's identity policy
        Case { rule: "cross-account bucket only", policies: vec![bkt_put_role()], expect: ImplicitDeny,
            fixes: vec![(Identity, SRC)], ..Default::default() },
        // rule: cross account, both sides missing -> two fixes, caller side first
        Case { rule: "cross-account neither side", policies: vec![], expect: ImplicitDeny,
            fixes: vec![(Identity, SRC), (Bucket, DST)], ..Default::default() },
        // rule: a bare account id principal matches any principal of that account (identity must still allow)
        Case { rule: "account id principal", policies: vec![id_put(), bkt_put(&aws(SRC))], expect: Allow,
            explain: vec!["delegates to account 111111111111"], ..Default::default() },
        // rule: arn:aws:iam::ACCT:root principal == the account
        Case { rule: "root arn principal", policies: vec![id_put(), bkt_put(&aws("arn:aws:iam::111111111111:root"))], expect: Allow, ..Default::default() },
        // rule: "Principal": "*" matches everyone
        Case { rule: "star principal", policies: vec![id_put(), bkt_put(STAR)], expect: Allow, ..Default::default() },
        // rule: {"AWS": "*"} matches everyone
        Case { rule: "AWS star principal", policies: vec![id_put(), bkt_put(&aws("*"))], expect: Allow, ..Default::default() },
        // rule: account root principal of a different account does not match
        Case { rule: "other account root", policies: vec![id_put(), bkt_put(&aws("arn:aws:iam::333333333333:root"))], expect: ImplicitDeny,
            fixes: vec![(Bucket, DST)], ..Default::default() },

        // ---------- session ARN vs role ARN, role path ----------
        // rule: a role ARN with path matches its sessions through Principal.role_arn
        Case { rule: "session matches role with path", who: Who::Session, policies: vec![id_put(), bkt_put_role()], expect: Allow, ..Default::default() },
        // rule: without role_arn, sessions match by account + role name, and this is flagged
        Case { rule: "session without role arn", who: Who::SessionNoRoleArn, policies: vec![id_put(), bkt_put_role()], expect: Allow,
            flags: vec!["matched by account and role name"], ..Default::default() },
        // rule: the caller given as the role ARN itself
        Case { rule: "caller is role arn", who: Who::Role, policies: vec![id_put(), bkt_put_role()], expect: Allow, ..Default::default() },
        // rule: a role ARN without the role's path is a different ARN
        Case { rule: "role arn missing path", policies: vec![id_put(), bkt_put(&aws("arn:aws:iam::111111111111:role/transfer"))],
            expect: ImplicitDeny, fixes: vec![(Bucket, DST)], ..Default::default() },
        // rule: the session ARN itself as principal matches that session
        Case { rule: "session arn principal", policies: vec![id_put(), bkt_put(&aws(SESSION))], expect: Allow, ..Default::default() },
        // rule: same role name in another account does not match
        Case { rule: "same role name other account", who: Who::ForeignSession,
            policies: vec![id_put().with_account(OTHER), bkt_put_role()], expect: ImplicitDeny,
            fixes: vec![(Bucket, DST)], ..Default::default() },
        // rule: IAM users match by exact user ARN
        Case { rule: "user principal", who: Who::User, policies: vec![id_put(), bkt_put(&aws("arn:aws:iam::111111111111:user/alice"))], expect: Allow, ..Default::default() },
        // rule: the account root caller is not limited by identity policies (same account)
        Case { rule: "root caller", who: Who::Root, resource_account: SRC, resource: SRC_OBJ, action: "s3:GetObject", policies: vec![],
            expect: Allow, explain: vec!["identity policies do not limit it"], ..Default::default() },

        // ---------- principal oddities ----------
        // rule: unique ids (AROA...) match nothing and are flagged
        Case { rule: "unique id principal", policies: vec![id_put(), bkt_put(&aws("AROAEXAMPLEROLEID12345"))], expect: ImplicitDeny,
            fixes: vec![(Bucket, DST)], flags: vec!["deleted and recreated"], ..Default::default() },
        // rule: Service principals never match the transfer role
        Case { rule: "service principal", policies: vec![id_put(), bkt_put(r#"{"Service":"s3.amazonaws.com"}"#)], expect: ImplicitDeny,
            fixes: vec![(Bucket, DST)], ..Default::default() },
        // rule: Federated principals never match the transfer role
        Case { rule: "federated principal", policies: vec![id_put(), bkt_put(r#"{"Federated":"arn:aws:iam::111111111111:saml-provider/x"}"#)],
            expect: ImplicitDeny, fixes: vec![(Bucket, DST)], ..Default::default() },
        // rule: no partial wildcards in principals: they match nothing and are flagged
        Case { rule: "partial wildcard principal", policies: vec![id_put(), bkt_put(&aws("arn:aws:iam::111111111111:role/*"))],
            expect: ImplicitDeny, fixes: vec![(Bucket, DST)], flags: vec!["partial wildcard"], ..Default::default() },

        // ---------- NotPrincipal ----------
        // rule: NotPrincipal listing session, role and account excludes the caller from the Deny
        Case { rule: "NotPrincipal full chain", policies: vec![id_put(), bkt_with(
            st("Deny", None, r#""s3:*""#, r#""arn:aws:s3:::datalake-raw/*""#, None).replacen('{', &format!(r#"{{"NotPrincipal":{{"AWS":["{SESSION}","{ROLE}","arn:aws:iam::111111111111:root"]}},"#), 1))],
            expect: Allow, ..Default::default() },
        // rule: NotPrincipal listing only the role still denies its sessions (each link is checked)
        Case { rule: "NotPrincipal role only", policies: vec![id_put(), bkt_with(
            st("Deny", None, r#""s3:*""#, r#""arn:aws:s3:::datalake-raw/*""#, None).replacen('{', &format!(r#"{{"NotPrincipal":{{"AWS":["{ROLE}"]}},"#), 1))],
            expect: ExplicitDeny, flags: vec!["NotPrincipal lists the caller"], ..Default::default() },
        // rule: NotPrincipal naming someone else denies the caller
        Case { rule: "NotPrincipal other", policies: vec![id_put(), bkt_with(
            st("Deny", None, PUT, PROD, None).replacen('{', r#"{"NotPrincipal":{"AWS":"arn:aws:iam::222222222222:root"},"#, 1))],
            expect: ExplicitDeny, ..Default::default() },
        // rule: a Deny with NotPrincipal always denies principals that have a permissions boundary
        Case { rule: "NotPrincipal with boundary", policies: vec![id_put(), bnd(doc(&[st("Allow", None, r#""s3:*""#, STAR, None)])), bkt_with(
            st("Deny", None, r#""s3:*""#, r#""arn:aws:s3:::datalake-raw/*""#, None).replacen('{', &format!(r#"{{"NotPrincipal":{{"AWS":["{SESSION}","{ROLE}","arn:aws:iam::111111111111:root"]}},"#), 1))],
            expect: ExplicitDeny, ..Default::default() },

        // rule (IAM User Guide, "AWS JSON policy elements: NotPrincipal"): an Allow with
        // NotPrincipal grants everyone except those listed, so it never grants a caller it lists
        Case { rule: "NotPrincipal Allow lists the user", who: Who::User, policies: vec![id_put(), bkt(doc(&[
            st("Allow", None, PUT, PROD, None).replacen('{', r#"{"NotPrincipal":{"AWS":"arn:aws:iam::111111111111:user/alice"},"#, 1)]))],
            expect: ImplicitDeny, fixes: vec![(Bucket, DST)], ..Default::default() },
        // rule: listing only the role (not the session) still withholds the grant from its sessions
        Case { rule: "NotPrincipal Allow lists the role", policies: vec![id_put(), bkt(doc(&[
            st("Allow", None, PUT, PROD, None).replacen('{', &format!(r#"{{"NotPrincipal":{{"AWS":"{ROLE}"}},"#), 1)]))],
            expect: ImplicitDeny, fixes: vec![(Bucket, DST)], ..Default::default() },
        // rule: listing the caller's account withholds it too
        Case { rule: "NotPrincipal Allow lists the account", policies: vec![id_put(), bkt(doc(&[
            st("Allow", None, PUT, PROD, None).replacen('{', r#"{"NotPrincipal":{"AWS":"111111111111"},"#, 1)]))],
            expect: ImplicitDeny, fixes: vec![(Bucket, DST)], ..Default::default() },
        // rule: an Allow with NotPrincipal naming someone else grants the caller
        Case { rule: "NotPrincipal Allow names another", policies: vec![id_put(), bkt(doc(&[
            st("Allow", None, PUT, PROD, None).replacen('{', r#"{"NotPrincipal":{"AWS":"arn:aws:iam::333333333333:root"},"#, 1)]))],
            expect: Allow, ..Default::default() },

        // ---------- services s3ferry does not model ----------
        // rule: an action of another service (STS's trust rules differ from S3's) is unknown,
        // never judged by S3's rules
        Case { rule: "sts action is not modeled", action: "sts:AssumeRole", resource: ROLE, resource_account: SRC,
            policies: vec![id(doc(&[st("Allow", None, r#""sts:AssumeRole""#, STAR, None)]))],
            expect: Unknown, flags: vec!["sts service is not modeled"], ..Default::default() },
        Case { rule: "iam action is not modeled", action: "iam:PassRole", resource: ROLE, resource_account: SRC,
            policies: vec![id(doc(&[st("Allow", None, r#""iam:PassRole""#, STAR, None)]))],
            expect: Unknown, flags: vec!["iam service is not modeled"], ..Default::default() },

        // ---------- NotAction / NotResource ----------
        // rule: Deny with NotAction denies every action not listed
        Case { rule: "NotAction deny hits PutObject", policies: vec![id_put(), bkt_with(
            r#"{"Sid":"ReadOnly","Effect":"Deny","Principal":"*","NotAction":["s3:Get*","s3:List*"],"Resource":"arn:aws:s3:::datalake-raw/*"}"#.to_string())],
            expect: ExplicitDeny, explain: vec!["\"ReadOnly\""], ..Default::default() },
        // rule: Deny with NotAction does not hit the listed actions
        Case { rule: "NotAction deny spares GetObject", action: "s3:GetObject",
            policies: vec![id(doc(&[st("Allow", None, r#""s3:GetObject""#, PROD, None)])), bkt(doc(&[
                st("Allow", Some(&aws(ROLE)), r#""s3:GetObject""#, PROD, None),
                r#"{"Effect":"Deny","Principal":"*","NotAction":["s3:Get*","s3:List*"],"Resource":"arn:aws:s3:::datalake-raw/*"}"#.to_string()]))],
            expect: Allow, ..Default::default() },
        // rule: Allow with NotAction grants everything except the listed actions
        Case { rule: "NotAction allow", policies: vec![id(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#.to_string()), bkt_put_role()],
            expect: Allow, ..Default::default() },
        // rule: Allow with NotResource covers resources outside the exclusion
        Case { rule: "NotResource allow", policies: vec![id(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:PutObject","NotResource":"arn:aws:s3:::datalake-raw/restricted/*"}}"#.to_string()), bkt_put_role()],
            expect: Allow, ..Default::default() },
        // rule: NotResource excludes the listed resources
        Case { rule: "NotResource excluded", resource: "arn:aws:s3:::datalake-raw/restricted/x",
            policies: vec![id(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:PutObject","NotResource":"arn:aws:s3:::datalake-raw/restricted/*"}}"#.to_string()),
                bkt(doc(&[st("Allow", Some(&aws(ROLE)), PUT, r#""arn:aws:s3:::datalake-raw/*""#, None)]))],
            expect: ImplicitDeny, fixes: vec![(Identity, SRC)], ..Default::default() },

        // ---------- wildcard and case rules ----------
        // rule: actions are case-insensitive
        Case { rule: "action case-insensitive", policies: vec![id(doc(&[st("Allow", None, r#""S3:putobject""#, PROD, None)])), bkt_put_role()], expect: Allow, ..Default::default() },
        // rule: `*` in actions
        Case { rule: "action star", policies: vec![id(doc(&[st("Allow", None, r#""s3:Put*""#, PROD, None)])), bkt_put_role()], expect: Allow, ..Default::default() },
        // rule: `?` in actions matches exactly one character
        Case { rule: "action question mark", policies: vec![id(doc(&[st("Allow", None, r#""s3:Put?bject""#, PROD, None)])), bkt_put_role()], expect: Allow, ..Default::default() },
        // rule: a prefix wildcard does not cover a different action (PutObjectTagging is not PutObject)
        Case { rule: "action wildcard scope", action: "s3:PutObjectTagging", policies: vec![id_put(), bkt(doc(&[st("Allow", Some(&aws(ROLE)), r#""s3:PutObject*""#, PROD, None)]))],
            expect: ImplicitDeny, fixes: vec![(Identity, SRC)], ..Default::default() },
        // rule: resources are case-sensitive
        Case { rule: "resource case-sensitive", policies: vec![id(doc(&[st("Allow", None, PUT, r#""arn:aws:s3:::DATALAKE-RAW/prod/*""#, None)])), bkt_put_role()],
            expect: ImplicitDeny, fixes: vec![(Identity, SRC)], ..Default::default() },
        // rule: `?` in resources matches one character
        Case { rule: "resource question mark", policies: vec![id(doc(&[st("Allow", None, PUT, r#""arn:aws:s3:::datalake-raw/prod/202?/*""#, None)])), bkt_put_role()],
            expect: Allow, ..Default::default() },
        // rule: a bucket ARN does not cover its objects
        Case { rule: "bucket arn vs object", policies: vec![id(doc(&[st("Allow", None, PUT, &q(BUCKET), None)])), bkt_put_role()],
            expect: ImplicitDeny, fixes: vec![(Identity, SRC)], ..Default::default() },

        // rule: a prefix request (preflight checks "anything under prod/") is covered only by a pattern covering it
        Case { rule: "prefix request covered", resource: "arn:aws:s3:::datalake-raw/prod/*",
            policies: vec![id(doc(&[st("Allow", None, PUT, r#""arn:aws:s3:::datalake-raw/*""#, None)])), bkt_put_role()], expect: Allow, ..Default::default() },
        // rule: a narrower policy pattern does not cover the whole prefix
        Case { rule: "prefix request not covered", resource: "arn:aws:s3:::datalake-raw/prod/*",
            policies: vec![id(doc(&[st("Allow", None, PUT, r#""arn:aws:s3:::datalake-raw/prod/2024/*""#, None)])), bkt_put_role()],
            expect: ImplicitDeny, fixes: vec![(Identity, SRC)], ..Default::default() },

        // ---------- copier headers: deny-unless-aws:kms / deny-unless-specific-key ----------
        // rule: deny-unless-aws:kms does not apply when the copier sends aws:kms
        Case { rule: "deny-unless-kms satisfied", context: vec![("s3:x-amz-server-side-encryption", "aws:kms")],
            policies: vec![id_put(), bkt_deny_unless_kms()], expect: Allow, explain: vec!["does not apply"], ..Default::default() },
        // rule: deny-unless-aws:kms denies AES256 and names the statement
        Case { rule: "deny-unless-kms AES256", context: vec![("s3:x-amz-server-side-encryption", "AES256")],
            policies: vec![id_put(), bkt_deny_unless_kms()], expect: ExplicitDeny,
            explain: vec!["bucket policy of datalake-raw statement \"DenyUnencryptedUploads\" (Statement[1])"], ..Default::default() },
        // rule: a negated operator is true when the key is missing: no header -> denied, key reported missing
        Case { rule: "deny-unless-kms header missing", policies: vec![id_put(), bkt_deny_unless_kms()], expect: ExplicitDeny,
            missing: vec!["s3:x-amz-server-side-encryption"], explain: vec!["the request has no value for it"], ..Default::default() },
        // rule: deny-unless-specific-key satisfied by the exact key ARN
        Case { rule: "deny-unless-key satisfied", context: vec![("s3:x-amz-server-side-encryption", "aws:kms"), ("s3:x-amz-server-side-encryption-aws-kms-key-id", DKEY)],
            policies: vec![id_put(), bkt_deny_unless_key()], expect: Allow, ..Default::default() },
        // rule: deny-unless-specific-key denies another key (an alias or key id is not the ARN)
        Case { rule: "deny-unless-key wrong key", context: vec![("s3:x-amz-server-side-encryption", "aws:kms"), ("s3:x-amz-server-side-encryption-aws-kms-key-id", "alias/datalake")],
            policies: vec![id_put(), bkt_deny_unless_key()], expect: ExplicitDeny, explain: vec!["DenyWrongKey"], ..Default::default() },

        // ---------- aws:SecureTransport ----------
        // rule: Bool aws:SecureTransport false deny does not hit TLS requests
        Case { rule: "secure transport true", policies: vec![id_put(), bkt_deny_insecure()], expect: Allow, ..Default::default() },
        // rule: Bool aws:SecureTransport false deny hits plain HTTP
        Case { rule: "secure transport false", context: vec![("aws:SecureTransport", "false")], policies: vec![id_put(), bkt_deny_insecure()],
            expect: ExplicitDeny, explain: vec!["DenyInsecureTransport"], ..Default::default() },
        // rule: aws:SecureTransport is on every request: missing from the context -> unknown, not guessed
        Case { rule: "secure transport missing", context: vec![("!aws:SecureTransport", "")], policies: vec![id_put(), bkt_deny_insecure()],
            expect: Unknown, explain: vec!["aws:SecureTransport"], missing: vec!["aws:SecureTransport"], ..Default::default() },
        // rule: context keys are case-insensitive
        Case { rule: "context key case", context: vec![("!aws:SecureTransport", ""), ("AWS:SECURETRANSPORT", "false")],
            policies: vec![id_put(), bkt_deny_insecure()], expect: ExplicitDeny, ..Default::default() },

        // ---------- IfExists, Null, ForAnyValue / ForAllValues ----------
        // rule: ...IfExists is true when the key is missing (no ACL header sent)
        Case { rule: "IfExists missing key", policies: vec![id_put(), bkt(doc(&[st("Allow", Some(&aws(ROLE)), PUT, PROD,
            Some(r#"{"StringEqualsIfExists":{"s3:x-amz-acl":"bucket-owner-full-control"}}"#))]))], expect: Allow, ..Default::default() },
        // rule: ...IfExists compares normally when the key is present
        Case { rule: "IfExists present mismatch", context: vec![("s3:x-amz-acl", "public-read")], policies: vec![id_put(), bkt(doc(&[st("Allow", Some(&aws(ROLE)), PUT, PROD,
            Some(r#"{"StringEqualsIfExists":{"s3:x-amz-acl":"bucket-owner-full-control"}}"#))]))],
            expect: ImplicitDeny, fixes: vec![(Bucket, DST)], explain: vec!["would allow it, but its condition is not met"], ..Default::default() },
        // rule: Null true tests absence: deny when the encryption header is absent
        Case { rule: "Null absent", policies: vec![id_put(), bkt_with(st("Deny", Some(STAR), PUT, PROD,
            Some(r#"{"Null":{"s3:x-amz-server-side-encryption":"true"}}"#)))], expect: ExplicitDeny, ..Default::default() },
        // rule: Null true is false when the header is present
        Case { rule: "Null present", context: vec![("s3:x-amz-server-side-encryption", "aws:kms")], policies: vec![id_put(), bkt_with(st("Deny", Some(STAR), PUT, PROD,
            Some(r#"{"Null":{"s3:x-amz-server-side-encryption":"true"}}"#)))], expect: Allow, ..Default::default() },
        // rule: ForAnyValue on a missing set is false
        Case { rule: "ForAnyValue missing", policies: vec![id_put(), bkt(doc(&[st("Allow", Some(&aws(ROLE)), PUT, PROD,
            Some(r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["project"]}}"#))]))], expect: ImplicitDeny, fixes: vec![(Bucket, DST)], ..Default::default() },
        // rule: ForAnyValue on a present-but-empty set is false too
        Case { rule: "ForAnyValue empty", context: vec![("aws:TagKeys", "")], policies: vec![id_put(), bkt(doc(&[st("Allow", Some(&aws(ROLE)), PUT, PROD,
            Some(r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["project"]}}"#))]))], expect: ImplicitDeny, fixes: vec![(Bucket, DST)], ..Default::default() },
        // rule: ForAllValues on a missing set is true (allows)
        Case { rule: "ForAllValues missing allow", policies: vec![id_put(), bkt(doc(&[st("Allow", Some(&aws(ROLE)), PUT, PROD,
            Some(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["project"]}}"#))]))], expect: Allow, ..Default::default() },
        // rule: ForAllValues on a missing set is true, so such a Deny applies
        Case { rule: "ForAllValues missing deny", policies: vec![id_put(), bkt_with(st("Deny", Some(STAR), PUT, PROD,
            Some(r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":["project"]}}"#)))], expect: ExplicitDeny, ..Default::default() },
        // rule: ForAnyValue with a multi-valued key: one matching value is enough
        Case { rule: "ForAnyValue multi", context: vec![("aws:TagKeys", "owner"), ("aws:TagKeys", "project")], policies: vec![id_put(), bkt(doc(&[st("Allow", Some(&aws(ROLE)), PUT, PROD,
            Some(r#"{"ForAnyValue:StringLike":{"aws:TagKeys":["proj*"]}}"#))]))], expect: Allow, ..Default::default() },
        // rule: ForAllValues with a multi-valued key: every value must match
        Case { rule: "ForAllValues multi", context: vec![("aws:TagKeys", "owner"), ("aws:TagKeys", "project")], policies: vec![id_put(), bkt(doc(&[st("Allow", Some(&aws(ROLE)), PUT, PROD,
            Some(r#"{"ForAllValues:StringLike":{"aws:TagKeys":["proj*"]}}"#))]))], expect: ImplicitDeny, fixes: vec![(Bucket, DST)], ..Default::default() },
        // rule: operators AND, values for one key OR
        Case { rule: "operators AND values OR", context: vec![("s3:x-amz-server-side-encryption", "aws:kms"), ("s3:x-amz-acl", "private")],
            policies: vec![id_put(), bkt(doc(&[st("Allow", Some(&aws(ROLE)), PUT, PROD,
            Some(r#"{"StringEquals":{"s3:x-amz-server-side-encryption":["AES256","aws:kms"]},"StringLike":{"s3:x-amz-acl":"bucket-owner-*"}}"#))]))],
            expect: ImplicitDeny, fixes: vec![(Bucket, DST)], ..Default::default() },
        // rule: StringEqualsIgnoreCase
        Case { rule: "StringEqualsIgnoreCase", context: vec![("s3:x-amz-server-side-encryption", "AWS:KMS")], policies: vec![id_put(), bkt(doc(&[st("Allow", Some(&aws(ROLE)), PUT, PROD,
            Some(r#"{"StringEqualsIgnoreCase":{"s3:x-amz-server-side-encryption":"aws:kms"}}"#))]))], expect: Allow, ..Default::default() },
        // rule: ArnLike on the derived aws:PrincipalArn (the role ARN, not the session ARN)
        Case { rule: "ArnLike PrincipalArn", policies: vec![id_put(), bkt(doc(&[st("Allow", Some(STAR), PUT, PROD,
            Some(r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111111111111:role/ops/*"}}"#))]))], expect: Allow, ..Default::default() },
        // rule: aws:PrincipalArn cannot be derived without the role ARN: the grant is unknown, not guessed
        Case { rule: "ArnLike PrincipalArn unknown", who: Who::SessionNoRoleArn, policies: vec![id_put(), bkt(doc(&[st("Allow", Some(STAR), PUT, PROD,
            Some(r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111111111111:role/ops/*"}}"#))]))], expect: Unknown,
            explain: vec!["aws:PrincipalArn"], ..Default::default() },
        // rule: IpAddress on aws:SourceIp
        Case { rule: "IpAddress", context: vec![("aws:SourceIp", "10.1.2.3")], policies: vec![id(doc(&[st("Allow", None, PUT, PROD,
            Some(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#))])), bkt_put_role()], expect: Allow, ..Default::default() },
        // rule: DateLessThan on aws:CurrentTime
        Case { rule: "DateLessThan", context: vec![("aws:CurrentTime", "2031-01-01T00:00:00Z")], policies: vec![id(doc(&[st("Allow", None, PUT, PROD,
            Some(r#"{"DateLessThan":{"aws:CurrentTime":"2030-12-31T23:59:59Z"}}"#))])), bkt_put_role()],
            expect: ImplicitDeny, fixes: vec![(Identity, SRC)], ..Default::default() },

        // ---------- unknown handling ----------
        // rule: an unsupported operator makes its statement unknown; decisive -> decision unknown naming the operator
        Case { rule: "unknown operator decisive", policies: vec![id_put(), bkt(doc(&[st("Allow", Some(&aws(ROLE)), PUT, PROD,
            Some(r#"{"StringFancyMatch":{"s3:x-amz-acl":"x"}}"#))]))], expect: Unknown, explain: vec!["StringFancyMatch"], ..Default::default() },
        // rule: an unknown statement that cannot change the outcome does not block the decision
        Case { rule: "unknown operator irrelevant", resource_account: SRC, resource: SRC_OBJ, action: "s3:GetObject",
            policies: vec![id(doc(&[st("Allow", None, r#""s3:GetObject""#, r#""arn:aws:s3:::prod-exports/*""#, None)])),
                bkt(doc(&[st("Allow", Some(&aws(ROLE)), r#""s3:GetObject""#, r#""arn:aws:s3:::prod-exports/*""#, Some(r#"{"StringFancyMatch":{"x":"y"}}"#))]))],
            expect: Allow, ..Default::default() },
        // rule: an unknown Deny on an otherwise allowed request -> unknown
        Case { rule: "unknown deny when allowed", policies: vec![id_put(), bkt_with(st("Deny", Some(STAR), PUT, PROD,
            Some(r#"{"NumericLessThan":{"s3:max-keys":"lots"}}"#)))], expect: Unknown, explain: vec!["is not a number"], ..Default::default() },
        // rule: an unknown Deny cannot make a request that nothing allows allowed: still denied, with a note
        Case { rule: "unknown deny when not allowed", policies: vec![bkt_with(st("Deny", Some(STAR), PUT, PROD,
            Some(r#"{"StringFancyMatch":{"x":"y"}}"#)))], expect: ImplicitDeny, fixes: vec![(Identity, SRC)],
            explain: vec!["may also be explicitly denied"], ..Default::default() },
        // rule: policy variables resolve from the context (users have aws:username)
        Case { rule: "policy variable resolved", who: Who::User, policies: vec![id(doc(&[st("Allow", None, PUT, r#""arn:aws:s3:::datalake-raw/prod/${aws:username}/*""#, None)])),
            bkt_put(&aws("arn:aws:iam::111111111111:user/alice"))], resource: "arn:aws:s3:::datalake-raw/prod/alice/x", expect: Allow, ..Default::default() },
        // rule: a policy variable without a value makes the statement unknown
        Case { rule: "policy variable missing", policies: vec![id(doc(&[st("Allow", None, PUT, r#""arn:aws:s3:::datalake-raw/prod/${aws:username}/*""#, None)])),
            bkt_put_role()], resource: "arn:aws:s3:::datalake-raw/prod/alice/x", expect: Unknown, explain: vec!["${aws:username}"], ..Default::default() },
        // rule: version 2008-10-17 has no policy variables: `${...}` is literal text
        Case { rule: "2008 version literal", who: Who::User, policies: vec![id(r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::datalake-raw/prod/${aws:username}/*"}]}"#.to_string()),
            bkt_put(&aws("arn:aws:iam::111111111111:user/alice"))], resource: "arn:aws:s3:::datalake-raw/prod/alice/x", expect: ImplicitDeny, fixes: vec![(Identity, SRC)], ..Default::default() },

        // ---------- boundary, session, explicit deny precedence ----------
        // rule: any matching Deny beats every Allow (identity-policy deny vs bucket allow)
        Case { rule: "identity deny beats allow", policies: vec![id(doc(&[st("Allow", None, PUT, PROD, None),
            st("Deny", None, r#""s3:Put*""#, r#""arn:aws:s3:::datalake-raw/*""#, None)])), bkt_put_role()], expect: ExplicitDeny,
            explain: vec!["inline:transfer-write Statement[1]"], ..Default::default() },
        // rule: a Deny naming the caller's account root applies to everyone in it
        Case { rule: "deny by account root", policies: vec![id_put(), bkt_with(st("Deny", Some(&aws(SRC)), PUT, PROD, None))], expect: ExplicitDeny, ..Default::default() },
        // rule: a permissions boundary that does not allow caps the identity policy
        Case { rule: "boundary missing action", policies: vec![id_put(), bkt_put_role(), bnd(doc(&[st("Allow", None, r#""s3:GetObject""#, STAR, None)]))],
            expect: ImplicitDeny, fixes: vec![(Boundary, SRC)], explain: vec!["permissions boundary"], ..Default::default() },
        // rule: a boundary that allows leaves the decision to the other policies
        Case { rule: "boundary allows", policies: vec![id_put(), bkt_put_role(), bnd(doc(&[st("Allow", None, r#""s3:*""#, STAR, None)]))], expect: Allow, ..Default::default() },
        // rule: same account, a bucket-policy grant is still limited by the boundary (as specified)
        Case { rule: "same-account boundary limits bucket grant", resource_account: SRC, resource: SRC_OBJ, action: "s3:GetObject",
            policies: vec![bkt(doc(&[st("Allow", Some(&aws(ROLE)), r#""s3:GetObject""#, r#""arn:aws:s3:::prod-exports/*""#, None)])),
                bnd(doc(&[st("Allow", None, r#""kms:*""#, STAR, None)]))], expect: ImplicitDeny, fixes: vec![(Boundary, SRC)], ..Default::default() },
        // rule (IAM User Guide, "Policy evaluation logic", permissions boundaries): within one
        // account, a resource policy naming the role session's own ARN is not limited by an
        // implicit deny in the boundary
        Case { rule: "same-account boundary spares a grant to the session ARN", resource_account: SRC, resource: SRC_OBJ, action: "s3:GetObject",
            policies: vec![bkt(doc(&[st("Allow", Some(&aws(SESSION)), r#""s3:GetObject""#, r#""arn:aws:s3:::prod-exports/*""#, None)])),
                bnd(doc(&[st("Allow", None, r#""kms:*""#, STAR, None)]))], expect: Allow, ..Default::default() },
        // rule: nor one naming the IAM user's ARN
        Case { rule: "same-account boundary spares a grant to the user ARN", who: Who::User, resource_account: SRC, resource: SRC_OBJ, action: "s3:GetObject",
            policies: vec![bkt(doc(&[st("Allow", Some(&aws("arn:aws:iam::111111111111:user/alice")), r#""s3:GetObject""#, r#""arn:aws:s3:::prod-exports/*""#, None)])),
                bnd(doc(&[st("Allow", None, r#""kms:*""#, STAR, None)]))], expect: Allow, ..Default::default() },
        // rule: across accounts the boundary still caps a grant to the session ARN
        Case { rule: "cross-account boundary caps a grant to the session ARN",
            policies: vec![id_put(), bkt_put(&aws(SESSION)), bnd(doc(&[st("Allow", None, r#""s3:GetObject""#, STAR, None)]))],
            expect: ImplicitDeny, fixes: vec![(Boundary, SRC)], ..Default::default() },
        // rule (IAM User Guide, "Session policies"): within one account, a resource policy naming
        // the session ARN is not limited by an implicit deny in the session policy
        Case { rule: "same-account session policy spares a grant to the session ARN", resource_account: SRC, resource: SRC_OBJ, action: "s3:GetObject",
            policies: vec![bkt(doc(&[st("Allow", Some(&aws(SESSION)), r#""s3:GetObject""#, r#""arn:aws:s3:::prod-exports/*""#, None)])),
                ses(doc(&[st("Allow", None, r#""kms:*""#, STAR, None)]))], expect: Allow, ..Default::default() },
        // rule: one naming the role ARN is limited
        Case { rule: "same-account session policy caps a grant to the role ARN", resource_account: SRC, resource: SRC_OBJ, action: "s3:GetObject",
            policies: vec![bkt(doc(&[st("Allow", Some(&aws(ROLE)), r#""s3:GetObject""#, r#""arn:aws:s3:::prod-exports/*""#, None)])),
                ses(doc(&[st("Allow", None, r#""kms:*""#, STAR, None)]))], expect: ImplicitDeny, fixes: vec![(Session, SRC)], ..Default::default() },
        // rule: a session policy that does not allow caps the session
        Case { rule: "session policy missing", policies: vec![id_put(), bkt_put_role(), ses(doc(&[st("Allow", None, r#""s3:GetObject""#, STAR, None)]))],
            expect: ImplicitDeny, fixes: vec![(Session, SRC)], ..Default::default() },
        // rule: an explicit deny in a session policy is an explicit deny
        Case { rule: "session policy deny", policies: vec![id_put(), bkt_put_role(), ses(doc(&[st("Allow", None, STAR, STAR, None), st("Deny", None, PUT, STAR, None)]))],
            expect: ExplicitDeny, ..Default::default() },
        // rule: identity policies of another account do not apply to the caller
        Case { rule: "identity policy of other account ignored", policies: vec![id_put().with_account(OTHER), bkt_put_role()],
            expect: ImplicitDeny, fixes: vec![(Identity, SRC)], explain: vec!["ignored"], ..Default::default() },

        // ---------- KMS ----------
        // rule: KMS same account: root delegation in the key policy + identity policy allows
        Case { rule: "kms same-account root delegation", action: "kms:Decrypt", resource: SKEY, resource_account: SRC,
            policies: vec![id_kms(SKEY), key(doc(&[key_root_of(SRC)]))], expect: Allow, explain: vec!["IAM policies alone never suffice"], ..Default::default() },
        // rule: KMS same account: root delegation but no identity policy -> fix the identity policy (Resource = key ARN)
        Case { rule: "kms same-account delegation no identity", action: "kms:Decrypt", resource: SKEY, resource_account: SRC,
            policies: vec![key(doc(&[key_root_of(SRC)]))], expect: ImplicitDeny, fixes: vec![(Identity, SRC)], ..Default::default() },
        // rule: KMS same account: the key policy naming the role allows without any IAM policy
        Case { rule: "kms same-account key names role", action: "kms:Decrypt", resource: SKEY, resource_account: SRC,
            policies: vec![key(doc(&[key_allow(&aws(ROLE))]))], expect: Allow, ..Default::default() },
        // rule: KMS: IAM policies alone never suffice (no root delegation in the key policy)
        Case { rule: "kms IAM alone insufficient", action: "kms:Decrypt", resource: SKEY, resource_account: SRC,
            policies: vec![id(doc(&[st("Allow", None, r#""kms:*""#, STAR, None)])), key(doc(&[key_allow(&aws("arn:aws:iam::111111111111:role/admin"))]))],
            expect: ImplicitDeny, fixes: vec![(Key, SRC)], ..Default::default() },
        // rule: KMS cross account: key policy allows the caller's account AND the identity policy allows the key ARN
        Case { rule: "kms cross-account both", action: "kms:GenerateDataKey", resource: DKEY, resource_account: DST,
            policies: vec![id_kms(DKEY), key(doc(&[key_root_of(DST), key_allow(&aws("arn:aws:iam::111111111111:root"))]))], expect: Allow, ..Default::default() },
        // rule: KMS cross account: key policy allows the source account but the identity policy is missing
        Case { rule: "kms cross-account identity missing", action: "kms:GenerateDataKey", resource: DKEY, resource_account: DST,
            policies: vec![key(doc(&[key_root_of(DST), key_allow(&aws(SRC))]))], expect: ImplicitDeny, fixes: vec![(Identity, SRC)], ..Default::default() },
        // rule: KMS cross account: the owner's root delegation does not cover other accounts
        Case { rule: "kms cross-account owner root only", action: "kms:GenerateDataKey", resource: DKEY, resource_account: DST,
            policies: vec![id_kms(DKEY), key(doc(&[key_root_of(DST)]))], expect: ImplicitDeny, fixes: vec![(Key, DST)],
            explain: vec!["key policy of datalake-key (account 222222222222) has no statement allowing arn:aws:iam::111111111111:role/ops/transfer"], ..Default::default() },
        // rule: KMS cross account: both sides missing -> identity fix for the source, key fix for the destination
        Case { rule: "kms cross-account neither", action: "kms:Encrypt", resource: DKEY, resource_account: DST,
            policies: vec![key(doc(&[key_root_of(DST)]))], expect: ImplicitDeny, fixes: vec![(Identity, SRC), (Key, DST)], ..Default::default() },
        // rule: KMS cross account: the key policy naming the role (session) directly
        Case { rule: "kms cross-account key names role", action: "kms:Decrypt", resource: DKEY, resource_account: DST,
            policies: vec![id_kms(DKEY), key(doc(&[key_root_of(DST), key_allow(&aws(ROLE))]))], expect: Allow, ..Default::default() },
        // rule: KMS cross account: identity policy on another key does not count
        Case { rule: "kms identity wrong key", action: "kms:Decrypt", resource: DKEY, resource_account: DST,
            policies: vec![id_kms(SKEY), key(doc(&[key_allow(&aws(ROLE))]))], expect: ImplicitDeny, fixes: vec![(Identity, SRC)], ..Default::default() },
        // rule: every KMS key has a key policy: none supplied -> unknown
        Case { rule: "kms no key policy", action: "kms:Decrypt", resource: DKEY, resource_account: DST, policies: vec![id_kms(DKEY)],
            expect: Unknown, explain: vec!["No key policy was supplied"], ..Default::default() },
        // rule: kms:ViaService condition satisfied by context
        Case { rule: "kms ViaService present", action: "kms:GenerateDataKey", resource: DKEY, resource_account: DST, context: vec![("kms:ViaService", "s3.eu-west-1.amazonaws.com")],
            policies: vec![id_kms(DKEY), key(doc(&[st("Allow", Some(&aws(ROLE)), KMS_RW, STAR, Some(r#"{"StringEquals":{"kms:ViaService":"s3.eu-west-1.amazonaws.com"}}"#))]))], expect: Allow, ..Default::default() },
        // rule: kms:ViaService missing -> condition false, key reported missing
        Case { rule: "kms ViaService missing", action: "kms:GenerateDataKey", resource: DKEY, resource_account: DST,
            policies: vec![id_kms(DKEY), key(doc(&[st("Allow", Some(&aws(ROLE)), KMS_RW, STAR, Some(r#"{"StringEquals":{"kms:ViaService":"s3.eu-west-1.amazonaws.com"}}"#))]))],
            expect: ImplicitDeny, fixes: vec![(Key, DST)], missing: vec!["kms:ViaService"], ..Default::default() },
        // rule: kms:CallerAccount is derived from the caller
        Case { rule: "kms CallerAccount derived", action: "kms:Decrypt", resource: DKEY, resource_account: DST,
            policies: vec![id_kms(DKEY), key(doc(&[st("Allow", Some(&aws("*")), KMS_RW, STAR, Some(r#"{"StringEquals":{"kms:CallerAccount":"111111111111"}}"#))]))], expect: Allow, ..Default::default() },
        // rule: a bucket policy does not govern a KMS request (and is said to be ignored)
        Case { rule: "bucket policy ignored for kms", action: "kms:Decrypt", resource: SKEY, resource_account: SRC,
            policies: vec![id_kms(SKEY), key(doc(&[key_root_of(SRC)])), bkt(doc(&[st("Deny", Some(STAR), STAR, STAR, None)]))], expect: Allow, explain: vec!["does not govern"], ..Default::default() },
        // rule: a key alias is not the key ARN: flagged
        Case { rule: "kms alias flagged", action: "kms:Decrypt", resource: "arn:aws:kms:eu-west-1:111111111111:alias/prod", resource_account: SRC,
            policies: vec![id_kms(SKEY), key(doc(&[key_root_of(SRC)]))], expect: ImplicitDeny, fixes: vec![(Identity, SRC)], flags: vec!["KMS alias"], ..Default::default() },
        // rule: KMS explicit deny in the key policy
        Case { rule: "kms key policy deny", action: "kms:Decrypt", resource: DKEY, resource_account: DST,
            policies: vec![id_kms(DKEY), key(doc(&[key_allow(&aws(ROLE)), st("Deny", Some(STAR), r#""kms:Decrypt""#, STAR, Some(r#"{"Bool":{"aws:SecureTransport":"true"}}"#))]))],
            expect: ExplicitDeny, ..Default::default() },
    ]
}

impl P {
    fn with_account(mut self, account: &'static str) -> P {
        self.account = Some(account);
        self
    }
}

fn run_case(c: &Case) -> (Request, Vec<LabelledPolicy>, Evaluation) {
    let mut request = Request::new(c.who.principal(), c.action, c.resource, c.resource_account)
        .with_context("aws:SecureTransport", "true");
    for (k, v) in &c.context {
        match k.strip_prefix('!') {
            Some(k) => request.context.remove(k),
            None if k.eq_ignore_ascii_case("aws:SecureTransport") => request.context.set(k, vec![v.to_string()]),
            None if v.is_empty() => request.context.set(k, vec![]),
            None => request.context.insert(k, *v),
        }
    }
    let caller_account = request.principal.account.clone();
    let policies: Vec<_> = c
        .policies
        .iter()
        .map(|p| {
            let account =
                p.account.unwrap_or(if p.kind.is_resource_policy() { c.resource_account } else { &caller_account });
            labelled(p.kind, default_name(p.kind), account, &p.json)
        })
        .collect();
    let e = evaluate(&request, &policies);
    (request, policies, e)
}

/// Applying every proposed fix (as an extra policy of its kind and account) must allow the request.
fn check_fix_allows(request: &Request, policies: &[LabelledPolicy], e: &Evaluation) -> Option<String> {
    let mut patched = policies.to_vec();
    for f in &e.fixes {
        match parse_policy(&f.json, f.policy) {
            Ok(document) => patched.push(LabelledPolicy::new(f.policy, "fix", f.account.clone(), document)),
            Err(err) => {
                return Some(format!("fix does not parse as a {} policy: {err}", f.policy));
            }
        }
    }
    let after = evaluate(request, &patched);
    let deny_unknown = e.explanation.iter().any(|l| l.contains("may also be explicitly denied"));
    match after.decision {
        Allow => None,
        Unknown if deny_unknown => None,
        d => Some(format!("after applying the fixes the decision is {d:?}: {:?}", after.explanation)),
    }
}

fn check_fixes(c: &Case, request: &Request, e: &Evaluation) -> Vec<String> {
    let mut errors = Vec::new();
    let kinds: Vec<(PolicyKind, &str)> = e.fixes.iter().map(|f| (f.policy, f.account.as_str())).collect();
    if kinds != c.fixes {
        errors.push(format!("fixes {kinds:?}, expected {:?}", c.fixes));
    }
    for f in &e.fixes {
        let v: serde_json::Value = match serde_json::from_str(&f.json) {
            Ok(v) => v,
            Err(err) => {
                errors.push(format!("fix json does not parse: {err}"));
                continue;
            }
        };
        let stmts = v["Statement"].as_array().cloned().unwrap_or_default();
        if stmts.len() != 1 {
            errors.push(format!("expected one statement, got {}", stmts.len()));
        }
        for s in &stmts {
            if s["Effect"] != "Allow" {
                errors.push("fix statement is not an Allow".into());
            }
            if s["Action"] != serde_json::json!([request.action]) {
                errors.push(format!("fix action {} is not exactly the request's", s["Action"]));
            }
            let want_resource = if f.policy == PolicyKind::Key { "*" } else { request.resource.as_str() };
            if s["Resource"] != serde_json::json!([want_resource]) {
                errors.push(format!("fix resource {} is not {want_resource}", s["Resource"]));
            }
            match f.policy {
                PolicyKind::Bucket | PolicyKind::Key => {
                    let want = match &request.principal.role_arn {
                        Some(r) => r.clone(),
                        None => request.principal.arn.clone(),
                    };
                    let want =
                        if request.principal.arn.contains(":assumed-role/") && request.principal.role_arn.is_none() {
                            "arn:aws:iam::111111111111:role/transfer".to_string()
                        } else {
                            want
                        };
                    if s["Principal"] != serde_json::json!({"AWS": want}) {
                        errors.push(format!("fix principal {} is not {want}", s["Principal"]));
                    }
                }
                _ => {
                    if !s["Principal"].is_null() {
                        errors.push("caller-side fix has a Principal".into());
                    }
                }
            }
        }
        if f.json.contains(r#""Principal": "*""#) || f.json.contains(r#""AWS": "*""#) {
            errors.push("fix grants to *".into());
        }
        if !f.terraform.starts_with("data \"aws_iam_policy_document\"") || !f.terraform.contains("statement {") {
            errors.push(format!("terraform malformed: {}", f.terraform));
        }
        let want_account = if f.policy.is_resource_policy() { c.resource_account } else { SRC };
        if f.account != want_account {
            errors.push(format!("fix for {} goes to account {}, expected {want_account}", f.policy, f.account));
        }
    }
    errors
}

#[test]
fn decision_table() {
    let cases = cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let (request, policies, e) = run_case(c);
        let mut errors = Vec::new();
        if e.decision != c.expect {
            errors.push(format!("decision {:?}, expected {:?}", e.decision, c.expect));
        }
        let text = e.explanation.join("\n");
        for want in &c.explain {
            if !text.contains(want) {
                errors.push(format!("explanation lacks {want:?}"));
            }
        }
        for want in &c.flags {
            if !e.flags.iter().any(|f| f.contains(want)) {
                errors.push(format!("flags lack {want:?}: {:?}", e.flags));
            }
        }
        for want in &c.missing {
            if !e.missing_context.iter().any(|m| m.eq_ignore_ascii_case(want)) {
                errors.push(format!("missing_context lacks {want:?}: {:?}", e.missing_context));
            }
        }
        if e.decision == ImplicitDeny {
            errors.extend(check_fixes(c, &request, &e));
            errors.extend(check_fix_allows(&request, &policies, &e));
        } else if !e.fixes.is_empty() {
            errors.push(format!("{:?} must not carry fixes", e.decision));
        }
        if e.decision == ExplicitDeny && !e.matched.iter().any(|m| m.effect == s3ferry::core::policy::Effect::Deny) {
            errors.push("explicit deny without the denying statement in `matched`".into());
        }
        if !errors.is_empty() {
            failures.push(format!(
                "[{}]\n  {}\n  explanation:\n    {}",
                c.rule,
                errors.join("\n  "),
                e.explanation.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}
