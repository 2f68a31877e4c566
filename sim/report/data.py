"""What ``govsim report`` reports on, rebuilt from the results database alone.

:func:`resolve` turns the command's argument into a target:

* an integer -> one stored run (``RunTarget``);
* ``compare:<id>`` or ``<id>`` (or a unique prefix of it) -> the runs stored by ``govsim compare``
  with label ``compare:<id>`` (``ComparisonTarget``);
* anything else -> a stored sweep (:meth:`sim.store.database.ResultStore.find_sweep`, id or unique prefix);
* ``latest`` -> the most recently stored single run, comparison or sweep (:func:`sim.store.catalog.latest`).

:func:`comparison_from_store` rebuilds a :class:`sim.experiments.compare.Comparison` (per-replicate summaries
and time series) from the stored rows, so the report's tables and figures are computed by the same
code as ``govsim compare``'s.

Order and pairing. The store keeps no scenario order, so the scenarios are ordered by their
lowest run id: ``govsim compare`` submits the runs in (scenario, replicate) order, the baseline's
first, so the baseline's first run is stored first (always when the runs are made in one process;
with several worker processes the earliest runs started are the baseline's). Replicates are paired by seed (common
random numbers: replicate r has the same seed in every scenario) and numbered by the root seed
when it is one of 0..:data:`ROOT_SEED_SEARCH` (the default is 1), else by order of storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.errors import StoreError
from sim.store.database import ResultStore
from sim.store.schema import runs

if TYPE_CHECKING:
    from sim.experiments.compare import Comparison

__all__ = ["ROOT_SEED_SEARCH", "ComparisonTarget", "RunTarget", "SweepTarget", "comparison_from_store", "resolve"]

LABEL_PREFIX = "compare:"
#: the reference ``govsim report`` reads as the most recently stored run, comparison or sweep
LATEST = "latest"
ROOT_SEED_SEARCH = 1000


@dataclass
class RunTarget:
    """A report's subject: one stored run."""

    run_id: int


@dataclass
class ComparisonTarget:
    """A report's subject: the runs of one comparison (label ``compare:<id>``)."""

    comparison_id: str


@dataclass
class SweepTarget:
    """A report's subject: a stored sweep (its row from the store)."""

    sweep: dict[str, Any]


def _rows(store: ResultStore, where: Any, what: str) -> list[dict[str, Any]]:
    from sqlalchemy import select

    cols = [c for c in runs.c if c.name != "scenario_text"]
    query = select(*cols).where(where).order_by(runs.c.id)
    return store.run_op(what, lambda conn: [dict(r) for r in conn.execute(query).mappings()])


def _comparison_ids(store: ResultStore, prefix: str) -> list[str]:
    from sqlalchemy import select

    escaped = (LABEL_PREFIX + prefix).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = (select(runs.c.label).where(runs.c.label.like(escaped + "%", escape="\\"))
             .distinct().order_by(runs.c.label).limit(6))
    labels = store.run_op("find comparisons", lambda conn: list(conn.execute(query).scalars().all()))
    return [lab[len(LABEL_PREFIX):] for lab in labels]


def resolve(store: ResultStore, ref: str) -> RunTarget | ComparisonTarget | SweepTarget:
    """The run, comparison or sweep ``ref`` names; StoreError (one line) if none or several."""
    ref = str(ref).strip()
    if not ref:
        raise StoreError("expected a run id, a comparison id (compare:<id>) or a sweep id, got ''")
    if ref == LATEST:
        from sim.store.catalog import latest

        kind, found = latest(store)
        if kind == "run":
            return RunTarget(int(found))
        if kind == "comparison":
            return ComparisonTarget(str(found))
        return SweepTarget(store.find_sweep(str(found)))
    if ref.isascii() and ref.isdigit():
        if int(ref) > 2**63 - 1 or not _rows(store, runs.c.id == int(ref), f"read run {ref}"):
            raise StoreError(f"results database '{store.url}': no run with id {ref}")
        return RunTarget(int(ref))
    explicit = ref.startswith(LABEL_PREFIX)
    cid = ref[len(LABEL_PREFIX):] if explicit else ref
    ids = _comparison_ids(store, cid)
    if cid in ids:
        return ComparisonTarget(cid)
    if len(ids) > 1:
        raise StoreError(f"comparison id '{cid}' is ambiguous: {', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''}")
    if len(ids) == 1:
        return ComparisonTarget(ids[0])
    if explicit:
        raise StoreError(f"results database '{store.url}': no runs with label {LABEL_PREFIX}{cid}")
    try:
        return SweepTarget(store.find_sweep(ref))
    except StoreError:
        raise StoreError(f"results database '{store.url}': no run, comparison or sweep '{ref}' (expected a run id, "
                         f"compare:<id> as printed by govsim compare, or a sweep id)") from None


