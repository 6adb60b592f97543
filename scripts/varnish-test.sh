#!/usr/bin/env bash
# Throwaway Varnish for tests and benches, in front of Amphi origins on loopback.
# Usage: scripts/varnish-test.sh start DIR PORT BACKEND_PORT [BACKEND_PORT...]
#          # prints the base URL, e.g. http://127.0.0.1:6081
#        scripts/varnish-test.sh stop DIR
# Installs the Debian `varnish` package when varnishd is missing. Runs varnishd as the
# current user (`-j none`), work dir DIR, VCL generated from infra/varnish/amphi.vcl
# with one backend per BACKEND_PORT in the round-robin director.
set -euo pipefail
cmd="${1:-}"; dir="${2:-}"
usage() { echo "usage: $0 start DIR PORT BACKEND_PORT [BACKEND_PORT...] | stop DIR" >&2; exit 2; }
[ -n "$cmd" ] && [ -n "$dir" ] || usage
root="$(cd "$(dirname "$0")/.." && pwd)"

install_varnish() {
  command -v varnishd >/dev/null 2>&1 && return 0
  [ -x /usr/sbin/varnishd ] && return 0
  echo "installing varnish" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq varnish >&2
  # The package's own instance (port 6081) is not ours: stop it where it started.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl stop varnish >/dev/null 2>&1 || true
  fi
}

# The VCL with the BEGIN/END BACKENDS and DIRECTOR blocks replaced.
generate_vcl() {
  local backends="" director="" i=0
  for p in "$@"; do
    i=$((i + 1))
    backends+="backend origin$i {
    .host = \"127.0.0.1\"; .port = \"$p\";
    .probe = healthz;
    .connect_timeout = 1s;
    .first_byte_timeout = 10s;
    .between_bytes_timeout = 10s;
}
"
    director+="    origins.add_backend(origin$i);
"
  done
  BACKENDS="$backends" DIRECTOR="$director" awk '
    /# BEGIN BACKENDS/ { print; printf "%s", ENVIRON["BACKENDS"]; skip = 1; next }
    /# END BACKENDS/   { skip = 0 }
    /# BEGIN DIRECTOR/ { print; printf "%s", ENVIRON["DIRECTOR"]; skip = 1; next }
    /# END DIRECTOR/   { skip = 0 }
    !skip { print }
  ' "$root/infra/varnish/amphi.vcl"
}

case "$cmd" in
  start)
    port="${3:-}"; shift 3 || usage
    [ -n "$port" ] && [ "$#" -ge 1 ] || usage
    install_varnish
    varnishd="$(command -v varnishd || echo /usr/sbin/varnishd)"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    generate_vcl "$@" >"$dir/amphi.vcl"
    # Stop a previous instance in the same dir.
    if [ -f "$dir/varnishd.pid" ]; then kill "$(cat "$dir/varnishd.pid")" 2>/dev/null || true; sleep 0.5; fi
    "$varnishd" -j none -n "$dir/work" -a "127.0.0.1:$port" -f "$dir/amphi.vcl" \
      -P "$dir/varnishd.pid" -T none -s malloc,512m \
      -p thread_pool_min=200 -p thread_pool_max=5000 -p default_grace=0 \
      >"$dir/varnishd.log" 2>&1 || { cat "$dir/varnishd.log" >&2; exit 1; }
    for _ in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "http://127.0.0.1:$port"; exit 0
      fi
      sleep 0.1
    done
    echo "varnishd did not listen on $port" >&2; cat "$dir/varnishd.log" >&2; exit 1
    ;;
  stop)
    [ -f "$dir/varnishd.pid" ] || exit 0
    pid="$(cat "$dir/varnishd.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/varnishd.pid"
    ;;
  *) usage ;;
esac
