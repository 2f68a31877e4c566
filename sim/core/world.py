"""The community graph: street -> communities -> compounds -> buildings -> households -> residents.

The generator builds the structure directly as numpy arrays (CSR adjacency for the social ties
and for the party members' links), which is what the core works on. :func:`to_networkx`
builds the equivalent networkx graph on demand for analysis and drawing: at district scale a
networkx object of millions of edges costs gigabytes and minutes, so it is never on the hot path.

Residents are numbered so that every building, compound, community and street is a contiguous
range of ids; households are numbered the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import scipy.sparse as sp

from sim.config.params import WorldParams
from sim.config.taxonomy import ADULT, CHILD, COMPOUND_TYPES, ELDERLY, GROUPS, OLD

#: Co-building unit types (000): police station, hospital/clinic, university, market
#: regulator, fire brigade, enterprise, social organisation.
UNIT_TYPES: tuple[str, ...] = (
    "police", "hospital", "university", "market_regulator", "fire_brigade", "enterprise", "social_org",
)


@dataclass
class World:
    """Static structure of the simulated area. Arrays are indexed by the entity's id."""

    # compounds
    compound_type: np.ndarray  # int8, COMPOUND_TYPES code
    compound_community: np.ndarray  # int32
    compound_start: np.ndarray  # int64, first resident id
    compound_size: np.ndarray  # int64, residents
    compound_hh_start: np.ndarray  # int64, first household id
    compound_n_households: np.ndarray  # int64
    # communities and streets
    community_street: np.ndarray  # int32
    community_start: np.ndarray  # int64, first resident id
    community_size: np.ndarray  # int64
    street_size: np.ndarray  # int64
    # households
    household_start: np.ndarray  # int64, first resident id
    household_size: np.ndarray  # int32
    household_compound: np.ndarray  # int32
    household_building: np.ndarray  # int32
    # buildings
    building_compound: np.ndarray  # int32
    # residents
    res_household: np.ndarray  # int32
    res_building: np.ndarray  # int32
    res_compound: np.ndarray  # int32
    res_community: np.ndarray  # int32
    res_street: np.ndarray  # int32
    res_ctype: np.ndarray  # int8
    res_group: np.ndarray  # int8
    res_party: np.ndarray  # bool
    # ties
    social_indptr: np.ndarray  # int64, CSR over residents, symmetric, no self loops
    social_indices: np.ndarray  # int32
    party_ids: np.ndarray  # int32, resident ids of party members
    link_indptr: np.ndarray  # int64, CSR: party member (row = position in party_ids) -> residents
    link_indices: np.ndarray  # int32
    # institutions
    unit_community: np.ndarray  # int32, co-building units
    unit_type: np.ndarray  # int8, UNIT_TYPES code
    firm_compound: np.ndarray  # int32, property firms (one per managed compound)
    compound_firm: np.ndarray  # int32, -1 where the compound has no firm

    @property
    def n_residents(self) -> int:
        return int(self.res_household.size)

    @property
    def n_households(self) -> int:
        return int(self.household_start.size)

    @property
    def n_compounds(self) -> int:
        return int(self.compound_type.size)

    @property
    def n_communities(self) -> int:
        return int(self.community_street.size)

    @property
    def n_streets(self) -> int:
        return int(self.street_size.size)

    def social_matrix(self) -> sp.csr_matrix:
        """The symmetric neighbour-tie adjacency as a scipy CSR matrix (0/1 entries)."""
        n = self.n_residents
        data = np.ones(self.social_indices.size, dtype=np.float32)
        return sp.csr_matrix((data, self.social_indices, self.social_indptr), shape=(n, n))

    def links_of(self, member_pos: int) -> np.ndarray:
        """Resident ids linked to the party member at position ``member_pos`` of ``party_ids``."""
        return self.link_indices[self.link_indptr[member_pos] : self.link_indptr[member_pos + 1]]


