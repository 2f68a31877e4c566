"""Which parameters a comparison with parameter uncertainty draws, from what, and how a draw is applied.

The uncertain parameters are, by default, every parameter declared with ``plausible=(lo, hi)``
(its honest range: absolute for a scalar, a factor on every element together for a vector or
table) in the core and in the policies switched on in at least one compared scenario. An
uncertainty file names instead the parameters to draw, each with a distribution::

    all = false                     # true: also draw every other plausible-ranged parameter
    [parameters."problems.rate_arise"]
    distribution = "loguniform"     # uniform | loguniform | triangular | normal (truncated to range)
    range = [0.0033, 0.0133]        # default: the parameter's plausible range
    [parameters."policies.whistle.share_meeting"]
    distribution = "triangular"     # mode: default the parameter's default (1 for a factor)
    [parameters."handling.authority"]
    range = [0.8, 1.1]              # a table: the range is a factor on every element

``normal`` has ``mean`` (default: the parameter's default, 1 for a factor) and ``sd`` (default:
a quarter of the range) and is truncated to ``range``. Without ``distribution`` a parameter is
``loguniform`` if ``0 < lo`` and ``hi >= 2 lo`` (a range over a factor of two or more, whose default
sits near its geometric middle), else ``uniform``. Ranges must lie within the parameter's
validation bounds; integer parameters are rounded after the draw.

Applying a draw (:func:`apply_draw`): a scenario whose value equals the parameter's default gets
the drawn value; a scenario that sets another value (a deliberate setting, e.g. a reform that
doubles a capacity) gets its value times ``draw / default`` (plus ``draw - default`` when the
default is 0), so the difference it makes is kept; vectors and tables are multiplied by the
drawn factor. Only those two cases can leave the validation bounds, and are clipped to them.
A policy's parameters are applied only to scenarios in which that policy is on. A draw that a
scenario's cross-checks (``Params.check``, a policy's ``check``) reject is not resampled:
:class:`~sim.errors.UncertaintyError` names the replicate, scenario and check before any run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim import policies
from sim.config.paramtools import Params, Vector, check_plausible, load_table, param, read_toml
from sim.core.scenario import Scenario, apply_overrides
from sim.errors import ParameterError, UncertaintyError

__all__ = ["DISTRIBUTIONS", "Uncertain", "UncertaintyFile", "apply_draw", "draw_values", "load_uncertainty",
           "resolve_uncertain"]

DISTRIBUTIONS: tuple[str, ...] = ("uniform", "loguniform", "triangular", "normal")
#: spawn key that separates the parameter draws' stream from everything else derived from a root seed
DRAW_STREAM = 0x0DA7A


@dataclass(frozen=True)
class DistributionSpec(Params):
    """One parameter's entry in an uncertainty file."""

    distribution: str | None = param(None, choices=DISTRIBUTIONS, doc="the distribution of the draw")
    range: tuple[float, ...] | None = param(None, doc="[lo, hi]: absolute, or a factor for a vector or table")
    mode: float | None = param(None, doc="triangular: the most likely value")
    mean: float | None = param(None, doc="normal: the mean before truncation")
    sd: float | None = param(None, gt=0.0, doc="normal: the standard deviation before truncation")

    def check(self) -> None:
        """A range is two increasing numbers; mode, mean and sd belong to their distribution."""
        if self.range is not None and (len(self.range) != 2 or not self.range[0] < self.range[1]):
            raise ParameterError("range", f"expected [lo, hi] with lo < hi, got {list(self.range)}")
        if self.mode is not None and self.distribution != "triangular":
            raise ParameterError("mode", 'only a triangular distribution has a mode (distribution = "triangular")')
        for name in ("mean", "sd"):
            if getattr(self, name) is not None and self.distribution != "normal":
                raise ParameterError(name, f'only a normal distribution has a {name} (distribution = "normal")')


@dataclass(frozen=True)
class UncertaintyFile(Params):
    """An uncertainty file: the parameters to draw (dotted keys) and whether to draw all others too."""

    all: bool = param(False, doc="also draw every other parameter that has a plausible range")
    parameters: dict[str, DistributionSpec] = param({}, doc="tables [parameters.\"<dotted key>\"]")


