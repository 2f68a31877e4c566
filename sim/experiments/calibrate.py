"""``govsim calibrate CALIBRATION.toml``: fit parameters so a scenario reproduces reported figures.

The file format is described in :mod:`sim.experiments.calibration_spec`. The fit minimises

    J(theta) = sum_i w_i * ((m_i(theta) - r_i) / (tol_i * |r_i|))**2 / sum_i w_i

over the targets with weight ``w_i > 0``, where ``r_i`` is the reported figure and ``m_i`` the
mean over ``replicates`` runs of the target's metric. J = 1 means every fitted target is off by
exactly its tolerance.

Common random numbers: replicate ``r`` always runs with seed
``int(numpy.random.SeedSequence(S).spawn(R + C)[r].generate_state(1)[0])`` (as in
:mod:`sim.experiments.compare`), so every evaluation sees the same worlds and the same problem arrivals and
J changes with the parameters rather than with the luck of the draw. The optimiser
(scipy.optimize Nelder-Mead or Powell) works on each parameter's range mapped to [0, 1]
(log-mapped with ``log = true``), so bounds are honoured and the steps are comparable.

After the fit the targets are measured again on ``check_replicates`` (C) fresh seeds, replicates
R .. R+C-1 of the same sequence, which the fit never saw: the table and the written scenario
report those means with 95% t-intervals, so an over-fit to the fit seeds shows up as error.

The output is a scenario file that ``extends`` the base with the overrides and the fitted
values; its comment header records the targets, the fitted values, the error per target, the
seeds and the package version. ``load_scenario`` on it and runs with the listed check seeds
reproduce the table exactly.
"""

from __future__ import annotations

import difflib
import os
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from sim.core.scenario import Scenario, dump_toml
from sim.experiments.calibration_spec import STRUCTURE_METRICS, CalibrationSpec
from sim.experiments.compare_stats import replicate_seeds, t_interval
from sim.experiments.runner import Executor, check_workers, gather, open_executor, progress_bar

__all__ = ["CalibrationResult", "calibrate", "run_replicate",
           "structure_metrics"]

#: Objective of a point where a fitted target is undefined (NaN) in every replicate.
_UNDEFINED = 1e12


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------
def structure_metrics(model: Any) -> dict[str, float]:
    """Counts of the model world after set-up (policies may re-grid): see STRUCTURE_METRICS."""
    w = model.world
    out = {
        "n_households": w.n_households, "n_compounds": w.n_compounds, "n_communities": w.n_communities,
        "n_streets": w.n_streets, "n_grids": model.grids.n, "n_grid_workers": float(model.grids.n_workers.sum()),
        "n_party_members": int(w.res_party.sum()), "grid_visits_per_worker_per_month": model.visits_per_worker_per_month,
    }
    assert set(out) == set(STRUCTURE_METRICS)
    return {k: float(v) for k, v in out.items()}


def run_replicate(scenario_data: Mapping[str, Any], seed: int) -> dict[str, float]:
    """One run: its summary plus the structure metrics (the same code in-process and in a worker)."""
    from sim.core.model import Model

    model = Model(Scenario.from_dict(scenario_data), seed=seed)
    out = dict(model.run(progress=False).summary)
    out.update(structure_metrics(model))
    return out


def _replicate(_shared: None, task: tuple[Mapping[str, Any], int]) -> dict[str, float]:
    """:func:`run_replicate` as the runner's work: a task is (scenario data, seed)."""
    return run_replicate(*task)


def _run_seeds(executor: Executor, scenario: Scenario, seeds: Sequence[int]) -> list[dict[str, float]]:
    """The replicates of one point, in seed order whatever the completion order."""
    data = scenario.to_dict()
    return gather(executor, [(data, s) for s in seeds])


def _columns(runs: Sequence[Mapping[str, float]], names: Sequence[str]) -> dict[str, np.ndarray]:
    """Metric -> value per replicate. A policy counter absent from a run counted nothing: 0."""
    return {n: np.array([r.get(n, 0.0) for r in runs], dtype=np.float64) for n in names}


def target_values(spec: CalibrationSpec, runs: Sequence[Mapping[str, float]]) -> np.ndarray:
    """Targets x replicates: each target's (rescaled) metric in each run."""
    cols = _columns(runs, spec.metric_names)
    return np.vstack([t.values(cols) for t in spec.targets])


def objective(spec: CalibrationSpec, means: np.ndarray) -> float:
    """Weighted mean of squared relative errors in units of each target's tolerance."""
    num = den = 0.0
    for t, m in zip(spec.targets, means):
        if not t.fitted:
            continue
        if not np.isfinite(m):
            return _UNDEFINED
        num += t.weight * ((m - t.reported) / (t.tolerance * abs(t.reported))) ** 2
        den += t.weight
    return num / den if den else 0.0


