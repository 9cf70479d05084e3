#!/usr/bin/env bash
# Builds the browser demo into one self-contained folder that any static host can serve (relative URLs
# only): index.html, app.js, style.css, pkg/ (the engine compiled to wasm32 + its wasm-bindgen glue) and
# data/ (the shipped 10k-image MNIST subset for the Task-1 panel).
#
#   web/build.sh [OUT_DIR]          default OUT_DIR: web/dist
#   target/release/pathprox serve web/dist     then open http://127.0.0.1:8000/
#
# Installs what it needs when missing: the wasm32-unknown-unknown target (rustup) and wasm-bindgen-cli at
# exactly the version of the wasm-bindgen crate in Cargo.lock (the two must match). Runs wasm-opt -O3
# (binaryen) when it is installed and works on the module.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-web/dist}"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# (a) The target.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

# (b) wasm-bindgen-cli, the version Cargo.lock pins.
want=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if [ -z "$want" ]; then
  echo "build.sh: no wasm-bindgen in Cargo.lock" >&2
  exit 1
fi
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
  echo "build.sh: installing wasm-bindgen-cli $want (found: ${have:-none}); this takes a minute or two, once" >&2
  # Not --locked: its lock file can name dependency versions a crates.io mirror does not have yet (a
  # fresh machine here lacked webpki-roots 1.0.11); cargo then picks compatible ones. --debug: it installs
  # in ~1.5 min instead of 6-10, and binds this module in under a second all the same (same output).
  cargo install wasm-bindgen-cli --version "$want" --debug
fi

# (c) The library as a cdylib for wasm32, without changing [lib] for the native builds. [profile.web] in
# Cargo.toml: optimised for size, LTO, no debug info.
start=$(date +%s)
cargo rustc --lib --profile web --target wasm32-unknown-unknown --crate-type cdylib
echo "build.sh: cargo build took $(( $(date +%s) - start )) s" >&2
wasm=target/wasm32-unknown-unknown/web/pathprox.wasm

# (d) The JS bindings (ES module, loaded with `import init from './pkg/pathprox.js'`).
rm -rf "$out"
mkdir -p "$out/pkg" "$out/data"
wasm-bindgen --target web --no-typescript --out-dir "$out/pkg" "$wasm"
bg="$out/pkg/pathprox_bg.wasm"
raw=$(stat -c %s "$bg")

# (e) Smaller, when binaryen is there. The features are those rustc enables by default for wasm32.
# binaryen 108 (Debian 12's) rewrites the export of wasm-bindgen's externref table to the function table,
# and the page then fails in __wbindgen_init_externref_table: the optimised module is kept only when its
# exported tables kept their types.
table_exports() {
  wasm-dis "$1" 2>/dev/null | awk '
    /^ \(table \$/ { id = $2; type = $NF; gsub(/\)/, "", type); t[id] = type }
    /^ \(export "[^"]*" \(table \$/ { id = $4; gsub(/\)/, "", id); e[$2] = id }
    END { for (n in e) print n, t[e[n]] }' | sort
}
opt=""
if command -v wasm-opt >/dev/null 2>&1 && command -v wasm-dis >/dev/null 2>&1; then
  start=$(date +%s)
  if wasm-opt -O3 --enable-bulk-memory --enable-sign-ext --enable-mutable-globals --enable-nontrapping-float-to-int \
      --enable-reference-types --enable-multivalue "$bg" -o "$bg.opt" \
      && [ "$(table_exports "$bg")" = "$(table_exports "$bg.opt")" ]; then
    mv "$bg.opt" "$bg"
    opt=" (wasm-opt -O3 in $(( $(date +%s) - start )) s: $(stat -c %s "$bg") bytes)"
  else
    rm -f "$bg.opt"
    echo "build.sh: wasm-opt ($(wasm-opt --version)) failed or broke the module's tables; keeping the unoptimised module" >&2
  fi
else
  echo "build.sh: wasm-opt not found (binaryen); the module is not post-optimised" >&2
fi

# (f) The page and the data.
cp web/index.html web/*.js web/*.css "$out/"
cp data/mnist-10k/*.gz "$out/data/"

echo "built $out: pathprox_bg.wasm $raw bytes$opt; gzip -9: $(gzip -9c "$bg" | wc -c) bytes"
echo "serve it with: target/release/pathprox serve $out"
