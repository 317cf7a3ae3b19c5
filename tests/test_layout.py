"""The layout holds: imports run one way (no cycle, counting imports inside functions; the app's
cores never import its Qt window, the app never imports training), and the files that grew too
big to read stay small. Read from the source with ``ast``: nothing is imported or run."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "model_training")
ENTRY = "app.__main__"  # the app's entry point starts the window: it may import app.ui
MAIN_LINES = 250  # model_training/__main__.py only parses, dispatches and handles Ctrl-C
UI_LINES = 400


def modules() -> dict[str, Path]:
    """Every module of the two packages by dotted name (a package by its ``__init__``)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imported(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """The modules of the packages that ``name`` imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if (
                target
                and target != name
                and not (name.startswith(target + ".") and known[target].name == "__init__.py")
            ):
                out.add(target)  # a package's own __init__ above it is not an arrow
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(path, name, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_finder_sees_imports_inside_functions(tmp_path: Path) -> None:
    """The check itself: an import inside a function and a relative import are arrows, and two
    modules importing each other are a cycle."""
    (tmp_path / "a.py").write_text("def f():\n    from pkg import b\n")
    (tmp_path / "b.py").write_text("from .a import f\n")
    known = {"pkg.a": tmp_path / "a.py", "pkg.b": tmp_path / "b.py"}
    edges = {n: imported(p, n, known) for n, p in known.items()}
    assert edges == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}}
    assert cycles(edges) == [["pkg.a", "pkg.b"]]


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_imports_run_down_the_floors() -> None:
    """ui → cores, training → app: never back up."""
    upward = []
    for name, targets in graph().items():
        for target in targets:
            core = name.startswith("app") and not name.startswith("app.ui") and name != ENTRY
            if (core and target.startswith("app.ui")) or (
                name.startswith("app") and target.startswith("model_training")
            ):
                upward.append(f"{name} -> {target}")
    assert upward == []


def test_no_file_too_big_to_read() -> None:
    main = len((ROOT / "model_training" / "__main__.py").read_text().splitlines())
    assert main <= MAIN_LINES
    big = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / "app" / "ui").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > UI_LINES
    }
    assert big == {}
