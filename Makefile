# The README's commands. `make test` is what .ci/run runs on a clean machine.
WASM := target/wasm32-wasip1/release/envoy_cors.wasm
PYTHON := .venv/bin/python

.PHONY: setup build demo test unit e2e browser fuzz fmt lint bench bench-callgrind floor clean

setup:
	scripts/setup.sh

build:
	cargo build --release --target wasm32-wasip1

demo: setup
	scripts/demo.sh

# Every test: lint, native, end-to-end in Envoy (incl. browser), bounded fuzzing.
test: setup build lint unit fuzz e2e

unit:
	cargo test

e2e:
	$(PYTHON) -m pytest -q tests/e2e

# Only the browser suite (part of e2e): Chromium, Firefox and WebKit.
browser:
	$(PYTHON) -m pytest -q tests/e2e/test_browser.py

fuzz:
	fuzz/run-ci.sh

fmt:
	cargo fmt --check

lint: fmt
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --target wasm32-wasip1 -- -D warnings

# The empty proxy-wasm filter the benchmarks use as the floor.
floor:
	cargo build --release --target wasm32-wasip1 --manifest-path bench/empty-filter/Cargo.toml

# Figures, not tests: req/s and latency (docs/benchmarks.md, .svg), and
# instructions per request under callgrind (docs/callgrind.md).
bench: setup build floor
	cargo bench --bench decision --no-default-features
	$(PYTHON) bench/run.py

bench-callgrind: setup build floor
	$(PYTHON) bench/callgrind.py

clean:
	cargo clean
