"""Policies and origins shared by the end-to-end tests."""

import json

from envoy_cors_testing.envoy_runner import POLICY

# The README's example policy (envoy/policy.json): "strict" by default with
# credentials, "public" (any origin) under /public/**, CORS off for the
# "legacy" route on api.example.com.
EXAMPLE = json.loads(POLICY.read_text())

APP = "https://app.example.com"
EVIL = "https://evil.example"

# Single-policy form; its counters are named cors.default.*.
SINGLE = {
    "allow_origins": [APP, "https://*.example.org"],
    "allow_methods": ["GET", "POST", "PATCH"],
    "allow_headers": ["content-type", "x-api-key"],
    "expose_headers": ["x-request-id", "x-total-count"],
    "max_age": 120,
    "allow_credentials": False,
    "allow_private_network": True,
    "preflight_status": 200,
}
