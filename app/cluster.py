"""``analyze --scheduler``: the files analysed by the workers of a Dask cluster, for archives that
outgrow one machine (their owners already run Dask, or SLURM and Kubernetes through it).

The client sends names, never audio: each worker reads the files itself from a path every worker
sees (a shared file system) or an fsspec URL, and loads and checks the model once, when it joins
(:class:`ModelPlugin`). The results come back to :func:`app.batch.run`, which writes them as on
this machine's own cores; the scheduler runs a dead worker's files again elsewhere. Only this
module imports Dask, and only ``--scheduler`` imports it. No Qt here.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import signal
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from itertools import islice
from pathlib import Path
from typing import Any, cast

import dask
from distributed import Client, LocalCluster, as_completed, get_worker
from distributed.diagnostics.plugin import WorkerPlugin
from distributed.scheduler import KilledWorker
from distributed.versions import VersionMismatchWarning

from app import batch, bundle
from app.adapt import Moments
from app.audio.files import AudioFileError
from app.engine import Engine

AHEAD = 1000  # files handed to the scheduler at a time: a million-file list stays on the client
CHUNK = 8  # files a task analyses, one after another (see each)
VERSIONS = ("dask", "distributed", "cloudpickle", "msgpack")  # scheduler and workers as here
EXTRA = 'pip install "emotion-meter[cluster]"'
# Dask's own log lines stay out of the client's standard error (and a local cluster's): each
# failure the client meets is said there in a line of ours; remote workers keep their own logs
SILENT = logging.CRITICAL + 1
Norms = Mapping[Any, tuple[Any, str | None]]
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


class ClusterError(OSError):
    """The cluster cannot run the analysis, or go on with it: unreachable, other versions, a
    worker without the model or the audio. Each line of the message is one problem, in words."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)

    def __str__(self) -> str:
        return str(self.strerror)


class Unfit(Exception):
    """Raised by a task on a worker that cannot analyse (a worker that joined after the checks):
    the run stops with the reason rather than fail every file that worker is given."""


def is_url(name: str) -> bool:
    """An fsspec URL (``s3://…``, ``gs://…``, ``file://…``), read through its back end."""
    return "://" in name


def location(name: str) -> str:
    """Where every worker finds a file: a URL as it is, a path made absolute (a worker's current
    folder is not the client's)."""
    return name if is_url(name) else os.path.abspath(name)


def chunked(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of ``size`` (the last may be shorter), drawn as they are needed."""
    while chunk := list(islice(items, size)):
        yield chunk


def digest(model: bundle.Bundle) -> str:
    """The sha256 of the bundle's description, which holds the sha256 of each model file (checked
    as it loads): two bundles with the same digest run the same model."""
    return hashlib.sha256((model.path / bundle.META_FILE).read_bytes()).hexdigest()


class ModelPlugin(WorkerPlugin):
    """Each worker's model, loaded and checked against the client's once, as the worker joins
    (a worker that restarts loads it again); or why that worker cannot analyse."""

    def __init__(self, model: str | None, expected: str) -> None:
        self.model = model  # the client's --model, which the workers must see; None: their own
        self.expected = expected
        self.name = f"emotion-meter-{expected[:16]}"  # clients of other models keep theirs
        self.engine: Engine | None = None
        self.problem = ""

    def setup(self, worker: Any) -> None:
        self.engine, self.problem = None, ""
        usual_heap()
        try:
            loaded = bundle.load(self.model)
            theirs = digest(loaded)
            if theirs != self.expected:
                self.problem = (
                    f"its model ({loaded.path}) is not this computer's (description "
                    f"{theirs[:12]}…, here {self.expected[:12]}…): give both the same --model"
                )
                return
            # a lane of the model per thread: a worker runs as many files at once
            self.engine = Engine(loaded, threads=1, lanes=worker.state.nthreads)
        except Exception as e:  # said by the client, not lost in the worker's log
            known = isinstance(e, bundle.BundleError)
            why = str(e) if known else f"{type(e).__name__}: {e}"
            self.problem = f"{why} (give --model a folder that every worker sees)"

    def teardown(self, worker: Any) -> None:
        self.engine = None


def usual_heap() -> None:
    """glibc's heap as it works by default, where Dask's nanny set MALLOC_TRIM_THRESHOLD_ (to
    65536) as it started the worker: any such setting turns off glibc's adaptive mmap threshold,
    so every array over 128 KiB was mapped and unmapped anew (36x the page faults, a file's
    analysis 1.3x slower: A/B in one process). Arrays up to 32 MiB come from the heap again,
    which keeps up to 64 MiB free before it gives memory back. Elsewhere nothing changes."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt  # this process's C library
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(M_MMAP_THRESHOLD, 32 << 20)
    mallopt(M_TRIM_THRESHOLD, 64 << 20)


