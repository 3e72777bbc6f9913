//! A small, strict JSON reader (RFC 8259) for the plugin configuration.
//!
//! Why not `serde_json`: the configuration is read once, at configure time,
//! yet `serde_json`, the derived visitors and the float formatting their
//! messages pull in were a third of the `.wasm`. This reader is all the
//! filter needs: integers are `i64`, other numbers are kept as written (no
//! policy field takes a fraction), strings are checked UTF-8, nesting is
//! bounded, and a key written twice is refused rather than resolved
//! (readers disagree on which one wins; RFC 8259 section 4).

use std::fmt;

/// Deepest nesting of arrays and objects accepted (`serde_json` stops at 128 too).
pub const MAX_DEPTH: usize = 128;

/// A JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits in an `i64`.
    Int(i64),
    /// Any other number, exactly as written: a fraction, an exponent, or an
    /// integer outside `i64`.
    Number(String),
    /// A string, escapes resolved.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object's members in document order; keys are unique.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Self::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// What is wrong with the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text ends inside a value; names what was being read.
    Eof(&'static str),
    /// Something other than a value where a value must be.
    ExpectedValue,
    /// An object key not followed by `:`.
    ExpectedColon,
    /// An object member not followed by `,` or `}`.
    ExpectedObjectCommaOrEnd,
    /// An array element not followed by `,` or `]`.
    ExpectedArrayCommaOrEnd,
    /// An object key that is not a string.
    KeyMustBeAString,
    /// A `,` right before `}` or `]`.
    TrailingComma,
    /// Text after the value.
    TrailingCharacters,
    /// A backslash not followed by one of `"\/bfnrtu`.
    InvalidEscape,
    /// `\u` not followed by four hex digits.
    InvalidHexEscape,
    /// A surrogate `\u` escape that is not half of a pair.
    LoneSurrogate,
    /// Bytes in a string that are not UTF-8.
    InvalidUtf8,
    /// A raw control character (U+0000 to U+001F) inside a string.
    ControlCharacter,
    /// A number that does not follow the JSON grammar.
    InvalidNumber,
    /// More than [`MAX_DEPTH`] nested arrays and objects.
    TooDeep,
    /// A key written twice in one object.
    DuplicateKey(String),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Eof(what) => write!(f, "EOF while parsing {what}"),
            Self::ExpectedValue => f.write_str("expected value"),
            Self::ExpectedColon => f.write_str("expected `:`"),
            Self::ExpectedObjectCommaOrEnd => f.write_str("expected `,` or `}`"),
            Self::ExpectedArrayCommaOrEnd => f.write_str("expected `,` or `]`"),
            Self::KeyMustBeAString => f.write_str("key must be a string"),
            Self::TrailingComma => f.write_str("trailing comma"),
            Self::TrailingCharacters => f.write_str("trailing characters"),
            Self::InvalidEscape => f.write_str("invalid escape"),
            Self::InvalidHexEscape => f.write_str("invalid \\u escape: expected four hex digits"),
            Self::LoneSurrogate => f.write_str("lone surrogate in \\u escape"),
            Self::InvalidUtf8 => f.write_str("invalid UTF-8 in string"),
            Self::ControlCharacter => f.write_str("control character (\\u0000-\\u001F) found while parsing a string"),
            Self::InvalidNumber => f.write_str("invalid number"),
            Self::TooDeep => write!(f, "nested more than {MAX_DEPTH} levels deep"),
            Self::DuplicateKey(key) => write!(f, "duplicate key `{key}`"),
        }
    }
}

/// Why the text was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What is wrong.
    pub kind: ErrorKind,
    /// 1-based line of the offending byte.
    pub line: usize,
    /// 1-based column (in bytes) of the offending byte.
    pub column: usize,
    /// JSON path of the value being read, e.g. `policies.strict.allow_origins[2]`;
    /// empty at the root.
    pub path: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line {} column {}", self.kind, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, " (in {})", self.path)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Reads one JSON value that fills the whole text (whitespace aside).
