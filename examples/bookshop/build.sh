#!/usr/bin/env bash
# Builds the bookshop example's plugins into examples/bookshop/dist/<folder>.wasm with
# `host plugin build`: cargo for the Rust ones (each a crate of its own, one shared target
# folder), componentize-py for the Python ones, componentize-js for the JavaScript one (each
# installed by the host on first use). A component is rebuilt only when its folder or
# wit/ (or, for a Rust one, plugins/sdk/) changed. HOST names the host binary (default: the workspace's target/release/host).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
host=${HOST:-$root/target/release/host}
if [ ! -x "$host" ]; then
  echo "error: $host not found: build the runner first (cargo build --release), or set HOST" >&2
  exit 1
fi
mkdir -p "$here/dist"
# The Rust plugins share one target folder: the SDK and its dependencies compile once.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}
built=0
for dir in "$here"/plugins/*/; do
  name=$(basename "$dir")
  out="$here/dist/$name.wasm"
  inputs=("$dir" "$root/wit")
  [ -e "$dir/Cargo.toml" ] && inputs+=("$root/plugins/sdk/src" "$root/plugins/sdk/Cargo.toml")
  if [ -e "$out" ] && [ -z "$(find "${inputs[@]}" -type f -newer "$out" -not -path '*/__pycache__/*' -not -name Cargo.lock | head -1)" ]; then
    continue
  fi
  # Written beside and renamed: an interrupted build leaves no half component behind.
  if ! "$host" plugin build "$dir" -o "$out"; then
    echo "error: building $dir failed (see above)" >&2
    exit 1
  fi
  built=$((built + 1))
done
echo "bookshop plugins: $built built, $(ls "$here"/dist/*.wasm | wc -l) in examples/bookshop/dist/"
