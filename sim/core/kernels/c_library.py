"""The C library's ``exp`` and ``pow`` element by element: what the kernels' ``np.exp`` and ``x ** y`` compute.

A compiled kernel's ``np.exp`` and ``x ** y`` call the C library (glibc's ``exp``, ``powf``);
numpy's own ufuncs run SIMD code of their own on AVX-512 machines, which differs from it in the
last bit for 2% (float64 exp) to 20% (float32 power) of inputs. These call the C library element
by element, so the numpy definitions (:mod:`~sim.core.kernels.numpy_definitions`, which re-exports
them) hold the kernels (and ``kernels.libm``) to the last bit. Nothing in a simulation calls them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from functools import cache
from typing import Any

import numpy as np


def exp(x: np.ndarray) -> np.ndarray:
    """``e ** x`` in float64, element by element, by the C library's ``exp`` (:func:`math.exp`)."""
    x = np.asarray(x, dtype=np.float64)
    return np.fromiter(map(math.exp, x.ravel()), dtype=np.float64, count=x.size).reshape(x.shape)


@cache
def _c_float(name: str, n_args: int) -> Any:  # a float32 function of the C math library, as ctypes calls it
    lib = ctypes.util.find_library("m")
    if lib is None:
        raise RuntimeError(f"the C math library (libm) was not found: the definitions' {name} calls it")
    f = getattr(ctypes.CDLL(lib), name)
    f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float] * n_args
    return f


def expf(x: np.ndarray) -> np.ndarray:
    """``e ** x`` in float32, element by element, by the C library's ``expf``."""
    x = np.asarray(x, dtype=np.float32)
    f = _c_float("expf", 1)
    return np.fromiter(map(f, x.ravel().tolist()), dtype=np.float32, count=x.size).reshape(x.shape)


def pow64(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x ** y`` in float64, element by element, by the C library's ``pow`` (:func:`math.pow`; broadcast)."""
    xb, yb = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    out = np.fromiter(map(math.pow, xb.ravel().tolist(), yb.ravel().tolist()), dtype=np.float64, count=xb.size)
    return out.reshape(xb.shape)


def powf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x ** y`` in float32, element by element, by the C library's ``powf`` (``x`` and ``y`` broadcast)."""
    xb, yb = np.broadcast_arrays(np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32))
    f = _c_float("powf", 2)
    out = np.fromiter((f(a, b) for a, b in zip(xb.ravel().tolist(), yb.ravel().tolist(), strict=True)),
                      dtype=np.float32, count=xb.size)
    return out.reshape(xb.shape)


__all__ = ["exp", "expf", "pow64", "powf"]
