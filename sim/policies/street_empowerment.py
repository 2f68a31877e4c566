"""street_empowerment — 赋权 (002, Bazhong): streets gain powers over departments' agencies.

People, money and things follow the task; fewer tasks are pushed down.

Mechanism, applied once at set-up:

* authority: for each category, the street's chance of success rises to at least
  ``authority_share[c]`` times the department's ("owned by the county, used by the street",
  县区属、街道用: enforcement of urban management, market supervision, justice ... sinks to the
  street, 002). Categories with share 0 are unchanged.
* capacity follows the task (人随事转、费随事转、物随事转, 002): for each category whose street
  authority rises (a "sunk" category), a share ``capacity_moved`` of its department's capacity
  moves to the streets, split by population.
* one-stop service: with ``admin_at_street`` administrative matters go to the street's
  service centre (便民服务中心, 一窗受理) instead of to departments.
* fewer tasks pushed down (市、县区两级不得随意将任务下派, 002): communities' administrative
  tasks fall by ``admin_task_cut``.

And each period (the five powers, 5项权力, among them 对部门派驻机构的人事考核权, the street's say
in the personnel assessment of the departments' stationed agencies):

* the street assesses each department on the matters it convened since the last assessment
  (the share solved at its meetings, written by the whistle in ``model.street_convened``); a
  department rated below ``assess_target`` raises its responsiveness to that street
  (``model.dept_response``, the share of its day it gives the street's meetings) by
  ``assess_gain`` x the shortfall, one rated above relaxes by as much, within
  [1, ``response_max``]. Without the whistle the street convenes nothing and this does nothing.

The reform moves existing staff (not counted again); its cost is the street's own staff time
for the assessment and a running cost (cost table, block 002).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.config.params import DAYS_PER_MONTH
from sim.config.paramtools import Params, param, vector_param
from sim.config.taxonomy import DEPARTMENT, N_CATEGORIES, STREET
from sim.config.vectors import ByCategory
from sim.core.phases import Policy
from sim.policies import register

if TYPE_CHECKING:
    from sim.core.model import Model


@dataclass(frozen=True)
class StreetEmpowermentParams(Params):
    """Parameters of the street empowerment reform (002)."""

    authority_share: ByCategory = vector_param(
        ByCategory, (0.9, 0.9, 0.9, 0.5, 0.9, 0.9, 0.9, 0.3), lo=0.0, hi=1.5, unit="share of department authority",
        plausible=(0.7, 1.2),
        source="002: urban management, market supervision, justice, family planning sink to the street; "
               "health and care stay with departments (assumption for the shares)")
    capacity_moved: float = param(0.5, lo=0.0, hi=1.0, unit="share of sunk department capacity",
                                  plausible=(0.25, 0.75),
                                  source="002: people, money and things follow the task (share an assumption)")
    admin_at_street: bool = param(True, source="002: one-window service centre at the street (一窗受理)")
    admin_task_cut: float = param(0.25, lo=0.0, hi=1.0, unit="share of administrative tasks",
                                  plausible=(0.1, 0.4),
                                  source="002: districts may not push tasks down at will (share an assumption)")
    dur_assess: int = param(30, lo=1, unit="days", plausible=(30, 90),
                            source="assumption: monthly assessment (002: 量化考核, quantified assessment)")
    assess_target: float = param(0.6, lo=0.0, hi=1.0, unit="share of convened matters solved",
                                 plausible=(0.4, 0.8), source="assumption: the rating a department must reach")
    assess_gain: float = param(1.0, lo=0.0, hi=10.0, unit="responsiveness per unit shortfall",
                               plausible=(0.5, 2.0),
                               source="assumption: the street's say in the agencies' personnel assessment (002)")
    response_max: float = param(2.0, lo=1.0, hi=10.0, unit="multiple of share_meeting", plausible=(1.5, 3.0),
                                source="assumption: the most a department can raise its response")


@register
class StreetEmpowerment(Policy):
    """More authority and capacity for streets; administrative matters served at the street."""

    name = "street_empowerment"
    Params = StreetEmpowermentParams
    params: StreetEmpowermentParams

    def setup(self, model: Model) -> None:
        """Raise street authority, move capacity with the task, one-stop service, fewer tasks."""
        p = self.params
        share = p.authority_share.array(np.float32)
        street = model.handlers.authority[STREET]
        target = share * model.handlers.authority[DEPARTMENT]
        sunk = target > street  # categories whose enforcement actually sinks to the street
        # raise the base authority and keep each street's own multiplier
        model.handlers.authority[STREET] = np.where(sunk, np.minimum(target, 1.0), street)
        moved = model.departments.capacity * np.float32(p.capacity_moved) * sunk
        model.departments.capacity = model.departments.capacity - moved
        w = model.world
        model.streets.capacity = model.streets.capacity + np.float32(moved.sum()) * (w.street_size / w.street_size.sum()).astype(np.float32)
        if p.admin_at_street:
            model.admin_entry_level = STREET
        model.communities.admin_tasks = model.communities.admin_tasks * np.float32(1.0 - p.admin_task_cut)

    def on_plan(self, model: Model, t: int) -> None:
        """Each period the street rates the departments on its convened matters; their response follows."""
        p = self.params
        d = self.days(t)
        if d == 0 or d % p.dur_assess != 0:
            return
        convened, solved = model.street_convened
        rated = convened > 0
        rating = np.where(rated, solved / np.maximum(convened, 1.0), p.assess_target)
        new = model.dept_response + np.float32(p.assess_gain) * (p.assess_target - rating).astype(np.float32)
        model.dept_response = np.clip(np.where(rated, new, model.dept_response), 1.0,
                                      p.response_max).astype(np.float32)
        model.street_convened[:] = 0.0

    def cost_items(self, model: Model) -> dict[str, float]:
        """Today's cost: the street's staff time to assess the stationed agencies, and the reform office."""
        c, n = model.scenario.costs, model.world.n_streets
        return {
            "assessment": n * N_CATEGORIES * c.street_assessment_days_per_department_per_month
                          * c.pay_official_per_day / DAYS_PER_MONTH,
            "office": n * c.street_office_per_street_per_year / 365.0,
        }


__all__ = ["StreetEmpowerment", "StreetEmpowermentParams"]