@dataclass(frozen=True)
class Uncertain:
    """One uncertain parameter: its key, distribution and range, and how it is applied.

    ``factor``: the draw multiplies every element of a vector or table. ``default``: the value
    the range is about (1 for a factor). ``bounds``: the field's validation metadata (lo, hi, gt).
    """

    key: str
    distribution: str
    lo: float
    hi: float
    factor: bool = False
    integer: bool = False
    default: float = 1.0
    mode: float | None = None
    mean: float | None = None
    sd: float | None = None
    bounds: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    @property
    def policy(self) -> str | None:
        """The policy the parameter belongs to, or None for a core parameter."""
        parts = self.key.split(".")
        return parts[1] if parts[0] == "policies" else None

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Values at the quantiles ``u`` (in [0, 1)) of the distribution, within [lo, hi]."""
        from scipy import stats

        from sim.core.kernels import libm  # compiled: imported where a sample is drawn

        lo, hi = self.lo, self.hi
        if self.distribution == "uniform":
            x = lo + u * (hi - lo)
        elif self.distribution == "loguniform":
            x = libm.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))  # the C library's, as the model's
        elif self.distribution == "triangular":
            mode = self.default if self.mode is None else self.mode
            x = stats.triang.ppf(u, (mode - lo) / (hi - lo), loc=lo, scale=hi - lo)
        else:
            mu = self.default if self.mean is None else self.mean
            sd = (hi - lo) / 4 if self.sd is None else self.sd
            x = stats.truncnorm.ppf(u, (lo - mu) / sd, (hi - mu) / sd, loc=mu, scale=sd)
        return np.clip(np.asarray(x, dtype=np.float64), lo, hi)


# ---------------------------------------------------------------------------------------------
# which parameters
# ---------------------------------------------------------------------------------------------
def _is_number_field(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _plausible_fields(params: Params, prefix: str) -> Iterator[tuple[str, Any, Mapping[str, Any]]]:
    """``(dotted key, default, metadata)`` of every field of ``params`` declared with a plausible range."""
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        meta: Mapping[str, Any] = f.metadata or {}
        if meta.get("plausible") is not None:
            yield prefix + f.name, value, meta
        elif isinstance(value, Params) and not isinstance(value, Vector) and not meta.get("source"):
            yield from _plausible_fields(value, f"{prefix}{f.name}.")


def _field(key: str, policy_names: Iterable[str]) -> tuple[Any, Mapping[str, Any]]:
    """The default and metadata of the parameter at dotted ``key`` (core or ``policies.<name>.<p>``)."""
    parts = key.split(".")
    if parts[0] == "policies":
        if len(parts) < 3 or parts[1] not in policies.available():
            raise ParameterError(key, f"expected policies.<name>.<parameter>; policies: {', '.join(policies.available())}")
        if parts[1] not in policy_names:
            raise ParameterError(key, f"policy {parts[1]} is on in none of the scenarios compared")
        obj: Any = policies.get(parts[1]).Params()
        parts = parts[2:]
    else:
        obj = Scenario()
    meta: Mapping[str, Any] = {}
    for part in parts:
        if not isinstance(obj, Params) or part not in obj.field_names():
            raise ParameterError(key, "no such parameter")
        if isinstance(obj, Vector):
            raise ParameterError(key, "an element of a vector cannot be drawn alone; name the vector (a factor)")
        meta = next((f.metadata for f in dataclasses.fields(obj) if f.name == part), {})
        obj = getattr(obj, part)
    if not (_is_number_field(obj) or (isinstance(obj, Params) and meta.get("source"))):
        raise ParameterError(key, "not a number, vector or table parameter; only those can be drawn")
    return obj, meta


def _uncertain(key: str, default: Any, meta: Mapping[str, Any], entry: DistributionSpec | None) -> Uncertain:
    """The :class:`Uncertain` of one parameter: the file's entry (if any) over its plausible range."""
    rng = entry.range if entry is not None and entry.range is not None else meta.get("plausible")
    if rng is None:
        raise ParameterError(key, "has no plausible range; give range = [lo, hi]")
    lo, hi = float(rng[0]), float(rng[1])
    try:
        check_plausible(default, {**meta, "plausible": (lo, hi)})
    except ValueError as err:
        raise ParameterError(key, str(err).replace("plausible ", "", 1)) from None
    factor = isinstance(default, Params)
    centre = 1.0 if factor else float(default)
    dist = entry.distribution if entry is not None and entry.distribution else \
        ("loguniform" if 0 < lo and hi >= 2 * lo else "uniform")
    if dist == "loguniform" and lo <= 0:
        raise ParameterError(key, f"a loguniform range must be positive, got [{lo}, {hi}]")
    mode = entry.mode if entry is not None else None
    if mode is not None and not lo <= mode <= hi:
        raise ParameterError(key, f"mode {mode} is outside the range [{lo}, {hi}]")
    return Uncertain(key, dist, lo, hi, factor=factor, integer=isinstance(default, int) and not factor,
                     default=centre, mode=mode, mean=entry.mean if entry is not None else None,
                     sd=entry.sd if entry is not None else None, bounds=meta)


