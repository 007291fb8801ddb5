#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine with Rust, gcc and Python 3.11,
# then runs them all: format, lints, the release build the Dockerfile uses, unit and
# integration tests (including the interop ones), the Prometheus config/rule tests, and the
# container image (built from the Dockerfile with podman and run: tests/container/run.sh).
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n== %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

step "system packages"
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v xz >/dev/null 2>&1 || missing+=(xz-utils)
command -v jq >/dev/null 2>&1 || missing+=(jq)
if [ "${#missing[@]}" -gt 0 ]; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

step "python venv for interop peers (pyln-proto, pyln-client)"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/interop/requirements.txt
export GOSSIP_SIEVE_TEST_PYTHON="$PWD/.venv/bin/python"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

step "release build (the Dockerfile's build command)"
cargo build --release --locked --bin gossip-sieve

step "cargo test"
cargo test --locked -- --test-threads=2

step "prometheus config, rules and rule unit tests"
metrics/check.sh

step "fuzz smoke run (every target builds and runs briefly; long campaigns: fuzz/README.md)"
fuzz/run.sh "${FUZZ_SECONDS:-10}"

step "container image: the Dockerfile built offline with podman, then run and checked (tests/container/run.sh)"
tests/container/run.sh

echo
echo "all checks passed"
