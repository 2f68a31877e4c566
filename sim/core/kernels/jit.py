"""The one decorator every kernel is compiled with, and the constants the kernels share.

Kernels are compiled on first use and cached on disk (numba's ``cache=True``, in the package's
``__pycache__``); nothing is compiled at import. numba decides whether a cached kernel is fresh
from its own source file only, yet a kernel's machine code includes the kernels it calls from
other modules of this package, and constants of ``sim/config/taxonomy.py``. So the cache here is
stamped with a digest of all of them: editing any recompiles every kernel rather than run stale code.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numba
import numpy as np
from numba.core.caching import CompileResultCacheImpl, FunctionCache, IndexDataCacheFile

P = ParamSpec("P")
R = TypeVar("R")

#: float32 zero and one: clipping float32 state stays in float32
ZERO32 = np.float32(0.0)
ONE32 = np.float32(1.0)

_PACKAGE = Path(__file__).resolve().parent
#: modules whose constants are compiled into the kernels' machine code (status and level codes)
_CONSTANTS = (_PACKAGE.parents[1] / "config" / "taxonomy.py",)


#: modules of the package no kernel calls (the tests' definitions): editing them recompiles nothing
_NOT_COMPILED = frozenset({"numpy_definitions.py", "c_library.py"})


@functools.cache
def package_stamp() -> str:
    """Digest of every module compiled into a kernel: the package's and the taxonomy (read once per process).

    The numpy definitions and the C library's functions they use are left out: no kernel calls them.
    """
    digest = hashlib.sha256()
    for path in [*sorted(_PACKAGE.glob("*.py")), *_CONSTANTS]:
        if path.name in _NOT_COMPILED:
            continue
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class _PackageStamped:
    """numba's cache locator for a kernel, its source stamp extended by :func:`package_stamp`."""

    def __init__(self, locator: Any) -> None:
        self._locator = locator

    def __getattr__(self, name: str) -> Any:
        return getattr(self._locator, name)

    def get_source_stamp(self) -> tuple[Any, str]:
        """The kernel's own file stamp and the package's."""
        return self._locator.get_source_stamp(), package_stamp()


class _KernelCacheImpl(CompileResultCacheImpl):
    """numba's per-function cache with the package-wide freshness stamp."""

    @property
    def locator(self) -> _PackageStamped:
        """The locator numba chose (in-tree ``__pycache__``, else the user's cache directory)."""
        return _PackageStamped(super().locator)

    def rebuild(self, target_context: Any, payload: Any) -> Any:
        """A kernel from the cache, its library keeping what must run on loading (the thread start).

        numba runs a cached kernel's ``reload_init`` (for parallel loops: start numba's threads) but
        leaves it off the kernel's library; a kernel compiled later in the process that calls it inherits
        the functions from the libraries it links, so it got none, was cached without the thread start
        and crashed when a new process loaded it (a segfault in the find phase, in CI after xdist's
        workers compiled the kernels, each loading what the other had cached).
        """
        result = super().rebuild(target_context, payload)
        result.library._reload_init.update(result.reload_init)
        return result


#: the lock file, in each cache directory, that saving a compiled kernel holds (:class:`_LockedCacheFile`)
CACHE_LOCK = "govsim-kernels.lock"


#: why this process stopped saving compiled kernels (empty while it saves them)
_UNSAVED: list[str] = []

#: seconds a process waits for another's save of a compiled kernel (milliseconds, unless it hangs) before
#: it leaves its own unsaved
CACHE_LOCK_WAIT = 30.0


class _LockedCacheFile(IndexDataCacheFile):
    """numba's index and data files of a kernel, each new entry saved under a lock shared by all processes.

    numba names a new entry's data file from the index as it read it, without a lock: two processes
    compiling different signatures of a kernel at once (xdist's test workers, a sweep's workers after
    an edit) can both take ``.1.nbc``, and one's index then names the other's machine code. Later
    processes load it as the kernel for the wrong types: a TypeError, or a segfault. Here the
    index is read again under the lock, the data written, then the index that names it. A lock that
    cannot be taken (not writable, no ``flock``, held past :data:`CACHE_LOCK_WAIT`) leaves the entry
    unsaved, as an unwritable cache does: this process runs the code it compiled, a later one compiles again.
    """

    def save(self, key: Any, data: Any) -> None:
        """Save the compiled ``data`` of signature ``key``, or nothing if the lock or the files fail.

        After a failure this process saves no more (one wait of :data:`CACHE_LOCK_WAIT`, not one per
        kernel) and says so once, as a warning: later processes will compile again.
        """
        if _UNSAVED:
            return
        from filelock import FileLock, Timeout  # ~1 MB: imported by the processes that compile, not by every run

        try:
            with FileLock(os.path.join(self._cache_path, CACHE_LOCK), timeout=CACHE_LOCK_WAIT, mode=0o666):
                self._save_locked(key, data)
        except (OSError, NotImplementedError, Timeout) as exc:
            _UNSAVED.append(f"{type(exc).__name__}: {exc}")
            warnings.warn(f"govsim: compiled kernels are not saved to {self._cache_path} ({_UNSAVED[0]}); "
                          "they run, and later processes compile them again", RuntimeWarning, stacklevel=2)

    def _save_locked(self, key: Any, data: Any) -> None:
        """The save, under the lock: the index read now, the data written, then the index naming it."""
        overloads = self._load_index()
        if key in overloads:  # a signature saved before: its file is rewritten, the index stays
            self._save_data(overloads[key], data)
            return
        taken = set(overloads.values())
        overloads[key] = next(n for n in map(self._data_name, itertools.count(1)) if n not in taken)
        self._save_data(overloads[key], data)
        self._save_index(overloads)


