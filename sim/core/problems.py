"""Problems, the unit of work: a structure-of-arrays pool of open problems and the vectorised
submodels of their life cycle (arise, find, route, handle, escalate, give up).

Open problems live in :class:`ProblemPool`; closed ones leave the pool at the end of each
step after being counted in :class:`Ledger`, whose histograms give exact medians and
percentiles of days to resolution without keeping every problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.config.taxonomy import (
    CITY,
    COMMUNITY,
    DEPARTMENT,
    GRID,
    LATENT,
    N_CATEGORIES,
    N_COMPOUND_TYPES,
    N_FINDERS,
    N_LEVELS,
    N_SEVERITIES,
    PROPERTY,
    QUEUED,
    STREET,
)
from sim.core import kernels
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

    Each field is an attribute holding a view of its live rows (``pool.status``), refreshed
    whenever rows are added or removed.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self._a = {name: np.empty(capacity, dtype=dt) for name, dt in _FIELDS.items()}
        self._sync()

    def __len__(self) -> int:
        return self.n

    def __getattr__(self, name: str) -> np.ndarray:  # fields live in __dict__; this types them
        a = self.__dict__.get("_a")
        if a is not None and name in a:
            return a[name][: self.n]
        raise AttributeError(name)

    def __getstate__(self) -> dict[str, object]:
        return {"n": self.n, "_a": self._a}  # views would unpickle as detached copies

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._sync()

    def _sync(self) -> None:
        """Point the field attributes at the live rows of the buffers."""
        n, d = self.n, self.__dict__
        for name, arr in self._a.items():
            d[name] = arr[:n]

    def append(self, **cols: np.ndarray | int) -> None:
        """Append rows; every field must be given, the first as an array, the rest as arrays of
        the same length or as one value for all rows."""
        k = len(next(iter(cols.values())))  # type: ignore[arg-type]
        if k == 0:
            return
        if self.n + k > self._a["res"].size:
            self._grow(self.n + k)
        for name in _FIELDS:
            self._a[name][self.n : self.n + k] = cols[name]
        self.n += k
        self._sync()

    def reserve(self, k: int) -> dict[str, np.ndarray]:
        """Make room for ``k`` more rows; returns the full buffers (rows past ``n`` are free)."""
        if self.n + k > self._a["res"].size:
            self._grow(self.n + k)
        return self._a

    def set_rows(self, n: int) -> None:
        """Declare the first ``n`` rows live (after a kernel compacted the buffers in place)."""
        if n != self.n:
            self.n = n
            self._sync()

    def drop_closed(self) -> None:
        """Drop the rows closed today (status -1), keeping order: ``keep(status >= 0)`` in one pass."""
        v = self.__dict__
        m = kernels.keep_rows(v["status"], v["res"], v["cat"], v["sev"], v["level"], v["handler"], v["t_arise"],
                              v["t_found"], v["t_level"], v["n_contacts"], v["finder"], v["flags"])
        if m != self.n:
            self.n = m
            self._sync()

    def _grow(self, need: int) -> None:
        """Enlarge the buffers to hold at least ``need`` rows (doubling)."""
        new_cap = max(2 * self._a["res"].size, need)
        for name, arr in self._a.items():
            grown = np.empty(new_cap, dtype=arr.dtype)
            grown[: self.n] = arr[: self.n]
            self._a[name] = grown

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows where ``mask`` is true (order preserved)."""
        m = int(mask.sum())
        if m == self.n:
            return
        for arr in self._a.values():
            arr[:m] = arr[: self.n][mask]
        self.n = m
        self._sync()


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


