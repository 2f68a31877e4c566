"""street_empowerment and whistle (002): screening, meetings that convene departments, the street's assessment, the deadline threat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from paired import REPORTING_ALL, SMALL_WORLD, paired_effects

from sim import Model, Scenario
from sim.config.taxonomy import CITY, COMMUNITY, DEPARTMENT, FLAG_BIT, QUEUED, STREET
from sim.core.kernels import handling
from sim.core.scenario import load_scenario
from sim.errors import ParameterError

BASE = Scenario().with_overrides(SMALL_WORLD)
STREET_EMP = BASE.with_overrides({"policies.street_empowerment": {}})
WHISTLE = BASE.with_overrides({"policies.whistle": {}})
BIG = ["abandonment_rate_big", "days_to_resolution_median_big", "abandonment_rate", "share_resolved_street"]


def test_street_empowerment_setup_moves_authority_and_capacity() -> None:
    base, emp = Model(BASE, seed=1), Model(STREET_EMP, seed=1)
    assert np.all(emp.handlers.authority[STREET] >= base.handlers.authority[STREET])
    assert emp.handlers.authority[STREET].sum() > base.handlers.authority[STREET].sum()
    # capacity follows the task: what departments lose, streets gain
    lost = base.departments.capacity.sum() - emp.departments.capacity.sum()
    gained = emp.streets.capacity.sum() - base.streets.capacity.sum()
    assert lost > 0 and gained == pytest.approx(lost, rel=1e-5)
    assert emp.admin_entry_level == STREET
    assert np.all(emp.communities.admin_tasks < base.communities.admin_tasks)


def test_street_empowerment_cuts_abandonment_and_delay_of_big_problems() -> None:
    eff = paired_effects(BASE, STREET_EMP, BIG, seeds=range(1, 6), n_steps=365)
    assert eff["abandonment_rate_big"].z < -2, eff["abandonment_rate_big"]
    assert eff["days_to_resolution_median_big"].diff < 0, eff["days_to_resolution_median_big"]
    assert eff["share_resolved_street"].z > 3, eff["share_resolved_street"]


def test_whistle_setup() -> None:
    m = Model(WHISTLE, seed=1)
    assert m.top_level == CITY
    assert np.isfinite(m.deadline[[2, 3, 4]]).all()
    assert np.all(m.threat_effort[[2, 3, 4]] == 1.5) and np.all(m.threat_window[[2, 3, 4]] == 3.0)
    assert m.handlers.extra_capacity[DEPARTMENT] is None  # no free capacity: departments' time goes to meetings


def test_whistle_cuts_abandonment_and_delay_of_big_problems() -> None:
    eff = paired_effects(BASE, WHISTLE, BIG + ["share_resolved_city"], seeds=range(1, 6), n_steps=365)
    assert eff["abandonment_rate_big"].z < -2, eff["abandonment_rate_big"]
    assert eff["days_to_resolution_median_big"].z < -2, eff["days_to_resolution_median_big"]
    assert eff["share_resolved_city"].variant_mean > 0 == eff["share_resolved_city"].base_mean


def test_whistle_ledger_counts_matters_and_problems() -> None:
    m = Model(WHISTLE, seed=2)
    m.run(200, progress=False)
    s = m.summary()
    assert s["whistle_collected"] == s["whistle_entered"] + s["whistle_screened_out"] > 0
    assert s["whistle_resolved"] + s["whistle_lapsed"] <= s["whistle_entered"]
    assert s["whistle_problems_candidate"] == (s["whistle_problems_entered"] + s["whistle_problems_screened_out"]
                                               + s["whistle_problems_not_compiled"])
    assert 0 < s["flag_whistle_resolved"] <= s["whistle_problems_entered"]
    m.check_invariants()


def _policy(m: Model, name: str) -> Any:
    return next(p for p in m.policies if p.name == name)


def _busy(scenario: Scenario, days: int, seed: int = 3) -> Model:
    m = Model(scenario, seed=seed)
    m.run(days, progress=False)
    return m


def _unwhistle(m: Model) -> None:
    """Clear the whistle flags and the ledger (a test puts its own matters before the meeting)."""
    pool = m.problems
    pool.flags[:pool.n] &= np.uint8(~FLAG_BIT["whistle"] & 0xFF)
    _policy(m, "whistle")._open[:] = False


def test_matters_are_compiled_by_community_and_kind_and_screened_by_the_rule() -> None:
    """The queued problems put before the joint meeting: per community the 2 kinds with most problems (then the
    gravest) are compiled into matters; a matter enters iff its gravest problem is >= big, most of its problems
    exceed the community's power (its chance on them < 0.37) and it affects >= 4 per 1,000 of the community's
    residents; all and only the entered matters' problems are flagged.

    Seed 3 after 120 days: queued problems of 2 communities, 4 matters compiled, some entered."""
    m = _busy(WHISTLE.with_overrides({"policies.whistle.n_compile": 2.0, "policies.whistle.n_affected_per_1k": 4.0}),
              120)
    pol, pool, h = _policy(m, "whistle"), m.problems, m.handlers
    _unwhistle(m)
    rows = np.flatnonzero(pool.status[:pool.n] == QUEUED)
    before = {k: m.summary().get(f"whistle_{k}", 0.0) for k in ("collected", "entered", "problems_entered")}
    pol._screen(m, rows)
    comm, cat, sev = m.world.res_community[pool.res[rows]], pool.cat[rows], pool.sev[rows]
    p_comm = h.authority[COMMUNITY, cat] * h.severity_mult[sev] * h.level_cat_mult[COMMUNITY, cat]
    flagged = (pool.flags[rows] & FLAG_BIT["whistle"]) != 0
    n_compiled = n_entered = 0
    for c in np.unique(comm):
        kinds = sorted((-int(((comm == c) & (cat == k)).sum()), -int(sev[(comm == c) & (cat == k)].max()), int(k))
                       for k in np.unique(cat[comm == c]))
        for _, _, k in kinds[:2]:
            mine = (comm == c) & (cat == k)
            n_compiled += 1
            enters = bool(sev[mine].max() >= 2 and (p_comm[mine] < 0.37).mean() >= 0.5
                          and mine.sum() * 1000 >= 4.0 * m.world.community_size[c])
            n_entered += enters
            assert np.all(flagged[mine] == enters)  # a matter's problems enter together
            assert pol._open[c * 8 + k] == enters and (not enters or pol._joined[c * 8 + k] == mine.sum())
    assert n_compiled == 2 * m.world.n_communities and 0 < n_entered
    assert flagged.sum() == pol._joined[pol._open].sum()  # nothing outside the entered matters
    after = m.summary()
    assert after["whistle_collected"] - before["collected"] == n_compiled
    assert after["whistle_entered"] - before["entered"] == n_entered
    assert after["whistle_problems_entered"] - before["problems_entered"] == flagged.sum()


def test_a_matter_is_resolved_once_half_its_problems_are_and_closes_when_none_is_open() -> None:
    """The ledger: matter a has 2 of its 4 problems resolved (resolved at once, counted once, closed when its last
    problem is resolved); matter b has 1 of 4 resolved and its others leave unresolved (lapsed when it closes)."""
    m = _busy(WHISTLE, 120)
    pol, pool = _policy(m, "whistle"), m.problems
    _unwhistle(m)
    rows = np.flatnonzero(pool.status[:pool.n] == QUEUED)
    cells, n = np.unique(pol._cells(m, rows), return_counts=True)
    a, b = cells[n >= 4][:2]
    cell = pol._cells(m, rows)
    ra, rb = rows[cell == a][:4], rows[cell == b][:4]
    pol._open[[a, b]] = True
    pol._joined[[a, b]] = 4
    pol._solved[[a, b]] = 0
    pool.flags[np.concatenate([ra, rb])] |= FLAG_BIT["whistle"]
    before = {k: m.summary().get(f"whistle_{k}", 0.0) for k in ("resolved", "lapsed")}
    m.resolve(ra[:2], m.clock)
    m.resolve(rb[:1], m.clock)
    pol.on_handle(m, m.clock)
    s = m.summary()
    assert pol._open[a] and pol._open[b] and pol._solved[a] == 2 and pol._solved[b] == 1
    assert s["whistle_resolved"] - before["resolved"] == 1 and pol._done[a] and not pol._done[b]
    pool.drop_closed()
    left = pol._cells(m, np.arange(pool.n))
    whistled = (pool.flags[:pool.n] & FLAG_BIT["whistle"]) != 0
    m.resolve(np.flatnonzero(whistled & (left == a)), m.clock)  # the rest of a resolved
    pool.flags[np.flatnonzero(whistled & (left == b))] &= np.uint8(~FLAG_BIT["whistle"] & 0xFF)  # b's others gone
    pol.on_handle(m, m.clock)
    s = m.summary()
    assert not pol._open[a] and not pol._open[b] and pol._solved[a] == 4
    assert s["whistle_resolved"] - before["resolved"] == 1 and s["whistle_lapsed"] - before["lapsed"] == 1


def test_meetings_take_departments_capacity_on_meeting_days() -> None:
    """A street meeting day: each convened department's capacity that day falls by attendance + the effort worked.

    Seed 3: on the first street meeting with whistled problems several departments attend (0.5 effort each)
    and work ~1-3 effort of problems; the next day their capacity is back (to float32 rounding).
    """
    m = Model(WHISTLE, seed=3)
    pol = _policy(m, "whistle")
    dept = slice(int(m.handlers.level_offset[DEPARTMENT]), int(m.handlers.level_offset[DEPARTMENT]) + 8)
    full = m.handlers.capacity()[dept].copy()
    while True:
        m.step()
        if pol._held.any():
            break
        assert m.t < 200
    held = pol._held.astype(np.float64)
    today = m.handlers.capacity()[dept]
    np.testing.assert_allclose(full - today, held, rtol=1e-5, atol=1e-5)
    assert held.max() >= pol.params.effort_attend and pol.attended_today > 0
    assert m.summary()["whistle_meetings"] >= pol.attended_today
    m.step()
    np.testing.assert_allclose(m.handlers.capacity()[dept], full, rtol=1e-5, atol=1e-5)


def test_assessment_raises_responsiveness_of_poorly_rated_departments() -> None:
    """The street's monthly rating: a department that solved 1 of 10 convened matters (target 0.6) raises its
    response by 0.5 (gain 1), one that solved 9 of 10 stays at the floor 1, one not convened is not rated;
    a higher response gives that department a larger share of its day at the street's next meeting."""
    both = BASE.with_overrides({"policies.street_empowerment": {}, "policies.whistle": {},
                                "handling.capacity_department_per_10k": 40.0})  # attendance leaves room
    m = Model(both, seed=1)
    emp, wh = _policy(m, "street_empowerment"), _policy(m, "whistle")
    m.dept_response[0, 3] = 1.2
    m.street_convened[0, 0, [0, 1]] = 10.0
    m.street_convened[1, 0, [0, 1]] = [1.0, 9.0]
    emp.on_plan(m, emp.t_start + emp.params.dur_assess)
    assert m.dept_response[0, 0] == pytest.approx(1.5)
    assert m.dept_response[0, 1] == 1.0 and m.dept_response[0, 3] == pytest.approx(1.2)
    assert not m.street_convened.any()
    cats, streets = np.array([0, 1]), np.zeros(2, dtype=np.int64)
    budget = wh._budgets(m, STREET, cats, streets)
    left = m.departments.capacity[cats]
    np.testing.assert_allclose(budget, [0.5 * 1.5 * left[0], 0.5 * left[1]], rtol=1e-5)
    assert wh._budgets(m, DEPARTMENT, cats, streets)[0] == pytest.approx(0.5 * left[0], rel=1e-5)