def _sizes(rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
    """At least one, mean ``mean``: 1 + Poisson(mean - 1)."""
    return 1 + rng.poisson(np.maximum(mean - 1.0, 0.0))


def _ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Concatenate arange(start, start+size) for each pair, vectorised."""
    total = int(sizes.sum())
    offsets = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.repeat(starts, sizes) + (np.arange(total) - offsets)


def _random_ties(rng: np.random.Generator, start: np.ndarray, size: np.ndarray, mean: float) -> tuple[np.ndarray, np.ndarray]:
    """Each resident i draws Poisson(mean) partners uniformly in [start[i], start[i]+size[i])."""
    k = rng.poisson(mean, size=start.size)
    src = np.repeat(np.arange(start.size, dtype=np.int64), k)
    dst = np.repeat(start, k) + (rng.random(src.size) * np.repeat(size, k)).astype(np.int64)
    return src, dst


def _csr(src: np.ndarray, dst: np.ndarray, n_rows: int, n_cols: int, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """CSR (indptr int64, indices int32) of the 0/1 adjacency, duplicates merged.

    With ``symmetric`` the rows and columns are the same residents: self loops are dropped and
    every tie is stored in both directions.
    """
    if symmetric:
        keep = src != dst
        src, dst = src[keep], dst[keep]
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    m = sp.coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(n_rows, n_cols)).tocsr()
    m.sum_duplicates()
    m.sort_indices()
    return m.indptr.astype(np.int64), m.indices.astype(np.int32)


def generate_world(params: WorldParams, rng: np.random.Generator) -> World:
    """Build the structure of one area from its parameters, with the ``world`` random stream."""
    n_comm = params.n_streets * params.n_communities_per_street
    n_cmp = n_comm * params.n_compounds_per_community
    community_street = np.repeat(np.arange(params.n_streets, dtype=np.int32), params.n_communities_per_street)
    compound_community = np.repeat(np.arange(n_comm, dtype=np.int32), params.n_compounds_per_community)
    shares = params.p_compound_type.array()
    compound_type = rng.choice(len(COMPOUND_TYPES), size=n_cmp, p=shares / shares.sum()).astype(np.int8)

    n_bld = _sizes(rng, params.n_buildings_per_compound.array()[compound_type])
    building_compound = np.repeat(np.arange(n_cmp, dtype=np.int32), n_bld)
    n_hh_bld = _sizes(rng, params.n_households_per_building.array()[compound_type[building_compound]])
    household_building = np.repeat(np.arange(building_compound.size, dtype=np.int32), n_hh_bld)
    household_compound = building_compound[household_building]
    hh_size = _sizes(rng, params.n_residents_per_household.array()[compound_type[household_compound]]).astype(np.int32)
    household_start = np.cumsum(hh_size, dtype=np.int64) - hh_size

    res_household = np.repeat(np.arange(hh_size.size, dtype=np.int32), hh_size)
    res_building = household_building[res_household]
    res_compound = household_compound[res_household]
    res_community = compound_community[res_compound]
    res_street = community_street[res_community]
    res_ctype = compound_type[res_compound]
    n = res_household.size

    u = rng.random(n)
    p_child = params.p_child.array()[res_ctype]
    p_old = params.p_elderly.array()[res_ctype]
    res_group = np.full(n, ADULT, dtype=np.int8)
    res_group[u < p_child] = CHILD
    res_group[u >= 1.0 - p_old] = ELDERLY
    # members are adults or elderly; the chance among them is scaled so that the share of all
    # residents is p_party_member, as the seed reports it (003)
    p_adult_party = np.minimum(params.p_party_member / np.maximum(1.0 - p_child, 1e-9), 1.0)
    res_party = (res_group != CHILD) & (rng.random(n) < p_adult_party)

    def starts_sizes(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
        size = np.bincount(keys, minlength=n_keys).astype(np.int64)
        return np.cumsum(size) - size, size

    b_start, b_size = starts_sizes(res_building, building_compound.size)
    c_start, c_size = starts_sizes(res_compound, n_cmp)
    m_start, m_size = starts_sizes(res_community, n_comm)
    _, s_size = starts_sizes(res_street, params.n_streets)
    s_start = np.cumsum(s_size) - s_size
    hh_count = np.bincount(household_compound, minlength=n_cmp).astype(np.int64)

    # neighbour ties: whole household, random within building and compound, a few long-range
    ids = np.arange(n, dtype=np.int64)
    hh_src = np.repeat(ids, hh_size[res_household])
    hh_dst = _ranges(household_start[res_household], hh_size[res_household].astype(np.int64))
    parts = [(hh_src, hh_dst)]
    parts.append(_random_ties(rng, b_start[res_building], b_size[res_building], params.n_building_ties))
    parts.append(_random_ties(rng, c_start[res_compound], c_size[res_compound], params.n_compound_ties))
    parts.append(_random_ties(rng, s_start[res_street], s_size[res_street], params.n_long_ties))
    src = np.concatenate([p[0] for p in parts])
    dst = np.concatenate([p[1] for p in parts])
    social_indptr, social_indices = _csr(src, dst, n, n, symmetric=True)

    # party members' links (双联双带, 001): residents of the same compound
    party_ids = np.flatnonzero(res_party).astype(np.int32)
    l_src, l_dst = _random_ties(rng, c_start[res_compound[party_ids]], c_size[res_compound[party_ids]],
                                params.n_links_per_party_member)
    not_self = party_ids[l_src] != l_dst
    link_indptr, link_indices = _csr(l_src[not_self], l_dst[not_self], party_ids.size, n, symmetric=False)

    # co-building units: the first seven of each community are one of each type (000)
    n_units = params.n_cobuilding_units_per_community
    unit_community = np.repeat(np.arange(n_comm, dtype=np.int32), n_units)
    unit_type = (np.tile(np.arange(n_units), n_comm) % len(UNIT_TYPES)).astype(np.int8)

    # property firms: one per managed (mature or new) compound; old compounds have none (003)
    managed = compound_type != OLD
    firm_compound = np.flatnonzero(managed).astype(np.int32)
    compound_firm = np.full(n_cmp, -1, dtype=np.int32)
    compound_firm[firm_compound] = np.arange(firm_compound.size, dtype=np.int32)

    return World(
        compound_type=compound_type, compound_community=compound_community,
        compound_start=c_start, compound_size=c_size,
        compound_hh_start=np.cumsum(hh_count) - hh_count, compound_n_households=hh_count,
        community_street=community_street, community_start=m_start, community_size=m_size,
        street_size=s_size,
        household_start=household_start, household_size=hh_size,
        household_compound=household_compound, household_building=household_building,
        building_compound=building_compound,
        res_household=res_household, res_building=res_building, res_compound=res_compound,
        res_community=res_community, res_street=res_street, res_ctype=res_ctype,
        res_group=res_group, res_party=res_party,
        social_indptr=social_indptr, social_indices=social_indices,
        party_ids=party_ids, link_indptr=link_indptr, link_indices=link_indices,
        unit_community=unit_community, unit_type=unit_type,
        firm_compound=firm_compound, compound_firm=compound_firm,
    )


def to_networkx(world: World, household_grid: np.ndarray | None = None) -> nx.Graph:
    """The same graph as a networkx object, for analysis and drawing.

    Residents are integer nodes ``0..n-1`` (the ids of the arrays) with attributes
    ``kind="resident"``, ``household``, ``building``, ``compound``, ``community``, ``street``,
    ``compound_type``, ``group``, ``party`` (and ``grid`` if given). Neighbour ties are edges
    with ``kind="neighbour"``; a party member's link to a resident is ``kind="party_link"``
    (an edge that is both is kept as a neighbour tie with ``party_link=True``). Institutions
    are string nodes (``street:0``, ``community:3``, ``compound:12``, ``firm:5``, ``unit:20``)
    joined by ``kind="part_of"`` / ``"serves"`` edges.
    """
    g = nx.Graph()
    n = world.n_residents
    ctype_names = np.array(COMPOUND_TYPES)[world.res_ctype]
    group_names = np.array(GROUPS)[world.res_group]
    cols = {
        "household": world.res_household, "building": world.res_building, "compound": world.res_compound,
        "community": world.res_community, "street": world.res_street,
    }
    if household_grid is not None:
        cols["grid"] = household_grid[world.res_household]
    lists = {k: v.tolist() for k, v in cols.items()}
    party = world.res_party.tolist()
    g.add_nodes_from(
        (i, {"kind": "resident", **{k: lists[k][i] for k in lists}, "compound_type": str(ctype_names[i]),
             "group": str(group_names[i]), "party": party[i]})
        for i in range(n)
    )
    rows = np.repeat(np.arange(n), np.diff(world.social_indptr))
    upper = rows < world.social_indices
    g.add_edges_from(zip(rows[upper].tolist(), world.social_indices[upper].tolist()), kind="neighbour")
    m_rows = world.party_ids[np.repeat(np.arange(world.party_ids.size), np.diff(world.link_indptr))]
    for a, b in zip(m_rows.tolist(), world.link_indices.tolist()):
        if g.has_edge(a, b):
            g.edges[a, b]["party_link"] = True
        else:
            g.add_edge(a, b, kind="party_link", party_link=True)
    for s in range(world.n_streets):
        g.add_node(f"street:{s}", kind="street")
    for c in range(world.n_communities):
        g.add_node(f"community:{c}", kind="community")
        g.add_edge(f"community:{c}", f"street:{int(world.community_street[c])}", kind="part_of")
    for k in range(world.n_compounds):
        g.add_node(f"compound:{k}", kind="compound", compound_type=COMPOUND_TYPES[int(world.compound_type[k])])
        g.add_edge(f"compound:{k}", f"community:{int(world.compound_community[k])}", kind="part_of")
    for f, k in enumerate(world.firm_compound.tolist()):
        g.add_node(f"firm:{f}", kind="property_firm")
        g.add_edge(f"firm:{f}", f"compound:{k}", kind="serves")
    for u, (c, t) in enumerate(zip(world.unit_community.tolist(), world.unit_type.tolist())):
        g.add_node(f"unit:{u}", kind="cobuilding_unit", unit_type=UNIT_TYPES[t])
        g.add_edge(f"unit:{u}", f"community:{c}", kind="serves")
    return g


__all__ = ["UNIT_TYPES", "World", "generate_world", "to_networkx"]
