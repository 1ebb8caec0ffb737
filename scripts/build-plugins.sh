#!/usr/bin/env bash
# Builds every transform plugin as a wasm32-wasip2 component into plugins/dist/<table>.wasm.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
(cd plugins && cargo build --release --target wasm32-wasip2 --quiet)
mkdir -p plugins/dist
for wasm in plugins/target/wasm32-wasip2/release/*.wasm; do
  name=$(basename "$wasm")
  # Copy only when changed, so a running migration sees a swap only when there is one.
  if ! cmp -s "$wasm" "plugins/dist/$name"; then
    cp "$wasm" "plugins/dist/$name.tmp"
    mv -f "plugins/dist/$name.tmp" "plugins/dist/$name"
  fi
done
echo "plugins built: $(ls plugins/dist/*.wasm | wc -l) components in plugins/dist/"
