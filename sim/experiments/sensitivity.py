"""Global sensitivity analysis of a stored sweep with SALib (the library of ``govsim sensitivity``).

* ``sobol`` (sweeps with ``design.method = "sobol"``): ``SALib.analyze.sobol`` gives each
  factor's first-order index S1 (the share of the outcome's variance explained by the factor
  alone) and total index ST (its share including all interactions), with bootstrap confidence
  intervals.
* ``morris`` (sweeps with ``design.method = "morris"``): ``SALib.analyze.morris`` gives the
  elementary effects' mean absolute value mu* (overall influence, with a bootstrap confidence
  interval) and standard deviation sigma (non-linearity and interactions). Morris screens; it
  has no variance shares.

The outcome of an experiment is the mean over its stored replicates (the model is stochastic:
with few replicates the noise shows up as spread in the indices and wide intervals). Factors
are analysed in the unit cube the design was drawn in, so Morris effects are per full range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import InputError, OutputError, StoreError
from sim.store.database import ResultStore

__all__ = ["METHODS", "SensitivityResult", "analyse", "format_results", "plot_results"]

METHODS: tuple[str, ...] = ("sobol", "morris")
CONF_LEVEL = 0.95


@dataclass
class SensitivityResult:
    """Indices of one outcome; ``columns`` maps an index name to one value per factor."""

    outcome: str
    factors: list[str]
    columns: dict[str, list[float]] = field(default_factory=dict)
    note: str = ""  # why there are no indices (e.g. the outcome does not vary)

    def to_json(self) -> dict[str, Any]:
        """The indices as JSON values (NaN as null)."""
        clean = {k: [None if not math.isfinite(v) else v for v in vals] for k, vals in self.columns.items()}
        return {"outcome": self.outcome, "factors": self.factors, "indices": clean, "note": self.note}


@dataclass
class Analysis:
    """The indices of every analysed outcome of one sweep, with what they were computed from."""

    sweep: dict[str, Any]
    method: str
    n_experiments: int
    replicates: tuple[int, int]  # fewest and most replicates per experiment
    results: list[SensitivityResult]

    def to_json(self) -> dict[str, Any]:
        """The analysis as one JSON object."""
        return {"sweep_id": self.sweep["id"], "method": self.method, "n_experiments": self.n_experiments,
                "replicates_min": self.replicates[0], "replicates_max": self.replicates[1],
                "conf_level": CONF_LEVEL, "results": [r.to_json() for r in self.results]}


def analyse(store: ResultStore, sweep_ref: str, method: str | None = None, outcomes: list[str] | None = None,
            num_resamples: int = 1000) -> Analysis:
    """Run SALib on the stored results of a sweep.

    ``method`` (default: the sweep's design) must match the design the sweep was sampled with and
    ``outcomes`` (default: all) must be outcomes the sweep keeps, else :class:`~sim.errors.InputError`;
    an unknown, empty or incomplete sweep raises :class:`~sim.errors.StoreError`.
    """
    sweep = store.find_sweep(sweep_ref)
    spec = sweep["spec"]
    sid = sweep["id"]
    method, chosen = _check_request(sweep, method, outcomes)
    factors = [f["name"] for f in spec["factors"]]
    n_exp = int(sweep["n_experiments"])
    frame = store.sweep_frame(sid, metrics=chosen)
    if frame.empty:
        raise StoreError(f"sweep {sid} has no stored runs yet; run `govsim sweep {sweep['sweep_file']}`")
    counts = frame.groupby("experiment").size()
    missing = n_exp - counts.size
    if missing:
        raise StoreError(f"sweep {sid} is incomplete: {missing} of {n_exp} experiments have no stored run; "
                         f"run `govsim sweep {sweep['sweep_file']}` again to finish it")
    means = frame.groupby("experiment")[chosen].mean().sort_index()
    problem = {"num_vars": len(factors), "names": factors, "bounds": [[0.0, 1.0]] * len(factors)}
    seed = int(np.random.SeedSequence(int(sweep["root_seed"]), spawn_key=(0xA11A,)).generate_state(1)[0])
    x = None
    if method == "morris":
        x = np.array([s for _, s in store.experiment_samples(sid)], dtype=np.float64)
    results = []
    for name in chosen:
        y = means[name].to_numpy(dtype=np.float64)
        res = SensitivityResult(name, factors)
        bad = int((~np.isfinite(y)).sum())
        if bad:
            res.note = f"undefined (NaN) in {bad} of {n_exp} experiments; SALib needs a value in every one"
        elif np.ptp(y) == 0:
            res.note = "does not vary across the experiments; indices are undefined"
        else:
            res.columns = _indices(method, spec, problem, x, y, num_resamples, seed)
        results.append(res)
    return Analysis(sweep, method, n_exp, (int(counts.min()), int(counts.max())), results)


def _check_request(sweep: dict[str, Any], method: str | None, outcomes: list[str] | None) -> tuple[str, list[str]]:
    """The method (default: the sweep's design) and outcomes (default: all) to analyse, checked."""
    spec = sweep["spec"]
    sid = sweep["id"]
    design = spec["design"]
    method = method or (design if design in METHODS else "sobol")
    if method not in METHODS:
        raise InputError(f"sensitivity method {method!r} is not allowed; allowed: {', '.join(METHODS)}")
    if design != method:
        raise InputError(f"sweep {sid} has a {design} design; a {method} analysis needs a sweep with "
                         f'[design] method = "{method}" (SALib analyses only its own sample)')
    known = list(spec["outcomes"])
    chosen = outcomes or known
    for o in chosen:
        if o not in known:
            raise InputError(f"{o!r} is not an outcome of sweep {sid}; allowed: {', '.join(known)}")
    return method, chosen


def _indices(method: str, spec: dict[str, Any], problem: dict[str, Any], x: np.ndarray | None, y: np.ndarray,
             num_resamples: int, seed: int) -> dict[str, list[float]]:
    """SALib's indices of one outcome ``y`` (one value per experiment)."""
    if method == "sobol":
        from SALib.analyze import sobol

        si = sobol.analyze(problem, y, calc_second_order=bool(spec["second_order"]), num_resamples=num_resamples,
                           conf_level=CONF_LEVEL, print_to_console=False, seed=seed)
        return {k: [float(v) for v in si[k]] for k in ("S1", "S1_conf", "ST", "ST_conf")}
    from SALib.analyze import morris

    si = morris.analyze(problem, x, y, num_resamples=num_resamples, conf_level=CONF_LEVEL,
                        print_to_console=False, num_levels=int(spec["levels"]), seed=seed)
    return {k: [float(v) for v in si[k]] for k in ("mu_star", "mu_star_conf", "sigma", "mu")}


def _fmt(v: float) -> str:
    return "n/a" if not math.isfinite(v) else f"{v:.3g}"


def format_results(analysis: Analysis) -> str:
    """Plain-text tables: S1 and ST (or mu* and sigma) with confidence intervals, per outcome."""
    sid, method = analysis.sweep["id"], analysis.method
    lo, hi = analysis.replicates
    reps = f"{lo}" if lo == hi else f"{lo}-{hi}"
    pct = f"{CONF_LEVEL:.0%}"
    lines = [(f"sensitivity of sweep {sid}: {method}, {analysis.n_experiments} experiments, outcome = mean of "
              f"{reps} replicate(s) each; [{pct} confidence interval]")]
    for res in analysis.results:
        lines += ["", res.outcome]
        if res.note:
            lines.append(f"  {res.note}")
            continue
        width = max(len("factor"), *(len(f) for f in res.factors))
        c = res.columns
        if method == "sobol":
            lines.append(f"  {'factor':<{width}}  {'first-order S1':>26}  {'total ST':>26}")
            for i, f in enumerate(res.factors):
                s1, d1, st, dt = c["S1"][i], c["S1_conf"][i], c["ST"][i], c["ST_conf"][i]
                lines.append(f"  {f:<{width}}  {_fmt(s1):>7} [{_fmt(s1 - d1):>7}, {_fmt(s1 + d1):>7}]  "
                             f"{_fmt(st):>7} [{_fmt(st - dt):>7}, {_fmt(st + dt):>7}]")
        else:
            lines.append(f"  {'factor':<{width}}  {'mu* (mean |effect|)':>26}  {'sigma':>9}  {'mu':>9}")
            for i, f in enumerate(res.factors):
                m, d = c["mu_star"][i], c["mu_star_conf"][i]
                lines.append(f"  {f:<{width}}  {_fmt(m):>7} [{_fmt(m - d):>7}, {_fmt(m + d):>7}]  "
                             f"{_fmt(c['sigma'][i]):>9}  {_fmt(c['mu'][i]):>9}")
    return "\n".join(lines)


def plot_results(analysis: Analysis, path: Path) -> Path:
    """A bar chart per outcome (S1 and ST, or mu* and sigma, with confidence intervals) as PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    shown = [r for r in analysis.results if not r.note] or analysis.results
    n_f = len(shown[0].factors)
    fig, axes = plt.subplots(len(shown), 1, figsize=(max(6.0, 1.6 + 1.3 * n_f), 3.2 * len(shown)), squeeze=False)
    names = ("S1", "ST") if analysis.method == "sobol" else ("mu_star", "sigma")
    labels = ("first-order S1", "total ST") if analysis.method == "sobol" else ("mu* (mean |effect|)", "sigma")
    xs = np.arange(n_f)
    for ax, res in zip(axes[:, 0], shown):
        if res.note:
            ax.text(0.5, 0.5, f"{res.outcome}: {res.note}", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        for j, (key, label) in enumerate(zip(names, labels)):
            err = res.columns.get(f"{key}_conf")
            ax.bar(xs + (j - 0.5) * 0.38, res.columns[key], width=0.38, label=label,
                   yerr=None if err is None else np.abs(err), capsize=3)
        ax.set_xticks(xs, [f.replace("policies.", "") for f in res.factors], rotation=15, ha="right", fontsize=8)
        ax.set_title(res.outcome, fontsize=10)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.legend(fontsize=8)
    fig.suptitle(f"{analysis.sweep['id']} ({analysis.method}, {CONF_LEVEL:.0%} CI)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / (3.2 * len(shown))))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise OutputError(f"cannot write the chart '{path}': {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return path