def test_five_powers_raise_department_response_and_solve_more_convened_matters() -> None:
    """With the whistle, the street's assessment (gain 1 vs 0) raises departments' response above 1 and the
    share of the problems convened at the street's meetings solved there (the five powers act on those
    meetings only), when the meetings have more whistled problems than their budget (3 matters compiled per
    community a month, no size threshold) and the response has room: departments give a quarter of their day
    (share_meeting 0.25, in its plausible range). At 0.5 the doubled share is cut back by attendance, which
    takes 0.5 of a small-world department's 1.2-2.5 staff-days, and with effort binding in the departments'
    own queues too (issue 14) the gain had shrunk to +0.005 on all levels' meetings (z 0.8, seeds 1-6) and
    the street meetings' own share moved +0.010, +0.023, -0.031 on seeds 1-3.
    Seeds 1-6, 365 days: street meetings' solved share 0.096 -> 0.131, diff +0.034 (se 0.008), z = 4.1."""
    base = BASE.with_overrides({"policies.street_empowerment": {"assess_gain": 0.0},
                                "policies.whistle": {"n_compile": 3.0, "n_affected_per_1k": 0.0,
                                                     "share_meeting": 0.25}})
    var = base.with_overrides({"policies.street_empowerment.assess_gain": 1.0})
    eff = paired_effects(base, var, [("solved_per_convened_street",
                                      lambda d: d["whistle_convened_street_solved"]
                                      / max(d["whistle_convened_street"], 1.0))],
                         seeds=range(1, 7), n_steps=365)
    print(eff["solved_per_convened_street"])
    assert eff["solved_per_convened_street"].z > 2, eff["solved_per_convened_street"]
    m = _busy(var, 200)
    assert m.dept_response.mean() > 1.2


