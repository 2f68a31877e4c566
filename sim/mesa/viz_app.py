"""The app module ``govsim viz`` hands to ``solara run``.

Its ``Page`` is the page component for the scenario in ``$GOVSIM_VIZ_SCENARIO`` (default: the
small community version of scenarios/baseline.toml); Solara renders it once per browser
session, so every session has its own model.
"""

from __future__ import annotations

import os

from sim.mesa.viz import SCENARIO_ENV
from sim.mesa.viz_page import build_page

Page = build_page(os.environ.get(SCENARIO_ENV) or None)
