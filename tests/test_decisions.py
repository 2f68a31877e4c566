"""Stakeholders decide each month (docs/model.md §7.13): property firms and volunteers; and repeat
contacts follow from waiting and representation (§7.6), not from a switch."""

from __future__ import annotations

import numpy as np
from paired import SMALL_WORLD, paired_effects

from sim import Model, Scenario
from sim.agents.party_member import PartyMembers, decide_volunteering
from sim.agents.property_firm import decide_month
from sim.config.params import HandlingParams, PartyParams
from sim.config.taxonomy import FLAG_BIT, PROPERTY, QUEUED
from sim.core.decisions import DUR_DECISION

BASE = Scenario().with_overrides(SMALL_WORLD)


def test_firm_margin_effort_and_exit_rule() -> None:
    """A firm whose fees fall short of its cost cuts effort and leaves after ``property_n_months_exit``
    months of loss; one whose fees cover its cost never leaves. Margins: fees at full collection
    1.2 x cost; at satisfaction 0.5 collection 0.85 (margin +0.02 at full effort); with a third of
    households complaining, 0.57 of fees come in (margin -0.32 at full effort, -0.16 at the floor)."""
    m = Model(BASE, seed=1)
    firms, h = m.firms, HandlingParams()
    n = firms.n
    households = np.full(n, 90.0)
    sat = np.full(n, 0.5)
    complaining = np.where(np.arange(n) % 2 == 0, 30.0, 0.0)  # even firms: a third of households withhold fees
    left = []
    for month in range(h.property_n_months_exit):
        left.append(decide_month(firms, sat, complaining, households, h))
        if month == 0:
            np.testing.assert_allclose(firms.margin[1::2], 1.2 * 0.85 - 1, rtol=1e-5)
            np.testing.assert_allclose(firms.margin[::2], 1.2 * 0.85 * (2 / 3) - 1, rtol=1e-5)
    losing = np.arange(n) % 2 == 0
    assert all(x.size == 0 for x in left[:-1])
    np.testing.assert_array_equal(np.sort(left[-1]), np.flatnonzero(losing))
    assert np.all(~firms.active[losing]) and np.all(firms.active[~losing])
    assert np.all(firms.capacity[losing] == 0)
    np.testing.assert_allclose(firms.effort[~losing], 1.0)  # profitable firms keep full effort
    assert firms.n_exits == losing.sum()


def test_firms_leave_when_fees_fall_short_and_not_otherwise() -> None:
    """Whole model, seeds 1-3, 300 days: with fees below cost (``property_fee_over_cost`` 0.6)
    firms cut effort to the floor and leave (seen: every firm, 6-8 exits a seed, 2-3 compounds
    finding a new firm; problems queued at a leaving firm go to the community); at the default
    (1.2) no firm leaves (margins seen +0.08 to +0.15)."""
    for seed in (1, 2, 3):
        poor = Model(BASE.with_overrides({"handling.property_fee_over_cost": 0.6}), seed=seed)
        poor.run(300, progress=False)
        poor.check_invariants()
        assert poor.firms.n_exits > 0
        gone = np.flatnonzero(~poor.firms.active)
        assert np.all(poor.compound_firm[poor.firms.compound[gone]] == -1)
        pool = poor.problems
        at_firm = (pool.status == QUEUED) & (pool.level == PROPERTY)
        assert not np.isin(pool.handler[at_firm], gone).any(), "no problem waits at a firm that has left"
        ok = Model(BASE, seed=seed)
        ok.run(300, progress=False)
        assert ok.firms.n_exits == 0 and np.all(ok.firms.active)
        assert np.all(ok.firms.margin > 0)


def _party(n: int) -> PartyMembers:
    rate = np.full(n, 0.02, dtype=np.float32)
    z = np.zeros(n, dtype=np.float32)
    return PartyMembers(ids=np.arange(n, dtype=np.int32), n_links=np.zeros(n, dtype=np.int16),
                        n_in_service=np.zeros(1, dtype=np.int32), volunteer_rate=rate.copy(),
                        volunteer_mult=np.ones(n, dtype=np.float32), base_rate=rate, recognition=z.copy(),
                        load=z.copy(), turns_seen=np.zeros(n, dtype=np.int32))


def test_burnout_lowers_and_recognition_raises_volunteering() -> None:
    """Decision rule: after a heavy month (10 turns of 2 h = 20 h) the load is 20 x (1 - e^-0.5)
    = 7.9 h, under the 8 h threshold; a second heavy month brings it to 12.6 h and the rate falls
    to 1 / (1 + 0.57) = 0.64 of its base; light months (1 turn) leave it at the base; recognition
    1 raises it 1.5 times."""
    p = PartyParams()
    party = _party(3)
    party.recognition[2] = 1.0
    turns = np.zeros(3, dtype=np.int32)
    for _ in range(2):
        turns += np.array([10, 1, 1], dtype=np.int32)
        decide_volunteering(party, turns, 2.0, p, DUR_DECISION)
    ratio = party.volunteer_rate / party.base_rate
    assert ratio[0] < 0.7 and ratio[1] == 1.0
    assert ratio[2] == np.float32(1.5)
    # rest: the load fades and the rate recovers
    for _ in range(6):
        decide_volunteering(party, turns, 2.0, p, DUR_DECISION)
    assert party.volunteer_rate[0] == party.base_rate[0]


