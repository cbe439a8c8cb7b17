//! What the console's operator chose to move: a prefix of the migration's source bucket and,
//! optionally, entries marked in it. The destination follows: the part of the chosen prefix
//! below the configured source prefix is appended to the configured destination prefix, so
//! `s3://prod/daily/2026/` of a migration `s3://prod/` → `s3://lake/prod/` lands in
//! `s3://lake/prod/daily/2026/`.

use crate::core::progress::Mode;

/// One plan or run the console asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub mode: Mode,
    /// `None`: the configured source prefix, whole (what `s3ferry cp|sync` runs).
    pub scope: Option<Scope>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    /// The source prefix browsed (within the configured one).
    pub prefix: String,
    /// Names relative to `prefix`, sorted: `name/` for a prefix, else one key. Empty: all of it.
    pub entries: Vec<String>,
}

/// The configured pair the scope must stay within.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pair {
    pub source_bucket: String,
    pub source_prefix: String,
    pub destination_bucket: String,
    pub destination_prefix: String,
}

impl Pair {
    /// The scope for browsing `bucket`/`prefix` with `marked` entries (`None` when it is the
    /// configured source, whole). Errors say what to do instead, in one line.
    pub fn scope_at(&self, bucket: &str, prefix: &str, marked: &[String]) -> Result<Option<Scope>, String> {
        if bucket != self.source_bucket {
            return Err(format!(
                "s3://{bucket} is not this migration's source: open s3://{}/{} to choose what to copy",
                self.source_bucket, self.source_prefix
            ));
        }
        if !prefix.starts_with(&self.source_prefix) {
            return Err(format!(
                "s3://{bucket}/{prefix} is outside this migration's source s3://{}/{}: open it or a prefix inside it",
                self.source_bucket, self.source_prefix
            ));
        }
        let mut entries = marked.to_vec();
        entries.sort();
        entries.dedup();
        if prefix == self.source_prefix && entries.is_empty() {
            return Ok(None);
        }
        Ok(Some(Scope { prefix: prefix.to_string(), entries }))
    }

    /// Source and destination prefixes of a run of `scope`.
    pub fn prefixes(&self, scope: Option<&Scope>) -> (String, String) {
        match scope {
            None => (self.source_prefix.clone(), self.destination_prefix.clone()),
            Some(s) => {
                let below = s.prefix.strip_prefix(&self.source_prefix).unwrap_or("");
                (s.prefix.clone(), format!("{}{below}", self.destination_prefix))
            }
        }
    }

    /// "s3://prod/daily/2026/{01/, 02/} → s3://lake/prod/daily/2026/": the plan's title.
    pub fn describe(&self, scope: Option<&Scope>) -> (String, String) {
        let (src, dst) = self.prefixes(scope);
        let marks = match scope.map(|s| s.entries.as_slice()) {
            None | Some([]) => String::new(),
            Some([one]) => one.clone(),
            Some(many) if many.len() <= 3 => format!("{{{}}}", many.join(", ")),
            Some(many) => format!("{{{}, … {} marked}}", many[..2].join(", "), many.len()),
        };
        (format!("s3://{}/{src}{marks}", self.source_bucket), format!("s3://{}/{dst}", self.destination_bucket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> Pair {
        Pair {
            source_bucket: "prod".into(),
            source_prefix: "data/".into(),
            destination_bucket: "lake".into(),
            destination_prefix: "prod/".into(),
        }
    }

    #[test]
    fn scopes_map_below_the_configured_prefixes() {
        let p = pair();
        let marks = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // (bucket, browsed prefix, marks) -> (source prefix, destination prefix, title source)
        type Case<'a> = (&'a str, &'a str, &'a [&'a str], &'a str, &'a str, &'a str);
        let cases: &[Case] = &[
            ("prod", "data/", &[], "data/", "prod/", "s3://prod/data/"),
            ("prod", "data/daily/2026/", &[], "data/daily/2026/", "prod/daily/2026/", "s3://prod/data/daily/2026/"),
            ("prod", "data/", &["b/", "a/"], "data/", "prod/", "s3://prod/data/{a/, b/}"),
            ("prod", "data/x/", &["k.txt"], "data/x/", "prod/x/", "s3://prod/data/x/k.txt"),
            ("prod", "data/", &["a/", "b/", "c", "d"], "data/", "prod/", "s3://prod/data/{a/, b/, … 4 marked}"),
        ];
        for (bucket, prefix, m, src, dst, title) in cases {
            let scope = p.scope_at(bucket, prefix, &marks(m)).unwrap();
            assert_eq!(p.prefixes(scope.as_ref()), (src.to_string(), dst.to_string()), "{prefix} {m:?}");
            assert_eq!(p.describe(scope.as_ref()).0, *title);
        }
        assert_eq!(p.scope_at("prod", "data/", &[]).unwrap(), None, "the configured source, whole");
        assert!(p.scope_at("other", "data/", &[]).unwrap_err().contains("not this migration's source"));
        assert!(p.scope_at("prod", "", &marks(&["data/"])).unwrap_err().contains("outside"));
    }
}
