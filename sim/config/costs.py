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

from sim.config.paramtools import Params, param, vector_param
from sim.config.vectors import ByCompoundType


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
    # the time of those who claim projects and of the 1+2+N deliberations' participants is theirs, not the
    # government's: valued here and counted apart (four_empowerments_project_yuan, _deliberation_yuan)
    value_claimant_staff_day: float = param(
        250.0, lo=0.0, unit="yuan per staff-day of a claiming unit's, merchant's or mass organisation's people",
        plausible=(150.0, 350.0),
        source="assumption: a county-town wage of ~3,300-7,600 yuan/month over 21.75 days (001 gives none)")
    value_resident_staff_day: float = param(
        100.0, lo=0.0, unit="yuan per staff-day of the deliberations' participants (residents, owners' committee)",
        plausible=(80.0, 200.0),
        source="assumption: near Sichuan's monthly minimum wage (1,780 yuan from 2018, ~82/day) up to a local wage")
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
    fund_micro_projects: float = param(
        300_000.0, lo=0.0, unit="yuan/year per community", plausible=(300_000.0, 340_000.0),
        source="003: 严格落实每个社区30万元服务群众经费 (300,000 yuan for every community); per year: assumption "
               "(an annual budget line); the 5 charity funds' 1.32 million yuan (up to ~34,000 per community) "
               "are not modelled")
    cost_micro_project: ByCompoundType = vector_param(
        ByCompoundType, (100_000.0, 30_000.0, 20_000.0), lo=1.0,
        unit="yuan per project, by the compound type it serves (old: engineering, mature: service, new: "
             "neighbourliness)", plausible=(0.5, 2.0),
        source="assumption: engineering (垃圾清运、路面硬化、车位规划, 003) dearer than services and classes run "
               "with volunteers (003: 常青 20+ activities, 迎宾 18 classes); with 003's compound mix the mean is "
               "~48,000, near 003's fund over its projects (39 x 300,000 / 235 = 49,800 if one year)")
    # ---- end of 003 ----------------------------------------------------------------------------

    # ---- 004 Luohu: one core, many (a proposal) ------------------------------------------------
    pay_street_staff: float = param(12_000.0, lo=0.0, unit="yuan/month", plausible=(8_000.0, 18_000.0),
                                    source="assumption: a Shenzhen street office (机关) employee's pay and "
                                           "on-costs (004 names no figure)")
    teams_cost_per_community_per_year: float = param(30_000.0, lo=0.0, unit="yuan/year",
                                                     plausible=(15_000.0, 60_000.0),
                                                     source="assumption: the seven teams' equipment, training, "
                                                            "insurance (004: 七支队伍)")
    sensor_cost_per_household_per_year: float = param(60.0, lo=0.0, unit="yuan/household/year",
                                                      plausible=(30.0, 120.0),
                                                      source="assumption: IoT sensors and platform (004: "
                                                             "智能监管预警平台)")
    # ---- end of 004 ----------------------------------------------------------------------------


__all__ = ["CostParams"]
