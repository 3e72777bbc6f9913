//! Configuration errors: each names the JSON path of the offending value,
//! shows the value, and says why it is refused.

use std::fmt;

use crate::origin_matcher::PatternError;

/// What is wrong with one value of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The configuration is empty.
    Empty,
    /// The text is not JSON.
    InvalidJson(String),
    /// A key written twice in one object.
    DuplicateKey,
    /// The configuration is JSON, but not an object.
    NotAnObject,
    /// A shape error: unknown field, wrong type, missing field.
    Schema(String),
    /// `allow_origins` is empty.
    NoOrigins,
    /// `"*"` listed together with other entries.
    WildcardWithOthers,
    /// `"*"` origins together with `allow_credentials`.
    AnyOriginWithCredentials,
    /// `"*"` in `expose_headers` together with `allow_credentials`.
    ExposeAllWithCredentials,
    /// An `http://` origin other than loopback together with `allow_credentials`.
    InsecureOriginWithCredentials,
    /// An origin or origin pattern that is refused.
    Origin(PatternError),
    /// Not an RFC 9110 token.
    NotAToken,
    /// CONNECT, TRACE or TRACK.
    ForbiddenMethod,
    /// A request header a page can never set, in `allow_headers`.
    ForbiddenRequestHeader,
    /// `Cookie` or `Cookie2` in `allow_headers`.
    CookieRequestHeader,
    /// A CORS response header (`Access-Control-Allow-Origin`...) in `allow_headers`.
    ResponseHeaderAsRequestHeader,
    /// `Set-Cookie` or `Set-Cookie2` in `expose_headers`.
    ForbiddenResponseHeader,
    /// A method browsers always send uppercase, written otherwise.
    MethodCase(&'static str),
    /// `max_age` outside 0..=86400.
    MaxAge,
    /// `preflight_status` other than 200 or 204.
    PreflightStatus,
    /// A policy name that is not usable in a metric name.
    PolicyName,
    /// A reference to a policy that is not defined.
    UnknownPolicy,
    /// The routed form defines no policy.
    NoPolicies,
    /// A glob that does not compile.
    Glob(String),
    /// A path glob that does not start with `/`.
    RelativePath,
    /// A `metadata_namespace` that is empty, too long or not printable.
    MetadataNamespace,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("no policy configured: the plugin configuration is empty"),
            Self::InvalidJson(e) => write!(f, "invalid JSON: {e}"),
            Self::DuplicateKey => f.write_str(
                "duplicate key: JSON readers disagree on which value wins, so each key may appear only once",
            ),
            Self::NotAnObject => {
                f.write_str("expected a JSON object: a policy, or {\"policies\", \"routes\", \"default\"}")
            }
            Self::Schema(e) => f.write_str(e),
            Self::NoOrigins => f.write_str("allow_origins must list at least one origin"),
            Self::WildcardWithOthers => f.write_str("\"*\" allows every origin and cannot be mixed with other entries"),
            Self::AnyOriginWithCredentials => f.write_str(
                "\"*\" with allow_credentials would let every website read the responses to requests that carry \
                 its visitors' cookies (browsers refuse \"*\" with credentials, so the filter would have to echo any \
                 origin): list the origins you trust",
            ),
            Self::ExposeAllWithCredentials => f.write_str(
                "with allow_credentials, browsers read \"*\" in Access-Control-Expose-Headers as a header named \"*\", \
                 so it would expose nothing: list the response headers the page may read",
            ),
            Self::InsecureOriginWithCredentials => f.write_str(
                "an http:// origin with allow_credentials: anyone on the network path (public Wi-Fi, a proxy) can \
                 inject script into that page and read its visitors' credentialed responses; use https://, or set \
                 dangerously_allow_http_origins_with_credentials to accept that risk",
            ),
            Self::Origin(e) => f.write_str(e.reason()),
            Self::NotAToken => f.write_str("not a valid HTTP token"),
            Self::ForbiddenMethod => f.write_str("forbidden method: browsers never send it"),
            Self::ForbiddenRequestHeader => f.write_str(
                "a forbidden request-header name (Fetch): browsers never let a page set it, so no preflight ever \
                 asks for it",
            ),
            Self::CookieRequestHeader => f.write_str(
                "a page never sets Cookie itself (a forbidden request-header name): the browser sends cookies when \
                 the page asks for credentials and allow_credentials is true",
            ),
            Self::ResponseHeaderAsRequestHeader => f.write_str(
                "a CORS response header, which this filter sends; allow_headers lists the headers a page's request \
                 carries, and a page that sends this one is mistaken: fix the page instead",
            ),
            Self::ForbiddenResponseHeader => f.write_str(
                "browsers never let a page read Set-Cookie or Set-Cookie2 (forbidden response-header names), \
                 whatever Access-Control-Expose-Headers says",
            ),
            Self::MethodCase(canonical) => {
                write!(f, "browsers always send this method as {canonical:?}, so it would never match")
            }
            Self::MaxAge => f.write_str("max_age must be between 0 and 86400 seconds"),
            Self::PreflightStatus => f.write_str("preflight_status must be 200 or 204"),
            Self::PolicyName => f.write_str("policy names must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'"),
            Self::UnknownPolicy => f.write_str("no policy of that name is defined under \"policies\""),
            Self::NoPolicies => f.write_str("\"policies\" must define at least one policy"),
            Self::Glob(e) => write!(f, "invalid glob: {e}"),
            Self::RelativePath => f.write_str("a path glob must start with '/'"),
            Self::MetadataNamespace => {
                f.write_str("a metadata namespace must be 1 to 128 printable ASCII characters, without spaces")
            }
        }
    }
}

/// One refused value: where it is, what it is, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// JSON path, e.g. `policies.strict.allow_origins[2]`; `$` for the root.
    pub path: String,
    /// The offending value as JSON, when there is one to show.
    pub value: Option<String>,
    /// Why it is refused.
    pub problem: Problem,
}

impl ConfigError {
    /// An error about the value at `path`; `value` is shown as JSON text.
    pub fn new(path: impl Into<String>, value: Option<String>, problem: Problem) -> Self {
        let path = path.into();
        Self {
            path: if path.is_empty() { "$".to_owned() } else { path },
            value,
            problem,
        }
    }

    /// An error about a string value at `path`.
    pub fn at_str(path: impl Into<String>, value: &str, problem: Problem) -> Self {
        Self::new(path, Some(serde_json::Value::from(value).to_string()), problem)
    }

    /// An error about an integer value at `path`.
    pub fn at_int(path: impl Into<String>, value: i64, problem: Problem) -> Self {
        Self::new(path, Some(value.to_string()), problem)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}: {}: {}", self.path, value, self.problem),
            None => write!(f, "{}: {}", self.path, self.problem),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Joins a JSON path and a key: `a` + `b` is `a.b`.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Joins a JSON path and an index: `a` + 2 is `a[2]`.
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}
