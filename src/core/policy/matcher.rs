//! Matching of actions, resources, ARNs, principals and policy variables.

use super::document::{PrincipalSet, PrincipalType};
use super::request::{Lookup, Principal};

/// Actions compare case-insensitively (`S3:putobject` == `s3:PutObject`).
pub(crate) fn action_matches(pattern: &str, action: &str) -> bool {
    glob(pattern, action, true)
}

/// A policy variable the request gives no single value for (shown as it is written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unbound {
    #[error("${{{0}}}")]
    Missing(String),
    #[error("${{{0}}} (the key has several values)")]
    Several(String),
}

/// Resources compare case-sensitively. `vars` enables policy variables (`${aws:username}`).
/// Err carries the variable that had no value.
pub(crate) fn resource_matches(pattern: &str, resource: &str, vars: bool, ctx: &dyn Lookup) -> Result<bool, Unbound> {
    if vars && pattern.contains("${") {
        let pieces = expand_vars(pattern, ctx)?;
        Ok(pieces_glob(&pieces, resource, false))
    } else {
        Ok(glob(pattern, resource, false))
    }
}

/// `*` matches any run of characters, `?` exactly one.
pub(crate) fn glob(pattern: &str, text: &str, ci: bool) -> bool {
    if pattern == "*" {
        return true;
    }
    if pattern.is_ascii() && text.is_ascii() {
        let (p, t) = (pattern.as_bytes(), text.as_bytes());
        wildcard(
            p.len(),
            t.len(),
            |i| match p[i] {
                b'*' => Tok::Star,
                b'?' => Tok::One,
                _ => Tok::Lit,
            },
            |pi, ti| {
                if ci { p[pi].eq_ignore_ascii_case(&t[ti]) } else { p[pi] == t[ti] }
            },
        )
    } else {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        wildcard(
            p.len(),
            t.len(),
            |i| match p[i] {
                '*' => Tok::Star,
                '?' => Tok::One,
                _ => Tok::Lit,
            },
            |pi, ti| chars_eq(p[pi], t[ti], ci),
        )
    }
}

fn chars_eq(a: char, b: char, ci: bool) -> bool {
    a == b || (ci && a.to_lowercase().eq(b.to_lowercase()))
}

#[derive(Clone, Copy, PartialEq)]
enum Tok {
    Star,
    One,
    Lit,
}

/// Linear-time-ish wildcard matching with single-star backtracking (no exponential blow-up on `*a*a*a*`).
fn wildcard(plen: usize, tlen: usize, tok: impl Fn(usize) -> Tok, lit_eq: impl Fn(usize, usize) -> bool) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < tlen {
        if pi < plen {
            match tok(pi) {
                Tok::Star => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                Tok::One => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                Tok::Lit if lit_eq(pi, ti) => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                Tok::Lit => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    while pi < plen && tok(pi) == Tok::Star {
        pi += 1;
    }
    pi == plen
}

/// Text after policy-variable substitution: substituted values and `${*}`-style escapes are literal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Pattern(String),
    Literal(String),
}

/// Substitutes `${key}` / `${key, 'default'}` / `${*}` `${?}` `${$}` from the request context.
pub(crate) fn expand_vars(s: &str, ctx: &dyn Lookup) -> Result<Vec<Piece>, Unbound> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        if start > 0 {
            out.push(Piece::Pattern(rest[..start].to_string()));
        }
        let inner = rest[start + 2..start + len].trim();
        let literal = match inner {
            "*" | "?" | "$" => inner.to_string(),
            _ => {
                let (key, default) = match inner.split_once(',') {
                    Some((k, d)) => {
                        let d = d.trim();
                        let d = d.strip_prefix('\'').and_then(|d| d.strip_suffix('\'')).unwrap_or(d);
                        (k.trim(), Some(d))
                    }
                    None => (inner, None),
                };
                match ctx.get(&key.to_ascii_lowercase()) {
                    Some([one]) => one.clone(),
                    Some(many) if many.len() > 1 => {
                        return Err(Unbound::Several(key.to_string()));
                    }
                    _ => match default {
                        Some(d) => d.to_string(),
                        None => return Err(Unbound::Missing(key.to_string())),
                    },
                }
            }
        };
        out.push(Piece::Literal(literal));
        rest = &rest[start + len + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Pattern(rest.to_string()));
    }
    Ok(out)
}

