"""Reference monthly decisions of volunteers and property firms (docs/model.md §7.13), one agent at a time."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.config.taxonomy import COMMUNITY, OLD, PROPERTY, QUEUED
from sim.reference.streams import beta_mean

if TYPE_CHECKING:
    from sim.reference.agents import Problem, PropertyFirm
    from sim.reference.model import ReferenceModel

DUR_DECISION = 30


def decide_month(model: ReferenceModel, t: int) -> None:
    """Volunteers set next month's rate; firms weigh fees against cost, set effort, may leave or be replaced."""
    pp = model.sc.party
    hours = model.sc.residents.dur_volunteer_hours
    keep = math.exp(-DUR_DECISION / pp.dur_load_memory)
    for r in model.residents:
        turns = r.volunteer_turns - r.turns_seen
        r.turns_seen = r.volunteer_turns
        r.load = keep * r.load + (1.0 - keep) * turns * hours
        over = max(r.load / pp.hours_burnout - 1.0, 0.0)
        r.rate = r.base_rate * (1.0 + pp.recognition_gain * r.recognition) / (1.0 + pp.burnout_slope * over)
    complaining: dict[PropertyFirm, set[int]] = {}
    for prob in model.problems:
        if (not prob.closed and prob.status == QUEUED and prob.level == PROPERTY
                and t - prob.t_found > model.dur_expected_wait[prob.sev]):
            complaining.setdefault(prob.handler, set()).add(id(prob.res.household))  # type: ignore[arg-type]
    for firm in model.firms:
        if firm.active and not firm.community_run:
            _firm_month(model, firm, len(complaining.get(firm, ())), t)
    rng = model.streams.get("firms")
    h = model.sc.handling
    for firm in model.firms:
        if not firm.active and rng.random() < h.property_p_new_firm:
            ctype = max(firm.compound.ctype, OLD + 1)  # an old compound's new firm: as a mature one's
            firm.quality = beta_mean(rng, h.property_quality.array().tolist()[ctype], h.property_quality_concentration)
            firm.effort, firm.n_months_loss, firm.active = 1.0, 0, True
            firm.compound.firm = firm


def _firm_month(model: ReferenceModel, firm: PropertyFirm, n_complaining: int, t: int) -> None:
    """One firm's month: margin, effort, exit (its queue then goes to the community)."""
    h = model.sc.handling
    comp = firm.compound
    sat = sum(r.S for r in comp.residents) / max(len(comp.residents), 1)
    collect = min(max(h.property_p_collect + h.property_collect_slope * (sat - 0.5), 0.0), 1.0)
    paying = 1.0 - min(n_complaining / max(len(comp.households), 1), 1.0)
    cost = h.property_fixed_cost_share + (1.0 - h.property_fixed_cost_share) * firm.effort
    firm.margin = h.property_fee_over_cost * collect * paying / max(cost, 1e-9) - 1.0
    firm.effort = min(max(firm.effort + h.property_rate_effort * firm.margin, h.property_effort_min), 1.0)
    firm.n_months_loss = firm.n_months_loss + 1 if firm.margin < 0 else 0
    if firm.n_months_loss >= h.property_n_months_exit:
        firm.active = False
        comp.firm = None
        for prob in list(firm.queue.values()):
            model.place(prob, COMMUNITY, t)


def recontact_hazard(model: ReferenceModel, prob: Problem, waited: int) -> float:
    """Daily chance of a repeat contact of an overdue problem (§7.6 step 2).

    It ramps from 0 at the expected wait to ``rate_recontact`` at ``ratio_full_recontact`` times
    it, and is cut to ``recontact_represented`` of that if the problem is represented.
    """
    p = model.sc.problems
    ratio = waited / max(model.dur_expected_wait[prob.sev], 1.0)
    ramp = min((ratio - 1.0) / max(p.ratio_full_recontact - 1.0, 1e-6), 1.0)
    rep = p.recontact_represented if prob.flags & model.represented_flags else 1.0
    return p.rate_recontact * ramp * rep
