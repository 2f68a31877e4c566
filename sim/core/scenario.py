"""Scenarios are data: TOML files validated on load into a frozen :class:`Scenario`.

A scenario file has the sections of :class:`Scenario` (``[run]``, ``[world]``, ``[problems]``,
...) plus ``[policies.<name>]`` tables. ``extends = "baseline.toml"`` at the top starts from
another file (path relative to this one) and overrides only what is written here. Every
error names the file, the dotted key and what is allowed, on one line.

``Scenario.with_overrides`` and the cheaper :func:`apply_overrides` (used for every experiment of
a sweep) set dotted keys; ``policies.<name>.<key>`` switches that policy on with its defaults if
the scenario does not have it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim import policies
from sim.config.params import (
    CommunityParams,
    CostParams,
    HandlingParams,
    PartyParams,
    ProblemParams,
    ResidentParams,
    RunParams,
    WorldParams,
)
from sim.config.paramtools import Params, deep_merge, param, read_toml
from sim.errors import ParameterError, ScenarioError


@dataclass(frozen=True)
class PolicySpec:
    """A policy switched on in a scenario: its registered name and validated parameters."""

    name: str
    params: Params


@dataclass(frozen=True)
class Scenario(Params):
    """Everything that defines a run except the seed of a replicate."""

    name: str = param("baseline", source="convention")
    description: str = param("", source="convention")
    run: RunParams = param(RunParams())
    world: WorldParams = param(WorldParams())
    problems: ProblemParams = param(ProblemParams())
    handling: HandlingParams = param(HandlingParams())
    community: CommunityParams = param(CommunityParams())
    party: PartyParams = param(PartyParams())
    residents: ResidentParams = param(ResidentParams())
    costs: CostParams = param(CostParams())
    policies: tuple[PolicySpec, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        """Build from nested plain data; ``policies`` maps policy names to their parameter tables."""
        data = dict(data)
        raw_policies = data.pop("policies", {})
        data.pop("extends", None)
        base = super().from_dict(data)
        if not isinstance(raw_policies, Mapping):
            raise ParameterError("policies", "expected tables [policies.<name>]")
        specs = []
        for name, table in raw_policies.items():
            try:
                policy_cls = policies.get(name)
            except KeyError as err:
                raise ParameterError(f"policies.{name}", str(err.args[0]).replace(f"policy {name!r}", "policy")) from None
            if not isinstance(table, Mapping):
                raise ParameterError(f"policies.{name}", "expected a table of the policy's parameters")
            try:
                specs.append(PolicySpec(name, policy_cls.Params.from_dict(table)))
            except ParameterError as err:
                raise err.under(f"policies.{name}") from None
        for spec in specs:
            try:
                policies.get(spec.name).check(spec.params, base)
            except ParameterError as err:
                raise err.under(f"policies.{spec.name}") from None
        return dataclasses.replace(base, policies=tuple(specs))

    def to_dict(self) -> dict[str, Any]:
        """Nested plain data; ``policies`` maps each switched-on policy to its parameter table."""
        out = super().to_dict()
        out["policies"] = {spec.name: spec.params.to_dict() for spec in self.policies}
        return out

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """Apply ``{"dotted.key": value}`` overrides (validated); ``policies.<name>.<key>`` too."""
        data = self.to_dict()
        for path, value in overrides.items():
            node = data
            parts = path.split(".")
            for part in parts[:-1]:
                if part not in node or not isinstance(node[part], dict):
                    if parts[0] != "policies":  # policy tables are checked by their own Params
                        raise ParameterError(path, "no such parameter")
                    node[part] = {}
                node = node[part]
            if parts[0] != "policies" and parts[-1] not in node:
                raise ParameterError(path, "no such parameter")
            node[parts[-1]] = value
        return Scenario.from_dict(data)

    def content_hash(self) -> str:
        """sha256 of the canonical JSON of everything that defines the scenario (seed excluded)."""
        data = self.to_dict()
        data["run"] = {k: v for k, v in data["run"].items() if k != "seed"}
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def to_toml(self) -> str:
        """The scenario as TOML text (full, every value explicit), for provenance."""
        return dump_toml(self.to_dict())

    def policy(self, name: str) -> Params | None:
        """Parameters of policy ``name`` if it is switched on, else None."""
        for spec in self.policies:
            if spec.name == name:
                return spec.params
        return None


def apply_overrides(base: Scenario, overrides: Mapping[str, Any]) -> Scenario:
    """``base`` with ``{"dotted.key": value}`` set and validated; equals ``base.with_overrides``.

    Much cheaper than ``with_overrides`` (which rebuilds the whole scenario from plain data):
    only the dataclasses on the path are replaced (and validated). ``policies.<name>.<key>``
    switches a policy on with its defaults if the base does not have it, appended last, as
    ``with_overrides`` does. Raises :class:`ParameterError` naming the key.
    """
    sc = base
    for path, value in overrides.items():
        parts = path.split(".")
        if parts[0] != "policies":
            sc = sc.replace_path(path, value)
            continue
        if len(parts) < 3 or not all(parts):
            raise ParameterError(path, "expected policies.<name>.<parameter>")
        name, rest = parts[1], ".".join(parts[2:])
        specs = list(sc.policies)
        pos = next((i for i, s in enumerate(specs) if s.name == name), None)
        if pos is None:
            try:
                cls = policies.get(name)
            except KeyError as err:
                message = str(err.args[0]).replace(f"policy {name!r}", "policy")
                raise ParameterError(f"policies.{name}", message) from None
            specs.append(PolicySpec(name, cls.Params.from_dict({})))
            pos = len(specs) - 1
        try:
            params = specs[pos].params.replace_path(rest, value)
        except ParameterError as err:
            raise err.under(f"policies.{name}") from None
        specs[pos] = PolicySpec(name, params)
        sc = dataclasses.replace(sc, policies=tuple(specs))
    return sc


def _read_toml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a scenario file and, recursively, the file it ``extends``."""
    src = str(path)
    if path.resolve() in seen:
        raise ScenarioError(src, "extends", "circular extends chain")
    if seen and not path.is_file():
        raise ScenarioError(str(seen[-1]), "extends", f"no such scenario file {str(path)!r}")
    data = read_toml(path, "scenario", ScenarioError)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError(src, "extends", "expected a path to another scenario file, as a string")
    base = _read_toml((path.parent / parent), seen + (path.resolve(),))
    return deep_merge(base, data)


def load_scenario(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Load and validate a scenario file; raise :class:`ScenarioError` naming file and key."""
    path = Path(path)
    data = _read_toml(path)
    try:
        scenario = Scenario.from_dict(data)
        if overrides:
            scenario = scenario.with_overrides(overrides)
    except ParameterError as err:
        raise ScenarioError(str(path), err.key, err.message) from None
    return scenario


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def dump_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """Minimal TOML writer for nested plain data (tables and scalars)."""
    scalars = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, Mapping)]
    lines = []
    if scalars:
        if prefix:
            lines.append(f"[{prefix}]")
        lines.extend(scalars)
        lines.append("")
    for key, value in data.items():
        if isinstance(value, Mapping):
            lines.append(dump_toml(value, f"{prefix}.{key}" if prefix else key))
    return "\n".join(lines)
