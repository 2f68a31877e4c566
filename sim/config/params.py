"""The model's parameters: frozen dataclasses with defaults, units and the source of each.

Defaults describe the *pre-reform* arrangement that ``scenarios/baseline.toml`` stands for
(000: "two levels of government, three levels of management"; departments face communities
directly, no alliance, weak streets). Sources: ``000`` .. ``004`` are the case reports listed in
docs/cases.md; ``assumption`` marks a value the cases do not give, chosen to be plausible and
exposed so that it can be swept or calibrated. Units: ``/day`` per step (one step is one day),
``days`` durations in steps, ``yuan`` Chinese yuan, ``effort`` staff-days of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from sim.config.paramtools import Params, param, vector_param
from sim.config.taxonomy import CATEGORIES, COMMUNITY, COMPOUND_TYPES, GROUPS, LEVELS, SEVERITIES
from sim.config.vectors import ByCategory, ByCompoundType, BySeverity, Table
from sim.errors import ParameterError


# The tables below have one row per name of a vocabulary of taxonomy.py, in its order.
@dataclass(frozen=True)
class CategoryWeightsByGroup(Table):
    """Relative weight of each category in a resident's problems, by group."""

    rows: ClassVar[tuple[str, ...]] = GROUPS
    # sanitation parking dispute care safety property admin health  (assumption; 003 "一老一小")
    # child: needs raised by parents, child care (003); elderly: care, health (003 常青社区)
    child: ByCategory = param(ByCategory(1.0, 0.2, 0.6, 2.0, 0.6, 0.3, 0.6, 1.2), lo=0.0)
    adult: ByCategory = param(ByCategory(1.0, 1.2, 1.0, 0.5, 0.7, 1.0, 1.2, 0.6), lo=0.0)
    elderly: ByCategory = param(ByCategory(1.0, 0.3, 0.9, 2.2, 0.9, 1.0, 1.3, 1.8), lo=0.0)


@dataclass(frozen=True)
class CategoryMultByCompound(Table):
    """Multiplier of each category's rate by compound type."""

    rows: ClassVar[tuple[str, ...]] = COMPOUND_TYPES
    # sanitation parking dispute care safety property admin health  (assumption after 003)
    # old: "dirty, chaotic, poor", no firm (003); mature: elderly-heavy (003);
    # new: parking, noise, child care (003, 001)
    old: ByCategory = param(ByCategory(2.0, 1.3, 1.1, 1.0, 1.3, 1.8, 1.0, 1.0), lo=0.0)
    mature: ByCategory = param(ByCategory(1.0, 1.0, 1.0, 1.3, 1.0, 1.0, 1.0, 1.2), lo=0.0)
    new: ByCategory = param(ByCategory(0.7, 1.5, 1.2, 1.2, 0.8, 0.8, 1.0, 0.8), lo=0.0)


@dataclass(frozen=True)
class SeverityByCategory(Table):
    """Relative weight of each severity, by category."""

    rows: ClassVar[tuple[str, ...]] = CATEGORIES
    # trivial small big major  (assumption)
    sanitation: BySeverity = param(BySeverity(0.55, 0.30, 0.12, 0.03), lo=0.0)
    parking: BySeverity = param(BySeverity(0.45, 0.35, 0.15, 0.05), lo=0.0)
    dispute: BySeverity = param(BySeverity(0.45, 0.35, 0.15, 0.05), lo=0.0)
    care: BySeverity = param(BySeverity(0.35, 0.40, 0.20, 0.05), lo=0.0)
    safety: BySeverity = param(BySeverity(0.35, 0.30, 0.25, 0.10), lo=0.0)
    property: BySeverity = param(BySeverity(0.40, 0.35, 0.20, 0.05), lo=0.0)
    admin: BySeverity = param(BySeverity(0.20, 0.50, 0.25, 0.05), lo=0.0)  # registration, social assistance (000)
    health: BySeverity = param(BySeverity(0.30, 0.40, 0.22, 0.08), lo=0.0)


