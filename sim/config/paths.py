"""Where the source checkout keeps its files: the shipped scenarios."""

from __future__ import annotations

from pathlib import Path

#: The repository's scenario directory (present in a source checkout / editable install).
SCENARIO_DIR: Path = Path(__file__).resolve().parents[2] / "scenarios"
