#!/usr/bin/env bash
# Ladder cost, two ways, each against the bare GStreamer ladder run by gst-launch-1.0 in
# the same run (the machines are shared and noisy: compare the ratios).
#
# 1. Live (the figure that matters on a lecture day): CPU seconds per media second of
#    the ladder inside a running `amphi serve` while a pre-encoded 1080p30 lecture is
#    published in real time over RTMP (`ffmpeg -re -c copy`, so the publisher costs
#    nothing), read from /proc/<pid>/stat over LIVE_SECONDS, minus amphi's idle
#    baseline measured just before; beside it the same ladder in gst-launch-1.0 paced
#    by `clocksync` (decode → tee → per rung leaky queue, scale, x264enc zerolatency,
#    h264parse → fakesink; the passthrough and AAC parsed and dropped), measured the
#    same way. The bare pipeline has no muxer (isofmp4mux is built into amphi, not
#    installed for gst-launch-1.0): the difference is muxing, appsrc/appsink, and the
#    playlists and store.
# 2. Throughput: the packager bench pushes the file as fast as the ladder takes it;
#    beside it the same gst-launch-1.0 ladder unpaced. Real-time factors and ratio.
#
# Environment: AMPHI_BIN (default target/release/amphi), LIVE_SECONDS (60),
# LADDER_SECONDS (60, throughput input), LADDER_RUNS (1), LADDER_LIVE / LADDER_THROUGHPUT
# (1; 0 skips that half), LADDER_CASCADE (1, as amphi: the bare rungs scale from the rung above;
# 0: each from the decoded picture).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_OF_MEDIA="${LADDER_SECONDS:-60}"
LIVE="${LIVE_SECONDS:-60}"
BIN="${AMPHI_BIN:-$PWD/target/release/amphi}"
dir="${TMPDIR:-/tmp}/amphi-bench-ladder"
mkdir -p "$dir"
CLK=$(getconf CLK_TCK)

make_input() { # seconds path
  [ -s "$2" ] && return
  echo "generating $2 (1080p30 H.264 High, 2 s keyframes, AAC)"
  ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=size=1920x1080:rate=30" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
    -t "$1" -c:v libx264 -preset veryfast -profile:v high -g 60 -keyint_min 60 -sc_threshold 0 \
    -b:v 4500k -pix_fmt yuv420p -c:a aac -b:a 128k "$2"
}

# CPU time (user + system, children included) of a process, in clock ticks.
ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"; }
# Cores used between two tick readings over a wall time.
cores() { echo "$1 $2 $3" | awk -v clk="$CLK" '{ printf "%.3f\n", ($2 - $1) / clk / $3 }'; }

# The rungs as amphi builds them (packager/src/pipeline/launch.rs): a leaky raw queue
# one part long, scale, x264 veryfast zerolatency, parse. Scaled pictures pass a tee
# `s<height>` that a cascaded rung below can read from.
rung() { # source width height kbps profile
  echo "$1 ! queue leaky=downstream max-size-buffers=0 max-size-bytes=0 max-size-time=333333333 ! \
videoscale ! videoconvert ! video/x-raw,format=I420,width=$2,height=$3,pixel-aspect-ratio=1/1 ! \
tee name=s$3 ! x264enc tune=zerolatency speed-preset=veryfast bitrate=$4 vbv-buf-capacity=1000 key-int-max=60 bframes=0 \
b-adapt=false option-string=scenecut=0 ! video/x-h264,profile=$5 ! h264parse ! fakesink sync=false async=false"
}
ladder() { # paced|unpaced → gst-launch-1.0 arguments
  local pace="" from480="t." from360="t."
  [ "$1" = paced ] && pace="! clocksync"
  if [ "${LADDER_CASCADE:-1}" = 1 ]; then from480="s720."; from360="s480."; fi
  echo "filesrc location=$input ! qtdemux name=d d.video_0 ! queue ! h264parse $pace ! tee name=p \
p. ! queue ! fakesink sync=false async=false \
p. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=5000000000 ! avdec_h264 ! tee name=t \
$(rung t. 1280 720 2500 main) $(rung "$from480" 854 480 1000 main) $(rung "$from360" 640 360 600 main) \
d.audio_0 ! queue ! aacparse $pace ! fakesink sync=false async=false"
}

live_gst() {
  # shellcheck disable=SC2046
  gst-launch-1.0 -q $(ladder paced) >/dev/null 2>&1 &
  local pid=$! t0 t1 w0 w1
  sleep 5
  t0=$(ticks $pid); w0=$(date +%s.%N)
  sleep "$LIVE"
  t1=$(ticks $pid); w1=$(date +%s.%N)
  kill $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  cores "$t0" "$t1" "$(echo "$w0 $w1" | awk '{ print $2 - $1 }')"
}

