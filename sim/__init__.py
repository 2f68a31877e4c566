"""govsim: an agent-based simulator of multi-stakeholder community governance.

Public API::

    from sim import load_scenario, Model, run_scenario
    scenario = load_scenario("scenarios/baseline.toml")
    results = run_scenario(scenario, seed=1, n_steps=365)
    results.summary["resolution_rate"], results.to_dataframe()
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .model import Model, run_scenario
from .results import Results
from .scenario import Scenario, ScenarioError, load_scenario

try:
    __version__ = version("govsim")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["Model", "Results", "Scenario", "ScenarioError", "__version__", "load_scenario", "run_scenario"]