def _replicate_order(seeds: list[int]) -> tuple[list[int], int | None]:
    """Seeds in replicate order and the root seed, if it is found in 0..ROOT_SEED_SEARCH."""
    from sim.experiments.compare_stats import replicate_seeds

    wanted = set(seeds)
    for root in range(ROOT_SEED_SEARCH + 1):
        cand = replicate_seeds(root, len(seeds))
        if set(cand) == wanted:
            return cand, root
    return list(seeds), None


def _frame(store: ResultStore, rows: list[dict[str, Any]], labels: list[str], groups: list[list[dict[str, Any]]],
           comparison_id: str) -> Comparison:
    import pandas as pd

    from sim.experiments.compare import Comparison

    base_seeds = list(dict.fromkeys(int(r["seed"]) for r in groups[0]))
    seeds, root = _replicate_order(base_seeds)
    rep_of = {s: i for i, s in enumerate(seeds)}
    ids = [int(r["id"]) for r in rows]
    summ = store.summary_frame(ids)
    wide = summ.pivot(index="run_id", columns="metric", values="value")
    out_rows, series, t_of, timing = [], {}, {}, []
    for label, grp in zip(labels, groups):
        grp = [r for r in grp if int(r["seed"]) in rep_of]
        grp.sort(key=lambda r: rep_of[int(r["seed"])])
        per_metric: dict[str, list[np.ndarray]] = {}
        t_ref: np.ndarray | None = None
        for r in grp:
            rid = int(r["id"])
            rec = {"scenario": label, "replicate": rep_of[int(r["seed"])], "seed": int(r["seed"])}
            if rid in wide.index:
                rec.update({k: float(v) for k, v in wide.loc[rid].items()})
            rec.setdefault("n_steps", float(r["n_steps"]))
            out_rows.append(rec)
            timing.append({"scenario": label, "replicate": rec["replicate"], "run_id": rid,
                           "started_at": r["started_at"], "finished_at": r["finished_at"]})
            ts = store.timeseries_frame(rid)
            t = ts["t"].to_numpy()
            if t_ref is None:
                t_ref = t
            n = min(len(t_ref), len(t))
            t_ref = t_ref[:n]
            for metric in ts.columns:
                if metric != "t":
                    per_metric.setdefault(metric, []).append(ts[metric].to_numpy(dtype=np.float64))
        n = len(t_ref) if t_ref is not None else 0
        series[label] = {m: np.vstack([a[:n] for a in arrs]) for m, arrs in per_metric.items()}
        t_of[label] = t_ref if t_ref is not None else np.zeros(0, dtype=np.int64)
    return Comparison(comparison_id=comparison_id, labels=labels, seeds=seeds, runs=pd.DataFrame(out_rows),
                      series=series, t=t_of, root_seed=root if root is not None else -1,
                      timing=pd.DataFrame(timing))


def comparison_from_store(store: ResultStore, comparison_id: str) -> Comparison:
    """The comparison stored with label ``compare:<comparison_id>``, rebuilt (see the module docstring)."""
    from sim.experiments.compare import unique_labels

    rows = _rows(store, runs.c.label == LABEL_PREFIX + comparison_id, f"read comparison {comparison_id}")
    if not rows:
        raise StoreError(f"results database '{store.url}': no runs with label {LABEL_PREFIX}{comparison_id}")
    keys: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:  # ordered by id: the first group is the baseline
        keys.setdefault((r["scenario_name"], r["scenario_hash"]), []).append(r)
    labels = unique_labels([name for name, _ in keys])
    groups = list(keys.values())
    return _frame(store, rows, labels, groups, comparison_id)


def run_as_comparison(store: ResultStore, run_id: int) -> Comparison:
    """One stored run as a one-scenario, one-replicate comparison (intervals are n/a)."""
    rows = _rows(store, runs.c.id == int(run_id), f"read run {run_id}")
    if not rows:
        raise StoreError(f"results database '{store.url}': no run with id {run_id}")
    return _frame(store, rows, [rows[0]["scenario_name"]], [rows], f"run{int(run_id)}")


def run_row(store: ResultStore, run_id: int) -> dict[str, Any]:
    """The run's row (without its scenario text)."""
    rows = _rows(store, runs.c.id == int(run_id), f"read run {run_id}")
    if not rows:
        raise StoreError(f"results database '{store.url}': no run with id {run_id}")
    return rows[0]