pub(crate) fn pieces_to_string(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Pattern(s) | Piece::Literal(s) => s.as_str(),
        })
        .collect()
}

pub(crate) fn pieces_glob(pieces: &[Piece], text: &str, ci: bool) -> bool {
    let mut p: Vec<(char, bool)> = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Pattern(s) => p.extend(s.chars().map(|c| (c, true))),
            Piece::Literal(s) => p.extend(s.chars().map(|c| (c, false))),
        }
    }
    let t: Vec<char> = text.chars().collect();
    wildcard(
        p.len(),
        t.len(),
        |i| match p[i] {
            ('*', true) => Tok::Star,
            ('?', true) => Tok::One,
            _ => Tok::Lit,
        },
        |pi, ti| chars_eq(p[pi].0, t[ti], ci),
    )
}

/// `Arn*` condition operators: each of the six colon-separated parts matched on its own, so `*` cannot
/// cross a colon before the resource part. A lone `*` matches any ARN.
pub(crate) fn arn_like(pattern: &str, value: &str) -> bool {
    if !value.starts_with("arn:") || value.splitn(6, ':').count() != 6 {
        return false;
    }
    if pattern == "*" {
        return true;
    }
    is_six_part(pattern) && pattern.splitn(6, ':').zip(value.splitn(6, ':')).all(|(p, v)| glob(p, v, false))
}

pub(crate) fn is_six_part(s: &str) -> bool {
    s.splitn(6, ':').count() == 6
}

/// The parts of `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

pub(crate) fn parse_arn(s: &str) -> Option<Arn<'_>> {
    let mut it = s.splitn(6, ':');
    if it.next()? != "arn" {
        return None;
    }
    Some(Arn {
        partition: it.next()?,
        service: it.next()?,
        region: it.next()?,
        account: it.next()?,
        resource: it.next()?,
    })
}

pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// IAM unique ids (`AROA...` role, `AIDA...` user, ...): what a policy shows once the principal it named was
/// deleted. They match nothing.
pub(crate) fn is_unique_id(s: &str) -> bool {
    const PREFIXES: [&str; 6] = ["AROA", "AIDA", "AGPA", "AIPA", "ANPA", "ANVA"];
    s.len() >= 16
        && PREFIXES.iter().any(|p| s.starts_with(p))
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The caller, classified once per evaluation.
#[derive(Debug, Clone)]
pub(crate) struct Caller<'a> {
    pub account: &'a str,
    pub arn: &'a str,
    pub kind: CallerKind<'a>,
}

#[derive(Debug, Clone)]
pub(crate) enum CallerKind<'a> {
    Root,
    User,
    /// The caller is given as the role itself (as the CLI allows).
    Role,
    Session {
        role_arn: Option<&'a str>,
        role_name: &'a str,
        partition: &'a str,
    },
    Other,
}

impl<'a> Caller<'a> {
    pub(crate) fn new(p: &'a Principal) -> Self {
        let kind = match parse_arn(&p.arn) {
            None if is_account_id(&p.arn) => CallerKind::Root,
            None => CallerKind::Other,
            Some(arn) => match (arn.service, arn.resource) {
                ("iam", "root") => CallerKind::Root,
                ("iam", r) if r.starts_with("user/") => CallerKind::User,
                ("iam", r) if r.starts_with("role/") => CallerKind::Role,
                ("sts", r) if r.starts_with("assumed-role/") => {
                    let mut parts = r.splitn(3, '/').skip(1);
                    CallerKind::Session {
                        role_arn: p.role_arn.as_deref(),
                        role_name: parts.next().unwrap_or(""),
                        partition: arn.partition,
                    }
                }
                _ => CallerKind::Other,
            },
        };
        Caller { account: &p.account, arn: &p.arn, kind }
    }

