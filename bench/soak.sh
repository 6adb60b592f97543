#!/usr/bin/env bash
# `make soak` (not in CI): a whole lecture, 1080p30 with OBS's settings, for
# SOAK_MINUTES (default 120) with viewers attached, then the figures an operator asks
# before trusting a service with a two-hour lecture:
#   - program-date-time against the wall clock, start vs end (goal: drift < 100 ms);
#   - amphi's RSS and open file descriptors, median over the tenth after warm-up vs the
#     last tenth (goal: flat within 10 %);
#   - stalls of an hls.js viewer in headless Chromium (goal: 0);
#   - the recording's duration against the time the lecturer was live.
# The publisher's input is encoded once (cached): 64 s, a whole number of video frames
# (1,920), AAC frames (3,000) and 2 s GOPs, with B-frames as OBS's x264 sends them; a
# pacer (bench/soak-publisher.mjs) sends it in real time with ffmpeg `-c copy`,
# timestamps running on across loops, so ffmpeg takes no CPU from the ladder. (Looped
# by `ffmpeg -stream_loop`, each loop jumped the timestamps by ~11 ms; the jump moved
# where audio frames fall against the keyframes, and one such phase wedged the
# passthrough's muxer.)
#
# Environment: SOAK_MINUTES, SOAK_VIEWERS (simulated LL-HLS viewers, default 20),
# AMPHI_BIN (default target/release/amphi), SOAK_DIR (work files, default target/soak).
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${SOAK_MINUTES:-120}"
VIEWERS="${SOAK_VIEWERS:-20}"
BIN="${AMPHI_BIN:-$PWD/target/release/amphi}"
LOADGEN="$(dirname "$BIN")/amphi-loadgen"
DIR="${SOAK_DIR:-$PWD/target/soak}"
KEY="soak-$RANDOM$RANDOM"
mkdir -p "$DIR"
[ -x "$BIN" ] || { echo "soak: $BIN missing (cargo build --release)" >&2; exit 1; }
# The simulated viewers are part of the figures: without them the RSS and open-file
# growth say nothing of serving an audience.
[ "$VIEWERS" -eq 0 ] || [ -x "$LOADGEN" ] ||
  { echo "soak: $LOADGEN missing (cargo build --release -p amphi-loadgen, or SOAK_VIEWERS=0)" >&2; exit 1; }

LOOP_FRAMES=1920
LOOP="$DIR/lecture-1080p30-64s.flv"
if [ ! -s "$LOOP" ]; then
  echo "soak: encoding the publisher's 64 s loop once ($LOOP)"
  ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=size=1920x1080:rate=30" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 64 \
    -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p \
    -g 60 -keyint_min 60 -sc_threshold 0 -b:v 4500k -maxrate 4500k -bufsize 9000k \
    -c:a aac -b:a 128k -ar 48000 -ac 2 -f flv "$LOOP.tmp"
  mv "$LOOP.tmp" "$LOOP"
fi

RUN="$(mktemp -d "$DIR/run-XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# The whole lecture is the recording: keep more than the soak's length.
AMPHI_RECORD_MINUTES=$((MINUTES + 10)) RUST_LOG="${RUST_LOG:-warn}" \
  "$BIN" serve --http 127.0.0.1:0 --rtmp 127.0.0.1:0 --webrtc-udp 127.0.0.1:0 --no-demo \
  --data-dir "$RUN/data" --store fs --end-after 10 --event "lecture:$KEY" \
  >"$RUN/amphi.out" 2>"$RUN/amphi.err" &
AMPHI=$!
pids+=("$AMPHI")
for _ in $(seq 200); do grep -q '^AMPHI_READY' "$RUN/amphi.out" 2>/dev/null && break; sleep 0.1; done
ready="$(grep '^AMPHI_READY' "$RUN/amphi.out")" || { cat "$RUN/amphi.err" >&2; exit 1; }
HTTP="$(sed -E 's/.* http=([^ ]+).*/\1/' <<<"$ready")"; HTTP="${HTTP%/}"
RTMP="$(sed -E 's/.* rtmp=([^ ]+).*/\1/' <<<"$ready")"; RTMP="${RTMP%/}"
echo "soak: amphi pid $AMPHI at $HTTP, $MINUTES min of 1080p30, $VIEWERS simulated viewers + 1 hls.js"

live_start=$(date +%s.%N)
node bench/soak-publisher.mjs "$LOOP" "$RTMP/$KEY" $((MINUTES * 60)) "$LOOP_FRAMES" \
  2>"$RUN/publisher.err" &
PUB=$!
pids+=("$PUB")

for _ in $(seq 300); do
  curl -sf "$HTTP/live/lecture/master.m3u8" >/dev/null && break
  sleep 0.2
done
if [ "$VIEWERS" -gt 0 ]; then
  "$LOADGEN" "$HTTP/live/lecture/master.m3u8" -n "$VIEWERS" -d $((MINUTES * 60 - 30)) \
    >"$RUN/loadgen.out" 2>"$RUN/loadgen.err" &
  pids+=($!)
fi
node bench/soak-viewer.mjs "$HTTP" "$AMPHI" "$(awk "BEGIN{print $MINUTES - 0.5}")" \
  | tee "$RUN/viewer.out" &
