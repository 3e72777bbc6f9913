//! Route globs: the `glob` crate's patterns, with what the route index needs
//! to know about each one (its literal head and tail).

use glob::{MatchOptions, Pattern};

/// The characters that make a glob more than a literal.
const GLOB_META: [char; 4] = ['*', '?', '[', ']'];

/// A compiled glob; literal globs compare directly.
#[derive(Debug, Clone)]
pub enum Glob {
    /// No glob metacharacters: an exact comparison.
    Literal(String),
    /// A compiled `glob` pattern, with the literal text before its first
    /// metacharacter, which every match starts with, and the literal text
    /// after its last one, which every match ends with (unless the pattern
    /// has a `**`, whose `**/` also matches nothing: `/**/` matches `/a`).
    Pattern {
        /// The literal head, e.g. `/api/` for `/api/*/items`.
        head: String,
        /// The literal tail, e.g. `/items` for `/api/*/items`; empty for a
        /// pattern with `**`.
        tail: String,
        /// The whole pattern.
        pattern: Pattern,
    },
}

impl Glob {
    /// Compiles a glob; returns the `glob` crate's message on error.
    pub fn new(text: &str) -> Result<Self, String> {
        match (text.find(GLOB_META), text.rfind(GLOB_META)) {
            (Some(first), Some(last)) => Ok(Self::Pattern {
                head: text.get(..first).unwrap_or_default().to_owned(),
                tail: match text.contains("**") {
                    true => String::new(),
                    false => text.get(last + 1..).unwrap_or_default().to_owned(),
                },
                pattern: Pattern::new(text).map_err(|e| e.to_string())?,
            }),
            _ => Ok(Self::Literal(text.to_owned())),
        }
    }

    /// Reports whether `text` matches, ASCII case folded unless `case_sensitive`.
    pub fn matches(&self, text: &str, case_sensitive: bool) -> bool {
        match self {
            Self::Literal(literal) if case_sensitive => literal == text,
            Self::Literal(literal) => literal.eq_ignore_ascii_case(text),
            // The head rules most rules out in a few byte comparisons (50
            // path rules cost 50 pattern walks per request without it).
            Self::Pattern { head, .. } if !starts_with(text, head, case_sensitive) => false,
            Self::Pattern { pattern, .. } => pattern.matches_with(
                text,
                MatchOptions {
                    case_sensitive,
                    // `*` stays inside one path segment; `**` crosses segments.
                    require_literal_separator: true,
                    require_literal_leading_dot: false,
                },
            ),
        }
    }
}

/// Reports whether `text` starts with `head`, ASCII case folded unless `case_sensitive`.
fn starts_with(text: &str, head: &str, case_sensitive: bool) -> bool {
    match text.as_bytes().get(..head.len()) {
        Some(start) if case_sensitive => start == head.as_bytes(),
        Some(start) => start.eq_ignore_ascii_case(head.as_bytes()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_is_tried_only_on_text_that_starts_with_its_literal_head() {
        let glob = Glob::new("/api/*/items").unwrap();
        assert!(matches!(&glob, Glob::Pattern { head, tail, .. } if head == "/api/" && tail == "/items"));
        assert!(glob.matches("/api/v1/items", true));
        assert!(!glob.matches("/API/v1/items", true));
        assert!(!glob.matches("/ap", true));
        let host = Glob::new("*.example.com").unwrap();
        assert!(matches!(&host, Glob::Pattern { head, tail, .. } if head.is_empty() && tail == ".example.com"));
        let host = Glob::new("api-[0-9].example.com").unwrap();
        assert!(host.matches("API-1.example.com", false));
        assert!(!host.matches("api-x.example.com", false));
    }

    proptest::proptest! {
        /// The head check never changes an answer: it only skips patterns
        /// that could not match. Every match also ends with the tail (the
        /// route index files host globs under it).
        #[test]
        fn the_head_check_agrees_with_the_pattern_alone(
            glob in "/[a-c/]{0,4}(\\*|\\*\\*|\\?)[a-c/]{0,4}",
            text in "/[a-cA-C/]{0,10}",
        ) {
            let Ok(Glob::Pattern { pattern, tail, .. }) = Glob::new(&glob) else { return Ok(()) };
            let compiled = Glob::new(&glob).unwrap();
            for case_sensitive in [true, false] {
                let options = MatchOptions { case_sensitive, require_literal_separator: true, require_literal_leading_dot: false };
                let matched = pattern.matches_with(&text, options);
                proptest::prop_assert_eq!(compiled.matches(&text, case_sensitive), matched);
                if matched {
                    let end = text.get(text.len().saturating_sub(tail.len())..).unwrap_or_default();
                    proptest::prop_assert!(end.eq_ignore_ascii_case(&tail), "{text} does not end with {tail}");
                }
            }
        }
    }
}