    pub(crate) fn is_root(&self) -> bool {
        matches!(self.kind, CallerKind::Root)
    }

    /// The ARN to name in a fix: the role (with path when known), never the session.
    pub(crate) fn grantee_arn(&self) -> String {
        match &self.kind {
            CallerKind::Session { role_arn: Some(r), .. } => (*r).to_string(),
            CallerKind::Session { role_arn: None, role_name, partition } => {
                format!("arn:{partition}:iam::{}:role/{role_name}", self.account)
            }
            CallerKind::Root if is_account_id(self.arn) => {
                format!("arn:aws:iam::{}:root", self.account)
            }
            _ => self.arn.to_string(),
        }
    }

    /// The role ARN when the caller is a role or a role session with a known role ARN.
    pub(crate) fn role_arn(&self) -> Option<&'a str> {
        match self.kind {
            CallerKind::Role => Some(self.arn),
            CallerKind::Session { role_arn, .. } => role_arn,
            _ => None,
        }
    }

    fn is_own_root(&self, value: &str) -> bool {
        if is_account_id(value) {
            return value == self.account;
        }
        matches!(parse_arn(value), Some(a) if a.service == "iam" && a.resource == "root" && a.account == self.account)
    }

    /// Does `value` name the caller's role (not its account)?
    /// A service-linked role (path `/aws-service-role/`): SCPs do not apply to it.
    pub(crate) fn is_service_linked(&self) -> bool {
        let role = match &self.kind {
            CallerKind::Role => Some(self.arn),
            CallerKind::Session { role_arn, .. } => *role_arn,
            _ => None,
        };
        role.is_some_and(|r| r.contains(":role/aws-service-role/"))
    }

    fn names_role(&self, value: &str) -> bool {
        match &self.kind {
            CallerKind::Role => value == self.arn,
            CallerKind::Session { role_arn: Some(r), .. } => value == *r,
            CallerKind::Session { role_arn: None, role_name, partition } => {
                // Session ARNs carry no role path: fall back to account + role name.
                matches!(parse_arn(value), Some(a) if a.service == "iam"
                    && a.partition == *partition
                    && a.account == self.account
                    && a.resource.starts_with("role/")
                    && a.resource.rsplit('/').next() == Some(*role_name))
            }
            _ => false,
        }
    }
}

/// How a statement's Principal matched the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrincipalHit {
    None,
    /// Named specifically (role, session, user) or `"*"`: the resource policy grants on its own.
    Direct,
    /// Named by the caller's own ARN (the user's, or the role session's): within one account,
    /// such a grant is not capped by an implicit deny in a permissions boundary or (for the
    /// session ARN) a session policy.
    Exact,
    /// Matched through the caller's account (`"111122223333"` / `:root`): that account's IAM policies must
    /// also allow.
    ViaAccount,
}

pub(crate) fn match_principal(set: &PrincipalSet, caller: &Caller) -> PrincipalHit {
    let entries = match set {
        PrincipalSet::Any => return PrincipalHit::Direct,
        PrincipalSet::Map(entries) => entries,
    };
    let mut best = PrincipalHit::None;
    for e in entries.iter().filter(|e| e.kind == PrincipalType::Aws) {
        let v = e.value.as_str();
        if v == caller.arn && matches!(caller.kind, CallerKind::User | CallerKind::Session { .. }) {
            return PrincipalHit::Exact;
        }
        if v == "*" || v == caller.arn || caller.names_role(v) {
            best = PrincipalHit::Direct;
        } else if caller.is_own_root(v) && best == PrincipalHit::None {
            best = PrincipalHit::ViaAccount;
        }
    }
    best
}

/// Whether a NotPrincipal list names any link of the caller's chain (its account, its role,
/// itself). An Allow with NotPrincipal grants everyone except those listed (IAM User Guide,
/// "AWS JSON policy elements: NotPrincipal"); which link AWS compares is not documented, so
/// the preflight never lets such an Allow grant a caller any link of which is listed: a
/// verdict may then say "denied" where AWS allows, but never "allowed" where AWS denies.
pub(crate) fn not_principal_names_any(set: &PrincipalSet, caller: &Caller) -> bool {
    let entries = match set {
        PrincipalSet::Any => return true,
        PrincipalSet::Map(entries) => entries,
    };
    entries.iter().any(|e| {
        e.kind == PrincipalType::Aws
            && (e.value == "*" || caller.is_own_root(&e.value) || caller.names_role(&e.value) || e.value == caller.arn)
    })
}

