#!/usr/bin/env bash
# WHIP ingest bench: time from `POST /whip/{event}` to the first LL-HLS part listed in
# a media playlist (goal < 2.5 s), and how late each new part is listed compared with
# its end on EXT-X-PROGRAM-DATE-TIME (the server's share of glass-to-glass: arrival of
# the media at ingest → part available). Publisher: aiortc (H.264 + Opus, 640x360).
# Baseline in the same run: an ffmpeg RTMP publisher (OBS-like, 2 s GOP), from its
# start to the first part.
#
# Usage: bash bench/whip.sh   (AMPHI_BIN, WHIP_BENCH_RUNS=3, WHIP_BENCH_SECONDS=20)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${AMPHI_BIN:-target/release/amphi}"
runs="${WHIP_BENCH_RUNS:-3}"
seconds="${WHIP_BENCH_SECONDS:-20}"
py="${AMPHI_VENV:-$HOME/.cache/amphi-venv}/bin/python"
[ -x "$bin" ] || { echo "missing $bin (cargo build --release)"; exit 1; }
[ -x "$py" ] || { echo "missing $py (scripts/install-deps.sh bench)"; exit 1; }

work="$(mktemp -d)"
amphi_pid=""
pub_pid=""
cleanup() {
  [ -n "$pub_pid" ] && kill "$pub_pid" 2>/dev/null || true
  [ -n "$amphi_pid" ] && kill "$amphi_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start_amphi() { # fresh data dir, ephemeral ports; sets $http and $rtmp
  rm -rf "$work/data" && mkdir -p "$work/data"
  : > "$work/out"
  RUST_LOG=warn "$bin" serve --http 127.0.0.1:0 --rtmp 127.0.0.1:0 --webrtc-udp 127.0.0.1:0 \
    --no-demo --data-dir "$work/data" --event lecture:benchkey >"$work/out" 2>"$work/err" &
  amphi_pid=$!
  for _ in $(seq 200); do
    grep -q '^AMPHI_READY' "$work/out" && break
    sleep 0.05
  done
  line="$(grep '^AMPHI_READY' "$work/out")"
  http="$(sed -E 's/.* http=([^ ]+).*/\1/' <<<"$line")"
  rtmp="$(sed -E 's/.* rtmp=([^ ]+).*/\1/' <<<"$line")"
}
stop_amphi() {
  kill "$amphi_pid" 2>/dev/null || true
  wait "$amphi_pid" 2>/dev/null || true
  amphi_pid=""
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }
now_ms() { date +%s%3N; }

first=()
edge=()
for i in $(seq "$runs"); do
  start_amphi
  "$py" tests/whip/publish.py "$http/whip/lecture" benchkey --seconds "$seconds" \
    --watch "$http/live/lecture/master.m3u8" >"$work/pub" 2>"$work/pub.err" || true
  f="$(awk '/^WHIP_FIRST_PART/ {print $2}' "$work/pub")"
  e="$(awk '/^WHIP_EDGE_DELAY/ {print $2}' "$work/pub")"
  c="$(awk '/^WHIP_CONNECTED/ {print $2}' "$work/pub")"
  echo "  whip run $i: connected ${c:-?} ms, first part ${f:-?} ms after POST, new parts listed ${e:-?} ms after their PDT end (median)"
  [ -n "$f" ] && [ "$f" != none ] && first+=("$f")
  [ -n "$e" ] && edge+=("$e")
  stop_amphi
done

rtmp_first=()
for i in $(seq "$runs"); do
  start_amphi
  t0="$(now_ms)"
  ffmpeg -hide_banner -loglevel error -nostdin -re -f lavfi -i testsrc2=size=640x360:rate=30 \
    -f lavfi -i sine=frequency=440:sample_rate=48000 -t "$seconds" \
    -c:v libx264 -preset ultrafast -tune zerolatency -g 60 -keyint_min 60 -sc_threshold 0 \
    -b:v 1000k -pix_fmt yuv420p -c:a aac -b:a 128k -ar 48000 -f flv "$rtmp/benchkey" &
  pub_pid=$!
  got=""
  while [ -z "$got" ] && [ $(( $(now_ms) - t0 )) -lt 15000 ]; do
    if curl -sf "$http/live/lecture/360p/index.m3u8" 2>/dev/null | grep -q '#EXT-X-PART:'; then
      got=$(( $(now_ms) - t0 ))
    else
      sleep 0.02
    fi
  done
  echo "  rtmp run $i: first part ${got:-none} ms after the publisher started"
  [ -n "$got" ] && rtmp_first+=("$got")
  kill "$pub_pid" 2>/dev/null || true
  wait "$pub_pid" 2>/dev/null || true
  pub_pid=""
  stop_amphi
done

echo "WHIP POST → first part: median $(printf '%s\n' "${first[@]}" | median) ms over ${#first[@]} runs (goal < 2500 ms)"
echo "WHIP part listed after its PDT end: median $(printf '%s\n' "${edge[@]}" | median) ms"
echo "RTMP (ffmpeg) start → first part: median $(printf '%s\n' "${rtmp_first[@]}" | median) ms (baseline)"
