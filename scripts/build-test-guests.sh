#!/usr/bin/env bash
# Builds the deliberately bad or special test components (tests/guests/) for wasm32-wasip2
# into tests/guests/dist/<name>.wasm; the end-to-end tests load them from there.
set -euo pipefail
cd "$(dirname "$0")/../tests/guests"
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --release --target wasm32-wasip2 --quiet
mkdir -p dist
for wasm in target/wasm32-wasip2/release/*.wasm; do
  name=$(basename "$wasm")
  cmp -s "$wasm" "dist/$name" || { cp "$wasm" "dist/$name.tmp" && mv -f "dist/$name.tmp" "dist/$name"; }
done
echo "test guests built: $(ls dist/*.wasm | wc -l) components in tests/guests/dist/"