def _engine(plugin: str) -> Engine:
    """This worker's engine, or :class:`Unfit` saying why it has none."""
    worker = get_worker()
    loaded = worker.plugins.get(plugin)
    if not isinstance(loaded, ModelPlugin) or loaded.engine is None:
        why = loaded.problem if isinstance(loaded, ModelPlugin) else "it has not loaded the model"
        raise Unfit(f"worker {worker.address}: {why}")
    return loaded.engine


def _problem(plugin: str, dask_worker: Any) -> str:
    """Why this worker cannot analyse ("" if it can): run on every worker before the files."""
    loaded = dask_worker.plugins.get(plugin)
    return loaded.problem if isinstance(loaded, ModelPlugin) else "it has not loaded the model"


@contextmanager
def readable(name: str, where: str, seen: bool) -> Iterator[Path]:
    """A file the worker can open: a path as it is, a URL's file fetched into a temporary folder
    (the app reads a file twice, header then blocks, and an object store streams once).
    A path the client ``seen`` and this worker cannot see is :class:`Unfit`: its mounts differ."""
    if not is_url(where):
        if seen and not os.path.exists(where):
            raise Unfit(
                f"worker {get_worker().address} cannot see {where}, which this computer can: "
                "the audio must be on a path every worker sees (a shared file system, or a URL)"
            )
        yield Path(where)
        return
    import fsspec

    with tempfile.TemporaryDirectory(prefix="emotion-meter-") as folder:
        copy = Path(folder) / (where.rstrip("/").rsplit("/", 1)[-1] or "audio")
        try:
            with fsspec.open(where, "rb") as source, copy.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        except (OSError, ImportError, ValueError) as e:  # missing, refused, no back end
            raise AudioFileError(f"{name} cannot be fetched: {e}") from e
        yield copy


def analyse(
    name: str, where: str, seen: bool, plugin: str, norm: Any, speaker: str | None
) -> dict[str, Any]:
    """One file's result, as :func:`app.batch.analyse` gives it, under the name it was given."""
    engine = _engine(plugin)
    try:
        with readable(name, where, seen) as path:
            result = batch.analyse(path, norm, speaker, engine=engine)
    except AudioFileError as e:
        return {"file": name, "error": str(e)}
    return {**result, "file": name}


def moments(name: str, where: str, seen: bool, plugin: str) -> Moments | None:
    """The speech statistics of one file, for adapting to its speaker; None if it cannot be read
    (it is reported when it is analysed)."""
    from app.speaker import file_moments

    engine = _engine(plugin)
    try:
        with readable(name, where, seen) as path:
            return file_moments(path, engine.bundle)
    except AudioFileError:
        return None


def each(function: Callable[..., Any], plugin: str, files: list[tuple[Any, ...]]) -> list[Any]:
    """``function`` of each file of one task, in turn: a task per file cost a round trip through
    the scheduler (~5 ms, on the cores the workers use) for a clip analysed in ~16 ms."""
    return [function(name, where, seen, plugin, *extra) for name, where, seen, *extra in files]


