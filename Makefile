# submit-guard — two commands for a fresh machine:
#
#   make demo   build the package and the demo, serve it on http://127.0.0.1:8080
#   make test   every test: lints, native, headless Chromium, end to end
#
# Both install what they need first (scripts/setup.sh) and skip what is there.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)

SERVER := target/debug/submit-guard-server
CHROMEDRIVER = $(shell command -v chromedriver)

.PHONY: test demo bench setup lint test-native test-browser test-e2e test-postgres pkg server www clean

test: setup lint test-native test-browser test-e2e

setup:
	scripts/setup.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p submit-guard --all-targets --target wasm32-unknown-unknown -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
	RUSTDOCFLAGS="-D warnings" cargo doc -p submit-guard --no-deps --quiet --target wasm32-unknown-unknown

test-native:
	cargo test --workspace

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

# The wasm-bindgen tests, in headless Chromium, against a server on loopback.
test-browser: server
	scripts/with-server.sh $(SERVER) --store memory --test-mode -- \
	  wasm-pack test --headless --chrome --chromedriver $(CHROMEDRIVER) -- --test browser

pkg:
	scripts/build-pkg.sh

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

# Benchmarks (issue #6): bundle size, client overhead, dedupe storm, end to
# end, start-up and server throughput, each beside its peers. Prints a
# Markdown table, writes bench/results.json and bench/plot.svg; about five
# minutes once built. It reports and never fails on a missed target, and is
# not part of `make test`.
bench: setup pkg
	scripts/setup.sh bench
	cargo build --release -p submit-guard-server
	node bench/run.mjs

clean:
	cargo clean
	rm -rf pkg www/dist tests/e2e/artifacts node_modules
