#!/usr/bin/env bash
# Scale-out bench: the origin against nginx, and the CDN tier absorbing the audience.
#   (a) requests/s: the origin serving a part from its memory store vs nginx serving the
#       same file from disk (wrk, same connections and duration), and the ratio;
#   (b) origin requests/s while SCALE_STEPS simulated LL-HLS viewers watch through
#       Varnish, SCALE_SECS each, and the growth from the first step;
#   (c) blocking playlist reload wait at the origin (median/p99 from its /metrics
#       histogram) and as viewers see it (amphi-loadgen, direct);
#   (d) latency behind the live edge, through Varnish vs direct.
# Env: SCALE_SECS (60), SCALE_STEPS ("100 2000 5000"), WRK_SECS (10), WRK_CONNS (64),
#      DIRECT_VIEWERS (100), DIRECT_SECS (30), SCALE_PROFILE (release | debug),
#      SCALE_BITRATE (800k: a 360p rendition; at OBS's 4.5 Mb/s, 5000 viewers would need
#      ~22 Gb/s of loopback and the load generator, not the origin, is measured).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE_SECS="${SCALE_SECS:-60}"
SCALE_STEPS="${SCALE_STEPS:-100 2000 5000}"
WRK_SECS="${WRK_SECS:-10}"
WRK_CONNS="${WRK_CONNS:-64}"
DIRECT_VIEWERS="${DIRECT_VIEWERS:-100}"
DIRECT_SECS="${DIRECT_SECS:-30}"
SCALE_BITRATE="${SCALE_BITRATE:-800k}"
KEY=bench-scale-key

command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2 || true
# SCALE_PROFILE=debug reuses the test build (dependencies are optimised in dev too).
SCALE_PROFILE="${SCALE_PROFILE:-release}"
if [ "$SCALE_PROFILE" = release ]; then
  cargo build --release --quiet -p amphi --bin amphi -p amphi-loadgen --bin amphi-loadgen
else
  cargo build --quiet -p amphi --bin amphi -p amphi-loadgen --bin amphi-loadgen
fi
target="${CARGO_TARGET_DIR:-target}"
AMPHI="$target/$SCALE_PROFILE/amphi"
LOADGEN="$target/$SCALE_PROFILE/amphi-loadgen"