@dataclass(frozen=True)
class Authority(Table):
    """Chance that one handling attempt at a level solves a problem of a category (before severity)."""

    rows: ClassVar[tuple[str, ...]] = LEVELS
    # sanitation parking dispute care safety property admin health
    # grid worker, property firm: assumption; community: few powers (000, 004); street: "unlimited
    # responsibility, limited power" (002); departments: powers, little local knowledge (000);
    # city: major and long-standing problems (002)
    grid: ByCategory = param(ByCategory(0.80, 0.50, 0.60, 0.50, 0.40, 0.40, 0.10, 0.30), lo=0.0, hi=1.0)
    property: ByCategory = param(ByCategory(0.85, 0.60, 0.30, 0.10, 0.50, 0.90, 0.00, 0.00), lo=0.0, hi=1.0)
    community: ByCategory = param(ByCategory(0.70, 0.50, 0.70, 0.60, 0.50, 0.50, 0.25, 0.40), lo=0.0, hi=1.0)
    street: ByCategory = param(ByCategory(0.50, 0.40, 0.50, 0.40, 0.40, 0.30, 0.30, 0.30), lo=0.0, hi=1.0)
    department: ByCategory = param(ByCategory(0.70, 0.70, 0.40, 0.60, 0.80, 0.50, 0.60, 0.80), lo=0.0, hi=1.0)
    city: ByCategory = param(ByCategory(0.85, 0.85, 0.70, 0.80, 0.90, 0.80, 0.85, 0.90), lo=0.0, hi=1.0)


@dataclass(frozen=True)
class EntryLevel(Params):
    """The level a newly found problem goes to first, by severity."""

    trivial: str = param("grid", choices=LEVELS, unit="level")
    small: str = param("community", choices=LEVELS, unit="level")
    big: str = param("street", choices=LEVELS, unit="level")
    major: str = param("department", choices=LEVELS, unit="level")

    def codes(self) -> np.ndarray:
        """Level codes in severity order."""
        return np.array([LEVELS.index(getattr(self, s)) for s in SEVERITIES], dtype=np.int8)


@dataclass(frozen=True)
class RunParams(Params):
    """How long to run and how to record."""

    n_steps: int = param(1095, lo=1, hi=100_000, unit="days", source="convention: three years of daily steps")
    seed: int = param(1, lo=0, hi=2**63 - 1, unit="", source="convention")
    record_every: int = param(1, lo=1, unit="days", source="convention")


@dataclass(frozen=True)
class ReformParams(Params):
    """When the scenario's policies start, the unrecorded warm-up, and the pre/post windows (docs/model.md §7.12).

    Before day ``start_day`` the baseline rules apply (no policy is set up, no hook runs, no policy
    cost); ``dur_warmup`` days run under baseline rules before day 0 and are not recorded.
    """

    start_day: int = param(0, lo=0, hi=100_000, unit="days",
                           source="convention: day 0 (policies act from the start, as before reform dates)")
    dur_warmup: int = param(0, lo=0, hi=100_000, unit="days",
                            source="convention: no warm-up; set it to start the record in steady state")
    dur_window: int = param(90, lo=1, hi=100_000, unit="days",
                            source="convention: a quarter before the reform and the last quarter of the run")


