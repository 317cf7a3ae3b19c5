"""Many recordings at once: folders walked for audio (found by content, not by name), every core
used, each result written the moment it exists, and an interrupted run resumed where it stopped.

A file that cannot be analysed is reported and skipped, never the end of the run. No Qt here.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import IO, Any, TextIO, cast

from app import atomic

_engine: Any = None  # each worker process's own engine
# numpy on one thread, in the app (set by its main) and in each worker: with a BLAS thread per
# core in every worker, two workers on two cores were slower than one (OpenBLAS threads spin
# while they wait)
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
AUDIO_SUFFIXES = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
                  ".aifc")  # fmt: skip
CHUNK = 4  # files a worker is handed at once: a round trip through the parent per file idled
# the workers 3 % of a run over short clips (fewer for a few files: every worker gets some)


def chunk_size(files: int, workers: int, most: int) -> int:
    """Files a worker is handed at once: up to ``most``, fewer where the files are few, so that
    every worker gets several hand-outs (and none waits while another works through a list)."""
    return max(1, min(most, files // (4 * max(workers, 1))))


def cores() -> int:
    """The cores this process may run on: its affinity (taskset, a container's CPU set) can
    give it fewer than the machine has, and a thread or worker beyond them only waits."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def audio_files(paths: Iterable[Path]) -> tuple[list[Path], int]:
    """The files to analyse: each path given, and inside each folder (recursively, in name
    order) every file that opens as audio or is named as audio (a broken or empty ``.wav`` is
    then reported, not counted away among the notes); also how many files in folders were not
    audio."""
    from app.audio.files import AudioFileError, info

    found, skipped = [], 0
    for path in paths:
        if not path.is_dir():
            found.append(path)  # given by name: analysed, or reported if it cannot be
            continue
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            try:
                info(f)
            except AudioFileError:
                if f.suffix.lower() not in AUDIO_SUFFIXES:
                    skipped += 1
                    continue
            found.append(f)
    return found, skipped


def analyse(
    path: Path,
    norm: Any = None,
    speaker: str | None = None,
    engine: Any = None,
    voice: Any = None,
) -> dict[str, Any]:
    """One file's results as a plain dict, or ``{"file", "error"}`` saying why there are none.
    ``engine``: a Dask worker's (app.cluster); by default this process's own. ``voice``: a
    personal voice (app.personal) that judges it."""
    from app.audio.files import AudioFileError
    from app.offline import analyze_file

    try:
        analysis = analyze_file(path, engine or _engine, norm=norm, voice=voice)
    except AudioFileError as e:
        return {"file": str(path), "error": str(e)}
    except Exception as e:  # one bad file must never end a run over an archive
        return {"file": str(path), "error": f"unexpected failure: {type(e).__name__}: {e}"}
    analysis.speaker = speaker
    return analysis.to_dict()


def analyse_all(
    files: list[Path], norms: list[tuple[Any, str | None]], voice: Any = None
) -> list[dict[str, Any]]:
    """:func:`analyse` of each file with its normalisation and speaker."""
    return [analyse(f, *n, voice=voice) for f, n in zip(files, norms, strict=True)]


def _start_worker(model: Path | None) -> None:
    global _engine
    from app import bundle
    from app.engine import Engine

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops
    _engine = Engine(bundle.load(model), threads=1)  # one core each: the processes share them


def results(
    files: list[Path],
    engine: Any,
    model: Path | None,
    jobs: int,
    norms: dict[Path, tuple[Any, str]],
    voice: Any = None,
) -> Iterator[dict[str, Any]]:
    """Each file's result as soon as it is ready: in order with one job, else as they finish."""
    global _engine
    if jobs <= 1 or len(files) <= 1:
        _engine = engine
        for f in files:
            norm, speaker = norms.get(f, (None, None))
            yield analyse(f, norm, speaker, voice=voice)
        return
    size = chunk_size(len(files), jobs, CHUNK)
    chunks = [files[i : i + size] for i in range(0, len(files), size)]
    with workers(jobs, model) as pool:
        futures = [pool.submit(analyse_all, c, [norms.get(f, (None, None)) for f in c], voice)
                   for c in chunks]  # fmt: skip
        try:
            for future in as_completed(futures):
                yield from future.result()
        except BaseException:  # Ctrl-C, or the reader stopped: nobody waits for the rest
            stop(pool)
            raise


def stop(pool: ProcessPoolExecutor) -> None:
    """Drop the queued files and end the workers now, not after the files in hand (an hour-long
    one takes half a minute). ``terminate_workers`` does this from Python 3.14."""
    processes = list((pool._processes or {}).values())  # shutdown forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()


@contextmanager
def workers(jobs: int, model: Path | None) -> Iterator[ProcessPoolExecutor]:
    """``jobs`` worker processes, each with its own engine and one thread for numpy."""
    context = get_context("spawn")  # no fork of a process running LiteRT's threads
    # ONE_THREAD is read by each worker's numpy as it starts
    with (
        environment(ONE_THREAD),
        ProcessPoolExecutor(jobs, context, _start_worker, (model,)) as pool,
    ):
        yield pool


@contextmanager
def whole() -> Iterator[None]:
    """Ctrl-C waits for the end of the block, so that a result is written and counted whole or
    not at all (an interrupted write could leave half a line, or a line the count missed)."""
    caught: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous) or threading.current_thread() is not threading.main_thread():
        yield  # Ctrl-C ignored, or not ours to hold
        return
    signal.signal(signal.SIGINT, lambda signum, _: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        previous(signal.SIGINT, None)


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """These environment variables set while the block runs, as they were after it."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Stopped(Exception):
    """A run ended early, after ``done`` of its ``total`` files (each written whole), by
    ``cause``: Ctrl-C (a KeyboardInterrupt), its output failing (Unwritable) or, raised by a
    ``source`` of results, its Dask cluster (app.cluster.ClusterError, an OSError)."""

    def __init__(self, cause: BaseException, done: int, total: int) -> None:
        super().__init__(cause, done, total)
        self.cause, self.done, self.total = cause, done, total


class Unwritable(OSError):
    """The results cannot be written: a full disk, a drive gone, a closed pipe."""

    def __init__(self, name: str, error: OSError) -> None:
        super().__init__(error.errno, f"cannot write {name}: {error.strerror or error}")


class Refused(Exception):
    """An output that this run must not write, with the reason in words: it is one of the
    inputs, another run is writing it, or ``--resume`` found something other than our results
    in it. Nothing was changed."""


class Output:
    """Where results go: a JSON array (written at the end to a temporary file beside the target,
    then renamed into place), JSON Lines or CSV (written and flushed file by file), on standard
    output or in a file that ``resume`` continues. A file is held under an exclusive lock for
    the whole run: two runs appending to one file interleaved and lost results."""

    def __init__(
        self, fmt: str, labels: tuple[str, ...], path: Path | None = None, resume: bool = False
    ) -> None:
        self.fmt = fmt
        self.done: set[str] = set()
        self.order: dict[str, int] = {}  # of the JSON array: the files' order as given
        self._array: list[dict[str, Any]] = []
        self.path = path
        self.name = "standard output" if path is None else str(path)
        self.header = _csv_rows([["file", *_csv_header(labels)]]) if fmt == "csv" else ""
        self.stream: TextIO = sys.stdout
        kept = ""  # of a previous run's results
        if path is not None and path.exists() and not path.is_file():  # /dev/full, a pipe
            self.path, self.stream = None, path.open("w", encoding="utf-8")
        elif path is not None:
            if resume and fmt == "json":
                raise ValueError("--resume needs --jsonl or --csv output, written as it goes")
            self.stream = locked(path)
            if fmt == "json":
                return  # the target stays as it is until the array replaces it
            try:
                text = self.stream.read() if resume else ""
                kept = self._finished(text) if resume else ""
            except Refused:
                self.stream.close()
                raise
            except UnicodeDecodeError as e:
                self.stream.close()
                raise self._not_ours("it is not text") from e
            self.stream.seek(0)
            if text.startswith(kept):  # the results kept stay where they are on the disk
                self.stream.truncate(len(kept.encode("utf-8")))
            else:
                self.stream.truncate()
                self.stream.write(kept)
            self.stream.seek(0, os.SEEK_END)
        if fmt == "csv" and not kept:
            self._write(self.header)

    def _finished(self, text: str) -> str:
        """What of a previous run's ``text`` to keep, and the files it completed (into
        :attr:`done`); raises :class:`Refused` if ``text`` is not our results in this format.
        A line cut short by the interruption is dropped; in CSV, where a file takes many lines,
        so are all of the last file's (the cut may have fallen between two of its lines), and
        it is analysed again."""
        whole = text[: text.rfind("\n") + 1]
        if not whole:  # empty, or cut inside its first line
            fits = self.header.startswith(text) if self.fmt == "csv" else text[:1] in ("", "{")
            if not fits:
                raise self._not_ours("its first line is not")
            return ""
        if self.fmt == "csv":
            if not whole.startswith(self.header):
                raise self._not_ours("its first line is not")
            rows = [r for r in csv.reader(io.StringIO(whole)) if r]
            last = rows[-1][0] if len(rows) > 1 else None
            rows = rows[:1] + [r for r in rows[1:] if r[0] != last]
            self.done = {row[0] for row in rows[1:]}
            return _csv_rows(rows)
        for n, line in enumerate(whole.splitlines(), 1):
            try:
                entry = json.loads(line)
            except ValueError:
                raise self._not_ours(f"line {n} is not JSON") from None
            if not (isinstance(entry, dict) and "file" in entry and
                    ("windows" in entry or "error" in entry)):  # fmt: skip
                raise self._not_ours(f"line {n} is not one file's results")
            if "error" not in entry:  # files that failed are tried again
                self.done.add(entry["file"])
        return whole

    def _not_ours(self, why: str) -> Refused:
        form = {"csv": "CSV", "jsonl": "JSON Lines"}[self.fmt]
        if why.endswith("is not"):
            why += " this model's CSV header" if self.fmt == "csv" else " JSON"
        return Refused(f"{self.name} is not {form} results of emotion-meter analyze ({why}); "
                       "--resume left it as it was")  # fmt: skip

    def write(self, result: dict[str, Any]) -> None:
        if self.fmt == "json":
            self._array.append(result)
        elif self.fmt == "jsonl":
            self._write(json.dumps(result, allow_nan=False) + "\n")
        elif "windows" in result:
            from app.export import csv_table

            self._write(_csv_rows([[result["file"], *r] for r in csv_table(result)[1]]))

    def _write(self, text: str, stream: IO[str] | None = None) -> None:
        stream = stream or self.stream
        try:
            stream.write(text)  # one write per file: an interruption cuts at most one line
            stream.flush()
            if stream is not sys.stdout:
                os.fsync(stream.fileno())
        except OSError as e:
            raise Unwritable(self.name, e) from e

    def close(self) -> None:
        try:
            if self.fmt == "json":
                self._array.sort(key=lambda r: self.order.get(r["file"], len(self.order)))
                self._place(json.dumps(self._array, indent=1, allow_nan=False) + "\n")
        finally:
            if self.stream is not sys.stdout:
                # every write was flushed: only one that failed, and was reported, is left
                with contextlib.suppress(OSError):
                    self.stream.close()  # and the lock with it

    def _place(self, text: str) -> None:
        """The JSON array into the target: whole or, on failure, not at all."""
        if self.path is None:
            self._write(text)
            return
        try:
            with atomic.replacing(self.path, "w") as f:
                self._write(text, f)
        except OSError as e:
            raise Unwritable(self.name, e) from e


def locked(path: Path) -> TextIO:
    """``path`` (created if missing, else as it is) open to read and write, under an exclusive
    lock that ends when it is closed or the process ends; :class:`Refused` if another holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Refused(f"another run is writing {path} now: wait for it to end, or give "
                      "another --out") from None  # fmt: skip
    return os.fdopen(fd, "r+", encoding="utf-8", newline="")