def draw_arrivals(table: ArrivalTable, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Today's new problems: resident ids, categories, severities and a prevention uniform.

    Uses only the ``arrival`` stream and draws the same numbers whatever the state of the model,
    so scenarios that differ only in handling see identical arrivals (common random numbers).
    """
    k, u = draw_arrival_uniforms(table, rng)
    # per stratum in order, per problem: the resident within the stratum, then the category and
    # the severity as the first column of the cumulative distribution exceeding the uniform
    res, cat, sev = kernels.arrivals(k, u, table.order, table.start, table.size, table.cat_cum, table.sev_cum)
    return res, cat, sev, u[3]


def draw_arrival_uniforms(table: ArrivalTable, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Today's Poisson counts per stratum and four uniforms per problem (all the arrival stream draws)."""
    k = poisson_list(rng, table.lam)
    return np.array(k, dtype=np.int64), rng.random((4, sum(k)))


# --------------------------------------------------------------------------------------------
# find
# --------------------------------------------------------------------------------------------
def p_self_report(base: np.ndarray, sev: np.ndarray, trust: np.ndarray, slope: float, mult: np.ndarray) -> np.ndarray:
    """Daily chance a resident reports a latent problem: rises with trust and with ``mult``."""
    hazard = base[sev] * np.maximum(1.0 + slope * (trust - 0.5), 0.0) * mult
    return 1.0 - np.exp(-hazard)


# --------------------------------------------------------------------------------------------
# route and handle
# --------------------------------------------------------------------------------------------
def _chains(top: int) -> np.ndarray:
    """``out[s, l]``: whether a problem entering at level ``s`` passes level ``l`` on its way up to ``top``."""
    out = np.zeros((N_LEVELS, N_LEVELS), dtype=bool)
    for start in range(N_LEVELS):
        lvl = min(start, top)
        out[start, lvl] = True
        while lvl < top:
            lvl = min(int(NEXT_LEVEL[lvl]), top)
            out[start, lvl] = True
    return out


#: ``_CHAINS[top]``: the levels on each entry level's way up (see :func:`_chains`)
_CHAINS = np.stack([_chains(top) for top in range(N_LEVELS)])


def climb(level: np.ndarray, p_solve: np.ndarray, has_handler: np.ndarray, threshold: float, top: int) -> np.ndarray:
    """Move each problem up from ``level`` past levels that cannot handle it.

    ``p_solve[i, l]`` is problem i's chance of success at level l and ``has_handler[i, l]``
    whether level l exists for it (a compound without a firm has no property level). A level
    is skipped (the handler refers the matter up) when it does not exist or its chance is
    below ``threshold``, never past ``top``.
    """
    # the first level on the way up (levels only rise) that can handle the problem, else the top
    stop = has_handler & ~(p_solve < threshold)
    stop[:, top] = True
    stop &= _CHAINS[top][level]
    return stop.argmax(axis=1).astype(np.int8)


def allocate(key: np.ndarray, priority: np.ndarray, effort: np.ndarray, capacity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which queued problems each handler attempts today, within its capacity.

    Problems are served in ``priority`` order (smallest first) within each handler ``key``; a
    handler attempts problems while the effort it has started stays below its capacity (the
    last one started may overrun). Returns the attempted mask and the effort used per key.
    """
    pr = priority.astype(np.int64)
    pr -= pr.min() if pr.size else 0  # non-negative, so it cannot spill into the key's bits
    order = np.argsort((key.astype(np.int64) << 32) | pr, kind="stable")
    k_sorted = key[order]
    e_sorted = effort[order]
    cum = np.cumsum(e_sorted)
    first = np.ones(k_sorted.size, dtype=bool)
    first[1:] = k_sorted[1:] != k_sorted[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(k_sorted.size), 0))
    before = cum - e_sorted - (cum[group_start] - e_sorted[group_start])
    go_sorted = before < capacity[k_sorted]
    attempted = np.empty(key.size, dtype=bool)
    attempted[order] = go_sorted
    used = np.bincount(k_sorted[go_sorted], weights=e_sorted[go_sorted], minlength=capacity.size)
    return attempted, used


__all__ = [
    "DEPARTMENT",
    "GRID",
    "LATENT",
    "NEXT_LEVEL",
    "PROPERTY",
    "QUEUED",
    "ArrivalTable",
    "Ledger",
    "ProblemPool",
    "allocate",
    "arrival_table",
    "climb",
    "draw_arrivals",
    "p_self_report",
]
