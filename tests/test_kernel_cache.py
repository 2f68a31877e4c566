"""The kernels' disk cache when several processes compile at once (sim.core.kernels.jit._LockedCacheFile)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from filelock import FileLock

import sim.core.kernels.jit as jit

#: a module of kernels through govsim's ``jit``; ``FUNCS[i](x)`` is ``(i + 1) * sum(x)`` in x's dtype
N_FUNCS = 20
KERNELS = "from sim.core.kernels.jit import jit\n" + "".join(
    f"\n\n@jit\ndef f{i}(x):\n    s = x[0] * 0\n    for v in x:\n        s += v * {i + 1}\n    return s\n"
    for i in range(N_FUNCS)) + "\n\nFUNCS = [" + ", ".join(f"f{i}" for i in range(N_FUNCS)) + "]\n"

COMPILE = """
import sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
import race_kernels
start = float(sys.argv[3])
while time.time() < start:
    time.sleep(0.001)
x = np.arange(1, 6, dtype=np.dtype(sys.argv[2]))
for f in race_kernels.FUNCS:
    f(x)
"""

CHECK = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import race_kernels
wrong = []
for dt in sys.argv[2:]:
    x = np.arange(1, 6, dtype=np.dtype(dt))
    for i, f in enumerate(race_kernels.FUNCS):
        if f(x) != x.sum() * (i + 1):
            wrong.append([dt, i])
print(json.dumps({"wrong": wrong, "compiled": sum(len(f.stats.cache_misses) for f in race_kernels.FUNCS)}))
"""

DTYPES = ("int8", "int16", "int32", "int64", "float32", "float64")


def test_processes_compiling_a_kernel_at_once_leave_each_signature_its_own_code(tmp_path: Path) -> None:
    """Six processes compile the same twenty kernels at the same moment, each for its own dtype; a
    seventh then loads every kernel for every dtype from the cache: all right, none compiled again.

    With numba's own cache file (no lock) this layout lost signatures and paired others with another
    dtype's machine code in 5 of 5 tries here (a TypeError on loading, a segfault in govsim's kernels).
    """
    (tmp_path / "race_kernels.py").write_text(KERNELS, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(jit.__file__).parents[3]), os.environ.get(
        "PYTHONPATH", "")])}
    env.pop("NUMBA_CACHE_DIR", None)  # the cache next to the module, where the test looks
    start = str(time.time() + 4.0)  # after every process has imported numba
    procs = [subprocess.Popen([sys.executable, "-c", COMPILE, str(tmp_path), dt, start], env=env)
             for dt in DTYPES]
    assert [p.wait(timeout=300) for p in procs] == [0] * len(DTYPES)
    out = subprocess.run([sys.executable, "-c", CHECK, str(tmp_path), *DTYPES], env=env, capture_output=True,
                         text=True, timeout=300, check=True)
    assert out.stdout.strip() == '{"wrong": [], "compiled": 0}'
    assert len(list((tmp_path / "__pycache__").glob("race_kernels.f0-*.nbc"))) == len(DTYPES)


class _Probe:
    """A cache file of a throw-away kernel: what ``save`` wrote, and a hook in the middle of saving data."""

    def __init__(self, cache_dir: Path) -> None:
        self.file = jit._LockedCacheFile(cache_path=str(cache_dir), filename_base="probe.f-1.py311",
                                         source_stamp=("stamp", "package"))
        self.during_data: Any = None
        save_data = self.file._save_data

        def hooked(name: str, data: Any) -> None:
            if self.during_data is not None:
                hook, self.during_data = self.during_data, None
                hook()
            save_data(name, data)

        self.file._save_data = hooked  # type: ignore[method-assign]


