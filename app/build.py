"""``python -m app.build``: the installer in one command.

Runs PyInstaller on ``build.spec`` (the one-folder app ``dist/EmotionMeter/``), puts the
desktop-integration files next to the program, and packs what a user downloads:

- Linux: ``dist/EmotionMeter-linux-x86_64.tar.gz``: the ``EmotionMeter`` folder with
  ``install.sh`` (menu entry in ``~/.local/share/applications``), ``emotion-meter.desktop``
  and ``emotion-meter.png``;
- Windows: ``dist/EmotionMeter-windows-x86_64.zip`` (the folder);
- macOS: ``dist/EmotionMeter-macos-<arch>.zip`` (``EmotionMeter.app``, made with ``ditto``
  so that the app's symbolic links survive).

It needs the ``dev`` extra (PyInstaller) and a model bundle in ``assets/model``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = "EmotionMeter"
SPEC = ROOT / "build.spec"
PACKAGING = ROOT / "packaging"
ICON = ROOT / "assets" / "icons" / "emotion-meter.png"
MODEL_FILES = ("emotion.json", "emotion.tflite")  # what the app needs of a model bundle
LINUX_EXTRAS = (  # (source, name in the folder, executable)
    (PACKAGING / "install.sh", "install.sh", True),
    (PACKAGING / "emotion-meter.desktop", "emotion-meter.desktop", False),
    (ICON, "emotion-meter.png", False),
)


def system_name() -> str:
    names = {"win32": "windows", "darwin": "macos"}
    return names.get(sys.platform, sys.platform.rstrip("0123456789"))


def machine() -> str:
    m = platform.machine().lower()
    return {"amd64": "x86_64", "aarch64": "arm64"}.get(m, m)


def archive_name() -> str:
    suffix = ".tar.gz" if sys.platform.startswith("linux") else ".zip"
    return f"{NAME}-{system_name()}-{machine()}{suffix}"


def pyinstaller(distpath: Path, workpath: Path, clean: bool) -> None:
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN"]
    cmd += ["--distpath", str(distpath), "--workpath", str(workpath)]
    if clean:
        cmd.append("--clean")
    subprocess.run([*cmd, str(SPEC)], check=True, cwd=ROOT)


def add_linux_extras(folder: Path) -> None:
    for src, name, executable in LINUX_EXTRAS:
        dest = folder / name
        shutil.copyfile(src, dest)
        dest.chmod(0o755 if executable else 0o644)


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if not info.issym():
        info.mode = 0o755 if info.isdir() or info.mode & 0o100 else 0o644
    return info


def make_tarball(folder: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        tar.add(folder, arcname=folder.name, filter=_normalised)


def make_zip(path: Path, archive: Path) -> None:
    if sys.platform == "darwin":  # keeps the .app's symbolic links and attributes
        subprocess.run(["ditto", "-c", "-k", "--keepParent", str(path), str(archive)], check=True)
        return
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(path.rglob("*")):
            z.write(p, p.relative_to(path.parent))


def folder_size(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.build", description=__doc__.split("\n")[0])
    p.add_argument("--distpath", type=Path, default=ROOT / "dist", help="default: dist/")
    p.add_argument("--workpath", type=Path, default=ROOT / "build", help="default: build/")
    p.add_argument("--model", type=Path, help="model bundle to ship (default: assets/model)")
    p.add_argument("--clean", action="store_true", help="rebuild PyInstaller's cache too")
    p.add_argument("--no-archive", action="store_true", help="only the folder, no archive")
    args = p.parse_args(argv)
    if args.model is not None:
        os.environ["EMOTION_METER_BUILD_MODEL"] = str(args.model.resolve())
    model = Path(os.environ.get("EMOTION_METER_BUILD_MODEL") or ROOT / "assets" / "model")
    missing = [f for f in MODEL_FILES if not (model / f).is_file()]
    if missing:
        print(
            f"error: no model to ship: {model} lacks {' and '.join(missing)}. Train one "
            "(README, 'Train the model') or name a bundle folder with --model DIR.",
            file=sys.stderr,
        )
        return 2
    distpath, workpath = args.distpath.resolve(), args.workpath.resolve()

    start = time.monotonic()
    try:
        pyinstaller(distpath, workpath, args.clean)
    except subprocess.CalledProcessError as e:
        print(f"error: PyInstaller failed (exit code {e.returncode})", file=sys.stderr)
        return 1
    folder = distpath / NAME
    if sys.platform.startswith("linux"):
        add_linux_extras(folder)
    print(f"{folder}: {folder_size(folder) / 1e6:.0f} MB")
    if not args.no_archive:
        archive = distpath / archive_name()
        archive.unlink(missing_ok=True)
        if sys.platform.startswith("linux"):
            make_tarball(folder, archive)
        else:
            make_zip(distpath / f"{NAME}.app" if sys.platform == "darwin" else folder, archive)
        print(f"{archive}: {archive.stat().st_size / 1e6:.0f} MB")
    print(f"built in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