pub fn parse(text: &[u8]) -> Result<Value, Error> {
    let mut reader = Reader { text, at: 0, depth: 0 };
    reader.skip_whitespace();
    let value = reader.value().map_err(|e| *e)?;
    reader.skip_whitespace();
    if reader.at < text.len() {
        return Err(*reader.error(ErrorKind::TrailingCharacters));
    }
    Ok(value)
}

/// What the reader's steps return; the error is boxed so that the happy
/// path moves small values (this keeps the `.wasm` smaller, too).
type Read<T> = Result<T, Box<Error>>;

/// Appends `s` as a JSON string, escaped as `serde_json` does (so error
/// messages show values exactly as other tools print them).
pub fn write_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                for nibble in [(c as u32) >> 4, (c as u32) & 0xf] {
                    out.push(HEX.get(nibble as usize).map_or('0', |&h| char::from(h)));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `s` as a JSON string.
pub fn quote(s: &str) -> String {
    let mut out = String::new();
    write_string(&mut out, s);
    out
}

/// A cursor over the text.
struct Reader<'a> {
    text: &'a [u8],
    at: usize,
    depth: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        // RFC 8259 section 2: only these four.
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// An error at the current byte (the last byte at the end of the text).
    fn error(&self, kind: ErrorKind) -> Box<Error> {
        self.error_at(self.at, kind)
    }

    #[cold]
    #[inline(never)]
    fn error_at(&self, at: usize, kind: ErrorKind) -> Box<Error> {
        let at = at.min(self.text.len().saturating_sub(1));
        let before = self.text.get(..at).unwrap_or_default();
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        Box::new(Error {
            kind,
            line,
            column: at - line_start + 1,
            path: String::new(),
        })
    }

    fn value(&mut self) -> Read<Value> {
        match self.peek() {
            None => Err(self.error(ErrorKind::Eof("a value"))),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error(ErrorKind::ExpectedValue)),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Read<Value> {
        let end = self.at + word.len();
        match self.text.get(self.at..end) {
            Some(found) if found == word.as_bytes() => {
                self.at = end;
                Ok(value)
            }
            _ => Err(self.error(ErrorKind::ExpectedValue)),
        }
    }

    /// Counts one more level of nesting; the caller is at `{` or `[`.
    fn enter(&mut self) -> Read<()> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(ErrorKind::TooDeep));
        }
        self.depth += 1;
        self.at += 1;
        self.skip_whitespace();
        Ok(())
    }

    fn object(&mut self) -> Read<Value> {
        self.enter()?;
        let mut members: Vec<(String, Value)> = Vec::new();
        if self.peek() == Some(b'}') {
            self.at += 1;
            self.depth -= 1;
            return Ok(Value::Object(members));
        }
        loop {
            match self.peek() {
                Some(b'"') => {}
                None => return Err(self.error(ErrorKind::Eof("an object"))),
                Some(_) => return Err(self.error(ErrorKind::KeyMustBeAString)),
            }
            let key_at = self.at;
            let key = self.string()?;
            self.skip_whitespace();
            match self.peek() {
                Some(b':') => self.at += 1,
                None => return Err(self.error(ErrorKind::Eof("an object"))),
                Some(_) => return Err(self.error(ErrorKind::ExpectedColon)),
            }
            self.skip_whitespace();
            let value = self.value().map_err(|e| inside(e, Segment::Key(&key)))?;
            if members.iter().any(|(k, _)| *k == key) {
                let e = self.error_at(key_at, ErrorKind::DuplicateKey(key.clone()));
                return Err(inside(e, Segment::Key(&key)));
            }
            members.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    self.skip_whitespace();
                    if self.peek() == Some(b'}') {
                        return Err(self.error(ErrorKind::TrailingComma));
                    }
                }
                Some(b'}') => {
                    self.at += 1;
                    self.depth -= 1;
                    return Ok(Value::Object(members));
                }
                None => return Err(self.error(ErrorKind::Eof("an object"))),
                Some(_) => return Err(self.error(ErrorKind::ExpectedObjectCommaOrEnd)),
            }
        }
    }

    fn array(&mut self) -> Read<Value> {
        self.enter()?;
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.at += 1;
            self.depth -= 1;
            return Ok(Value::Array(items));
        }
        loop {
            let item = self.value().map_err(|e| inside(e, Segment::Index(items.len())))?;
            items.push(item);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    self.skip_whitespace();
                    if self.peek() == Some(b']') {
                        return Err(self.error(ErrorKind::TrailingComma));
                    }
                }
                Some(b']') => {
                    self.at += 1;
                    self.depth -= 1;
                    return Ok(Value::Array(items));
                }
                None => return Err(self.error(ErrorKind::Eof("a list"))),
                Some(_) => return Err(self.error(ErrorKind::ExpectedArrayCommaOrEnd)),
            }
        }
    }

    /// Reads a string; the cursor is at its opening quote.
    fn string(&mut self) -> Read<String> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let start = self.at;
            let rest = self.text.get(start..).unwrap_or_default();
            let len = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(rest.len());
            self.at = start + len;
            // Runs end at ASCII bytes, so each run of valid UTF-8 is valid alone.
            let run = rest.get(..len).unwrap_or_default();
            match std::str::from_utf8(run) {
                Ok(run) => out.push_str(run),
                Err(e) => return Err(self.error_at(start + e.valid_up_to(), ErrorKind::InvalidUtf8)),
            }
            match self.peek() {
                None => return Err(self.error(ErrorKind::Eof("a string"))),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let c = self.escape()?;
                    out.push(c);
                }
                Some(_) => return Err(self.error(ErrorKind::ControlCharacter)),
            }
        }
    }

    /// Reads what follows a backslash.
    fn escape(&mut self) -> Read<char> {
        let c = match self.peek() {
            None => return Err(self.error(ErrorKind::Eof("a string"))),
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.at += 1;
                return self.unicode_escape();
            }
            Some(_) => return Err(self.error(ErrorKind::InvalidEscape)),
        };
        self.at += 1;
        Ok(c)
    }

    /// Reads the code point of a `\u` escape, joining a UTF-16 surrogate pair
    /// (RFC 8259 section 7); the cursor is after the `u`.
    fn unicode_escape(&mut self) -> Read<char> {
        let start = self.at;
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if self.text.get(self.at..self.at + 2) != Some(b"\\u") {
                    return Err(self.error_at(start, ErrorKind::LoneSurrogate));
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error_at(start, ErrorKind::LoneSurrogate));
                }
                0x1_0000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error_at(start, ErrorKind::LoneSurrogate)),
            other => other,
        };
        char::from_u32(code).ok_or_else(|| self.error_at(start, ErrorKind::LoneSurrogate))
    }

    fn hex4(&mut self) -> Read<u32> {
        let mut n = 0;
        for _ in 0..4 {
            let digit = match self.peek() {
                None => return Err(self.error(ErrorKind::Eof("a string"))),
                Some(b) => char::from(b)
                    .to_digit(16)
                    .ok_or_else(|| self.error(ErrorKind::InvalidHexEscape))?,
            };
            n = n * 16 + digit;
            self.at += 1;
        }
        Ok(n)
    }

    /// Reads a number (RFC 8259 section 6); integers that fit become
    /// [`Value::Int`], anything else is kept as written.
    fn number(&mut self) -> Read<Value> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        // Accumulated negatively so that i64::MIN fits.
        let mut int: Option<i64> = Some(0);
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                while let Some(b @ b'0'..=b'9') = self.peek() {
                    int = int
                        .and_then(|n| n.checked_mul(10))
                        .and_then(|n| n.checked_sub(i64::from(b - b'0')));
                    self.at += 1;
                }
            }
            None => return Err(self.error(ErrorKind::Eof("a value"))),
            Some(_) => return Err(self.error(ErrorKind::InvalidNumber)),
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            integral = false;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            integral = false;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.digits()?;
        }
        if let Some(b'0'..=b'9') = self.peek() {
            return Err(self.error(ErrorKind::InvalidNumber)); // a leading zero
        }
        let int = if negative { int } else { int.and_then(i64::checked_neg) };
        match int {
            Some(n) if integral => Ok(Value::Int(n)),
            _ => {
                let text = self.text.get(start..self.at).unwrap_or_default();
                Ok(Value::Number(String::from_utf8_lossy(text).into_owned()))
            }
        }
    }

    /// One or more digits, as a fraction or an exponent needs.
    fn digits(&mut self) -> Read<()> {
        match self.peek() {
            Some(b'0'..=b'9') => {}
            None => return Err(self.error(ErrorKind::Eof("a value"))),
            Some(_) => return Err(self.error(ErrorKind::InvalidNumber)),
        }
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        Ok(())
    }
}

