#!/usr/bin/env bash
# Installs the Debian packages Amphi needs to build, run and test, only when missing.
# Usage: scripts/install-deps.sh [run|test]
set -euo pipefail
mode="${1:-run}"
pkgs=(pkg-config libssl-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools gstreamer1.0-x fonts-dejavu-core
  ffmpeg)
# Node.js and npm: any install that provides the commands will do.
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
if [ "$mode" = test ] || [ "$mode" = bench ]; then
  pkgs+=(chromium)
  # The RTSP camera stand-in (scripts/rtsp-test-server.py).
  pkgs+=(python3-gi gir1.2-gst-rtsp-server-1.0)
  # Network fault tests: namespaces, tc (scripts/netns.sh).
  pkgs+=(iproute2)
fi
if [ "$mode" = bench ]; then
  pkgs+=(nginx libnginx-mod-rtmp)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# WHIP tests and bench: a Python venv with aiortc (a non-browser WebRTC publisher).
if [ "$mode" = test ] || [ "$mode" = bench ]; then
  venv="${AMPHI_VENV:-$HOME/.cache/amphi-venv}"
  if ! "$venv/bin/python" -c 'import aiortc' >/dev/null 2>&1; then
    echo "creating $venv with aiortc"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'aiortc>=1.9,<2'
  fi
  # Enhanced RTMP tests: an ffmpeg that sends HEVC/AV1 over RTMP (the wheel bundles a
  # static ffmpeg 9 with libx265 and libsvtav1; Debian 12's ffmpeg 5.1 cannot).
  if ! "$venv/bin/python" -c 'import imageio_ffmpeg' >/dev/null 2>&1; then
    echo "adding imageio-ffmpeg to $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'imageio-ffmpeg==0.8.1'
  fi
fi
