#!/usr/bin/env bash
# Runs every test: set-up, build, unit tests in parallel, then the end-to-end tests one
# at a time (they publish real streams and transcode them: two at once would not fit on
# two cores), then the browser tests in headless Chromium, one file at a time.
#
# Every phase runs even when an earlier one failed, and the run ends with a summary:
# each phase's duration and result. A browser test file that fails is run once more; if
# it passes then, the summary names it FLAKY (its timing assertions met a busy machine)
# and the run still fails if it fails twice.
set -uo pipefail
cd "$(dirname "$0")/.."
export RUST_BACKTRACE=1

t0=$(date +%s)
summary=()
failed=0

# phase NAME COMMAND...: runs COMMAND, records its duration and result.
phase() {
  local name="$1"
  shift
  local start rc
  start=$(date +%s)
  echo "== $name"
  "$@"
  rc=$?
  local took=$(($(date +%s) - start))
  if [ "$rc" -eq 0 ]; then
    summary+=("$(printf '%-34s %5d s  ok' "$name" "$took")")
  else
    summary+=("$(printf '%-34s %5d s  FAILED (exit %d)' "$name" "$took" "$rc")")
    failed=1
  fi
  return "$rc"
}

# Wall-clock caps: a test that hangs (a child process or browser left running keeps its
# runner alive) is killed and reported, and the phases after it still run.
BROWSER_FILE_CAP_S=600
RUST_TESTS_CAP_S=1500

# browser_file FILE: runs one browser test file under its cap; Node exits when the file's
# tests are done even if something they started still holds the event loop.
browser_file() {
  AMPHI_BIN="$PWD/target/debug/amphi" timeout -k 20 "$BROWSER_FILE_CAP_S" node --test --test-force-exit "$1"
  local rc=$?
  [ "$rc" -eq 124 ] && echo "== $1 killed after ${BROWSER_FILE_CAP_S} s"
  return "$rc"
}

flaky=()
failures=()
browser_tests() {
  local rc=0 f
  for f in tests/browser/*.test.mjs; do
    if ! browser_file "$f"; then
      echo "== $f failed: running it once more"
      if browser_file "$f"; then
        flaky+=("$f")
      else
        echo "== $f failed twice"
        failures+=("$f")
        rc=1
      fi
    fi
  done
  return "$rc"
}

# The end-to-end tests, their failing tests' names kept for the summary.
rust_tests() {
  local log rc name
  log=$(mktemp)
  timeout -k 20 "$RUST_TESTS_CAP_S" cargo test --workspace --no-fail-fast --test '*' -- --test-threads=1 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 124 ]; then
    echo "== end-to-end tests killed after ${RUST_TESTS_CAP_S} s"
    failures+=("killed while running: $(grep '^test ' "$log" | tail -1)")
  fi
  while read -r name; do failures+=("$name"); done < <(sed -n 's/^test \(.*\) \.\.\. FAILED$/\1/p' "$log")
  rm -f "$log"
  return "$rc"
}

if phase "set-up (packages, npm, player)" make -s deps-test player; then
  if phase "build (tests and binaries)" cargo build --workspace --tests --bins; then
    phase "unit tests" cargo test --workspace --lib --bins
    phase "player unit tests" node --test player/test/
    phase "integration and end-to-end tests" rust_tests
    phase "browser tests" browser_tests
  fi
fi

echo
echo "== summary ($(($(date +%s) - t0)) s in all)"
printf '%s\n' "${summary[@]}"
for f in "${failures[@]}"; do
  echo "FAILED: $f"
done
for f in "${flaky[@]}"; do
  echo "FLAKY: $f failed once and passed when run again"
done
exit "$failed"
