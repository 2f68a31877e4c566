"""Party members: residents who are party members, each linked to a few residents (双联双带, 001).

Members contact the residents they are linked to and so find problems early; they volunteer
more often than other residents. In-service members who register with the community (双报到,
000) are added by the alliance policy through :meth:`PartyMembers.add_in_service`.

Every volunteer, member or not, decides each month how readily to volunteer
(:func:`decide_volunteering`): recognition of their service raises the rate, recent heavy
volunteering (burnout) lowers it. Policies raise ``recognition`` and ``volunteer_mult``; the
monthly decision owns ``volunteer_rate`` (which the participate kernel reads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.config.params import PartyParams
from sim.core.kernels import libm
from sim.core.kernels.arising import link_codes
from sim.core.world import World


@dataclass
class PartyMembers:
    """Party members (resident ids) and, per resident, how many members are linked to them."""

    ids: np.ndarray  # int32 resident ids of members living in the area
    n_links: np.ndarray  # int16 per resident: number of members linked to the resident
    n_in_service: np.ndarray  # int32 per community: in-service members registered (双报到)
    volunteer_rate: np.ndarray  # float32 per resident: daily chance to volunteer at trust 1 (monthly decision)
    volunteer_mult: np.ndarray  # float32 per resident: multiplier policies raise (teams, time banks)
    base_rate: np.ndarray  # float32 per resident: the rate before recognition and burnout
    recognition: np.ndarray  # float32 per resident in [0, 1]: how far their service is recognised (policies)
    load: np.ndarray  # float32 per resident: recent volunteering hours a month (moving average)
    turns_seen: np.ndarray  # int32 per resident: volunteer turns counted at the last decision
    _p_links: np.ndarray | None = field(default=None, repr=False)  # p_by_links's table, kept

    @classmethod
    def create(cls, world: World, params: PartyParams, resident_rate: float) -> PartyMembers:
        """The world's members, the links per resident and everyone's volunteering rate."""
        n_links = np.bincount(world.link_indices, minlength=world.n_residents).astype(np.int16)
        rate = np.full(world.n_residents, resident_rate, dtype=np.float32)
        rate[world.party_ids] = params.rate_volunteer
        n = world.n_residents
        return cls(ids=world.party_ids, n_links=n_links,
                   n_in_service=np.zeros(world.n_communities, dtype=np.int32), volunteer_rate=rate,
                   volunteer_mult=np.ones(n, dtype=np.float32), base_rate=rate.copy(),
                   recognition=np.zeros(n, dtype=np.float32), load=np.zeros(n, dtype=np.float32),
                   turns_seen=np.zeros(n, dtype=np.int32))

    def links_today(self, params: PartyParams) -> tuple[np.ndarray, np.ndarray]:
        """``p_found_by_links`` for 0, 1, ... links, and the link counts' 4-bit codes (``link_codes``).

        The table runs up to the most links any resident has (kept while that holds); one pass over
        the links finds both, each day, as the links may change.
        """
        codes, n_max = link_codes(self.n_links)
        if self._p_links is None or self._p_links.size != n_max + 1:
            self._p_links = p_found_by_links(np.arange(n_max + 1), params)
        return self._p_links, codes

    def add_in_service(self, per_community: np.ndarray) -> None:
        """Register in-service members (双报到) with each community; they volunteer, not report."""
        self.n_in_service += per_community.astype(np.int32)


def decide_volunteering(party: PartyMembers, volunteer_turns: np.ndarray, hours_per_turn: float,
                        params: PartyParams, dur_month: float) -> None:
    """Each resident's volunteering rate for the next month, from recognition and recent load.

    ``load = k load + (1 - k) hours_last_month`` (``k = exp(-dur_month / dur_load_memory)``);
    ``rate = base_rate (1 + recognition_gain recognition) / (1 + burnout_slope max(load / hours_burnout - 1, 0))``.
    """
    turns = volunteer_turns - party.turns_seen
    party.turns_seen = volunteer_turns.copy()
    keep = np.float32(math.exp(-dur_month / params.dur_load_memory))  # the C library's exp, as the kernels'
    party.load = keep * party.load + (np.float32(1.0) - keep) * turns.astype(np.float32) * np.float32(hours_per_turn)
    over = np.maximum(party.load / np.float32(params.hours_burnout) - np.float32(1.0), np.float32(0.0))
    lift = np.float32(1.0) + np.float32(params.recognition_gain) * party.recognition
    party.volunteer_rate = (party.base_rate * lift / (np.float32(1.0) + np.float32(params.burnout_slope) * over)
                            ).astype(np.float32)


def p_found_by_links(n_links: np.ndarray, params: PartyParams) -> np.ndarray:
    """Daily chance that a resident's latent problem is found through their party-member links."""
    p_one = params.rate_contact * params.p_find_on_contact
    return 1.0 - libm.power(1.0 - p_one, n_links)  # the C library's pow, not numpy's CPU-dependent ufunc
