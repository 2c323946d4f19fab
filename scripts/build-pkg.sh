#!/usr/bin/env bash
# Builds the npm package in pkg/: the bundler build at its root (Vite with
# vite-plugin-wasm, webpack), the web build under pkg/web/ (plain
# <script type="module">, `await init()` first), the React hook, and a
# package.json with an `exports` map for all three.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

rm -rf pkg
# --weak-refs: a guard the garbage collector reclaims is freed too.
wasm-pack --quiet build --release --weak-refs --target bundler --out-dir pkg --out-name submit_guard
wasm-pack --quiet build --release --weak-refs --target web --out-dir pkg/web --out-name submit_guard
rm -f pkg/web/package.json pkg/web/README.md pkg/web/.gitignore pkg/.gitignore

# Size: wasm-pack's own wasm-opt download is off (Cargo.toml); binaryen from
# npm is used (Debian's is too old for wasm-bindgen's reference types).
for wasm in pkg/submit_guard_bg.wasm pkg/web/submit_guard_bg.wasm; do
  node_modules/.bin/wasm-opt -Oz --strip-debug --strip-producers \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$wasm" -o "$wasm"
done

# The classes' declarations use `Symbol.dispose`; the reference line lets a
# project whose `lib` predates it (es2022, say) type-check them anyway.
for dts in pkg/submit_guard.d.ts pkg/web/submit_guard.d.ts; do
  if grep -q 'Symbol.dispose' "$dts"; then
    { echo '/// <reference lib="esnext.disposable" />'; cat "$dts"; } > "$dts.tmp"
    mv "$dts.tmp" "$dts"
  fi
done

cp js/react.js js/react.d.ts pkg/
node scripts/package.mjs pkg/package.json
