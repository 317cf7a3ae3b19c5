"""The installer: ``python -m app.build`` freezes the app with ``build.spec``; the frozen app runs
without Python, agrees with the source, stays small and leaves the training stack out."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.data import some_clips
from tests.signals import needs_proc, wait_for_handler

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[1]
NAME = "EmotionMeter"
MODEL = ROOT / "assets" / "model"
FOLDER_LIMIT = 300 * 10**6  # bytes
START_LIMIT = 3.0  # seconds, median --self-test run
GUI_SECONDS = 5.0  # how long the frozen window must stay up
FORBIDDEN = re.compile(
    r"(^|/)(tensorflow|keras|tflite|tf_keras|librosa|numba|llvmlite|scipy|sklearn|matplotlib"
    r"|pandas|opensmile|IPython|tkinter)(/|$)|emotion\.keras$|libQt6(WebEngine|Quick|Qml|Pdf)"
)
SELF_TEST = re.compile(r"^self-test: (?P<name>.+): (?P<label>\S+) \((?P<percent>\d+)%\)$", re.M)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m app.build`` once for the module, into a temporary dist/work pair."""
    if not (MODEL / "emotion.json").is_file() or not (MODEL / "emotion.tflite").is_file():
        pytest.skip("no model bundle in assets/model yet: the installer ships the trained model")
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.skip("PyInstaller is not installed (the dev extra)")
    out = tmp_path_factory.mktemp("installer")
    env = {k: v for k, v in os.environ.items() if k != "EMOTION_METER_BUILD_MODEL"}
    build = subprocess.run(
        [sys.executable, "-m", "app.build", "--distpath", str(out / "dist"),
         "--workpath", str(out / "work")],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    return out / "dist"


@pytest.fixture(scope="module")
def folder(dist: Path) -> Path:
    return dist / NAME


@pytest.fixture(scope="module")
def exe(folder: Path) -> Path:
    path = folder / (NAME + ".exe" if sys.platform == "win32" else NAME)
    assert path.is_file()
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Headless, with its own home (settings), and nothing that points into the source tree."""
    drop = {"EMOTION_METER_MODEL", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    e = {k: v for k, v in os.environ.items() if k not in drop}
    home = tmp_path / "home"
    home.mkdir()
    e.update(
        QT_QPA_PLATFORM="offscreen",
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
    )
    return e


@pytest.fixture(scope="module")
def clip() -> tuple[Path, dict]:
    """A real clip with speech, and what the source (``python -m app analyze``) says of it."""
    clips = some_clips("ravdess", 5) + some_clips("emodb", 5)
    if not clips:
        pytest.skip("no clips in the corpora")
    out = subprocess.run(
        [sys.executable, "-m", "app", "analyze", *map(str, clips), "--json", "--model", str(MODEL)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "EMOTION_METER_MODEL"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    for result in json.loads(out.stdout):
        if result["emotion"] is not None:
            return Path(result["file"]), result
    pytest.skip("none of the clips has speech")


def self_test(exe: Path, env: dict[str, str], *args: str) -> re.Match[str]:
    run = subprocess.run(
        [str(exe), "--self-test", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    found = SELF_TEST.search(run.stdout)
    assert found, run.stdout
    return found


def test_frozen_app_agrees_with_the_source(exe: Path, env: dict[str, str], clip) -> None:
    path, expected = clip
    found = self_test(exe, env, str(path))
    assert found["name"] == path.name
    assert found["label"] == expected["emotion"]
    assert abs(int(found["percent"]) - 100 * max(expected["probabilities"])) <= 1


def test_frozen_app_runs_its_bundled_sample_quickly(exe: Path, env: dict[str, str]) -> None:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        found = self_test(exe, env)
        times.append(time.perf_counter() - start)
    assert found["name"] == "sample.flac"
    assert statistics.median(times) < START_LIMIT, times


def test_folder_is_small_and_carries_no_training_stack(folder: Path) -> None:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    size = sum(p.stat().st_size for p in files)
    assert size < FOLDER_LIMIT, f"{size / 1e6:.0f} MB"
    names = [p.relative_to(folder).as_posix() for p in folder.rglob("*")]
    assert not [n for n in names if FORBIDDEN.search(n)]
    assets = folder / "_internal" / "assets"
    shipped = [f"model/{p.name}" for p in MODEL.glob("*.tflite")]  # and the encoder's, if own
    for name in ("model/emotion.json", *shipped, "samples/sample.flac"):
        assert (assets / name).is_file(), name
    assert not list(folder.rglob("*.qm")), "Qt translations are not used"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux archive")
def test_linux_archive_installs_a_menu_entry(dist: Path, folder: Path, tmp_path: Path) -> None:
    archive = dist / f"{NAME}-linux-x86_64.tar.gz"
    if not archive.is_file():
        pytest.skip(f"{archive.name} is built on x86_64 only")
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
    for name in (NAME, "install.sh", "emotion-meter.desktop", "emotion-meter.png"):
        assert f"{NAME}/{name}" in members, name
    assert members[f"{NAME}/{NAME}"].mode & 0o111 and members[f"{NAME}/install.sh"].mode & 0o111

    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home)}
    env.pop("XDG_DATA_HOME", None)
    run = subprocess.run([str(folder / "install.sh")], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    entry = home / ".local" / "share" / "applications" / "emotion-meter.desktop"
    text = entry.read_text()
    assert f'Exec="{folder / NAME}" %F' in text
    icon = re.search(r"^Icon=(.+)$", text, re.M)
    assert icon and Path(icon[1]).is_file()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", entry], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    undo = subprocess.run([str(folder / "install.sh"), "--uninstall"], env=env)
    assert undo.returncode == 0 and not entry.exists()


def _start_gui(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    gui = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_handler(gui, signal.SIGTERM)  # the window is up: run() installs it at the end
    deadline = time.monotonic() + GUI_SECONDS
    while time.monotonic() < deadline and gui.poll() is None:
        time.sleep(0.1)
    if gui.poll() is not None:
        out, err = gui.communicate()
        pytest.fail(f"the frozen GUI exited at once with {gui.returncode}:\n{out}\n{err}")
    return gui


def _terminate(gui: subprocess.Popen[str]) -> tuple[int, str]:
    gui.send_signal(signal.SIGTERM)
    try:
        _, err = gui.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        gui.kill()
        _, err = gui.communicate()
        pytest.fail(f"the frozen GUI did not quit within 20 s of SIGTERM:\n{err}")
    assert "Traceback" not in err, err
    return gui.returncode, err


@needs_proc
def test_frozen_gui_starts_and_quits_cleanly(exe: Path, env: dict[str, str], clip) -> None:
    gui = _start_gui([str(exe), str(clip[0])], env)
    code, err = _terminate(gui)
    assert code == 0, err


def _system_portaudio() -> Path | None:
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True).stdout
    except OSError:
        return None
    found = re.search(r"libportaudio\.so\.2 .*=> (\S+)", out)
    return Path(found[1]).resolve() if found else None


@needs_proc
def test_frozen_gui_without_portaudio_keeps_running(exe: Path, env: dict[str, str]) -> None:
    """Linux uses the system's PortAudio; without it the window says so instead of crashing.

    The library is hidden by a bind mount in a private mount namespace (root only)."""
    lib = _system_portaudio()
    if lib is None:
        pytest.skip("no system PortAudio to hide (nothing to compare with)")
    if (
        shutil.which("unshare") is None
        or subprocess.run(
            ["unshare", "-m", "mount", "--bind", "/dev/null", str(lib)], capture_output=True
        ).returncode
    ):
        pytest.skip("cannot hide PortAudio here (needs root and mount namespaces)")
    script = 'mount --bind /dev/null "$1" && exec "$2"'
    gui = _start_gui(["unshare", "-m", "sh", "-c", script, "sh", str(lib), str(exe)], env)
    code, err = _terminate(gui)
    assert code == 0, err
