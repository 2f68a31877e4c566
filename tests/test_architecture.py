"""The package's structure as docs/architecture.md describes it, checked rather than hoped for.

The layers themselves are an import-linter contract (``lint-imports``, in ``.ci/run``); this file
checks what a contract cannot: no import cycle between modules, ``import sim`` stays light, one
module starts processes, no module imports the CLI, and modules and functions stay short.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import networkx as nx

SIM = Path(__file__).resolve().parent.parent / "sim"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
#: Modules allowed to be longer, and why (docs/architecture.md repeats the reasons).
LONG_MODULES: dict[str, str] = {}
#: Functions allowed to be longer, and why.
LONG_FUNCTIONS: dict[str, str] = {}
#: The one module that creates worker processes: local pools and Python child processes that run
#: simulations (Dask's workers are the cluster's).
PROCESS_MODULE = "sim/experiments/runner.py"
#: Other modules that start a program, and why: not a worker, a program the user asked for.
OTHER_PROGRAMS = {
    "sim/mesa/viz.py": "govsim viz serves the Solara app in its own server process",
    "sim/mesa/assets.py": "npm pack fetches the viz's JavaScript assets once",
}
HEAVY = ("numba", "matplotlib", "mesa", "sqlalchemy", "scipy", "pandas", "networkx")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(SIM.rglob("*.py")):
        parts = list(path.relative_to(SIM.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the package that ``name`` imports at run time (``TYPE_CHECKING`` blocks excluded)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    is_pkg = path.name == "__init__.py"

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in known and m != name}


def test_no_import_cycle() -> None:
    """The run-time import graph of ``sim`` is acyclic (a package's ``__init__`` counts as a module)."""
    modules = _modules()
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        graph.add_edges_from((name, dep) for dep in _imports(name, path, set(modules)))
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_import_sim_is_light() -> None:
    """``import sim`` loads none of the heavy libraries; the public names load them on first use."""
    code = f"import sys, sim; print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import sim loaded: {out}"


def test_cli_help_is_light() -> None:
    """Building the whole command line (``govsim --help``) loads no heavy library either."""
    code = ("import sys; from sim.cli import build_parser; build_parser(); "
            f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"building the CLI parser loaded: {out}"


def test_nothing_imports_the_cli() -> None:
    modules = _modules()
    offenders = [name for name, path in modules.items() if not name.startswith(("sim.cli", "sim.__main__"))
                 and any(d.startswith("sim.cli") for d in _imports(name, path, set(modules)))]
    assert not offenders, f"modules importing sim.cli: {offenders}"


def test_one_module_starts_processes() -> None:
    """Only the experiment runner creates worker processes (pools, Process, multiprocessing contexts)."""
    starts = re.compile(r"ProcessPoolExecutor\(|\bPool\(|get_context\(|\.Process\(|subprocess\.|os\.fork\(")
    offenders = sorted(str(p.relative_to(SIM.parent)) for p in SIM.rglob("*.py") if starts.search(p.read_text())
                       and p.relative_to(SIM.parent).as_posix() not in {PROCESS_MODULE, *OTHER_PROGRAMS})
    assert not offenders, f"modules that create processes besides {PROCESS_MODULE}: {offenders}"


def test_modules_are_short() -> None:
    long = {p.relative_to(SIM.parent).as_posix(): n for p in SIM.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert set(long) <= set(LONG_MODULES), f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_functions_are_short() -> None:
    long = {}
    for path in SIM.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(SIM.parent).as_posix()}:{node.name}"] = n
    assert set(long) <= set(LONG_FUNCTIONS), f"functions over {MAX_FUNCTION_LINES} lines: {long}"