class _KernelCache(FunctionCache):
    """What ``Dispatcher.enable_caching`` installs, with :class:`_KernelCacheImpl` and :class:`_LockedCacheFile`."""

    _impl_class = _KernelCacheImpl

    def __init__(self, py_func: Any) -> None:
        super().__init__(py_func)
        self._cache_file = _LockedCacheFile(cache_path=self._cache_path, filename_base=self._impl.filename_base,
                                            source_stamp=self._impl.locator.get_source_stamp())


#: every kernel declared so far (by the kernel modules imported), for :func:`cache_is_cold`
_KERNELS: list[Any] = []


def _compile(fn: Callable[P, R], **options: Any) -> Callable[P, R]:
    """``numba.njit(nogil=True, **options)``, cached on disk with the package's stamp."""
    kernel = numba.njit(nogil=True, **options)(fn)
    # what enable_caching() (njit's cache=True) sets, with the package's stamp
    kernel._cache = _KernelCache(fn)
    if options.get("inline") != "always":  # inlined helpers are compiled into their callers, never cached alone
        _KERNELS.append(kernel)
    return kernel


def prefer_sleeping_threads() -> None:
    """Let numba's OpenMP threads sleep between parallel loops rather than spin, unless the user chose.

    The phases between the loops run on one thread, and a spinning thread takes the core they need
    (on two busy cores a district day took longer on 2 threads than on 1 with spinning, two thirds
    as long without). The OpenMP runtime reads ``OMP_WAIT_POLICY`` once, when the first parallel
    kernel starts its threads: :class:`~sim.core.model.Model` calls this before any kernel runs
    (rather than setting it when this module is imported).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")


def cache_is_cold() -> bool:
    """Whether a kernel of the modules imported so far has no fresh compiled code on disk.

    Then its first call compiles it (about 30 s of CPU for all of them, once per machine and version of
    the kernels). Read from numba's cache index of each kernel, as numba does before compiling:
    missing, of another numba version, or with another source stamp counts as cold. Kernels
    already compiled in this process are warm.
    """
    for kernel in _KERNELS:
        if kernel.signatures:
            continue
        try:
            if not kernel._cache._cache_file._load_index():
                return True
        except Exception:  # noqa: BLE001 - an unreadable index is recompiled by numba: cold
            return True
    return False


def jit(fn: Callable[P, R]) -> Callable[P, R]:
    """Compile ``fn`` in nopython mode without the GIL, cached on disk with the package's stamp."""
    return _compile(fn)


def jit_parallel(fn: Callable[P, R]) -> Callable[P, R]:
    """:func:`jit` with numba's parallel loops (``numba.prange``) on numba's thread pool.

    Only for loops whose iterations write disjoint elements and read nothing another iteration
    writes, so that the result is the same bit for bit for any number of threads
    (``numba.set_num_threads``; ``tests/test_kernels.py`` runs them at 1 and 2 threads).
    """
    return _compile(fn, parallel=True)


def jit_inline(fn: Callable[P, R]) -> Callable[P, R]:
    """:func:`jit`, and inlined into the kernels that call it (numba IR inlining).

    For helpers called per row with named tuples of arrays: a compiled call passes each array of
    a tuple with a reference count increment and decrement, which costs more than the work.
    """
    return _compile(fn, inline="always")


def unsigned(ids: np.ndarray) -> np.ndarray:
    """A non-negative integer array viewed as unsigned: numba then skips negative-index checks."""
    return ids.view(np.uint32 if ids.dtype.itemsize == 4 else np.uint64)