def test_heavy_volunteering_burns_out_in_the_model() -> None:
    """Seed 1, 240 days: volunteers pushed to 30x the base rate log heavy months and their rate
    falls (mean ratio to base seen 0.48 among party members); at the base rate nobody's falls."""
    heavy = Model(BASE, seed=1)
    heavy.party.volunteer_mult[:] = 30.0
    heavy.run(240, progress=False)
    members = heavy.party.ids
    assert float((heavy.party.volunteer_rate[members] / heavy.party.base_rate[members]).mean()) < 0.8
    light = Model(BASE, seed=1)
    light.run(240, progress=False)
    np.testing.assert_array_equal(light.party.volunteer_rate, light.party.base_rate)


def test_recognition_raises_volunteer_hours() -> None:
    """Paired seeds 1-4, 180 days: the seven teams' recognition (0 vs 1, x1.5 of the rate) raises
    volunteer hours (seen: 4,606 -> 6,668 h, +45%, z = 11)."""
    off = BASE.with_overrides({"policies.one_core_many.enabled": True, "policies.one_core_many.teams_recognition": 0.0,
                               "policies.one_core_many.teams_volunteer_mult": 1.0})
    on = off.with_overrides({"policies.one_core_many.teams_recognition": 1.0})
    e = paired_effects(off, on, ["volunteer_hours"], seeds=range(1, 5), n_steps=180)["volunteer_hours"]
    assert e.diff > 0 and e.z > 3, e


def test_repeat_contacts_fall_when_represented() -> None:
    """Paired seeds 1-4, 240 days, grid proxy service on: with the proxy following up
    (``recontact_represented`` 0.2, default) residents of proxied matters recontact less than
    with nobody following up (1.0); repeat contacts per resolved problem fall (seen: 0.571 ->
    0.487, z = -6.7).
    Without any representation (baseline) the parameter changes nothing."""
    grid = {"policies.grid.enabled": True, "policies.grid.proxy_service": True}
    alone = BASE.with_overrides({**grid, "problems.recontact_represented": 1.0})
    represented = BASE.with_overrides(grid)
    e = paired_effects(alone, represented, ["repeat_contacts_per_resolved"], seeds=range(1, 5),
                       n_steps=240)["repeat_contacts_per_resolved"]
    assert e.diff < 0 and e.z < -2, e
    a, b = Model(BASE, seed=3), Model(BASE.with_overrides({"problems.recontact_represented": 1.0}), seed=3)
    a.run(120, progress=False)
    b.run(120, progress=False)
    assert a.summary() == b.summary()
    assert a.represented_flags == 0 and Model(represented, seed=3).represented_flags == FLAG_BIT["proxy"]


def test_recontact_hazard_rises_with_the_wait() -> None:
    """The hazard ramps from 0 at the expected wait to ``rate_recontact`` at twice it (default)."""
    from sim.core.kernels.escalation import recontact_hazard
    from sim.core.kernels.state import EscalationRules

    m = Model(BASE, seed=1)
    rules = EscalationRules(*m.escalation_rules())
    h = [recontact_hazard(np.int32(w), np.float32(10.0), np.uint8(0), rules) for w in (10, 15, 20, 40)]
    np.testing.assert_allclose(h, [0.0, 0.075, 0.15, 0.15], rtol=1e-6)
    rep = rules._replace(represented_flags=FLAG_BIT["proxy"])
    assert abs(recontact_hazard(np.int32(20), np.float32(10.0), np.uint8(FLAG_BIT["proxy"]), rep) - 0.03) < 1e-6
    assert abs(recontact_hazard(np.int32(20), np.float32(10.0), np.uint8(FLAG_BIT["whistle"]), rep) - 0.15) < 1e-6


def test_a_new_firm_keeps_policies_factors_on_its_place() -> None:
    """A firm found for a compound whose firm left takes the old one's id: its success multiplier is
    its own quality times whatever policies applied to the place (a red rating's boost here)."""
    sc = BASE.with_overrides({"handling.property_fee_over_cost": 0.6, "handling.property_p_new_firm": 1.0})
    m = Model(sc, seed=2)
    m.handlers.mult[PROPERTY] *= np.float32(1.2)  # as a policy's boost of every firm
    m.run(300, progress=False)
    assert m.firms.n_entries > 0
    np.testing.assert_allclose(m.handlers.mult[PROPERTY][:, 0], 1.2 * m.firms.quality, rtol=1e-5)
