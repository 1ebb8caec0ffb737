#!/usr/bin/env bash
# Builds the transform plugins written in other languages with `host plugin build` (which
# installs componentize-py / componentize-js on first use, pinned there):
#   plugins-py/<table>/app.py         -> plugins-py/dist/<table>.wasm
#   plugins-js/<table>/<table>.js     -> plugins-js/dist/<table>.wasm
# A toolchain that cannot be had is reported with a notice and skipped (its e2e comparison
# then skips with a notice too; tests/e2e/plugin.rs's `host plugin build` test does not).
# Outputs are rebuilt only when a source or wit/ changed. Needs target/release/host.
set -uo pipefail
cd "$(dirname "$0")/.."
host=target/release/host
[ -x "$host" ] || cargo build --release --quiet -p host || exit 1

# True when $1 is missing or older than any file under the other arguments.
stale() {
  local out=$1
  shift
  [ ! -e "$out" ] || [ -n "$(find "$@" -type f -newer "$out" -not -path '*/__pycache__/*' | head -1)" ]
}

# build LANGUAGE FOLDER: every plugin folder under FOLDER into FOLDER/dist/<name>.wasm.
build() {
  local language=$1 root=$2 dir name out built=0
  mkdir -p "$root/dist"
  for dir in "$root"/*/; do
    name=$(basename "$dir")
    case "$name" in dist | node_modules | __pycache__) continue ;; esac
    out="$root/dist/$name.wasm"
    stale "$out" "$dir" wit || continue
    if ! "$host" plugin build "$dir" -o "$out" >/dev/null; then
            echo "notice: $language plugin $dir could not be built (see above): its e2e comparison will be SKIPPED"
      continue
    fi
    built=$((built + 1))
  done
  echo "$language plugins: $built built, $(ls "$root"/dist/*.wasm 2>/dev/null | wc -l) in $root/dist/"
}

build Python plugins-py
build JavaScript plugins-js
