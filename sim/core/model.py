"""The model: owns all state and runs the phases of each day in the order of :mod:`sim.core.phases`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from sim import policies as policy_registry
from sim.agents.cobuilding_unit import CoBuildingUnits
from sim.agents.community import Communities, Grids
from sim.agents.department import Departments
from sim.agents.party_member import PartyMembers
from sim.agents.property_firm import PropertyFirms
from sim.agents.resident import PerformanceTable, Residents, influence, judgement, p_tell
from sim.agents.street_office import StreetOffices
from sim.config.params import DAYS_PER_MONTH
from sim.config.taxonomy import (
    ADMIN_CATEGORY,
    COMMUNITY,
    DEPARTMENT,
    FLAG_BIT,
    LATENT,
    LEVELS,
    N_CATEGORIES,
    N_LEVELS,
    PROPERTY_CATEGORY,
    QUEUED,
)
from sim.core.accounting import book_day, cost_items
from sim.core.decisions import decide_month
from sim.core.handlers import Handlers
from sim.core.invariants import check_invariants
from sim.core.kernels.arising import arise_into, arrival_draws, find_latent, visit_slots
from sim.core.kernels.escalation import escalate_day
from sim.core.kernels.handling import handle_day, resolve_rows
from sim.core.kernels.jit import prefer_sleeping_threads
from sim.core.kernels.residents import judge_day, participate_drawn
from sim.core.kernels.routing import place, route_day
from sim.core.kernels.state import Fields
from sim.core.phases import PHASES, Policy
from sim.core.problems import CHAINS, NEXT_LEVEL, Ledger, ProblemPool, arrival_table
from sim.core.reform import start_reform
from sim.core.reform import warm_up as warm_up_days
from sim.core.results import Recorder, Results
from sim.core.rng import Streams
from sim.core.scenario import Scenario
from sim.core.world import World, generate_world, to_networkx
from sim.errors import InputError

if TYPE_CHECKING:  # networkx is loaded by Model.graph alone (to_networkx): a run does not need it
    import networkx as nx

#: "no outcomes today", for the judge kernel
_NO_IDS = np.empty(0, dtype=np.int32)
_NO_PERF = np.empty(0, dtype=np.float32)


class Model:
    """One simulated area under one scenario and seed.

    >>> from sim import Model, load_scenario
    >>> m = Model(load_scenario("scenarios/baseline.toml"), seed=1)   # doctest: +SKIP
    >>> res = m.run(365)                                              # doctest: +SKIP
    >>> res.summary["resolution_rate"]                                # doctest: +SKIP
    """

    def __init__(self, scenario: Scenario, seed: int | None = None, *, defer_reform: bool = False) -> None:
        """``defer_reform``: with a reform on day 0, set the policies up at the first step, not here (branching)."""
        t0 = time.perf_counter()
        prefer_sleeping_threads()  # before the first parallel kernel starts numba's threads
        self.scenario = scenario
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = scenario.run.seed if seed is None else int(seed)
        self.streams = Streams(self.seed)
        # warm-up days before day 0, the recorded day (negative in the warm-up), the policies' first day (§7.12)
        self.dur_warmup, self.reform_day = scenario.reform.dur_warmup, scenario.reform.start_day
        self.t = -self.dur_warmup
        self.world: World = generate_world(scenario.world, self.streams.get("world"), self.streams.get("rewire"))
        self._create_agents()
        self.handlers = Handlers(self, scenario.handling)
        self._set_rules()
        self._create_problems()
        self._create_policies()
        self.recorder = Recorder(self, scenario.run.n_steps, scenario.run.record_every)
        self._perf = PerformanceTable(scenario.run.n_steps)
        self._visit_slots: tuple[object, tuple[np.ndarray, np.ndarray]] | None = None  # (its grids, visit_slots)
        if self.dur_warmup:  # baseline days before day 0, not recorded (sim.core.reform)
            warm_up_days(self)
            self.recorder = Recorder(self, scenario.run.n_steps, scenario.run.record_every)
            self._build_schedule()
        if self.reform_day == 0 and not defer_reform:
            self._start_reform()
        self.setup_s = time.perf_counter() - t0

    # ---- construction ---------------------------------------------------------------------------
    def _create_agents(self) -> None:
        """Residents, party members, communities and grids, co-building units, firms, streets, departments."""
        sc, w = self.scenario, self.world
        self.residents = Residents.create(w, sc.residents, self.streams.get("residents"))
        self.party = PartyMembers.create(w, sc.party, sc.residents.rate_volunteer)
        self.communities = Communities.create(w, sc.community)
        self.grids = Grids.create(w, sc.community.households_per_grid.array(), sc.community.n_grid_workers_per_grid)
        self.units = CoBuildingUnits.create(w)
        self.firms = PropertyFirms.create(w, sc.handling, self.streams.get("firms"))
        self.streets = StreetOffices.create(w, sc.handling)
        self.departments = Departments.create(w, sc.handling)
        self.compound_firm = w.compound_firm.copy()
        self.visits_per_worker_per_month = sc.community.n_visits_per_worker_per_month
        self.grid_worker_capacity = sc.community.capacity_per_grid_worker
        self.n_grid_roles = self.grids.n_workers.copy()  # the pre-reform role holders the core pays (fixed)

    def _set_rules(self) -> None:
        """The routing, escalation and giving-up rules, and the levers policies move.

        Policies raise prevention, queue priority and the success of flagged problems.
        """
        sc, h = self.scenario, self.scenario.handling
        self.entry_level = h.entry_level.codes()
        #: where administrative matters go first (None: by severity like the rest)
        self.admin_entry_level: int | None = DEPARTMENT if h.admin_to_department else None
        self.top_level = LEVELS.index(h.top_level)
        self._refer_below = np.float32(h.p_refer_below)
        self._climb: Fields = (self._refer_below, CHAINS[self.top_level], self.top_level)
        self.dur_escalate = h.dur_escalate.array(np.float32)
        self.rate_escalate = np.full(N_LEVELS, h.rate_escalate, dtype=np.float32)
        #: days at a level after which a problem is escalated for certain (the whistle's deadlines)
        self.deadline = np.full(N_LEVELS, np.inf, dtype=np.float32)
        #: the threat of a deadline (002's supervision): a problem within ``threat_window[level]`` days of its
        #: level's deadline is worked with ``threat_effort[level]`` times the effort (1: no threat)
        self.threat_window = np.zeros(N_LEVELS, dtype=np.float32)
        self.threat_effort = np.ones(N_LEVELS, dtype=np.float32)
        #: departments' responsiveness to each street's convened matters (streets x categories; 1: as
        #: before reform), and the street's record of them since its last assessment (convened, solved)
        self.dept_response = np.ones((self.world.n_streets, N_CATEGORIES), dtype=np.float32)
        self.street_convened = np.zeros((2, self.world.n_streets, N_CATEGORIES), dtype=np.float64)
        self.rate_abandon = sc.problems.rate_abandon
        #: per-severity parameter vectors used every day (the scenario is frozen)
        self.expected_wait = sc.residents.dur_expected_wait.array(np.float32)
        self.patience = sc.problems.dur_patience.array(np.float32)
        self.rate_self_report = sc.problems.rate_self_report.array()
        # prevention: chance a problem of (compound, category) never arises (policies raise it)
        self.p_prevent = np.full((self.world.n_compounds, N_CATEGORIES), sc.problems.p_prevented_base, dtype=np.float32)
        # queue priority: problems of a compound are served as if they had waited this many days more
        self.priority_days = np.zeros(self.world.n_compounds, dtype=np.int32)
        #: success multiplier for problems carrying each flag bit (taxonomy.FLAGS order)
        self.flag_success = np.ones(8, dtype=np.float32)
        self.represented_flags = 0  #: flag bits of represented problems: someone follows up for the resident (§7.6)
        # the residents' judgement and participation rates (the scenario is frozen), as the kernels take them
        self._judgement: Fields = tuple(judgement(sc.residents))
        self._influence: Fields = tuple(influence(sc.residents))

    def _create_problems(self) -> None:
        """The arrival strata, the empty pool, the ledger and the day's running figures."""
        sc, w, p = self.scenario, self.world, self.scenario.problems
        self.arrivals = arrival_table(w.res_ctype, w.res_group, p.rate_arise, p.category_weights.matrix(),
                                      p.category_mult.matrix(), p.severity_weights.matrix())
        self.problems = ProblemPool(capacity=max(1024, int(w.n_residents * p.rate_arise * 60)))
        self.ledger = Ledger(n_days=sc.run.n_steps + sc.reform.dur_warmup + 1)
        #: outcome counters kept by policies, reported in the summary as ``<policy>_<name>``
        self.policy_counters: dict[str, float] = {}
        self.volunteer_hours = 0.0
        self.cost_yuan = 0.0
        #: yuan by item over the recorded days (``cost_items``); sums to ``cost_yuan``
        self.cost_ledger: dict[str, float] = {}
        self.events_today = 0
        #: problems open at the end of the warm-up, counted as arisen on day 0
        self.problems_carried = 0
        #: effort each handler spent today (``Handlers.capacity`` order; None before the first day)
        self.effort_used: np.ndarray | None = None
        self._closed_res: list[np.ndarray] = []
        self._closed_perf: list[np.ndarray] = []
        self._lost_res: list[np.ndarray] = []  # residents whose unreported problems were given up today
        self._overdue_res = np.empty(0, dtype=np.int32)

    def _create_policies(self) -> None:
        """The scenario's policies (set up on the reform day, :meth:`_start_reform`); the day's schedule without them."""
        self.policies: list[Policy] = []  # those set up and acting
        self._waiting = [policy_registry.get(spec.name)(spec.params, self) for spec in self.scenario.policies]
        self._build_schedule(record=self.dur_warmup == 0)

    def _build_schedule(self, record: bool = True) -> None:
        """The day's schedule: each phase's core submodel (or None) and the hooks of the acting policies."""
        self._hooks: dict[str, list[Callable[[Model, int], None]]] = {ph: [] for ph in PHASES}
        for pol in self.policies:
            for phase, hook in pol.hooks().items():
                self._hooks[phase].append(hook)
        core = {ph: getattr(self, f"_{ph}", None) if record or ph != "record" else None for ph in PHASES}
        self._schedule = [(core[ph], tuple(self._hooks[ph])) for ph in PHASES]  # warm-up: no record phase
        #: hooks that run after the escalate phase's compaction of the pool (its own hooks and later ones)
        self._late_hooks = any(self._hooks[ph] for ph in PHASES[PHASES.index("escalate"):])

    def _start_reform(self) -> None:
        """Set up the scenario's policies (today is their first day): :func:`sim.core.reform.start_reform`."""
        start_reform(self, self._waiting)
        self._waiting = []
        self._build_schedule()

    @property
    def clock(self) -> int:
        """Days since the model started, warm-up included: the ``t`` the phases and policies are given."""
        return self.t + self.dur_warmup

    # ---- structure --------------------------------------------------------------------------
    def count(self, policy: str, name: str, value: float = 1.0) -> None:
        """Add ``value`` to a policy's outcome counter (reported as ``<policy>_<name>``)."""
        key = f"{policy}_{name}"
        self.policy_counters[key] = self.policy_counters.get(key, 0.0) + float(value)

    def open_rows(self, *, queued: bool = True, latent: bool = False) -> np.ndarray:
        """Pool rows of open problems (queued and/or latent)."""
        st = self.problems.status
        mask = np.zeros(st.size, dtype=bool)
        if queued:
            mask |= st == QUEUED
        if latent:
            mask |= st == LATENT
        return np.flatnonzero(mask)

    def p_tell(self, rows: np.ndarray) -> np.ndarray:
        """Chance the residents of pool rows ``rows`` tell someone who asks (trust and efficacy, §7.2)."""
        res = self.problems.res[rows]
        return p_tell(self.residents.trust[res], self.residents.efficacy[res], self.scenario.problems)

    @cached_property
    def graph(self) -> nx.Graph:
        """The community graph as networkx (built on first access; costly at district scale)."""
        return to_networkx(self.world, self.grids.household_grid)

    def climb(self) -> Fields:
        """How problems are placed (``Climb``).

        The chance below which a handler refers a problem up, the levels on the way up to the
        top level, and the top level (policies may raise it).
        """
        climb = self._climb
        if climb[2] != self.top_level:
            climb = self._climb = (self._refer_below, CHAINS[self.top_level], self.top_level)
        return climb

    # ---- phases -------------------------------------------------------------------------------
    def _arise(self, t: int) -> None:
        tab, led, w, pool = self.arrivals, self.ledger, self.world, self.problems
        k, u = arrival_draws(self.streams.handle("arrival"), tab.lam)  # as draw_arrival_uniforms
        # today's problems less the prevented ones, appended to the pool as latent, unrouted problems
        buffers = pool.reserve(u.shape[1])
        n_new, n_prevented = arise_into(k, u, tab.strata(), self.p_prevent, w.res_compound, w.res_ctype,
                                        led.counts(), t, pool.n, buffers)
        led.prevented += n_prevented
        pool.set_rows(pool.n + n_new)

    def _find(self, t: int) -> None:
        pool, w, sc = self.problems, self.world, self.scenario
        # one finder per problem, proactive ones first: grid visit, then party link, then self-report; then the
        # grid workers go round (visits come first in their day, as far as their time allows: grids.start_day)
        visiting = self.grids.start_day(self.grid_worker_capacity, self.visits_per_worker_per_month, sc.community.effort_visit)
        p_by_links, link_code = self.party.links_today(sc.party)
        rules = (np.float32(self.visits_per_worker_per_month / DAYS_PER_MONTH), sc.community.p_find_on_visit,
                 p_by_links, self.rate_self_report, np.float32(sc.problems.report_trust_slope),
                 np.float32(sc.problems.report_efficacy_slope), np.float32(sc.problems.p_tell))  # FindRules
        g = self.grids
        if self._visit_slots is None or self._visit_slots[0] is not g:  # until a policy re-grids
            self._visit_slots = (g, visit_slots(w.res_household, g.household_grid, g.household_pos, g.grid_size))
        who = (*self._visit_slots[1], w.res_community, self.party.n_links, link_code, self.residents.trust,
               self.communities.report_mult, self.residents.efficacy)  # Reporters
        # u = rng.random((3, latent rows)) of the find stream, stepped in the kernel
        find_latent(t, self.streams.pcg("find"), pool.cols, self.grids.rounds(visiting), rules, who)

    def mark_found(self, rows: np.ndarray, finder: int | np.ndarray, t: int) -> None:
        """Mark latent problems at pool rows ``rows`` as found today by ``finder`` (policies use it).

        Rows already found are left alone; found problems are routed in the route phase.
        """
        if rows.size == 0:
            return
        pool = self.problems
        fresh = (pool.status[rows] == LATENT) & (pool.t_found[rows] < 0)
        if isinstance(finder, np.ndarray):
            who: np.ndarray | np.int8 = np.broadcast_to(finder.astype(np.int8, copy=False), rows.shape)[fresh]
        else:
            who = np.int8(finder)
        rows = rows[fresh]
        pool.finder[rows] = who
        pool.t_found[rows] = t
        pool.n_contacts[rows] = 1

    def _route(self, t: int) -> None:
        pool, h = self.problems, self.handlers
        admin = -1 if self.admin_entry_level is None else self.admin_entry_level
        # latent rows marked found (today, or late yesterday) are counted, queued and get their entry level,
        # then are placed there or at the first level above it that can handle them (as _place)
        entry = (self.entry_level, PROPERTY_CATEGORY, ADMIN_CATEGORY, admin)  # EntryRules
        self.ledger.found += route_day(pool.cols, self.ledger.counts(), entry, self.compound_firm,
                                       self.world.res_compound, t, h.residence(), h.success_tables(), self.climb())

    def _place(self, rows: np.ndarray, level: np.ndarray, t: int) -> None:
        """Put pool rows at ``level`` or the first level above it that can handle them."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return
        level = np.asarray(level, dtype=np.int8)
        if level.shape != rows.shape:
            level = np.full(rows.shape, level, dtype=np.int8)
        h = self.handlers
        place(rows, level, t, self.problems.cols, h.residence(), h.success_tables(), self.climb())

    def _handle(self, t: int) -> None:
        pool, h = self.problems, self.handlers
        # each handler's queue within its capacity, then each attempt's chance of success and its draw
        # (rng.random(attempts) < p); the effort is booked to the handlers (h.spent)
        solved = handle_day(self.streams.handle("handle"), pool.cols, h.level_offset, self.priority_days,
                            self.world.res_compound, h.effort, h.spare(t), h.work, h.success_tables(),
                            self.flag_success, t, (self.deadline, self.threat_window, self.threat_effort), h.spent)
        self.effort_used = h.spent
        self.resolve(solved, t)

    def resolve(self, rows: np.ndarray, t: int) -> None:
        """Close pool rows as resolved today at their current level, spending no effort (policies: ``resolve_by``)."""
        pool, led = self.problems, self.ledger
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return
        led.extend_days(t)  # a run stepped past its planned length
        # days to resolution count from arising; the resident's judgement from the report (waited);
        # the rows are closed (status -1) and leave the pool at the end of the escalate phase
        perf_table = self._perf.get(t, self.expected_wait)
        res, perf, contacts = resolve_rows(rows, t, pool.cols, self.world.res_ctype, perf_table, led.counts(),
                                           self.recorder.load.waits)
        if res.size:
            led.contacts_resolved += contacts
            self._closed_res.append(res)
            self._closed_perf.append(perf)

    def resolve_by(self, rows: np.ndarray, flag: str, t: int, level: int = COMMUNITY,
                   budget: float | None = None) -> np.ndarray:
        """Close queued pool rows as solved through a policy's own channel (projects, meetings).

        The problems are credited to ``level`` (by default the community, which coordinates
        alliance, project and deliberation work) and flagged ``flag``, only where their effort is
        there (``Handlers.take_rows``: the handler's effort left today, or the policy's ``budget``;
        ``math.inf``: the policy's own people already spent the effort, counted in its own hours).
        Returns the rows closed.
        """
        pool = self.problems
        rows = rows[pool.status[rows] == QUEUED]
        if rows.size:
            rows, handler = self.handlers.take_rows(rows, level, t, budget)
            pool.level[rows] = level
            pool.handler[rows] = handler
            pool.flags[rows] |= FLAG_BIT[flag]
            self.resolve(rows, t)
        return rows

    def escalation_rules(self) -> Fields:
        """When problems move up, residents contact again, and give up (``EscalationRules``, as of today)."""
        p = self.scenario.problems
        return (self.dur_escalate, self.rate_escalate, self.deadline, NEXT_LEVEL, self.expected_wait, p.rate_recontact,
                p.ratio_full_recontact, self.represented_flags, p.recontact_represented, self.patience,
                self.rate_abandon, p.rate_abandon_latent)

    def _escalate(self, t: int) -> None:
        pool, led, h = self.problems, self.ledger, self.handlers
        # queued problems wait since the report, latent ones since arising (docs/model.md §7.6); stuck
        # rows are placed at their next level (as _place), then closed rows leave the pool
        # u = rng.random((3, pool.n)) of the escalate stream, stepped in the kernel
        n_up, n_again, self._overdue_res, quit_res, lost_res, n_rows = escalate_day(
            t, self.streams.pcg("escalate"), pool.cols, self.escalation_rules(), led.counts(), h.residence(),
            h.success_tables(), self.climb())
        led.escalations += n_up
        led.repeat_contacts += n_again
        if quit_res.size:
            self._closed_res.append(quit_res)
            self._closed_perf.append(np.zeros(quit_res.size, dtype=np.float32))
        if lost_res.size:
            self._lost_res.append(lost_res)
        pool.set_rows(n_rows)

    def _judge(self, t: int) -> None:
        closed, perfs = self._closed_res, self._closed_perf
        ids = closed[0] if len(closed) == 1 else np.concatenate(closed) if closed else _NO_IDS
        perf = perfs[0] if len(perfs) == 1 else np.concatenate(perfs) if perfs else _NO_PERF
        lost = np.concatenate(self._lost_res) if self._lost_res else _NO_IDS
        # outcomes closed after this phase (by late policy hooks) are judged tomorrow
        self._closed_res, self._closed_perf, self._lost_res = [], [], []
        # today's outcomes move efficacy and leave grievances; the day's experience (open problems
        # overdue since arising, grievances) and the neighbours' move perceived performance and expectation
        r = self.residents
        judge_day(r.state(), ids.astype(np.int32, copy=False), perf.astype(np.float32, copy=False),
                  lost.astype(np.int32, copy=False), t, self.problems.cols, r.ties, self._judgement)

    def _participate(self, t: int) -> None:
        w, party = self.world, self.party
        # events per community, their attendees, and today's volunteers, drawn in the kernel from the
        # participate stream; attendees and volunteers take part, then satisfaction and trust settle
        events, n_vols = participate_drawn(self.streams.handle("participate"), self.communities.event_rate,
                                           float(self.scenario.community.p_event_reach), w.community_start,
                                           w.community_size, (party.volunteer_rate, party.volunteer_mult),
                                           self.residents.state(), self._influence)
        self.events_today = int(events)
        self.volunteer_hours += n_vols * self.scenario.residents.dur_volunteer_hours
        decide_month(self, t)  # on a month's last day volunteers and property firms decide for the next (§7.13)

    def cost_per_day(self) -> float:
        """Yuan today: the sum of the day's cost items (:func:`sim.core.accounting.cost_items`)."""
        return sum(cost_items(self).values())

    def _record(self, t: int) -> None:
        by_level = self.handlers.spent_by_level()  # effort spent and capacity by level, for both
        self.cost_yuan += book_day(self, by_level)  # the day's items into the ledger
        self.recorder.record(t, by_level)

    # ---- running -------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance one day: every phase in order, the core submodel then the policies' hooks.

        On the reform day the policies are set up first. Phases and hooks are given the :attr:`clock`.
        """
        if self._waiting and self.t == self.reform_day:
            self._start_reform()
        t = self.t + self.dur_warmup
        for core, hooks in self._schedule:
            if core is not None:
                core(t)
            for hook in hooks:
                hook(self, t)
        if self._late_hooks and self.problems.n:
            self.problems.drop_closed()  # rows closed by a hook after the escalate phase
        self.t += 1

    def run(self, n_steps: int | None = None, progress: bool | None = None) -> Results:
        """Run ``n_steps`` days (default: the scenario's); ``progress``: a tqdm bar (default: runs of seconds)."""
        n = self.scenario.run.n_steps if n_steps is None else int(n_steps)
        if n < 1:
            raise InputError(f"n_steps must be >= 1, got {n}")
        if self.t + n > self.recorder.n_steps:
            self.recorder.extend(self.t + n)
            self.ledger.extend_days(self.clock + n)
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        show = progress if progress is not None else self.world.n_residents * n > 10_000_000
        bar = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, unit="day", desc=self.scenario.name, leave=False, disable=None)  # off when not a terminal
        for _ in range(n):
            self.step()
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        run_s = time.perf_counter() - t0
        return self.recorder.results(started=started, finished=datetime.now(UTC), run_s=run_s)

    def summary(self) -> dict[str, float]:
        """End-of-run (or so-far) summary outcomes."""
        return self.recorder.summary()

    def check_invariants(self) -> None:
        """Raise AssertionError if an accounting identity or a bound is violated (:mod:`sim.core.invariants`)."""
        check_invariants(self)

def warm_up() -> float:
    """Load the compiled kernels (compiling them on a fresh install); returns the seconds it took (~0.35 s cached).

    A one-compound model with every built-in policy, 60 days: every kernel a run calls runs, so a run
    after it compiles nothing (a test holds it). Workers and benchmarks call it: the one-off is not timed.
    """
    t0 = time.perf_counter()
    # every other day recorded: both the recorded day's kernel and the unrecorded day's run
    small = Scenario(name="warm_up").with_overrides({"world.n_compounds_per_community": 1, "run.n_steps": 60,
                                                     "run.record_every": 2})
    scenario = Scenario.from_dict({**small.to_dict(), "policies": {name: {} for name in policy_registry.builtin()}})
    run_scenario(scenario, seed=0, progress=False)
    return time.perf_counter() - t0


def run_scenario(scenario: Scenario, seed: int | None = None, n_steps: int | None = None,
                 progress: bool | None = None) -> Results:
    """Build a model and run it: the one-call API. The model is freed at once (its reference cycles broken)."""
    model = Model(scenario, seed=seed)
    res = model.run(n_steps, progress=progress)
    model.__dict__.clear()
    return res


__all__ = ["Model", "run_scenario", "warm_up"]
