"""Named vectors and tables of parameters: one value per category, severity, level, ...

They let a scenario write ``[problems.dur_patience] big = 60`` instead of a bare list, and
give the core the same values as numpy arrays in vocabulary order (:meth:`Vector.array`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from sim.config.paramtools import Params, Vector
from sim.config.taxonomy import CATEGORIES, COMPOUND_TYPES, SEVERITIES


@dataclass(frozen=True)
class ByCategory(Vector):
    """One value per problem category."""

    names: ClassVar[tuple[str, ...]] = CATEGORIES
    sanitation: float = 0.0
    parking: float = 0.0
    dispute: float = 0.0
    care: float = 0.0
    safety: float = 0.0
    property: float = 0.0
    admin: float = 0.0
    health: float = 0.0


@dataclass(frozen=True)
class BySeverity(Vector):
    """One value per severity."""

    names: ClassVar[tuple[str, ...]] = SEVERITIES
    trivial: float = 0.0
    small: float = 0.0
    big: float = 0.0
    major: float = 0.0


@dataclass(frozen=True)
class ByCompoundType(Vector):
    """One value per compound type."""

    names: ClassVar[tuple[str, ...]] = COMPOUND_TYPES
    old: float = 0.0
    mature: float = 0.0
    new: float = 0.0


@dataclass(frozen=True)
class Table(Params):
    """A table of vectors: one row (a :class:`Vector`) per name in ``rows``, in that order.

    Subclasses declare one field per row, each a ``param(<Vector>(...), lo=..., hi=...)`` whose
    range applies to every element of the row (see ``sim.config.params.Authority``).
    """

    rows: ClassVar[tuple[str, ...]] = ()

    def matrix(self) -> np.ndarray:
        """Rows in vocabulary order as a 2-D float array."""
        return np.stack([getattr(self, r).array() for r in self.rows])
