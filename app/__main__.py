"""``emotion-meter``: the desktop app; ``analyze FILE...``, ``personalise DIR`` and ``--self-test``
run headless."""

from __future__ import annotations

import argparse
import errno
import math
import multiprocessing
import os
import sys
from pathlib import Path

SAMPLE = "samples/sample.flac"


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()  # analyze --jobs in the installed (frozen) app
    one_math_thread()
    argv = sys.argv[1:] if argv is None else argv
    commands = {"analyze": analyze, "personalise": personalise}
    if argv and argv[0] in commands:
        try:
            return commands[argv[0]](argv[1:])
        except KeyboardInterrupt:
            print("Interrupted (Ctrl-C).", file=sys.stderr)
            return 130
    p = argparse.ArgumentParser(
        prog="emotion-meter", description="See what emotion a voice carries."
    )
    p.add_argument("files", nargs="*", type=Path, help="recordings to open in the inspector")
    p.add_argument(
        "--self-test",
        nargs="?",
        const="",
        metavar="FILE",
        help="analyse FILE (default: the bundled sample), print the emotion, exit",
    )
    p.add_argument("--model", type=Path, help="model bundle folder (default: the bundled one)")
    args = p.parse_args(argv)
    if args.self_test is not None:
        return self_test(args.self_test, args.model)
    from app.ui.main_window import run

    return run(args.files, args.model)


def one_math_thread() -> None:
    """numpy's BLAS on one thread, set before numpy loads: the app runs its own threads (the
    model's lanes) and processes (``--jobs``) on every core, and BLAS's threads spin between our
    small products, taking a core from the model (an hour-long file on two cores: 181× → 211×
    real time). A thread count the user set is kept."""
    from app.batch import ONE_THREAD

    for name, value in ONE_THREAD.items():
        os.environ.setdefault(name, value)


def analyze(argv: list[str]) -> int:
    """Print or write each file's emotion and per-window results as JSON, JSON Lines or CSV."""
    from app.batch import cores

    p = argparse.ArgumentParser(
        prog="emotion-meter analyze",
        description="Analyse recordings; folders are searched for audio files (by content).",
    )
    p.add_argument("files", nargs="*", type=Path, metavar="FILE_OR_FOLDER")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON array (the default)")
    fmt.add_argument("--jsonl", action="store_true", help="JSON Lines: a line per file as it ends")
    fmt.add_argument("--csv", action="store_true", help="one CSV row per window")
    p.add_argument("--out", type=Path, help="write here instead of standard output")
    p.add_argument(
        "--resume",
        action="store_true",
        help="skip the files already in --out (JSON Lines or CSV) and add the rest",
    )
    p.add_argument(
        "--jobs",
        type=at_least_one,
        default=cores(),
        help="files analysed at once, one core each (default: every core it may use)",
    )
    p.add_argument("--model", type=Path)
    voice = p.add_mutually_exclusive_group()
    voice.add_argument(
        "--adapt", action="store_true", help="adapt to the voice of each file (over all of it)"
    )
    voice.add_argument(
        "--same-speaker",
        action="store_true",
        help="the files are one speaker's voice: adapt to it across all of them",
    )
    voice.add_argument(
        "--voice",
        type=Path,
        metavar="PROFILE",
        help="judge with a personal voice taught by `emotion-meter personalise`",
    )
    p.add_argument(
        "--time-constant",
        type=positive_seconds,
        metavar="SECONDS",
        help="seconds of speech after which the voice's statistics weigh half (model's default)",
    )
    p.add_argument(
        "--files-from",
        type=Path,
        metavar="LIST",
        help="the files named in LIST too, one a line ('-': standard input); with --scheduler "
        "URLs (s3://…) as well, and this computer need not see them",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="analyse on the workers of the Dask cluster at ADDRESS (tcp://HOST:8786), or of "
        "local:N (N worker processes here) instead of --jobs; needs emotion-meter[cluster]",
    )
    args = p.parse_args(argv)
    if not args.files and args.files_from is None:
        p.error("give files or folders to analyse, or --files-from LIST")
    form = "jsonl" if args.jsonl else "csv" if args.csv else "json"
    if args.resume and (args.out is None or form == "json"):
        p.error("--resume continues an --out file written with --jsonl or --csv")
    if args.time_constant is not None and not (args.adapt or args.same_speaker):
        p.error("--time-constant sets how fast --adapt or --same-speaker adapts: give one")
    if args.jobs > cores():
        print(f"note: --jobs {args.jobs} is more than the {cores()} cores this run may use; "
              f"using {cores()}", file=sys.stderr)  # fmt: skip
        args.jobs = cores()
    engine = load_engine(args.model, lanes=cores())  # a long file on every core
    if engine is None:
        return 2
    taught = None
    if args.voice is not None:
        if args.scheduler is not None:
            p.error("--voice does not run on a cluster yet: leave out --scheduler")
        taught = load_voice(args.voice, engine.bundle)
        if taught is None:
            return 2
    from app import batch

    files, not_audio = batch.audio_files(args.files)
    if not_audio:
        print(f"note: {not_audio} files in the folders are not audio; skipped", file=sys.stderr)
    try:
        names = listed(args.files_from)
    except (OSError, UnicodeDecodeError) as e:
        print(f"error: cannot read the list {args.files_from}: {e}", file=sys.stderr)
        return 2
    if not files and not names:
        print("error: no audio files found", file=sys.stderr)
        return 1
    if args.scheduler is not None:
        return on_cluster(args, form, engine, [*map(str, files), *names], files)
    url = next((n for n in names if "://" in n), None)
    if url is not None:
        print(f"error: {url}: URLs are read by a cluster's workers: add --scheduler local:N",
              file=sys.stderr)  # fmt: skip
        return 2
    files += [Path(n) for n in names]
    moments = lambda: file_voices(files, engine.bundle)  # noqa: E731
    norms = voices(args, engine, moments) if args.adapt or args.same_speaker else {}
    return write(args, form, engine, files, norms, voice=taught)


