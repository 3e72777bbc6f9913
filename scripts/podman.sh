#!/usr/bin/env bash
# Runs a podman command (podman, podman-compose, skopeo) against the project's
# own container store, so that the stand-in images the tests build under the
# official names (envoyproxy/envoy:v1.40.0, python:3-alpine) never replace a
# real image in the machine's store, and the store survives between runs as a
# cache (in .deps/podman, gitignored).
#
#   scripts/podman.sh podman images
#   scripts/podman.sh podman-compose -p envoy-cors up -d
#
# Settings, each needed on the machines this project runs on:
# - runtime runc: crun 1.8 (Debian bookworm) refuses hybrid cgroup hierarchies;
# - default ulimits no higher than the limits podman itself runs with: without
#   CAP_SYS_RESOURCE, its defaults (nofile=1048576) fail in setrlimit, and
#   podman 4.3 lowers its own process limit to 32768 when it starts (seen in
#   /proc/PID/limits), so a container cannot be given more; `podman build`
#   ignores containers.conf for RUN steps and gets the same as --ulimit;
# - cgroupfs and a file events log: no systemd or journald is required.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=$ROOT/.deps/podman
# Short and per checkout: conmon's attach socket path is limited to 108 bytes.
RUN=/run/envoy-cors-podman/$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
mkdir -p "$STATE/storage" "$RUN/storage" "$RUN/libpod"

nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
[ "$nofile" = unlimited ] || [ "$nofile" -gt 1048576 ] && nofile=1048576
[ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768

conf=$(mktemp "$STATE/.containers.conf.XXXXXX")
store=$(mktemp "$STATE/.storage.conf.XXXXXX")
cat > "$conf" <<EOF
# Written by scripts/podman.sh; edit that script instead.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[network]
network_backend = "netavark"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$STATE/events.log"
tmp_dir = "$RUN/libpod"
EOF
cat > "$store" <<EOF
# Written by scripts/podman.sh; edit that script instead.
[storage]
driver = "overlay"
graphroot = "$STATE/storage"
runroot = "$RUN/storage"
EOF
chmod 644 "$conf" "$store"
mv "$conf" "$STATE/containers.conf"
mv "$store" "$STATE/storage.conf"

export CONTAINERS_CONF=$STATE/containers.conf
export CONTAINERS_STORAGE_CONF=$STATE/storage.conf
if [ "${1:-}" = podman ] && [ "${2:-}" = build ]; then
  set -- podman build --ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc" "${@:3}"
fi
exec "$@"
