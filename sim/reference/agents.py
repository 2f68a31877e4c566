"""Agents of the reference model: residents, party members, handlers, co-building units, problems.

One Python object per agent (docs/model.md §2). Handlers (grid workers of a grid, property firm,
community staff, street office, department, city) each own a queue of the problems placed with
them and spend a daily effort budget on it (§7.5). Problems are plain objects held by the model.
Structural collectives (compound, building, household) are plain objects too.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

import mesa

from sim.config.taxonomy import COMMUNITY, GRID, LATENT, PROPERTY, STREET

if TYPE_CHECKING:
    from sim.reference.model import ReferenceModel

#: Co-building unit types (§5.1 step 10) and their resource lists per category (§8.2 table).
UNIT_TYPES: tuple[str, ...] = ("police", "hospital", "university", "market_regulator", "fire_brigade",
                               "enterprise", "social_org")
UNIT_RESOURCES: tuple[tuple[float, ...], ...] = (
    (0.0, 0.6, 0.8, 0.0, 1.0, 0.0, 0.4, 0.0),  # police
    (0.0, 0.0, 0.0, 0.6, 0.0, 0.0, 0.0, 1.0),  # hospital
    (0.3, 0.0, 0.2, 0.6, 0.0, 0.0, 0.2, 0.2),  # university
    (0.4, 0.0, 0.2, 0.0, 0.6, 0.2, 0.0, 0.3),  # market_regulator
    (0.0, 0.2, 0.0, 0.0, 1.0, 0.2, 0.0, 0.0),  # fire_brigade
    (0.5, 0.4, 0.0, 0.2, 0.0, 0.5, 0.0, 0.0),  # enterprise
    (0.3, 0.0, 0.6, 0.8, 0.0, 0.0, 0.3, 0.2),  # social_org
)


# ---- structure ---------------------------------------------------------------------------------------
class Household:
    """A household: its residents, building, compound, grid and position in the grid."""

    __slots__ = ("building", "compound", "grid", "hid", "pos", "residents")

    def __init__(self, hid: int, building: Building, compound: Compound) -> None:
        self.hid = hid
        self.building = building
        self.compound = compound
        self.residents: list[Resident] = []
        self.grid: Grid | None = None
        self.pos = 0


class Building:
    """A building of a compound."""

    __slots__ = ("bid", "compound", "households", "residents")

    def __init__(self, bid: int, compound: Compound) -> None:
        self.bid = bid
        self.compound = compound
        self.households: list[Household] = []
        self.residents: list[Resident] = []


class Compound:
    """A compound (小区): type, community, buildings, firm, prevention chances, queue priority bonus."""

    __slots__ = (
        "buildings",
        "cid",
        "community",
        "ctype",
        "firm",
        "grids",
        "households",
        "p_prevent",
        "priority_days",
        "residents",
    )

    def __init__(self, cid: int, ctype: int, community: Community, p_prevent: float, n_categories: int) -> None:
        self.cid = cid
        self.ctype = ctype
        self.community = community
        self.buildings: list[Building] = []
        self.households: list[Household] = []
        self.residents: list[Resident] = []
        self.firm: PropertyFirm | None = None
        self.p_prevent: list[float] = [p_prevent] * n_categories
        self.priority_days = 0
        self.grids: list[Grid] = []


# ---- problems ------------------------------------------------------------------------------------------
class Problem:
    """One resident's problem, from arising to resolution or abandonment (§2.3)."""

    __slots__ = (
        "cat",
        "closed",
        "finder",
        "flags",
        "handler",
        "level",
        "n_contacts",
        "res",
        "sev",
        "status",
        "t_arise",
        "t_found",
        "t_level",
        "tiebreak",
        "uid",
    )

    def __init__(self, uid: int, res: Resident, cat: int, sev: int, t: int, tiebreak: float) -> None:
        self.uid = uid
        self.res = res
        self.cat = cat
        self.sev = sev
        self.status = LATENT
        self.level = -1
        self.handler: Handler | None = None
        self.t_arise = t
        self.t_found = -1
        self.t_level = -1
        self.n_contacts = 0
        self.finder = -1
        self.flags = 0
        self.closed = False
        self.tiebreak = tiebreak

    def __repr__(self) -> str:
        return f"Problem({self.uid}, cat={self.cat}, sev={self.sev}, status={self.status}, level={self.level})"


