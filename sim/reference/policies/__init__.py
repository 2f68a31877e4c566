"""Reference implementations of the policies (docs/model.md §8), one module per reform, one rule at a time.

Each policy has ``setup(model)``, ``cost_per_day(model)`` and ``on_<phase>(model, t)`` hooks run
after the core submodel of that phase, in scenario order. Random numbers come from the
policy's own stream ``policy:<name>``.
"""

from __future__ import annotations

from typing import Any

from sim.reference.policies.alliance import AlliancePolicy
from sim.reference.policies.base import ReferencePolicy
from sim.reference.policies.four_empowerments import FourEmpowermentsPolicy
from sim.reference.policies.grid import GridPolicy
from sim.reference.policies.micro_projects import MicroProjectsPolicy
from sim.reference.policies.one_core_many import OneCoreManyPolicy
from sim.reference.policies.street_empowerment import StreetEmpowermentPolicy
from sim.reference.policies.whistle import WhistlePolicy

_ALL: tuple[type[ReferencePolicy], ...] = (GridPolicy, AlliancePolicy, StreetEmpowermentPolicy, WhistlePolicy,
                                           FourEmpowermentsPolicy, MicroProjectsPolicy, OneCoreManyPolicy)
REGISTRY: dict[str, type[ReferencePolicy]] = {cls.name: cls for cls in _ALL}


def make_policy(name: str, params: Any) -> ReferencePolicy:
    """The reference policy ``name`` with its validated parameters."""
    if name not in REGISTRY:
        raise NotImplementedError(f"policy {name!r} has no reference implementation; have: {sorted(REGISTRY)}")
    return REGISTRY[name](params)


__all__ = ["REGISTRY", "ReferencePolicy", "make_policy"]
