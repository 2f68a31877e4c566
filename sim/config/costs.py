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
    # Streets, departments and the city are not staffed for residents' problems alone: what they
    # spend on them is the effort they actually give (staff-days, as the handle phase books it)
    # times the pay of a staff-day. One staff-day = monthly pay with on-costs / 21.75 working days.
    cost_street_staff_day: float = param(
        320.0, lo=0.0, unit="yuan/staff-day", plausible=(220.0, 460.0),
        source="assumption: a street office cadre's pay with on-costs, 5,000-10,000 yuan/month / 21.75 days")
    cost_department_staff_day: float = param(
        370.0, lo=0.0, unit="yuan/staff-day", plausible=(250.0, 550.0),
        source="assumption: a district department civil servant's pay with on-costs, 5,500-12,000 yuan/month / 21.75")
    cost_city_staff_day: float = param(
        420.0, lo=0.0, unit="yuan/staff-day", plausible=(280.0, 650.0),
        source="assumption: a city-level civil servant's pay with on-costs, 6,000-14,000 yuan/month / 21.75 days")
    # ---- end of effort and staff hours ---------------------------------------------------------

    # ---- 000 Jiyang: the 1+N alliance ----------------------------------------------------------
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
