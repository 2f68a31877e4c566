"""Reference street_empowerment policy (docs/model.md §8.3): authority and capacity sink to the street."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.config.params import DAYS_PER_MONTH
from sim.config.taxonomy import DEPARTMENT, N_CATEGORIES, STREET
from sim.reference.policies.base import ReferencePolicy

if TYPE_CHECKING:
    from sim.reference.model import ReferenceModel


class StreetEmpowermentPolicy(ReferencePolicy):
    """赋权: authority and capacity sink from departments to the street, one window, fewer tasks (002)."""

    name = "street_empowerment"

    def setup(self, model: ReferenceModel) -> None:
        """Sink authority and capacity to the street, admin at the street, fewer community tasks."""
        p = self.p
        share = p.authority_share.array().tolist()
        auth = model.authority
        sunk = [False] * N_CATEGORIES
        for k in range(N_CATEGORIES):  # a category sinks when the street would gain authority
            target = share[k] * auth[DEPARTMENT][k]
            if target > auth[STREET][k]:
                auth[STREET][k] = min(target, 1.0)
                sunk[k] = True
        moved = 0.0  # capacity follows the task, for sunk categories only
        for k, dept in enumerate(model.departments):
            if sunk[k]:
                m = dept.cap * p.capacity_moved
                dept.cap -= m
                moved += m
        n = len(model.residents)
        for street in model.streets:
            street.cap += moved * len(street.residents) / n
        if p.admin_at_street:
            model.admin_entry_level = STREET
        for comm in model.communities:
            comm.admin_tasks *= 1.0 - p.admin_task_cut

    def on_plan(self, model: ReferenceModel, t: int) -> None:
        """Every ``dur_assess`` days the street rates each department on its convened matters; response follows."""
        p = self.p
        d = self.days(t)
        if d == 0 or d % p.dur_assess != 0:
            return
        convened, solved = model.street_convened
        for s, row in enumerate(model.dept_response):
            for c in range(N_CATEGORIES):
                if convened[s][c] > 0:
                    rating = solved[s][c] / convened[s][c]
                    row[c] = min(max(row[c] + p.assess_gain * (p.assess_target - rating), 1.0), p.response_max)
                convened[s][c] = solved[s][c] = 0.0

    def cost_per_day(self, model: ReferenceModel) -> float:
        """Yuan a day: the street's staff time to assess the stationed agencies, and the reform office."""
        c, n = model.sc.costs, len(model.streets)
        return (n * N_CATEGORIES * c.street_assessment_days_per_department_per_month * c.pay_official_per_day
                / DAYS_PER_MONTH + n * c.street_office_per_street_per_year / 365)
