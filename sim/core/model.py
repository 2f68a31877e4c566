"""The model: owns all state and runs the phases of each day in the order of :mod:`sim.core.phases`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import networkx as nx
import numpy as np

from sim import policies as policy_registry
from sim.agents.cobuilding_unit import CoBuildingUnits
from sim.agents.community import Communities, Grids
from sim.agents.department import Departments
from sim.agents.party_member import PartyMembers, p_found_by_links
from sim.agents.property_firm import PropertyFirms
from sim.agents.resident import Residents, performance, volunteer_candidates
from sim.agents.street_office import StreetOffices
from sim.config.params import DAYS_PER_MONTH
from sim.config.taxonomy import (
    ADMIN_CATEGORY,
    COMMUNITY,
    DEPARTMENT,
    FLAG_BIT,
    LATENT,
    N_CATEGORIES,
    N_LEVELS,
    PROPERTY_CATEGORY,
    QUEUED,
)
from sim.core import kernels
from sim.core.handlers import HandlerTables
from sim.core.phases import PHASES, Policy
from sim.core.problems import (
    _CHAINS,
    NEXT_LEVEL,
    Ledger,
    ProblemPool,
    arrival_table,
    draw_arrival_uniforms,
)
from sim.core.results import Recorder, Results
from sim.core.rng import Streams, binomial_each, poisson_list
from sim.core.scenario import Scenario
from sim.core.world import World, generate_world, to_networkx

#: "no outcomes today", for the judge kernel
_NO_IDS = np.empty(0, dtype=np.int32)
_NO_PERF = np.empty(0, dtype=np.float32)


class Model(HandlerTables):
    """One simulated area under one scenario and seed.

    >>> from sim import Model, load_scenario
    >>> m = Model(load_scenario("scenarios/baseline.toml"), seed=1)   # doctest: +SKIP
    >>> res = m.run(365)                                              # doctest: +SKIP
    >>> res.summary["resolution_rate"]                                # doctest: +SKIP
    """

    def __init__(self, scenario: Scenario, seed: int | None = None) -> None:
        t0 = time.perf_counter()
        self.scenario = scenario
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = scenario.run.seed if seed is None else int(seed)
        self.streams = Streams(self.seed)
        self.t = 0
        sc = scenario
        self.world: World = generate_world(sc.world, self.streams.get("world"))
        w = self.world
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
        self.pay_grid_worker = sc.costs.pay_grid_worker

        h = sc.handling
        self.authority = h.authority.matrix().astype(np.float32)  # (levels, categories)
        self.severity_mult = h.severity_mult.array(np.float32)
        self.effort = h.effort.array(np.float32)
        self.entry_level = h.entry_level.codes()
        #: where administrative matters go first (None: by severity like the rest)
        self.admin_entry_level: int | None = DEPARTMENT if h.admin_to_department else None
        self.top_level = ("grid", "property", "community", "street", "department", "city").index(h.top_level)
        self.dur_escalate = h.dur_escalate.array(np.float32)
        self.rate_escalate = np.full(N_LEVELS, h.rate_escalate, dtype=np.float32)
        #: days at a level after which a problem is escalated for certain (the whistle's deadlines)
        self.deadline = np.full(N_LEVELS, np.inf, dtype=np.float32)
        self.rate_abandon = sc.problems.rate_abandon
        #: per-severity parameter vectors used every day (the scenario is frozen)
        self.expected_wait = sc.residents.dur_expected_wait.array(np.float32)
        self.patience = sc.problems.dur_patience.array(np.float32)
        self.rate_self_report = sc.problems.rate_self_report.array()
        #: effort per handler per day added by policies (see ``add_capacity``)
        self.extra_capacity: dict[int, np.ndarray | None] = {lvl: None for lvl in range(N_LEVELS)}
        #: success multipliers per (level, category), set by policies through ``boost``; they
        #: survive re-gridding, unlike the per-handler multipliers in ``mult``
        self.level_cat_mult = np.ones((N_LEVELS, N_CATEGORIES), dtype=np.float32)
        self.mult: dict[int, np.ndarray] = {}
        # prevention: chance a problem of (compound, category) never arises (policies raise it)
        self.p_prevent = np.full((w.n_compounds, N_CATEGORIES), sc.problems.p_prevented_base, dtype=np.float32)
        # queue priority: problems of a compound are served as if they had waited this many days more
        self.priority_days = np.zeros(w.n_compounds, dtype=np.int32)
        #: success multiplier for problems carrying each flag bit (taxonomy.FLAGS order)
        self.flag_success = np.ones(8, dtype=np.float32)
        #: problems carrying any of these flag bits never need repeat contacts (someone acts for the resident)
        self.no_recontact_flags = 0
        #: outcome counters kept by policies, reported in the summary as ``<policy>_<name>``
        self.policy_counters: dict[str, float] = {}

        p = sc.problems
        self.arrivals = arrival_table(
            w.res_ctype, w.res_group, p.rate_arise, p.category_weights.matrix(), p.category_mult.matrix(),
            p.severity_weights.matrix(),
        )
        self.problems = ProblemPool(capacity=max(1024, int(w.n_residents * p.rate_arise * 60)))
        self.ledger = Ledger(n_days=sc.run.n_steps + 1)
        self.volunteer_hours = 0.0
        self.cost_yuan = 0.0
        self.events_today = 0
        self.staff_used = np.zeros(w.n_communities)
        self.grid_used = np.zeros(self.grids.n)
        self._closed_res: list[np.ndarray] = []
        self._closed_perf: list[np.ndarray] = []
        self._overdue_res = np.empty(0, dtype=np.int32)

        self.policies: list[Policy] = []
        for spec in sc.policies:
            cls = policy_registry.get(spec.name)
            self.policies.append(cls(spec.params, self))
        self.rebuild_handlers()
        for pol in self.policies:
            pol.setup(self)
        self.rebuild_handlers()
        self._hooks: dict[str, list[Callable[[Model, int], None]]] = {ph: [] for ph in PHASES}
        for pol in self.policies:
            for phase, hook in pol.hooks().items():
                self._hooks[phase].append(hook)  # type: ignore[arg-type]
        self.recorder = Recorder(self, sc.run.n_steps, sc.run.record_every)
        self.setup_s = time.perf_counter() - t0
        self._graph: nx.Graph | None = None
        self._p_links_table: np.ndarray | None = None
        self._perf_table: np.ndarray | None = None
        self._perf_key = b""
        #: the day's schedule: each phase's core submodel (or None) and the policies' hooks
        self._schedule = [(getattr(self, f"_{ph}", None), tuple(self._hooks[ph])) for ph in PHASES]
        #: hooks that run after the escalate phase's compaction of the pool (its own hooks and later ones)
        self._late_hooks = any(self._hooks[ph] for ph in PHASES[PHASES.index("escalate"):])

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

    @property
    def graph(self) -> nx.Graph:
        """The community graph as networkx (built on first access; costly at district scale)."""
        if self._graph is None:
            self._graph = to_networkx(self.world, self.grids.household_grid)
        return self._graph

    # ---- phases -------------------------------------------------------------------------------
    def _arise(self, t: int) -> None:
        tab, led, w = self.arrivals, self.ledger, self.world
        k, u = draw_arrival_uniforms(tab, self.streams.get("arrival"))
        # draw_arrivals, then a problem is prevented when its fourth uniform < p_prevent[compound, category]
        pool = self.problems
        a = pool.reserve(u.shape[1])
        n_new, n_prevented = kernels.arise_into(
            k, u, tab.order, tab.start, tab.size, tab.cat_cum, tab.sev_cum, self.p_prevent, w.res_compound,
            w.res_ctype, led.arisen, led.arisen_ctype, t, pool.n, a["res"], a["cat"], a["sev"], a["status"],
            a["level"], a["handler"], a["t_arise"], a["t_found"], a["t_level"], a["n_contacts"], a["finder"], a["flags"],
        )
        led.prevented += n_prevented
        pool.set_rows(pool.n + n_new)  # appended as latent, unrouted problems

    def _find(self, t: int) -> None:
        pool, w, sc, g = self.problems, self.world, self.scenario, self.grids
        u = self.streams.get("find").random((3, kernels.count_equal(pool.status, LATENT)))
        # one finder per problem, proactive ones first: grid visit, then party link, then self-report
        # (vectorised definition: Grids.visited, p_found_by_links, p_self_report); then the grid
        # workers go round (Grids.advance) whether or not there was anything to find
        kernels.find_latent(
            t, u, pool.status, pool.res, pool.sev, pool.t_found, pool.n_contacts, pool.finder, w.res_household,
            g.household_grid, g.household_pos, g.visit_ptr, g.grid_size, g.n_workers,
            np.float32(self.visits_per_worker_per_month / DAYS_PER_MONTH), sc.community.p_find_on_visit,
            self.party.n_links, self._p_by_links(), self.rate_self_report, self.residents.trust,
            np.float32(sc.problems.report_trust_slope), self.communities.report_mult, w.res_community,
        )

    def _p_by_links(self) -> np.ndarray:
        """``p_found_by_links`` for 0, 1, ... links, up to the most any resident has (cached)."""
        n_max = int(kernels.max_value(self.party.n_links)) if self.party.n_links.size else 0
        table = self._p_links_table
        if table is None or table.size != n_max + 1:
            table = p_found_by_links(np.arange(n_max + 1), self.scenario.party)
            self._p_links_table = table
        return table

    def mark_found(self, rows: np.ndarray, finder: int | np.ndarray, t: int) -> None:
        """Mark latent problems at pool rows ``rows`` as found today by ``finder`` (policies use it).

        Rows already found are left alone; found problems are routed in the route phase.
        """
        if rows.size == 0:
            return
        pool = self.problems
        fresh = (pool.status[rows] == LATENT) & (pool.t_found[rows] < 0)
        if isinstance(finder, np.ndarray):
            finder = np.broadcast_to(finder.astype(np.int8, copy=False), rows.shape)[fresh]
        else:
            finder = np.int8(finder)
        rows = rows[fresh]
        pool.finder[rows] = finder
        pool.t_found[rows] = t
        pool.n_contacts[rows] = 1

    def _route(self, t: int) -> None:
        pool = self.problems
        admin = -1 if self.admin_entry_level is None else self.admin_entry_level
        # latent rows marked found (today, or late yesterday) are counted, queued and get their entry level
        new, level = kernels.route_found(
            pool.status, pool.t_found, pool.finder, self.ledger.found_by, pool.res, pool.cat, pool.sev,
            self.entry_level, self.compound_firm, self.world.res_compound, PROPERTY_CATEGORY, ADMIN_CATEGORY, admin,
        )
        if new.size == 0:
            return
        self.ledger.found += new.size
        self._place(new, level, t)

    def _place(self, rows: np.ndarray, level: np.ndarray, t: int) -> None:
        """Put pool rows at ``level`` or the first level above it that can handle them
        (vectorised definition: ``level_handlers``, ``p_success`` and :func:`~sim.core.problems.climb`)."""
        pool, w = self.problems, self.world
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return
        level = np.asarray(level, dtype=np.int8)
        if level.shape != rows.shape:
            level = np.full(rows.shape, level, dtype=np.int8)
        kernels.place(
            rows, level, t, pool.res, pool.cat, pool.sev, pool.level, pool.handler, pool.t_level, w.res_household,
            self.grids.household_grid, self.grids.n_workers, w.res_compound, self.compound_firm, w.res_community,
            w.res_street, *self._success_tables(), np.float32(self.scenario.handling.p_refer_below),
            _CHAINS[self.top_level], self.top_level,
        )

    def _handle(self, t: int) -> None:
        pool = self.problems
        # vectorised definition: allocate() over handler keys, then p_success() and the flags' multipliers
        a, p, self._used = kernels.attempts(
            pool.status, pool.res, pool.cat, pool.sev, pool.level, pool.handler, pool.t_level, pool.flags,
            self.level_offset, self.priority_days, self.world.res_compound, self.effort, self.capacity(),
            *self._success_tables(), self.flag_success,
        )
        if a.size == 0:
            return
        ok = self.streams.get("handle").random(a.size) < p
        self.resolve(a[ok], t)

    def resolve(self, rows: np.ndarray, t: int) -> None:
        """Close pool rows as resolved today at their current level (policies use it too)."""
        pool, led = self.problems, self.ledger
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return
        if t >= led.days_hist.shape[1]:  # a run stepped past its planned length
            led.days_hist = np.pad(led.days_hist, ((0, 0), (0, t + 1 - led.days_hist.shape[1])))
        # days to resolution count from arising; the resident's judgement from the report (waited);
        # the rows are closed (status -1) and leave the pool at the end of the escalate phase
        res, perf, contacts = kernels.resolve_rows(
            rows, t, pool.status, pool.res, pool.cat, pool.sev, pool.level, pool.t_arise, pool.t_found,
            pool.n_contacts, pool.flags, self.world.res_ctype, self._performance_table(t), led.resolved,
            led.resolved_level, led.resolved_ctype, led.days_hist, led.flag_resolved,
        )
        if res.size:
            led.contacts_resolved += contacts
            self._closed_res.append(res)
            self._closed_perf.append(perf)

    def _performance_table(self, t: int) -> np.ndarray:
        """``performance(days waited, expected wait)`` for every severity and 0..t days waited
        (computed by :func:`~sim.agents.resident.performance` once, again if expectations change)."""
        table, key = self._perf_table, self.expected_wait.tobytes()
        if table is None or table.shape[1] <= t or key != self._perf_key:
            width = max(t + 1, self.scenario.run.n_steps + 1, 0 if table is None else 2 * table.shape[1])
            waited = np.arange(width, dtype=np.float32)[None, :]
            table = np.ascontiguousarray(performance(waited, self.expected_wait[:, None]))
            self._perf_table, self._perf_key = table, key
        return table

    def resolve_by(self, rows: np.ndarray, flag: str, t: int, level: int = COMMUNITY) -> np.ndarray:
        """Close queued pool rows as solved through a policy's own channel (projects, meetings).

        The problems are credited to ``level`` (by default the community, which coordinates
        alliance, project and deliberation work) and flagged ``flag``. Returns the rows closed.
        """
        pool = self.problems
        rows = rows[pool.status[rows] == QUEUED]
        if rows.size:
            pool.level[rows] = level
            pool.handler[rows] = self.handler_of(np.full(rows.size, level, dtype=np.int8), pool.res[rows], pool.cat[rows])
            pool.flags[rows] |= FLAG_BIT[flag]
            self.resolve(rows, t)
        return rows

    def _escalate(self, t: int) -> None:
        pool, sc, led = self.problems, self.scenario, self.ledger
        w = self.world
        u = self.streams.get("escalate").random((3, pool.n))
        # queued problems wait since the report, latent ones since arising (docs/model.md §7.6); stuck
        # rows are placed at their next level (as _place), then closed rows leave the pool
        n_up, n_again, self._overdue_res, quit_res, n_rows = kernels.escalate_day(
            t, u, pool.status, pool.res, pool.cat, pool.sev, pool.level, pool.handler, pool.t_arise, pool.t_found,
            pool.t_level, pool.n_contacts, pool.finder, pool.flags, self.dur_escalate, self.rate_escalate,
            self.deadline, NEXT_LEVEL, self.top_level, self.expected_wait, sc.problems.rate_recontact,
            self.no_recontact_flags, self.patience, self.rate_abandon, sc.problems.rate_abandon_latent,
            led.abandoned, led.flag_abandoned, w.res_household, self.grids.household_grid, self.grids.n_workers,
            w.res_compound, self.compound_firm, w.res_community, w.res_street, *self._success_tables(),
            np.float32(sc.handling.p_refer_below), _CHAINS[self.top_level],
        )
        led.escalations += n_up
        led.repeat_contacts += n_again
        if quit_res.size:
            self._closed_res.append(quit_res)
            self._closed_perf.append(np.zeros(quit_res.size, dtype=np.float32))
        pool.set_rows(n_rows)

    def _judge(self, t: int) -> None:
        p, r, f32 = self.scenario.residents, self.residents, np.float32
        closed, perf = self._closed_res, self._closed_perf
        ids = closed[0] if len(closed) == 1 else np.concatenate(closed) if closed else _NO_IDS
        perf = perf[0] if len(perf) == 1 else np.concatenate(perf) if perf else _NO_PERF
        # outcomes closed after this phase (by late policy hooks) are judged tomorrow
        self._closed_res, self._closed_perf = [], []
        # judge_outcomes, then erode_waiting
        kernels.judge_day(
            r.satisfaction, r.expectation, r.trust, ids.astype(np.int32, copy=False), perf.astype(f32, copy=False),
            f32(p.beta_disconfirm), f32(p.alpha_outcome), f32(p.alpha_expectation), f32(p.alpha_trust),
            self._overdue_res.astype(np.int32, copy=False), float(p.rate_wait_erosion),
            float(p.trust_erosion_share * p.rate_wait_erosion), r.scratch(),
        )

    def _participate(self, t: int) -> None:
        rng = self.streams.get("participate")
        w, params = self.world, self.scenario.residents
        events = poisson_list(rng, self.communities.event_rate)
        self.events_today = sum(events)
        p_reach = self.scenario.community.p_event_reach
        # reach = min(events * p_event_reach, 1) per community; attendance Binomial(size, reach)
        n_att = binomial_each(rng, w.community_size, np.array([min(e * p_reach, 1.0) for e in events]))
        u_att = rng.random(int(n_att.sum()))
        r, party, f32 = self.residents, self.party, np.float32
        top, cand, u_vol = volunteer_candidates(r.n, rng, party.volunteer_rate, party.volunteer_mult)
        adj = r._adj
        # attendees, draw_volunteers, participate(attendees + volunteers), social_influence
        n_vols = kernels.participate_day(
            n_att, w.community_start, w.community_size, u_att, cand, u_vol, top, party.volunteer_rate,
            party.volunteer_mult, r.satisfaction, r.trust, r.volunteer_turns, float(params.participation_satisfaction),
            float(params.participation_trust), r.scratch(), kernels.unsigned(adj.indptr), kernels.unsigned(adj.indices),
            f32(params.rate_social), f32(params.rate_drift), f32(params.satisfaction_init), f32(params.trust_init),
        )
        self.volunteer_hours += n_vols * params.dur_volunteer_hours

    def cost_per_day(self) -> float:
        """Yuan per day: grid workers' and community staff's pay, events, and every policy's cost."""
        c = self.scenario.costs
        workers, staff = kernels.sum32(self.grids.n_workers, self.communities.n_staff)  # as ndarray.sum()
        pay = (workers * self.pay_grid_worker + staff * c.pay_community_staff) / DAYS_PER_MONTH
        return pay + self.events_today * c.cost_event + (sum(p.cost_per_day(self) for p in self.policies)
                                                         if self.policies else 0)

    def _record(self, t: int) -> None:
        self.cost_yuan += self.cost_per_day()
        self.recorder.record(t)

    # ---- running -------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance one day: every phase in order, the core submodel then the policies' hooks."""
        t = self.t
        for core, hooks in self._schedule:
            if core is not None:
                core(t)
            for hook in hooks:
                hook(self, t)
        if self._late_hooks and self.problems.n:
            self.problems.drop_closed()  # rows closed by a hook after the escalate phase
        self.t += 1

    def run(self, n_steps: int | None = None, progress: bool | None = None) -> Results:
        """Run ``n_steps`` days (default: the scenario's) and return the results.

        ``progress`` shows a tqdm bar; by default only for runs expected to take over a few seconds.
        """
        n = self.scenario.run.n_steps if n_steps is None else int(n_steps)
        if n < 1:
            raise ValueError(f"n_steps must be >= 1, got {n}")
        if self.t + n > self.recorder.n_steps:
            self.recorder.extend(self.t + n)
            self.ledger.days_hist = np.pad(self.ledger.days_hist, ((0, 0), (0, self.t + n + 1 - self.ledger.days_hist.shape[1])))
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
        """Raise AssertionError if an accounting identity or a bound is violated."""
        led, pool, r = self.ledger, self.problems, self.residents
        arisen, resolved, abandoned = int(led.arisen.sum()), int(led.resolved.sum()), int(led.abandoned.sum())
        assert arisen == resolved + abandoned + pool.n, (arisen, resolved, abandoned, pool.n)
        assert int(led.resolved_level.sum()) == resolved
        assert int(led.days_hist.sum()) == resolved
        assert led.found >= resolved and led.found <= arisen
        for name in ("satisfaction", "trust", "expectation"):
            a = getattr(r, name)
            assert a.min() >= 0.0 and a.max() <= 1.0, name
        assert np.all(pool.status >= 0)
        assert np.all((pool.level >= 0) == (pool.status == QUEUED))
        assert np.all(pool.level <= self.top_level)


def warm_up() -> float:
    """Load the compiled kernels (compiling them on a fresh install) by running a one-compound
    model for two days; returns the seconds it took. Worker processes and benchmarks call it so
    that the one-off cost is not counted in a run."""
    t0 = time.perf_counter()
    small = {"world.n_communities_per_street": 1, "world.n_compounds_per_community": 1, "run.n_steps": 2}
    Model(Scenario().with_overrides(small), seed=0).run(2, progress=False)
    return time.perf_counter() - t0


def run_scenario(scenario: Scenario, seed: int | None = None, n_steps: int | None = None,
                 progress: bool | None = None) -> Results:
    """Build a model and run it: the one-call API."""
    return Model(scenario, seed=seed).run(n_steps, progress=progress)


__all__ = ["Model", "run_scenario", "warm_up"]
