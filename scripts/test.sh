#!/usr/bin/env bash
# The whole test suite: host unit tests, plugin unit tests, and the end-to-end tests against
# throwaway PostgreSQL clusters the harness starts itself. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-plugins.sh
scripts/build-test-guests.sh
# Plugin authoring (tests/e2e/plugin.rs): cargo-component is installed once, into ~/.cargo/bin
# (about 9 minutes to build); the foreign-language plugins build when their toolchains can be had.
if ! cargo component --version >/dev/null 2>&1; then
  echo "== installing cargo-component 0.21.1 (once; about 9 minutes)"
  cargo install cargo-component --locked --version 0.21.1 ||
    echo "NOTICE: cargo-component could not be installed: its e2e build will be SKIPPED"
fi
if cargo component --version >/dev/null 2>&1 && ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  rustup target add wasm32-wasip1 || echo "NOTICE: no wasm32-wasip1 target: cargo component build will fail"
fi
# `host report` (tests/e2e/report.rs) is rendered by headless Chromium, from Debian's packages.
if ! command -v chromium >/dev/null; then
  echo "== installing chromium (for the host report test)"
  (apt-get update -qq && apt-get install -y -qq chromium) ||
    echo "NOTICE: chromium could not be installed: the host report e2e test will FAIL"
fi
echo "== plugin unit tests (native)"
(cd plugins && cargo test --quiet)
echo "== engine, report and generator unit tests, then the end-to-end tests"
# The whole workspace: the e2e tests run `host generate`, which is the lab generator's binary.
# `--tests` makes it the test build (the engine's failpoints on, see README), the one
# `cargo test` builds too: a plain `cargo build` here would build the engine twice.
cargo build --release --workspace --bins --tests --quiet
# Python and JavaScript plugins, built by `host plugin build` (so after the host).
scripts/build-foreign-plugins.sh
# The bookshop example's plugins (tests/e2e/example.rs), also through `host plugin build`.
examples/bookshop/build.sh ||
  echo "NOTICE: the bookshop example's plugins could not be built: its e2e tests will FAIL"
cargo test --release --workspace -- --test-threads=2 "$@"