/// A step of a JSON path.
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// Prefixes the error's path with the segment it was found under (paths are
/// built while unwinding, so reading costs nothing when the text is valid).
#[cold]
#[inline(never)]
fn inside(mut e: Box<Error>, segment: Segment<'_>) -> Box<Error> {
    let separator = if e.path.is_empty() || e.path.starts_with('[') {
        ""
    } else {
        "."
    };
    e.path = match segment {
        Segment::Key(key) => format!("{key}{separator}{}", e.path),
        Segment::Index(i) => format!("[{i}]{separator}{}", e.path),
    };
    e
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn kind(text: &str) -> ErrorKind {
        parse(text.as_bytes()).unwrap_err().kind
    }

    #[test]
    fn reads_every_kind_of_value() {
        let v = parse(br#" {"a": [1, -2, true, false, null, "x"], "b": {}} "#).unwrap();
        assert_eq!(
            v,
            Value::Object(vec![
                (
                    "a".into(),
                    Value::Array(vec![
                        Value::Int(1),
                        Value::Int(-2),
                        Value::Bool(true),
                        Value::Bool(false),
                        Value::Null,
                        Value::String("x".into()),
                    ])
                ),
                ("b".into(), Value::Object(Vec::new())),
            ])
        );
        assert_eq!(v.get("b"), Some(&Value::Object(Vec::new())));
        assert_eq!(v.get("c"), None);
    }

    #[test]
    fn resolves_escapes_and_surrogate_pairs() {
        let v = parse(br#""a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\ud83d\ude00""#).unwrap();
        assert_eq!(v, Value::String("a\"b\\c/d\u{8}\u{c}\n\r\tA\u{e9}\u{1f600}".into()));
        assert_eq!(
            parse("\"h\u{e9}\u{1f600}\"".as_bytes()).unwrap(),
            Value::String("h\u{e9}\u{1f600}".into())
        );
    }

    #[test]
    fn refuses_broken_strings() {
        assert_eq!(kind(r#""\x""#), ErrorKind::InvalidEscape);
        assert_eq!(kind(r#""\u12g4""#), ErrorKind::InvalidHexEscape);
        assert_eq!(kind(r#""\ud83d""#), ErrorKind::LoneSurrogate);
        assert_eq!(kind(r#""\ud83dx""#), ErrorKind::LoneSurrogate);
        assert_eq!(kind(r#""\ud83d\u0041""#), ErrorKind::LoneSurrogate);
        assert_eq!(kind(r#""\ude00""#), ErrorKind::LoneSurrogate);
        assert_eq!(kind("\"a\nb\""), ErrorKind::ControlCharacter);
        assert_eq!(kind("\"abc"), ErrorKind::Eof("a string"));
        assert_eq!(kind("\"\\u12"), ErrorKind::Eof("a string"));
        assert_eq!(parse(b"\"\xff\"").unwrap_err().kind, ErrorKind::InvalidUtf8);
        assert_eq!(parse(b"\"\xc3\"").unwrap_err().kind, ErrorKind::InvalidUtf8);
    }

    #[test]
    fn keeps_integers_as_i64_and_other_numbers_as_written() {
        assert_eq!(parse(b"0").unwrap(), Value::Int(0));
        assert_eq!(parse(b"-0").unwrap(), Value::Int(0));
        assert_eq!(parse(b"86400").unwrap(), Value::Int(86_400));
        assert_eq!(parse(b"9223372036854775807").unwrap(), Value::Int(i64::MAX));
        assert_eq!(parse(b"-9223372036854775808").unwrap(), Value::Int(i64::MIN));
        for text in [
            "9223372036854775808",
            "-9223372036854775809",
            "1.5",
            "1e3",
            "-0.0",
            "2E-7",
        ] {
            assert_eq!(parse(text.as_bytes()).unwrap(), Value::Number(text.into()), "{text}");
        }
    }

    #[test]
    fn refuses_numbers_outside_the_grammar() {
        for text in ["01", "-", "-x", "1.", "1.e3", ".5", "1e", "1e+", "+1", "0x10"] {
            assert!(parse(text.as_bytes()).is_err(), "{text}");
        }
        assert_eq!(kind("01"), ErrorKind::InvalidNumber);
        assert_eq!(kind("[1.]"), ErrorKind::InvalidNumber);
    }

    #[test]
    fn refuses_trailing_garbage_and_commas() {
        assert_eq!(kind("{} x"), ErrorKind::TrailingCharacters);
        assert_eq!(kind("[1] [2]"), ErrorKind::TrailingCharacters);
        assert_eq!(kind(r#"{"a": 1,}"#), ErrorKind::TrailingComma);
        assert_eq!(kind("[1,]"), ErrorKind::TrailingComma);
        assert_eq!(kind("[1 2]"), ErrorKind::ExpectedArrayCommaOrEnd);
        assert_eq!(kind(r#"{"a" 1}"#), ErrorKind::ExpectedColon);
        assert_eq!(kind(r#"{"a": 1 "b": 2}"#), ErrorKind::ExpectedObjectCommaOrEnd);
        assert_eq!(kind("{a: 1}"), ErrorKind::KeyMustBeAString);
        assert_eq!(kind("{"), ErrorKind::Eof("an object"));
        assert_eq!(kind("[1"), ErrorKind::Eof("a list"));
        assert_eq!(kind(""), ErrorKind::Eof("a value"));
        assert_eq!(kind("tru"), ErrorKind::ExpectedValue);
        assert_eq!(kind("nul1"), ErrorKind::ExpectedValue);
        assert_eq!(kind("\u{c}1"), ErrorKind::ExpectedValue); // form feed is not JSON whitespace
    }

    #[test]
    fn refuses_duplicate_keys_naming_their_path() {
        let e = parse(br#"{"p": {"q": [{"a": 1, "b": 2, "a": 3}]}}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::DuplicateKey("a".into()));
        assert_eq!(e.path, "p.q[0].a");
        assert_eq!((e.line, e.column), (1, 31));
    }

    #[test]
    fn errors_name_the_path_line_and_column() {
        let e = parse(b"{\"a\": [1,\n  2, x]}").unwrap_err();
        assert_eq!(e.kind, ErrorKind::ExpectedValue);
        assert_eq!(e.path, "a[2]");
        assert_eq!((e.line, e.column), (2, 6));
        assert_eq!(e.to_string(), "expected value at line 2 column 6 (in a[2])");
    }

    #[test]
    fn limits_nesting_depth() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(deep(MAX_DEPTH).as_bytes()).is_ok());
        assert_eq!(kind(&deep(MAX_DEPTH + 1)), ErrorKind::TooDeep);
        let objects = format!("{}1{}", r#"{"a":"#.repeat(MAX_DEPTH + 1), "}".repeat(MAX_DEPTH + 1));
        assert_eq!(kind(&objects), ErrorKind::TooDeep);
        assert!(parse(&vec![b'['; 100_000]).is_err());
    }

    #[test]
    fn writes_strings_as_serde_json_does() {
        assert_eq!(
            quote("a\"b\\c\n\u{1}\u{1f}\u{7f}\u{e9}/"),
            r#""a\"b\\c\n\u0001\u001f\u{7f}é/""#.replace("\\u{7f}", "\u{7f}")
        );
        assert_eq!(quote("\u{8}\u{c}\r\t"), r#""\b\f\r\t""#);
    }
}