def test_deadline_threat_raises_handling_of_near_deadline_problems_before_escalation() -> None:
    """Same pool, same capacity: with the threat (1.5 times the effort within 3 days of the deadline) handlers
    put more effort into their near-deadline problems and solve more of them in expectation, while those
    problems are still at their level (before any escalation). Seed 3 after 150 days: ~60 near-deadline
    rows attempted; their expected resolutions rise by ~15-25%, the effort they take by 50%."""
    m = _busy(WHISTLE.with_overrides(REPORTING_ALL), 150)
    pool, h, t = m.problems, m.handlers, m.clock
    q = np.flatnonzero(pool.status[:pool.n] == QUEUED)
    lvl = pool.level[q]
    near = q[(t - pool.t_level[q]) >= m.deadline[lvl] - m.threat_window[lvl]]
    assert near.size > 20

    def attempted(mult: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        work = (h.work[0].copy(), h.work[1].copy())  # the same work in progress for both calls
        return handling.attempts(pool.cols, h.level_offset, m.priority_days, m.world.res_compound, h.effort,
                                 h.capacity(), work, h.success_tables(), m.flag_success, t,
                                 (m.deadline, m.threat_window, mult))

    rows1, p1, used1 = attempted(m.threat_effort)
    rows0, p0, used0 = attempted(np.ones_like(m.threat_effort))
    sel = np.isin(rows1, near)
    both, i1, i0 = np.intersect1d(rows1[sel], rows0, return_indices=True)
    p1 = p1[sel]
    print(both.size, p1[i1].sum(), p0[i0].sum(), used1.sum(), used0.sum())
    assert both.size > 5
    assert np.all(p1[i1] >= p0[i0]) and p1[i1].sum() > 1.1 * p0[i0].sum()  # harder tried, more likely solved
    assert used1.sum() > used0.sum() or rows1.size < rows0.size  # at the cost of effort: others wait
    assert np.all(pool.level[q] == lvl)  # nothing moved: this is before escalation


def test_whistle_costs_staff_time_by_item() -> None:
    """Cost items: screening (joint meetings' staff-days), departments' meeting time, supervision; the street's
    assessment time and office. All from the cost table (block 002)."""
    both = BASE.with_overrides({"policies.street_empowerment": {}, "policies.whistle": {}})
    m = Model(both, seed=1)
    wh, emp, c = _policy(m, "whistle"), _policy(m, "street_empowerment"), m.scenario.costs
    wh.meetings_today, wh.attended_today = 2, 3
    wh._held = np.array([1.5, 0.0, 0.25, 0, 0, 0, 0, 0], dtype=np.float32)  # departments' time at today's meetings
    items = wh.cost_items(m)
    assert items["screening"] == pytest.approx(2 * c.whistle_screening_staff_days * c.pay_official_per_day)
    assert items["meeting_time"] == pytest.approx(1.75 * c.cost_department_staff_day)
    assert items["supervision"] == pytest.approx(
        2 * c.whistle_supervision_days_per_community_per_year * c.pay_official_per_day / 365)
    e = emp.cost_items(m)
    assert e["assessment"] == pytest.approx(8 * c.street_assessment_days_per_department_per_month
                                            * c.pay_official_per_day / 30)
    assert e["office"] == pytest.approx(c.street_office_per_street_per_year / 365)


@pytest.mark.parametrize(("policy", "key", "value"), [
    ("whistle", "deadline_street", 0.0), ("whistle", "p_collect", 1.5), ("street_empowerment", "capacity_moved", 2.0),
    ("whistle", "dur_meeting_street", 20), ("whistle", "sev_admit", 4), ("street_empowerment", "response_max", 0.5),
    ("street_empowerment", "authority_share.admin", -0.1), ("whistle", "dur_collect", 1.5),
])
def test_bad_params(policy: str, key: str, value: object) -> None:
    with pytest.raises(ParameterError) as err:
        BASE.with_overrides({f"policies.{policy}.{key}": value})
    assert f"policies.{policy}.{key.split('.')[0]}" in str(err.value)


def test_shipped_screening_admits_the_documented_share_of_matters() -> None:
    """The shipped Bazhong scenario (calibrated), from the reform day, 365 days, seeds 201-204 (not the
    calibration's): the joint meeting admits 570 / 950 = 0.60 of the compiled matters within the calibration
    target's tolerance (10%), and ~950 / 1.5 years per 73 communities are compiled (within 40%). The calibration's
    check replicates gave 0.599 [0.528, 0.669] (run sd 0.084) and 666 a year (refit on the merged model of issue 14);
    these seeds give 0.544 and 684 (before the refit, 0.69: outside)."""
    sc = load_scenario(Path(__file__).parents[1] / "scenarios" / "bazhong_street_whistle.toml",
                       {"reform.start_day": 0})
    share, count = [], []
    for seed in range(201, 205):
        m = Model(sc, seed=seed)
        m.run(365, progress=False)
        s = m.summary()
        share.append(s["whistle_entered"] / s["whistle_collected"])
        count.append(s["whistle_collected"] * 73 / m.world.n_communities)
    print(np.mean(share), np.mean(count))
    assert abs(np.mean(share) - 0.6) <= 0.06
    assert abs(np.mean(count) - 633) <= 0.4 * 633
