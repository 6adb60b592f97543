#!/usr/bin/env bash
# Runs each fuzz target in turn for FUZZ_SECONDS (default 60) at the lowest CPU
# priority, starting from its committed corpus (fuzz/corpus/<target>/). Inputs that
# find new coverage go to target/new-corpus/<target>/ (minimize them into the
# corpus with `cargo +nightly fuzz cmin`); crashing inputs to artifacts/<target>/,
# which the stable tests replay once committed. libFuzzer's final statistics are kept
# in target/logs/<target>.log. FUZZ_TARGETS picks targets (default: all).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
nice -n 19 cargo +nightly fuzz build -O
mkdir -p target/logs
status=0
for t in $targets; do
  mkdir -p "corpus/$t" "target/new-corpus/$t"
  echo "== $t (${seconds} s)"
  if ! nice -n 19 cargo +nightly fuzz run -O "$t" "target/new-corpus/$t" "corpus/$t" -- \
      -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
      >"target/logs/$t.log" 2>&1; then
    echo "$t: FAILED, see fuzz/target/logs/$t.log and fuzz/artifacts/$t/"
    status=1
  fi
  grep -E '^#[0-9]+.*(DONE|pulse)|stat::number_of_executed_units|cov:' "target/logs/$t.log" | tail -1
done
exit $status