# ---- residents -----------------------------------------------------------------------------------------
class Resident(mesa.Agent):
    """A resident: perceived performance P, expectation E, satisfaction S, trust T, efficacy F, grievance G."""

    model: ReferenceModel

    def __init__(self, model: ReferenceModel, rid: int, household: Household, group: int) -> None:
        super().__init__(model)
        self.rid = rid
        self.household = household
        self.building = household.building
        self.compound = household.compound
        self.community: Community = household.compound.community
        self.ctype = household.compound.ctype
        self.group = group
        self.is_party = False
        self.S = 0.0
        self.T = 0.0
        self.E = 0.0
        self.P = 0.0
        self.F = 0.0
        self.G = 0.0
        self.volunteer_turns = 0
        self.base_rate = model.sc.residents.rate_volunteer  # r_i (§5.5)
        self.rate = self.base_rate  # this month's rate after recognition and burnout (§7.13)
        self.recognition = 0.0  # recognition of their service, raised by policies
        self.load = 0.0  # recent volunteering hours a month (moving average)
        self.turns_seen = 0
        self.vm = 1.0  # volunteering multiplier vm_i, raised by policies
        self.neighbours: list[Resident] = []
        self.n_links = 0  # distinct party members linked to this resident
        self.rates: list[tuple[float, float]] = []  # (rate, exp(-rate)) per category (§7.1)

    # arise (§7.1)
    def arise(self, t: int, rng: random.Random) -> None:
        """Draw today's new problems of each category (Poisson) and hand them to the model."""
        for c, (lam, p0) in enumerate(self.rates):
            # Poisson(lam) by inversion; p0 = exp(-lam) is close to 1, so almost always no problem.
            u = rng.random()
            if u <= p0:
                continue
            k, p, cum = 0, p0, p0
            while u > cum:
                k += 1
                p *= lam / k
                cum += p
            model = self.model
            for _ in range(k):
                model.new_problem(self, c, model.draw_severity(c, rng), t)

    # find (§7.2)
    def propensity(self) -> float:
        """How readily the resident brings a problem to the government (trust and efficacy)."""
        prm = self.model.sc.problems
        return max(0.0, 1.0 + prm.report_trust_slope * (self.T - 0.5) + prm.report_efficacy_slope * (self.F - 0.5))

    def p_tell(self) -> float:
        """Chance the resident tells a visiting grid worker or a linked party member about a problem."""
        return min(1.0, self.model.sc.problems.p_tell * self.propensity())

    def report_hazard(self, sev: int) -> float:
        """Daily self-report hazard of a latent problem of severity ``sev``."""
        return self.model.rate_self_report[sev] * self.propensity() * self.community.report_mult

    # judge (§7.7)
    def perceive(self, heard: float) -> None:
        """Perceived performance toward what was heard (faster when worse), expectation toward P; grievances fade."""
        r = self.model.sc.residents
        rate = r.rate_perception
        if heard < self.P:
            rate = min(1.0, rate * r.negativity_bias)
        self.P = min(1.0, max(0.0, self.P + rate * (heard - self.P)))
        self.E = min(1.0, max(0.0, self.E + r.rate_expectation * (self.P - self.E)))
        self.G *= 1.0 - r.rate_grievance_decay

    def settle(self) -> None:
        """Satisfaction S = clip(P + beta (P - E)); trust toward S + w_F (F - S)."""
        r = self.model.sc.residents
        self.S = min(1.0, max(0.0, self.P + r.beta_disconfirm * (self.P - self.E)))
        target = self.S + r.weight_trust_efficacy * (self.F - self.S)
        self.T = min(1.0, max(0.0, self.T + r.rate_trust * (target - self.T)))

    # participate (§7.8)
    def volunteer_rate(self) -> float:
        """Daily volunteering rate at trust 1: this month's rate times the policy multiplier vm_i."""
        return self.rate * self.vm

    def volunteers(self, rng: random.Random) -> bool:
        """Whether this resident volunteers a turn today: probability min(1, r T)."""
        return rng.random() < min(1.0, self.volunteer_rate() * self.T)

    def gain(self, n_times: int) -> None:
        """Participation gains (perceived performance, trust) for ``n_times`` attendances and turns, then clip."""
        r = self.model.sc.residents
        self.P = min(1.0, max(0.0, self.P + n_times * r.participation_satisfaction))
        self.T = min(1.0, max(0.0, self.T + n_times * r.participation_trust))


class PartyMember(Resident):
    """A resident who is a party member: linked residents in the compound (双联双带, 001)."""

    def __init__(self, model: ReferenceModel, rid: int, household: Household, group: int) -> None:
        super().__init__(model, rid, household, group)
        self.is_party = True
        self.base_rate = self.rate = model.sc.party.rate_volunteer
        self.links: list[Resident] = []


