"""The package's structure as docs/architecture.md describes it, checked rather than hoped for.

The layers themselves are an import-linter contract (``lint-imports``, in ``.ci/run``); this file
checks what a contract cannot: no import cycle between modules, ``import sim`` stays light, one
module starts processes, no module imports the CLI, and modules and functions stay short.

Each check is a function of sources (or of code to run), applied once to ``sim/`` and once to
small synthetic sources that break it, so that every claim here is shown able to fail.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

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


Modules = dict[str, tuple[str, bool]]  # dotted name -> (source, is a package's __init__)


def sim_modules() -> Modules:
    """Every module of ``sim`` by dotted name (a package's ``__init__`` under the package's name)."""
    out = {}
    for path in sorted(SIM.rglob("*.py")):
        parts = list(path.relative_to(SIM.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = (path.read_text(encoding="utf-8"), path.name == "__init__.py")
    return out


def sim_sources() -> dict[str, str]:
    """The source of every file of ``sim`` by its path relative to the checkout (``sim/core/model.py``)."""
    return {p.relative_to(SIM.parent).as_posix(): p.read_text(encoding="utf-8") for p in sorted(SIM.rglob("*.py"))}


# ---- the checks ---------------------------------------------------------------------------------
def imports_of(name: str, source: str, is_pkg: bool, known: set[str]) -> set[str]:
    """Modules in ``known`` that module ``name`` imports at run time (``TYPE_CHECKING`` blocks excluded)."""
    found: set[str] = set()

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

    visit(ast.parse(source))
    return {m for m in found if m in known and m != name}


def import_cycles(modules: Modules) -> list[list[str]]:
    """The import cycles among ``modules`` (each a sorted list of module names)."""
    graph = nx.DiGraph()
    for name, (source, is_pkg) in modules.items():
        graph.add_node(name)
        graph.add_edges_from((name, dep) for dep in imports_of(name, source, is_pkg, set(modules)))
    return sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1)


def cli_importers(modules: Modules) -> list[str]:
    """Modules outside ``sim.cli`` (and ``sim.__main__``) that import ``sim.cli`` or one of its modules."""
    return sorted(name for name, (source, is_pkg) in modules.items() if not name.startswith(("sim.cli", "sim.__main__"))
                  and any(d == "sim.cli" or d.startswith("sim.cli.")
                          for d in imports_of(name, source, is_pkg, set(modules))))


def heavy_loaded(code: str, heavy: tuple[str, ...] = HEAVY, path: Path = SIM.parent) -> list[str]:
    """The modules in ``heavy`` that a fresh interpreter has loaded after running ``code``.

    A top-level name (``scipy``) counts when any of its modules is loaded, a dotted one (``scipy.sparse``)
    when that module is.
    """
    probe = (f"{code}\nimport sys; loaded = set(sys.modules) | {{m.split('.')[0] for m in sys.modules}}\n"
             f"print(','.join(sorted(loaded & {set(heavy)!r})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=path,
                         env={**os.environ, "PYTHONPATH": str(path)}).stdout.strip()
    return out.split(",") if out else []


#: What starts a process, as the dotted name a source imports or refers to: every import of
#: multiprocessing or subprocess, the process pool of concurrent.futures, Dask's LocalCluster and
#: Client, and the functions of os (and pty, asyncio) that fork, spawn or exec a program.
STARTS_PROCESSES = re.compile(r"""
    (multiprocessing|subprocess)(\..+)?
  | concurrent\.futures(\.process)?\.(ProcessPoolExecutor|\*)
  | (dask\.)?distributed(\.[\w.]+)?\.(LocalCluster|Client|\*)
  | os\.(fork\w*|spawn\w*|posix_spawn\w*|system|exec\w*|popen|\*)
  | pty\.(fork|spawn|\*)
  | asyncio(\.subprocess)?\.create_subprocess_\w+
""", re.VERBOSE)


def _bound_names(tree: ast.AST) -> dict[str, str]:
    """Local name -> the dotted name it is bound to by an import anywhere in ``tree``."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    bound[a.asname] = a.name
                else:
                    root = a.name.split(".")[0]
                    bound[root] = root
        elif isinstance(node, ast.ImportFrom) and not node.level:
            bound.update((a.asname or a.name, f"{node.module}.{a.name}") for a in node.names)
    return bound