@dataclass(frozen=True)
class WorldParams(Params):
    """The community graph: street -> communities -> compounds -> buildings -> households."""

    n_streets: int = param(1, lo=1, hi=1000, source="assumption: the baseline is one street")
    n_communities_per_street: int = param(4, lo=1, hi=200, source="assumption")
    n_compounds_per_community: int = param(8, lo=1, hi=500, source="assumption (003: 285 compounds in 39 communities)")
    p_compound_type: ByCompoundType = vector_param(
        ByCompoundType, (0.3, 0.4, 0.3), lo=0.0, hi=1.0, unit="share",
        source="assumption; the three types are 003's")
    n_buildings_per_compound: ByCompoundType = vector_param(
        ByCompoundType, (6, 8, 10), lo=1, hi=1000, unit="buildings (mean)", plausible=(0.7, 1.4), source="assumption")
    n_households_per_building: ByCompoundType = vector_param(
        ByCompoundType, (18, 24, 36), lo=1, hi=2000, unit="households (mean)", plausible=(0.7, 1.4),
        source="assumption")
    n_residents_per_household: ByCompoundType = vector_param(
        ByCompoundType, (2.3, 2.4, 3.0), lo=1.0, hi=10.0, unit="residents (mean)",
        plausible=(0.85, 1.15), source="assumption (2020 census mean 2.62)")
    p_elderly: ByCompoundType = vector_param(
        ByCompoundType, (0.35, 0.40, 0.10), lo=0.0, hi=1.0, unit="share",
        source="003: mature community, 800 over 50 and ~200 over 70; new compounds of young families")
    p_child: ByCompoundType = vector_param(
        ByCompoundType, (0.12, 0.10, 0.25), lo=0.0, hi=1.0, unit="share", plausible=(0.7, 1.4),
        source="assumption (003)")
    p_party_member: float = param(0.063, lo=0.0, hi=1.0, unit="share of residents (all members are adults or elderly)",
                                  source="003: 17,492 members / 277,000 residents")
    n_links_per_party_member: float = param(4.6, lo=0.0, hi=50.0, unit="residents",
                                            plausible=(4.6, 6.0), source="001: 130 members link 600+ residents")
    n_building_ties: float = param(2.0, lo=0.0, hi=50.0, unit="ties each resident starts (mean; degree about twice)",
                                   plausible=(1.0, 4.0), source="assumption")
    n_compound_ties: float = param(1.0, lo=0.0, hi=50.0, unit="ties each resident starts (mean; degree about twice)",
                                   plausible=(0.5, 2.0), source="assumption")
    n_long_ties: float = param(0.2, lo=0.0, hi=10.0, unit="ties each resident starts (mean; degree about twice)",
                               plausible=(0.05, 0.5), source="assumption")
    n_cobuilding_units_per_community: int = param(7, lo=0, hi=100, unit="units",
                                                  source="000: Jiyang convenes 7 co-building units")
    n_communities_per_big_community: int = param(
        1, lo=1, hi=1000, unit="communities",
        source="000: Sanya's big communities (大社区) group residents' committees; Jiyang has 40 committees "
               "(447,300 residents) in 5 big communities, 8 a big community; 1 (no grouping) outside 000")
    p_rewire: float = param(0.0, lo=0.0, hi=1.0, unit="share of neighbour ties rewired at random (degrees kept)",
                            source="convention: 0 keeps the clustered household, building and compound ties")

    def check(self) -> None:
        """Compound-type shares sum to 1; no compound type has more elderly and children than residents."""
        total = sum(self.p_compound_type.array())
        if abs(total - 1.0) > 1e-6:
            raise ParameterError("p_compound_type", f"shares must sum to 1, got {total:g}")
        for ct in COMPOUND_TYPES:
            if getattr(self.p_elderly, ct) + getattr(self.p_child, ct) > 1.0:
                raise ParameterError(f"p_elderly.{ct}", "p_elderly + p_child must be at most 1")


