"""The scenarios of a comparison, loaded, overridden and validated before anything runs.

Kept apart from :mod:`sim.experiments.compare` (which runs them and holds the
:class:`~sim.experiments.compare.Comparison`); everything here is re-exported by it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.core.scenario import Scenario, load_scenario
from sim.errors import InputError, ParameterError, ScenarioError

__all__ = ["Entry", "prepare", "unique_labels"]


@dataclass(frozen=True)
class Entry:
    """One scenario of a comparison: unique label, source file (if any) and validated scenario."""

    label: str
    file: str | None
    scenario: Scenario


def unique_labels(names: Sequence[str]) -> list[str]:
    """Scenario names, with ``#2``, ``#3``... appended to repeats so every label is unique."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for name in names:
        k = seen.get(name, 0) + 1
        seen[name] = k
        label = name if k == 1 else f"{name} #{k}"
        while label in out:
            k += 1
            label = f"{name} #{k}"
        out.append(label)
    return out


def prepare(scenarios: Sequence[Scenario | str | Path], steps: int | None = None,
            overrides: Mapping[str, Any] | None = None) -> list[Entry]:
    """Load and validate every scenario (files or objects), each with ``overrides`` applied.

    ``overrides``: ``{"dotted.key": value}`` for every scenario (``govsim compare --set``);
    ``steps`` overrides ``run.n_steps`` after them. Raises :class:`ScenarioError` (one line, naming
    the file and the key) before anything is run.
    """
    if isinstance(scenarios, (str, Path, Scenario)):
        scenarios = [scenarios]
    if not scenarios:
        raise InputError("compare needs at least one scenario")
    every = dict(overrides or {})
    if steps is not None:
        every["run.n_steps"] = int(steps)
    loaded: list[tuple[str | None, Scenario]] = []
    for item in scenarios:
        if isinstance(item, Scenario):
            try:
                sc = item.with_overrides(every) if every else item
            except ParameterError as err:
                raise ScenarioError(item.name, err.key, err.message) from None
            loaded.append((None, sc))
        elif isinstance(item, (str, Path)):
            loaded.append((str(item), load_scenario(item, every or None)))
        else:
            raise TypeError(f"expected a Scenario or a path to a scenario file, got {type(item).__name__}")
    labels = unique_labels([sc.name for _, sc in loaded])
    return [Entry(label, file, sc) for label, (file, sc) in zip(labels, loaded)]
