"""Sweep designs: the experiments of a sweep's factors (scipy.stats.qmc / SALib samplers) and run seeds.

See :mod:`sim.experiments.sweep.spec` for the sweep file format. Sampled designs draw rows in the
unit cube and map each coordinate to a factor value (:meth:`Factor.from_unit`); a full factorial
lists every combination of the factors' value grids (:meth:`Factor.grid`), last factor fastest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.experiments.sweep.factors import Factor

__all__ = ["DESIGNS", "DESIGN_KEY", "Design", "make_design", "run_seed"]

DESIGNS: tuple[str, ...] = ("full_factorial", "latin_hypercube", "sobol", "morris")
#: spawn key of the design's random stream (distinct from the 2-element run keys (e, r) and CRN keys (r,))
DESIGN_KEY = 0x5EED_DE51


def run_seed(root: int, experiment: int, replicate: int, common_random_numbers: bool = False) -> int:
    """The seed of one run (see :mod:`sim.experiments.sweep.spec`)."""
    key = (int(replicate),) if common_random_numbers else (int(experiment), int(replicate))
    return int(np.random.SeedSequence(int(root), spawn_key=key).generate_state(1)[0])


@dataclass(frozen=True, eq=False)
class Design:
    """The experiments of a design: each one's factor values, computed on demand."""

    factors: tuple[Factor, ...]
    #: sampled designs: (E, D) unit-cube rows; full factorial: None (rows are computed on demand)
    matrix: np.ndarray | None
    grids: tuple[tuple[Any, ...], ...]  # full factorial value lists, one per factor

    @property
    def n_experiments(self) -> int:
        """The number of experiments (rows of the design)."""
        if self.matrix is not None:
            return int(self.matrix.shape[0])
        return int(np.prod([len(g) for g in self.grids], dtype=np.int64)) if self.grids else 1

    def parameters(self, i: int) -> dict[str, Any]:
        """The factor values of experiment ``i`` as ``{factor name: value}`` (plain Python values)."""
        if self.matrix is not None:
            return {f.name: f.from_unit(float(u)) for f, u in zip(self.factors, self.matrix[i])}
        if not self.factors:
            return {}
        idx = np.unravel_index(int(i), tuple(len(g) for g in self.grids))
        return {f.name: g[int(j)] for f, g, j in zip(self.factors, self.grids, idx)}

    def sample(self, i: int) -> list[float] | None:
        """The unit-cube row of experiment ``i`` (None for a full factorial)."""
        return None if self.matrix is None else [float(u) for u in self.matrix[i]]


def make_design(factors: Sequence[Factor], method: str, n: int | None, levels: int, second_order: bool,
                seed: int) -> Design:
    """The design: unit-cube rows for sampled designs, value grids for a full factorial."""
    factors = tuple(factors)
    if method == "full_factorial":
        return Design(factors, None, tuple(tuple(f.grid(levels)) for f in factors))
    assert n is not None
    d = len(factors)
    ss = np.random.SeedSequence(seed, spawn_key=(DESIGN_KEY,))
    if method == "latin_hypercube":
        import inspect

        from scipy.stats import qmc

        rng = np.random.Generator(np.random.PCG64(ss))
        kw = "rng" if "rng" in inspect.signature(qmc.LatinHypercube).parameters else "seed"
        matrix = qmc.LatinHypercube(d=d, **{kw: rng}).random(n)
    else:
        problem = {"num_vars": d, "names": [f.name for f in factors], "bounds": [[0.0, 1.0]] * d}
        salib_seed = int(ss.generate_state(1)[0])
        if method == "sobol":
            from SALib.sample import sobol as sobol_sample

            matrix = sobol_sample.sample(problem, n, calc_second_order=second_order, scramble=True, seed=salib_seed)
        else:
            from SALib.sample import morris as morris_sample

            matrix = morris_sample.sample(problem, n, num_levels=levels, seed=salib_seed)
    return Design(factors, np.clip(np.asarray(matrix, dtype=np.float64), 0.0, 1.0), ())
