# Amphi — the two commands: `make run` and `make test`.
# Both install what is missing (Debian packages, npm modules), build, then run.

CARGO ?= cargo
HTTP ?= 0.0.0.0:8080
RTMP ?= 0.0.0.0:1935
SRT ?= 0.0.0.0:8890

.PHONY: fuzz run test bench soak deps-run deps-test player build build-release check fmt clippy clean

run: deps-run player build-release
	./target/release/amphi serve --http $(HTTP) --rtmp $(RTMP) --srt $(SRT) --demo --first-event

# Set-up, build and every test, with each phase's time in a closing summary.
test:
	bash scripts/test.sh

bench: deps-bench player build-release
	bash bench/run.sh

# Not in CI: a whole lecture (SOAK_MINUTES, default 120) with viewers attached.
soak: deps-bench player build-release
	$(CARGO) build --release -p amphi-loadgen
	bash bench/soak.sh

deps-run:
	@bash scripts/check-toolchain.sh
	@bash scripts/install-deps.sh run

deps-test:
	@bash scripts/check-toolchain.sh
	@bash scripts/install-deps.sh test
	@# The OpenID Connect provider the console's login test runs (tests/oidc_login.rs).
	@cd tests/oidc && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; }

deps-bench:
	@bash scripts/check-toolchain.sh
	@bash scripts/install-deps.sh bench

player:
	@cd player && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run --silent build

# Each fuzz target for FUZZ_SECONDS on nightly at nice 19 (`make test` replays the
# committed corpora on stable: tests/fuzz_corpus.rs).
FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh

build-release:
	$(CARGO) build --release --bin amphi

check: fmt clippy

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf player/node_modules player/dist
