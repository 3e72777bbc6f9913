//! The host-free core of the envoy-cors filter, shared by its two shells (the
//! proxy-wasm plugin and the Envoy dynamic module) and by the `cors-policy`
//! tool.
//!
//! Data flows one way: a policy's JSON is read, validated and compiled once
//! per configure ([`language`], [`configure`]); per request, the shell's
//! request headers become a [`request::RequestHead`], the route rules pick a
//! policy ([`routes`]), the policy makes a [`policy::Decision`] and turns it
//! into an [`policy::Action`], and the shell writes what the action says
//! ([`response`]). [`stream`] runs that sequence over the [`stream::Host`]
//! port each shell implements; [`simulation`] runs it over plain vectors, for
//! `cors-policy explain` and the tests. Nothing here calls a host.

#![forbid(unsafe_code)]

pub mod configure;
pub mod language;
pub mod origin;
pub mod origin_matcher;
pub mod policy;
pub mod preflight;
pub mod reasons;
pub mod record;
pub mod request;
pub mod response;
pub mod routes;
pub mod selection;
pub mod simulation;
pub mod stream;
pub mod tokens;
