# The README's commands. `make test` is what .ci/run runs on a clean machine.
WASM := target/wasm32-wasip1/release/envoy_cors.wasm
PYTHON := .venv/bin/python

.PHONY: setup build demo test unit e2e fmt lint clean

setup:
	scripts/setup.sh

build:
	cargo build --release --target wasm32-wasip1

demo: setup
	scripts/demo.sh

test: setup build unit e2e

unit:
	cargo test

e2e:
	$(PYTHON) -m pytest -q tests/e2e

fmt:
	cargo fmt --check

lint: fmt
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --target wasm32-wasip1 -- -D warnings

clean:
	cargo clean