def load_voice(path: Path, bundle):
    """A personal voice for this model, or None having said why not."""
    from app import personal

    try:
        return personal.load_for(path, bundle)
    except personal.ProfileError as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def personalise(argv: list[str]) -> int:
    """Teach the meter a voice from takes in one folder per emotion: print how often the
    general model and the personal voice are right on them (leave-one-take-out), and save the
    voice only if it is clearly better."""
    from app import personal
    from app.audio.files import AudioFileError
    from app.offline import analyze_file

    p = argparse.ArgumentParser(
        prog="emotion-meter personalise",
        description="Teach it your voice: DIR holds a folder per emotion, named by the model's "
        "labels (DIR/angry/*.wav, …), each with two or more takes of that emotion.",
    )
    p.add_argument("folder", type=Path, metavar="DIR")
    p.add_argument("--out", type=Path, required=True, metavar="PROFILE.json")
    p.add_argument("--name", help="the voice's name (default: the profile's file name)")
    p.add_argument("--model", type=Path)
    args = p.parse_args(argv)
    engine = load_engine(args.model)
    if engine is None:
        return 2
    try:
        found = personal.take_files(args.folder, engine.bundle.labels)
    except personal.ProfileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    takes = []
    for label, paths in found.items():
        for path in paths:
            try:
                analysis = analyze_file(path, engine, embeddings=True)
                takes.append(personal.Take.heard(label, analysis))
            except (AudioFileError, personal.ProfileError) as e:
                print(f"error: {path}: {e}", file=sys.stderr)
                return 2
    counts = {label: len(paths) for label, paths in found.items()}
    print("takes: " + ", ".join(f"{label} {n}" for label, n in counts.items()))
    why = personal.check_takes(counts)
    if why is not None:
        print(f"error: {why}", file=sys.stderr)
        return 2
    teaching = personal.teach(takes, engine.bundle.labels)
    print(f"UA by leave-one-take-out: {teaching.before:.3f} → {teaching.after:.3f} "
          f"(general model → your voice, {len(takes)} takes)")  # fmt: skip
    print(teaching.verdict())
    if teaching.worse:
        return 1
    name = args.name or args.out.stem
    try:
        personal.save(args.out, name, teaching, personal.model_id(engine.bundle))
    except OSError as e:
        print(f"error: cannot write {args.out}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"saved the voice {name!r} to {args.out}")
    return 0


def at_least_one(text: str) -> int:
    """``--jobs``: a whole number of processes, 1 or more (0 and -1 ran serially unasked)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n}: give 1 or more")
    return n


def positive_seconds(text: str) -> float:
    """``--time-constant``: finite and above 0 (a negative one flipped the normalisation, NaN
    made the output unreadable)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text}: give a number of seconds above 0")
    return value