def same_as_input(out: Path, inputs: Iterable[Path | str]) -> Path | None:
    """The input that ``out`` is (by name after links, or the same file by another name), if
    any: writing there destroyed the recording."""
    target = os.path.realpath(out)  # never raises, not even on a link loop
    for f in inputs:
        if "://" in str(f):
            continue
        path = Path(f)
        if os.path.realpath(path) == target or (
            out.exists() and path.exists() and os.path.samefile(path, out)
        ):
            return path
    return None


def _csv_header(labels: tuple[str, ...]) -> list[str]:
    from app.export import csv_table

    return csv_table({"labels": labels, "windows": []})[0]


def _csv_rows(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


class Progress:
    """``[12/340] 3 failed · 1:05 left · name.wav`` on one terminal line; silent otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total, self.count, self.failed = total, 0, 0
        self.stream = stream or sys.stderr
        self.shown = self.stream.isatty()
        self.start = time.monotonic()

    def update(self, result: dict[str, Any]) -> None:
        self.count += 1
        self.failed += "error" in result
        if not self.shown:
            return
        rate = self.count / max(time.monotonic() - self.start, 1e-9)
        left = (self.total - self.count) / rate
        name = Path(result["file"]).name[:40]
        failed = f" · {self.failed} failed" if self.failed else ""
        self.stream.write(f"\r\033[K[{self.count}/{self.total}]{failed} · "
                          f"{int(left // 60)}:{int(left % 60):02d} left · {name}")  # fmt: skip
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")


def run(
    files: list[Path] | list[str],
    engine: Any,
    model: Path | None,
    jobs: int,
    norms: dict[Path, tuple[Any, str]],
    output: Output,
    report: Callable[[str], None],
    source: Callable[[list[Any]], Iterable[dict[str, Any]]] | None = None,
    voice: Any = None,
) -> int:
    """Analyse ``files`` (those ``output`` already holds skipped) into ``output``; the number
    that failed, each reported once through ``report``. ``source``, if given, gives the results
    of the files to do instead of this machine's cores (a Dask cluster's: app.cluster)."""
    todo = [f for f in files if str(f) not in output.done]
    found = (
        source(todo)
        if source
        else results(cast(list[Path], todo), engine, model, jobs, norms, voice)
    )
    output.order = {str(f): i for i, f in enumerate(todo)}
    progress = Progress(len(todo))
    try:
        try:
            for result in found:
                with whole():
                    if "error" in result:
                        report(f"error: {result['error']}")
                    if "warning" in result:
                        report(f"warning: {result['warning']}")
                    output.write(result)
                    progress.update(result)
        finally:
            progress.close()
            output.close()
    except (KeyboardInterrupt, Unwritable) as e:
        raise Stopped(e, progress.count, len(todo)) from None
    return progress.failed
