"""Monthly decisions of stakeholders (docs/model.md §7.13): volunteers and property firms.

At the end of the participate phase of every 30th day (clock days 29, 59, ...) each resident
sets how readily they volunteer next month (:func:`~sim.agents.party_member.decide_volunteering`)
and each property firm weighs last month's fees against its cost, sets its effort and may leave
its compound (:func:`~sim.agents.property_firm.decide_month`); compounds left without a firm
may find a new one. Problems queued at a firm that leaves go to the community.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.agents.party_member import decide_volunteering
from sim.agents.property_firm import decide_month as firms_decide
from sim.agents.property_firm import find_new_firms
from sim.config.params import DAYS_PER_MONTH
from sim.config.taxonomy import COMMUNITY, PROPERTY, QUEUED

if TYPE_CHECKING:
    from sim.core.model import Model

#: days between decisions
DUR_DECISION = int(DAYS_PER_MONTH)

__all__ = ["DUR_DECISION", "complaining_households", "decide_month", "is_decision_day"]


def is_decision_day(t: int) -> bool:
    """Whether clock day ``t`` ends a month of decisions."""
    return (t + 1) % DUR_DECISION == 0


def decide_month(model: Model, t: int) -> None:
    """Volunteers and firms decide for the next month, if clock day ``t`` is the last day of a month."""
    if not is_decision_day(t):
        return
    sc, w, r = model.scenario, model.world, model.residents
    decide_volunteering(model.party, r.volunteer_turns, sc.residents.dur_volunteer_hours, sc.party, DAYS_PER_MONTH)
    firms = model.firms
    if firms.n == 0:
        return
    comp, pool = firms.compound, model.problems
    sat = w.compound_mean(r.satisfaction)
    at_firms = np.flatnonzero((pool.status == QUEUED) & (pool.level == PROPERTY))  # problems queued at firms
    complaining = complaining_households(model, at_firms, t)
    leave = firms_decide(firms, sat[comp], complaining[comp], w.compound_n_households[comp].astype(np.float64),
                         sc.handling)
    if leave.size:
        model.compound_firm[comp[leave]] = -1
        rows = at_firms[np.isin(pool.handler[at_firms], leave)]
        model._place(rows, np.full(rows.size, COMMUNITY, dtype=np.int8), t)  # the community takes them on
    old_quality = firms.quality.copy()
    new = find_new_firms(firms, w.compound_type, sc.handling, model.streams.get("firms"))
    if new.size:
        model.compound_firm[comp[new]] = new
        # the new firm's quality replaces the old one's in its success multiplier; policies' factors stay
        ratio = firms.quality[new] / np.maximum(old_quality[new], np.float32(1e-6))
        model.handlers.mult[PROPERTY][new] *= ratio[:, None]


def complaining_households(model: Model, at_firms: np.ndarray, t: int) -> np.ndarray:
    """Households per compound with a property problem overdue at their firm (waited over the expected).

    ``at_firms``: pool rows of the problems queued at the property level.
    """
    pool, w = model.problems, model.world
    rows = at_firms[(t - pool.t_found[at_firms]) > model.expected_wait[pool.sev[at_firms]]]
    households = np.unique(w.res_household[pool.res[rows]])
    return np.bincount(w.household_compound[households], minlength=w.n_compounds).astype(np.float64)
