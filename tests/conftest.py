"""Shared fixtures for the core tests: small-world scenarios and models, a cached small run.

Fixtures that build or run a model are session-scoped; tests only read them. Plain helpers
(scenario builders, paired replicate statistics) live in ``helpers.py``.
"""

from __future__ import annotations

import pytest
from helpers import MEDIUM, small

from sim import Model, Results, Scenario


def pytest_configure(config: pytest.Config) -> None:
    """numba's parallel loops run on one thread in test processes: xdist's workers already share the cores.

    Results are the same bits on any number of threads; the test of that sets its own.
    """
    import numba

    from sim.core.kernels.jit import prefer_sleeping_threads

    prefer_sleeping_threads()
    numba.set_num_threads(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-baselines", action="store_true", default=False,
                     help="rewrite tests/baselines/ from the current code (then add a CHANGELOG.md line)")


@pytest.fixture(scope="session")
def update_baselines(request: pytest.FixtureRequest) -> bool:
    """True when pytest was given --update-baselines: the baseline tests rewrite their files."""
    return bool(request.config.getoption("--update-baselines"))


# ---- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _no_user_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their own results database: a GOVSIM_DB of the user's shell is not used."""
    monkeypatch.delenv("GOVSIM_DB", raising=False)


@pytest.fixture(scope="session")
def small_scenario() -> Scenario:
    return small()


@pytest.fixture(scope="session")
def medium_scenario() -> Scenario:
    return Scenario().with_overrides({**MEDIUM, "run.n_steps": 200})


@pytest.fixture(scope="session")
def small_model(small_scenario: Scenario) -> Model:
    """A small model, built but not run (do not step it: it is shared)."""
    return Model(small_scenario, seed=1)


@pytest.fixture(scope="session")
def medium_model(medium_scenario: Scenario) -> Model:
    """A medium model, built but not run (do not step it: it is shared)."""
    return Model(medium_scenario, seed=2)


@pytest.fixture(scope="session")
def small_run(small_scenario: Scenario) -> tuple[Model, Results]:
    """A small model run 200 days with seed 1 (shared, read only)."""
    model = Model(small_scenario, seed=1)
    return model, model.run(200)