def _nanmean(values: np.ndarray) -> np.ndarray:
    ok = np.isfinite(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, values, 0.0).sum(axis=1) / ok.sum(axis=1)


@dataclass
class CalibrationResult:
    """What a calibration found; ``format_table`` and ``scenario_toml`` present it."""

    spec: CalibrationSpec
    initial: dict[str, float]
    fitted: dict[str, float]
    scenario: Scenario
    fit_seeds: list[int]
    check_seeds: list[int]
    objective_initial: float
    objective_fit: float  # at the fitted values, on the fit seeds
    objective_check: float  # at the fitted values, on the fresh check seeds
    fit_means: np.ndarray  # per target, fit seeds
    check_values: np.ndarray  # targets x check replicates
    evaluations: int
    converged: bool
    message: str
    workers: int
    wall_s: float
    history: list[tuple[dict[str, float], float]] = field(default_factory=list)

    def check_stats(self) -> list[tuple[float, float, float, int]]:
        """Per target: mean, 95% CI low and high, and replicates used, over the check seeds."""
        mean, lo, hi, n = t_interval(self.check_values, axis=1)
        return [(float(a), float(b), float(c), int(d)) for a, b, c, d in zip(mean, lo, hi, n)]

    def format_table(self) -> str:
        """The fit as text: parameters, targets on the check seeds with 95% CIs, objective."""
        return "\n".join(_table_lines(self))

    def scenario_toml(self, out: Path) -> str:
        """The calibrated scenario as a file at ``out``: header, ``extends`` the base, overrides."""
        from sim.config.version import __version__

        spec = self.spec
        base, where = spec.base_path.resolve(), out.resolve().parent
        shared = os.path.commonpath([base, where]) != os.path.abspath(os.sep)  # no ../../ up to the root
        rel = Path(os.path.relpath(base, where)).as_posix() if shared else base.as_posix()
        values: dict[str, Any] = {**spec.overrides, **self.fitted,
                                  "name": self.scenario.name, "description": self.scenario.description}
        nested: dict[str, Any] = {"extends": rel}
        for key, value in values.items():
            node = nested
            *head, last = key.split(".")
            for part in head:
                node = node.setdefault(part, {})
            node[last] = value
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        head = [f"Calibrated scenario written by `govsim calibrate {spec.path.as_posix()}`",
                (f"(govsim {__version__}, {now}; {self.evaluations} evaluations, {self.wall_s:.0f} s on "
                 f"{self.workers} worker{'s' if self.workers > 1 else ''})."),
                f"Calibration {spec.name}: {spec.description}" if spec.description else f"Calibration {spec.name}",
                (f"Base {Path(os.path.normpath(spec.base_path)).as_posix()}; window {spec.window_days} days; "
                 f"root seed {spec.seed}."),
                f"Fit seeds ({spec.replicates}): {', '.join(map(str, self.fit_seeds))}",
                f"Check seeds ({spec.check_replicates}): {', '.join(map(str, self.check_seeds))}"]
        head += textwrap.wrap("Overrides of the base (besides the fitted values): "
                              + ", ".join(f"{k} = {v!r}" for k, v in spec.overrides.items()), 110)
        head.append("")
        head += _table_lines(self)
        head += ["", "Targets: sources and assumptions"]
        for t in spec.targets:
            head.append(f"- {t.name}: {t.metric.text} = {t.reported:g}" + (f" ({t.figure})" if t.figure else ""))
            for label, text in (("source", t.source), ("assumption", t.assumption)):
                if text:
                    head += textwrap.wrap(f"{label}: {text}", 110, initial_indent="    ", subsequent_indent="      ")
        # every line of free text stays a comment: a newline in a description cannot start a TOML line
        lines = [f"# {part}".rstrip() for h in head for part in (h.splitlines() or [""])]
        return "\n".join(lines) + "\n\n" + dump_toml(nested).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------
# the fit
# ---------------------------------------------------------------------------------------------
class _BudgetSpent(Exception):
    pass