@dataclass(frozen=True)
class ProblemParams(Params):
    """How problems arise, get reported, wait and are given up."""

    rate_arise: float = param(1 / 150, lo=0.0, hi=1.0, unit="problems per resident per day",
                              plausible=(1 / 300, 1 / 75), source="assumption (~2.4 problems a resident a year)")
    category_weights: CategoryWeightsByGroup = param(CategoryWeightsByGroup(), source="assumption")
    category_mult: CategoryMultByCompound = param(CategoryMultByCompound(), plausible=(0.8, 1.25),
                                                  source="assumption after 003")
    severity_weights: SeverityByCategory = param(SeverityByCategory(), source="assumption")
    rate_self_report: BySeverity = vector_param(
        BySeverity, (0.0025, 0.005, 0.01, 0.02), lo=0.0, hi=1.0, unit="/day at trust and efficacy 0.5",
        plausible=(0.5, 2.0), source="assumption, tuned so that about half of all problems reach the government at "
                                     "baseline (Shi 1997 p. 94: 42.8% complained through the hierarchy)")
    report_trust_slope: float = param(1.5, lo=0.0, hi=4.0, unit="per unit trust", plausible=(0.5, 2.5),
                                      source="assumption: reporting follows trust (Beijing 12345 report 2021: "
                                             "more trust, more callers)")
    report_efficacy_slope: float = param(1.5, lo=0.0, hi=4.0, unit="per unit efficacy", plausible=(0.5, 2.5),
                                         source="assumption: contacting follows external efficacy (Verba & Nie "
                                                "1972; Shi 1997)")
    p_tell: float = param(0.2, lo=0.0, hi=1.0, unit="probability at trust and efficacy 0.5", plausible=(0.1, 0.5),
                          source="assumption: a resident tells a visiting grid worker, a linked party member, "
                                 "a building head or a suggestion collection")
    dur_patience: BySeverity = vector_param(
        BySeverity, (14, 30, 60, 120), lo=1, unit="days", plausible=(0.5, 2.0), source="assumption")
    rate_abandon: float = param(0.02, lo=0.0, hi=1.0, unit="/day after patience", plausible=(0.01, 0.04),
                                source="assumption")
    rate_abandon_latent: float = param(0.02, lo=0.0, hi=1.0, unit="/day after patience", plausible=(0.01, 0.04),
                                       source="assumption")
    rate_recontact: float = param(0.15, lo=0.0, hi=1.0, unit="/day once the wait is ratio_full_recontact x expected",
                                  source="000: residents wait long and run many times")
    ratio_full_recontact: float = param(2.0, lo=1.0, hi=10.0, unit="waited / expected wait",
                                        plausible=(1.5, 3.0),
                                        source="assumption: impatience grows with the wait over what was expected")
    recontact_represented: float = param(0.2, lo=0.0, hi=1.0, unit="multiplier of the repeat-contact hazard",
                                         plausible=(0.0, 0.5),
                                         source="assumption: someone follows up for the resident (001 代办, "
                                                "002 whistle case); they still check now and then")
    p_prevented_base: float = param(0.0, lo=0.0, hi=1.0, unit="probability",
                                    source="convention: no prevention before reform")


