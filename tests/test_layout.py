"""The house rules that keep the code navigable: imports run one way (cli -> app -> runner
-> sources/transforms -> http), no import circle, and no module over 300 lines."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipelines", "sources", "transforms")


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(name: str, path: Path) -> list[tuple[str, bool]]:
    """(imported module, imported at module level) for every import in the file."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top_level = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from . import config` imports pipelines.config; internal() trims the rest
            found += [(f"{base}.{a.name}", id(node) in top_level) for a in node.names]
    return found


def internal(target: str, known: dict[str, Path]) -> str | None:
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target or None


def test_there_is_no_import_circle() -> None:
    known = modules()
    graph = {name: {t for imp, _ in imports(name, path)
                    if (t := internal(imp, known)) and t != name and not name.startswith(t + ".")}
             for name, path in known.items()}
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import circle: {' -> '.join(exc.args[1])}") from None


def test_imports_run_one_way() -> None:
    for name, path in modules().items():
        targets = imports(name, path)
        layer = name.split(".")[0]
        for target, top in targets:
            if layer in ("sources", "transforms"):
                assert not target.startswith("pipelines"), f"{name} imports {target}"
                assert not target.startswith("simulator"), f"{name} imports {target}"
                other = "transforms" if layer == "sources" else "sources"
                assert not target.startswith(other), f"{name} imports {target}"
            if name == "pipelines.cli" and target.startswith("simulator"):
                assert not top, "the CLI imports the simulator only inside its commands"
            if name.startswith("pipelines.") and name not in ("pipelines.cli", "pipelines.demo",
                                                              "pipelines.entry"):
                assert not target.startswith("simulator"), f"{name} imports {target}"
                assert target not in ("pipelines.cli", "pipelines.demo"), f"{name} imports {target}"
    # the bottom of the ladder imports nothing of the project
    assert [t for t, _ in imports("sources.errors", ROOT / "sources/errors.py")
            if t.startswith(PACKAGES)] == []


def test_no_module_is_over_300_lines() -> None:
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text().splitlines())) > 300}
    assert long == {}


def test_sources_and_warehouse_kinds_are_named_in_their_own_homes_only() -> None:
    """Issue 23: the sources' names were spelled out in 19 places of `pipelines/`, the
    DuckDB/Postgres choice switched on in nine places of five files. Now a source's name
    comes from the registry, and only `pipelines/warehouse/` compares warehouse kinds."""
    from sources import registry

    names = set(registry.names())
    for name, path in modules().items():
        if not name.startswith(("pipelines", "transforms")):
            continue
        tree = ast.parse(path.read_text())
        strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                   and isinstance(n.value, str)}
        assert not strings & names, f"{name} names a source: {strings & names}"
        if name.startswith("pipelines.warehouse"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                compared = {c.value for c in [node.left, *node.comparators]
                            if isinstance(c, ast.Constant)}
                assert not compared & {"duckdb", "postgres"}, f"{name} asks the kind"


def test_every_module_imports_where_fcntl_does_not_exist() -> None:
    """Issue 26: `import fcntl` at module level kept the CLI from importing on Windows."""
    import subprocess
    import sys

    code = ("import sys, importlib; sys.modules['fcntl'] = None\n"
            f"for name in {sorted(modules())!r}: importlib.import_module(name)\n"
            "import pipelines.cli, simulator.cli")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