tmp="$(mktemp -d /tmp/amphi-scale.XXXXXX)"
chmod 755 "$tmp"
pids=()
cleanup() {
  bash scripts/varnish-test.sh stop "$tmp/varnish" >/dev/null 2>&1 || true
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(free_port); RTMP_PORT=$(free_port); NGINX_PORT=$(free_port); VARNISH_PORT=$(free_port)
ORIGIN="http://127.0.0.1:$HTTP_PORT"

mkdir -p "$tmp/data"
RUST_LOG=warn "$AMPHI" serve --http "127.0.0.1:$HTTP_PORT" --rtmp "127.0.0.1:$RTMP_PORT" --no-demo \
  --data-dir "$tmp/data" --event "lecture:$KEY" >"$tmp/amphi.out" 2>"$tmp/amphi.err" &
pids+=($!)
for _ in $(seq 1 100); do grep -q AMPHI_READY "$tmp/amphi.out" 2>/dev/null && break; sleep 0.2; done
grep -q AMPHI_READY "$tmp/amphi.out" || { cat "$tmp/amphi.err" >&2; exit 1; }

steps=($SCALE_STEPS)
publish_secs=$(( ${#steps[@]} * (SCALE_SECS + 10) + DIRECT_SECS + 2 * WRK_SECS + 90 ))
ffmpeg -hide_banner -loglevel error -nostdin -re \
  -f lavfi -i "testsrc2=size=640x360:rate=30" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
  -t "$publish_secs" -c:v libx264 -preset ultrafast -tune zerolatency -profile:v high \
  -g 60 -keyint_min 60 -sc_threshold 0 -b:v "$SCALE_BITRATE" -maxrate "$SCALE_BITRATE" -bufsize 2M -pix_fmt yuv420p \
  -c:a aac -b:a 128k -ar 48000 -ac 2 -f flv "rtmp://127.0.0.1:$RTMP_PORT/live/$KEY" \
  2>"$tmp/ffmpeg.err" &
pids+=($!)
for _ in $(seq 1 150); do curl -sf "$ORIGIN/live/lecture/master.m3u8" >/dev/null && break; sleep 0.2; done
sleep 6

# Media-request counter and blocking-wait histogram from the origin's /metrics.
origin_requests() {
  curl -sf "$ORIGIN/metrics" | awk '/^amphi_origin_requests_total\{/ && !/kind="other"/ { n += $NF } END { print n + 0 }'
}
wait_quantiles() {
  # Linear interpolation inside cumulative buckets, from two scrapes (before, after).
  python3 - "$1" "$2" <<'PY'
import sys, re
def parse(path):
    b = {}
    for l in open(path):
        m = re.match(r'amphi_origin_blocking_wait_seconds_bucket\{le="([^"]+)"\} (\d+)', l)
        if m: b[float('inf') if m[1] == '+Inf' else float(m[1])] = int(m[2])
    return b
a, z = parse(sys.argv[1]), parse(sys.argv[2])
bounds = sorted(z); counts = [z[k] - a.get(k, 0) for k in bounds]
total = counts[-1]
def q(p):
    if total == 0: return float('nan')
    rank = p * total; lo, prev = 0.0, 0
    for ub, c in zip(bounds, counts):
        if c >= rank:
            if ub == float('inf'): return lo * 1000
            return (lo + (ub - lo) * (rank - prev) / max(c - prev, 1)) * 1000
        lo, prev = ub, c
print(f"{total} {q(0.5):.0f} {q(0.99):.0f}")
PY
}
summary_field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d.get(sys.argv[2], ""))' "$1" "$2"; }
loadgen() { # URL N SECS -> summary JSON on stdout; the loadgen report on stderr
  local out; out="$("$LOADGEN" "$1" -n "$2" -d "$3" --ramp 5 2>&1)" || echo "  (loadgen reported errors)" >&2
  echo "$out" | grep -v '^LOADGEN_SUMMARY' | sed 's/^/    /' >&2
  echo "$out" | sed -n 's/^LOADGEN_SUMMARY //p'
}

# (a) a part from memory (origin) vs the same bytes from disk (nginx).
media_path="$(curl -sf "$ORIGIN/live/lecture/master.m3u8" | grep -v '^#' | head -1)"
part="$(curl -sf "$ORIGIN/live/lecture/$media_path" | sed -n 's/.*EXT-X-PART:.*URI="\([^"]*\)".*/\1/p' | tail -1)"
part_url="$ORIGIN/live/lecture/$(dirname "$media_path")/$part"
mkdir -p "$tmp/www"; curl -sf "$part_url" -o "$tmp/www/part.m4s"; chmod -R a+rX "$tmp/www"
cat >"$tmp/nginx.conf" <<EOF
worker_processes auto;
daemon on;
pid $tmp/nginx.pid;
error_log $tmp/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $tmp/www;
    location / { add_header Cache-Control "public, max-age=31536000, immutable"; }
  }
}
EOF
nginx -c "$tmp/nginx.conf" -p "$tmp" 2>/dev/null || nginx -c "$tmp/nginx.conf"
sleep 0.5
wrk_rps() { wrk -t2 -c"$WRK_CONNS" -d"${WRK_SECS}s" "$1" | tee "$tmp/wrk.out" | awk '/^Requests\/sec:/ { print $2 }'; }
echo "(a) part of $(stat -c %s "$tmp/www/part.m4s") bytes, wrk -t2 -c$WRK_CONNS -d${WRK_SECS}s"
origin_rps=$(wrk_rps "$part_url"); grep -q "Non-2xx" "$tmp/wrk.out" && echo "  origin: some non-2xx answers!"
nginx_rps=$(wrk_rps "http://127.0.0.1:$NGINX_PORT/part.m4s")
python3 -c "import sys; o,n=float(sys.argv[1]),float(sys.argv[2]); print(f'  origin {o:,.0f} req/s, nginx (disk) {n:,.0f} req/s: origin/nginx = {o/n:.2f}')" "$origin_rps" "$nginx_rps"

# (d, direct half) viewers straight at the origin, and (c) its blocking waits.
curl -sf "$ORIGIN/metrics" >"$tmp/m0"
echo "(d) $DIRECT_VIEWERS viewers direct to the origin, ${DIRECT_SECS}s"
direct="$(loadgen "$ORIGIN/live/lecture/master.m3u8" "$DIRECT_VIEWERS" "$DIRECT_SECS")"
curl -sf "$ORIGIN/metrics" >"$tmp/m1"

# (b) through Varnish.
bash scripts/varnish-test.sh start "$tmp/varnish" "$VARNISH_PORT" "$HTTP_PORT" >/dev/null
CDN="http://127.0.0.1:$VARNISH_PORT"
echo "(b) viewers through Varnish, ${SCALE_SECS}s per step"
first_rate=""; first_cdn=""
for n in "${steps[@]}"; do
  before=$(origin_requests); t0=$(date +%s.%N)
  s="$(loadgen "$CDN/live/lecture/master.m3u8" "$n" "$SCALE_SECS")"
  after=$(origin_requests); t1=$(date +%s.%N)
  rate=$(python3 -c "import sys; print(f'{(int(sys.argv[2])-int(sys.argv[1]))/(float(sys.argv[4])-float(sys.argv[3])):.1f}')" "$before" "$after" "$t0" "$t1")
  [ -n "$first_rate" ] || { first_rate=$rate; first_cdn=$s; }
  growth=$(python3 -c "import sys; print(f'{(float(sys.argv[2])/float(sys.argv[1])-1)*100:+.1f}')" "$first_rate" "$rate")
  echo "  $n viewers: origin $rate media req/s (growth vs ${steps[0]}: $growth %), viewers made $(summary_field "$s" requests) requests, $(summary_field "$s" viewers_with_errors) viewers with errors"
done

read -r waits wait_p50 wait_p99 <<<"$(wait_quantiles "$tmp/m0" "$tmp/m1")"
echo "(c) blocking reload wait, $DIRECT_VIEWERS viewers direct: origin histogram ($waits reloads) median ${wait_p50} ms, p99 ${wait_p99} ms;" \
  "viewer-side median $(python3 -c 'import json,sys; d=json.loads(sys.argv[1])["by_kind"]["blocking"]; print("%.0f ms, p99 %.0f ms" % (d["p50_ms"], d["p99_ms"]))' "$direct")" \
  "(includes waiting for the part to be produced: at most one part, ~334 ms)"
echo "(d) behind the live edge (now - PDT of each part received), ${steps[0]} viewers:" \
  "through Varnish p50 $(summary_field "$first_cdn" behind_p50_ms) ms / p99 $(summary_field "$first_cdn" behind_p99_ms) ms;" \
  "direct p50 $(summary_field "$direct" behind_p50_ms) ms / p99 $(summary_field "$direct" behind_p99_ms) ms"
