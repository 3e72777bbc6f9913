//! Which policy a request gets, most specific first:
//!
//! 1. the dynamic module's per-route configuration: the one Envoy picks for
//!    the request (the route's, else its virtual host's, else the route
//!    configuration's; Envoy's own order, nothing merged);
//! 2. with the routed form's `metadata_namespace`,
//!    `filter_metadata.<namespace>.policy` of the request's route, else of
//!    its virtual host (the proxy-wasm plugin only: Envoy 1.40 lets a
//!    dynamic module read no virtual-host metadata): a string names a
//!    policy, `null` turns CORS off, absent falls through;
//! 3. the route rules, then `default` ([`crate::routes`]).
//!
//! Names found at request time are looked up in one hash lookup
//! ([`Config::policy_named`]). A name no policy has cannot be refused at
//! configure time (the filter never sees the route table), so the request
//! is refused as a CORS request from an origin nobody allowed would be
//! ([`UnknownPolicies`]): no CORS header, preflights answered 403, counted in
//! `cors.unknown_policy`, and each name logged once.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashSet;

use crate::language::{Config, PerRouteConfig};
use crate::origin_matcher::OriginMatcher;
use crate::policy::{Mode, Policy};
use crate::routes::RouteInput;
use crate::tokens::TokenList;

/// The metadata key that names a policy, in the operator's namespace.
pub const METADATA_KEY: &str = "policy";

/// The counter of requests whose route names no policy of the filter.
pub const UNKNOWN_POLICY_COUNTER: &str = "cors.unknown_policy";

/// Where route metadata is read, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataLevel {
    /// The matched route's `metadata`.
    Route,
    /// Its virtual host's `metadata`.
    VirtualHost,
}

impl MetadataLevel {
    /// Both levels, the route first.
    pub const ALL: [Self; 2] = [Self::Route, Self::VirtualHost];
}

/// What the host found where a policy can be named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attached<'a> {
    /// Nothing: fall through to the next place.
    Absent,
    /// `null`: CORS off.
    Off,
    /// A policy's name (as bytes: metadata is whatever the control plane sent).
    Name(Cow<'a, [u8]>),
}

/// The policy chosen for a request.
#[derive(Debug, Clone)]
pub enum Choice {
    /// A policy of the filter's configuration, by index.
    Listed(usize),
    /// A policy of the module's per-route configuration
    /// ([`PerRouteConfig::Policy`]), kept alive for the response phase.
    PerRoute(Arc<PerRouteConfig>),
    /// A name that matches no policy: the request is refused.
    Unknown(Box<[u8]>),
    /// No policy: the request and its response pass untouched.
    Off,
}

impl Choice {
    /// The choice a per-route configuration makes.
    pub fn per_route(config: &Config, per_route: Arc<PerRouteConfig>) -> Self {
        match &*per_route {
            PerRouteConfig::Policy(_) => Self::PerRoute(per_route),
            PerRouteConfig::Named(name) => Self::named(config, name.as_bytes()),
            PerRouteConfig::Off => Self::Off,
        }
    }

    /// The choice route metadata makes; `None` when it is absent.
    pub fn metadata(config: &Config, attached: &Attached<'_>) -> Option<Self> {
        match attached {
            Attached::Absent => None,
            Attached::Off => Some(Self::Off),
            Attached::Name(name) => Some(Self::named(config, name)),
        }
    }

    /// The choice the route rules and the default make.
    pub fn routes(config: &Config, input: &RouteInput<'_>) -> Self {
        config.routes.select(input).map_or(Self::Off, Self::Listed)
    }

    fn named(config: &Config, name: &[u8]) -> Self {
        config
            .policy_named(name)
            .map_or_else(|| Self::Unknown(name.into()), Self::Listed)
    }

    /// The policy that decides, if any: `refused` stands in for an unknown
    /// name.
    pub fn policy<'r>(&'r self, config: &'r Config, refused: &'r Policy) -> Option<&'r Policy> {
        match self {
            Self::Listed(index) => config.policy(*index),
            Self::PerRoute(per_route) => match &**per_route {
                PerRouteConfig::Policy(policy) => Some(policy),
                _ => None,
            },
            Self::Unknown(_) => Some(refused),
            Self::Off => None,
        }
    }
}

/// The most unknown names remembered (each logged once); past it, further
/// names are logged every time, which a route table that large with typos
/// deserves.
const MAX_REMEMBERED: usize = 1024;

