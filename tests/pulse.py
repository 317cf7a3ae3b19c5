"""The tests' own PulseAudio daemon with a virtual microphone, so the real audio path (PortAudio,
ALSA's pulse plugin, sounddevice, our callback) can be tested on a machine with no sound card.

A null sink ``vmic`` is the default source (its monitor); ``paplay --device=vmic`` speaks into
it. A loopback from ``vmic.monitor`` into a second null sink keeps the monitor read steadily:
without such a reader the null sink hands out audio in 2 s bursts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.audio import sources

START_TIMEOUT = 10.0


@dataclass(frozen=True)
class VirtualMicrophone:
    server: str
    env: dict[str, str]

    def play(self, clip: Path) -> subprocess.Popen[bytes]:
        """Start speaking ``clip`` into the microphone; the caller waits for it."""
        return subprocess.Popen(
            ["paplay", "--device=vmic", str(clip)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )


def _pactl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pactl", *args], env=env, capture_output=True, text=True, timeout=10, check=False
    )


@contextmanager
def virtual_microphone(root: Path) -> Iterator[VirtualMicrophone]:
    """A private PulseAudio daemon under ``root``; this process's PortAudio sees it while open."""
    missing = [p for p in ("pulseaudio", "pactl", "paplay") if shutil.which(p) is None]
    if missing:
        pytest.skip(
            f"pulseaudio is not installed ({', '.join(missing)} missing): "
            "apt install pulseaudio pulseaudio-utils libasound2-plugins"
        )
    runtime = root / "pulse"
    runtime.mkdir(parents=True, exist_ok=True)
    socket = runtime / "native"
    server = f"unix:{socket}"
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(runtime),
        "PULSE_RUNTIME_PATH": str(runtime),
        "PULSE_STATE_PATH": str(runtime / "state"),
        "XDG_CONFIG_HOME": str(runtime / "config"),
        "HOME": str(runtime),
    }
    log = (runtime / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [
            "pulseaudio",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--system=false",
            "--disallow-exit",
            "-n",  # no default configuration: only the modules below
            "--resample-method=soxr-vhq",  # the clip should reach the app as close as it can
            f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1",
            "--load=module-null-sink sink_name=vmic",
            "--load=module-null-sink sink_name=drain",
            "--load=module-loopback source=vmic.monitor sink=drain",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = {**env, "PULSE_SERVER": server}
    previous = os.environ.get("PULSE_SERVER")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while _pactl(client, "info").returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the test PulseAudio did not start: {(runtime / 'daemon.log').read_text()}"
                )
            time.sleep(0.1)
        _pactl(client, "set-default-source", "vmic.monitor")
        _pactl(client, "set-default-sink", "drain")
        os.environ["PULSE_SERVER"] = server
        sources.rescan()  # PortAudio lists devices once: make it look again
        yield VirtualMicrophone(server, client)
    finally:
        if previous is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = previous
        daemon.terminate()
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        sources.rescan()
