#!/usr/bin/env bash
# CPU cost of transcoding a browser's Opus audio to AAC-LC in the packager, in the same
# run as its baselines (the machines are shared and noisy: compare ratios):
#   1. audio alone: Opus → opusdec ! audioconvert ! audioresample ! avenc_aac ! aacparse
#      (the packager's branch) against AAC passthrough (aacparse), over the same media;
#   2. a whole browser session: the ladder of a 720p30 source (decode, 720p/480p/360p
#      x264 veryfast, as the packager runs it) with the Opus → AAC branch against the
#      same ladder with AAC passed through.
# CPU seconds are user + system time of gst-launch-1.0, which runs the same elements as
# the packager's pipeline (muxing, identical in both cases, is left out).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_OF_MEDIA="${OPUS_BENCH_SECONDS:-30}"
dir="${TMPDIR:-/tmp}/amphi-bench-opus-aac"
mkdir -p "$dir"
video="$dir/video-720p30-${SECONDS_OF_MEDIA}s.mp4"
opus="$dir/speech-opus-${SECONDS_OF_MEDIA}s.mkv"
aac="$dir/speech-aac-${SECONDS_OF_MEDIA}s.m4a"
if [ ! -s "$video" ] || [ ! -s "$opus" ] || [ ! -s "$aac" ]; then
  echo "generating ${SECONDS_OF_MEDIA} s of 720p30 H.264 and 48 kHz stereo Opus / AAC in $dir"
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1280x720:rate=30" -t "$SECONDS_OF_MEDIA" \
    -c:v libx264 -preset veryfast -profile:v high -g 60 -keyint_min 60 -sc_threshold 0 -b:v 2500k \
    -pix_fmt yuv420p -an "$video"
  # A voice-like signal (a wobbling tone over noise), so the encoders do real work.
  src="aevalsrc=0.3*sin(2*PI*(220+40*sin(2*PI*0.5*t))*t)+0.05*(random(0)-0.5):s=48000:c=stereo"
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i "$src" -t "$SECONDS_OF_MEDIA" \
    -c:a libopus -b:a 64k -frame_duration 20 "$opus"
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i "$src" -t "$SECONDS_OF_MEDIA" -c:a aac -b:a 128k "$aac"
fi

# The packager's audio branches (pipeline.rs), ending in a fakesink.
opus_branch="filesrc location=$opus ! matroskademux ! opusparse ! opusdec ! audioconvert ! audioresample ! \
audio/x-raw,rate=48000,channels=2 ! avenc_aac bitrate=128000 ! aacparse ! fakesink sync=false"
aac_branch="filesrc location=$aac ! qtdemux ! aacparse ! fakesink sync=false"
rung() { # width height kbps
  echo "t. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=1000000000 ! videoscale ! videoconvert ! \
video/x-raw,format=I420,width=$1,height=$2,pixel-aspect-ratio=1/1 ! \
x264enc tune=zerolatency speed-preset=veryfast bitrate=$3 key-int-max=1200 bframes=0 ! fakesink sync=false"
}
ladder="filesrc location=$video ! qtdemux ! h264parse ! avdec_h264 ! tee name=t \
$(rung 1280 720 2500) $(rung 854 480 1000) $(rung 640 360 600)"

# Prints the user + system CPU seconds of one gst-launch-1.0 run.
cpu() {
  local times="$dir/time.txt"
  # shellcheck disable=SC2086
  if ! /usr/bin/time -o "$times" -f "%U %S" gst-launch-1.0 -q $1 >/dev/null 2>"$dir/gst.log"; then
    echo "gst-launch-1.0 failed:" >&2
    cat "$dir/gst.log" >&2
    exit 1
  fi
  awk '{ printf "%.2f\n", $1 + $2 }' "$times"
}

runs="${OPUS_BENCH_RUNS:-2}"
best() { sort -n | head -n 1; } # least disturbed run
a_opus=$(for _ in $(seq 1 "$runs"); do cpu "$opus_branch"; done | best)
a_aac=$(for _ in $(seq 1 "$runs"); do cpu "$aac_branch"; done | best)
l_aac=$(for _ in $(seq 1 "$runs"); do cpu "$ladder $aac_branch"; done | best)
l_opus=$(for _ in $(seq 1 "$runs"); do cpu "$ladder $opus_branch"; done | best)

awk -v s="$SECONDS_OF_MEDIA" -v ao="$a_opus" -v aa="$a_aac" -v lo="$l_opus" -v la="$l_aac" 'BEGIN {
  printf "audio, %d s of media: Opus→AAC %.2f CPU s (%.1f %% of one core), AAC passthrough %.2f CPU s\n", s, ao, 100 * ao / s, aa
  printf "720p session ladder, %d s: with AAC passthrough %.2f CPU s, with Opus→AAC %.2f CPU s: ratio %.3f (%+.1f %%)\n", s, la, lo, lo / la, 100 * (lo - la) / la
}'