VIEWER=$!
pids+=("$VIEWER")

wait "$PUB" || echo "soak: the publisher exited with an error: $(tail -3 "$RUN/publisher.err")"
live_end=$(date +%s.%N)
wait "$VIEWER" || true

# The recording: once the event has ended, the media playlist is the VOD.
rendition="$(curl -sf "$HTTP/live/lecture/master.m3u8" | grep -v '^#' | grep . | tail -1 || true)"
vod=""
for _ in $(seq 60); do
  vod="$(curl -sf "$HTTP/live/lecture/$rendition" || true)"
  grep -q '#EXT-X-ENDLIST' <<<"$vod" && break
  sleep 1
done
rec_seconds="$(grep '^#EXTINF:' <<<"$vod" | sed -E 's/#EXTINF:([0-9.]+).*/\1/' | awk '{s+=$1} END {printf "%.1f", s}')"
live_seconds="$(awk "BEGIN{printf \"%.1f\", $live_end - $live_start}")"
ended="no"; grep -q '#EXT-X-ENDLIST' <<<"$vod" && ended="yes"
seg_count="$(grep -c '^#EXTINF:' <<<"$vod" || true)"
report="$(grep '^SOAK_REPORT ' "$RUN/viewer.out" | sed 's/^SOAK_REPORT //' || true)"
loadgen="$(grep '^LOADGEN_SUMMARY ' "$RUN/loadgen.out" 2>/dev/null | sed 's/^LOADGEN_SUMMARY //' || true)"

echo
echo "== soak: $MINUTES min of 1080p30 ($(date -u +%FT%TZ))"
node -e '
const r = JSON.parse(process.argv[1] || "{}");
const [rec, live, ended, segs] = process.argv.slice(2);
const ok = (c) => (c ? "ok  " : "MISS");
const pct = (x) => (x == null ? "n/a" : x + " %");
console.log(`${ok(r.pdt_drift_ms != null && Math.abs(r.pdt_drift_ms) < 100)} PDT drift vs wall clock  ${r.pdt_drift_ms} ms (lag ${r.pdt_lag_ms_start} ms at start, ${r.pdt_lag_ms_end} ms at end, ${r.pdt_samples} parts)   goal < 100 ms`);
console.log(`${ok(Math.abs(r.rss_growth_pct) <= 10)} RSS                      ${r.rss_mib_after_warmup} MiB after warm-up -> ${r.rss_mib_end} MiB (${pct(r.rss_growth_pct)}, max ${r.rss_mib_max} MiB)   goal flat within 10 %`);
console.log(`${ok(Math.abs(r.fd_growth_pct) <= 10)} open fds                 ${r.fds_after_warmup} -> ${r.fds_end} (${pct(r.fd_growth_pct)}, max ${r.fds_max})   goal flat within 10 %`);
console.log(`${ok(r.hls_stalls === 0)} hls.js stalls            ${r.hls_stalls} (${r.hls_stall_ms_total} ms frozen; ${r.video_waiting_events} waiting events; ${r.page_errors} page errors)   goal 0`);
console.log(`${ok(ended === "yes" && Math.abs(rec - live) < 10)} recording                ${rec} s in ${segs} segments for ${live} s live (ended: ${ended})`);
if (r.hls_stalls) console.log("stalls:", JSON.stringify(r.hls_stalls_list));
' "$report" "$rec_seconds" "$live_seconds" "$ended" "$seg_count"
[ -n "$loadgen" ] && echo "simulated viewers: $loadgen"
# The ladder's sheds (it could not keep up with real time on this machine), and for each
# stall the last shed in the 10 s before it: a stall right after one is the machine's
# CPU, not the player nor the network.
node -e '
const fs = require("fs");
const r = JSON.parse(process.argv[1] || "{}");
const sheds = fs.readFileSync(process.argv[2], "utf8").split("\n")
  .map((l) => l.replace(/\x1b\[[0-9;]*m/g, ""))
  .filter((l) => l.includes("rendition shed"))
  .map((l) => ({ at: Date.parse(l.split(" ")[0]), rendition: (l.match(/rendition=(\d+)/) || [])[1], lag: (l.match(/lag=Some\(([^)]+)\)/) || [])[1] }));
console.log(`ladder: ${sheds.length} rendition sheds (the ladder could not keep up with real time)`);
for (const s of r.hls_stalls_list || []) {
  const at = Date.parse(s.at);
  const near = sheds.filter((x) => x.at <= at + 1000 && x.at >= at - 10000).pop();
  const why = near ? `${((at - near.at) / 1000).toFixed(1)} s after the ladder shed rendition ${near.rendition} (lag ${near.lag})` : "no ladder shed in the 10 s before";
  console.log(`  stall at ${s.at} (${s.ms} ms): ${why}`);
}
' "$report" "$RUN/amphi.err"
echo "every minute (RSS, open fds, PDT lag, hls.js stalls so far):"
grep '^SOAK_SAMPLE ' "$RUN/viewer.out" | sed 's/^SOAK_SAMPLE /  /' || true
echo "work files: $RUN"
