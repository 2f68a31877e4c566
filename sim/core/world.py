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
from typing import TYPE_CHECKING

import numpy as np

from sim.config.params import WorldParams
from sim.config.taxonomy import ADULT, CHILD, COMPOUND_TYPES, ELDERLY, GROUPS, OLD

if TYPE_CHECKING:  # imported where used: networkx by to_networkx alone, scipy.sparse when a world is built
    import networkx as nx
    import scipy.sparse as sp

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
    community_big: np.ndarray  # int32, big community (大社区, 000) of each community
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
        """Number of residents."""
        return int(self.res_household.size)

    @property
    def n_households(self) -> int:
        """Number of households."""
        return int(self.household_start.size)

    @property
    def n_compounds(self) -> int:
        """Number of compounds."""
        return int(self.compound_type.size)

    @property
    def n_communities(self) -> int:
        """Number of communities."""
        return int(self.community_street.size)

    @property
    def n_big_communities(self) -> int:
        """Number of big communities (each community its own when they are not modelled)."""
        return int(self.community_big[-1]) + 1 if self.community_big.size else 0

    @property
    def n_streets(self) -> int:
        """Number of streets."""
        return int(self.street_size.size)

    def compound_mean(self, values: np.ndarray) -> np.ndarray:
        """Mean of a per-resident array over each compound (float64; 0 for an empty compound)."""
        size = np.maximum(self.compound_size, 1).astype(np.float64)
        return np.bincount(self.res_compound, weights=values, minlength=self.n_compounds) / size

    def social_matrix(self) -> sp.csr_matrix:
        """The symmetric neighbour-tie adjacency as a scipy CSR matrix (0/1 entries)."""
        import scipy.sparse as sp

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
    # scipy's conversion rather than numpy's sort of (row, column) keys: the same arrays, but 2.6x the
    # time on a district, and it would save 2 MB of a small run's peak (numba's start loads scipy.linalg)
    import scipy.sparse as sp

    if symmetric:
        keep = src != dst
        src, dst = src[keep], dst[keep]
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    m = sp.coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(n_rows, n_cols)).tocsr()
    m.sum_duplicates()
    m.sort_indices()
    return m.indptr.astype(np.int64), m.indices.astype(np.int32)