class _Objective:
    """J at each point tried, on the fit seeds: cached, counted against the budget, reported."""

    def __init__(self, spec: CalibrationSpec, executor: Executor, fit_seeds: Sequence[int], bar: Any,
                 on_evaluation: Callable[[dict[str, float], float], None] | None) -> None:
        self.spec, self.executor, self.fit_seeds = spec, executor, fit_seeds
        self.bar, self.on_evaluation = bar, on_evaluation
        self.cache: dict[tuple[float, ...], tuple[float, np.ndarray]] = {}  # point -> (J, target means)
        self.history: list[tuple[dict[str, float], float]] = []
        self.best = np.inf

    def scenario_at(self, values: Sequence[float]) -> Scenario:
        return self.spec.scenario.with_overrides({p.key: v for p, v in zip(self.spec.parameters, values)})

    def __call__(self, values: tuple[float, ...], budget: bool = True) -> float:
        if values in self.cache:
            return self.cache[values][0]
        if budget and len(self.cache) >= self.spec.max_evaluations:
            raise _BudgetSpent
        runs = _run_seeds(self.executor, self.scenario_at(values), self.fit_seeds)
        if not self.cache:
            _check_metrics(self.spec, runs)
        means = _nanmean(target_values(self.spec, runs))
        j = objective(self.spec, means)
        self.cache[values] = (j, means)
        point = {p.key: v for p, v in zip(self.spec.parameters, values)}
        self.history.append((point, j))
        self.best = min(self.best, j)
        self.bar.update(1)
        self.bar.set_postfix(objective=f"{self.best:.4g}")
        if self.on_evaluation is not None:
            self.on_evaluation(point, j)
        return j

    def in_unit(self, u: np.ndarray) -> float:
        """J at a point of the unit cube (the optimiser's coordinates)."""
        return self(tuple(p.from_unit(x) for p, x in zip(self.spec.parameters, np.atleast_1d(u))))


def calibrate(spec: CalibrationSpec, workers: int | None = None, progress: bool = True,
              on_evaluation: Callable[[dict[str, float], float], None] | None = None) -> CalibrationResult:
    """Fit ``spec.parameters`` to ``spec.targets``; see the module docstring.

    ``workers``: processes (default one per CPU, at most one per replicate; 1 runs in this process).
    """
    check_workers(workers)
    t0 = time.perf_counter()
    seeds = replicate_seeds(spec.seed, spec.replicates + spec.check_replicates)
    fit_seeds, check_seeds = seeds[: spec.replicates], seeds[spec.replicates:]
    n_workers = min(int(workers or os.cpu_count() or 1), max(spec.replicates, spec.check_replicates))
    params = spec.parameters
    x0 = tuple(p.from_unit(p.to_unit(p.initial)) for p in params)
    bar = progress_bar(spec.max_evaluations if params else 1, f"calibrate {spec.name}", progress, unit="eval")
    with bar, open_executor(_replicate, workers=n_workers) as executor:
        ev = _Objective(spec, executor, fit_seeds, bar, on_evaluation)
        converged, message, best = _fit(ev, x0)
        bar.close()
        check_runs = _run_seeds(executor, ev.scenario_at(best), check_seeds)
    check_values = target_values(spec, check_runs)
    fitted_sc = ev.scenario_at(best).with_overrides({
        "name": f"{spec.name}_calibrated", "description": f"{spec.scenario.description} (calibrated: {spec.path.name})"})
    return CalibrationResult(
        spec=spec, initial={p.key: v for p, v in zip(params, x0)},
        fitted={p.key: v for p, v in zip(params, best)}, scenario=fitted_sc,
        fit_seeds=fit_seeds, check_seeds=check_seeds, objective_initial=ev.cache[x0][0],
        objective_fit=ev.cache[best][0], objective_check=objective(spec, _nanmean(check_values)),
        fit_means=ev.cache[best][1], check_values=check_values, evaluations=len(ev.cache),
        converged=converged, message=message, workers=n_workers, wall_s=time.perf_counter() - t0,
        history=ev.history,
    )


def _fit(ev: _Objective, x0: tuple[float, ...]) -> tuple[bool, str, tuple[float, ...]]:
    """Minimise J from ``x0``: (converged, message, best point), the best point rounded and evaluated."""
    from scipy import optimize

    spec, params = ev.spec, ev.spec.parameters
    converged, message = True, "no parameters to fit: targets evaluated at the base values"
    ev(x0)
    if params:
        u0 = np.array([p.to_unit(v) for p, v in zip(params, x0)])
        try:
            res = _minimise(optimize, ev.in_unit, u0, spec)
            converged, message = bool(res.success), str(res.message)
        except _BudgetSpent:
            converged, message = False, f"stopped after the budget of {spec.max_evaluations} evaluations"
    best = min(ev.cache, key=lambda v: ev.cache[v][0])  # first of equals: dicts keep insertion order
    if params:  # report and write 4 significant digits: the fit is never that precise
        best = tuple(p.clip(_round_sig(v)) for p, v in zip(params, best))
        if best not in ev.cache:  # one evaluation beyond the budget, at the rounded values
            ev.bar.total = len(ev.cache) + 1
            ev.bar.refresh()
        ev(best, budget=False)
    return converged, message, best


