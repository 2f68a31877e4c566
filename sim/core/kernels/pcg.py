"""numpy's PCG64 stepped inside a kernel: the doubles ``Generator.random`` would give, without the array.

A phase that reads ``k`` uniforms per row, ``u = rng.random((k, n))``, can instead step ``k``
PCG64 states in its row loop, one started where each row of ``u`` starts
(:func:`take_row_starts`, from the generator's own state: ``draws.pcg_state``): the same numbers,
in the same rows, and the generator left where ``rng.random`` leaves it, without writing and reading
``8 k n`` bytes. numpy's PCG64 is the 128-bit LCG ``s <- s * MULT + inc`` with the XSL-RR output; a
double is the output's top 53 bits times 2**-53 (numpy's ``next_double``). ``tests/test_rng.py`` holds :func:`next_double` to numpy's
``Generator.random`` bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from sim.core.kernels.jit import jit, jit_inline

#: numpy's PCG64 multiplier (PCG_DEFAULT_MULTIPLIER_128), as high and low 64-bit halves
MULT_HI = np.uint64(2549297995355413924)
MULT_LO = np.uint64(4865540595714422341)
_TWO_POW_MINUS_53 = 1.0 / 9007199254740992.0


@intrinsic
def _mul_add_128(typingctx: Any, a_hi: Any, a_lo: Any, b_hi: Any, b_lo: Any, c_hi: Any, c_lo: Any) -> Any:
    """``(a * b + c) mod 2**128`` on unsigned 128-bit numbers given as (high, low) uint64 halves."""
    u64 = types.uint64
    sig = types.UniTuple(u64, 2)(u64, u64, u64, u64, u64, u64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i128 = ir.IntType(128)
        shift = ir.Constant(i128, 64)

        def join(hi: Any, lo: Any) -> Any:
            return builder.or_(builder.shl(builder.zext(hi, i128), shift), builder.zext(lo, i128))

        r = builder.add(builder.mul(join(args[0], args[1]), join(args[2], args[3])), join(args[4], args[5]))
        lo = builder.trunc(r, ir.IntType(64))
        hi = builder.trunc(builder.lshr(r, shift), ir.IntType(64))
        return context.make_tuple(builder, signature.return_type, [hi, lo])

    return sig, codegen


U64 = np.uint64
#: :func:`_mul_add_128` as kernels call it (numba's intrinsic takes the typing context itself)
mul_add_128 = cast(Callable[[U64, U64, U64, U64, U64, U64], tuple[U64, U64]], _mul_add_128)


@jit
def next_double(s_hi: np.uint64, s_lo: np.uint64, inc_hi: np.uint64,
                inc_lo: np.uint64) -> tuple[np.uint64, np.uint64, float]:
    """One step of numpy's PCG64 from state ``(s_hi, s_lo)``: the new state and the double numpy draws.

    numpy steps first, then outputs the new state's XSL-RR: ``rotr64(hi ^ lo, hi >> 58)``.
    """
    s_hi, s_lo = mul_add_128(s_hi, s_lo, MULT_HI, MULT_LO, inc_hi, inc_lo)
    x = s_hi ^ s_lo
    rot = s_hi >> np.uint64(58)
    out = (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))
    return s_hi, s_lo, np.float64(out >> np.uint64(11)) * _TWO_POW_MINUS_53


@jit
def advance(s_hi: np.uint64, s_lo: np.uint64, inc_hi: np.uint64, inc_lo: np.uint64,
            delta: int) -> tuple[np.uint64, np.uint64]:
    """The state ``delta`` steps on (numpy's ``PCG64.advance``): the LCG's jump-ahead in ``log2(delta)`` steps.

    Brown's method (as numpy's ``pcg_advance_lcg_128``): the composed multiplier and increment
    of ``delta`` steps, then ``s * mult + plus``.
    """
    zero, one = np.uint64(0), np.uint64(1)
    acc_m_hi, acc_m_lo, acc_p_hi, acc_p_lo = zero, one, zero, zero
    cur_m_hi, cur_m_lo, cur_p_hi, cur_p_lo = MULT_HI, MULT_LO, inc_hi, inc_lo
    while delta > 0:
        if delta & 1:
            acc_m_hi, acc_m_lo = mul_add_128(acc_m_hi, acc_m_lo, cur_m_hi, cur_m_lo, zero, zero)
            acc_p_hi, acc_p_lo = mul_add_128(acc_p_hi, acc_p_lo, cur_m_hi, cur_m_lo, cur_p_hi, cur_p_lo)
        m1_hi, m1_lo = mul_add_128(cur_m_hi, cur_m_lo, zero, one, zero, one)  # cur_m + 1
        cur_p_hi, cur_p_lo = mul_add_128(m1_hi, m1_lo, cur_p_hi, cur_p_lo, zero, zero)
        cur_m_hi, cur_m_lo = mul_add_128(cur_m_hi, cur_m_lo, cur_m_hi, cur_m_lo, zero, zero)
        delta >>= 1
    return mul_add_128(acc_m_hi, acc_m_lo, s_hi, s_lo, acc_p_hi, acc_p_lo)


#: the longest jump made by one multiply-add (:func:`jump_table`'s last row); longer ones take several
JUMP_MAX = 64


@jit
def jump_table(inc_hi: np.uint64, inc_lo: np.uint64) -> np.ndarray:
    """The LCG's jumps of 0 to :data:`JUMP_MAX` steps: uint64 ``(JUMP_MAX + 1, 4)``.

    Row ``d`` holds ``A_d`` and ``C_d`` (high, low halves each) with ``s_{+d} = A_d s + C_d`` mod 2**128:
    ``A_0 = 1, C_0 = 0``, ``A_{d+1} = MULT A_d``, ``C_{d+1} = MULT C_d + inc``. A row that reads a
    stream's draw only now and then jumps over the draws it does not read (:func:`draw_at`),
    one multiply-add where stepping would take one per skipped draw: the same state, exactly.
    """
    zero = np.uint64(0)
    out = np.empty((JUMP_MAX + 1, 4), dtype=np.uint64)
    a_hi, a_lo, c_hi, c_lo = zero, np.uint64(1), zero, zero
    for d in range(JUMP_MAX + 1):
        out[d, 0], out[d, 1], out[d, 2], out[d, 3] = a_hi, a_lo, c_hi, c_lo
        a_hi, a_lo = mul_add_128(MULT_HI, MULT_LO, a_hi, a_lo, zero, zero)
        c_hi, c_lo = mul_add_128(MULT_HI, MULT_LO, c_hi, c_lo, inc_hi, inc_lo)
    return out


@jit_inline
def draw_at(s_hi: np.uint64, s_lo: np.uint64, at: int, i: int,
            table: np.ndarray) -> tuple[np.uint64, np.uint64, float, int]:
    """Draw ``i`` of a stream whose state ``(s_hi, s_lo)`` stands before draw ``at``.

    Returns the state after it, the double and ``i + 1`` (where the state then stands). The ``i - at``
    draws between are jumped (:func:`jump_table`, one multiply-add per :data:`JUMP_MAX`), then one
    :func:`next_double` (the table's row 1 is the increment).
    """
    skip = i - at
    while skip > JUMP_MAX:
        s_hi, s_lo = mul_add_128(table[JUMP_MAX, 0], table[JUMP_MAX, 1], s_hi, s_lo, table[JUMP_MAX, 2],
                                 table[JUMP_MAX, 3])
        skip -= JUMP_MAX
    s_hi, s_lo = mul_add_128(table[skip, 0], table[skip, 1], s_hi, s_lo, table[skip, 2], table[skip, 3])
    s_hi, s_lo, u = next_double(s_hi, s_lo, table[1, 2], table[1, 3])
    return s_hi, s_lo, u, i + 1


@jit
def take_row_starts(state: np.ndarray, hi: int, n: int, k: int) -> np.ndarray:
    """Where each row of ``rng.random((k, n))`` starts, taken from a generator's live state (``draws.pcg_state``).

    Returns uint64 ``(k + 1, 2)``: row ``j``'s state (high, low halves) is the generator's advanced
    by ``j n`` draws (:func:`advance`); the last line is the increment. The generator's state is left
    ``k n`` draws on, where ``rng.random((k, n))`` leaves it (its buffered 32-bit half-draw, outside
    ``state``, untouched, as ``random`` leaves it).
    """
    lo = 1 - hi
    s_hi, s_lo, inc_hi, inc_lo = state[hi], state[lo], state[2 + hi], state[2 + lo]
    out = np.empty((k + 1, 2), dtype=np.uint64)
    for j in range(k):
        out[j, 0], out[j, 1] = s_hi, s_lo
        s_hi, s_lo = advance(s_hi, s_lo, inc_hi, inc_lo, n)
    out[k, 0], out[k, 1] = inc_hi, inc_lo
    state[hi], state[lo] = s_hi, s_lo
    return out


@jit
def chunk_states(draws: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Where each chunk's draws start in each row of ``draws`` (:func:`take_row_starts`).

    Chunk ``c`` takes ``counts[c]`` draws of every row: its states (row ``j``'s high and low
    halves at columns ``2 j`` and ``2 j + 1``) are the previous chunk's advanced by the previous
    count, so parallel chunks draw what one loop over the rows would.
    """
    k = draws.shape[0] - 1
    inc_hi, inc_lo = draws[k, 0], draws[k, 1]
    out = np.empty((counts.size, 2 * k), dtype=np.uint64)
    for j in range(k):
        s_hi, s_lo = draws[j, 0], draws[j, 1]
        for c in range(counts.size):
            out[c, 2 * j], out[c, 2 * j + 1] = s_hi, s_lo
            s_hi, s_lo = advance(s_hi, s_lo, inc_hi, inc_lo, counts[c])
    return out
