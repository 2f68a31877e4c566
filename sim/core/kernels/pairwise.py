"""Sums as numpy computes them (pairwise), so recorded figures are numpy's to the last bit."""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from sim.core.kernels.jit import ZERO32, jit

#: the accumulator's type: float64 (a Python float) or float32
Acc = TypeVar("Acc", float, np.float32)


#: the offsets 0 to 8 as unsigned integers (:func:`block`'s indices)
_U = tuple(np.uint64(i) for i in range(9))


@jit
def block(a: np.ndarray, lo: int, n: int, zero: Acc) -> Acc:
    """Numpy's pairwise-sum leaf (n <= 128): sequential below 8 elements, else 8 accumulators.

    Accumulated in the type of ``zero`` (float64, or float32 as numpy sums a float32 array).
    """
    res = zero
    if n < 8:
        for i in range(lo, lo + n):
            res += a[i]
        return res
    # unsigned indices: numba then loads without a negative-index check each (the leaves ~25% faster)
    k, end, stop = np.uint64(lo), np.uint64(lo + n - n % 8), np.uint64(lo + n)
    r0, r1, r2, r3 = zero + a[k], zero + a[k + _U[1]], zero + a[k + _U[2]], zero + a[k + _U[3]]
    r4, r5, r6, r7 = zero + a[k + _U[4]], zero + a[k + _U[5]], zero + a[k + _U[6]], zero + a[k + _U[7]]
    k += _U[8]
    while k < end:
        r0 += a[k]
        r1 += a[k + _U[1]]
        r2 += a[k + _U[2]]
        r3 += a[k + _U[3]]
        r4 += a[k + _U[4]]
        r5 += a[k + _U[5]]
        r6 += a[k + _U[6]]
        r7 += a[k + _U[7]]
        k += _U[8]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while k < stop:
        res += a[k]
        k += _U[1]
    return res


@jit
def pairwise(a: np.ndarray, lo: int, n: int, zero: Acc) -> Acc:
    """``a[lo:lo+n].sum()`` as numpy computes it, in the type of ``zero``.

    Halves (rounded down to a multiple of 8) until blocks of at most 128 (:func:`block`).
    """
    if n <= 128:
        return block(a, lo, n, zero)
    return pairwise_with(a, lo, n, zero, np.empty((3, 192), dtype=np.int64), np.full(96, zero))


@jit
def pairwise_with(a: np.ndarray, lo: int, n: int, zero: Acc, work: np.ndarray, vals: np.ndarray) -> Acc:
    """:func:`pairwise` on the caller's scratch, for callers that sum many slices (no allocation per sum).

    The tree is walked with an explicit stack (cached numba code and recursion do not mix): ``work``
    (int64, (3, 192): lo, n, kind: 0 evaluate, 1 add the top two values) and ``vals`` (96, of the
    type of ``zero``).
    """
    if n <= 128:
        return block(a, lo, n, zero)
    work[0, 0], work[1, 0], work[2, 0] = lo, n, 0
    sp, vp = 1, 0
    while sp > 0:
        sp -= 1
        at, m, kind = work[0, sp], work[1, sp], work[2, sp]
        if kind == 1:
            vp -= 1
            vals[vp - 1] = vals[vp - 1] + vals[vp]
        elif m <= 128:
            vals[vp] = block(a, at, m, zero)
            vp += 1
        else:
            n2 = m // 2
            n2 -= n2 % 8
            work[0, sp], work[1, sp], work[2, sp] = 0, 0, 1
            work[0, sp + 1], work[1, sp + 1], work[2, sp + 1] = at + n2, m - n2, 0
            work[0, sp + 2], work[1, sp + 2], work[2, sp + 2] = at, n2, 0
            sp += 3
    return vals[0]


@jit
def pairwise64(a: np.ndarray, lo: int, n: int) -> float:
    """``a[lo:lo+n].sum()`` in float64 (elements converted), as numpy does it."""
    return pairwise(a, lo, n, 0.0)


@jit
def pairwise32(a: np.ndarray, lo: int, n: int) -> float:
    """``a[lo:lo+n].sum()`` of a float32 array accumulated in float32 (returned as float64)."""
    return np.float64(pairwise(a, lo, n, ZERO32))


@jit
def mean64(a: np.ndarray) -> float:
    """``a.mean(dtype=np.float64)`` of a float32 array: numpy casts it in buffers of 8,192."""
    work, vals = np.empty((3, 192), dtype=np.int64), np.empty(96)
    res = 0.0
    lo = 0
    while lo < a.size:
        n = min(8192, a.size - lo)
        res += pairwise_with(a, lo, n, 0.0, work, vals)
        lo += n
    return res / a.size


@jit
def sum32(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``float(a.sum()), float(b.sum())`` of two float32 arrays, as numpy sums them."""
    return pairwise32(a, 0, a.size), pairwise32(b, 0, b.size)
