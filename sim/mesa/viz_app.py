"""The app module ``govsim viz`` hands to ``solara run``.

Its ``page`` is the page for the scenario in ``$GOVSIM_VIZ_SCENARIO`` (default: the small
community version of scenarios/baseline.toml).
"""

from __future__ import annotations

import os

from sim.mesa.viz import SCENARIO_ENV, build_page

page = build_page(os.environ.get(SCENARIO_ENV) or None)
