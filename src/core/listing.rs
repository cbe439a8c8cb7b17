//! What a pane shows: buckets, common prefixes and objects, in the order S3 returns them.

/// One row of a listing. Times are kept as epoch seconds so the core stays free of SDK types.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum Entry {
    Bucket { bucket: String, created: Option<i64> },
    Prefix { prefix: String },
    Object { key: String, size: u64, last_modified: Option<i64>, storage_class: String },
}

impl Entry {
    /// The name a pane shows: relative to the prefix being browsed.
    pub fn display_name<'a>(&'a self, parent_prefix: &str) -> &'a str {
        match self {
            Entry::Bucket { bucket, .. } => bucket,
            Entry::Prefix { prefix } => prefix.strip_prefix(parent_prefix).unwrap_or(prefix),
            Entry::Object { key, .. } => key.strip_prefix(parent_prefix).unwrap_or(key),
        }
    }

    /// Case-insensitive substring match for the `/` filter.
    pub fn matches(&self, parent_prefix: &str, filter: &str) -> bool {
        filter.is_empty() || self.display_name(parent_prefix).to_lowercase().contains(&filter.to_lowercase())
    }
}

/// A key or prefix from a listing asked for with `encoding-type=url` (so keys holding control
/// characters, which XML 1.0 cannot carry, still list): S3 sends them percent-encoded in the
/// form style (`+` a space, `%2B` a plus). `None` when the text does not decode to UTF-8.
pub fn decode_listed(text: &str) -> Option<String> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8().ok().map(|c| c.into_owned())
}

/// A key as it may be shown on a terminal: control characters (C0, DEL and C1, which include
/// ESC, CR and the CSI U+009B that could move the cursor or rewrite the screen) written as
/// `\x1b`-style escapes, and a backslash doubled so an escape cannot be forged.
pub fn printable(key: &str) -> std::borrow::Cow<'_, str> {
    if !key.chars().any(|c| c.is_control() || c == '\\') {
        return std::borrow::Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len() + 8);
    for c in key.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_control() && (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// What Enter on an object shows: HeadObject's answer, and its tags when asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectDetails {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub last_modified: Option<i64>,
    pub storage_class: String,
    /// "aws:kms", "AES256", "aws:kms:dsse" or "none".
    pub encryption: String,
    pub kms_key: Option<String>,
    pub content_type: Option<String>,
    pub metadata: Vec<(String, String)>,
    /// `None`: not asked for; `Some(Err)`: GetObjectTagging refused (the message says why).
    pub tags: Option<Result<Vec<(String, String)>, String>>,
}

/// How a pane sorts its objects (prefixes stay first, by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    #[default]
    Name,
    Size,
    Date,
}

impl SortBy {
    pub fn next(self) -> SortBy {
        match self {
            SortBy::Name => SortBy::Size,
            SortBy::Size => SortBy::Date,
            SortBy::Date => SortBy::Name,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::Name => "name",
            SortBy::Size => "size",
            SortBy::Date => "date",
        }
    }

    /// Orders objects: by name as listed, else largest or newest first (then by name).
    pub fn order(self, a: &Entry, b: &Entry) -> std::cmp::Ordering {
        let key = |e: &Entry| match e {
            Entry::Object { size, last_modified, .. } => (*size, last_modified.unwrap_or(i64::MIN)),
            _ => (0, i64::MIN),
        };
        let name = |e: &Entry| match e {
            Entry::Object { key, .. } => key.clone(),
            Entry::Prefix { prefix } => prefix.clone(),
            Entry::Bucket { bucket, .. } => bucket.clone(),
        };
        match self {
            SortBy::Name => std::cmp::Ordering::Equal,
            SortBy::Size => key(b).0.cmp(&key(a).0).then_with(|| name(a).cmp(&name(b))),
            SortBy::Date => key(b).1.cmp(&key(a).1).then_with(|| name(a).cmp(&name(b))),
        }
    }
}

/// Where a pane is: the bucket list, or a prefix inside a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Location {
    #[default]
    Buckets,
    Prefix {
        bucket: String,
        prefix: String,
    },
}

impl Location {
    /// One level up: from a prefix to its parent, from a bucket root to the bucket list.
    pub fn parent(&self) -> Location {
        match self {
            Location::Buckets => Location::Buckets,
            Location::Prefix { prefix, .. } if prefix.is_empty() => Location::Buckets,
            Location::Prefix { bucket, prefix } => {
                let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
                let parent = match trimmed.rfind('/') {
                    Some(i) => trimmed[..=i].to_string(),
                    None => String::new(),
                };
                Location::Prefix { bucket: bucket.clone(), prefix: parent }
            }
        }
    }

    /// Where Enter on `entry` leads, if anywhere.
    pub fn child(&self, entry: &Entry) -> Option<Location> {
        match (self, entry) {
            (_, Entry::Bucket { bucket, .. }) => {
                Some(Location::Prefix { bucket: bucket.clone(), prefix: String::new() })
            }
            (Location::Prefix { bucket, .. }, Entry::Prefix { prefix }) => {
                Some(Location::Prefix { bucket: bucket.clone(), prefix: prefix.clone() })
            }
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Location::Buckets => "buckets".to_string(),
            Location::Prefix { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_keys_decode_and_print_escaped() {
        let cases = [
            ("a%00b", "a\0b", "a\\x00b"),
            ("x%1B%5B2J", "x\x1b[2J", "x\\x1b[2J"),
            ("with+space%2Bplus", "with space+plus", "with space+plus"),
            ("na%C3%AFve%C2%9B", "naïve\u{9b}", "naïve\\x9b"),
            ("cr%0D", "cr\r", "cr\\x0d"),
            ("back%5Cslash", "back\\slash", "back\\\\slash"),
        ];
        for (sent, key, shown) in cases {
            let decoded = decode_listed(sent).unwrap();
            assert_eq!(decoded, key, "{sent}");
            assert_eq!(printable(&decoded), shown, "{sent}");
        }
        assert_eq!(decode_listed("%FF"), None, "not UTF-8");
    }

    fn at(bucket: &str, prefix: &str) -> Location {
        Location::Prefix { bucket: bucket.into(), prefix: prefix.into() }
    }

    #[test]
    fn navigation() {
        let cases = [
            (at("b", "a/b/c/"), at("b", "a/b/")),
            (at("b", "a/"), at("b", "")),
            (at("b", ""), Location::Buckets),
            (Location::Buckets, Location::Buckets),
            // A configured prefix need not end in '/': its parent is the enclosing folder.
            (at("b", "exports/2024"), at("b", "exports/")),
        ];
        for (from, want) in cases {
            assert_eq!(from.parent(), want, "{from:?}");
        }
        let dir = Entry::Prefix { prefix: "a/b/".into() };
        assert_eq!(at("b", "a/").child(&dir), Some(at("b", "a/b/")));
        let obj = Entry::Object { key: "a/x".into(), size: 1, last_modified: None, storage_class: "STANDARD".into() };
        assert_eq!(at("b", "a/").child(&obj), None);
        let bucket = Entry::Bucket { bucket: "c".into(), created: None };
        assert_eq!(Location::Buckets.child(&bucket), Some(at("c", "")));
    }

    #[test]
    fn names_and_filter() {
        let obj = Entry::Object {
            key: "a/Report.csv".into(),
            size: 1,
            last_modified: None,
            storage_class: "STANDARD".into(),
        };
        assert_eq!(obj.display_name("a/"), "Report.csv");
        assert!(obj.matches("a/", "report"));
        assert!(!obj.matches("a/", "a/"));
        assert!(obj.matches("a/", ""));
    }
}