live_amphi() {
  [ -x "$BIN" ] || { echo "ladder: $BIN missing (cargo build --release)" >&2; return 1; }
  local run key pid pub t0 t1 w0 w1 idle ready http rtmp
  run="$(mktemp -d)"
  key="ladder-$RANDOM$RANDOM"
  RUST_LOG="${RUST_LOG:-warn}" "$BIN" serve --http 127.0.0.1:0 --rtmp 127.0.0.1:0 \
    --webrtc-udp 127.0.0.1:0 --no-demo --data-dir "$run/data" --event "lecture:$key" \
    >"$run/amphi.out" 2>"$run/amphi.err" &
  pid=$!
  for _ in $(seq 200); do grep -q '^AMPHI_READY' "$run/amphi.out" 2>/dev/null && break; sleep 0.1; done
  ready="$(grep '^AMPHI_READY' "$run/amphi.out")" || { cat "$run/amphi.err" >&2; kill $pid; return 1; }
  http="$(sed -E 's/.* http=([^ ]+).*/\1/' <<<"$ready")"; http="${http%/}"
  rtmp="$(sed -E 's/.* rtmp=([^ ]+).*/\1/' <<<"$ready")"; rtmp="${rtmp%/}"
  sleep 2
  t0=$(ticks $pid); w0=$(date +%s.%N); sleep 10; t1=$(ticks $pid); w1=$(date +%s.%N)
  idle=$(cores "$t0" "$t1" "$(echo "$w0 $w1" | awk '{ print $2 - $1 }')")
  ffmpeg -hide_banner -loglevel error -nostdin -re -i "$input" -c copy -f flv "$rtmp/$key" \
    2>"$run/publisher.err" &
  pub=$!
  for _ in $(seq 300); do
    curl -fsS "$http/live/lecture/master.m3u8" >/dev/null 2>&1 && break; sleep 0.1
  done
  sleep 3
  t0=$(ticks $pid); w0=$(date +%s.%N)
  sleep "$LIVE"
  t1=$(ticks $pid); w1=$(date +%s.%N)
  local renditions
  renditions=$(curl -fsS "$http/live/lecture/master.m3u8" | grep -c '^[^#].*index.m3u8' || true)
  kill $pub 2>/dev/null || true
  kill $pid 2>/dev/null || true
  wait $pub $pid 2>/dev/null || true
  local busy
  busy=$(cores "$t0" "$t1" "$(echo "$w0 $w1" | awk '{ print $2 - $1 }')")
  echo "$busy $idle $renditions"
  rm -rf "$run"
}

if [ "${LADDER_LIVE:-1}" = 1 ]; then
  input="$dir/live-1080p30-$((LIVE + 10))s.mp4"
  make_input $((LIVE + 10)) "$input"
  for i in $(seq 1 "${LADDER_RUNS:-1}"); do
    read -r busy idle listed < <(live_amphi)
    a=$(echo "$busy $idle" | awk '{ printf "%.3f", $1 - $2 }')
    b=$(live_gst)
    echo "live run $i: amphi ladder ${a} CPU s per media s (busy ${busy} − idle ${idle} cores, ${listed} renditions listed)"
    echo "live run $i: gst-launch-1.0 ladder ${b} CPU s per media s (paced by clocksync, no muxer)"
    echo "live run $i: ratio amphi/gst-launch = $(echo "$a $b" | awk '{ printf "%.2f", $1 / $2 }')"
  done
fi

if [ "${LADDER_THROUGHPUT:-1}" = 1 ]; then
  input="$dir/input-1080p30-${SECONDS_OF_MEDIA}s.mp4"
  make_input "$SECONDS_OF_MEDIA" "$input"
  baseline() {
    local start end
    start=$(date +%s.%N)
    # shellcheck disable=SC2046
    gst-launch-1.0 -q $(ladder unpaced) >/dev/null
    end=$(date +%s.%N)
    echo "$SECONDS_OF_MEDIA $start $end" | awk '{ printf "%.3f\n", $1 / ($3 - $2) }'
  }
  cargo build --release -p amphi-packager --bench ladder --quiet 2>/dev/null || cargo bench -p amphi-packager --bench ladder --no-run
  for i in $(seq 1 "${LADDER_RUNS:-1}"); do
    b=$(baseline)
    echo "throughput run $i: gst-launch-1.0 ladder: ${b}x real time"
    out=$(cargo bench -q -p amphi-packager --bench ladder -- "$input" 2>/dev/null)
    echo "$out" | grep -v '^AMPHI_LADDER_RTF=' | sed "s/^/throughput run $i: /"
    a=$(echo "$out" | sed -n 's/^AMPHI_LADDER_RTF=//p')
    echo "throughput run $i: ratio amphi/gst-launch = $(echo "$a $b" | awk '{ printf "%.2f", $1 / $2 }')"
  done
fi