class Cluster:
    """A client of a cluster whose workers have passed the checks."""

    def __init__(self, client: Client, plugin: str, seen: set[str]) -> None:
        self.client, self.plugin, self.seen = client, plugin, seen
        self.given: dict[Any, list[tuple[Any, ...]]] = {}  # tasks handed out, not done: their files

    def _tasks(
        self, function: Any, names: Sequence[str], extra: Callable[[str], tuple[Any, ...]]
    ) -> Iterator[tuple[str, str, Any]]:
        """``function`` of each name (and its ``extra`` arguments) on the workers, as each
        ends: (name, status, result), at most :data:`AHEAD` files at a time in tasks of up to
        :data:`CHUNK` (fewer where the files are few: every thread gets several tasks)."""
        threads = sum(w["nthreads"] for w in self.client.scheduler_info()["workers"].values())
        size = batch.chunk_size(len(names), threads, CHUNK)
        files = ((n, location(n), n in self.seen, *extra(n)) for n in names)
        running = as_completed(with_results=True, raise_errors=False)

        def hand(chunks: Iterable[list[tuple[Any, ...]]]) -> None:
            for chunk in chunks:
                future = self.client.submit(each, function, self.plugin, chunk, pure=False)
                self.given[future] = chunk
                running.add(future)

        hand(islice(chunked(files, size), AHEAD // size))
        for future, result in running:
            chunk = self.given.pop(future)
            hand(islice(chunked(files, size), 1))
            if future.status == "finished":
                yield from ((f[0], "finished", r) for f, r in zip(chunk, result, strict=True))
            elif (
                future.status == "error" and len(chunk) > 1 and isinstance(result[1], KilledWorker)
            ):
                hand([f] for f in chunk)  # one of them may kill workers: only it is to fail
            elif future.status == "cancelled" and self.client.status == "running":
                hand([chunk])  # dropped while the scheduler is still here (seen in 2 of ~30 test
                # runs right after a worker was killed; not reproduced since): run it again
            else:
                yield from ((f[0], future.status, result) for f in chunk)

    def cancel(self) -> None:
        """Drop the files handed out and not done (after Ctrl-C: the cluster goes on for
        others)."""
        if self.given:
            self.client.cancel(list(self.given))
            self.given.clear()

    def results(self, todo: Sequence[str], norms: Norms) -> Iterator[dict[str, Any]]:
        """Each file's result as it ends, whichever worker ran it (for :func:`app.batch.run`);
        each file comes once, even when a worker dies with it."""
        norm = lambda name: norms.get(name, (None, None))  # noqa: E731
        ended = self._tasks(analyse, todo, norm)
        for done, (name, status, result) in enumerate(ended):
            if status == "finished":
                yield result
            else:
                yield self._failed(name, status, result, done, len(todo))

    def _failed(self, name: str, status: str, result: Any, done: int, total: int) -> dict[str, Any]:
        """The result of a file whose task failed, or the end of the run if the cluster did."""
        error = result[1] if status == "error" else result
        if isinstance(error, KilledWorker):  # the scheduler gave up on it, not on the run
            why = "the workers analysing it died (out of memory, or a file that crashes them?)"
            return {"file": name, "error": f"{name}: {why}"}
        if isinstance(error, Unfit) and "cannot see" in str(error) and not os.path.exists(name):
            return {"file": name, "error": f"{name} does not exist (any more)."}
        if isinstance(error, Unfit):
            raise batch.Stopped(ClusterError(str(error)), done, total)
        if status == "error":
            why = f"unexpected failure on the cluster: {type(error).__name__}: {error}"
            return {"file": name, "error": why}
        why = f"lost the Dask scheduler at {self.client.scheduler.address}"
        raise batch.Stopped(ClusterError(why), done, total)

    def moments(self, names: Sequence[str]) -> dict[str, Moments]:
        """The speech statistics of each readable file (for ``--adapt``, ``--same-speaker``)."""
        heard = {}
        for name, status, result in self._tasks(moments, names, lambda _: ()):
            if status == "error" and isinstance(result[1], Unfit):
                raise ClusterError(str(result[1]))
            if status == "cancelled":
                raise ClusterError(f"lost the Dask scheduler at {self.client.scheduler.address}")
            if status == "finished" and result is not None:
                heard[name] = result
        return {n: heard[n] for n in names if n in heard}  # pooled in the files' order


def mismatches(client: Client) -> list[str]:
    """The scheduler and workers whose Dask, Python or Emotion Meter differ from this computer's,
    each with the first difference: they may fail in ways no message explains."""
    found = cast(dict[str, Any], client.get_versions(check=False, packages=["emotion-meter"]))
    ours = found["client"]["packages"]
    lines = []
    machines = {"the scheduler": found["scheduler"]}
    machines.update({f"worker {a}": v for a, v in sorted(found["workers"].items())})
    for who, theirs in machines.items():
        packages = theirs["packages"]
        names = VERSIONS if who == "the scheduler" else (*VERSIONS, "emotion-meter")
        differ = [
            f"{n} {packages.get(n) or 'missing'}, this computer {ours.get(n) or 'none'}"
            for n in names
            if packages.get(n) != ours.get(n)
        ]
        python = [".".join(v["python"].split(".")[:2]) for v in (theirs["packages"], ours)]
        if python[0] != python[1]:
            differ.insert(0, f"Python {python[0]}, this computer {python[1]}")
        if differ:
            lines.append(f"{who} has {differ[0]}: install the same versions everywhere ({EXTRA})")
    return lines


@contextmanager
def connect(
    scheduler: str, model: Path | None, loaded: bundle.Bundle, seen: set[str]
) -> Iterator[Cluster]:
    """The cluster at ``scheduler`` (``local:N``: N worker processes here), once its versions
    and every worker's model are checked; ``seen``: the files this computer saw."""
    for name in list(logging.root.manager.loggerDict):  # Dask sets the level of several
        if name.partition(".")[0] in ("distributed", "tornado", "bokeh"):
            logging.getLogger(name).setLevel(SILENT)
    with ExitStack() as stack:
        address = scheduler
        if scheduler.startswith("local:"):
            address = stack.enter_context(_local(scheduler))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VersionMismatchWarning)  # said our way below
            try:
                client = stack.enter_context(Client(address))
            except ValueError as e:
                raise ClusterError(f"--scheduler {address}: not tcp://HOST:PORT ({e})") from e
            except OSError as e:
                raise ClusterError(unreachable(address, e)) from e
        problems = mismatches(client)
        if problems:
            raise ClusterError("\n".join(problems))
        plugin = ModelPlugin(str(model.resolve()) if model else None, digest(loaded))
        client.register_plugin(plugin, name=plugin.name)
        unfit = client.run(_problem, plugin.name)
        problems = [f"worker {a}: {p}" for a, p in sorted(unfit.items()) if p]
        if problems:
            raise ClusterError("\n".join(problems))
        cluster = Cluster(client, plugin.name, seen)
        try:
            yield cluster
        finally:
            cluster.cancel()


def unreachable(address: str, error: OSError) -> str:
    """Why the scheduler cannot be reached, in a line: how long Dask tried and, where its last
    try got that far, the first cause it met (refused, no such host)."""
    cause: BaseException = error
    while (deeper := cause.__cause__ or cause.__context__) is not None:
        cause = deeper
    waited = dask.config.get("distributed.comm.timeouts.connect")
    why = f" ({cause.strerror})" if isinstance(cause, OSError) and cause.strerror else ""
    return (
        f"cannot reach the Dask scheduler at {address} in {waited}{why}: is it running, and "
        "its port open from here?"
    )


@contextmanager
def _local(spec: str) -> Iterator[str]:
    """``local:N``: a scheduler here and N worker processes of one thread each."""
    count = spec.partition(":")[2]
    if not count.isdigit() or int(count) < 1:
        raise ClusterError(f"--scheduler {spec}: local:N needs a number of workers (local:4)")
    # the workers start with Ctrl-C ignored, which Python keeps: Ctrl-C at a terminal reaches
    # the whole process group, and only the client is to act on it (it ends the workers)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        cluster = LocalCluster(n_workers=int(count), threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address="127.0.0.1:0",
                               silence_logs=SILENT)  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, previous)
    with cluster:
        yield cluster.scheduler_address


def describe(cluster: Cluster) -> str:
    """The cluster in a line: where, its workers and threads, its dashboard."""
    info = cluster.client.scheduler_info()
    workers = info["workers"].values()
    threads = sum(w["nthreads"] for w in workers)
    line = f"Dask cluster {info['address']}: {len(workers)} worker(s), {threads} thread(s)"
    if not workers:
        line += " (none yet: the files wait for workers to join)"
    if "dashboard" in info.get("services", {}):
        line += f"; dashboard {cluster.client.dashboard_link}"
    return line
