#!/bin/sh
# Puts Emotion Meter in your applications menu (for you only: no administrator rights needed).
#
#   ./install.sh              add the menu entry for the app in this folder
#   ./install.sh --uninstall  remove the menu entry again (then delete this folder if you like)
#
# The entry points at this folder: if you move the folder, run ./install.sh again.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
apps=$data/applications
icons=$data/icons/hicolor/256x256/apps
entry=$apps/emotion-meter.desktop
icon=$icons/emotion-meter.png

refresh_menu() {  # some desktops only notice new entries once their database is updated
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q "$apps" || true
    fi
}

if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$entry" "$icon"
    refresh_menu
    echo "Emotion Meter is no longer in your applications menu."
    exit 0
fi
if [ ! -x "$here/EmotionMeter" ] || [ ! -f "$here/emotion-meter.desktop" ]; then
    echo "install.sh must stay in the unpacked EmotionMeter folder, next to EmotionMeter." >&2
    exit 1
fi

# Desktop-entry escaping: inside Exec's quotes \ " ` $ take a backslash and % doubles, then
# every value's backslashes double.
quote_exec() { printf '%s' "$1" | sed -e 's/[\\"`$]/\\&/g' -e 's/\\/\\\\/g' -e 's/%/%%/g'; }
quote() { printf '%s' "$1" | sed -e 's/\\/\\\\/g'; }

mkdir -p "$apps" "$icons"
cp "$here/emotion-meter.png" "$icon"
while IFS= read -r line; do
    case $line in
        Exec=*) printf 'Exec="%s" %%F\n' "$(quote_exec "$here/EmotionMeter")" ;;
        TryExec=*) printf 'TryExec=%s\n' "$(quote "$here/EmotionMeter")" ;;
        Icon=*) printf 'Icon=%s\n' "$(quote "$icon")" ;;
        *) printf '%s\n' "$line" ;;
    esac
done <"$here/emotion-meter.desktop" >"$entry.tmp"
mv "$entry.tmp" "$entry"
refresh_menu
echo "Emotion Meter is now in your applications menu (look for \"Emotion Meter\")."

# The microphone needs the system's PortAudio library.
if ! { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q 'libportaudio\.so\.2'; then
    echo "To use a microphone, also install PortAudio, e.g. on Debian/Ubuntu:"
    echo "    sudo apt install libportaudio2"
fi
