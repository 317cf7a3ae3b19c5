#!/usr/bin/env bash
# The README's first command: install Emotion Meter into .venv and start it. Without a display
# it does its main job headless instead: analyse the bundled sample clip and print the result.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh ""
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  exec .venv/bin/emotion-meter "$@"
fi
echo "No display: analysing the bundled sample instead (emotion-meter analyze FILE for yours)."
exec .venv/bin/emotion-meter analyze assets/samples/sample.flac "$@"
