"""Mesa agents of :class:`~sim.mesa.model.GovsimModel`: thin views of the core's institutions.

Street offices, communities, co-building units and property firms are ``mesa.Agent``
objects whose properties read the vectorised core's arrays (so they are always current and
hold no state); residents, too many for one object each, get the cheap :class:`ResidentView`.
Kept apart from the model so that each module has one concern.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.config.taxonomy import COMMUNITY, COMPOUND_TYPES, GROUPS, PROPERTY, STREET
from sim.core.world import UNIT_TYPES

if TYPE_CHECKING:
    from sim.core.model import Model as CoreModel
    from sim.mesa.model import GovsimModel


# ---- institutional stakeholders as Mesa agents ---------------------------------------------------
class _Stakeholder(mesa.Agent):
    """A thin view of one institution of the core: ``index`` is its id in the core's arrays.

    The agents hold no state of their own and do nothing in ``step``: the core decides for all
    of them at once. Their properties read the core's arrays, so they are always current.
    """

    kind: str = ""

    def __init__(self, model: GovsimModel, index: int) -> None:
        super().__init__(model)
        self.index = int(index)

    @property
    def core(self) -> CoreModel:
        return self.model.core

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind}:{self.index}>"


class StreetOfficeAgent(_Stakeholder):
    """A street office (街道): capacity, authority over departments' agencies, its backlog."""

    kind = "street"

    @property
    def capacity(self) -> float:
        """Effort per day for residents' problems."""
        return float(self.core.streets.capacity[self.index])

    @property
    def authority(self) -> np.ndarray:
        """Chance of success per category at this street (base authority x the street's multiplier)."""
        return self.core.handlers.authority[STREET] * self.core.streets.authority_mult[self.index]

    @property
    def backlog(self) -> int:
        """Problems queued at this street today."""
        return int(self.model.backlog_by_handler(STREET)[self.index])

    @property
    def n_residents(self) -> int:
        """Residents of this street."""
        return int(self.core.world.street_size[self.index])

    @property
    def communities(self) -> list[CommunityAgent]:
        """The street's communities, as agents."""
        ids = np.flatnonzero(self.core.world.community_street == self.index)
        return [self.model.community_agents[i] for i in ids]


class CommunityAgent(_Stakeholder):
    """A community (社区) with its staff, its grids and its residents."""

    kind = "community"

    @property
    def street(self) -> StreetOfficeAgent:
        """The street office this community belongs to."""
        return self.model.street_agents[int(self.core.world.community_street[self.index])]

    @property
    def residents(self) -> slice:
        """The community's residents: a contiguous range of resident ids."""
        w = self.core.world
        start = int(w.community_start[self.index])
        return slice(start, start + int(w.community_size[self.index]))

    @property
    def n_residents(self) -> int:
        """Residents of this community."""
        return int(self.core.world.community_size[self.index])

    @property
    def staff(self) -> float:
        """Community workers (full-time equivalents)."""
        return float(self.core.communities.n_staff[self.index])

    @property
    def problem_capacity(self) -> float:
        """Staff effort per day left for residents' problems after administrative tasks."""
        return float(self.core.communities.problem_capacity()[self.index])

    @property
    def n_grids(self) -> int:
        """Grids cut in this community's compounds."""
        return int((self.core.grids.grid_community == self.index).sum())

    @property
    def grid_workers(self) -> float:
        """Grid workers over the community's grids (full-time equivalents)."""
        g = self.core.grids
        return float(g.n_workers[g.grid_community == self.index].sum())

    @property
    def backlog(self) -> int:
        """Problems queued at this community's staff today."""
        return int(self.model.backlog_by_handler(COMMUNITY)[self.index])

    @property
    def satisfaction(self) -> float:
        """Mean satisfaction of its residents."""
        return float(self.core.residents.satisfaction[self.residents].mean(dtype=np.float64))

    @property
    def trust(self) -> float:
        """Mean trust of its residents."""
        return float(self.core.residents.trust[self.residents].mean(dtype=np.float64))

    @property
    def units(self) -> list[CoBuildingUnitAgent]:
        """The community's co-building units, as agents."""
        ids = np.flatnonzero(self.core.units.community == self.index)
        return [self.model.unit_agents[i] for i in ids]