@dataclass(frozen=True)
class HandlingParams(Params):
    """Routing, capacity, success and escalation of problems at each level."""

    entry_level: EntryLevel = param(EntryLevel(), source="002: trivia in the grid, small matters in the "
                                    "community, big matters in the street; major ones to departments (000)")
    admin_to_department: bool = param(True, source="000: departments face communities directly")
    effort: BySeverity = vector_param(
        BySeverity, (0.1, 0.25, 0.5, 1.0), lo=0.001, hi=30.0, unit="effort per attempt", plausible=(0.7, 1.5),
        source="assumption")
    effort_category_mult: ByCategory = vector_param(
        ByCategory, (1.0,) * 8, lo=0.05, hi=20.0, unit="multiplier of effort per attempt", plausible=(0.5, 2.0),
        source="assumption: no report gives the time a matter takes by category; equal by default")
    authority: Authority = param(Authority(), plausible=(0.8, 1.1), source="assumption after 000, 002, 004")
    severity_mult: BySeverity = vector_param(
        BySeverity, (1.0, 0.85, 0.6, 0.4), lo=0.0, hi=1.0, unit="multiplier", plausible=(0.8, 1.0), source="assumption")
    p_refer_below: float = param(0.15, lo=0.0, hi=1.0, unit="probability",
                                 plausible=(0.05, 0.3),
                                 source="assumption: a handler refers up what it has no power to solve")
    dur_escalate: BySeverity = vector_param(
        BySeverity, (7, 14, 21, 30), lo=1, unit="days stuck before escalation may happen", plausible=(0.5, 2.0),
        source="assumption")
    rate_escalate: float = param(0.1, lo=0.0, hi=1.0, unit="/day once stuck",
                                 plausible=(0.03, 0.3), source="assumption: no whistle, escalation is haphazard (000)")
    top_level: str = param("department", choices=LEVELS[COMMUNITY:], unit="level",
                           source="000: departments are the top; the city only with the whistle (002)")
    capacity_street_per_10k: float = param(2.0, lo=0.0, unit="effort/day per 10,000 residents",
                                           plausible=(1.0, 4.0), source="assumption: weak streets (002)")
    capacity_department_per_10k: float = param(4.0, lo=0.0, unit="effort/day per category per 10,000 residents",
                                               plausible=(2.0, 8.0), source="assumption: dispersed departments (000)")
    capacity_city_per_10k: float = param(0.3, lo=0.0, unit="effort/day per 10,000 residents", plausible=(0.1, 0.6),
                                         source="assumption")
    property_capacity_per_100_households: float = param(0.4, lo=0.0, unit="effort/day", plausible=(0.2, 0.8),
                                                        source="assumption")
    property_quality: ByCompoundType = vector_param(
        ByCompoundType, (0.0, 0.7, 0.8), lo=0.0, hi=1.0, unit="mean quality",
        plausible=(0.7, 1.25), source="assumption; old compounds have no firm (003)")
    property_quality_concentration: float = param(10.0, lo=1.0, unit="Beta a+b of firm quality", plausible=(4.0, 25.0),
                                                  source="assumption")
    # property firms decide each month (sim.agents.property_firm.decide_month)
    property_fee_over_cost: float = param(1.2, lo=0.0, hi=10.0, unit="fees if all pay / cost at full effort",
                                          plausible=(1.0, 1.4),
                                          source="assumption: a firm prices its fee a little above its full cost")
    property_p_collect: float = param(0.85, lo=0.0, hi=1.0, unit="share of fees collected at satisfaction 0.5",
                                      plausible=(0.75, 0.95),
                                      source="assumption (industry surveys report collection rates of 80-95%)")
    property_collect_slope: float = param(0.5, lo=0.0, hi=5.0, unit="collection rate per unit of mean satisfaction",
                                          plausible=(0.2, 1.0),
                                          source="assumption: dissatisfied owners withhold fees")
    property_fixed_cost_share: float = param(0.5, lo=0.0, hi=1.0, unit="share of the full cost not cut with effort",
                                             plausible=(0.3, 0.7), source="assumption: site office, contracts")
    property_effort_min: float = param(0.3, lo=0.0, hi=1.0, unit="least service effort (share of full)",
                                       plausible=(0.2, 0.5), source="assumption")
    property_rate_effort: float = param(0.5, lo=0.0, hi=5.0, unit="change of effort per unit of monthly margin",
                                        plausible=(0.2, 1.0), source="assumption: firms cut service when losing money")
    property_n_months_exit: int = param(6, lo=1, hi=120, unit="months of loss before a firm leaves",
                                        plausible=(3, 12), source="assumption (contracts run a year or more)")
    property_p_new_firm: float = param(0.1, lo=0.0, hi=1.0, unit="/month chance a firmless compound finds a firm",
                                       plausible=(0.03, 0.3),
                                       source="assumption (004: old compounds lack property management)")


