"""``python -m benchmarks``: run the measurements, print their tables, write docs/benchmarks.md.

Each measurement runs in a fresh process (see ``benchmarks.child``); one that fails is reported
as such and the others still run. A quick or partial run writes elsewhere by default, so a smoke
test never overwrites the measured document.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from app import atomic
from benchmarks import machine, material, proc, report, suite
from benchmarks.results import Section

DOC = Path("docs/benchmarks.md")
PARTIAL_DOC = Path(".cache/benchmarks-partial.md")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke test of every one")
    p.add_argument(
        "--only",
        nargs="+",
        choices=suite.NAMES,
        metavar="NAME",
        help=f"run only these ({', '.join(suite.NAMES)})",
    )
    p.add_argument("--soak-minutes", type=float, help="length of the soak (default 30)")
    p.add_argument("--live-seconds", type=float, help="length of each live session (default 60)")
    p.add_argument(
        "--size",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override any measurement's size, e.g. window=500",
    )
    p.add_argument(
        "--out",
        type=Path,
        help=f"document to write (default {DOC}; for --quick or "
        f"--only {PARTIAL_DOC}); '-' writes none",
    )
    return p.parse_args(argv)


def sizes(args: argparse.Namespace) -> dict[str, float]:
    out = {b.name: b.quick if args.quick else b.full for b in suite.SUITE}
    if args.soak_minutes is not None:
        out["soak"] = args.soak_minutes
    if args.live_seconds is not None:
        out["live"] = out["gui"] = out["gui-x11"] = args.live_seconds
    for item in args.size:
        name, _, value = item.partition("=")
        suite.get(name)
        out[name] = float(value)
    return out


def run_one(b: suite.Benchmark, size: float) -> tuple[Section, bool]:
    """One measurement in a fresh process; a failure becomes a section that says so."""
    start = time.monotonic()
    try:
        result, _ = proc.run_python(["-m", "benchmarks.child", b.name, repr(size)], pinned=b.pinned)
        return Section.from_dict(result), True
    except Exception as e:  # one broken measurement must not lose the others' figures
        first = str(e).splitlines()
        sec = Section(
            b.name,
            b.name,
            skipped=f"FAILED: {' / '.join(first[-4:])}",
            seconds=time.monotonic() - start,
            size=size,
        )
        return sec, False


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    chosen = [b for b in suite.SUITE if not args.only or b.name in args.only]
    size = sizes(args)
    partial = args.quick or bool(args.only)
    out = args.out or (PARTIAL_DOC if partial else DOC)
    command = " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])])
    info = machine.describe()
    print("\n".join(f"{k}: {v}" for k, v in info.items()), flush=True)
    scratch = tempfile.mkdtemp(prefix="emotion-meter-bench-")
    os.environ[material.SCRATCH_ENV] = scratch
    sections, failed = [], []
    try:
        for b in chosen:
            print(f"\n… {b.name} ({b.words(size[b.name])})", flush=True)
            sec, worked = run_one(b, size[b.name])
            if not worked:
                failed.append(sec)
            sections.append(sec)
            print(report.text_table(sec), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        os.environ.pop(material.SCRATCH_ENV, None)
    info["load average at end (1/5/15 min)"] = machine.load()
    missed = [(s, f) for s, f in report.targets(sections) if f.met is False]
    if missed or not failed:
        print("\nTargets missed:" if missed else "\nEvery measured target met.")
    for s, f in missed:
        print(f"   {s.name}: {f.name}: {report.verdict(f)}")
    if failed:  # their targets were not measured: not "met"
        print("\nNot measured (the measurement failed):")
        for sec in failed:
            print(f"   {sec.name}: {sec.skipped}")
    if str(out) != "-":
        words = {b.name: b.words(size[b.name]) for b in chosen}
        text = report.markdown(sections, info, command, words, report.kept_analysis(out))
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic.write(out, text)
        print(f"\nWrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
