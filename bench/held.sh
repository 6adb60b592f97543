#!/usr/bin/env bash
# Memory and responsiveness under held blocking requests (`make bench`): one live
# event (a small paced publisher), then bench/held.mjs holds HELD_N blocking playlist
# requests per burst from many loopback addresses. Goal: RSS back near its level after
# each burst (no growth burst after burst), /healthz answering meanwhile, and requests
# beyond the caps refused with 503 + Retry-After rather than held.
# Environment: AMPHI_BIN (default target/release/amphi), HELD_N, HELD_ADDRS, HELD_BURSTS.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${AMPHI_BIN:-$PWD/target/release/amphi}"
[ -x "$BIN" ] || { echo "held: $BIN missing (cargo build --release)" >&2; exit 1; }
RUN="$(mktemp -d)"
KEY="held-$RANDOM$RANDOM"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT
RUST_LOG="${RUST_LOG:-warn}" "$BIN" serve --http 127.0.0.1:0 --rtmp 127.0.0.1:0 \
  --webrtc-udp 127.0.0.1:0 --no-demo --data-dir "$RUN/data" --event "held:$KEY" \
  >"$RUN/amphi.out" 2>"$RUN/amphi.err" &
AMPHI=$!
pids+=("$AMPHI")
for _ in $(seq 200); do grep -q '^AMPHI_READY' "$RUN/amphi.out" 2>/dev/null && break; sleep 0.1; done
ready="$(grep '^AMPHI_READY' "$RUN/amphi.out")" || { cat "$RUN/amphi.err" >&2; exit 1; }
HTTP="$(sed -E 's/.* http=([^ ]+).*/\1/' <<<"$ready")"; HTTP="${HTTP%/}"
RTMP="$(sed -E 's/.* rtmp=([^ ]+).*/\1/' <<<"$ready")"; RTMP="${RTMP%/}"
ffmpeg -hide_banner -loglevel error -nostdin -re -f lavfi -i "testsrc2=size=640x360:rate=30" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 600 \
  -c:v libx264 -preset ultrafast -tune zerolatency -g 60 -keyint_min 60 -sc_threshold 0 -b:v 800k \
  -c:a aac -b:a 96k -f flv "$RTMP/$KEY" 2>"$RUN/publisher.err" &
pids+=("$!")
for _ in $(seq 300); do
  curl -fsS "$HTTP/live/held/master.m3u8" >/dev/null 2>&1 && break; sleep 0.1
done
sleep 4
node bench/held.mjs "$HTTP" held "$AMPHI"
grep -c 'held requests' "$RUN/amphi.err" | sed 's/^/held: log lines about held-request caps: /' || true