/// What the filter does with names that match no policy: a policy that
/// refuses every origin stands in, a counter counts, and each name is
/// logged once.
#[derive(Debug)]
pub struct UnknownPolicies {
    /// The id of `cors.unknown_policy`, when defined.
    pub counter: Option<u32>,
    refused: Policy,
    logged: Mutex<FxHashSet<Box<[u8]>>>,
}

impl Default for UnknownPolicies {
    fn default() -> Self {
        Self {
            counter: None,
            refused: Policy {
                name: "(unknown)".to_owned(),
                origins: OriginMatcher::new([]),
                methods: TokenList::new(&[], false),
                headers: TokenList::new(&[], true),
                expose_headers: None,
                max_age: None,
                credentials: false,
                private_network: false,
                preflight_status: 204,
                mode: Mode::Enforce,
                reject_disallowed: false,
            },
            logged: Mutex::default(),
        }
    }
}

impl UnknownPolicies {
    /// The policy that stands in for an unknown name: it allows no origin.
    pub fn refused(&self) -> &Policy {
        &self.refused
    }

    /// The line to log for an unknown name, the first time it is seen.
    pub fn first_sighting(&self, name: &[u8]) -> Option<String> {
        // A poisoned lock only means a panic elsewhere while it was held:
        // the set is still a set.
        let mut logged = self.logged.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if logged.contains(name) {
            return None;
        }
        if logged.len() < MAX_REMEMBERED {
            logged.insert(name.into());
        }
        Some(format!(
            "cors: the route names policy {:?}, which this filter's configuration does not define: CORS \
             requests there are refused (counted in {UNKNOWN_POLICY_COUNTER}) until it names one of its policies",
            String::from_utf8_lossy(name)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Header;
    use crate::policy::{Decision, Refusal, Request};

    fn config() -> Config {
        Config::parse(
            br#"{"policies": {"a": {"allow_origins": ["https://a.example"]}, "b": {"allow_origins": ["*"]}},
                 "routes": [{"match": {"path": "/off/**"}, "policy": null}], "default": "a",
                 "metadata_namespace": "envoy-cors"}"#,
        )
        .unwrap()
    }

    #[test]
    fn metadata_names_a_policy_turns_cors_off_or_falls_through() {
        let config = config();
        let name = |n: &'static [u8]| Attached::Name(Cow::Borrowed(n));
        assert!(matches!(
            Choice::metadata(&config, &name(b"b")),
            Some(Choice::Listed(1))
        ));
        assert!(matches!(Choice::metadata(&config, &Attached::Off), Some(Choice::Off)));
        assert!(Choice::metadata(&config, &Attached::Absent).is_none());
        assert!(
            matches!(Choice::metadata(&config, &name(b"tenant-x")), Some(Choice::Unknown(n)) if &*n == b"tenant-x")
        );
    }

    #[test]
    fn a_per_route_policy_wins_as_is_and_a_per_route_name_is_looked_up() {
        let config = config();
        let own =
            Arc::new(PerRouteConfig::parse(br#"{"name": "t7", "allow_origins": ["https://t7.example"]}"#).unwrap());
        let unknown = UnknownPolicies::default();
        let choice = Choice::per_route(&config, own);
        assert_eq!(
            choice.policy(&config, unknown.refused()).map(|p| p.name.as_str()),
            Some("t7")
        );
        let named = Arc::new(PerRouteConfig::Named("b".to_owned()));
        assert!(matches!(Choice::per_route(&config, named), Choice::Listed(1)));
        assert!(matches!(
            Choice::per_route(&config, Arc::new(PerRouteConfig::Off)),
            Choice::Off
        ));
    }

    #[test]
    fn an_unknown_name_refuses_every_origin_and_is_logged_once() {
        let unknown = UnknownPolicies::default();
        let request = Request {
            method: b"GET",
            authority: b"api.example",
            scheme: b"https",
            origin: Header::One(b"https://a.example"),
            ..Request::default()
        };
        assert_eq!(
            unknown.refused().decide(&request),
            Decision::ActualDenied(Refusal::OriginNotAllowed)
        );
        assert!(unknown.first_sighting(b"tenant-x").is_some());
        assert!(unknown.first_sighting(b"tenant-x").is_none());
        assert!(unknown.first_sighting(b"tenant-y").is_some());
    }
}
