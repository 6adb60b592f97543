#!/usr/bin/env bash
# Throwaway S3-compatible server for tests: moto (from PyPI) on loopback.
# Usage: scripts/s3-test-server.sh start DIR PORT [BUCKET]   # prints the endpoint URL
#        scripts/s3-test-server.sh stop  DIR PORT
# Listens on 127.0.0.1:PORT only; keeps objects in memory (lost when it stops); accepts
# any credentials (tests use AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test).
# With BUCKET, creates that bucket. DIR holds moto.pid and moto.log.
set -euo pipefail
cmd="${1:-}"; dir="${2:-}"; port="${3:-}"; bucket="${4:-}"
if [ -z "$cmd" ] || [ -z "$dir" ] || [ -z "$port" ]; then
  echo "usage: $0 start|stop DIR PORT [BUCKET]" >&2; exit 2
fi
py="${PYTHON:-python3}"
endpoint="http://127.0.0.1:$port"

install_moto() {
  "$py" -c 'import moto.server, flask' >/dev/null 2>&1 && return 0
  echo "installing moto[server] from PyPI" >&2
  "$py" -m pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6' >&2
}

# Plain HTTP without curl: moto accepts unsigned requests.
http() { # METHOD URL -> status code
  "$py" - "$1" "$2" <<'PY'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[2], method=sys.argv[1], data=b"" if sys.argv[1] == "PUT" else None)
try:
    print(urllib.request.urlopen(req, timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print(0)
PY
}

case "$cmd" in
  start)
    install_moto
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [ -f "$dir/moto.pid" ] && kill -0 "$(cat "$dir/moto.pid")" 2>/dev/null; then
      echo "already running (pid $(cat "$dir/moto.pid"))" >&2
    else
      nohup "$py" -m moto.server -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
      echo $! >"$dir/moto.pid"
    fi
    for _ in $(seq 1 100); do
      [ "$(http GET "$endpoint/moto-api/data.json")" = 200 ] && break
      kill -0 "$(cat "$dir/moto.pid")" 2>/dev/null || { cat "$dir/moto.log" >&2; exit 1; }
      sleep 0.1
    done
    [ "$(http GET "$endpoint/moto-api/data.json")" = 200 ] || { echo "moto did not start" >&2; cat "$dir/moto.log" >&2; exit 1; }
    if [ -n "$bucket" ]; then
      code="$(http PUT "$endpoint/$bucket")"
      case "$code" in 200|409) ;; *) echo "creating bucket $bucket: HTTP $code" >&2; exit 1 ;; esac
    fi
    echo "$endpoint"
    ;;
  stop)
    [ -f "$dir/moto.pid" ] || exit 0
    pid="$(cat "$dir/moto.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/moto.pid"
    ;;
  *) echo "usage: $0 start|stop DIR PORT [BUCKET]" >&2; exit 2 ;;
esac