def _round_sig(value: float, digits: int = 4) -> float:
    if isinstance(value, int) or value == 0 or not np.isfinite(value):
        return value
    return float(f"{value:.{digits}g}")


def _minimise(optimize: Any, f: Callable[[np.ndarray], float], u0: np.ndarray, spec: CalibrationSpec) -> Any:
    d = u0.size
    bounds = [(0.0, 1.0)] * d
    if spec.method == "powell":
        return optimize.minimize(f, u0, method="Powell", bounds=bounds,
                                 options={"xtol": spec.xatol, "ftol": spec.fatol, "maxfev": 10 * spec.max_evaluations})
    step = 0.2  # initial simplex: a fifth of each range, away from the nearer bound
    simplex = [u0]
    for i in range(d):
        v = u0.copy()
        v[i] = u0[i] + step if u0[i] + step <= 1.0 else u0[i] - step
        simplex.append(v)
    return optimize.minimize(f, u0, method="Nelder-Mead", bounds=bounds,
                             options={"initial_simplex": np.array(simplex), "xatol": spec.xatol, "fatol": spec.fatol,
                                      "maxfev": 10 * spec.max_evaluations})


def _check_metrics(spec: CalibrationSpec, runs: Sequence[Mapping[str, float]]) -> None:
    produced = set().union(*(r.keys() for r in runs))
    for i, t in enumerate(spec.targets):
        for n in t.metric.names:
            if n not in produced:
                close = difflib.get_close_matches(n, sorted(produced), n=3, cutoff=0.6)
                hint = f"; did you mean {', '.join(close)}?" if close else "; the metrics are the keys of a run's summary"
                raise spec.error(f"targets[{i}].metric", f"{n!r} is not produced by runs of the base scenario over "
                                 f"{spec.window_days} days at the initial values (a policy counter appears once "
                                 f"it counts something){hint}")


# ---------------------------------------------------------------------------------------------
# presentation
# ---------------------------------------------------------------------------------------------
def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def _table_lines(res: CalibrationResult) -> list[str]:
    spec = res.spec
    n_fit = sum(t.fitted for t in spec.targets)
    lines = [(f"{spec.name}: {len(spec.parameters)} parameter{'s' if len(spec.parameters) != 1 else ''} fitted to "
              f"{n_fit} target{'s' if n_fit != 1 else ''} over {spec.window_days} days; {res.evaluations} evaluations x "
              f"{spec.replicates} replicates ({'converged' if res.converged else res.message}).")]
    if spec.parameters:
        rows: list[tuple[str, ...]] = [("parameter", "initial", "fitted", "bounds")]
        for p in spec.parameters:
            rows.append((p.key, _fmt(res.initial[p.key]), _fmt(res.fitted[p.key]),
                         f"[{p.lo:g}, {p.hi:g}]" + (" log" if p.log else "")))
        lines += [""] + _align(rows)
    lines += [""] + textwrap.wrap(
        f"Model: mean [95% CI] over {spec.check_replicates} fresh replicates (check seeds, not used in the fit); "
        "run sd: spread of single runs (how far one realisation, like the reported figure, may fall from the mean); "
        "error = model mean / reported - 1; 'per N units': each run's count rescaled to the N units the figure "
        "covers.", 110)
    rows = [("target", "metric", "reported", "model mean [95% CI]", "run sd", "error", "tolerance", "")]
    with np.errstate(invalid="ignore"):
        sds = [float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else float("nan") for v in res.check_values]
    for t, (mean, lo, hi, _n), sd in zip(spec.targets, res.check_stats(), sds):
        err = mean / t.reported - 1.0 if np.isfinite(mean) else float("nan")
        status = "fitted" if t.fitted else "not fitted"
        if t.fitted:
            status += ", within" if abs(err) <= t.tolerance else ", OUTSIDE"
        metric = t.metric.text + (f" per {t.reported_units:g} {t.per}" if t.per else "")
        rows.append((t.name, metric, _fmt(t.reported), f"{_fmt(mean)} [{_fmt(lo)}, {_fmt(hi)}]", _fmt(sd),
                     f"{100 * err:+.1f}%" if np.isfinite(err) else "n/a", f"{100 * t.tolerance:.0f}%", status))
    lines += _align(rows)
    lines += ["", (f"Objective (weighted squared error in tolerances): initial {_fmt(res.objective_initial)}, fitted "
                   f"{_fmt(res.objective_fit)} on the fit seeds, {_fmt(res.objective_check)} on the check seeds.")]
    return lines


def _align(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    out.insert(1, "-" * len(out[0]))
    return out
