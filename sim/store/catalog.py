"""What a results store holds: its single runs, comparisons and sweeps, for ``govsim list`` and ``report latest``.

A *comparison* is the set of runs ``govsim compare`` stored with label ``compare:<id>``; a *sweep*
is a row of ``sweeps`` with its linked runs; a *single run* is any other run (``govsim run``, a
notebook's ``save_run``). Sizes count the stored time-series values (one per metric and
recorded day, the bulk of a store; the README gives the bytes a value takes on SQLite).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Connection

from sim.errors import StoreError
from sim.store.database import ResultStore
from sim.store.schema import experiments, runs, series, sweep_results, sweeps, timeseries
from sim.store.series import tables_present, values_per_run

__all__ = ["COMPARISON_PREFIX", "KINDS", "latest", "list_comparisons", "list_runs", "list_stored", "list_sweeps"]

COMPARISON_PREFIX = "compare:"
#: what ``govsim list`` can list, in its order
KINDS = ("runs", "comparisons", "sweeps")


def _read(store: ResultStore, what: str, body: Callable[[Connection], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """``body(conn)`` under the store's deadline and retries; a database error becomes one StoreError naming it."""
    return store.run_op(what, body)


def list_runs(store: ResultStore) -> list[dict[str, Any]]:
    """The single runs (neither a comparison's nor a sweep's), oldest first.

    Keys: ``id, label, scenario, seed, steps, date`` (finished, UTC) and ``size`` (time-series values).
    """
    def body(conn: Connection) -> list[dict[str, Any]]:
        in_sweep = select(sweep_results.c.run_id)
        query = (select(runs.c.id, runs.c.label, runs.c.scenario_name, runs.c.seed, runs.c.n_steps,
                        runs.c.finished_at)
                 .where(~runs.c.label.like(COMPARISON_PREFIX + "%"), runs.c.id.not_in(in_sweep))
                 .order_by(runs.c.id))
        rows = conn.execute(query).all()
        size = values_per_run(conn) if rows else {}
        return [{"id": int(r[0]), "label": r[1], "scenario": r[2], "seed": int(r[3]), "steps": int(r[4]),
                 "date": r[5], "size": size.get(int(r[0]), 0)} for r in rows]

    return _read(store, "list runs", body)


def list_comparisons(store: ResultStore) -> list[dict[str, Any]]:
    """One dict per comparison (label ``compare:<id>``), oldest first.

    Keys: ``id`` (what ``govsim report`` takes), ``label``, ``scenario`` (the scenarios, baseline first),
    ``seed`` (the replicates' seeds, lowest first), ``runs``, ``steps``, ``date`` (last run finished) and ``size``.
    """
    def body(conn: Connection) -> list[dict[str, Any]]:
        query = (select(runs.c.id, runs.c.label, runs.c.scenario_name, runs.c.seed, runs.c.n_steps,
                        runs.c.finished_at)
                 .where(runs.c.label.like(COMPARISON_PREFIX + "%")).order_by(runs.c.id))
        rows = conn.execute(query).all()
        size = values_per_run(conn) if rows else {}
        groups: dict[str, dict[str, Any]] = {}
        for rid, label, scenario, seed, steps, finished in rows:
            g = groups.setdefault(label, {"id": label[len(COMPARISON_PREFIX):], "label": label, "scenario": [],
                                          "seed": set(), "runs": 0, "steps": 0, "date": finished, "size": 0})
            if scenario not in g["scenario"]:
                g["scenario"].append(scenario)
            g["seed"].add(int(seed))
            g["runs"] += 1
            g["steps"] = max(g["steps"], int(steps))
            g["date"] = max(g["date"], finished)
            g["size"] += size.get(int(rid), 0)
        out = sorted(groups.values(), key=lambda g: g["date"])
        for g in out:
            g["seed"] = sorted(g["seed"])
        return out

    return _read(store, "list comparisons", body)


def list_sweeps(store: ResultStore) -> list[dict[str, Any]]:
    """One dict per sweep, oldest first.

    Keys: ``id, label`` (its name), ``scenario`` (the base scenario), ``seed`` (root seed), ``runs``
    (stored), ``runs_planned``, ``steps``, ``date`` (created) and ``size``.
    """
    def body(conn: Connection) -> list[dict[str, Any]]:
        sweep_rows = conn.execute(select(sweeps.c.id, sweeps.c.name, sweeps.c.base_scenario_name, sweeps.c.root_seed,
                                         sweeps.c.n_experiments, sweeps.c.replicates, sweeps.c.n_steps,
                                         sweeps.c.created_at).order_by(sweeps.c.created_at, sweeps.c.id)).all()
        if not sweep_rows:
            return []
        linked = (select(experiments.c.sweep_id, sweep_results.c.run_id)
                  .join(sweep_results, sweep_results.c.experiment_id == experiments.c.id)).subquery()
        size: dict[str, int] = {}
        new, old = tables_present(conn)
        counted: list[tuple[Table, Any]] = [(series, func.sum(series.c.n))] if new else []
        counted += [(timeseries, func.count())] if old else []  # format 1's rows, of older databases
        for table, n in counted:
            for sid, k in conn.execute(select(linked.c.sweep_id, n)
                                       .select_from(linked.join(table, table.c.run_id == linked.c.run_id))
                                       .group_by(linked.c.sweep_id)):
                size[str(sid)] = size.get(str(sid), 0) + int(k)
        n_runs: dict[str, int] = {str(s): int(n) for s, n in conn.execute(
            select(linked.c.sweep_id, func.count()).group_by(linked.c.sweep_id))}
        return [{"id": sid, "label": name, "scenario": base, "seed": int(seed), "runs": int(n_runs.get(sid, 0)),
                 "runs_planned": int(n_exp) * int(reps), "steps": int(steps), "date": created,
                 "size": size.get(sid, 0)}
                for sid, name, base, seed, n_exp, reps, steps, created in sweep_rows]

    return _read(store, "list sweeps", body)


def list_stored(store: ResultStore, kinds: tuple[str, ...] = KINDS) -> dict[str, list[dict[str, Any]]]:
    """``{kind: rows}`` for each of ``kinds`` (``runs``, ``comparisons``, ``sweeps``)."""
    listers = {"runs": list_runs, "comparisons": list_comparisons, "sweeps": list_sweeps}
    return {kind: listers[kind](store) for kind in kinds}


def latest(store: ResultStore) -> tuple[str, Any]:
    """The most recently stored single run, comparison or sweep: ``(kind, id)``.

    ``kind`` is ``run``, ``comparison`` or ``sweep``; StoreError naming the store if it holds nothing.
    """
    found: list[tuple[datetime, str, Any]] = []
    for kind, rows in list_stored(store).items():
        found.extend((r["date"], kind[:-1], r["id"]) for r in rows)
    if not found:
        raise StoreError(f"results database '{store.url}': holds no runs, comparisons or sweeps yet")
    _, kind, ref = max(found, key=lambda f: f[0])
    return kind, ref
