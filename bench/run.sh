#!/usr/bin/env bash
# `make bench`: every benchmark, each printing its figures next to a baseline measured
# in the same run (the machines are shared and noisy: compare ratios, not absolutes).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== transcoding ladder vs gst-launch-1.0"
bash bench/ladder.sh
echo "== glass-to-glass latency vs nginx-rtmp"
AMPHI_BIN="$PWD/target/release/amphi" node bench/latency.mjs "${BENCH_SECONDS:-60}"
echo "== glass-to-glass from the picture (barcode), Amphi vs nginx-rtmp"
AMPHI_BIN="$PWD/target/release/amphi" node bench/g2g.mjs "${G2G_SECONDS:-30}"
echo "== scale out: origin vs nginx, viewers through Varnish"
bash bench/scale.sh
echo "== Opus → AAC transcoding cost (browser audio)"
bash bench/opus-aac.sh
echo "== WHIP ingest: POST to first LL-HLS part"
AMPHI_BIN="$PWD/target/release/amphi" bash bench/whip.sh
echo "== WHIP glass-to-glass latency (aiortc publisher, hls.js viewer)"
AMPHI_BIN="$PWD/target/release/amphi" node bench/whip.mjs "${BENCH_SECONDS:-30}"
echo "== held blocking requests: memory and /healthz under 10,000 held requests per burst"
AMPHI_BIN="$PWD/target/release/amphi" bash bench/held.sh
