"""Kernels of the problem pool itself: appending latent problems and dropping closed ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
from numba import literal_unroll, types
from numba.core import cgutils
from numba.extending import intrinsic

from sim.config.taxonomy import LATENT
from sim.core.kernels.jit import jit
from sim.core.kernels.state import Fields, PoolColumns


def _memmove_typed(typingctx: Any, arr: Any, dst: Any, src: Any, count: Any) -> tuple[Any, Any]:
    """The signature and code of :data:`memmove`."""
    sig = types.void(arr, types.intp, types.intp, types.intp)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        itemsize = context.get_abi_sizeof(context.get_data_type(signature.args[0].dtype))
        cgutils.raw_memmove(builder, builder.gep(ary.data, [args[1]]), builder.gep(ary.data, [args[2]]), args[3],
                            itemsize)
        return context.get_dummy_value()

    return sig, codegen


#: ``memmove(arr, dst, src, count)``: ``arr[dst:dst + count] = arr[src:src + count]`` for a contiguous 1-d
#: array, by C's memmove, without checks (numba copies a slice element by element, and through a
#: temporary where it may overlap)
memmove = cast(Callable[[np.ndarray, int, int, int], None], intrinsic(_memmove_typed))


@jit
def open_runs(status: np.ndarray) -> tuple[np.ndarray, int, int]:
    """The runs of open rows (status >= 0) that move when the closed rows before them are dropped.

    Returns them as (first row, length, first row after the move) by column, their number, and the
    number of open rows.
    """
    n = status.size
    runs = np.empty((3, n // 2 + 1), dtype=np.int64)  # open runs are separated by closed rows
    n_runs = m = i = 0
    while i < n:
        if status[i] < 0:
            i += 1
            continue
        j = i + 1
        while j < n and status[j] >= 0:
            j += 1
        if m != i:
            runs[0, n_runs], runs[1, n_runs], runs[2, n_runs] = i, j - i, m
            n_runs += 1
        m += j - i
        i = j
    return runs, n_runs, m


@jit
def shift_runs(column: np.ndarray, runs: np.ndarray, n_runs: int) -> None:
    """Move each run of ``column`` down to its new first row (:func:`open_runs`), in order."""
    for k in range(n_runs):
        memmove(column, runs[2, k], runs[0, k], runs[1, k])


@jit
def keep_rows(pool: Fields) -> int:
    """Drop the pool's rows whose status is negative (closed), keeping order; returns the new row count.

    Each run of open rows moves down over the closed rows before it, a block copy per run and column
    (every column of :class:`PoolColumns`, each of its own dtype: ``literal_unroll``).
    """
    runs, n_runs, m = open_runs(PoolColumns(*pool).status)
    for column in literal_unroll(pool):
        shift_runs(column, runs, n_runs)
    return m


@jit
def append_latent(n: int, res: np.ndarray, cat: np.ndarray, sev: np.ndarray, t: int, buffers: Fields) -> None:
    """Write new latent problems into the pool's ``buffers`` (:class:`PoolColumns`) from row ``n`` (the caller made room)."""
    buffers = PoolColumns(*buffers)
    for j in range(res.size):
        i = n + j
        buffers.res[i] = res[j]
        buffers.cat[i] = cat[j]
        buffers.sev[i] = sev[j]
        buffers.status[i] = LATENT
        buffers.level[i] = -1
        buffers.handler[i] = -1
        buffers.t_arise[i] = t
        buffers.t_found[i] = -1
        buffers.t_level[i] = -1
        buffers.n_contacts[i] = 0
        buffers.finder[i] = -1
        buffers.flags[i] = 0
