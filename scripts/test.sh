#!/usr/bin/env bash
# The whole test suite: host unit tests, plugin unit tests, and the end-to-end tests against
# throwaway PostgreSQL clusters the harness starts itself. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-plugins.sh
echo "== plugin unit tests (native)"
(cd plugins && cargo test --quiet)
echo "== host unit tests and end-to-end tests"
cargo test --release -p host -- --test-threads=2 "$@"
