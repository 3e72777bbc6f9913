# The README's commands. `make test` is what .ci/run runs on a clean machine.
WASM := target/wasm32-wasip1/release/envoy_cors.wasm
PYTHON := .venv/bin/python

.PHONY: setup build module demo test unit e2e wire browser packaging load fuzz fuzz-short fmt lint oci bench bench-callgrind bench-scale floor clean

# Which shell `make demo` runs: wasm (default) or dynamic. Not SHELL: make
# itself runs recipes with $(SHELL).
CORS_SHELL ?= wasm

setup:
	scripts/setup.sh

# The deployable module (scripts/build-wasm.sh: cargo, then only the exports
# in src/exports.txt): the one the demo, tests, benchmarks and image use.
build:
	scripts/build-wasm.sh

# The dynamic module: target/release/libenvoy_cors.so (`cargo build --release`
# builds it too, with the cors-policy tool).
module:
	cargo build --release -p envoy-cors-module

# Installs and builds what it needs (the shell it runs), then runs until
# Ctrl-C; `make demo CORS_SHELL=dynamic` runs the dynamic module.
demo: setup
	scripts/demo.sh --shell $(CORS_SHELL)

# Every test: lint, native, end-to-end in Envoy for both shells (incl.
# browser), bounded fuzzing.
test: setup build module lint unit fuzz-short e2e

unit:
	cargo test --workspace

e2e:
	$(PYTHON) -m pytest -q tests/e2e

# One tier of the end-to-end suite (pyproject.toml's markers): `wire` (the
# filter in Envoy), `browser` (Chromium, Firefox, WebKit), `packaging`
# (compose, OCI, artifacts, demo), `load` (soak, reload under load).
wire browser packaging load:
	$(PYTHON) -m pytest -q tests/e2e -m $@

fuzz:
	fuzz/run-ci.sh

# What make test runs: every fuzz target for 15 s, from the committed corpus.
fuzz-short:
	FUZZ_SECONDS=15 fuzz/run-ci.sh

# The module in the two OCI forms an Istio WasmPlugin pulls, as OCI layouts in
# target/oci, with the digests to pin (docs/istio.md). Pushes nothing.
oci: build
	scripts/oci.sh

fmt:
	cargo fmt --all --check
	for crate in fuzz bench/empty-filter tools/wasm-exports; do cargo fmt --check --manifest-path $$crate/Cargo.toml || exit 1; done

# Every crate natively; for wasm32, every crate but the two native-only ones
# (the dynamic module and the cors-policy tool).
lint: fmt
	$(PYTHON) -m ruff check tests scripts bench
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --workspace --exclude envoy-cors-module --exclude cors-policy --all-targets --target wasm32-wasip1 -- -D warnings

# The empty proxy-wasm filter the benchmarks use as the floor, as the SDK
# exports it and with only what the ABI needs.
floor:
	scripts/build-wasm.sh --floor

# Figures, not tests: req/s and latency (docs/benchmarks.md, .svg), and
# instructions per request under callgrind (docs/callgrind.md).
bench: setup build module floor
	cargo bench -p envoy-cors-core --bench decision
	$(PYTHON) bench/run.py

# Then the many-routes layouts (bench/scale.py: 10 and 10,000 tenants, each
# layout's Envoy under valgrind on its own; 10,000 virtual hosts take minutes
# to start there): docs/scale.md. `make bench-scale` runs that part alone.
bench-callgrind: setup build module floor
	$(PYTHON) bench/callgrind.py
	$(PYTHON) bench/scale.py

bench-scale: setup build module
	$(PYTHON) bench/scale.py

clean:
	cargo clean
