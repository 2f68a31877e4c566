"""govsim: an agent-based simulator of multi-stakeholder community governance.

Public API::

    from sim import load_scenario, Model, run_scenario
    scenario = load_scenario("scenarios/baseline.toml")
    results = run_scenario(scenario, seed=1, n_steps=365)
    results.summary["resolution_rate"], results.to_dataframe()

The names below are loaded on first use (PEP 562), so ``import sim`` and ``govsim --help``
load neither numba nor matplotlib, mesa or sqlalchemy. The layout of the package is described
in ``docs/architecture.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sim.config.version import __version__

if TYPE_CHECKING:
    from sim.core.model import Model, run_scenario
    from sim.core.results import Results
    from sim.core.scenario import Scenario, load_scenario
    from sim.errors import GovsimError, ScenarioError
    from sim.experiments.compare import compare

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Model": "sim.core.model",
    "run_scenario": "sim.core.model",
    "Results": "sim.core.results",
    "Scenario": "sim.core.scenario",
    "load_scenario": "sim.core.scenario",
    "GovsimError": "sim.errors",
    "ScenarioError": "sim.errors",
    "compare": "sim.experiments.compare",
}

__all__ = ["GovsimError", "Model", "Results", "Scenario", "ScenarioError", "__version__", "compare",
           "load_scenario", "run_scenario"]


def __getattr__(name: str) -> Any:
    """Load a public name's module on first access."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
