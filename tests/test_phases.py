"""sim.core.phases and the policy interface: hook order, own random streams, costs and counters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
from helpers import small

from sim import Model, policies, run_scenario
from sim.config.paramtools import Params, param
from sim.core.phases import PHASES, Policy
from sim.core.results import SERIES

CALLS: list[tuple[str, str, int]] = []


@dataclass(frozen=True)
class ProbeParams(Params):
    cost: float = param(0.0, lo=0.0, source="test")
    draws: int = param(0, lo=0, source="test")


class Probe(Policy):
    """Records every hook call; optionally draws from its own stream and costs money."""

    name: ClassVar[str] = "probe_a"
    Params = ProbeParams

    def setup(self, model: Model) -> None:
        CALLS.append((self.name, "setup", model.t))

    def cost_per_day(self, model: Model) -> float:
        return self.params.cost

    def _hook(self, phase: str, model: Model, t: int) -> None:
        CALLS.append((self.name, phase, t))
        if self.params.draws:
            self.rng.random(self.params.draws)

    def on_plan(self, model: Model, t: int) -> None: self._hook("plan", model, t)
    def on_arise(self, model: Model, t: int) -> None: self._hook("arise", model, t)
    def on_find(self, model: Model, t: int) -> None: self._hook("find", model, t)
    def on_route(self, model: Model, t: int) -> None: self._hook("route", model, t)
    def on_handle(self, model: Model, t: int) -> None: self._hook("handle", model, t)
    def on_escalate(self, model: Model, t: int) -> None: self._hook("escalate", model, t)
    def on_judge(self, model: Model, t: int) -> None: self._hook("judge", model, t)
    def on_participate(self, model: Model, t: int) -> None: self._hook("participate", model, t)

    def on_record(self, model: Model, t: int) -> None:
        self._hook("record", model, t)
        model.count(self.name, "days")


class ProbeB(Probe):
    name: ClassVar[str] = "probe_b"


class ArriveOnly(Policy):
    name: ClassVar[str] = "arrive_only"
    Params = ProbeParams

    def on_arise(self, model: Model, t: int) -> None:
        # the core arise phase of today has run: the ledger includes today's arrivals
        CALLS.append((self.name, "arise", int(model.ledger.arisen.sum())))


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    for cls in (Probe, ProbeB, ArriveOnly):
        monkeypatch.setitem(policies._REGISTRY, cls.name, cls)
    CALLS.clear()


def test_phases_are_the_documented_order() -> None:
    assert PHASES == ("plan", "arise", "find", "route", "handle", "escalate", "judge", "participate", "record")


def test_hooks_lists_only_overridden_phases() -> None:
    m = Model(small(n_steps=3), seed=1)
    assert set(Probe(ProbeParams(), m).hooks()) == set(PHASES)
    assert set(ArriveOnly(ProbeParams(), m).hooks()) == {"arise"}
    assert Policy(ProbeParams(), m).hooks() == {}


def test_hooks_run_in_phase_order_each_day_and_policies_in_scenario_order() -> None:
    sc = small({"policies.probe_b": {}, "policies.probe_a": {}}, n_steps=3)
    assert [p.name for p in sc.policies] == ["probe_b", "probe_a"]
    Model(sc, seed=1).run(3)
    assert CALLS[:2] == [("probe_b", "setup", 0), ("probe_a", "setup", 0)]
    expected = [(name, phase, t) for t in range(3) for phase in PHASES for name in ("probe_b", "probe_a")]
    assert CALLS[2:] == expected


def test_hook_runs_after_the_core_phase() -> None:
    m = Model(small({"policies.arrive_only": {}}, n_steps=5), seed=1)
    for _ in range(5):
        m.step()
        assert CALLS[-1] == ("arrive_only", "arise", int(m.ledger.arisen.sum()))


def test_a_policy_drawing_from_its_own_stream_does_not_shift_the_core() -> None:
    base = run_scenario(small(n_steps=80), seed=3, n_steps=80)
    probed = run_scenario(small({"policies.probe_a.enabled": True, "policies.probe_a.draws": 1000}, n_steps=80), seed=3, n_steps=80)
    for k in SERIES:
        if k == "cost_yuan":
            continue
        assert np.array_equal(base.timeseries[k], probed.timeseries[k], equal_nan=True), k


def test_policy_costs_and_counters_reach_the_results() -> None:
    base = run_scenario(small(n_steps=40), seed=2, n_steps=40)
    probed = run_scenario(small({"policies.probe_a.enabled": True, "policies.probe_a.cost": 250.0}, n_steps=40), seed=2, n_steps=40)
    assert probed.summary["cost_yuan"] == pytest.approx(base.summary["cost_yuan"] + 40 * 250.0)
    np.testing.assert_allclose(probed.timeseries["cost_yuan"] - base.timeseries["cost_yuan"],
                               250.0 * np.arange(1, 41))
    assert probed.summary["probe_a_days"] == 40.0
    assert "probe_a_days" not in base.summary


def test_registry_rejects_unnamed_policies_and_lists_choices() -> None:
    class Nameless(Policy):
        pass

    with pytest.raises(ValueError):
        policies.register(Nameless)
    with pytest.raises(KeyError) as info:
        policies.get("no_such_policy")
    assert "allowed:" in str(info.value) and "probe_a" in str(info.value)
    assert "probe_a" in policies.available()
