"""numpy's generators drawn from inside a kernel: the same numbers, the generator itself moving on.

A kernel given a stream's :func:`handle` (where numpy's bit generator keeps its state, and its C
functions for the next 64-bit, 32-bit and double draw) makes a numba ``Generator`` of it
(:func:`generator_at`) and draws with numba's ports of numpy's distributions (``random``,
``binomial``). They call numpy's own bit generator on numpy's own state, so the draws are numpy's,
in the same order, and the Python ``Generator`` is left where the same calls in Python would leave
it. Kernels that step PCG64 themselves (:mod:`~sim.core.kernels.pcg`) read and move its state
through :func:`pcg_state`, a view of numpy's own words. numba has no ``choice``:
:func:`choice_without_replacement` is numpy's, step for step; and its Poisson truncates where numpy
floors (from a rate of 10, one draw in ~10^4 at 10 differs, and every one after it), so
:func:`poisson` is numpy's, step for step. ``tests/test_draws.py`` holds each to numpy bit for bit,
a million draws a case. numba's binomial is numpy's from numba 0.67 (before, its
BTPE method truncated ``p1`` and had a wrong constant).

Why: passing a ``Generator`` to a kernel costs numba ~7 microseconds of Python attribute lookups
each call (more than a phase's draws), and drawing in Python costs a call into numpy per draw;
a handle is four integers.
"""

from __future__ import annotations

import ctypes
import re
from typing import Any

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.random.distributions import random_loggam, random_poisson_mult
from numba.np.random.generator_core import next_double, next_uint32, next_uint64
from numba.np.random.random_methods import bounded_lemire_uint64, buffered_bounded_lemire_uint32

from sim.core.kernels.jit import jit, jit_inline

_NUMBA = re.match(r"(\d+)\.(\d+)", numba.__version__)  # a build without a release number is not checked
if _NUMBA and (int(_NUMBA[1]), int(_NUMBA[2])) < (0, 67):
    raise ImportError(f"govsim needs numba >= 0.67 (its numpy binomial differs before), found {numba.__version__}")

#: numpy's largest Poisson rate (``Generator.poisson`` refuses larger ones)
POISSON_LAM_MAX = float(np.iinfo(np.int64).max - np.sqrt(np.iinfo(np.int64).max) * 10)

#: numba's types of a numpy Generator and of its bit generator (the members :func:`generator_at` fills)
_GENERATOR = types.NumPyRandomGeneratorType("NumPyRandomGeneratorType")
_BIT_GENERATOR = types.NumPyRandomBitGeneratorType("bit_generator")

#: A stream as a kernel takes it: uint64 addresses of numpy's bit generator state and of its
#: ``next_uint64``, ``next_uint32`` and ``next_double`` functions (:func:`handle`).
Handle = tuple[np.uint64, np.uint64, np.uint64, np.uint64]


def handle(rng: np.random.Generator) -> Handle:
    """The addresses a kernel draws from ``rng`` with.

    They point into ``rng``: the caller keeps ``rng`` alive while a kernel may use them, and never
    pickles them (a handle of a freed generator draws from freed memory). :meth:`sim.core.rng.Streams.handle`
    keeps both, and leaves handles out of its pickle.
    """
    iface = rng.bit_generator.ctypes

    def address(fn: Any) -> np.uint64:
        value = ctypes.cast(fn, ctypes.c_void_p).value
        if not value:
            raise ValueError("numpy's bit generator has no function at this address")
        return np.uint64(value)

    return (np.uint64(iface.state_address), address(iface.next_uint64), address(iface.next_uint32),
            address(iface.next_double))


#: numpy's PCG64 state as a kernel steps it in place (:func:`pcg_state`): four uint64 words viewing the
#: generator's ``pcg64_random_t`` (its state, then its increment, 128 bits each), and the index of
#: the high half within each pair (1 where the C compiler has 128-bit integers, 0 where numpy emulates them)
PcgState = tuple[np.ndarray, int]

_MASK64 = (1 << 64) - 1


