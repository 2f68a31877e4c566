"""Problems, the unit of work: the pool of open problems, the ledger, arrival strata, escalation.

Open problems live in :class:`ProblemPool`; closed ones leave the pool at the end of each
step after being counted in :class:`Ledger`, whose histograms give exact medians and
percentiles of days to resolution without keeping every problem. The phases that move them
(arise, find, route, handle, escalate) are kernels in :mod:`sim.core.kernels`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.config.taxonomy import (
    CITY,
    COMMUNITY,
    DEPARTMENT,
    N_CATEGORIES,
    N_COMPOUND_TYPES,
    N_FINDERS,
    N_LEVELS,
    N_SEVERITIES,
    STREET,
)
from sim.core.kernels.pool import keep_rows
from sim.core.kernels.state import Fields, PoolColumns
from sim.core.rng import poisson_list

#: Where a problem goes when it is escalated: grid -> community -> street -> department -> city;
#: a property firm escalates to the community.
NEXT_LEVEL = np.array([COMMUNITY, COMMUNITY, STREET, DEPARTMENT, CITY, CITY], dtype=np.int8)

_FIELDS: dict[str, type] = {
    "res": np.int32,  # resident id
    "cat": np.int8,  # category code
    "sev": np.int8,  # severity code
    "status": np.int8,  # LATENT or QUEUED
    "level": np.int8,  # current level (-1 until routed)
    "handler": np.int32,  # handler id within the level
    "t_arise": np.int32,
    "t_found": np.int32,  # -1 while latent
    "t_level": np.int32,  # step the problem reached its current level
    "n_contacts": np.int16,  # contacts by the resident (first report + repeats)
    "finder": np.int8,  # FINDERS code, -1 while latent
    "flags": np.uint8,  # bit flags set by policies (taxonomy.FLAGS), e.g. "entered the whistle process"
}


class ProblemPool:
    """Open problems as one array per field; ``n`` rows are live.

    Each field is an attribute holding a view of its live rows (``pool.status``), and ``cols``
    holds them all, in :class:`~sim.core.kernels.state.PoolColumns` order, as the kernels take
    them; both are refreshed whenever rows are added or removed. ``buffers`` are the full
    arrays (same order), rows past ``n`` free.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self.buffers: Fields = tuple(np.empty(capacity, dtype=_FIELDS[name]) for name in PoolColumns._fields)
        self._sync()

    def __len__(self) -> int:
        return self.n

    def __getattr__(self, name: str) -> np.ndarray:  # fields live in __dict__; this types them
        raise AttributeError(name)

    def __getstate__(self) -> dict[str, object]:
        return {"n": self.n, "buffers": self.buffers}  # views would unpickle as detached copies

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._sync()

    def _sync(self) -> None:
        """Point the field attributes and ``cols`` at the live rows of the buffers."""
        n = self.n
        self.cols: Fields = tuple([arr[:n] for arr in self.buffers])
        self.__dict__.update(zip(PoolColumns._fields, self.cols))

    def reserve(self, k: int) -> Fields:
        """Make room for ``k`` more rows; returns the full buffers (rows past ``n`` are free)."""
        if self.n + k > self.buffers[0].size:
            self._grow(self.n + k)
        return self.buffers

    def set_rows(self, n: int) -> None:
        """Declare the first ``n`` rows live (after a kernel wrote or compacted the buffers in place)."""
        if n != self.n:
            self.n = n
            self._sync()

    def drop_closed(self) -> None:
        """Drop the rows closed today (status -1), keeping order, in one pass."""
        self.set_rows(keep_rows(self.cols))

    def _grow(self, need: int) -> None:
        """Enlarge the buffers to hold at least ``need`` rows (doubling)."""
        new_cap = max(2 * self.buffers[0].size, need)
        grown = []
        for arr in self.buffers:
            new = np.empty(new_cap, dtype=arr.dtype)
            new[: self.n] = arr[: self.n]
            grown.append(new)
        self.buffers = tuple(grown)
        self._sync()  # the columns view the new buffers even if no row is added today