def _starts_sizes(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """First id and number of ids of each key, for ids sorted by key."""
    size = np.bincount(keys, minlength=n_keys).astype(np.int64)
    return np.cumsum(size) - size, size


def generate_world(params: WorldParams, rng: np.random.Generator,
                   rewire_rng: np.random.Generator | None = None) -> World:
    """Build the structure of one area from its parameters, with the ``world`` random stream.

    The steps draw from the stream in a fixed order: compound types, buildings, households and
    their sizes, residents' groups, party membership, neighbour ties, party members' links.
    A share ``p_rewire`` of the neighbour ties is then rewired with ``rewire_rng`` alone (the
    ``rewire`` stream), so every other draw of the world stays the same.
    """
    cols: dict[str, np.ndarray] = {}
    _compounds(params, rng, cols)
    _households(params, rng, cols)
    _residents(params, rng, cols)
    _ranges_of(params, cols)
    _neighbour_ties(params, rng, cols)
    _party_links(params, rng, cols)
    _institutions(params, cols)
    if params.p_rewire > 0:
        if rewire_rng is None:
            raise ValueError("world.p_rewire > 0 needs the rewire random stream")
        cols["social_indptr"], cols["social_indices"] = rewire(cols["social_indptr"], cols["social_indices"],
                                                               params.p_rewire, rewire_rng)
    return World(**cols)


def repeats_and_members(keys: np.ndarray, sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per key: whether an earlier key has its value, and whether it is one of ``sorted_values`` (ascending).

    The first is False exactly at ``np.unique(keys, return_index=True)[1]``, the second is
    ``np.isin(keys, sorted_values)``. One unstable sort of the keys serves both: the smallest
    position in each run of equal values is the first occurrence (whichever the sort put first),
    and the sorted keys are searched in the values in order (each search starts near the last
    one's answer). np.isin would sort keys and values together on every call; :func:`rewire`
    looks up the same kept ties in every round, so it sorts them once.
    """
    repeat, member = np.ones(keys.shape, dtype=bool), np.zeros(keys.shape, dtype=bool)
    if keys.size == 0:
        return repeat, member
    order = np.argsort(keys)
    k = keys[order]
    repeat[np.minimum.reduceat(order, np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1]))))] = False
    if sorted_values.size:
        i = np.searchsorted(sorted_values, k)
        i[i == sorted_values.size] = 0
        member[order] = sorted_values[i] == k
    return repeat, member


def rewire(indptr: np.ndarray, indices: np.ndarray, p: float, rng: np.random.Generator,
           max_rounds: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Rewire each undirected tie with probability ``p``, keeping every resident's degree.

    The chosen ties are cut into their two ends ("stubs"), the stubs are shuffled and paired
    (the configuration model on the cut ends). A pair that would be a self-tie or repeat an
    existing tie is cut again, together with as many randomly chosen new pairs, and re-paired,
    for up to ``max_rounds`` rounds; pairs still bad after that are dropped (none in practice).
    """
    n = indptr.size - 1
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    cols = indices.astype(np.int64)
    upper = rows < cols
    a, b = rows[upper], cols[upper]
    cut = rng.random(a.size) < p
    kept = np.sort(a[~cut] * n + b[~cut])  # the kept ties' keys, sorted once for every round's lookup
    stubs = rng.permutation(np.concatenate([a[cut], b[cut]]))
    u, v = stubs[0::2], stubs[1::2]
    for _ in range(max_rounds):
        lo, hi = np.minimum(u, v), np.maximum(u, v)
        key = lo * n + hi
        dup, old = repeats_and_members(key, kept)  # the first of repeated new pairs may stay
        bad = (u == v) | dup | old
        n_bad = int(bad.sum())
        if n_bad == 0:
            break
        good = np.flatnonzero(~bad)
        redo = np.concatenate([np.flatnonzero(bad), rng.choice(good, size=min(n_bad, good.size), replace=False)])
        ends = rng.permutation(np.concatenate([u[redo], v[redo]]))
        u[redo], v[redo] = ends[0::2], ends[1::2]
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    key = lo * n + hi
    dup, old = repeats_and_members(key, kept)
    ok = ~dup & (u != v) & ~old
    src = np.concatenate([a[~cut], u[ok]])
    dst = np.concatenate([b[~cut], v[ok]])
    return _csr(src, dst, n, n, symmetric=True)


def _compounds(params: WorldParams, rng: np.random.Generator, cols: dict[str, np.ndarray]) -> None:
    """Streets, communities (grouped into big communities) and compounds, each of a type drawn by its share."""
    n_comm = params.n_streets * params.n_communities_per_street
    n_cmp = n_comm * params.n_compounds_per_community
    cols["community_street"] = np.repeat(np.arange(params.n_streets, dtype=np.int32), params.n_communities_per_street)
    cols["compound_community"] = np.repeat(np.arange(n_comm, dtype=np.int32), params.n_compounds_per_community)
    # big communities (000): consecutive runs of communities; no draw, so the rest of the world is unchanged
    cols["community_big"] = (np.arange(n_comm) // params.n_communities_per_big_community).astype(np.int32)
    shares = params.p_compound_type.array()
    cols["compound_type"] = rng.choice(len(COMPOUND_TYPES), size=n_cmp, p=shares / shares.sum()).astype(np.int8)


def _households(params: WorldParams, rng: np.random.Generator, cols: dict[str, np.ndarray]) -> None:
    """Buildings per compound, households per building and residents per household (by compound type)."""
    compound_type = cols["compound_type"]
    n_bld = _sizes(rng, params.n_buildings_per_compound.array()[compound_type])
    building_compound = np.repeat(np.arange(compound_type.size, dtype=np.int32), n_bld)
    n_hh_bld = _sizes(rng, params.n_households_per_building.array()[compound_type[building_compound]])
    household_building = np.repeat(np.arange(building_compound.size, dtype=np.int32), n_hh_bld)
    household_compound = building_compound[household_building]
    hh_size = _sizes(rng, params.n_residents_per_household.array()[compound_type[household_compound]]).astype(np.int32)
    cols.update(building_compound=building_compound, household_building=household_building,
                household_compound=household_compound, household_size=hh_size,
                household_start=np.cumsum(hh_size, dtype=np.int64) - hh_size)


def _residents(params: WorldParams, rng: np.random.Generator, cols: dict[str, np.ndarray]) -> None:
    """Each resident's household, building, compound, community, street and type; group and party."""
    hh_size = cols["household_size"]
    res_household = np.repeat(np.arange(hh_size.size, dtype=np.int32), hh_size)
    res_compound = cols["household_compound"][res_household]
    res_community = cols["compound_community"][res_compound]
    res_ctype = cols["compound_type"][res_compound]
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
    cols.update(res_household=res_household, res_building=cols["household_building"][res_household],
                res_compound=res_compound, res_community=res_community,
                res_street=cols["community_street"][res_community], res_ctype=res_ctype, res_group=res_group,
                res_party=res_party)


def _ranges_of(params: WorldParams, cols: dict[str, np.ndarray]) -> None:
    """Residents of each compound, community and street as id ranges; households per compound."""
    n_cmp, n_comm = cols["compound_type"].size, cols["community_street"].size
    cols["compound_start"], cols["compound_size"] = _starts_sizes(cols["res_compound"], n_cmp)
    cols["community_start"], cols["community_size"] = _starts_sizes(cols["res_community"], n_comm)
    cols["street_size"] = _starts_sizes(cols["res_street"], params.n_streets)[1]
    hh_count = np.bincount(cols["household_compound"], minlength=n_cmp).astype(np.int64)
    cols["compound_hh_start"], cols["compound_n_households"] = np.cumsum(hh_count) - hh_count, hh_count


def _neighbour_ties(params: WorldParams, rng: np.random.Generator, cols: dict[str, np.ndarray]) -> None:
    """Neighbour ties: the whole household, random ones within building and compound, a few long-range."""
    res_household, res_building = cols["res_household"], cols["res_building"]
    res_compound, res_street = cols["res_compound"], cols["res_street"]
    hh_size, household_start = cols["household_size"], cols["household_start"]
    n = res_household.size
    b_start, b_size = _starts_sizes(res_building, cols["building_compound"].size)
    s_size = cols["street_size"]
    s_start = np.cumsum(s_size) - s_size
    c_start, c_size = cols["compound_start"], cols["compound_size"]
    ids = np.arange(n, dtype=np.int64)
    hh_src = np.repeat(ids, hh_size[res_household])
    hh_dst = _ranges(household_start[res_household], hh_size[res_household].astype(np.int64))
    parts = [(hh_src, hh_dst)]
    parts.append(_random_ties(rng, b_start[res_building], b_size[res_building], params.n_building_ties))
    parts.append(_random_ties(rng, c_start[res_compound], c_size[res_compound], params.n_compound_ties))
    parts.append(_random_ties(rng, s_start[res_street], s_size[res_street], params.n_long_ties))
    src = np.concatenate([p[0] for p in parts])
    dst = np.concatenate([p[1] for p in parts])
    cols["social_indptr"], cols["social_indices"] = _csr(src, dst, n, n, symmetric=True)


def _party_links(params: WorldParams, rng: np.random.Generator, cols: dict[str, np.ndarray]) -> None:
    """Party members and their links (双联双带, 001) to residents of the same compound."""
    res_compound, c_start, c_size = cols["res_compound"], cols["compound_start"], cols["compound_size"]
    party_ids = np.flatnonzero(cols["res_party"]).astype(np.int32)
    l_src, l_dst = _random_ties(rng, c_start[res_compound[party_ids]], c_size[res_compound[party_ids]],
                                params.n_links_per_party_member)
    not_self = party_ids[l_src] != l_dst
    cols["party_ids"] = party_ids
    cols["link_indptr"], cols["link_indices"] = _csr(l_src[not_self], l_dst[not_self], party_ids.size,
                                                     res_compound.size, symmetric=False)


def _institutions(params: WorldParams, cols: dict[str, np.ndarray]) -> None:
    """Co-building units and property firms.

    The first seven units of each community are one of each type (000); there is one firm per
    managed (mature or new) compound, old compounds have none (003).
    """
    n_comm, compound_type = cols["community_street"].size, cols["compound_type"]
    n_units = params.n_cobuilding_units_per_community
    cols["unit_community"] = np.repeat(np.arange(n_comm, dtype=np.int32), n_units)
    cols["unit_type"] = (np.tile(np.arange(n_units), n_comm) % len(UNIT_TYPES)).astype(np.int8)
    firm_compound = np.flatnonzero(compound_type != OLD).astype(np.int32)
    compound_firm = np.full(compound_type.size, -1, dtype=np.int32)
    compound_firm[firm_compound] = np.arange(firm_compound.size, dtype=np.int32)
    cols["firm_compound"], cols["compound_firm"] = firm_compound, compound_firm


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
    import networkx as nx

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
