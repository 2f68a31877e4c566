"""The reference model: a plain Mesa model that follows docs/model.md one agent at a time."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import mesa

from sim.config.taxonomy import (
    ADMIN_CATEGORY,
    CITY,
    COMMUNITY,
    DEPARTMENT,
    FINDERS,
    GRID,
    GRID_VISIT,
    LATENT,
    LEVELS,
    N_CATEGORIES,
    N_LEVELS,
    PARTY_LINK,
    PROPERTY,
    PROPERTY_CATEGORY,
    QUEUED,
    SELF_REPORT,
    STREET,
)
from sim.core.results import SERIES
from sim.core.scenario import Scenario
from sim.reference.agents import Handler, Problem, Resident
from sim.reference.decisions import DUR_DECISION, decide_month, recontact_hazard
from sim.reference.ledger import Ledger, book_utilisation, day_cost, series_row
from sim.reference.policies import make_policy
from sim.reference.reform import start_reform, warm_up
from sim.reference.streams import Streams, bernoulli_count, poisson
from sim.reference.world import build_grids, build_handlers, build_world, init_residents

#: Referral / escalation path (§7.4).
NEXT_LEVEL: tuple[int, ...] = (COMMUNITY, COMMUNITY, STREET, DEPARTMENT, CITY, CITY)
#: The nine phases of a day, in order (§3).
PHASES: tuple[str, ...] = ("plan", "arise", "find", "route", "handle", "escalate", "judge", "participate", "record")


class ReferenceModel(mesa.Model):
    """govsim written as one object per agent (docking reference for the numpy core)."""

    def __init__(self, scenario: Scenario, seed: int = 1, record_series: bool = True) -> None:
        super().__init__(rng=seed)
        self.sc = scenario
        self.seed = seed
        self.streams = Streams(seed)
        self.dur_warmup = scenario.reform.dur_warmup
        self.reform_day = scenario.reform.start_day
        self.t = -self.dur_warmup  # the recorded day; the phases get the clock t + dur_warmup (§7.12)
        self.record_series = record_series
        self._init_globals()
        self.grids: list[Any] = []
        build_world(self)
        build_grids(self, scenario.community.households_per_grid.array().tolist(),
                    scenario.community.n_grid_workers_per_grid)
        #: holders of the pre-reform grid roles, paid by the core (§7.9)
        self.n_grid_roles = sum(g.n_workers for g in self.grids)
        init_residents(self)
        build_handlers(self)
        self.problems: list[Problem] = []  # the pool: open problems (and ones closed late today)
        self.outcomes: list[tuple[Resident, float]] = []
        self.lost: list[Resident] = []
        self.overdue: list[Resident] = []
        self.self_reported_before = 0  # problems self-reported up to yesterday
        self.self_reported_today = 0
        self.ledger = Ledger()
        self.volunteer_hours = 0.0
        self.cost_yuan = 0.0
        self.events_today = 0
        self.today_staff_utilisation = math.nan
        self.today_grid_utilisation = math.nan
        self.series: dict[str, list[float]] = {name: [] for name in SERIES}
        self.series_t: list[int] = []
        self.resolved_cum: list[int] = [0]  # resolved and closed by the end of each recorded day, [d + 1]
        self.closed_cum: list[int] = [0]
        self.satisfaction_day: list[float] = []  # mean satisfaction and trust of each day d, at [d]
        self.trust_day: list[float] = []
        self.problems_carried = 0
        self._next_uid = 0
        self._order = self.streams.get("order")
        self.policies: list[Any] = []  # set up on the reform day (§7.12)
        self.waiting = [make_policy(spec.name, spec.params) for spec in scenario.policies]
        self.recording = self.dur_warmup == 0
        if self.dur_warmup:
            warm_up(self)
        if self.reform_day == 0:
            start_reform(self)

    @property
    def clock(self) -> int:
        """Days since the start, warm-up included."""
        return self.t + self.dur_warmup

    def _init_globals(self) -> None:
        """Global variables of §2.4 / §5.5."""
        h = self.sc.handling
        p = self.sc.problems
        self.authority: list[list[float]] = h.authority.matrix().tolist()
        self.level_cat_mult: list[list[float]] = [[1.0] * 8 for _ in range(N_LEVELS)]
        self.severity_mult: list[float] = h.severity_mult.array().tolist()
        #: staff-days one attempt takes, [category][severity] (§7.5)
        self.effort: list[list[float]] = [[m * e for e in h.effort.array().tolist()]
                                          for m in h.effort_category_mult.array().tolist()]
        self.entry_level: list[int] = [int(x) for x in h.entry_level.codes()]
        self.admin_entry_level: int | None = DEPARTMENT if h.admin_to_department else None
        self.top_level = LEVELS.index(h.top_level)
        self.dur_escalate: list[float] = h.dur_escalate.array().tolist()
        self.rate_escalate: list[float] = [h.rate_escalate] * N_LEVELS
        self.deadline: list[float] = [math.inf] * N_LEVELS
        self.threat_window: list[float] = [0.0] * N_LEVELS  # §7.5 step 2: the threat of a deadline
        self.threat_effort: list[float] = [1.0] * N_LEVELS
        n_streets = self.sc.world.n_streets
        self.dept_response = [[1.0] * N_CATEGORIES for _ in range(n_streets)]  # §8.3: five powers
        self.street_convened = [[[0.0] * N_CATEGORIES for _ in range(n_streets)] for _ in range(2)]
        self.rate_abandon = p.rate_abandon
        self.represented_flags = 0
        self.rate_self_report: list[float] = p.rate_self_report.array().tolist()
        self.dur_patience: list[float] = p.dur_patience.array().tolist()
        self.dur_expected_wait: list[float] = self.sc.residents.dur_expected_wait.array().tolist()
        self.flag_success: list[float] = [1.0] * 8
        self.visits_per_worker_per_month = self.sc.community.n_visits_per_worker_per_month
        self.grid_worker_capacity = self.sc.community.capacity_per_grid_worker
        sw = p.severity_weights.matrix().tolist()
        self._sev_cum: list[list[float]] = []
        for row in sw:
            tot = sum(row)
            acc, cum = 0.0, []
            for v in row:
                acc += v / tot
                cum.append(acc)
            self._sev_cum.append(cum)

    # ---- helpers --------------------------------------------------------------------------------------
    def handlers(self) -> list[Handler]:
        """Every handler (order irrelevant: queues are disjoint)."""
        return [*self.grids, *self.firms, *self.communities, *self.streets, *self.departments, self.city]

    def draw_severity(self, cat: int, rng: random.Random) -> int:
        """Severity of a new problem of category ``cat``."""
        u = rng.random()
        for s, c in enumerate(self._sev_cum[cat]):
            if u < c:
                return s
        return len(self._sev_cum[cat]) - 1

    def handler_at(self, prob: Problem, level: int) -> Handler | None:
        """The handler of ``prob`` at ``level`` (None: no firm)."""
        res = prob.res
        if level == GRID:
            return res.household.grid
        if level == PROPERTY:
            return res.compound.firm
        if level == COMMUNITY:
            return res.community
        if level == STREET:
            return res.community.street
        if level == DEPARTMENT:
            return self.departments[prob.cat]
        return self.city

    def level_exists(self, prob: Problem, level: int) -> bool:
        """Property: the compound has a firm; grid: its grid has workers; other levels always."""
        if level == PROPERTY:
            return prob.res.compound.firm is not None
        if level == GRID:
            grid = prob.res.household.grid
            return grid is not None and grid.exists_for()
        return True

    def place(self, prob: Problem, level: int, t: int) -> None:
        """Climb from ``level`` (refer up what the handler can hardly solve) and queue there (§7.4)."""
        top = self.top_level
        lvl = min(level, top)
        p_refer = self.sc.handling.p_refer_below
        while lvl < top:
            h = self.handler_at(prob, lvl)
            if self.level_exists(prob, lvl) and h is not None and h.p_success(prob.cat, prob.sev) >= p_refer:
                break
            lvl = min(NEXT_LEVEL[lvl], top)
        if prob.handler is not None:
            prob.handler.queue.pop(prob.uid, None)
        handler = self.handler_at(prob, lvl)
        assert handler is not None
        prob.level = lvl
        prob.handler = handler
        prob.t_level = t
        prob.status = QUEUED
        handler.queue[prob.uid] = prob

    def new_problem(self, res: Resident, cat: int, sev: int, t: int) -> None:
        """A problem arises: prevented, or counted and added to the pool as latent (§7.1)."""
        p_prev = res.compound.p_prevent[cat]
        if p_prev > 0.0 and self.streams.get("prevent").random() < p_prev:
            self.ledger.prevented += 1
            return
        prob = Problem(self._next_uid, res, cat, sev, t, self._order.random())
        self._next_uid += 1
        led = self.ledger
        led.arisen[cat][sev] += 1
        led.arisen_ctype[res.ctype] += 1
        self.problems.append(prob)

    def performance(self, prob: Problem, t: int) -> float:
        """P = exp(-max(0, x - D) / D) with x = t - t_found, the wait since the report (§7.5)."""
        d = self.dur_expected_wait[prob.sev]
        return math.exp(-max(0.0, (t - prob.t_found) - d) / d)

    def resolve_problem(self, prob: Problem, t: int) -> None:
        """Resolution at the current level: count, close, give the resident an outcome (§7.5.5)."""
        led = self.ledger
        w = t - prob.t_arise
        prob.closed = True
        if prob.handler is not None:
            prob.handler.queue.pop(prob.uid, None)
        led.resolved[prob.cat][prob.sev] += 1
        led.resolved_ctype[prob.res.ctype] += 1
        led.resolved_level[prob.level] += 1
        led.days_hist[prob.sev][w] += 1
        led.contacts_resolved += prob.n_contacts
        led.add_flags(led.flag_resolved, prob.flags)
        self.outcomes.append((prob.res, self.performance(prob, t)))

    def abandon_problem(self, prob: Problem) -> None:
        """The resident gives up: count; a found problem gives an outcome with P = 0, an unreported one a grievance (§7.6.4)."""
        led = self.ledger
        prob.closed = True
        led.abandoned[prob.cat][prob.sev] += 1
        led.add_flags(led.flag_abandoned, prob.flags)
        if prob.status == QUEUED:
            if prob.handler is not None:
                prob.handler.queue.pop(prob.uid, None)
            self.outcomes.append((prob.res, 0.0))
        else:  # an unreported problem given up: a grievance, no lesson about reporting
            self.lost.append(prob.res)

    # ---- policy helpers (§7.10) --------------------------------------------------------------------------
    def boost(self, level: int, factor: float | list[float]) -> None:
        """Multiply ``level_cat_mult[level, ·]`` by a scalar or one factor per category."""
        row = self.level_cat_mult[level]
        for c in range(len(row)):
            row[c] *= factor[c] if isinstance(factor, list) else factor

    def add_capacity(self, level: int, effort: float | list[float]) -> None:
        """Add effort per day to every handler of ``level`` (scalar or one value per handler)."""
        hs = self.handlers_of(level)
        for i, h in enumerate(hs):
            h.extra += effort[i] if isinstance(effort, list) else effort

    def handlers_of(self, level: int) -> list[Handler]:
        """The handlers of one level, in id order."""
        return [self.grids, self.firms, self.communities, self.streets, self.departments, [self.city]][level]

    def mark_found(self, probs: Iterable[Problem], finder: int, t: int) -> None:
        """Mark latent, not yet found problems as found today by ``finder``."""
        for p in probs:
            if not p.closed and p.status == LATENT and p.t_found < 0:
                p.t_found = t
                p.finder = finder
                p.n_contacts = 1

    def resolve_at(self, prob: Problem, level: int, t: int, own: bool = False) -> bool:
        """Move a queued problem to ``level`` (its handler there) and resolve it there; whether it was.

        Only if that handler has the problem's effort left today (§7.10), unless ``own``: the
        policy's own people did the work (hours it counted itself).
        """
        h = self.handler_at(prob, level)
        if h is None or not (own or h.take(self.effort[prob.cat][prob.sev], t)):
            return False
        if prob.handler is not None:
            prob.handler.queue.pop(prob.uid, None)
        prob.level = level
        prob.handler = h
        self.resolve_problem(prob, t)
        return True

    def resolve(self, probs: Iterable[Problem], t: int) -> None:
        """Resolve queued problems now (policy hook), as in §7.5 step 5."""
        for p in probs:
            if not p.closed and p.status == QUEUED:
                self.resolve_problem(p, t)

    def count(self, policy: str, name: str, value: float) -> None:
        """Add to the summary counter ``<policy>_<name>``."""
        key = f"{policy}_{name}"
        self.ledger.policy[key] = self.ledger.policy.get(key, 0.0) + value

    # ---- the day ----------------------------------------------------------------------------------------
    def step(self) -> None:
        """One day: the nine phases, each core submodel first, then the policies' hooks (given the clock)."""
        if self.waiting and self.t == self.reform_day:
            start_reform(self)
        t = self.clock
        self.events_today = 0
        for phase in PHASES:
            getattr(self, f"phase_{phase}")(t)
            for pol in self.policies:
                hook = getattr(pol, f"on_{phase}", None)
                if hook is not None:
                    hook(self, t)
        self.problems = [p for p in self.problems if not p.closed]  # closed by late hooks
        self.t += 1

    def phase_plan(self, t: int) -> None:
        """No core submodel."""

    def phase_arise(self, t: int) -> None:
        """Each resident draws today's problems (§7.1)."""
        rng = self.streams.get("arrival")
        for res in self.residents:
            res.arise(t, rng)

    def phase_find(self, t: int) -> None:
        """Grid visits, party links and self-reports find latent problems (§7.2)."""
        rng = self.streams.get("find")
        cp = self.sc.community
        q_link = self.sc.party.rate_contact * self.sc.party.p_find_on_contact
        for grid in self.grids:
            grid.start_day()
        for prob in self.problems:
            if prob.closed or prob.status != LATENT or prob.t_found >= 0:
                continue
            res = prob.res
            hh = res.household
            grid = hh.grid
            tell = res.p_tell()
            if grid is not None and grid.visited(hh.pos) and rng.random() < cp.p_find_on_visit * tell:
                finder = GRID_VISIT
            elif any(rng.random() < q_link for _ in range(res.n_links)) and rng.random() < tell:
                finder = PARTY_LINK
            elif rng.random() < 1.0 - math.exp(-res.report_hazard(prob.sev)):
                finder = SELF_REPORT
            else:
                continue
            prob.t_found = t
            prob.finder = finder
            prob.n_contacts = 1
        for grid in self.grids:
            grid.advance()

    def phase_route(self, t: int) -> None:
        """Latent problems marked found get their entry level and are placed (§7.3)."""
        led = self.ledger
        for prob in self.problems:
            if prob.closed or prob.status != LATENT or prob.t_found < 0:
                continue
            led.found += 1
            led.found_by[prob.finder] += 1
            lvl = self.entry_level[prob.sev]
            if prob.cat == PROPERTY_CATEGORY:
                if prob.res.compound.firm is not None:
                    lvl = PROPERTY
                elif lvl in (GRID, PROPERTY):
                    lvl = COMMUNITY
            if prob.cat == ADMIN_CATEGORY and self.admin_entry_level is not None:
                lvl = self.admin_entry_level
            self.place(prob, lvl, t)

    def phase_handle(self, t: int) -> None:
        """Every handler works its queue (§7.5)."""
        rng = self.streams.get("handle")
        for h in self.handlers():
            h.handle(t, rng)

    def phase_escalate(self, t: int) -> None:
        """Escalation, repeat contact, overdue list, abandonment, removal (§7.6)."""
        rng = self.streams.get("escalate")
        top = self.top_level
        rate_latent = self.sc.problems.rate_abandon_latent
        led = self.ledger
        self.overdue = []
        for prob in self.problems:
            if prob.closed:
                continue
            sev = prob.sev
            queued = prob.status == QUEUED
            # queued: waiting since the report (x); latent: age since arising
            age = t - prob.t_found if queued else t - prob.t_arise
            if queued:
                lvl = prob.level
                a = t - prob.t_level
                if lvl != top and NEXT_LEVEL[lvl] <= top:
                    if ((a >= self.dur_escalate[sev] and rng.random() < self.rate_escalate[lvl])
                            or a >= self.deadline[lvl]):
                        led.escalations += 1
                        self.place(prob, NEXT_LEVEL[lvl], t)
                if age > self.dur_expected_wait[sev]:
                    if rng.random() < recontact_hazard(self, prob, age):
                        prob.n_contacts += 1
                        led.repeat_contacts += 1
                    self.overdue.append(prob.res)
            if age > self.dur_patience[sev]:
                if rng.random() < (self.rate_abandon if queued else rate_latent):
                    self.abandon_problem(prob)
        self.problems = [p for p in self.problems if not p.closed]

    def phase_judge(self, t: int) -> None:
        """Outcomes move efficacy and leave grievances; the day's experience moves P and E (§7.7)."""
        self.hear_outcomes()
        x = self.experience(t)
        w = self.sc.residents.weight_word_of_mouth
        heard = []
        for res in self.residents:
            nb = res.neighbours
            heard.append(x[res] + w * (sum(x[j] for j in nb) / len(nb) - x[res]) if nb else x[res])
        for res, h in zip(self.residents, heard):
            res.perceive(h)

    def hear_outcomes(self) -> None:
        """Each outcome moves the resident's efficacy and, by word of mouth, the neighbours'; failures leave grievances."""
        r = self.sc.residents
        f0 = {res: res.F for res, _ in self.outcomes}
        for res, _ in self.outcomes:
            for nb in res.neighbours:
                f0.setdefault(nb, nb.F)
        df: dict[Resident, float] = defaultdict(float)
        for res, o in self.outcomes:
            df[res] += r.rate_efficacy * (o - f0[res])
            for nb in res.neighbours:
                df[nb] += r.rate_efficacy * r.weight_word_of_mouth * (o - f0[nb])
            res.G = min(1.0, res.G + r.grievance * (1.0 - o))
        for res, d in df.items():
            res.F = min(1.0, max(0.0, res.F + d))
        self.outcomes = []
        for res in self.lost:
            res.G = min(1.0, res.G + r.grievance)
        self.lost = []

    def experience(self, t: int) -> dict[Resident, float]:
        """Each resident's day: 1 less the weight of their open problems overdue since arising, less grievances."""
        burden = self.sc.residents.burden.array().tolist()
        load: dict[Resident, float] = defaultdict(float)
        for prob in self.problems:
            if prob.closed:
                continue
            d = self.dur_expected_wait[prob.sev]
            age = t - prob.t_arise
            if age > d:
                load[prob.res] += burden[prob.sev] * min(1.0, (age - d) / d)
        return {res: max(0.0, 1.0 - load[res] - res.G) for res in self.residents}

    def phase_participate(self, t: int) -> None:
        """Events, volunteering, participation gains, satisfaction and trust (§7.8)."""
        rng = self.streams.get("participate")
        cp = self.sc.community
        r = self.sc.residents
        gains: Counter[Resident] = Counter()
        for comm in self.communities:
            n_events = poisson(rng, comm.event_rate)
            self.events_today += n_events
            if n_events == 0:
                continue
            reach = min(n_events * cp.p_event_reach, 1.0)
            pool = comm.residents
            for _ in range(bernoulli_count(rng, len(pool), reach)):
                gains[pool[int(rng.random() * len(pool))]] += 1
        for res in self.residents:
            if res.volunteers(rng):
                res.volunteer_turns += 1
                self.volunteer_hours += r.dur_volunteer_hours
                gains[res] += 1
        for res, n in gains.items():
            res.gain(n)
        for res in self.residents:
            res.settle()
        if (t + 1) % DUR_DECISION == 0:
            decide_month(self, t)

    def phase_record(self, t: int) -> None:
        """Cost of the day, utilisation, a row of the time series (§7.9); nothing during the warm-up."""
        if not self.recording:
            return
        self.cost_yuan += day_cost(self)
        led = self.ledger
        self.today_staff_utilisation, self.today_grid_utilisation = book_utilisation(self)
        total = led.found_by[SELF_REPORT]
        self.self_reported_today, self.self_reported_before = total - self.self_reported_before, total
        resolved = led.total(led.resolved)
        self.resolved_cum.append(resolved)
        self.closed_cum.append(resolved + led.total(led.abandoned))
        n = len(self.residents)
        self.satisfaction_day.append(sum(r.S for r in self.residents) / n)
        self.trust_day.append(sum(r.T for r in self.residents) / n)
        if self.record_series and self.t % self.sc.run.record_every == 0:
            self.series_t.append(self.t)
            for k, v in series_row(self).items():
                self.series[k].append(v)


__all__ = ["FINDERS", "NEXT_LEVEL", "PHASES", "ReferenceModel"]
