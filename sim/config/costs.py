"""The cost table: every yuan the model counts, one line each, with unit and source.

One table, read by the core and by every policy (``scenario.costs``, scenario key ``[costs]``):
salaries per post, staff hours of departments and streets, project spend, venue and platform
budgets. A policy's cost is what it adds *and what it takes away*: pay of posts a reform
merges or releases is counted as a negative item (see :meth:`sim.core.phases.Policy.cost_items`),
so a run's ``cost_yuan`` is the whole running cost of the governance arrangement it models and
the difference between two scenarios is the reform's net cost.

The table is grouped in blocks, one per owner (the core's posts, then one block per case);
each block keeps to its own lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.config.paramtools import Params, param


@dataclass(frozen=True)
class CostParams(Params):
    """Pay and running costs (yuan; per month, per year or once, as each unit says)."""

    # ---- the core's posts and activities -------------------------------------------------------
    pay_grid_worker: float = param(1200.0, lo=0.0, unit="yuan/month",
                                   plausible=(900.0, 1600.0),
                                   source="assumption: below 001's 1,650 floor before reform")
    pay_community_staff: float = param(3000.0, lo=0.0, unit="yuan/month", plausible=(2500.0, 4500.0),
                                       source="assumption (004: low pay)")
    cost_event: float = param(2000.0, lo=0.0, unit="yuan per event", plausible=(1000.0, 4000.0), source="assumption")
    # ---- end of the core's posts ---------------------------------------------------------------

    # ---- effort and staff hours of streets, departments, the city ------------------------------
    # ---- end of effort and staff hours ---------------------------------------------------------

    # ---- 000 Jiyang: the 1+N alliance ----------------------------------------------------------
    cost_alliance_liaison: float = param(500.0, lo=0.0, unit="yuan/month per allied unit", plausible=(250.0, 1000.0),
                                         source="assumption: part of a cadre's time (000: 各共建单位分别确定1名"
                                                "党员干部担任党建联络员)")
    cost_alliance_materials: float = param(10_000.0, lo=0.0, unit="yuan/year per allied unit",
                                           plausible=(5000.0, 20000.0),
                                           source="assumption: materials of the units' claimed projects")
    pay_centre_staff: float = param(4000.0, lo=0.0, unit="yuan/month per staff",
                                    plausible=(3000.0, 6000.0),
                                    source="assumption: staff of the big community's service centre, a statutory "
                                           "body (000: 法定机构); above the community staff's pay")
    cost_centre_venue: float = param(120_000.0, lo=0.0, unit="yuan/year per service centre",
                                     plausible=(60_000.0, 300_000.0),
                                     source="assumption: rent, upkeep and utilities of the party-mass service "
                                            "centre (000: 大社区党群服务中心)")
    value_unit_hour: float = param(45.0, lo=0.0, unit="yuan per hour of a co-building unit's staff",
                                   plausible=(30.0, 80.0),
                                   source="assumption: urban wage of ~8,000 yuan/month over 174 hours; the units' "
                                          "own cost, reported apart from the government's (alliance_unit_hours_yuan)")
    # ---- end of 000 ----------------------------------------------------------------------------

    # ---- 001 Gaoxian: four empowerments, grids and posts ---------------------------------------
    # ---- end of 001 ----------------------------------------------------------------------------

    # ---- 002 Bazhong: street empowerment and the whistle ---------------------------------------
    # ---- end of 002 ----------------------------------------------------------------------------

    # ---- 003 Huiji: micro projects -------------------------------------------------------------
    # ---- end of 003 ----------------------------------------------------------------------------

    # ---- 004 Luohu: one core, many (a proposal) ------------------------------------------------
    # ---- end of 004 ----------------------------------------------------------------------------


__all__ = ["CostParams"]
