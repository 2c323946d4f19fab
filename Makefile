# submit-guard — two commands for a fresh machine:
#
#   make demo   build the package and the demo, serve it on http://127.0.0.1:8080
#   make test   every test: lints, native, fuzz smoke, PostgreSQL, Chromium,
#               Firefox and WebKit, end to end, the consumer matrix
#
# Both install what they need first (scripts/setup.sh) and skip what is there.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)

SERVER := target/debug/submit-guard-server
CHROMEDRIVER = $(shell command -v chromedriver)
GECKODRIVER = $(shell command -v geckodriver)
WEBKITDRIVER := /usr/bin/WebKitWebDriver

.PHONY: test demo bench setup lint test-native test-vectors fuzz fuzz-smoke test-browser test-browser-chromium \
  test-browser-firefox test-browser-webkit test-e2e test-webdriver test-consumers test-postgres pkg size server www clean

test: setup lint test-native test-vectors fuzz-smoke test-postgres test-browser test-e2e test-webdriver test-consumers

setup:
	scripts/setup.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p submit-guard-protocol --all-targets --all-features -- -D warnings
	cargo clippy -p submit-guard -p submit-guard-idempotency --all-targets --features fuzz -- -D warnings
	cargo clippy -p submit-guard --all-targets --target wasm32-unknown-unknown -- -D warnings
	cargo clippy -p submit-guard --lib --no-default-features --target wasm32-unknown-unknown -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
	RUSTDOCFLAGS="-D warnings" cargo doc -p submit-guard --no-deps --quiet --target wasm32-unknown-unknown

test-native:
	cargo test --workspace

# The shared payload vectors against the client's js/canonical.js (the
# Rust side runs in test-native).
test-vectors:
	node --test tests/vectors/

# Fuzzing: every parser of untrusted input in crates/protocol (key, JSON,
# URL-encoded, multipart, any Content-Type, fingerprint, Retry-After), the
# server's principal (crates/idempotency) and the client core's options
# reader and Retry-After (against the server's), each for FUZZ_SECONDS.
# cargo-fuzz (coverage-guided) when a nightly toolchain and cargo-fuzz are
# installed, else each crate's stable driver (seed corpus + mutations +
# generated inputs). Failing inputs land in fuzz/artifacts/<target>/. First,
# js/canonical.js against the crate on generated bodies (differential.mjs).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := key json urlencoded multipart content_type fingerprint retry_after \
  principal options client_retry_after
# The crates with fuzz targets, each with a stable driver (examples/fuzz.rs).
FUZZ_CRATES := submit-guard-protocol submit-guard-idempotency submit-guard
fuzz:
	DIFF_CASES=500000 node tests/vectors/differential.mjs cargo run --quiet -p submit-guard-protocol --example canon
	if cargo +nightly fuzz --version >/dev/null 2>&1; then \
	  cd fuzz && for t in $(FUZZ_TARGETS); do \
	    cargo +nightly fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	  done; \
	else \
	  echo "no nightly cargo-fuzz: the stable driver, $(FUZZ_SECONDS) s per target"; \
	  for p in $(FUZZ_CRATES); do \
	    FUZZ_SECONDS=$(FUZZ_SECONDS) cargo run --quiet -p $$p --features fuzz --example fuzz || exit 1; \
	  done; \
	fi

# A few seconds of each fuzz target (every seed, then mutations) and of the
# JS-against-Rust differential run, in make test.
fuzz-smoke:
	for p in $(FUZZ_CRATES); do \
	  FUZZ_SECONDS=2 cargo run --quiet -p $$p --features fuzz --example fuzz; \
	done
	DIFF_CASES=5000 node tests/vectors/differential.mjs cargo run --quiet -p submit-guard-protocol --example canon

# The PostgreSQL store on a throwaway cluster (scripts/with-postgres.sh; the
# wrapper's own test first): the store contract, two instances on one
# database (in-process pools, then two server processes), kill -9 of a claim
# holder. Here a missing DATABASE_URL fails the tests; under plain `cargo
# test` they print why they skip and pass.
test-postgres:
	scripts/setup.sh postgres
	scripts/test-with-postgres.sh
	SUBMIT_GUARD_REQUIRE_POSTGRES=1 scripts/with-postgres.sh bash -c '\
	  cargo test -p submit-guard-idempotency --features postgres && \
	  cargo test -p submit-guard-server --test postgres_instances'

server:
	cargo build -p submit-guard-server

# The wasm-bindgen tests in three engines, each against its own server on
# loopback: Chromium, Firefox ESR, and WebKitGTK (Safari's engine; its
# WebDriver needs a display, so it runs under Xvfb). One build serves all three.
test-browser: test-browser-chromium test-browser-firefox test-browser-webkit

test-browser-chromium: server
	scripts/with-server.sh $(SERVER) --store memory --test-mode -- \
	  wasm-pack test --headless --chrome --chromedriver $(CHROMEDRIVER) -- --test browser

test-browser-firefox: server
	scripts/with-server.sh $(SERVER) --store memory --test-mode -- \
	  wasm-pack test --headless --firefox --geckodriver $(GECKODRIVER) -- --test browser

test-browser-webkit: server
	scripts/with-server.sh $(SERVER) --store memory --test-mode -- \
	  xvfb-run -a wasm-pack test --headless --safari --safaridriver $(WEBKITDRIVER) -- --test browser

# The npm package in pkg/ (one ES module, the wasm embedded); ends with the
# size budget, so a package over budget fails the build.
pkg:
	scripts/build-pkg.sh

# The size budget alone, for the package already in pkg/.
size:
	node scripts/size-budget.mjs pkg

# The React demo (www/, Vite) into www/dist, against the package in pkg/.
www: pkg
	scripts/setup.sh npm
	npm run build --workspace www

# The demo on http://127.0.0.1:8080: the server with a SQLite file, serving
# www/dist, in test mode (the pages' "Simulate" select uses X-Fault).
demo: setup pkg www server
	@echo "submit-guard demo: open http://127.0.0.1:8080/ (Ctrl-C stops it)"
	$(SERVER) --store sqlite:demo.db --static www --test-mode --addr 127.0.0.1:8080

test-e2e: pkg server www
	cd tests/e2e && node --test --test-concurrency=1 --test-reporter=spec

# The key end-to-end scenarios in Firefox ESR and WebKitGTK through WebDriver
# (selenium-webdriver): Playwright drives only Chromium here.
test-webdriver: pkg server www
	cd tests/webdriver && xvfb-run -a node --test --test-concurrency=1 --test-reporter=spec

# The packed package (npm pack of pkg/) installed into small apps, one per
# toolchain (tests/consumers/README.md); prints a table, fails if any fails.
# Not yet part of `make test`.
test-consumers: pkg server
	scripts/setup.sh consumers
	node tests/consumers/run.mjs

# Benchmarks: the bundle a Vite app gains, client overhead, dedupe storm,
# end to end, start-up and server throughput (memory, SQLite and PostgreSQL
# stores, the last on a throwaway cluster), each beside its peers. Prints a
# Markdown table, writes bench/results.json and bench/plot.svg; about ten
# minutes once built on a busy 2-core machine. It reports and never fails on a missed target, and is
# not part of `make test`.
bench: setup pkg
	scripts/setup.sh bench
	cargo build --release -p submit-guard-server
	scripts/with-postgres.sh node bench/run.mjs

clean:
	cargo clean
	rm -rf pkg www/dist tests/e2e/artifacts node_modules tests/consumers/node_modules tests/consumers/.work