def test_a_save_waits_for_the_one_under_way_and_takes_another_data_file(tmp_path: Path) -> None:
    """While one save is between choosing its data file and writing its index, another (here a thread;
    across processes the same lock) waits, then reads the new index and takes the next file."""
    a, b = _Probe(tmp_path), _Probe(tmp_path)
    done: list[str] = []

    def other_save() -> None:
        b.file.save("sig-b", "code-b")
        done.append("b")

    thread = threading.Thread(target=other_save)

    def start_other() -> None:
        thread.start()
        time.sleep(0.3)
        assert not done, "the second save did not wait for the lock"

    a.during_data = start_other
    a.file.save("sig-a", "code-a")
    thread.join(timeout=30)
    assert done == ["b"]
    index = a.file._load_index()
    assert sorted(index.items()) == [("sig-a", "probe.f-1.py311.1.nbc"), ("sig-b", "probe.f-1.py311.2.nbc")]
    assert a.file.load("sig-a") == "code-a" and a.file.load("sig-b") == "code-b"
    assert (tmp_path / jit.CACHE_LOCK).exists()


def test_a_lock_that_cannot_be_taken_leaves_the_kernel_unsaved_not_failed(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A lock file that cannot be opened (here a directory in its place), or a lock held past the wait: the
    kernel still compiles and runs, is not saved (as with an unwritable cache), and the process says so once
    and saves no more (one wait, not one a kernel)."""
    (tmp_path / "locked_kernels.py").write_text(
        "from sim.core.kernels.jit import jit\n\n\n@jit\ndef add_one(x):\n    return x + 1\n\n\n@jit\n"
        "def add_two(x):\n    return x + 2\n\n\n@jit\ndef add_three(x):\n    return x + 3\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(jit, "_KERNELS", [])
    monkeypatch.setattr(jit, "_UNSAVED", [])
    mod = importlib.import_module("locked_kernels")
    try:
        cache = Path(mod.add_one._cache._cache_path)  # in-tree, or NUMBA_CACHE_DIR's
        cache.mkdir(parents=True, exist_ok=True)
        (cache / jit.CACHE_LOCK).mkdir()
        with pytest.warns(RuntimeWarning, match="not saved"):
            assert mod.add_one(1) == 2
        assert not list(cache.glob("locked_kernels.add_one-*"))
        (cache / jit.CACHE_LOCK).rmdir()
        assert mod.add_two(1) == 3  # no more saves in this process: nothing written, no second warning
        assert not list(cache.glob("locked_kernels.add_two-*"))
        monkeypatch.setattr(jit, "_UNSAVED", [])
        monkeypatch.setattr(jit, "CACHE_LOCK_WAIT", 0.2)
        with FileLock(str(cache / jit.CACHE_LOCK)):  # another process's save that hangs
            t0 = time.perf_counter()
            with pytest.warns(RuntimeWarning, match="Timeout"):
                assert mod.add_three(1) == 4
            assert time.perf_counter() - t0 < 10
        assert not list(cache.glob("locked_kernels.add_three-*"))
    finally:
        sys.modules.pop("locked_kernels", None)


PARALLEL_KERNELS = '''
import numpy as np
from numba import prange
from sim.core.kernels.jit import jit, jit_parallel


@jit_parallel
def doubled(x):
    out = np.empty_like(x)
    for i in prange(x.size):
        out[i] = 2 * x[i]
    return out


@jit
def caller(x):
    return doubled(x).sum()
'''

STEP = """
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import par_kernels
x = np.arange(100_000, dtype=np.float64)
for name in sys.argv[2:]:
    print(name, float(np.sum(getattr(par_kernels, name)(x))))
"""


def test_a_kernel_compiled_after_its_parallel_callee_was_loaded_from_the_cache_starts_the_threads(
        tmp_path: Path) -> None:
    """One process caches a parallel kernel; a second loads it from the cache, then compiles and caches a
    kernel calling it; a third loads only the caller and runs it. numba gives a caller compiled against a
    cached parallel callee no thread start on loading (its library forgets the callee's), so the third
    process crashed (a segfault in the find phase, after xdist's workers compiled the kernels in CI)."""
    (tmp_path / "par_kernels.py").write_text(PARALLEL_KERNELS, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(jit.__file__).parents[3]), os.environ.get(
        "PYTHONPATH", "")])}
    env.pop("NUMBA_CACHE_DIR", None)
    want = float(2 * np.arange(100_000, dtype=np.float64).sum())
    for names in (["doubled"], ["doubled", "caller"], ["caller"]):
        out = subprocess.run([sys.executable, "-c", STEP, str(tmp_path), *names], env=env, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, (names, out.returncode, out.stderr[-2000:])
        assert out.stdout.split()[-1] == str(want)
