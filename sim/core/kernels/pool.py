"""Kernels of the problem pool itself: appending latent problems and dropping closed ones."""

from __future__ import annotations

import numpy as np

from sim.config.taxonomy import LATENT
from sim.core.kernels.jit import jit, jit_inline
from sim.core.kernels.state import Fields, PoolColumns


@jit_inline
def move_row(pool: PoolColumns, i: int, m: int) -> None:
    """Copy pool row ``i`` to row ``m`` (every column)."""
    pool.status[m] = pool.status[i]
    pool.res[m] = pool.res[i]
    pool.cat[m] = pool.cat[i]
    pool.sev[m] = pool.sev[i]
    pool.level[m] = pool.level[i]
    pool.handler[m] = pool.handler[i]
    pool.t_arise[m] = pool.t_arise[i]
    pool.t_found[m] = pool.t_found[i]
    pool.t_level[m] = pool.t_level[i]
    pool.n_contacts[m] = pool.n_contacts[i]
    pool.finder[m] = pool.finder[i]
    pool.flags[m] = pool.flags[i]


@jit
def keep_rows(pool: Fields) -> int:
    """Drop the pool's rows whose status is negative (closed), keeping order; returns the new row count."""
    pool = PoolColumns(*pool)
    status = pool.status
    m = 0
    for i in range(status.size):
        if status[i] >= 0:
            if m != i:
                move_row(pool, i, m)
            m += 1
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
