"""whistle — 吹哨报到 "the community blows the whistle, departments report for duty" (002, Bazhong).

Mechanism:

* three sources (三条路径): besides residents' reports, once a month (``dur_collect``) the
  community and the units collect problems on the ground: each latent problem of severity big
  or major is found with chance ``p_collect`` (finder "policy"), and enters the whistle ledger;
* four response levels (四类响应): community joint committee -> street -> district departments ->
  city for major or long-standing problems: the city level opens (top level = city) and each
  level has a deadline (``deadline_*`` days) after which an unsolved problem is escalated for
  certain, instead of haphazardly; a problem escalated past the community enters the whistle
  ledger (flag ``whistle``);
* departments report for duty (报到): departments gain ``report_capacity_share`` more capacity
  (they send staff when called), and whistled matters succeed ``report_boost`` times as often at
  any level (the departments come to the problem);
* five follow-up measures (五项措施: ledger, supervision letters, consultation, quantified
  assessment, accountability): residents give up less, ``abandon_cut`` off the abandonment
  hazard, and whistled problems are represented (their case is followed up for the resident,
  ``model.represented_flags``), so residents seldom chase them (§7.6).

Figures (002): 950+ problems collected in 69 categories, 570 entered the whistle process, 360
resolved; the summary reports ``whistle_entered`` and ``flag_whistle_resolved`` to compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.config.paramtools import Params, param
from sim.config.taxonomy import CITY, COMMUNITY, DEPARTMENT, FLAG_BIT, FLAGS, LATENT, POLICY_FIND, QUEUED, STREET
from sim.core.phases import Policy
from sim.policies import register

if TYPE_CHECKING:
    from sim.core.model import Model

_BIG = 2  # severity code of "big"


@dataclass(frozen=True)
class WhistleParams(Params):
    """Parameters of the whistle-blowing process (002)."""

    deadline_community: float = param(10.0, lo=1.0, unit="days", plausible=(5.0, 12.0),
                                      source="assumption (002: tiered response)")
    deadline_street: float = param(15.0, lo=1.0, unit="days", plausible=(12.0, 20.0),
                                   source="assumption (002: tiered response)")
    deadline_department: float = param(30.0, lo=1.0, unit="days",
                                       plausible=(20.0, 45.0),
                                       source="assumption; then the city for major or long-standing problems (002)")
    city_level: bool = param(True, source="002: the city convenes departments on major and long-standing problems")
    dur_collect: int = param(30, lo=1, unit="days", source="002: problems collected regularly from units and on the ground")
    p_collect: float = param(0.3, lo=0.0, hi=1.0, unit="probability per collection",
                             plausible=(0.15, 0.5), source="assumption (002: 950+ problems collected)")
    report_capacity_share: float = param(0.3, lo=0.0, hi=5.0, unit="extra share of department capacity",
                                         plausible=(0.1, 0.6), source="assumption: departments report for duty (002)")
    report_boost: float = param(1.3, lo=1.0, hi=3.0, unit="success multiplier of whistled matters",
                                plausible=(1.1, 1.6), source="assumption: joint consultation on site (002)")
    abandon_cut: float = param(0.3, lo=0.0, hi=1.0, unit="share of the abandonment hazard removed",
                               plausible=(0.1, 0.5),
                               source="assumption: ledger, supervision, assessment, accountability (002)")
    cost_per_community_per_year: float = param(20_000.0, lo=0.0, unit="yuan/year",
                                               plausible=(10_000.0, 40_000.0),
                                               source="assumption: meetings, ledgers, supervision")


@register
class Whistle(Policy):
    """Deadlines and a city level for escalation, departments reporting for duty, follow-up."""

    name = "whistle"
    counters = ("entered", "entered_collected", "entered_escalated")
    Params = WhistleParams
    params: WhistleParams

    def setup(self, model: Model) -> None:
        """Open the city level, set the deadlines, add reporting capacity and the whistle's success."""
        p = self.params
        if p.city_level:
            model.top_level = CITY
        model.deadline[COMMUNITY] = p.deadline_community
        model.deadline[STREET] = p.deadline_street
        model.deadline[DEPARTMENT] = p.deadline_department
        model.handlers.add_capacity(DEPARTMENT, model.departments.capacity * np.float32(p.report_capacity_share))
        model.flag_success[FLAGS.index("whistle")] *= p.report_boost  # departments report for whistled matters
        model.rate_abandon *= 1.0 - p.abandon_cut
        model.represented_flags |= FLAG_BIT["whistle"]  # a case officer follows up

    def on_find(self, model: Model, t: int) -> None:
        """Collect big latent problems on schedule into the whistle process."""
        d = self.days(t)
        if d % self.params.dur_collect != 0 or d == 0:
            return
        pool = model.problems
        rows = np.flatnonzero((pool.status == LATENT) & (pool.t_found < 0) & (pool.sev >= _BIG))
        hit = rows[self.rng.random(rows.size) < self.params.p_collect]
        model.mark_found(hit, POLICY_FIND, t)
        self._enter(model, hit, "collected")

    def on_escalate(self, model: Model, t: int) -> None:
        """Problems escalated to the street or above today enter the whistle process."""
        pool = model.problems
        rows = np.flatnonzero((pool.status == QUEUED) & (pool.t_level == t) & (pool.t_found < t)
                              & (pool.level >= STREET))
        self._enter(model, rows, "escalated")

    def _enter(self, model: Model, rows: np.ndarray, how: str) -> None:
        pool = model.problems
        fresh = rows[(pool.flags[rows] & FLAG_BIT["whistle"]) == 0]
        if fresh.size:
            pool.flags[fresh] |= FLAG_BIT["whistle"]
            model.count(self.name, "entered", fresh.size)
            model.count(self.name, f"entered_{how}", fresh.size)

    def cost_per_day(self, model: Model) -> float:
        """Running the whistle process per community."""
        return self.params.cost_per_community_per_year * model.world.n_communities / 365.0
