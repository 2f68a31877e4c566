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
    # ---- end of 000 ----------------------------------------------------------------------------

    # ---- 001 Gaoxian: four empowerments, grids and posts ---------------------------------------
    # the integrated posts replace the four former grid roles, whose pay (``pay_grid_worker`` of the
    # pre-reform grids, the core's line above) the grid policy books as released (a negative item)
    pay_integrated_grid_worker: float = param(1650.0, lo=0.0, unit="yuan/month per post",
                                              plausible=(1650.0, 2200.0),
                                              source="001: 明确工资报酬不低于1650元/月 (pay at least 1,650 yuan a month); "
                                                     "above the floor an assumption")
    venue_cost_per_community: float = param(1_000_000.0, lo=0.0, unit="yuan per community, once on the reform day",
                                            source="001: 整合财政资金100万元 (1,000,000 yuan of fiscal funds) to upgrade "
                                                   "venues")
    platform_cost_per_community_per_year: float = param(50_000.0, lo=0.0, unit="yuan per community per year",
                                                        plausible=(25_000.0, 100_000.0),
                                                        source="assumption: upkeep of the 互联网+ platform and the "
                                                               "24-hour monitoring (001 names them, gives no cost)")
    trusteeship_subsidy_per_household_per_month: float = param(
        5.0, lo=0.0, unit="yuan per trustee household per month", plausible=(2.0, 10.0),
        source="assumption: residents pay the low fee (001: 低价有偿), the government tops up")
    elderly_care_cost_per_community_per_year: float = param(
        100_000.0, lo=0.0, unit="yuan per community per year", plausible=(50_000.0, 200_000.0),
        source="assumption (001: 政府兜底补贴, the government's subsidy of embedded elderly care)")
    # ---- end of 001 ----------------------------------------------------------------------------

    # ---- 002 Bazhong: street empowerment and the whistle ---------------------------------------
    # ---- end of 002 ----------------------------------------------------------------------------

    # ---- 003 Huiji: micro projects -------------------------------------------------------------
    # ---- end of 003 ----------------------------------------------------------------------------

    # ---- 004 Luohu: one core, many (a proposal) ------------------------------------------------
    # ---- end of 004 ----------------------------------------------------------------------------


__all__ = ["CostParams"]
