//! Semantic validation and compilation: from the written specs to the
//! pre-rendered [`Policy`] and [`Routes`] used per request. Every problem is
//! collected, not just the first, so an operator fixes a policy in one pass.

use serde_json::value::RawValue;

use super::error::{index, join, ConfigError, Problem};
use super::spec::{PolicySpec, RouteSpec, RoutedSpec};
use super::{read, Config};
use crate::origin_matcher::{OriginEntry, OriginMatcher};
use crate::policy::Policy;
use crate::routes::{Glob, Routes, Rule};
use crate::tokens::{self, TokenList};

/// Longest policy name: it becomes part of every metric name.
const MAX_POLICY_NAME: usize = 64;
/// Largest `max_age`: 24 hours (Firefox's cap; Chromium caps at 2 hours).
const MAX_AGE_LIMIT: i64 = 86_400;
/// Methods allowed when a policy does not say.
const DEFAULT_METHODS: [&str; 3] = ["GET", "HEAD", "POST"];

/// Compiles the routed form, reading each policy and rule on its own.
pub(super) fn routed(spec: &RoutedSpec<&RawValue, &RawValue>) -> Result<Config, Vec<ConfigError>> {
    let mut errors = Vec::new();
    if spec.policies.is_empty() {
        errors.push(ConfigError::new("policies", None, Problem::NoPolicies));
    }
    // Policies are sorted by name, so a policy's index is its name's rank.
    let names: Vec<&str> = spec.policies.keys().map(String::as_str).collect();
    let mut policies = Vec::with_capacity(spec.policies.len());
    for (name, raw) in &spec.policies {
        let path = join("policies", name);
        if !is_policy_name(name) {
            errors.push(ConfigError::at_str(path.clone(), name, Problem::PolicyName));
        }
        match read::object::<PolicySpec>(raw.get().as_bytes(), &path)
            .map_err(|e| vec![e])
            .and_then(|s| policy(name, &s, &path))
        {
            Ok(policy) => policies.push(policy),
            Err(mut found) => errors.append(&mut found),
        }
    }
    let mut rules = Vec::with_capacity(spec.routes.len());
    for (i, raw) in spec.routes.iter().enumerate() {
        let path = index("routes", i);
        match read::object::<RouteSpec>(raw.get().as_bytes(), &path) {
            Ok(route) => match rule(&route, &path, &names) {
                Ok(rule) => rules.push(rule),
                Err(mut found) => errors.append(&mut found),
            },
            Err(e) => errors.push(e),
        }
    }
    let default = match &spec.default {
        None => None,
        Some(name) => match names.binary_search(&name.as_str()) {
            Ok(i) => Some(i),
            Err(_) => {
                errors.push(ConfigError::at_str("default", name, Problem::UnknownPolicy));
                None
            }
        },
    };
    if let Some(namespace) = &spec.metadata_namespace {
        if !is_metadata_namespace(namespace) {
            errors.push(ConfigError::at_str(
                "metadata_namespace",
                namespace,
                Problem::MetadataNamespace,
            ));
        }
    }
    if errors.is_empty() {
        Ok(Config::new(
            policies,
            Routes::new(rules, default),
            spec.metadata_namespace.clone(),
        ))
    } else {
        Err(errors)
    }
}

/// Compiles one route rule; `names` are the policy names, sorted.
fn rule(route: &RouteSpec, path: &str, names: &[&str]) -> Result<Rule, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let policy = match &route.policy {
        None => None,
        Some(name) => {
            let found = names.binary_search(&name.as_str()).ok();
            if found.is_none() {
                errors.push(ConfigError::at_str(join(path, "policy"), name, Problem::UnknownPolicy));
            }
            found
        }
    };
    let m = &route.matcher;
    let mut glob = |key: &str, text: &Option<String>, lowercase: bool| -> Option<Glob> {
        let text = text.as_ref()?;
        let at = || join(&join(path, "match"), key);
        if key == "path" && !text.starts_with('/') {
            errors.push(ConfigError::at_str(at(), text, Problem::RelativePath));
            return None;
        }
        let compiled = if lowercase {
            Glob::new(&text.to_ascii_lowercase())
        } else {
            Glob::new(text)
        };
        // The error shows the value as written, not as compiled.
        compiled
            .map_err(|e| errors.push(ConfigError::at_str(at(), text, Problem::Glob(e))))
            .ok()
    };
    let host = glob("host", &m.host, true);
    let path_glob = glob("path", &m.path, false);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Rule {
        route_name: m.route_name.clone(),
        host,
        path: path_glob,
        policy,
    })
}

/// Longest metadata namespace (Envoy's own are reverse-DNS filter names).
const MAX_METADATA_NAMESPACE: usize = 128;

/// Reports whether a metadata namespace is printable and not blank.
fn is_metadata_namespace(namespace: &str) -> bool {
    (1..=MAX_METADATA_NAMESPACE).contains(&namespace.len()) && namespace.bytes().all(|b| b.is_ascii_graphic())
}