class CoBuildingUnit(mesa.Agent):
    """A co-building unit (共建单位, 000) of a community: inert in the core, used by policies."""

    def __init__(self, model: ReferenceModel, community: Community, utype: int) -> None:
        super().__init__(model)
        self.community = community
        self.utype = utype
        self.allied = False
        self.resources: list[float] = list(UNIT_RESOURCES[utype])


# ---- handlers ------------------------------------------------------------------------------------------
class Handler(mesa.Agent):
    """Anything that handles problems at one level: a queue, a daily capacity, success chances."""

    level: int = -1
    model: ReferenceModel

    def __init__(self, model: ReferenceModel) -> None:
        super().__init__(model)
        self.queue: dict[int, Problem] = {}
        self.extra = 0.0  # capacity added by policies (add_capacity)
        self.used = 0.0  # effort spent today (day ``self.day``)
        self.day = -1
        self.bank = 0.0  # work put into the head problem ``bank_uid`` on earlier days
        self.bank_uid = -1
        self.mult: list[float] = [1.0] * 8  # mult_l[h, c]

    def base_capacity(self) -> float:
        """Capacity before policy extras (§5.4)."""
        raise NotImplementedError

    def capacity(self) -> float:
        """Today's capacity: §5.4 plus policy extra capacity (§7.5 step 1)."""
        return self.base_capacity() + self.extra

    def multiplier(self, cat: int) -> float:
        """Handler's own success multiplier for a category."""
        return self.mult[cat]

    def exists_for(self) -> bool:
        """Whether this handler can take problems (grid: has workers)."""
        return True

    def p_success(self, cat: int, sev: int) -> float:
        """Chance that one attempt solves a problem of category ``cat``, severity ``sev`` (§7.4)."""
        m = self.model
        lvl = self.level
        p = m.authority[lvl][cat] * m.severity_mult[sev] * m.level_cat_mult[lvl][cat] * self.multiplier(cat)
        return 0.0 if p < 0.0 else (min(p, 1.0))

    def today(self, t: int) -> float:
        """Effort left today (a new day starts with nothing spent)."""
        if self.day != t:
            self.used, self.day = 0.0, t
        return self.capacity() - self.used

    def take(self, effort: float, t: int) -> bool:
        """Spend ``effort`` today if it fits in what is left (a policy's resolution, §7.10)."""
        if effort > self.today(t) + 1e-9:
            return False
        self.used += effort
        return True

    def handle(self, t: int, rng: random.Random) -> None:
        """Work the queue in order while each problem's effort fits in what is left today (§7.5).

        At the first problem that does not fit, the rest of the day goes into it and counts
        for it on the next days while it stays at the head of the queue.
        """
        left = self.today(t)
        if not self.queue:
            return
        model = self.model
        effort = model.effort
        order = sorted(self.queue.values(),
                       key=lambda p: (p.t_level - p.res.compound.priority_days, p.t_arise, p.tiebreak))
        lvl = self.level
        k, near_from = model.threat_effort[lvl], model.deadline[lvl] - model.threat_window[lvl]
        avail = left + (self.bank if order[0].uid == self.bank_uid else 0.0)
        done = 0.0
        for prob in order:
            threatened = k != 1.0 and t - prob.t_level >= near_from  # §7.5 step 3: near the deadline
            e = effort[prob.cat][prob.sev] * (k if threatened else 1.0)
            if done + e > avail + 1e-9:
                self.bank, self.bank_uid = avail - done, prob.uid
                self.used += left
                break
            done += e
            p = self.p_success(prob.cat, prob.sev)
            if prob.flags:
                for b, f in enumerate(model.flag_success):
                    if f != 1.0 and prob.flags >> b & 1:
                        p = min(p * f, 1.0)
            if threatened:
                p = 1.0 - (1.0 - p) ** k
            if rng.random() < p:
                model.resolve_problem(prob, t)
        else:
            self.used += max(left - (avail - done), 0.0)
            self.bank, self.bank_uid = 0.0, -1


