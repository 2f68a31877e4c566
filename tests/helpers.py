"""Helpers for the core tests: small worlds, checked runs, paired replicate statistics.

Small worlds keep the suite fast: one community of four compounds is ~2,500 residents and runs
200 days in well under a second. Statistical comparisons use common random numbers (the same
seeds for base and variant) and tolerances from the spread of the replicates.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from sim import Model, Results, Scenario, run_scenario

#: One community of four compounds (~2,500 residents).
#: the shipped files start their reforms on day 365 after a year's warm-up; tests of mechanics start them on day 0
FROM_DAY_0: dict[str, Any] = {"reform.start_day": 0, "reform.dur_warmup": 0}
#: a small scenario file extending ``{base}`` (a path), named ``{name}``, its reforms acting from day 0
SMALL_FILE = """extends = "{base}"
name = "{name}"
[world]
n_communities_per_street = 1
n_compounds_per_community = 3
[reform]  # the reforms act from day 0 (the shipped files start them on day 365)
start_day = 0
dur_warmup = 0
"""
SMALL: dict[str, Any] = {"world.n_communities_per_street": 1, "world.n_compounds_per_community": 4, **FROM_DAY_0}
#: Two communities of eight compounds (~9,000 residents): every compound type is present.
MEDIUM: dict[str, Any] = {"world.n_communities_per_street": 2, "world.n_compounds_per_community": 8}

#: Residents who bring nearly every problem to the government (see paired.REPORTING_ALL).
REPORTING_ALL: dict[str, Any] = {
    "problems.report_efficacy_slope": 0.0, "problems.p_tell": 1.0,
    **{f"problems.rate_self_report.{s}": v for s, v in zip(("trivial", "small", "big", "major"),
                                                           (0.04, 0.08, 0.15, 0.25), strict=True)},
}

#: Seeds of replicate runs in statistical tests.
SEEDS: tuple[int, ...] = (1, 2, 3, 4, 5)

REPO = Path(__file__).resolve().parent.parent
BASELINE = REPO / "scenarios" / "baseline.toml"


def small(overrides: Mapping[str, Any] | None = None, n_steps: int = 200) -> Scenario:
    """The small-world scenario with ``overrides`` applied."""
    return Scenario().with_overrides({**SMALL, "run.n_steps": n_steps, **(overrides or {})})


@dataclasses.dataclass(frozen=True)
class Effect:
    """Paired replicate comparison of one summary metric (variant - base)."""

    metric: str
    base: np.ndarray
    variant: np.ndarray

    @property
    def diffs(self) -> np.ndarray:
        return self.variant - self.base

    @property
    def diff(self) -> float:
        return float(self.diffs.mean())

    @property
    def se(self) -> float:
        """Standard error of the mean paired difference, from the replicate spread."""
        return float(self.diffs.std(ddof=1) / np.sqrt(self.diffs.size))

    def __str__(self) -> str:
        return (f"{self.metric}: base {self.base.mean():.4g} -> variant {self.variant.mean():.4g}, "
                f"diff {self.diff:+.4g} (se {self.se:.2g}, n={self.diffs.size})")


def paired_effect(base: Scenario, variant: Scenario, metric: str, seeds: Sequence[int] = SEEDS,
                  n_steps: int = 150) -> Effect:
    """Run base and variant with the same seeds (common random numbers) and compare ``metric``."""
    b = np.array([run_scenario(base, seed=s, n_steps=n_steps).summary[metric] for s in seeds])
    v = np.array([run_scenario(variant, seed=s, n_steps=n_steps).summary[metric] for s in seeds])
    return Effect(metric, b, v)


def run_checked(scenario: Scenario, seed: int, n_steps: int,
                each_step: Callable[[Model], None] | None = None) -> tuple[Model, Results]:
    """Run a model one day at a time, calling ``check_invariants`` (and ``each_step``) after every day."""
    model = Model(scenario, seed=seed)
    res = None
    for _ in range(n_steps):
        res = model.run(1, progress=False)
        model.check_invariants()
        if each_step is not None:
            each_step(model)
    assert res is not None
    return model, res


def write(path: Path, text: str) -> Path:
    """Write a scenario file (creating its directory) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


USER_POLICY = '''
"""A user's policy in their own module: fewer administrative tasks pushed onto communities."""
from dataclasses import dataclass

from sim.config.paramtools import Params, param
from sim.core.phases import Policy
from sim.policies import register


@dataclass(frozen=True)
class LessPaperworkParams(Params):
    share_cut: float = param(0.5, lo=0.0, hi=1.0, unit="share", source="test")


@register
class LessPaperwork(Policy):
    name = "less_paperwork_test"
    Params = LessPaperworkParams

    def setup(self, model):
        c = model.communities
        c.admin_tasks = (c.admin_tasks * (1.0 - self.params.share_cut)).astype(c.admin_tasks.dtype)
'''


@contextmanager
def user_policy_module(tmp_path: Path, monkeypatch: Any) -> Iterator[Any]:
    """A policy ``less_paperwork_test`` in an importable user module ``govsim_user_plugin``
    (on sys.path here and, through PYTHONPATH, in worker processes); unregistered afterwards."""
    from sim import policies

    (tmp_path / "govsim_user_plugin.py").write_text(USER_POLICY, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    try:
        yield importlib.import_module("govsim_user_plugin")
    finally:
        policies._REGISTRY.pop("less_paperwork_test", None)
        sys.modules.pop("govsim_user_plugin", None)
