"""``exp`` and ``power`` element by element by the C library, for the code outside the kernels.

numpy's ufuncs pick SIMD code by what the CPU offers (AVX-512, AVX2, the x86-64 baseline, NEON),
and their ``exp`` and ``power`` give different last bits on different CPUs for some inputs
(pinned baselines moved at the x86-64 baseline level: ``NPY_DISABLE_CPU_FEATURES``). A run that
used them would depend on the machine's vector unit. These kernels compute the same functions
as the other kernels do (``np.exp`` and ``x ** y`` in a compiled kernel call the C library's
``exp``, ``expf`` and ``pow``), so the model's few transcendental functions outside the kernels
do not depend on numpy's choice. Each is held bit for bit to the C library called element by
element (:mod:`sim.core.kernels.numpy_definitions`).
"""

from __future__ import annotations

import numpy as np

from sim.core.kernels.jit import jit


@jit
def _exp(x: np.ndarray) -> np.ndarray:  # compiled once per dtype: float64 calls exp, float32 expf
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = np.exp(x[i])
    return out


@jit
def _pow64(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = x[i] ** y[i]
    return out


def exp(x: np.ndarray | float) -> np.ndarray:
    """``e ** x`` element by element: float32 stays float32 (the C library's ``expf``), else float64 (``exp``)."""
    a = np.asarray(x)
    if a.dtype != np.float32:
        a = a.astype(np.float64)
    flat = np.ascontiguousarray(a).reshape(-1)
    out = _exp(flat)
    return out.reshape(a.shape)


def power(x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
    """``x ** y`` element by element in float64 (the C library's ``pow``), ``x`` and ``y`` broadcast."""
    xb, yb = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    out = _pow64(np.ascontiguousarray(xb).reshape(-1), np.ascontiguousarray(yb).reshape(-1))
    return out.reshape(xb.shape)
