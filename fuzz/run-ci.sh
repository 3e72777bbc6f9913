#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and fails on the first crash or
# broken invariant. Installs what it needs (the nightly toolchain, cargo-fuzz)
# when missing, so a clean CI machine can run it as is.
#
#   fuzz/run-ci.sh                 # every target, FUZZ_SECONDS (default 30) each
#   FUZZ_SECONDS=600 fuzz/run-ci.sh decision
#
# The committed seeds in fuzz/corpus/<target>/ are read, never written: new
# inputs go to fuzz/target/corpus/<target>/ (gitignored; cache it in CI to
# keep coverage between runs). A crash leaves its input in
# fuzz/artifacts/<target>/; minimise it (cargo +nightly fuzz tmin <target>
# <file>) and commit it under fuzz/corpus/<target>/ with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${FUZZ_SECONDS:-30}
ALL_TARGETS=(config_bytes config_structured decision dynamic_shell)
if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

log() { printf '==> %s\n' "$*" >&2; }

if ! rustup toolchain list | grep -q '^nightly'; then
  log "rustup: installing the nightly toolchain (cargo fuzz needs -Z flags)"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  log "cargo: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

log "building fuzz targets"
cargo +nightly fuzz build -O

status=0
for target in "${TARGETS[@]}"; do
  work=fuzz/target/corpus/$target
  mkdir -p "$work" "fuzz/corpus/$target"
  log "fuzzing $target for ${SECONDS_EACH}s"
  if ! cargo +nightly fuzz run -O "$target" "$work" "fuzz/corpus/$target" -- \
      -max_total_time="$SECONDS_EACH" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 2>"fuzz/target/$target.log"; then
    log "$target FAILED; the end of its log:"
    grep -v '^\s*at \|^ *[0-9]*: ' "fuzz/target/$target.log" | tail -n 40 >&2
    status=1
  else
    grep -E '^stat::number_of_executed_units|^Done' "fuzz/target/$target.log" >&2 || true
  fi
done
exit "$status"
