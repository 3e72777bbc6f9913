//! The dynamic module's shell around the core, without Envoy: hostile
//! request headers read one getter at a time (the `envoy-cors-module` crate: `read_head`, the
//! `Host` port, the local-reply and response-header calls), driven through
//! the filter's `Stream` exactly as the module's hooks drive it, against a
//! recording stand-in for Envoy. Every exchange must end exactly as the
//! filter's reference path (`simulation::simulate`, which reads the whole header
//! map) says: same local reply or same response headers, one counter at most,
//! and no panic.
#![no_main]

use std::sync::OnceLock;

use envoy_cors::{configure, Shell};
use envoy_cors_core::language::Config;
use envoy_cors_core::simulation::{simulate, VecHeaders};
use envoy_cors_core::stream::{Runtime, Stream, Verdict};
use envoy_cors_testing::invariants::{self, Bytes, FIXED_CONFIGS};
use envoy_cors_testing::module_host::ModuleRecorder as Recorder;
use libfuzzer_sys::fuzz_target;

fn runtimes() -> &'static [(Runtime, Config)] {
    static RUNTIMES: OnceLock<Vec<(Runtime, Config)>> = OnceLock::new();
    RUNTIMES.get_or_init(|| {
        FIXED_CONFIGS
            .iter()
            .map(|text| {
                let mut next = 0;
                let define = |_: &str, _: &[&str]| {
                    next += 1;
                    Ok(next)
                };
                let runtime = configure(b"cors", text.as_bytes(), define, |_, _| {}).expect("fixed config");
                (runtime, Config::parse(text.as_bytes()).expect("fixed config"))
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut r = Bytes::new(data);
    let Some((runtime, config)) = runtimes().get(usize::from(r.u8()) % FIXED_CONFIGS.len()) else {
        return;
    };
    for _ in 0..4 {
        let request = invariants::request(&mut r);
        let route_name = invariants::route_name(&mut r);
        let (status, upstream) = invariants::upstream(&mut r);
        let expected = simulate(config, &request, route_name, status, &upstream);

        let raw: Vec<(Vec<u8>, Vec<u8>)> = request
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.clone()))
            .collect();
        let mut shell = Shell(Recorder {
            request: &raw,
            route: route_name,
            ..Recorder::default()
        });
        let mut stream = Stream::new(Some(runtime));
        let verdict = stream.on_request_headers(&mut shell);
        let (reached, got_status, got_headers) = match shell.0.reply.take() {
            Some(reply) => {
                assert_eq!(verdict, Verdict::Stop);
                assert!(!reply.details.is_empty() && !reply.details.contains(char::is_whitespace));
                // Envoy runs the response hook on the filter's own reply too.
                stream.on_response_headers(&mut shell);
                assert!(
                    shell.0.response.0.is_empty(),
                    "the filter's own reply was decorated again"
                );
                let headers = reply.headers.into_iter().map(|(n, v)| (n, v.into_bytes())).collect();
                (false, reply.status, headers)
            }
            None => {
                assert_eq!(verdict, Verdict::Continue);
                shell.0.response = VecHeaders(upstream.clone());
                stream.on_response_headers(&mut shell);
                (true, status, shell.0.response.0.clone())
            }
        };
        assert_eq!(
            (reached, got_status, &got_headers),
            (expected.reached_upstream, expected.status, &expected.headers),
            "request: {request:?}\nroute: {route_name:?}\nupstream: {upstream:?}"
        );
        assert_eq!(
            shell.0.increments.len(),
            usize::from(expected.counter.is_some()),
            "{request:?}"
        );
        if r.is_empty() {
            return;
        }
    }
});