def _dotted(node: ast.expr, bound: dict[str, str]) -> str | None:
    """The dotted name an expression such as ``mp.Process`` refers to, through the imports."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in bound:
        return None
    return ".".join([bound[node.id], *reversed(attrs)])


def process_starts(source: str) -> list[str]:
    """Where ``source`` imports or refers to something that starts a process (``line N: name``)."""
    tree = ast.parse(source)
    bound = _bound_names(tree)
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}  # only a.b.c, not a.b
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        names: list[str | None] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Attribute | ast.Name) and id(node) not in inner:
            names = [_dotted(node, bound)]
        found.update((node.lineno, n) for n in names if n and STARTS_PROCESSES.fullmatch(n))
    return [f"line {line}: {name}" for line, name in sorted(found)]


def long_modules(sources: dict[str, str], limit: int = MAX_MODULE_LINES) -> dict[str, int]:
    """Files of ``sources`` with more than ``limit`` lines, and their lengths."""
    return {name: n for name, source in sources.items() if (n := len(source.splitlines())) > limit}


def long_functions(sources: dict[str, str], limit: int = MAX_FUNCTION_LINES) -> dict[str, int]:
    """Functions (``file:name``) of ``sources`` with more than ``limit`` lines, and their lengths."""
    long = {}
    for name, source in sources.items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > limit:
                    long[f"{name}:{node.name}"] = n
    return long


# ---- the package -------------------------------------------------------------------------------
def test_no_import_cycle() -> None:
    """The run-time import graph of ``sim`` is acyclic (a package's ``__init__`` counts as a module)."""
    cycles = import_cycles(sim_modules())
    assert not cycles, f"import cycles: {cycles}"


def test_import_sim_is_light() -> None:
    """``import sim`` loads none of the heavy libraries; the public names load them on first use."""
    loaded = heavy_loaded("import sim")
    assert not loaded, f"import sim loaded: {loaded}"


def test_the_model_loads_only_what_a_run_needs() -> None:
    """``sim.core.model`` loads numba (which imports the scipy package itself) and nothing else heavy.

    Issue 16's small-run memory: networkx is loaded by ``Model.graph`` alone and scipy.sparse when a
    world is built (``sim.core.world``); plotting, Mesa, databases and pandas not at all.
    """
    light = tuple(h for h in HEAVY if h not in ("numba", "scipy")) + ("scipy.sparse",)
    loaded = heavy_loaded("import sim.core.model", heavy=light)
    assert not loaded, f"import sim.core.model loaded: {loaded}"


def test_cli_help_is_light() -> None:
    """Building the whole command line (``govsim --help``) loads no heavy library either."""
    loaded = heavy_loaded("from sim.cli import build_parser; build_parser()")
    assert not loaded, f"building the CLI parser loaded: {loaded}"


def test_nothing_imports_the_cli() -> None:
    offenders = cli_importers(sim_modules())
    assert not offenders, f"modules importing sim.cli: {offenders}"


def test_one_module_starts_processes() -> None:
    """Only the experiment runner creates worker processes; OTHER_PROGRAMS start the programs they name."""
    starts = {name: found for name, source in sim_sources().items() if (found := process_starts(source))}
    offenders = {name: found for name, found in starts.items() if name not in {PROCESS_MODULE, *OTHER_PROGRAMS}}
    assert not offenders, f"modules that create processes besides {PROCESS_MODULE}: {offenders}"
    stale = {PROCESS_MODULE, *OTHER_PROGRAMS} - set(starts)
    assert not stale, f"allowed to start processes but start none (update the list): {stale}"


def test_modules_are_short() -> None:
    long = long_modules(sim_sources())
    assert set(long) <= set(LONG_MODULES), f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_functions_are_short() -> None:
    long = long_functions(sim_sources())
    assert set(long) <= set(LONG_FUNCTIONS), f"functions over {MAX_FUNCTION_LINES} lines: {long}"


# ---- each check can fail ------------------------------------------------------------------------
def test_an_import_cycle_is_found_and_a_type_checking_import_is_not_one() -> None:
    modules = {
        "p": ("from . import a\n", True),
        "p.a": ("from p.b import f\n", False),
        "p.b": ("import p.c\n", False),
        "p.c": ("from .a import g\n", False),
        "p.d": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p.e import X\n", False),
        "p.e": ("import p.d\n", False),
    }
    assert import_cycles(modules) == [["p.a", "p.b", "p.c"]]


def test_an_import_of_the_cli_is_found() -> None:
    modules = {"sim.cli": ("", True), "sim.cli.run": ("", False), "sim.cli.common": ("from . import run\n", False),
               "sim.store.x": ("def f():\n    from sim.cli.run import main\n", False),
               "sim.core.y": ("from sim import cli\n", False), "sim.core.z": ("import sim.client\n", False),
               "sim.client": ("", False)}
    assert cli_importers(modules) == ["sim.core.y", "sim.store.x"]


def test_a_heavy_import_is_found() -> None:
    assert heavy_loaded("import json", heavy=("json", "csv")) == ["json"]
    assert heavy_loaded("import json", heavy=("csv",)) == []
    assert heavy_loaded("import json.decoder", heavy=("json.decoder", "json.tool")) == ["json.decoder"]


@pytest.mark.parametrize("source", [
    "import multiprocessing\n",
    "import multiprocessing as mp\nctx = mp.get_context('spawn')\n",
    "from multiprocessing import Process\nProcess(target=print).start()\n",
    "from multiprocessing.pool import Pool\n",
    "from multiprocessing import *\n",
    "def f():\n    import multiprocessing.pool\n",
    "from concurrent.futures import ProcessPoolExecutor as PPE\nPPE(2)\n",
    "import concurrent.futures\nconcurrent.futures.ProcessPoolExecutor(2)\n",
    "import concurrent.futures as cf\ncf.ProcessPoolExecutor()\n",
    "from concurrent import futures\nfutures.ProcessPoolExecutor()\n",
    "from concurrent.futures.process import ProcessPoolExecutor\n",
    "from concurrent.futures import *\n",
    "import subprocess\n",
    "from subprocess import run\nrun(['ls'])\n",
    "from distributed import LocalCluster\nLocalCluster()\n",
    "from distributed import Client\nClient()\n",
    "from dask.distributed import Client as C\n",
    "import distributed\ndistributed.Client('tcp://x')\n",
    "import dask.distributed\ndask.distributed.LocalCluster()\n",
    "import os\nos.fork()\n",
    "import os\nos.forkpty()\n",
    "import os\nos.system('ls')\n",
    "import os\nos.popen('ls')\n",
    "import os\nos.execv('/bin/ls', ['ls'])\n",
    "import os\nos.spawnlp(os.P_WAIT, 'ls', 'ls')\n",
    "import os\nos.posix_spawn('/bin/ls', ['ls'], {})\n",
    "import os\nos.posix_spawnp('ls', ['ls'], {})\n",
    "import os as o\no.system('ls')\n",
    "from os import system\nsystem('ls')\n",
    "from os import posix_spawn as ps\n",
    "import pty\npty.spawn('ls')\n",
    "import asyncio\nasyncio.create_subprocess_exec('ls')\n",
])
def test_each_way_of_starting_a_process_is_found(source: str) -> None:
    assert process_starts(source), source


@pytest.mark.parametrize("source", [
    "import os\nos.path.join('a', 'b')\nos.environ.get('X')\nos.getpid()\n",
    "from concurrent.futures import ThreadPoolExecutor, Future, wait\nThreadPoolExecutor(2)\n",
    "from concurrent.futures.process import BrokenProcessPool\n",
    "from distributed import as_completed\n",
    "from httpx import Client\nClient()\n",
    "system = 'x'\nsystem.upper()\n",
    "def run():\n    pass\nrun()\n",
    "from . import subprocess\n",
])
def test_what_starts_no_process_is_not_found(source: str) -> None:
    assert process_starts(source) == [], source


def test_the_lines_are_named() -> None:
    assert process_starts("import os\n\nos.system('ls')\n") == ["line 3: os.system"]


def test_a_long_module_and_a_long_function_are_found() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    sources = {"a.py": "x = 1\n" * (MAX_MODULE_LINES + 1), "b.py": "def f():\n" + body,
               "c.py": "class C:\n    async def g(self):\n" + body.replace("    ", "        "),
               "d.py": "def h():\n" + body[: body.rindex("    x")]}
    assert long_modules(sources) == {"a.py": MAX_MODULE_LINES + 1}
    assert long_functions(sources) == {"b.py:f": MAX_FUNCTION_LINES + 1, "c.py:g": MAX_FUNCTION_LINES + 1}


def test_importing_every_module_leaves_the_environment_alone() -> None:
    """No module sets an environment variable when imported (numba's thread policy is set by the model).

    Each module of ``sim`` is imported in one fresh interpreter with ``OMP_WAIT_POLICY`` unset; a
    model then sets it (``prefer_sleeping_threads``), unless the user chose a policy.
    """
    code = ("import importlib, os, pkgutil, sim\n"
            "before = dict(os.environ)\n"
            "for m in pkgutil.walk_packages(sim.__path__, 'sim.'):\n"
            "    if m.name != 'sim.__main__':\n"
            "        importlib.import_module(m.name)\n"
            "changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))\n"
            "from sim.core.kernels.jit import prefer_sleeping_threads\n"
            "prefer_sleeping_threads()\n"
            "print(changed, os.environ.get('OMP_WAIT_POLICY'))\n")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] passive"
    env["OMP_WAIT_POLICY"] = "active"  # the user's choice stands
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] active"
