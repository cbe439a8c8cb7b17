//! A small JSON reader for policy documents.
//!
//! serde_json's `Value` keeps only the last of two duplicate keys, and AWS rejects such documents, so the
//! policy parser reads JSON itself: objects keep their key order, duplicates are errors, and every error
//! carries the JSON path where it happened.

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// The number's source text: condition values compare it as written.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JsonError {
    pub path: String,
    pub message: String,
}

/// Deep nesting is never a real policy and would otherwise risk the stack.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

pub(crate) fn render_path(segs: &[Seg]) -> String {
    let mut out = String::from("$");
    for seg in segs {
        push_seg(&mut out, seg);
    }
    out
}

pub(crate) fn push_seg(out: &mut String, seg: &Seg) {
    match seg {
        Seg::Index(i) => {
            let _ = write!(out, "[{i}]");
        }
        Seg::Key(k) => {
            let plain =
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ':');
            if plain {
                out.push('.');
                out.push_str(k);
            } else {
                let quoted = serde_json::to_string(k).unwrap_or_else(|_| "\"?\"".to_string());
                let _ = write!(out, "[{quoted}]");
            }
        }
    }
}

pub(crate) fn parse(text: &str) -> Result<Json, JsonError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut p = Parser { src: text, bytes: text.as_bytes(), pos: 0, path: Vec::new() };
    p.skip_ws();
    let value = p.value()?;
    p.skip_ws();
    if p.pos < p.bytes.len() {
        return Err(p.error("unexpected text after the end of the JSON document"));
    }
    Ok(value)
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    path: Vec<Seg>,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> JsonError {
        let (line, col) = self.line_col();
        JsonError {
            path: render_path(&self.path),
            message: format!("invalid JSON at line {line} column {col}: {what}"),
        }
    }

    fn line_col(&self) -> (usize, usize) {
        let upto = self.src.get(..self.pos).unwrap_or(self.src);
        let line = upto.matches('\n').count() + 1;
        let col = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect_literal(&mut self, lit: &str, value: Json) -> Result<Json, JsonError> {
        if self.bytes[self.pos..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            Ok(value)
        } else {
            Err(self.error("expected a JSON value"))
        }
    }

    fn value(&mut self) -> Result<Json, JsonError> {
        if self.path.len() > MAX_DEPTH {
            return Err(self.error("nesting is too deep for a policy document"));
        }
        match self.peek() {
            None => Err(self.error("unexpected end of input, expected a JSON value")),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.expect_literal("true", Json::Bool(true)),
            Some(b'f') => self.expect_literal("false", Json::Bool(false)),
            Some(b'n') => self.expect_literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a JSON value")),
        }
    }

    fn object(&mut self) -> Result<Json, JsonError> {
        self.pos += 1;
        let mut members: Vec<(String, Json)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a quoted object key"));
            }
            let key = self.string()?;
            if members.iter().any(|(k, _)| *k == key) {
                self.path.push(Seg::Key(key.clone()));
                let err = JsonError {
                    path: render_path(&self.path),
                    message: format!("duplicate key \"{key}\" (AWS rejects documents with duplicate keys)"),
                };
                return Err(err);
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':' after an object key"));
            }
            self.pos += 1;
            self.skip_ws();
            self.path.push(Seg::Key(key.clone()));
            let value = self.value()?;
            self.path.pop();
            members.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.error("expected ',' or '}' in an object")),
            }
        }
    }

    fn array(&mut self) -> Result<Json, JsonError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_ws();
            self.path.push(Seg::Index(items.len()));
            let value = self.value()?;
            self.path.pop();
            items.push(value);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']' in an array")),
            }
        }
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number: expected digits after '.'"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number: expected exponent digits"));
            }
            self.digits();
        }
        Ok(Json::Number(self.src[start..self.pos].to_string()))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // The run ends on an ASCII byte, so it is a char boundary of the &str source.
            out.push_str(&self.src[run_start..self.pos]);
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => return Err(self.error("control character inside a string")),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), JsonError> {
        let Some(b) = self.peek() else {
            return Err(self.error("unterminated escape sequence"));
        };
        self.pos += 1;
        match b {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let first = self.hex4()?;
                let c = if (0xD800..0xDC00).contains(&first) {
                    if !self.bytes[self.pos..].starts_with(b"\\u") {
                        return Err(self.error("unpaired surrogate in \\u escape"));
                    }
                    self.pos += 2;
                    let second = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&second) {
                        return Err(self.error("invalid low surrogate in \\u escape"));
                    }
                    char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
                } else {
                    char::from_u32(first)
                };
                match c {
                    Some(c) => out.push(c),
                    None => return Err(self.error("invalid \\u escape")),
                }
            }
            _ => return Err(self.error("invalid escape sequence")),
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok().filter(|_| d.bytes().all(|b| b.is_ascii_hexdigit())));
        match digits {
            Some(v) => {
                self.pos += 4;
                Ok(v)
            }
            None => Err(self.error("expected four hex digits after \\u")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_key_reports_its_path() {
        let err = parse(r#"{"a":[{"b":1,"b":2}]}"#).unwrap_err();
        assert_eq!(err.path, "$.a[0].b");
        assert!(err.message.contains("duplicate key"), "{}", err.message);
    }

    #[test]
    fn syntax_error_reports_line_column_and_path() {
        let err = parse("{\n  \"Statement\": [1,,2]\n}").unwrap_err();
        assert_eq!(err.path, "$.Statement[1]");
        assert!(err.message.contains("line 2"), "{}", err.message);
    }

    #[test]
    fn strings_numbers_and_escapes() {
        let v = parse(r#"{"s":"a\u00e9\ud83d\ude00\n","n":-1.5e3,"t":true,"z":null}"#).unwrap();
        let Json::Object(m) = v else { panic!("not an object") };
        assert_eq!(m[0].1, Json::String("a\u{e9}\u{1F600}\n".into()));
        assert_eq!(m[1].1, Json::Number("-1.5e3".into()));
        assert_eq!(m[2].1, Json::Bool(true));
        assert_eq!(m[3].1, Json::Null);
    }

    #[test]
    fn rejects_trailing_text_bad_numbers_and_deep_nesting() {
        assert!(parse("{} x").is_err());
        assert!(parse("01").is_err());
        assert!(parse("1.").is_err());
        assert!(parse(&"[".repeat(10_000)).is_err());
        assert!(parse("\"\\ud800\"").is_err());
    }

    #[test]
    fn odd_keys_are_quoted_in_paths() {
        let err = parse(r#"{"a b":{"c":1,"c":1}}"#).unwrap_err();
        assert_eq!(err.path, r#"$["a b"].c"#);
    }
}