@dataclass(frozen=True)
class CommunityParams(Params):
    """Community staff, grids and grid workers, events."""

    n_staff_per_10k: float = param(18.0, lo=0.0, hi=1000.0, unit="staff per 10,000 residents",
                                   plausible=(12.0, 24.0),
                                   source="assumption (national guideline of 18 community workers per 10,000)")
    capacity_per_staff: float = param(0.8, lo=0.0, hi=1.0, unit="effort/day", plausible=(0.5, 1.0), source="assumption")
    rate_admin_tasks: float = param(8.0, lo=0.0, unit="tasks per community per day",
                                    source="004: tasks pushed down, paperwork and inspections")
    effort_admin_task: float = param(0.3, lo=0.0, unit="effort per task", plausible=(0.15, 0.5), source="assumption")
    # pre-reform grids (001 describes the reform, not what it replaced): larger grids, covered part-time
    # by the holders of the four roles the reform merged (综治网格员、党建网格员、民政协理员、食安监管员)
    households_per_grid: ByCompoundType = vector_param(
        ByCompoundType, (300, 400, 600), lo=1, unit="households", plausible=(0.67, 1.5),
        source="assumption: twice 001's post-reform 150 (old) / 300 (new) households; 001 gives only the "
               "reform's sizes (老小区最多150户,新建小区300户), not the sizes it replaced")
    n_grid_workers_per_grid: float = param(2.0, lo=0.0, hi=20.0, unit="workers (role holders)",
                                           plausible=(1.5, 3.0),
                                           source="assumption: the four former roles cover a grid part-time; about as "
                                                  "many holders as the posts that replaced them (001: 48 posts)")
    capacity_per_grid_worker: float = param(0.25, lo=0.0, hi=1.0, unit="staff-days/day of grid work",
                                            plausible=(0.15, 0.4),
                                            source="assumption: part-time, grid work beside the role's own job "
                                                   "(the reason 001 merged the roles into integrated posts)")
    n_visits_per_worker_per_month: float = param(50.0, lo=0.0, hi=2000.0, unit="households/month",
                                                 plausible=(25.0, 100.0),
                                                 source="assumption: a quarter of 001's post-reform 200, part-time")
    effort_visit: float = param(0.0625, lo=0.0, hi=1.0, unit="staff-days per household visit",
                                plausible=(0.03, 0.125),
                                source="assumption: half an hour of an 8-hour day with the walk (15 min - 1 h); "
                                       "visits come out of the grid worker's day before problems (001: 入户走访)")
    p_find_on_visit: float = param(0.7, lo=0.0, hi=1.0, unit="probability", plausible=(0.2, 0.9),
                                   source="assumption; 001's calibration fits 0.20 (docs/validation.md §2)")
    rate_events: float = param(1 / 30, lo=0.0, hi=10.0, unit="events per community per day",
                               plausible=(1 / 60, 1 / 15), source="assumption: one a month before the alliance")
    p_event_reach: float = param(0.04, lo=0.0, hi=1.0, unit="share of residents per event",
                                 plausible=(0.04, 0.05), source="000: 235 events reached 30,000+ (~128 each)")


@dataclass(frozen=True)
class PartyParams(Params):
    """Party members' contacts with the residents they are linked to."""

    rate_contact: float = param(1 / 14, lo=0.0, hi=1.0, unit="/day per linked resident",
                                plausible=(1 / 30, 1 / 7), source="001 双联双带; frequency an assumption")
    p_find_on_contact: float = param(0.5, lo=0.0, hi=1.0, unit="probability", plausible=(0.3, 0.7), source="assumption")
    rate_volunteer: float = param(0.02, lo=0.0, hi=1.0, unit="/day", plausible=(0.01, 0.04),
                                  source="assumption (004, 003)")
    # every volunteer (member or not) decides each month (sim.agents.party_member.decide_volunteering)
    hours_burnout: float = param(8.0, lo=0.1, unit="hours a month (recent average)", plausible=(4.0, 16.0),
                                 source="assumption: above this recent load volunteers tire")
    burnout_slope: float = param(1.0, lo=0.0, hi=10.0, unit="fall of the rate per unit of load over hours_burnout",
                                 plausible=(0.5, 2.0), source="assumption")
    dur_load_memory: float = param(60.0, lo=1.0, unit="days", plausible=(30.0, 120.0),
                                   source="assumption: recent months weigh, older ones fade")
    recognition_gain: float = param(0.5, lo=0.0, hi=5.0, unit="rise of the rate at recognition 1",
                                    plausible=(0.2, 1.0),
                                    source="assumption (004: 激发党支部和党员的内在活力; recognition of service)")


