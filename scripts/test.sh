#!/usr/bin/env bash
# Runs every test: unit tests in parallel, then the end-to-end tests one at a time
# (they publish real 1080p streams and transcode them: two at once would not fit on
# two cores), then the browser tests in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUST_BACKTRACE=1
echo "== unit tests"
cargo test --workspace --lib --bins
echo "== player unit tests"
node --test player/test/
echo "== integration and end-to-end tests"
cargo test --workspace --test '*' -- --test-threads=1
echo "== browser tests"
AMPHI_BIN="$PWD/target/debug/amphi" node --test --test-concurrency=1 tests/browser/