@dataclass
class Ledger:
    """Cumulative counts of the problem life cycle, and histograms for durations."""

    n_days: int
    arisen: np.ndarray = field(init=False)  # (category, severity)
    resolved: np.ndarray = field(init=False)  # (category, severity)
    abandoned: np.ndarray = field(init=False)  # (category, severity)
    arisen_ctype: np.ndarray = field(init=False)
    resolved_ctype: np.ndarray = field(init=False)
    resolved_level: np.ndarray = field(init=False)
    found_by: np.ndarray = field(init=False)
    days_hist: np.ndarray = field(init=False)  # (severity, days) of resolved problems
    flag_resolved: np.ndarray = field(init=False)  # resolved problems carrying each flag bit
    flag_abandoned: np.ndarray = field(init=False)
    prevented: int = 0
    found: int = 0
    escalations: int = 0
    contacts_resolved: int = 0
    repeat_contacts: int = 0

    def __post_init__(self) -> None:
        shape = (N_CATEGORIES, N_SEVERITIES)
        self.arisen = np.zeros(shape, dtype=np.int64)
        self.resolved = np.zeros(shape, dtype=np.int64)
        self.abandoned = np.zeros(shape, dtype=np.int64)
        self.arisen_ctype = np.zeros(N_COMPOUND_TYPES, dtype=np.int64)
        self.resolved_ctype = np.zeros(N_COMPOUND_TYPES, dtype=np.int64)
        self.resolved_level = np.zeros(N_LEVELS, dtype=np.int64)
        self.found_by = np.zeros(N_FINDERS, dtype=np.int64)
        self.days_hist = np.zeros((N_SEVERITIES, self.n_days + 1), dtype=np.int64)
        self.flag_resolved = np.zeros(8, dtype=np.int64)
        self.flag_abandoned = np.zeros(8, dtype=np.int64)

    def counts(self) -> Fields:
        """The count arrays as the kernels take them and add to them (``LedgerCounts``)."""
        return (self.arisen, self.resolved, self.abandoned, self.arisen_ctype, self.resolved_ctype,
                self.resolved_level, self.found_by, self.days_hist, self.flag_resolved, self.flag_abandoned)

    def extend_days(self, t: int) -> None:
        """Make room in the histogram of days to resolution for problems resolved on day ``t``."""
        if t >= self.days_hist.shape[1]:
            self.days_hist = np.pad(self.days_hist, ((0, 0), (0, t + 1 - self.days_hist.shape[1])))


# --------------------------------------------------------------------------------------------
# arise
# --------------------------------------------------------------------------------------------
@dataclass
class ArrivalTable:
    """Precomputed strata for problem arrivals: residents grouped by (compound type, group)."""

    order: np.ndarray  # resident ids sorted by stratum
    start: np.ndarray  # first position of each stratum in ``order``
    size: np.ndarray  # residents per stratum
    rate: np.ndarray  # (strata, categories) problems per resident per day
    sev_cum: np.ndarray  # (categories, severities) cumulative severity distribution
    lam: np.ndarray = field(init=False)  # expected problems per stratum per day
    cat_cum: np.ndarray = field(init=False)  # (strata, categories) cumulative category distribution

    def __post_init__(self) -> None:
        total = self.rate.sum(axis=1)
        self.lam = self.size * total
        self.cat_cum = np.cumsum(self.rate, axis=1) / np.maximum(total, 1e-300)[:, None]

    def strata(self) -> Fields:
        """What the arrival kernels read (:class:`~sim.core.kernels.state.ArrivalStrata`)."""
        return (self.order, self.start, self.size, self.cat_cum, self.sev_cum)


def arrival_table(ctype: np.ndarray, group: np.ndarray, rate_arise: float, weights: np.ndarray,
                  mult: np.ndarray, sev_weights: np.ndarray) -> ArrivalTable:
    """Strata and per-category rates: ``rate_arise * w[group, c] * m[ctype, c] / sum_c w[adult, c]``."""
    n_groups = weights.shape[0]
    stratum = ctype.astype(np.int64) * n_groups + group
    n_strata = mult.shape[0] * n_groups
    order = np.argsort(stratum, kind="stable").astype(np.int32)
    size = np.bincount(stratum, minlength=n_strata)
    norm = weights[1].sum()  # the adult row: an adult in a neutral compound has rate_arise in all
    rate = rate_arise * (mult[:, None, :] * weights[None, :, :]).reshape(n_strata, -1) / norm
    sev = sev_weights / sev_weights.sum(axis=1, keepdims=True)
    return ArrivalTable(order=order, start=np.cumsum(size) - size, size=size, rate=rate,
                        sev_cum=np.cumsum(sev, axis=1))


def draw_arrival_uniforms(table: ArrivalTable, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Today's Poisson counts per stratum and four uniforms per problem (all the arrival stream draws).

    Uses only the ``arrival`` stream and draws the same numbers whatever the state of the model,
    so scenarios that differ only in handling see identical arrivals (common random numbers).
    """
    k = poisson_list(rng, table.lam)
    return np.array(k, dtype=np.int64), rng.random((4, sum(k)))


# --------------------------------------------------------------------------------------------
# route
# --------------------------------------------------------------------------------------------
def chains(top: int) -> np.ndarray:
    """``out[s, l]``: whether a problem entering at level ``s`` passes level ``l`` on its way up to ``top``."""
    out = np.zeros((N_LEVELS, N_LEVELS), dtype=bool)
    for start in range(N_LEVELS):
        lvl = min(start, top)
        out[start, lvl] = True
        while lvl < top:
            lvl = min(int(NEXT_LEVEL[lvl]), top)
            out[start, lvl] = True
    return out


#: ``CHAINS[top]``: the levels on each entry level's way up (see :func:`chains`)
CHAINS = np.stack([chains(top) for top in range(N_LEVELS)])


__all__ = [
    "CHAINS",
    "NEXT_LEVEL",
    "ArrivalTable",
    "Ledger",
    "ProblemPool",
    "arrival_table",
    "chains",
    "draw_arrival_uniforms",
]