/// Reports whether a policy name can be part of a metric name.
pub(super) fn is_policy_name(name: &str) -> bool {
    (1..=MAX_POLICY_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Validates and compiles one policy found at `path`.
pub(super) fn policy(name: &str, spec: &PolicySpec, path: &str) -> Result<Policy, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let credentials = spec.allow_credentials;

    // JSON paths are built only for an error: with 10,000 policies, building
    // them up front was a fifth of the configure step.
    let origins_path = || join(path, "allow_origins");
    if spec.allow_origins.is_empty() {
        errors.push(ConfigError::new(
            origins_path(),
            Some("[]".to_owned()),
            Problem::NoOrigins,
        ));
    }
    let mut entries = Vec::with_capacity(spec.allow_origins.len());
    for (i, entry) in spec.allow_origins.iter().enumerate() {
        let at = || index(&origins_path(), i);
        match OriginEntry::parse(entry) {
            Ok(OriginEntry::Any) if spec.allow_origins.len() > 1 => {
                errors.push(ConfigError::at_str(at(), entry, Problem::WildcardWithOthers));
            }
            Ok(OriginEntry::Any) if credentials => {
                errors.push(ConfigError::at_str(at(), entry, Problem::AnyOriginWithCredentials));
            }
            Ok(parsed)
                if credentials && !spec.dangerously_allow_http_origins_with_credentials && parsed.is_insecure() =>
            {
                errors.push(ConfigError::at_str(at(), entry, Problem::InsecureOriginWithCredentials));
            }
            Ok(parsed) => entries.push(parsed),
            Err(e) => errors.push(ConfigError::at_str(at(), entry, Problem::Origin(e))),
        }
    }

    let default_methods: Vec<String> = DEFAULT_METHODS.iter().map(|m| (*m).to_owned()).collect();
    let methods_spec = spec.allow_methods.as_ref().unwrap_or(&default_methods);
    for (i, method) in methods_spec.iter().enumerate() {
        let at = || index(&join(path, "allow_methods"), i);
        // With credentials, browsers take `*` as a method's name: the filter
        // echoes the requested method instead (see `Policy::decide`).
        if method == "*" {
            continue;
        }
        if !tokens::is_token(method.as_bytes()) {
            errors.push(ConfigError::at_str(at(), method, Problem::NotAToken));
        } else if tokens::FORBIDDEN_METHODS.iter().any(|f| f.eq_ignore_ascii_case(method)) {
            errors.push(ConfigError::at_str(at(), method, Problem::ForbiddenMethod));
        } else if let Some(canonical) = tokens::NORMALIZED_METHODS
            .iter()
            .find(|m| m.eq_ignore_ascii_case(method) && *m != method)
        {
            errors.push(ConfigError::at_str(at(), method, Problem::MethodCase(canonical)));
        }
    }

    check_request_headers(&spec.allow_headers, path, &mut errors);
    check_response_headers(&spec.expose_headers, path, credentials, &mut errors);

    if let Some(max_age) = spec.max_age {
        if !(0..=MAX_AGE_LIMIT).contains(&max_age) {
            errors.push(ConfigError::at_int(join(path, "max_age"), max_age, Problem::MaxAge));
        }
    }
    let preflight_status = spec.preflight_status.unwrap_or(204);
    if preflight_status != 200 && preflight_status != 204 {
        errors.push(ConfigError::at_int(
            join(path, "preflight_status"),
            preflight_status,
            Problem::PreflightStatus,
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let expose = TokenList::new(&spec.expose_headers, true);
    Ok(Policy {
        name: name.to_owned(),
        origins: OriginMatcher::new(entries),
        methods: TokenList::new(methods_spec, false),
        headers: TokenList::new(&spec.allow_headers, true),
        expose_headers: (!expose.rendered.is_empty()).then_some(expose.rendered),
        max_age: spec.max_age.map(|s| s.to_string()),
        credentials,
        private_network: spec.allow_private_network,
        preflight_status: if preflight_status == 200 { 200 } else { 204 },
        mode: spec.mode,
        reject_disallowed: spec.reject_disallowed,
    })
}

/// Checks `allow_headers` of the policy at `path`: names a page's request
/// can carry. `*` is fine with credentials too: the filter echoes the
/// requested names.
fn check_request_headers(names: &[String], path: &str, errors: &mut Vec<ConfigError>) {
    for (i, name) in names.iter().enumerate() {
        let problem = if name == "*" {
            continue;
        } else if !tokens::is_token(name.as_bytes()) {
            Problem::NotAToken
        } else if name.eq_ignore_ascii_case("cookie") || name.eq_ignore_ascii_case("cookie2") {
            Problem::CookieRequestHeader
        } else if tokens::is_forbidden_request_header(name) {
            Problem::ForbiddenRequestHeader
        } else if tokens::is_cors_response_header(name) {
            Problem::ResponseHeaderAsRequestHeader
        } else {
            continue;
        };
        errors.push(ConfigError::at_str(
            index(&join(path, "allow_headers"), i),
            name,
            problem,
        ));
    }
}

/// Checks `expose_headers` of the policy at `path`: names of response
/// headers a page may read; `*` is refused when `credentials` is set.
fn check_response_headers(names: &[String], path: &str, credentials: bool, errors: &mut Vec<ConfigError>) {
    for (i, name) in names.iter().enumerate() {
        let problem = if name == "*" {
            if !credentials {
                continue;
            }
            Problem::ExposeAllWithCredentials
        } else if !tokens::is_token(name.as_bytes()) {
            Problem::NotAToken
        } else if tokens::is_forbidden_response_header(name) {
            Problem::ForbiddenResponseHeader
        } else {
            continue;
        };
        errors.push(ConfigError::at_str(
            index(&join(path, "expose_headers"), i),
            name,
            problem,
        ));
    }
}
