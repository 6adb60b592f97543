#!/usr/bin/env bash
# Re-records the publisher captures in this folder (run from the repository root after
# `cargo build`): amphi serves RTMP on one loopback port, record.py relays a publisher
# to it and keeps what the publisher sent. Each capture is about 2.5 s of 320x180 video.
set -euo pipefail
here=ingest/src/rtmp/testdata
amphi=${AMPHI:-target/debug/amphi}
data=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$data"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
server=$(free_port)
RUST_LOG=warn "$amphi" serve --no-demo --data-dir "$data" --http 127.0.0.1:0 \
  --rtmp 127.0.0.1:$server --webrtc-udp 127.0.0.1:0 --event capture:capture-key >/dev/null &
sleep 2

record() { # name max_bytes command...
  local name=$1 max=$2 port; shift 2
  port=$(free_port)
  python3 $here/record.py "$port" "$server" "$here/$name.rtmp" "$max" &
  local relay=$!
  sleep 0.5
  URL=rtmp://127.0.0.1:$port/live/capture-key "$@" >/dev/null 2>&1 &
  local publisher=$!
  wait $relay
  kill $publisher 2>/dev/null || true
  wait $publisher 2>/dev/null || true
}

# ffmpeg as the reference publisher (x264 High, GOP 60, AAC-LC).
record ffmpeg-libx264-aac 140000 bash -c 'ffmpeg -hide_banner -nostdin -re \
  -f lavfi -i testsrc2=size=320x180:rate=30 -f lavfi -i sine -t 10 \
  -c:v libx264 -g 60 -c:a aac -f flv "$URL"'
sleep 2
# GStreamer's rtmp2sink (x264enc, avenc_aac, flvmux).
record gstreamer-rtmp2sink-x264-aac 140000 bash -c 'gst-launch-1.0 -q \
  videotestsrc is-live=true pattern=smpte num-buffers=300 \
  ! video/x-raw,format=I420,width=320,height=180,framerate=30/1 \
  ! x264enc tune=zerolatency key-int-max=60 bitrate=300 ! h264parse ! queue ! m. \
  audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample \
  ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! queue ! m. \
  flvmux name=m streamable=true ! rtmp2sink location="$URL"'
sleep 2
# Enhanced RTMP (HEVC, AV1) from the ffmpeg 9 of the test venv's imageio-ffmpeg
# (scripts/install-deps.sh test), as OBS 30+ sends them.
ff9=${AMPHI_ERTMP_FFMPEG:-$("${AMPHI_VENV:-$HOME/.cache/amphi-venv}/bin/python" -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')}
export ff9
record ffmpeg9-libx265-aac 60000 bash -c '"$ff9" -hide_banner -nostdin -re \
  -f lavfi -i testsrc2=size=320x180:rate=30 -f lavfi -i sine -t 10 \
  -c:v libx265 -preset ultrafast -x265-params log-level=error:keyint=30 -b:v 150k \
  -c:a aac -rtmp_enhanced_codecs hvc1,av01 -f flv "$URL"'
sleep 2
record ffmpeg9-libsvtav1-aac 60000 env SVT_LOG=1 bash -c '"$ff9" -hide_banner -nostdin -re \
  -f lavfi -i testsrc2=size=320x180:rate=30 -f lavfi -i sine -t 10 \
  -c:v libsvtav1 -preset 12 -g 30 -b:v 150k \
  -c:a aac -rtmp_enhanced_codecs hvc1,av01 -f flv "$URL"'
ls -l $here/*.rtmp
