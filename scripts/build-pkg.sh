#!/usr/bin/env bash
# Builds the npm package in pkg/: one ES module, submit_guard.js, that works
# with no configuration in every bundler, Node and test runner. The wasm is
# embedded in it (a string literal, one character per byte) and instantiated synchronously on the first
# `new SubmitGuard()`: no top-level await, no .wasm file a bundler must be
# taught about, no init call. The JS driver is the snippet it imports; the
# React hook is submit-guard/react.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
target="${CARGO_TARGET_DIR:-target}"

cargo build --quiet --release --target wasm32-unknown-unknown -p submit-guard --no-default-features
rm -rf pkg
# --weak-refs: a guard the garbage collector reclaims is freed too.
wasm-bindgen --target web --weak-refs --out-dir pkg/raw --out-name submit_guard \
  "$target/wasm32-unknown-unknown/release/submit_guard.wasm"

# Size: binaryen from npm (Debian's is too old for reference types).
[ -x node_modules/.bin/wasm-opt ] || scripts/setup.sh npm
# --zero-filled-memory and --low-memory-unused hold for a module we
# instantiate ourselves (fresh memory is zeroed; Rust's data starts at 1 MB);
# --converge repeats -Oz while it still shrinks the module.
node_modules/.bin/wasm-opt -Oz --converge --zero-filled-memory --low-memory-unused \
  --strip-debug --strip-producers --strip-target-features \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  pkg/raw/submit_guard_bg.wasm -o pkg/raw/submit_guard_bg.wasm

node scripts/package.mjs pkg
rm -rf pkg/raw
node scripts/size-budget.mjs pkg