@dataclass(frozen=True)
class ResidentParams(Params):
    """How residents judge: perceived performance, expectation, satisfaction, trust, efficacy; volunteering.

    Satisfaction is expectation-disconfirmation (Oliver 1980; Van Ryzin 2004, 2006): a resident
    remembers the days they lived (a day without an overdue problem or a grievance counts as 1),
    expects what they have come to perceive, and is satisfied with ``P + beta (P - E)``.
    """

    performance_init: float = param(0.6, lo=0.0, hi=1.0, unit="mean", plausible=(0.4, 0.8),
                                    source="assumption (start near the pre-reform steady state)")
    trust_init: float = param(0.5, lo=0.0, hi=1.0, unit="mean", plausible=(0.35, 0.6),
                              source="assumption; Li 2016 China Quarterly: local government trusted "
                                     "less than central by 1/3-2/3 of respondents")
    expectation_init: float = param(0.6, lo=0.0, hi=1.0, unit="mean", plausible=(0.4, 0.8), source="assumption")
    efficacy_init: float = param(0.5, lo=0.0, hi=1.0, unit="mean", plausible=(0.3, 0.7),
                                 source="assumption; Shi 1997 p. 94: 42.8% of Beijing residents had "
                                        "complained through the bureaucratic hierarchy")
    init_concentration: float = param(20.0, lo=1.0, unit="Beta a+b", plausible=(8.0, 40.0), source="assumption")
    dur_expected_wait: BySeverity = vector_param(
        BySeverity, (3, 7, 21, 45), lo=1, unit="days", plausible=(0.5, 2.0), source="assumption")
    burden: BySeverity = vector_param(
        BySeverity, (0.3, 0.5, 0.75, 1.0), lo=0.0, hi=2.0, unit="loss of a day's experience per overdue problem (a day counts at least 0)",
        plausible=(0.5, 1.5), source="assumption: bigger problems weigh more")
    grievance: float = param(0.3, lo=0.0, hi=1.0, unit="loss of a day's experience per problem given up "
                             "(per unit of failure of an outcome)", plausible=(0.1, 0.5),
                             source="assumption: a problem left unsolved or a report ignored leaves a grievance")
    rate_grievance_decay: float = param(1 / 180, lo=0.0, hi=1.0, unit="/day", plausible=(1 / 365, 1 / 60),
                                        source="assumption: a grievance fades over months")
    rate_perception: float = param(1 / 30, lo=0.0, hi=0.3, unit="/day", plausible=(1 / 90, 1 / 10),
                                   source="assumption: perceived performance remembers about a month")
    negativity_bias: float = param(2.0, lo=1.0, hi=3.0, unit="multiplier of the rate when experience is worse",
                                   plausible=(1.2, 3.0),
                                   source="Kampen, Van de Walle & Bouckaert 2006 PPMR: negative experiences weigh "
                                          "more than positive ones; size an assumption")
    rate_expectation: float = param(1 / 180, lo=0.0, hi=1.0, unit="/day", plausible=(1 / 730, 1 / 60),
                                    source="assumption (adaptive expectation, slower than perception; "
                                           "James 2009 JPART)")
    beta_disconfirm: float = param(0.5, lo=0.0, hi=2.0, unit="weight", plausible=(0.2, 1.0),
                                   source="Van Ryzin 2004 JPAM: disconfirmation moves satisfaction beyond "
                                          "performance; size an assumption")
    rate_trust: float = param(1 / 120, lo=0.0, hi=1.0, unit="/day", plausible=(1 / 365, 1 / 30),
                              source="assumption: trust follows satisfaction and efficacy slowly")
    weight_trust_efficacy: float = param(0.3, lo=0.0, hi=1.0, unit="share of efficacy in trust's target",
                                         plausible=(0.1, 0.6), source="assumption")
    rate_efficacy: float = param(0.2, lo=0.0, hi=1.0, unit="weight per outcome of an own report",
                                 plausible=(0.05, 0.4),
                                 source="assumption; contacting experience shapes efficacy (Verba & Nie 1972; "
                                        "Asian Barometer: recent petitioners less optimistic)")
    weight_word_of_mouth: float = param(0.2, lo=0.0, hi=1.0,
                                        unit="weight of neighbours' outcomes and experience against one's own",
                                        plausible=(0.05, 0.5), source="assumption (word of mouth)")
    rate_volunteer: float = param(0.002, lo=0.0, hi=1.0, unit="/day at trust 1", plausible=(0.0005, 0.005),
                                  source="assumption")
    dur_volunteer_hours: float = param(2.0, lo=0.0, hi=24.0, unit="hours per turn", plausible=(1.0, 4.0),
                                       source="assumption")
    participation_satisfaction: float = param(0.02, lo=0.0, hi=1.0, unit="gain of perceived performance per event "
                                              "or turn", plausible=(0.0, 0.05), source="assumption")
    participation_trust: float = param(0.03, lo=0.0, hi=1.0, unit="gain per event or turn", plausible=(0.0, 0.06),
                                       source="assumption")


DAYS_PER_MONTH = 30.0