/// NotPrincipal: AWS may check the account, then the role, then the session, so the caller escapes the
/// statement only when every link of that chain is listed.
pub(crate) fn not_principal_excludes(set: &PrincipalSet, caller: &Caller) -> bool {
    let entries = match set {
        PrincipalSet::Any => return true,
        PrincipalSet::Map(entries) => entries,
    };
    let listed = |pred: &dyn Fn(&str) -> bool| {
        entries.iter().any(|e| e.kind == PrincipalType::Aws && (e.value == "*" || pred(&e.value)))
    };
    let account_listed = listed(&|v| caller.is_own_root(v));
    match &caller.kind {
        CallerKind::Root => account_listed,
        CallerKind::User | CallerKind::Other => account_listed && listed(&|v| v == caller.arn),
        CallerKind::Role => account_listed && listed(&|v| caller.names_role(v)),
        CallerKind::Session { .. } => {
            account_listed && listed(&|v| caller.names_role(v)) && listed(&|v| v == caller.arn)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::policy::request::Context;

    #[test]
    fn glob_rules() {
        assert!(glob("s3:Get*", "s3:getobject", true));
        assert!(!glob("s3:Get*", "s3:getobject", false));
        assert!(glob("a?c", "abc", false));
        assert!(!glob("a?c", "ac", false));
        assert!(glob("*a*b", "xxaxxb", false));
        assert!(!glob("*a*b", "xxaxxbc", false));
        assert!(glob("", "", false));
        assert!(!glob("", "x", false));
        assert!(glob("é*", "éa", false));
        assert!(glob("É*", "éa", true));
        assert!(!glob(&"*a".repeat(40), &"a".repeat(39), false));
    }

    #[test]
    fn arn_parts_are_matched_separately() {
        assert!(arn_like("arn:aws:iam::*:role/ops/*", "arn:aws:iam::111122223333:role/ops/transfer"));
        assert!(!arn_like("arn:aws:iam::*", "arn:aws:iam::111122223333:role/x"));
        assert!(arn_like("arn:aws:iam::*:*", "arn:aws:iam::111122223333:role/x"));
        assert!(arn_like("arn:*:*:*:*:*", "arn:aws:s3:::bucket/a:b"));
        assert!(arn_like("*", "arn:aws:iam::111122223333:role/x"));
        assert!(!arn_like("arn:aws:iam::111122223333:role/x", "not-an-arn"));
        // `*` in the account part cannot swallow the resource part's colon-free prefix.
        assert!(!arn_like("arn:aws:*:role/x", "arn:aws:iam::111122223333:role/x"));
    }

    #[test]
    fn variables_expand_literally() {
        let ctx = Context::new().with("aws:username", "a*b");
        let pieces = expand_vars("arn:aws:s3:::b/${aws:username}/${*}", &ctx).unwrap();
        assert!(pieces_glob(&pieces, "arn:aws:s3:::b/a*b/*", false));
        assert!(!pieces_glob(&pieces, "arn:aws:s3:::b/axxb/*", false));
        assert!(!pieces_glob(&pieces, "arn:aws:s3:::b/a*b/x", false));
        assert_eq!(expand_vars("${aws:nope}", &ctx).unwrap_err().to_string(), "${aws:nope}");
        let d = expand_vars("${aws:nope, 'dflt'}", &ctx).unwrap();
        assert_eq!(pieces_to_string(&d), "dflt");
    }

    #[test]
    fn unique_ids() {
        assert!(is_unique_id("AROAEXAMPLEID1234567"));
        assert!(!is_unique_id("arn:aws:iam::111122223333:root"));
        assert!(!is_unique_id("AROA"));
    }
}