class Grid(Handler):
    """A grid (网格) and its grid workers: visit rounds in household order; handles level *grid*."""

    level = GRID

    def __init__(self, model: ReferenceModel, compound: Compound, households: list[Household], n_workers: float) -> None:
        super().__init__(model)
        self.compound = compound
        self.community = compound.community
        self.households = households
        self.size = len(households)
        self.n_workers = n_workers
        self.ptr = 0.0
        self.spent = 0.0  # staff-days spent today on visits and proxy errands
        self.visits_today = 0.0

    def budget(self) -> float:
        """Staff-days of grid work a day: workers x time per worker (visits, errands and problems share it)."""
        return self.n_workers * self.model.grid_worker_capacity

    def free(self) -> float:
        """What is left of today's budget after the visits and errands so far."""
        return max(self.budget() - self.spent, 0.0)

    def base_capacity(self) -> float:
        """The budget less today's visits and errands (§5.4, §7.2)."""
        return self.budget() - self.spent

    def exists_for(self) -> bool:
        """A grid without workers handles nothing."""
        return self.n_workers > 0

    def start_day(self) -> None:
        """Today's visits: the planned ones as far as the budget goes, booked first (§7.2)."""
        planned = self.n_workers * self.model.visits_per_worker_per_month / 30.0
        e = self.model.sc.community.effort_visit
        self.visits_today = min(planned, self.budget() / e) if e > 0 else planned
        self.spent = self.visits_today * e if e > 0 else 0.0

    def visits_per_day(self) -> float:
        """Households visited today (a real number; ``start_day``)."""
        return self.visits_today

    def visited(self, pos: int) -> bool:
        """Whether the household at ``pos`` is visited today (real-valued round, §7.2)."""
        if self.n_workers <= 0:
            return False
        return ((pos - self.ptr) % self.size) < self.visits_per_day()

    def advance(self) -> None:
        """Move the visit pointer on by today's visits."""
        self.ptr = (self.ptr + self.visits_per_day()) % self.size


class PropertyFirm(Handler):
    """A property firm (物业) of a mature or new compound; success scaled by its quality."""

    level = PROPERTY

    def __init__(self, model: ReferenceModel, compound: Compound, quality: float, capacity: float) -> None:
        super().__init__(model)
        self.compound = compound
        self.quality = quality
        self.cap = capacity
        self.effort = 1.0  # service effort, set each month (§7.13)
        self.margin = 0.0
        self.n_months_loss = 0
        self.active = True
        self.community_run = False

    def base_capacity(self) -> float:
        """The firm's capacity at its effort (0 once it has left)."""
        return self.cap * self.effort if self.active else 0.0

    def multiplier(self, cat: int) -> float:
        """The firm's quality x the level's category multiplier."""
        return self.quality * self.mult[cat]


class Community(Handler):
    """A community: staff (problem capacity = staff effort − administrative effort), grids, units."""

    level = COMMUNITY

    def __init__(self, model: ReferenceModel, index: int, street: StreetOffice) -> None:
        super().__init__(model)
        self.index = index
        self.street = street
        self.compounds: list[Compound] = []
        self.residents: list[Resident] = []
        self.grids: list[Grid] = []
        self.units: list[CoBuildingUnit] = []
        self.big = index  # its big community (000); set by the world
        cp = model.sc.community
        self.n_staff = 0.0
        self.admin_tasks = cp.rate_admin_tasks
        self.admin_cap = math.inf
        self.event_rate = cp.rate_events
        self.report_mult = 1.0

    def staff_effort(self) -> float:
        """SE_c: staff × capacity per staff."""
        return self.n_staff * self.model.sc.community.capacity_per_staff

    def admin_effort(self) -> float:
        """AE_c: administrative work admitted today, at most the staff effort."""
        return min(min(self.admin_tasks, self.admin_cap) * self.model.sc.community.effort_admin_task,
                   self.staff_effort())

    def base_capacity(self) -> float:
        """Staff effort left after administrative work."""
        return self.staff_effort() - self.admin_effort()


class StreetOffice(Handler):
    """A street office (街道): capacity and an authority multiplier per category."""

    level = STREET

    def __init__(self, model: ReferenceModel, index: int) -> None:
        super().__init__(model)
        self.index = index
        self.communities: list[Community] = []
        self.residents: list[Resident] = []
        self.cap = 0.0
        self.authority_mult: list[float] = [1.0] * 8

    def base_capacity(self) -> float:
        """The street's capacity (per 10k residents)."""
        return self.cap

    def multiplier(self, cat: int) -> float:
        """The street's authority multiplier for the category."""
        return self.authority_mult[cat]


class Department(Handler):
    """A district department for one category, shared by the whole area."""

    def __init__(self, model: ReferenceModel, category: int, level: int, capacity: float) -> None:
        super().__init__(model)
        self.category = category
        self.level = level
        self.cap = capacity

    def base_capacity(self) -> float:
        """The department's capacity (per 10k residents)."""
        return self.cap


class City(Department):
    """The city (reachable only when ``top_level = city``)."""
