#!/usr/bin/env bash
# Builds the transform plugins written in other languages, each language only when its
# toolchain is here or can be installed from its registry:
#   plugins-py/<table>/app.py         componentize-py  -> plugins-py/dist/<table>.wasm
#   plugins-js/<table>/<table>.js     componentize-js  -> plugins-js/dist/<table>.wasm
# A toolchain that cannot be had is reported with a notice and skipped (its e2e test then
# skips with a notice too). Outputs are rebuilt only when a source or wit/ changed.
set -uo pipefail
cd "$(dirname "$0")/.."
COMPONENTIZE_PY=0.25.1

# True when $1 is missing or older than any file under the other arguments.
stale() {
  local out=$1
  shift
  [ ! -e "$out" ] || [ -n "$(find "$@" -type f -newer "$out" -not -path '*/__pycache__/*' | head -1)" ]
}

build_python() {
  if ! componentize-py --version 2>/dev/null | grep -q "$COMPONENTIZE_PY"; then
    echo "== installing componentize-py $COMPONENTIZE_PY (pip)"
    if ! python3 -m pip install --quiet "componentize-py==$COMPONENTIZE_PY"; then
      echo "notice: componentize-py could not be installed: Python plugins not built (their tests skip)"
      return 0
    fi
    command -v pyenv >/dev/null && pyenv rehash
    hash -r
  fi
  mkdir -p plugins-py/dist
  for dir in plugins-py/*/; do
    name=$(basename "$dir")
    [ "$name" = dist ] && continue
    out="plugins-py/dist/$name.wasm"
    stale "$out" "$dir" wit || continue
    # WASI stays imported (not --stub-wasi): the host links it deny-by-default.
    if componentize-py -d wit -w transform componentize app -p "$dir" -o "$out.tmp" >/dev/null; then
      mv -f "$out.tmp" "$out"
    else
      rm -f "$out.tmp"
      echo "error: building $dir with componentize-py failed" >&2
      return 1
    fi
  done
  echo "python plugins built: $(ls plugins-py/dist/*.wasm | wc -l) components in plugins-py/dist/"
}

build_js() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "notice: node/npm not found: JavaScript plugins not built (their tests skip)"
    return 0
  fi
  if [ ! -d plugins-js/node_modules/@bytecodealliance/componentize-js ]; then
    echo "== installing componentize-js (npm)"
    if ! (cd plugins-js && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
      echo "notice: componentize-js could not be installed: JavaScript plugins not built (their tests skip)"
      return 0
    fi
  fi
  mkdir -p plugins-js/dist
  for dir in plugins-js/*/; do
    name=$(basename "$dir")
    case "$name" in dist | node_modules) continue ;; esac
    out="plugins-js/dist/$name.wasm"
    stale "$out" "$dir" wit plugins-js/build.mjs || continue
    if (cd plugins-js && node build.mjs "$name/$name.js" ../wit "dist/$name.wasm.tmp" >/dev/null); then
      mv -f "$out.tmp" "$out"
    else
      rm -f "$out.tmp"
      echo "error: building $dir with componentize-js failed" >&2
      return 1
    fi
  done
  echo "javascript plugins built: $(ls plugins-js/dist/*.wasm | wc -l) components in plugins-js/dist/"
}

status=0
build_python || status=1
build_js || status=1
exit $status