def resolve_uncertain(scenarios: Sequence[Scenario], spec: UncertaintyFile | None = None,
                      source: str = "uncertainty") -> list[Uncertain]:
    """The parameters a comparison of ``scenarios`` draws: all plausible-ranged ones, or ``spec``'s.

    Policy parameters are included only for policies on in at least one scenario. Order: the
    core's in declaration order, then each policy's (by name), then the file's others as written.
    Raises :class:`~sim.errors.UncertaintyError` naming ``source`` and the key.
    """
    on = sorted({s.name for sc in scenarios for s in sc.policies})
    auto: list[tuple[str, Any, Mapping[str, Any]]] = list(_plausible_fields(Scenario(), ""))
    for name in on:
        auto += list(_plausible_fields(policies.get(name).Params(), f"policies.{name}."))
    named = dict(spec.parameters) if spec is not None else {}
    out: list[Uncertain] = []
    try:
        if spec is None or spec.all:
            out = [_uncertain(k, d, m, named.pop(k, None)) for k, d, m in auto]
        for key, entry in named.items():
            default, meta = _field(key, on)
            out.append(_uncertain(key, default, meta, entry))
    except ParameterError as err:
        raise UncertaintyError(source, f"parameters.{err.key}" if spec is not None else err.key, err.message) from None
    if not out:
        raise UncertaintyError(source, "", "no parameter to draw: name at least one under [parameters.\"<key>\"]")
    return out


def load_uncertainty(path: str | Path, scenarios: Sequence[Scenario]) -> list[Uncertain]:
    """Read and check an uncertainty file against the compared ``scenarios``; see the module docstring."""
    data = read_toml(Path(path), "uncertainty", UncertaintyError)
    spec = load_table(UncertaintyFile, data, str(path), UncertaintyError)
    return resolve_uncertain(scenarios, spec, str(path))


# ---------------------------------------------------------------------------------------------
# drawing and applying
# ---------------------------------------------------------------------------------------------
def draw_values(uncertain: Sequence[Uncertain], replicates: int, seed: int) -> np.ndarray:
    """``replicates x len(uncertain)`` draws: a Latin hypercube seeded from the comparison's root seed.

    The unit hypercube comes from ``scipy.stats.qmc.LatinHypercube`` with the generator of
    ``SeedSequence(seed, spawn_key=(DRAW_STREAM,))``, so the draws depend on the seed, the number
    of replicates and the list of parameters only (not on workers or batching). Each column is
    mapped through its parameter's distribution; integer parameters are rounded.
    """
    from scipy.stats import qmc

    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(DRAW_STREAM,)))
    u = qmc.LatinHypercube(d=len(uncertain), rng=rng).random(int(replicates))
    cols = [p.ppf(u[:, j]) for j, p in enumerate(uncertain)]
    out = np.column_stack(cols) if cols else np.empty((int(replicates), 0))
    for j, p in enumerate(uncertain):
        if p.integer:
            out[:, j] = np.rint(out[:, j])
    return out


def _clip(x: float, meta: Mapping[str, Any]) -> float:
    lo, hi, gt = meta.get("lo"), meta.get("hi"), meta.get("gt")
    if lo is not None:
        x = max(x, float(lo))
    if hi is not None:
        x = min(x, float(hi))
    if gt is not None and x <= gt:
        x = math.nextafter(float(gt), math.inf)
    return x


def _scaled(value: Params, f: float, meta: Mapping[str, Any]) -> Params:
    """A vector or table with every element times ``f``, clipped to each element's range."""
    if isinstance(value, Vector):
        return type(value)(**{n: _clip(getattr(value, n) * f, meta) for n in value.names})
    return type(value)(**{fl.name: _scaled(getattr(value, fl.name), f, fl.metadata or meta)
                          for fl in dataclasses.fields(value) if isinstance(getattr(value, fl.name), Params)})


def _value_for(p: Uncertain, current: Any, x: float) -> Any:
    """The value a scenario whose parameter is ``current`` gets for the draw ``x`` (module docstring)."""
    if p.factor:
        return _scaled(current, x, p.bounds)
    if current == p.default:
        v = x
    elif p.default != 0:
        v = _clip(current * x / p.default, p.bounds)
    else:
        v = _clip(current + x - p.default, p.bounds)
    return int(round(v)) if p.integer else float(v)


def _current(sc: Scenario, key: str) -> Any:
    parts = key.split(".")
    if parts[0] == "policies":
        params = sc.policy(parts[1])
        assert params is not None
        return params.get_path(".".join(parts[2:]))
    return sc.get_path(key)


def apply_draw(sc: Scenario, uncertain: Sequence[Uncertain], values: Sequence[float], where: str = "") -> Scenario:
    """``sc`` with one replicate's draw applied (see the module docstring); ``where`` names it in errors."""
    on = {s.name for s in sc.policies}
    overrides = {p.key: _value_for(p, _current(sc, p.key), float(x))
                 for p, x in zip(uncertain, values) if p.policy is None or p.policy in on}
    try:
        return apply_overrides(sc, overrides)
    except ParameterError as err:
        raise UncertaintyError(where or sc.name, err.key, f"{err.message} (this draw fails the scenario's checks; "
                               "narrow the ranges of the parameters involved)") from None
