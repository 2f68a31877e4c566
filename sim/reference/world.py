"""Initialisation of the reference model (docs/model.md §5): world, grids, residents, handlers."""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

from sim.config.taxonomy import ADULT, CHILD, CITY, DEPARTMENT, ELDERLY, N_CATEGORIES, OLD
from sim.reference.agents import (
    UNIT_TYPES,
    Building,
    City,
    CoBuildingUnit,
    Community,
    Compound,
    Department,
    Grid,
    Household,
    PartyMember,
    PropertyFirm,
    Resident,
    StreetOffice,
)
from sim.reference.streams import beta_mean, poisson

if TYPE_CHECKING:
    from sim.reference.model import ReferenceModel


def size(rng: random.Random, mean: float) -> int:
    """``Size(mean) = 1 + Poisson(max(mean - 1, 0))``."""
    return 1 + poisson(rng, max(mean - 1.0, 0.0))


def build_world(model: ReferenceModel) -> None:
    """Generate the hierarchy, residents, ties, party links, units and firms (§5.1, stream ``world``).

    The steps draw from the one stream ``world`` in the order of §5.1, so the world is the same
    draw for draw whatever the code's layout.
    """
    rng = model.streams.get("world")
    _build_communities(model)
    _build_compounds(model, rng)
    _build_ties(model, rng)
    _link_party_members(model, rng)
    _build_units(model)


