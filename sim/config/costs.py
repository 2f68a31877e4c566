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
    # ---- end of 001 ----------------------------------------------------------------------------

    # ---- 002 Bazhong: street empowerment and the whistle ---------------------------------------
    pay_official_per_day: float = param(350.0, lo=0.0, unit="yuan per staff-day", plausible=(250.0, 500.0),
                                        source="assumption: a district or street official's pay and on-costs, about "
                                               "7,600 yuan/month over 21.75 working days (002 gives no figure)")
    whistle_screening_staff_days: float = param(2.0, lo=0.0, unit="staff-days per community per joint meeting",
                                                plausible=(1.0, 4.0),
                                                source="assumption: a specialist sorts the problems, the joint "
                                                       "meeting reviews them (002: 落实专人…经联席会议审定)")
    whistle_supervision_days_per_community_per_year: float = param(
        24.0, lo=0.0, unit="staff-days per community per year", plausible=(12.0, 48.0),
        source="assumption: ledger, supervision letters, assessment and accountability (002: 五项措施)")
    street_assessment_days_per_department_per_month: float = param(
        0.5, lo=0.0, unit="staff-days per stationed agency per month", plausible=(0.25, 1.0),
        source="assumption: the street's personnel assessment of the stationed agencies (002: 人事考核权)")
    street_office_per_street_per_year: float = param(100_000.0, lo=0.0, unit="yuan/year",
                                                     plausible=(50_000.0, 200_000.0),
                                                     source="assumption: coordination and training of the "
                                                            "empowered street (moved staff are not counted again)")
    # ---- end of 002 ----------------------------------------------------------------------------

    # ---- 003 Huiji: micro projects -------------------------------------------------------------
    # ---- end of 003 ----------------------------------------------------------------------------

    # ---- 004 Luohu: one core, many (a proposal) ------------------------------------------------
    # ---- end of 004 ----------------------------------------------------------------------------


__all__ = ["CostParams"]
