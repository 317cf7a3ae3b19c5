#!/usr/bin/env bash
# The README's test command: installs what the tests need (Debian/Ubuntu packages, then Python
# packages into .venv) and runs lint, type checks and every test. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libportaudio2 libsndfile1 pulseaudio pulseaudio-utils libasound2-plugins
          libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 python3-venv)
missing=$(dpkg-query -W -f='${Status} ${Package}\n' "${packages[@]}" 2>&1 | grep -v "^install ok installed" || true)
if [ -n "$missing" ] && command -v apt-get >/dev/null; then
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
