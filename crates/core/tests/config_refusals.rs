//! Refused configurations: each problem is reported with its JSON path, the
//! offending value and a reason, and every problem is reported at once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // test helpers

use envoy_cors_core::language::Config;

fn refusals(json: &str) -> Vec<String> {
    match Config::parse(json.as_bytes()) {
        Ok(_) => panic!("accepted: {json}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn assert_refused(json: &str, expected: &str) {
    let found = refusals(json);
    assert!(
        found.iter().any(|line| line.contains(expected)),
        "expected a line containing {expected:?}, got {found:#?}"
    );
}

#[test]
fn accepts_the_example_policy_from_the_readme() {
    let config = Config::parse(include_bytes!("../../../envoy/policy.json")).unwrap();
    assert!(!config.policies.is_empty());
}

#[test]
fn accepts_a_single_policy_and_names_it_default() {
    let config = Config::parse(br#"{"allow_origins": ["https://app.example.com"]}"#).unwrap();
    assert_eq!(config.policies[0].name, "default");
    assert_eq!(config.routes.default_policy(), Some(0));
}

#[test]
fn wildcard_that_does_not_cover_whole_labels_is_refused_with_its_path() {
    assert_refused(
        r#"{"policies": {"strict": {"allow_origins": ["https://a.example.com", "https://b.example.com", "https://*example.com"]}}}"#,
        r#"policies.strict.allow_origins[2]: "https://*example.com": a wildcard must cover whole DNS labels"#,
    );
}

#[test]
fn invalid_json_is_refused() {
    assert_refused("{", "$: invalid JSON");
    assert_refused("", "no policy configured");
    assert_refused("[1]", "$: expected a JSON object");
}

#[test]
fn syntax_errors_are_reported_at_the_root_with_line_column_and_path() {
    assert_eq!(
        refusals("{\"allow_origins\": [\"https://a.example.com\"],}"),
        ["$: invalid JSON: trailing comma at line 1 column 45"]
    );
    assert_eq!(
        refusals(r#"{"policies": {"p": {"allow_origins": ["https://a.example.com" 1]}}}"#),
        ["$: invalid JSON: expected `,` or `]` at line 1 column 63 (in policies.p.allow_origins)"]
    );
    assert_refused(
        r#"{"allow_origins": ["https://a.example.com"]} {}"#,
        "$: invalid JSON: trailing characters at line 1 column 46",
    );
}

#[test]
fn a_key_given_twice_is_refused_with_its_path() {
    let duplicate = "duplicate key: JSON readers disagree on which value wins, so each key may appear only once";
    for (json, path) in [
        (
            r#"{"policies": {"p": {"allow_origins": ["https://a.example.com"], "max_age": 5, "max_age": 6}}}"#,
            "policies.p.max_age",
        ),
        (
            r#"{"policies": {"p": {"allow_origins": ["https://a.example.com"]}, "p": {"allow_origins": ["*"]}}}"#,
            "policies.p",
        ),
        (
            r#"{"policies": {"p": {"allow_origins": ["*"]}}, "default": "p", "default": null}"#,
            "default",
        ),
        (
            r#"{"policies": {"p": {"allow_origins": ["*"]}}, "routes": [{"match": {"path": "/a", "path": "/b"}, "policy": "p"}]}"#,
            "routes[0].match.path",
        ),
        (
            r#"{"allow_origins": ["*"], "allow_origins": ["https://a.example.com"]}"#,
            "allow_origins",
        ),
    ] {
        assert_eq!(refusals(json), [format!("{path}: {duplicate}")], "{json}");
    }
}

#[test]
fn arrays_are_not_read_as_objects() {
    // serde reads a struct from an array, its fields by position; a policy never is one.
    assert_refused(r#"[["https://a.example.com"]]"#, "$: expected a JSON object");
    assert_refused(
        r#"{"policies": {"p": [["https://a.example.com"]]}}"#,
        "policies.p: invalid type: sequence, expected an object",
    );
    assert_refused(
        r#"{"policies": {"p": {"allow_origins": ["*"]}}, "routes": [{"match": [], "policy": "p"}]}"#,
        "routes[0].match: invalid type: sequence, expected an object",
    );
    assert_refused(
        r#"{"policies": {"p": {"allow_origins": ["*"]}}, "routes": [[{}, "p"]]}"#,
        "routes[0]: invalid type: sequence, expected an object",
    );
}

#[test]
fn mode_is_a_name() {
    for mode in [r#"null"#, r#"{"report": null}"#, "1"] {
        assert_refused(
            &format!(r#"{{"allow_origins": ["https://a.example.com"], "mode": {mode}}}"#),
            "mode: invalid type: ",
        );
    }
}

#[test]
fn misspelled_fields_are_refused_not_ignored() {
    assert_refused(
        r#"{"allow_origins": ["https://a.example.com"], "allowed_methods": ["GET"]}"#,
        "unknown field `allowed_methods`",
    );
    assert_refused(
        r#"{"policies": {"p": {"allow_origins": ["https://a.example.com"], "max_agee": 5}}}"#,
        "policies.p.max_agee: unknown field `max_agee`",
    );
    assert_refused(
        r#"{"policies": {"p": {"allow_origins": ["https://a.example.com"]}}, "routes": [{"match": {"paht": "/x"}, "policy": "p"}]}"#,
        "routes[0].match.paht: unknown field `paht`",
    );
    assert_refused(r#"{"policies": {}, "defaults": "p"}"#, "unknown field `defaults`");
}

#[test]
fn wrong_types_name_the_exact_path() {
    assert_refused(
        r#"{"policies": {"p": {"allow_origins": ["https://a.example.com", 7]}}}"#,
        "policies.p.allow_origins[1]: invalid type",
    );
    assert_refused(
        r#"{"allow_origins": "https://a.example.com"}"#,
        "allow_origins: invalid type",
    );
}

#[test]
fn empty_origin_list_is_refused() {
    assert_refused(
        r#"{"allow_origins": []}"#,
        "allow_origins: []: allow_origins must list at least one origin",
    );
    assert_refused(r#"{"allow_methods": ["GET"]}"#, "missing field `allow_origins`");
}

#[test]
fn wildcard_origin_cannot_be_mixed_or_credentialed() {
    assert_refused(
        r#"{"allow_origins": ["*", "https://a.example.com"]}"#,
        r#"allow_origins[0]: "*": "*" allows every origin"#,
    );
    assert_eq!(
        refusals(r#"{"allow_origins": ["*"], "allow_credentials": true}"#),
        [
            r#"allow_origins[0]: "*": "*" with allow_credentials would let every website read the responses to requests that carry its visitors' cookies (browsers refuse "*" with credentials, so the filter would have to echo any origin): list the origins you trust"#
        ]
    );
}

#[test]
fn exposing_every_header_with_credentials_is_refused_because_it_would_expose_nothing() {
    assert_eq!(
        refusals(
            r#"{"allow_origins": ["https://a.example.com"], "expose_headers": ["x-id", "*"], "allow_credentials": true}"#
        ),
        [
            r#"expose_headers[1]: "*": with allow_credentials, browsers read "*" in Access-Control-Expose-Headers as a header named "*", so it would expose nothing: list the response headers the page may read"#
        ]
    );
    Config::parse(br#"{"allow_origins": ["https://a.example.com"], "expose_headers": ["*"]}"#).unwrap();
}

#[test]
fn wildcard_methods_and_headers_with_credentials_are_accepted() {
    // Gateway API (GEP-1767): with credentials, `*` means "echo what the
    // preflight asked for", since browsers then take a literal `*` as a name.
    Config::parse(
        br#"{"allow_origins": ["https://a.example.com"], "allow_methods": ["*"], "allow_headers": ["*"], "allow_credentials": true}"#,
    )
    .unwrap();
}

#[test]
fn wildcards_over_a_public_suffix_are_refused() {
    for pattern in [
        "https://*.github.io",
        "https://pr-*.github.io",
        "https://*.co.uk",
        "https://*.s3.amazonaws.com",
        "https://*.com.au",
    ] {
        assert_eq!(
            refusals(&format!(r#"{{"allow_origins": ["https://a.example.com", {pattern:?}]}}"#)),
            [format!(
                "allow_origins[1]: {pattern:?}: the wildcard ranges over a public suffix (Public Suffix List): anyone can \
                 register a site there, so it would allow sites you do not control; list your own hosts"
            )],
        );
    }
    Config::parse(
        br#"{"allow_origins": ["https://*.example.co.uk", "https://*.me.github.io", "https://*.corp.internal"]}"#,
    )
    .unwrap();
}

#[test]
fn http_origins_beyond_loopback_with_credentials_need_an_explicit_opt_in() {
    let reason = "an http:// origin with allow_credentials: anyone on the network path (public Wi-Fi, a proxy) can \
                  inject script into that page and read its visitors' credentialed responses; use https://, or set \
                  dangerously_allow_http_origins_with_credentials to accept that risk";
    for origin in [
        "http://intranet.example.com",
        "http://*.corp.example.com:*",
        "http://10.1.2.3:8080",
    ] {
        let json = format!(r#"{{"allow_origins": ["https://a.example.com", {origin:?}], "allow_credentials": true}}"#);
        assert_eq!(refusals(&json), [format!("allow_origins[1]: {origin:?}: {reason}")]);
        let opted_in = json.replace('}', r#", "dangerously_allow_http_origins_with_credentials": true}"#);
        Config::parse(opted_in.as_bytes()).unwrap();
        // Without credentials there is nothing to steal.
        Config::parse(json.replace("true", "false").as_bytes()).unwrap();
    }
    Config::parse(
        br#"{"allow_origins": ["http://localhost:*", "http://127.0.0.1:8080", "http://[::1]:3000", "http://app.localhost"],
            "allow_credentials": true}"#,
    )
    .unwrap();
}

#[test]
fn request_headers_a_page_never_sends_are_refused_each_with_its_reason() {
    let forbidden =
        "a forbidden request-header name (Fetch): browsers never let a page set it, so no preflight ever asks for it";
    let cookie =
        "a page never sets Cookie itself (a forbidden request-header name): the browser sends cookies when the \
                  page asks for credentials and allow_credentials is true";
    let response = "a CORS response header, which this filter sends; allow_headers lists the headers a page's request \
                    carries, and a page that sends this one is mistaken: fix the page instead";
    for (name, reason) in [
        ("connection", forbidden),
        ("Host", forbidden),
        ("origin", forbidden),
        ("sec-fetch-mode", forbidden),
        ("Proxy-Authorization", forbidden),
        ("access-control-request-method", forbidden),
        ("set-cookie", forbidden),
        ("cookie", cookie),
        ("Cookie2", cookie),
        ("access-control-allow-origin", response),
        ("Access-Control-Allow-Credentials", response),
        ("access-control-max-age", response),
    ] {
        let json = format!(r#"{{"allow_origins": ["https://a.example.com"], "allow_headers": ["x-ok", {name:?}]}}"#);
        assert_eq!(refusals(&json), [format!("allow_headers[1]: {name:?}: {reason}")]);
    }
    Config::parse(br#"{"allow_origins": ["https://a.example.com"], "allow_headers": ["authorization", "x-sec-token", "user-agent"]}"#)
        .unwrap();
}

#[test]
fn set_cookie_is_never_exposed_so_listing_it_is_refused() {
    for name in ["set-cookie", "Set-Cookie2"] {
        let json = format!(r#"{{"allow_origins": ["https://a.example.com"], "expose_headers": [{name:?}]}}"#);
        assert_eq!(
            refusals(&json),
            [format!(
                "expose_headers[0]: {name:?}: browsers never let a page read Set-Cookie or Set-Cookie2 (forbidden \
                 response-header names), whatever Access-Control-Expose-Headers says"
            )]
        );
    }
}

#[test]
fn an_origin_with_a_trailing_dot_is_accepted_as_written() {
    Config::parse(br#"{"allow_origins": ["https://example.com.", "https://*.example.org.", "http://localhost.:*"]}"#)
        .unwrap();
    assert_refused(
        r#"{"allow_origins": ["http://127.0.0.1."]}"#,
        r#"allow_origins[0]: "http://127.0.0.1.": a host whose last label is a number is an IPv4 address"#,
    );
}

#[test]
fn origins_browsers_never_send_are_refused() {
    for (origin, reason) in [
        ("null", "opaque origin"),
        ("https://a.example.com/", "trailing slash"),
        ("https://a.example.com/app", "no path"),
        ("https://a.example.com?x=1", "no query"),
        ("https://a.example.com#top", "no fragment"),
        ("https://user@a.example.com", "no user information"),
        ("https://a.example.com:443", "default port"),
        ("http://a.example.com:80", "default port"),
        ("https://A.example.com", "lowercase"),
        ("*://a.example.com", "scheme cannot be a wildcard"),
        ("https://*.com", "at least two literal DNS labels"),
        ("https://example.*", "at least two literal DNS labels"),
        ("https://*example.com", "whole DNS labels"),
    ] {
        let json = format!(r#"{{"allow_origins": ["https://ok.example.com", {origin:?}]}}"#);
        assert_refused(&json, &format!("allow_origins[1]: {origin:?}: "));
        assert_refused(&json, reason);
    }
}

#[test]
fn bad_tokens_and_forbidden_methods_are_refused() {
    for (method, reason) in [
        ("CONNECT", "forbidden method"),
        ("trace", "forbidden method"),
        ("TRACK", "forbidden method"),
        ("GE T", "not a valid HTTP token"),
        ("get", "browsers always send this method as \"GET\""),
    ] {
        let json = format!(r#"{{"allow_origins": ["https://a.example.com"], "allow_methods": ["PUT", {method:?}]}}"#);
        assert_refused(&json, &format!("allow_methods[1]: {method:?}: {reason}"));
    }
    assert_refused(
        r#"{"allow_origins": ["https://a.example.com"], "allow_headers": ["x-ok", "x bad"]}"#,
        r#"allow_headers[1]: "x bad": not a valid HTTP token"#,
    );
    assert_refused(
        r#"{"allow_origins": ["https://a.example.com"], "expose_headers": ["x:bad"]}"#,
        "expose_headers[0]",
    );
}

#[test]
fn numbers_out_of_range_are_refused() {
    assert_refused(
        r#"{"allow_origins": ["https://a.example.com"], "max_age": 86401}"#,
        "max_age: 86401: max_age must be between 0 and 86400",
    );
    assert_refused(
        r#"{"allow_origins": ["https://a.example.com"], "max_age": -1}"#,
        "max_age: -1",
    );
    assert_refused(
        r#"{"allow_origins": ["https://a.example.com"], "preflight_status": 201}"#,
        "preflight_status: 201: preflight_status must be 200 or 204",
    );
    assert_refused(
        r#"{"allow_origins": ["https://a.example.com"], "mode": "audit"}"#,
        "mode: unknown variant `audit`",
    );
}

#[test]
fn rules_naming_undefined_policies_are_refused() {
    assert_refused(
        r#"{"policies": {"p": {"allow_origins": ["https://a.example.com"]}}, "routes": [{"match": {}, "policy": "q"}]}"#,
        r#"routes[0].policy: "q": no policy of that name"#,
    );
    assert_refused(
        r#"{"policies": {"p": {"allow_origins": ["https://a.example.com"]}}, "default": "nope"}"#,
        r#"default: "nope": no policy of that name"#,
    );
    assert_refused(
        r#"{"policies": {"p": {"allow_origins": ["https://a.example.com"]}}, "routes": [{"match": {}}]}"#,
        "missing field `policy`",
    );
    assert_refused(
        r#"{"policies": {}}"#,
        "policies: \"policies\" must define at least one policy",
    );
}

#[test]
fn bad_route_globs_and_policy_names_are_refused() {
    assert_refused(
        r#"{"policies": {"p": {"allow_origins": ["https://a.example.com"]}}, "routes": [{"match": {"path": "api/**"}, "policy": "p"}]}"#,
        r#"routes[0].match.path: "api/**": a path glob must start with '/'"#,
    );
    assert_refused(
        r#"{"policies": {"p": {"allow_origins": ["https://a.example.com"]}}, "routes": [{"match": {"path": "/a**"}, "policy": "p"}]}"#,
        "routes[0].match.path: \"/a**\": invalid glob",
    );
    assert_refused(
        r#"{"policies": {"a.b": {"allow_origins": ["https://a.example.com"]}}}"#,
        "policies.a.b: \"a.b\": policy names",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let found = refusals(
        r#"{"policies": {
            "a": {"allow_origins": ["null"], "max_age": 99999},
            "b": {"allow_origins": ["https://ok.example.com"], "bogus": 1}
        }, "routes": [{"match": {}, "policy": "zzz"}], "default": "yyy"}"#,
    );
    let expected = [
        r#"policies.a.allow_origins[0]: "null": the opaque origin"#,
        "policies.a.max_age: 99999: max_age must be between 0 and 86400 seconds",
        "policies.b.bogus: unknown field `bogus`, expected one of `allow_origins`, ",
        r#"routes[0].policy: "zzz": no policy of that name is defined under "policies""#,
        r#"default: "yyy": no policy of that name is defined under "policies""#,
    ];
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for (line, start) in found.iter().zip(expected) {
        assert!(line.starts_with(start), "{line:?} does not start with {start:?}");
    }
}

#[test]
fn a_bad_host_glob_is_shown_as_written() {
    assert_refused(
        r#"{"policies": {"p": {"allow_origins": ["https://a.example.com"]}}, "routes": [{"match": {"host": "API.[example.com"}, "policy": "p"}]}"#,
        r#"routes[0].match.host: "API.[example.com": invalid glob"#,
    );
}
