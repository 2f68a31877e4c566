"""The reform date and the warm-up (docs/model.md §7.12): when policies start; baseline days before day 0.

Before ``reform.start_day`` the model runs the baseline rules: its policies exist (each holds its
own random stream, which nothing draws from yet) but are not set up, run no hook and cost
nothing, so under common random numbers a reform scenario's days before the date are the
baseline's, bit for bit. On the date, at the start of the day, :func:`start_reform` sets them
up in the scenario's order, as a scenario without a date does before day 0.

:func:`warm_up` runs ``reform.dur_warmup`` baseline days before day 0 and then starts the
accounting afresh: the problems still open are carried over into a new ledger (as arisen, and
as found by their finder if already routed), so every identity of
:meth:`~sim.core.model.Model.check_invariants` holds from day 0; cost and volunteer hours start
from zero, and the recorder starts at day 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from sim.config.taxonomy import QUEUED
from sim.core.problems import Ledger, ProblemPool

if TYPE_CHECKING:
    from sim.core.model import Model
    from sim.core.phases import Policy

__all__ = ["carried_ledger", "start_reform", "warm_up"]


def start_reform(model: Model, waiting: Sequence[Policy]) -> None:
    """Set up ``waiting`` policies in order on today's clock and make them the model's acting policies.

    The handlers are rebuilt, and problems already queued get their handler again, so a policy
    that re-divides the grids or adds firms leaves no problem with a handler that no longer exists.
    """
    for pol in waiting:
        pol.t_start = model.clock
        pol.setup(model)
        model.policies.append(pol)
    model.handlers.rebuild()
    pool = model.problems
    q = np.flatnonzero(pool.status == QUEUED)
    if q.size:
        pool.handler[q] = model.handlers.handler_of(pool.level[q], pool.res[q], pool.cat[q])


def carried_ledger(pool: ProblemPool, res_ctype: np.ndarray, n_days: int) -> Ledger:
    """A new ledger in which the pool's open problems count as arisen, and the routed ones as found."""
    led = Ledger(n_days=n_days)
    np.add.at(led.arisen, (pool.cat, pool.sev), 1)
    led.arisen_ctype += np.bincount(res_ctype[pool.res], minlength=led.arisen_ctype.size)
    routed = pool.status == QUEUED
    led.found = int(routed.sum())
    led.found_by += np.bincount(pool.finder[routed], minlength=led.found_by.size)
    return led


def warm_up(model: Model) -> None:
    """Run the model's ``dur_warmup`` days, then reset its counters for day 0 (see the module docstring)."""
    for _ in range(model.dur_warmup):
        model.step()
    model.ledger = carried_ledger(model.problems, model.world.res_ctype, model.scenario.run.n_steps + model.clock + 1)
    model.problems_carried = model.problems.n
    model.recorder.start_counts()  # daily counts start from the carried ledger
    model.volunteer_hours = 0.0
    model.cost_yuan = 0.0