def pcg_state(rng: np.random.Generator) -> PcgState:
    """The words of ``rng``'s PCG64 state, which a kernel reads and moves on in place (``pcg.take_row_starts``).

    The view points into ``rng`` and keeps it alive. Its layout is numpy's private ``pcg64_random_t``,
    reached through the first member of numpy's ``pcg64_state``; the four words read there are checked
    against ``bit_generator.state``, so words laid out otherwise are refused (RuntimeError), not used.
    (A numpy whose ``pcg64_state`` began otherwise could fault on that read: numpy 1.17 to 2.x keep it.)
    The buffered 32-bit half-draw is not in the view: stepping the state leaves it, as
    ``Generator.random`` does.
    """
    bits = rng.bit_generator
    if not isinstance(bits, np.random.PCG64):
        raise TypeError(f"a kernel steps a PCG64 generator's state, got {type(bits).__name__}")
    struct = ctypes.c_void_p.from_address(bits.ctypes.state_address).value  # pcg64_state.pcg_state
    if not struct:
        raise RuntimeError("numpy's PCG64 has no state at its address")
    buf = (ctypes.c_uint64 * 4).from_address(struct)
    buf._generator = rng  # type: ignore[attr-defined]  # the view keeps the generator (and its state) alive
    words = np.ctypeslib.as_array(buf)
    state = bits.state["state"]
    halves = [int(v) for x in (state["state"], state["inc"]) for v in (x >> 64, x & _MASK64)]  # hi, lo, hi, lo
    for hi in (1, 0):  # __uint128_t (little-endian: low, high) or numpy's emulated struct (high, low)
        if [int(words[hi]), int(words[1 - hi]), int(words[2 + hi]), int(words[3 - hi])] == halves:
            return words, hi
    raise RuntimeError("numpy's PCG64 state is laid out as govsim does not know (sim.core.kernels.draws.pcg_state)")


@intrinsic
def _generator_at(typingctx: Any, h: Any) -> Any:
    """A numba ``Generator`` on the bit generator a :data:`Handle` points at (no Python object behind it)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        state, next_u64, next_u32, next_double = (builder.extract_value(args[0], i) for i in range(4))
        bits = cgutils.create_struct_proxy(_BIT_GENERATOR)(context, builder)
        bits.parent = cgutils.get_null_value(bits.parent.type)
        bits.state_address = state
        bits.state = state
        bits.fnptr_next_uint64 = next_u64
        bits.fnptr_next_uint32 = next_u32
        bits.fnptr_next_double = next_double
        bits.bit_generator = context.get_constant(types.uintp, 0)
        gen = cgutils.create_struct_proxy(_GENERATOR)(context, builder)
        gen.bit_generator = bits._getvalue()
        gen.meminfo = cgutils.get_null_value(gen.meminfo.type)
        gen.parent = cgutils.get_null_value(gen.parent.type)
        return gen._getvalue()

    return _GENERATOR(types.UniTuple(types.uint64, 4)), codegen


#: :func:`_generator_at` as kernels call it (numba's intrinsic takes the typing context itself)
generator_at: Any = _generator_at


@jit_inline
def poisson(gen: Any, lam: float) -> np.int64:
    """A Poisson draw as numpy's ``random_poisson``, where numba's port truncates and numpy floors.

    0 at rate 0, by multiplying uniforms below 10 (numba's), else PTRS (Hormann's transformed rejection),
    as numba's but for numpy's ``floor``, with numba's ``random_loggam`` (numpy's series).
    """
    bits = gen.bit_generator
    if not lam >= 10.0:  # numpy's order of branches: a nan rate goes here (and returns 0) as in numpy
        return np.int64(0) if lam == 0.0 else np.int64(random_poisson_mult(bits, lam))  # numba's is numpy's
    slam, loglam = np.sqrt(lam), np.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2)
    while True:
        u = next_double(bits) - 0.5
        v = next_double(bits)
        us = 0.5 - np.fabs(u)
        k = np.int64(np.floor((2 * a / us + b) * u + lam + 0.43))
        if us >= 0.07 and v <= vr:
            return k
        if k < 0 or (us < 0.013 and v > us):
            continue
        if np.log(v) + np.log(invalpha) - np.log(a / (us * us) + b) <= -lam + np.float64(k) * loglam - random_loggam(
                np.float64(k) + 1):
            return k


@jit_inline
def check_poisson(lam: float) -> None:
    """As numpy, refuse a Poisson rate: ``ValueError`` if negative, nan or above :data:`POISSON_LAM_MAX`."""
    if not (lam >= 0.0):
        raise ValueError("lam < 0 or lam is NaN")
    if lam > POISSON_LAM_MAX:
        raise ValueError("lam value too large")


@jit_inline
def check_binomial(n: int | np.integer, p: float) -> None:
    """As numpy, refuse a binomial's ``n`` and ``p``: ``ValueError`` if ``n < 0`` or ``p`` outside [0, 1] or nan."""
    if not (0.0 <= p <= 1.0):  # numpy checks p first
        raise ValueError("p < 0, p > 1 or p is NaN")
    if n < 0:
        raise ValueError("n < 0")