def listed(path: Path | None) -> list[str]:
    """The names in a ``--files-from`` list, one a line ('-': standard input), blanks skipped:
    paths or URLs as the workers see them, not looked at here."""
    if path is None:
        return []
    text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def on_cluster(args: argparse.Namespace, form: str, engine, names: list[str], seen) -> int:
    """``--scheduler``: the same run on a Dask cluster's workers (app.cluster); ``seen``: the
    files this computer found itself, which the workers must see too."""
    try:
        from app import cluster
    except ImportError as e:
        print(f"error: --scheduler needs {e.name or 'Dask'}, which is not installed: "
              'pip install "emotion-meter[cluster]"', file=sys.stderr)  # fmt: skip
        return 2
    adapt = args.adapt or args.same_speaker
    try:
        with cluster.connect(args.scheduler, args.model, engine.bundle, set(map(str, seen))) as on:
            print(f"note: {cluster.describe(on)}", file=sys.stderr)
            norms = voices(args, engine, lambda: on.moments(names)) if adapt else {}
            return write(args, form, engine, names, norms, lambda todo: on.results(todo, norms))
    except cluster.ClusterError as e:
        for line in str(e).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2


def write(
    args: argparse.Namespace, form: str, engine, files: list, norms, source=None, voice=None
) -> int:
    """Each file's results into ``--out`` (or standard output) as they come, from this
    machine's cores or a ``source`` (a cluster); the exit status."""
    from app import batch

    same = None if args.out is None else batch.same_as_input(args.out, files)
    if same is not None:
        print(f"error: --out {args.out} is the input {same}: writing there would destroy it; "
              "give another --out", file=sys.stderr)  # fmt: skip
        return 2
    try:
        output = batch.Output(form, engine.bundle.labels, args.out, args.resume)
    except batch.Refused as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as e:
        print(f"error: cannot write {args.out}: {e}", file=sys.stderr)
        return 2
    report = lambda line: print(line, file=sys.stderr)  # noqa: E731
    try:
        failed = batch.run(
            files, engine, args.model, args.jobs, norms, output, report, source, voice
        )
    except batch.Stopped as s:
        ctrl_c = isinstance(s.cause, KeyboardInterrupt)
        written = s.done if ctrl_c or form != "json" else 0  # an array is written at the end
        kept = ""
        if args.out is not None and written:
            kept = f" Their results are in {args.out}" + (
                "." if form == "json" else "; the same command with --resume adds the rest."
            )
        if ctrl_c:
            print(f"Interrupted (Ctrl-C) after {s.done} of {s.total} files.{kept}", file=sys.stderr)
            return 130
        cause = s.cause
        assert isinstance(cause, OSError)  # the only other cause, Ctrl-C, returned above
        if args.out is None and cause.errno == errno.EPIPE:  # `| head` has read enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing at exit
            return 128 + 13  # as a program that SIGPIPE ended, silently
        print(f"error: {cause.strerror}; {written} of {s.total} files written.{kept}",
              file=sys.stderr)  # fmt: skip
        return 2
    return 1 if failed else 0


def voices(args: argparse.Namespace, engine, moments) -> dict:
    """Each readable file's speaker normalisation: its own voice, or all files' pooled; from
    the speech statistics that ``moments()`` gives per file (here or on a cluster)."""
    from app.adapt import pooled
    from app.speaker import speaker_norm

    if engine.bundle.adapt_seconds is None:  # whatever --time-constant says
        print(
            "warning: this model was trained without speaker adaptation; analysing cold",
            file=sys.stderr,
        )
        return {}
    heard = moments()
    if args.same_speaker and heard:
        norm = speaker_norm(engine, pooled(list(heard.values())), args.time_constant)
        return {path: (norm, f"same speaker: {len(heard)} files") for path in heard}
    return {
        path: (speaker_norm(engine, m, args.time_constant), "this file")
        for path, m in heard.items()
    }


def file_voices(files: list[Path], bundle) -> dict:
    """The speech statistics of each file that can be read, read here."""
    from app.audio.files import AudioFileError
    from app.speaker import file_moments

    heard = {}
    for path in files:
        try:
            heard[path] = file_moments(path, bundle)
        except AudioFileError:
            continue  # said once, when it is analysed
    return heard


def load_engine(model: Path | None, lanes: int = 1):
    from app import bundle
    from app.engine import Engine

    try:
        found = bundle.load(model)
        engine = Engine(found, lanes=lanes)
    except bundle.BundleError as e:
        print(f"error: {e}", file=sys.stderr)
        return None
    if found.warning:
        print(f"warning: {found.warning}", file=sys.stderr)
    return engine


def self_test(file: str, model: Path | None) -> int:
    """Load the model, analyse one clip, print its emotion: the installer's smoke test."""
    from app.audio.files import AudioFileError
    from app.bundle import assets_dir
    from app.offline import analyze_file

    engine = load_engine(model)
    if engine is None:
        return 2
    path = Path(file) if file else assets_dir() / SAMPLE
    try:
        label, probs = analyze_file(path, engine).overall
    except AudioFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if label is None:
        print(f"self-test: {path.name}: silence (no speech found)")
        return 0
    print(f"self-test: {path.name}: {label} ({probs.max():.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