def _build_communities(model: ReferenceModel) -> None:
    """1. Streets and their communities, grouped into big communities."""
    w = model.sc.world
    n_comm = w.n_streets * w.n_communities_per_street
    model.streets = [StreetOffice(model, s) for s in range(w.n_streets)]
    model.communities = []
    for j in range(n_comm):
        street = model.streets[j // w.n_communities_per_street]
        comm = Community(model, j, street)
        comm.big = j // w.n_communities_per_big_community  # its big community (000)
        street.communities.append(comm)
        model.communities.append(comm)


class _Sizes:
    """Per compound type: mean sizes of §5.1 and the group and party-membership chances."""

    def __init__(self, w: Any) -> None:
        p_type = w.p_compound_type.array().tolist()
        self.cum_type = [sum(p_type[: k + 1]) / sum(p_type) for k in range(3)]
        self.buildings = w.n_buildings_per_compound.array().tolist()
        self.households = w.n_households_per_building.array().tolist()
        self.residents = w.n_residents_per_household.array().tolist()
        self.p_child = w.p_child.array().tolist()
        self.p_elderly = w.p_elderly.array().tolist()
        # membership chance of an adult or elderly resident, so that p_party_member is the share of all residents
        self.p_member = [min(1.0, w.p_party_member / max(1.0 - pc, 1e-9)) for pc in self.p_child]


def _build_compounds(model: ReferenceModel, rng: random.Random) -> None:
    """2.-7. Compounds of every community: type, buildings, households, residents (ids contiguous)."""
    sizes = _Sizes(model.sc.world)
    model.compounds = []
    model.households = []
    model.residents = []
    for comm in model.communities:
        for _ in range(model.sc.world.n_compounds_per_community):
            u = rng.random()  # 2. compound type
            k = next((i for i, c in enumerate(sizes.cum_type) if u < c), 2)
            comp = Compound(len(model.compounds), k, comm, model.sc.problems.p_prevented_base, N_CATEGORIES)
            comm.compounds.append(comp)
            model.compounds.append(comp)
            for _ in range(size(rng, sizes.buildings[k])):  # 3.-5. buildings, households, residents
                bld = Building(len(comp.buildings), comp)
                comp.buildings.append(bld)
                for _ in range(size(rng, sizes.households[k])):
                    hh = Household(len(model.households), bld, comp)
                    bld.households.append(hh)
                    comp.households.append(hh)
                    model.households.append(hh)
                    for _ in range(size(rng, sizes.residents[k])):
                        _add_resident(model, rng, sizes, hh)


def _add_resident(model: ReferenceModel, rng: random.Random, sizes: _Sizes, hh: Household) -> None:
    """6. group; 7. party membership (non-children only); the resident joins every level above it."""
    k = hh.compound.ctype
    u = rng.random()
    group = CHILD if u < sizes.p_child[k] else (ELDERLY if u >= 1.0 - sizes.p_elderly[k] else ADULT)
    u_party = rng.random()
    party = group != CHILD and u_party < sizes.p_member[k]
    cls = PartyMember if party else Resident
    res = cls(model, len(model.residents), hh, group)
    hh.residents.append(res)
    hh.building.residents.append(res)
    hh.compound.residents.append(res)
    hh.compound.community.residents.append(res)
    hh.compound.community.street.residents.append(res)
    model.residents.append(res)


def _build_ties(model: ReferenceModel, rng: random.Random) -> None:
    """8. Neighbour ties: within the household, then Poisson draws in building, compound and street."""
    w = model.sc.world
    nbrs: list[set[Resident]] = [set() for _ in model.residents]

    def tie(a: Resident, b: Resident) -> None:
        if a is not b:
            nbrs[a.rid].add(b)
            nbrs[b.rid].add(a)

    for hh in model.households:
        for i, a in enumerate(hh.residents):
            for b in hh.residents[i + 1:]:
                tie(a, b)
    for res in model.residents:
        for pool, mean in ((res.building.residents, w.n_building_ties),
                           (res.compound.residents, w.n_compound_ties),
                           (res.community.street.residents, w.n_long_ties)):
            for _ in range(poisson(rng, mean)):
                tie(res, pool[int(rng.random() * len(pool))])
    if w.p_rewire > 0:
        _rewire(model, nbrs, w.p_rewire, model.streams.get("rewire"))
    for res in model.residents:
        res.neighbours = sorted(nbrs[res.rid], key=lambda r: r.rid)


def _rewire(model: ReferenceModel, nbrs: list[set[Resident]], p: float, rng: random.Random) -> None:
    """8b. Each tie is cut with chance ``p``; the cut ends are shuffled and re-paired (degrees kept).

    A pair that would be a self-tie or a repeated tie is cut again, with as many random new
    pairs, and re-paired (at most 50 rounds; pairs still bad are dropped).
    """
    res = model.residents
    edges = [(a.rid, b.rid) for a in res for b in sorted(nbrs[a.rid], key=lambda r: r.rid) if a.rid < b.rid]
    ends: list[int] = []
    for a, b in edges:
        if rng.random() < p:
            nbrs[a].discard(res[b])
            nbrs[b].discard(res[a])
            ends += [a, b]
    rng.shuffle(ends)
    pairs = [(ends[i], ends[i + 1]) for i in range(0, len(ends) - 1, 2)]
    for _ in range(50):
        seen: set[tuple[int, int]] = set()
        bad, good = [], []
        for k, (a, b) in enumerate(pairs):
            key = (min(a, b), max(a, b))
            if a == b or key in seen or res[b] in nbrs[a]:
                bad.append(k)
            else:
                seen.add(key)
                good.append(k)
        if not bad:
            break
        redo = bad + rng.sample(good, min(len(bad), len(good)))
        loose = [e for k in redo for e in pairs[k]]
        rng.shuffle(loose)
        for j, k in enumerate(redo):
            pairs[k] = (loose[2 * j], loose[2 * j + 1])
    for a, b in pairs:
        if a != b and res[b] not in nbrs[a]:
            nbrs[a].add(res[b])
            nbrs[b].add(res[a])


def _link_party_members(model: ReferenceModel, rng: random.Random) -> None:
    """9. Party-member links within the compound."""
    for res in model.residents:
        if isinstance(res, PartyMember):
            pool = res.compound.residents
            linked: dict[int, Resident] = {}
            for _ in range(poisson(rng, model.sc.world.n_links_per_party_member)):
                other = pool[int(rng.random() * len(pool))]
                if other is not res:
                    linked[other.rid] = other
            res.links = list(linked.values())
            for other in res.links:
                other.n_links += 1


def _build_units(model: ReferenceModel) -> None:
    """10. Co-building units (not allied); 11. firms are built with the handlers."""
    for comm in model.communities:
        for u in range(model.sc.world.n_cobuilding_units_per_community):
            comm.units.append(CoBuildingUnit(model, comm, u % len(UNIT_TYPES)))


def build_grids(model: ReferenceModel, households_per_grid: list[float], n_workers: float) -> None:
    """Cut every compound's households into grids of consecutive blocks (§5.2); replaces old grids."""
    for grid in getattr(model, "grids", []):
        grid.remove()
    model.grids = []
    for comm in model.communities:
        comm.grids = []
    for comp in model.compounds:
        hpg = int(households_per_grid[comp.ctype])
        comp.grids = []
        n = math.ceil(len(comp.households) / hpg)
        for g in range(n):
            block = comp.households[g * hpg: (g + 1) * hpg]
            grid = Grid(model, comp, block, n_workers)
            for pos, hh in enumerate(block):
                hh.grid = grid
                hh.pos = pos
            comp.grids.append(grid)
            comp.community.grids.append(grid)
            model.grids.append(grid)


def init_residents(model: ReferenceModel) -> None:
    """Beta-distributed P, T, E, F and S from P and E (§5.3, stream ``residents``); daily arrival rates (§7.1)."""
    r = model.sc.residents
    rng = model.streams.get("residents")
    K = r.init_concentration
    prm = model.sc.problems
    W = prm.category_weights.matrix().tolist()
    M = prm.category_mult.matrix().tolist()
    norm = sum(W[ADULT])
    rates = {}
    for k in range(3):
        for g in range(3):
            lams = [prm.rate_arise * W[g][c] * M[k][c] / norm for c in range(N_CATEGORIES)]
            rates[(k, g)] = [(lam, math.exp(-lam)) for lam in lams]
    for res in model.residents:
        res.P = beta_mean(rng, r.performance_init, K)
        res.T = beta_mean(rng, r.trust_init, K)
        res.E = beta_mean(rng, r.expectation_init, K)
        res.F = beta_mean(rng, r.efficacy_init, K)
        res.S = min(1.0, max(0.0, res.P + r.beta_disconfirm * (res.P - res.E)))
        res.rates = rates[(res.ctype, res.group)]


def build_handlers(model: ReferenceModel) -> None:
    """Firms, community staff, street, department and city capacities (§5.4)."""
    sc = model.sc
    h = sc.handling
    rng = model.streams.get("firms")
    quality = h.property_quality.array().tolist()
    model.firms = []
    for comp in model.compounds:
        if comp.ctype != OLD:  # 11. one firm per compound that is not old
            q = beta_mean(rng, quality[comp.ctype], h.property_quality_concentration)
            cap = h.property_capacity_per_100_households * len(comp.households) / 100.0
            firm = PropertyFirm(model, comp, q, cap)
            comp.firm = firm
            model.firms.append(firm)
    for comm in model.communities:
        comm.n_staff = sc.community.n_staff_per_10k * len(comm.residents) / 10_000
    for street in model.streets:
        street.cap = h.capacity_street_per_10k * len(street.residents) / 10_000
    n = len(model.residents)
    model.departments = [Department(model, c, DEPARTMENT, h.capacity_department_per_10k * n / 10_000)
                         for c in range(N_CATEGORIES)]
    model.city = City(model, -1, CITY, h.capacity_city_per_10k * n / 10_000)