@jit_inline
def bounded(gen: Any, rng: int) -> np.uint64:
    """A uint64 draw in ``[0, rng]``: numpy's ``random_bounded_uint64(bitgen, 0, rng, 0, false)`` (Lemire's method).

    Below 2**32 from 32-bit draws (numpy's bit generator keeps the other half of a 64-bit draw for
    the next), above from 64-bit draws, by numba's ports of numpy's two Lemire methods; numpy's
    dispatch among them and the full ranges, so the same draws are used up.
    """
    bits = gen.bit_generator
    r = np.uint64(rng)
    if r == 0:
        return np.uint64(0)
    if r == np.uint64(0xFFFFFFFF):  # the 32-bit Lemire method excludes its full range
        return np.uint64(next_uint32(bits))
    if r < np.uint64(0xFFFFFFFF):
        return np.uint64(buffered_bounded_lemire_uint32(bits, r))
    if r == np.uint64(0xFFFFFFFFFFFFFFFF):
        return np.uint64(next_uint64(bits))
    return np.uint64(bounded_lemire_uint64(bits, r))


@jit_inline
def shuffle_tail(gen: Any, n: int, first: int, data: np.ndarray) -> None:
    """As numpy's ``_shuffle_int``: ``data[n - 1]`` down to ``data[first]``, each swapped with an earlier place."""
    for i in range(n - 1, first - 1, -1):
        j = bounded(gen, i)
        data[i], data[j] = data[j], data[i]


@jit
def choice_without_replacement(gen: Any, n: int, k: int) -> np.ndarray:
    """``Generator.choice(n, size=k, replace=False)``: numpy's algorithm, its draws, its int64 result.

    A partial shuffle of ``arange(n)`` when ``n > 10,000`` and ``k > n // 50``, else Floyd's
    algorithm with numpy's open-addressing set, then the sample shuffled.
    """
    if n > 10_000 and k > n // 50:
        idx = np.arange(n, dtype=np.int64)
        shuffle_tail(gen, n, max(n - k, 1), idx)
        return idx[n - k:].copy()
    out = np.empty(k, dtype=np.int64)
    mask = np.uint64(np.float64(1.2) * np.float64(k))  # numpy's <uint64_t>(1.2 * size), then the mask over it
    for s in (1, 2, 4, 8, 16, 32):
        mask |= mask >> np.uint64(s)
    empty = np.uint64(0xFFFFFFFFFFFFFFFF)
    table = np.full(np.int64(mask) + 1, empty, dtype=np.uint64)
    for j in range(n - k, n):
        val = bounded(gen, j)
        loc = val & mask
        while table[loc] != empty and table[loc] != val:
            loc = (loc + np.uint64(1)) & mask
        if table[loc] == empty:  # val not drawn before
            table[loc] = val
            out[j - n + k] = np.int64(val)
        else:  # it was: take j instead
            loc = np.uint64(j) & mask
            while table[loc] != empty:
                loc = (loc + np.uint64(1)) & mask
            table[loc] = np.uint64(j)
            out[j - n + k] = j
    shuffle_tail(gen, k, 1, out)
    return out
