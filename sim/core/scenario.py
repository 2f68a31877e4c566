"""Scenarios are data: TOML files validated on load into a frozen :class:`Scenario`.

A scenario file has the sections of :class:`Scenario` (``[run]``, ``[world]``, ``[problems]``,
...) plus ``[policies.<name>]`` tables. ``extends = "baseline.toml"`` at the top starts from
another file (path relative to this one) and overrides only what is written here. Every
error names the file, the dotted key and what is allowed, on one line.

A policy is on only when the scenario says so: its ``[policies.<name>]`` table is present (and
does not say ``enabled = false``). ``Scenario.with_overrides`` and the cheaper
:func:`apply_overrides` (used for every experiment of a sweep) set dotted keys;
``policies.<name>.enabled = true`` (or a whole table ``policies.<name> = {...}``) switches a
policy on, ``policies.<name>.enabled = false`` off (keeping its parameters), and
``policies.<name>.<key>`` sets a parameter of a policy that is on (in the scenario or switched on
by the same overrides); on a policy that is off it is an error naming the policy. Sweeps pass
``switch_on=True``: their levers under ``policies.<name>`` switch the policy on for the sweep.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim import policies
from sim.config.costs import CostParams
from sim.config.names import check_name
from sim.config.params import (
    CommunityParams,
    HandlingParams,
    PartyParams,
    ProblemParams,
    ReformParams,
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
    reform: ReformParams = param(ReformParams())
    world: WorldParams = param(WorldParams())
    problems: ProblemParams = param(ProblemParams())
    handling: HandlingParams = param(HandlingParams())
    community: CommunityParams = param(CommunityParams())
    party: PartyParams = param(PartyParams())
    residents: ResidentParams = param(ResidentParams())
    costs: CostParams = param(CostParams())
    policies: tuple[PolicySpec, ...] = ()
    #: policies whose table says ``enabled = false``: off, their parameters kept for switching on
    policies_off: tuple[PolicySpec, ...] = ()

    def check(self) -> None:
        """The name is a short label of printable characters (it is stored and shown in tables and file names)."""
        check_name("name", self.name)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        """Build from nested plain data; ``policies`` maps policy names to their parameter tables."""
        data = dict(data)
        raw_policies = data.pop("policies", {})
        if "policies_off" in data:
            raise ParameterError("policies_off", "unknown key; a policy is kept off by enabled = false in its table")
        data.pop("extends", None)
        base = super().from_dict(data)
        if not isinstance(raw_policies, Mapping):
            raise ParameterError("policies", "expected tables [policies.<name>]")
        specs: list[PolicySpec] = []
        off: list[PolicySpec] = []
        for name, table in raw_policies.items():
            on, spec = _policy_spec(name, table)
            (specs if on else off).append(spec)
        for spec in specs:
            try:
                policies.get(spec.name).check(spec.params, base)
            except ParameterError as err:
                raise err.under(f"policies.{spec.name}") from None
        return dataclasses.replace(base, policies=tuple(specs), policies_off=tuple(off))

    def to_dict(self) -> dict[str, Any]:
        """Nested plain data; ``policies`` maps each policy to its parameter table (``enabled = false`` if off)."""
        out = super().to_dict()
        out.pop("policies_off", None)
        out["policies"] = {spec.name: spec.params.to_dict() for spec in self.policies}
        for spec in self.policies_off:
            out["policies"][spec.name] = {**spec.params.to_dict(), "enabled": False}
        return out

    def with_overrides(self, overrides: Mapping[str, Any], *, switch_on: bool = False) -> Scenario:
        """Apply ``{"dotted.key": value}`` overrides (validated); ``policies.<name>...`` as the module says.

        ``switch_on``: a parameter of a policy that is off switches it on (sweeps' levers).
        """
        data = self.to_dict()
        table = data["policies"]
        for path, value in _switches_first(overrides):
            parts = path.split(".")
            if parts[0] == "policies":
                _override_policy(table, path, value, switch_on)
                continue
            node = data
            for part in parts[:-1]:
                if part not in node or not isinstance(node[part], dict):
                    raise ParameterError(path, "no such parameter")
                node = node[part]
            if parts[-1] not in node:
                raise ParameterError(path, "no such parameter")
            node[parts[-1]] = value
        return Scenario.from_dict(data)

    def content_hash(self) -> str:
        """sha256 of the canonical JSON of everything that defines the scenario (seed excluded).

        The ``reform`` section is left out while it is at its defaults, so scenarios written before it
        existed keep their hash (they mean the same).
        """
        data = self.to_dict()
        data["run"] = {k: v for k, v in data["run"].items() if k != "seed"}
        if data["reform"] == ReformParams().to_dict():
            del data["reform"]
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


def _policy_spec(name: str, table: Any) -> tuple[bool, PolicySpec]:
    """A ``[policies.<name>]`` table validated: whether it is on (``enabled``, default true) and its spec."""
    try:
        policy_cls = policies.get(name)
    except KeyError as err:
        raise ParameterError(f"policies.{name}", str(err.args[0]).replace(f"policy {name!r}", "policy")) from None
    if not isinstance(table, Mapping):
        raise ParameterError(f"policies.{name}", "expected a table of the policy's parameters")
    table = dict(table)
    enabled = table.pop("enabled", True)
    if not isinstance(enabled, bool):
        raise ParameterError(f"policies.{name}.enabled", f"expected true or false, got {enabled!r}")
    try:
        return enabled, PolicySpec(name, policy_cls.Params.from_dict(table))
    except ParameterError as err:
        raise err.under(f"policies.{name}") from None


def _switches_first(overrides: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Overrides with the policy switches (``policies.<name>`` tables and ``.enabled``) first, else in order."""
    def is_switch(path: str) -> bool:
        parts = path.split(".")
        return parts[0] == "policies" and (len(parts) == 2 or (len(parts) == 3 and parts[2] == "enabled"))

    items = list(overrides.items())
    return [kv for kv in items if is_switch(kv[0])] + [kv for kv in items if not is_switch(kv[0])]


def _off_error(path: str, name: str) -> ParameterError:
    return ParameterError(path, f"policy {name!r} is off in this scenario; switch it on explicitly with "
                                f"policies.{name}.enabled=true")


def _override_policy(tables: dict[str, Any], path: str, value: Any, switch_on: bool) -> None:
    """Apply one ``policies.<name>[.<key>...]`` override to the plain-data policy tables (see the module)."""
    parts = path.split(".")
    if len(parts) < 2 or not all(parts):
        raise ParameterError(path, "expected policies.<name>.<parameter>")
    name = parts[1]
    _policy_spec(name, {})  # an unknown policy fails here, naming it
    if len(parts) == 2:
        if not isinstance(value, Mapping):
            raise ParameterError(path, "expected a table of the policy's parameters (or use policies.<name>.enabled)")
        tables[name] = dict(value)
        return
    table: dict[str, Any] | None = tables.get(name)
    on = table is not None and table.get("enabled", True) is not False
    if parts[2] == "enabled" and len(parts) == 3:
        if not isinstance(value, bool):
            raise ParameterError(path, f"expected true or false, got {value!r}")
        if table is None:
            table = tables[name] = {}
        table["enabled"] = value
        return
    if table is None or not on:
        if not switch_on:
            raise _off_error(path, name)
        table = tables[name] = {**(table or {}), "enabled": True}
    node = table
    for part in parts[2:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def apply_overrides(base: Scenario, overrides: Mapping[str, Any], *, switch_on: bool = False) -> Scenario:
    """``base`` with ``{"dotted.key": value}`` set and validated; equals ``base.with_overrides``.

    Much cheaper than ``with_overrides`` (which rebuilds the whole scenario from plain data):
    only the dataclasses on the path are replaced (and validated). Policy keys follow the rules of
    the module docstring (a policy switched on is appended last, as ``with_overrides`` does);
    ``switch_on`` lets a parameter of a policy that is off switch it on (sweeps' levers). Raises
    :class:`ParameterError` naming the key.
    """
    sc = base
    for path, value in _switches_first(overrides):
        parts = path.split(".")
        if parts[0] != "policies":
            sc = sc.replace_path(path, value)
            continue
        if len(parts) < 3 or parts[2] == "enabled" or not all(parts):
            sc = sc.with_overrides({path: value})  # switches are rare: the full path
            continue
        name, rest = parts[1], ".".join(parts[2:])
        specs = list(sc.policies)
        pos = next((i for i, s in enumerate(specs) if s.name == name), None)
        if pos is None:
            off = next((s for s in sc.policies_off if s.name == name), None)
            if not switch_on:
                _policy_spec(name, {})  # an unknown policy is named as such
                raise _off_error(path, name)
            specs.append(off or _policy_spec(name, {})[1])
            sc = dataclasses.replace(sc, policies_off=tuple(s for s in sc.policies_off if s.name != name))
            pos = len(specs) - 1
        try:
            params = specs[pos].params.replace_path(rest, value)
        except ParameterError as err:
            raise err.under(f"policies.{name}") from None
        specs[pos] = PolicySpec(name, params)
        sc = dataclasses.replace(sc, policies=tuple(specs))
    return sc


#: the longest ``extends`` chain a scenario file may start (the shipped files use one link)
MAX_EXTENDS = 16


def _read_toml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a scenario file and, recursively, the file it ``extends``."""
    src = str(path)
    if path.resolve() in seen:
        raise ScenarioError(src, "extends", "circular extends chain")
    if len(seen) >= MAX_EXTENDS:
        raise ScenarioError(str(seen[0]), "extends", f"a chain of more than {MAX_EXTENDS} files; allowed: at most "
                                                     f"{MAX_EXTENDS} files extending one another")
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
        raise ScenarioError.of(str(path), err) from None
    return scenario


def dump_toml(data: Mapping[str, Any]) -> str:
    """Nested plain data (tables and scalars) as TOML text, by a real serialiser (tomli-w).

    Every string round-trips (newlines, quotes, control characters are escaped); ``None`` values
    are left out (TOML has no null); a non-finite number is refused (:class:`ValueError`).
    """
    import tomli_w

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"cannot write the non-finite number {value!r} as TOML")
        return value

    return tomli_w.dumps(clean(data))
