#!/usr/bin/env bash
# Ladder real-time factor: Amphi's packager (passthrough + 720p/480p/360p x264 veryfast,
# CMAF parts, playlists) against the bare GStreamer ladder run by gst-launch-1.0
# (decode → tee → scale → x264enc ×3 → fakesink) on the same 1080p30 input, in the same
# run. Prints both real-time factors and their ratio (goal ≥ 0.9).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_OF_MEDIA="${LADDER_SECONDS:-60}"
dir="${TMPDIR:-/tmp}/amphi-bench-ladder"
mkdir -p "$dir"
input="$dir/input-1080p30-${SECONDS_OF_MEDIA}s.mp4"
if [ ! -s "$input" ]; then
  echo "generating $input (1080p30 H.264 High, 2 s keyframes, AAC)"
  ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=size=1920x1080:rate=30" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
    -t "$SECONDS_OF_MEDIA" -c:v libx264 -preset veryfast -profile:v high -g 60 -keyint_min 60 -sc_threshold 0 \
    -b:v 4500k -pix_fmt yuv420p -c:a aac -b:a 128k "$input"
fi

rung() { # width height kbps
  echo "t. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=1000000000 ! videoscale ! videoconvert ! \
video/x-raw,format=I420,width=$1,height=$2,pixel-aspect-ratio=1/1 ! \
x264enc tune=zerolatency speed-preset=veryfast bitrate=$3 key-int-max=60 bframes=0 ! fakesink sync=false"
}
baseline() {
  local start end
  start=$(date +%s.%N)
  # shellcheck disable=SC2046
  gst-launch-1.0 -q filesrc location="$input" ! qtdemux ! h264parse ! avdec_h264 ! tee name=t \
    $(rung 1280 720 2500) $(rung 854 480 1000) $(rung 640 360 600) >/dev/null
  end=$(date +%s.%N)
  echo "$SECONDS_OF_MEDIA $start $end" | awk '{ printf "%.3f\n", $1 / ($3 - $2) }'
}

cargo build --release -p amphi-packager --bench ladder --quiet 2>/dev/null || cargo bench -p amphi-packager --bench ladder --no-run
runs="${LADDER_RUNS:-2}"
for i in $(seq 1 "$runs"); do
  b=$(baseline)
  echo "run $i: gst-launch-1.0 ladder: ${b}x real time"
  out=$(cargo bench -q -p amphi-packager --bench ladder -- "$input" 2>/dev/null)
  echo "$out" | grep -v '^AMPHI_LADDER_RTF=' | sed "s/^/run $i: /"
  a=$(echo "$out" | sed -n 's/^AMPHI_LADDER_RTF=//p')
  echo "run $i: ratio amphi/gst-launch = $(echo "$a $b" | awk '{ printf "%.2f", $1 / $2 }')"
done
