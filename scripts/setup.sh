#!/usr/bin/env bash
# Installs what building and testing submit-guard needs, skipping whatever is
# already present. Safe to run any number of times.
#
#   scripts/setup.sh            Rust tools; the three browser engines and their
#                               WebDriver servers (Chromium + chromedriver,
#                               Firefox ESR + geckodriver, WebKitGTK's
#                               WebKitWebDriver + Xvfb); Node
#   scripts/setup.sh npm        `npm ci` of the workspace when its lock changed
#   scripts/setup.sh consumers  `npm ci` of the consumer apps (tests/consumers)
#   scripts/setup.sh bench      what `make bench` needs beyond that: wrk
#   scripts/setup.sh postgres   PostgreSQL's server binaries (scripts/with-postgres.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '[setup] %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

rust_tools() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  for component in clippy rustfmt; do
    if ! rustup component list --installed | grep -q "^$component"; then
      say "adding $component"
      rustup component add "$component"
    fi
  done
  # wasm-bindgen-cli must match the wasm-bindgen in Cargo.lock exactly. Not
  # `--locked`: the registry mirror lacks one of its pinned dependencies.
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    say "installing wasm-bindgen-cli $want (a few minutes)"
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
  if ! command -v wasm-pack >/dev/null; then
    say "installing wasm-pack (a few minutes)"
    cargo install wasm-pack
  fi
}

system_tools() {
  local missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  command -v firefox-esr >/dev/null || missing+=(firefox-esr)
  [ -x /usr/bin/WebKitWebDriver ] || missing+=(webkit2gtk-driver)
  command -v xvfb-run >/dev/null || missing+=(xvfb)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi
}

# geckodriver from crates.io (Debian has none). 0.36 is the first release
# whose floor is Firefox 128 ESR and that has no ceiling, so it drives the
# firefox-esr of Debian 12 (140) and later ESRs; an older one is replaced.
gecko_driver() {
  local have
  have=$(geckodriver --version 2>/dev/null | awk 'NR == 1 { print $2 }')
  if [ -z "$have" ] || [ "$(printf '%s\n0.36.0\n' "$have" | sort -V | head -1)" != 0.36.0 ]; then
    say "installing geckodriver (a few minutes)"
    cargo install geckodriver
  fi
}

bench_tools() {
  if ! command -v wrk >/dev/null; then
    say "installing wrk (the load generator of make bench)"
    apt_install wrk
  fi
}

postgres_tools() {
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    say "installing postgresql (the PostgreSQL store's tests run a throwaway cluster)"
    apt_install postgresql
  fi
}

npm_deps() {
  local stamp=node_modules/.installed-lock
  if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
    say "installing npm packages (binaryen, playwright-core, TypeScript, the demo's React and Vite)"
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json "$stamp"
  fi
}

# The consumer apps are their own npm workspace with their own lock (Next,
# webpack, Rollup, esbuild, Vitest...: kept out of the main install).
consumer_deps() {
  local dir=tests/consumers stamp=tests/consumers/node_modules/.installed-lock
  if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
    say "installing the consumer apps' npm packages (Vite, webpack, Rollup, esbuild, Next, Vitest)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$stamp"
  fi
}

case "${1:-}" in
  npm) npm_deps ;;
  consumers) consumer_deps ;;
  bench) bench_tools ;;
  postgres) postgres_tools ;;
  "") rust_tools; gecko_driver; system_tools; postgres_tools; npm_deps ;;
  *) echo "usage: $0 [npm|consumers|bench|postgres]" >&2; exit 2 ;;
esac