class CoBuildingUnitAgent(_Stakeholder):
    """A co-building unit (共建单位): police station, hospital, university, ... of a community."""

    kind = "unit"

    @property
    def unit_type(self) -> str:
        """What kind of unit (police station, hospital, ...)."""
        return UNIT_TYPES[int(self.core.units.unit_type[self.index])]

    @property
    def community(self) -> CommunityAgent:
        """The community the unit belongs to."""
        return self.model.community_agents[int(self.core.units.community[self.index])]

    @property
    def allied(self) -> bool:
        """Signed the alliance's co-building agreement (the ``alliance`` policy)."""
        return bool(self.core.units.allied[self.index])

    @property
    def resources(self) -> np.ndarray:
        """Resource list: relative help per problem category."""
        return self.core.units.resources[self.index]


class PropertyFirmAgent(_Stakeholder):
    """A property firm (物业) serving one compound."""

    kind = "firm"

    @property
    def compound(self) -> int:
        """Index of the compound the firm serves."""
        return int(self.core.firms.compound[self.index])

    @property
    def compound_type(self) -> str:
        """Type of that compound (old, mature, new)."""
        return COMPOUND_TYPES[int(self.core.world.compound_type[self.compound])]

    @property
    def quality(self) -> float:
        """Service quality: scales the firm's chance of success."""
        return float(self.core.firms.quality[self.index])

    @property
    def capacity(self) -> float:
        """Problems the firm can take on a day."""
        return float(self.core.firms.capacity[self.index])

    @property
    def community_run(self) -> bool:
        """Run by the community rather than a commercial firm."""
        return bool(self.core.firms.community_run[self.index])

    @property
    def backlog(self) -> int:
        """Property problems queued at this firm today."""
        by = self.model.backlog_by_handler(PROPERTY)
        return int(by[self.index]) if self.index < by.size else 0

    @property
    def satisfaction(self) -> float:
        """Mean satisfaction of the compound's residents."""
        w = self.core.world
        start = int(w.compound_start[self.compound])
        return float(self.core.residents.satisfaction[start:start + int(w.compound_size[self.compound])].mean())


class ResidentView:
    """A cheap read-only view of one resident (residents are arrays, not Mesa agents)."""

    __slots__ = ("index", "model")

    def __init__(self, model: GovsimModel, index: int) -> None:
        n = model.core.world.n_residents
        if not 0 <= index < n:
            raise IndexError(f"resident {index} out of range 0..{n - 1}")
        self.model = model
        self.index = int(index)

    def _w(self, name: str) -> int:
        return int(getattr(self.model.core.world, name)[self.index])

    satisfaction = property(lambda self: float(self.model.core.residents.satisfaction[self.index]))
    trust = property(lambda self: float(self.model.core.residents.trust[self.index]))
    expectation = property(lambda self: float(self.model.core.residents.expectation[self.index]))
    volunteer_turns = property(lambda self: int(self.model.core.residents.volunteer_turns[self.index]))
    household = property(lambda self: self._w("res_household"))
    building = property(lambda self: self._w("res_building"))
    compound = property(lambda self: self._w("res_compound"))
    street = property(lambda self: self._w("res_street"))
    compound_type = property(lambda self: COMPOUND_TYPES[self._w("res_ctype")])
    group = property(lambda self: GROUPS[self._w("res_group")])
    party_member = property(lambda self: bool(self.model.core.world.res_party[self.index]))

    @property
    def community(self) -> CommunityAgent:
        """The community the resident lives in."""
        return self.model.community_agents[self._w("res_community")]

    @property
    def open_problems(self) -> int:
        """Problems of this resident not yet resolved or given up (latent or queued)."""
        return int((self.model.core.problems.res == self.index).sum())

    def __repr__(self) -> str:
        return f"<ResidentView {self.index} {self.compound_type} s={self.satisfaction:.2f}>"


__all__ = ["CoBuildingUnitAgent", "CommunityAgent", "PropertyFirmAgent", "ResidentView", "StreetOfficeAgent"]
