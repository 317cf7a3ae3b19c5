#!/usr/bin/env bash
# Shared by run.sh and test.sh: the Debian/Ubuntu packages, then .venv with the Python packages.
# Usage: source scripts/setup.sh EXTRA   (EXTRA: "" for the app, "dev" for tests and training)
set -euo pipefail

packages=(python3-venv libportaudio2 libsndfile1 libegl1 libgl1 libxkbcommon0 libfontconfig1
          libdbus-1-3 libxcb-cursor0 pulseaudio pulseaudio-utils libasound2-plugins)
if [ "${1:-}" = dev ]; then  # the tests' X server, and what Qt's X11 (xcb) platform loads
  packages+=(xvfb libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
             libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1)
fi
missing=$(dpkg-query -W -f='${Status} ${Package}\n' "${packages[@]}" 2>&1 \
          | grep -v "^install ok installed" || true)
if [ -n "$missing" ] && command -v apt-get >/dev/null; then
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${1:+[$1]}"
