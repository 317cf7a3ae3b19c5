"""``emotion-meter``: the desktop app; ``analyze FILE...`` and ``--self-test`` run headless."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

SAMPLE = "samples/sample.flac"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "analyze":
        return analyze(argv[1:])
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


def analyze(argv: list[str]) -> int:
    """Print each file's emotion and per-window results as JSON or CSV."""
    p = argparse.ArgumentParser(prog="emotion-meter analyze")
    p.add_argument("files", nargs="+", type=Path)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON (the default)")
    fmt.add_argument("--csv", action="store_true", help="one CSV row per window")
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
    p.add_argument(
        "--time-constant",
        type=float,
        metavar="SECONDS",
        help="seconds of speech after which the voice's statistics weigh half (model's default)",
    )
    args = p.parse_args(argv)
    engine = load_engine(args.model)
    if engine is None:
        return 2
    from app.audio.files import AudioFileError
    from app.offline import analyze_file

    norms = voices(args, engine) if args.adapt or args.same_speaker else {}
    results, failed = [], 0
    for path in args.files:
        try:
            norm, speaker = norms.get(path, (None, None))
            analysis = analyze_file(path, engine, norm=norm)
            analysis.speaker = speaker
            results.append(analysis.to_dict())
        except AudioFileError as e:
            print(f"error: {e}", file=sys.stderr)
            results.append({"file": str(path), "error": str(e)})
            failed += 1
    if args.csv:
        write_csv(results, engine.bundle.labels)
    else:
        json.dump(results, sys.stdout, indent=1)
        print()
    return 1 if failed else 0


def voices(args: argparse.Namespace, engine) -> dict[Path, tuple[object, str]]:
    """Each readable file's speaker normalisation: its own voice, or all files' pooled."""
    from app.adapt import pooled
    from app.audio.files import AudioFileError
    from app.offline import file_moments, speaker_norm

    if engine.bundle.adapt_seconds is None and args.time_constant is None:
        print(
            "warning: this model was trained without speaker adaptation; analysing cold",
            file=sys.stderr,
        )
        return {}
    heard = {}
    for path in args.files:
        try:
            heard[path] = file_moments(path, engine.bundle)
        except AudioFileError:
            continue  # said once, when it is analysed
    if args.same_speaker and heard:
        norm = speaker_norm(engine, pooled(list(heard.values())), args.time_constant)
        return {path: (norm, f"same speaker: {len(heard)} files") for path in heard}
    return {
        path: (speaker_norm(engine, m, args.time_constant), "this file")
        for path, m in heard.items()
    }


def write_csv(results: list[dict], labels: tuple[str, ...]) -> None:
    """One row per window of every file, the file first; files that failed have none."""
    from app.ui.export import csv_table

    out = csv.writer(sys.stdout)
    out.writerow(["file", *csv_table({"labels": labels, "windows": []})[0]])
    for r in results:
        if "windows" in r:
            out.writerows([r["file"], *row] for row in csv_table(r)[1])


def load_engine(model: Path | None):
    from app import bundle
    from app.engine import Engine

    try:
        return Engine(bundle.load(model))
    except bundle.BundleError as e:
        print(f"error: {e}", file=sys.stderr)
        return None


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
