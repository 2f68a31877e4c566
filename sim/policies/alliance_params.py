"""Parameters of the 1+N big-community party alliance (000, Sanya Jiyang); the mechanism is in ``alliance``.

Costs (liaisons, materials, the service centre's staff and venue, the value of the units' hours)
are in the cost table, block 000 of :mod:`sim.config.costs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sim.config.paramtools import Params, Vector, param, vector_param
from sim.core.world import UNIT_TYPES


@dataclass(frozen=True)
class UnitMix(Vector):
    """One weight per co-building unit type (0 keeps the type out of the alliance)."""

    names: ClassVar[tuple[str, ...]] = UNIT_TYPES
    police: float = 1.0
    hospital: float = 1.0
    university: float = 1.0
    market_regulator: float = 1.0
    fire_brigade: float = 1.0
    enterprise: float = 1.0
    social_org: float = 1.0


_BM = "Bush-Mosteller reinforcement (Macy & Flache 2002)"


@dataclass(frozen=True)
class AllianceParams(Params):
    """Parameters of the 1+N big-community party alliance (000)."""

    n_units: int = param(7, lo=0, hi=100, unit="units per big community",
                         source="000: the Jiyang big community convenes its 7 co-building units "
                                "(每季度组织7家共建单位召开联席会议)")
    unit_mix: UnitMix = vector_param(
        UnitMix, (1, 1, 1, 1, 1, 1, 1), lo=0.0, hi=10.0, unit="weight on the unit's resource list",
        plausible=(0.5, 1.5),
        source="000: police station, hospitals, university, market regulator, fire brigade, enterprises, "
               "social organisations; equal weights an assumption")
    success_boost: float = param(0.3, lo=0.0, hi=3.0, unit="relative rise of community success at full coverage",
                                 plausible=(0.1, 0.6),
                                 source="assumption: the units' advice and venues back the community (000 资源清单)")
    n_in_service_per_unit: float = param(5.0, lo=0.0, hi=1000.0, unit="members per unit",
                                         plausible=(2.0, 10.0),
                                         source="assumption (000: 双报到, in-service members form volunteer teams)")
    rate_in_service_volunteer: float = param(0.02, lo=0.0, hi=1.0, unit="/day per member",
                                             plausible=(0.01, 0.04),
                                             source="assumption: as resident party members (party.rate_volunteer)")
    n_residents_per_turn: float = param(3.0, lo=0.0, hi=100.0, unit="residents served per turn",
                                        plausible=(1.0, 6.0), source="assumption (000: 尊老爱幼、文明引导)")
    events_per_unit_per_month: float = param(
        0.2, lo=0.0, hi=30.0, unit="events/month per unit at full willingness",
        plausible=(0.1, 0.4),
        source="000: 235 events reached 30,000+ in one big community; per unit an assumption")
    dur_needs_list: int = param(30, lo=1, unit="days", source="000: needs collected at the start of every month "
                                                              "(每月初收集)")
    hours_per_unit_per_month: float = param(
        16.0, lo=0.0, hi=2000.0, unit="staff hours/month a unit can give (its resource list)",
        plausible=(8.0, 40.0),
        source="assumption (000: the police station's resource list has 10 items; two staff-days a month)")
    hours_per_staff_day: float = param(8.0, lo=1.0, hi=24.0, unit="hours per effort unit (one staff-day)",
                                       source="PRC Labour Law art. 36: an 8-hour working day")
    p_answer: float = param(0.8, lo=0.0, hi=1.0, unit="chance the big community answers a unit's monthly claim",
                            plausible=(0.5, 1.0),
                            source="assumption (000: 由大社区协调确立活动项目, the big community confirms projects)")
    dur_meeting: int = param(90, lo=1, unit="days", source="000: joint meeting of the 7 units every quarter")
    p_meeting_resolve: float = param(0.3, lo=0.0, hi=1.0,
                                     unit="chance a meeting takes up a stuck problem, at full coverage",
                                     plausible=(0.15, 0.5), source="assumption (000: 共同解决堵点难点问题)")
    p_recognise: float = param(0.5, lo=0.0, hi=1.0, unit="chance a unit that worked is recognised at a meeting",
                               plausible=(0.2, 0.8),
                               source="assumption (000: the meetings 总结阶段性成果; a project named the city's "
                                      "best volunteer project of 2023)")
    w_initial: float = param(0.5, lo=0.0, hi=1.0, unit="willingness on joining", plausible=(0.3, 0.8),
                             source="assumption: units signed a co-building agreement (共建协议书)")
    rate_learn: float = param(0.2, lo=0.0, hi=1.0, unit="step of willingness per experience", plausible=(0.05, 0.4),
                              source=f"assumption; {_BM}")
    reward_answered: float = param(0.5, lo=0.0, hi=1.0, unit="payoff of an answered claim whose hours met needs",
                                   plausible=(0.25, 0.75), source=f"assumption; {_BM}")
    penalty_ignored: float = param(0.5, lo=0.0, hi=1.0, unit="payoff lost by an ignored claim or unused hours",
                                   plausible=(0.25, 0.75), source=f"assumption; {_BM}")
    reward_recognition: float = param(0.5, lo=0.0, hi=1.0, unit="payoff of recognition at a meeting",
                                      plausible=(0.25, 0.75), source=f"assumption; {_BM}")
    penalty_cost: float = param(0.3, lo=0.0, hi=1.0, unit="payoff lost per share of the monthly hours spent",
                                plausible=(0.1, 0.5), source=f"assumption; {_BM}")
    penalty_burnout: float = param(0.5, lo=0.0, hi=1.0, unit="payoff lost at a full load", plausible=(0.25, 0.75),
                                   source=f"assumption; {_BM}")
    load_burnout: float = param(0.8, lo=0.0, hi=1.0, unit="share of the monthly hours above which units burn out",
                                plausible=(0.6, 0.95), source="assumption")
    w_leave: float = param(0.05, lo=0.0, hi=1.0, unit="willingness below which a unit leaves the alliance",
                           plausible=(0.0, 0.1), source="assumption")
    n_centre_staff_per_10k: float = param(
        1.0, lo=0.0, hi=100.0, unit="staff of the service centre per 10,000 residents of the big community",
        plausible=(0.5, 2.0),
        source="assumption (000: the big community's party-mass service centre, 大社区党群服务中心, one-stop)")
    p_centre_time_on_matters: float = param(0.6, lo=0.0, hi=1.0,
                                            unit="share of the centre staff's time on residents' matters",
                                            plausible=(0.4, 0.8),
                                            source="assumption: the rest goes to party-mass activities")


__all__ = ["AllianceParams", "UnitMix"]
