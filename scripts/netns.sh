#!/usr/bin/env bash
# A publisher's network, emulated on this machine: a network namespace joined to the
# root namespace by a point-to-point link whose faults tests switch on and off.
#
#   scripts/netns.sh up              create the namespace and the link (idempotent)
#   scripts/netns.sh fault loss-jitter [LOSS% DELAY_MS JITTER_MS]   default 2 50 100
#   scripts/netns.sh fault cut       the publisher's link goes down (Wi-Fi lost)
#   scripts/netns.sh fault cap KBIT  the publisher's uplink capped (token bucket)
#   scripts/netns.sh fault cap-down KBIT   the namespace's downlink capped (a viewer's)
#   scripts/netns.sh clear           every fault removed, the link up
#   scripts/netns.sh exec CMD...     run CMD inside the namespace
#   scripts/netns.sh down            remove everything (safe to call twice)
#
# Addresses: root side 10.213.0.1/30, namespace side 10.213.0.2/30; these exist only
# inside the namespace pair this script creates. Needs root (CI runs as root).
#
# Loss and jitter use `tc qdisc ... netem` on both ends when the kernel has sch_netem;
# kernels without it (this project's CI VMs) get the same fault from
# scripts/link-emulator.py, a user-space link between two TUN devices. Caps use tc's
# token bucket filter and cuts `ip link set down`, both in the kernel.
set -euo pipefail
NS="${AMPHI_NETNS:-amphi-pub}"
ROOT_DEV="${NS}-r"   # device names are at most 15 characters
NS_DEV="${NS}-n"
ROOT_IP=10.213.0.1
NS_IP=10.213.0.2
RUN="/run/amphi-netns/$NS"
here="$(cd "$(dirname "$0")" && pwd)"

die() { echo "netns.sh: $*" >&2; exit 1; }
nsdo() { ip netns exec "$NS" "$@"; }

down() {
  if [ -f "$RUN/pid" ]; then
    pid="$(cat "$RUN/pid")"
    # The link's counters, for the record.
    if [ -p "$RUN/control" ] && kill -0 "$pid" 2>/dev/null; then
      echo stats >"$RUN/control"
      sleep 0.2
      cat "$RUN/emulator.log" >&2
    fi
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
  ip link del "$ROOT_DEV" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$RUN"
}

has_netem() {
  tc qdisc add dev "$ROOT_DEV" root netem delay 0ms 2>/dev/null || return 1
  tc qdisc del dev "$ROOT_DEV" root 2>/dev/null || true
}

up() {
  [ "$(id -u)" -eq 0 ] || die "needs root"
  command -v ip >/dev/null && command -v tc >/dev/null || die "iproute2 (ip, tc) is missing"
  down
  mkdir -p "$RUN"
  ip netns add "$NS"
  nsdo ip link set lo up
  mkfifo "$RUN/control"
  python3 "$here/link-emulator.py" --a "$ROOT_DEV" --b "$NS_DEV" \
    --control "$RUN/control" --ready "$RUN/pid" >"$RUN/emulator.log" 2>&1 &
  for _ in $(seq 100); do [ -s "$RUN/pid" ] && break; sleep 0.05; done
  [ -s "$RUN/pid" ] || { cat "$RUN/emulator.log" >&2; down; die "link emulator did not start"; }
  ip link set "$NS_DEV" netns "$NS"
  ip addr add "$ROOT_IP/30" dev "$ROOT_DEV"
  ip link set "$ROOT_DEV" up
  nsdo ip addr add "$NS_IP/30" dev "$NS_DEV"
  nsdo ip link set "$NS_DEV" up
  if has_netem; then echo netem >"$RUN/loss-by"; else echo emulator >"$RUN/loss-by"; fi
  echo "netns.sh: $NS up ($NS_IP -> $ROOT_IP, loss and jitter by $(cat "$RUN/loss-by"))" >&2
}

control() { echo "$*" >"$RUN/control"; }

clear_faults() {
  tc qdisc del dev "$ROOT_DEV" root 2>/dev/null || true
  nsdo tc qdisc del dev "$NS_DEV" root 2>/dev/null || true
  control clear
  nsdo ip link set "$NS_DEV" up
}

fault() {
  [ -d "$RUN" ] || die "$NS is not up"
  case "${1:-}" in
    loss-jitter)
      loss="${2:-2}" delay="${3:-50}" jitter="${4:-100}"
      if [ "$(cat "$RUN/loss-by")" = netem ]; then
        tc qdisc replace dev "$ROOT_DEV" root netem loss "$loss%" delay "${delay}ms" "${jitter}ms"
        nsdo tc qdisc replace dev "$NS_DEV" root netem loss "$loss%" delay "${delay}ms" "${jitter}ms"
      else
        control "set loss=$(awk "BEGIN{print $loss/100}") delay=$(awk "BEGIN{print $delay/1000}") jitter=$(awk "BEGIN{print $jitter/1000}")"
      fi ;;
    cut)
      nsdo ip link set "$NS_DEV" down ;;
    cap)
      kbit="${2:?cap needs a rate in kbit/s}"
      nsdo tc qdisc replace dev "$NS_DEV" root tbf rate "${kbit}kbit" burst 32kbit latency 400ms ;;
    cap-down)
      kbit="${2:?cap-down needs a rate in kbit/s}"
      tc qdisc replace dev "$ROOT_DEV" root tbf rate "${kbit}kbit" burst 32kbit latency 400ms ;;
    *) die "unknown fault '${1:-}' (loss-jitter, cut, cap, cap-down)" ;;
  esac
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  fault) shift; fault "$@" ;;
  clear) clear_faults ;;
  exec) shift; exec ip netns exec "$NS" "$@" ;;
  *) die "usage: $0 up|down|fault NAME [ARGS]|clear|exec CMD..." ;;
esac
