"""sim.core.world: the generated structure, and the networkx graph describing the same thing as the arrays."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import SEEDS
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import Model, Scenario
from sim.config.taxonomy import COMPOUND_TYPES, GROUPS, OLD
from sim.core.rng import Streams
from sim.core.world import UNIT_TYPES, World, generate_world, repeats_and_members


def world_for(overrides: dict, seed: int = 1) -> World:
    sc = Scenario().with_overrides(overrides)
    return generate_world(sc.world, Streams(seed).get("world"))


def neighbour_pairs(w: World) -> set[tuple[int, int]]:
    rows = np.repeat(np.arange(w.n_residents), np.diff(w.social_indptr))
    cols = w.social_indices
    return {(int(a), int(b)) for a, b in zip(rows, cols) if a < b}


def link_pairs(w: World) -> set[tuple[int, int]]:
    members = w.party_ids[np.repeat(np.arange(w.party_ids.size), np.diff(w.link_indptr))]
    return {(int(min(a, b)), int(max(a, b))) for a, b in zip(members, w.link_indices)}


@pytest.fixture(scope="module")
def graph_model(medium_model: Model) -> Model:
    w = medium_model.world
    assert set(np.unique(w.compound_type)) == {0, 1, 2}, "the medium world should hold every compound type"
    return medium_model


# ---- arrays ---------------------------------------------------------------------------------------
def test_social_csr_is_symmetric_without_self_loops_or_duplicates(graph_model: Model) -> None:
    w = graph_model.world
    assert w.social_indptr[0] == 0 and w.social_indptr[-1] == w.social_indices.size
    assert np.all(np.diff(w.social_indptr) >= 0)
    rows = np.repeat(np.arange(w.n_residents), np.diff(w.social_indptr))
    assert not np.any(rows == w.social_indices)
    directed = set(zip(rows.tolist(), w.social_indices.tolist()))
    assert len(directed) == w.social_indices.size  # no duplicate entries
    assert all((b, a) in directed for a, b in directed)
    m = w.social_matrix()
    assert (m != m.T).nnz == 0


def test_households_are_fully_connected(graph_model: Model) -> None:
    w = graph_model.world
    pairs = neighbour_pairs(w)
    for h in range(0, w.n_households, 37):
        members = range(int(w.household_start[h]), int(w.household_start[h] + w.household_size[h]))
        assert all((a, b) in pairs for a in members for b in members if a < b)


def test_ids_are_contiguous_ranges(graph_model: Model) -> None:
    w = graph_model.world
    for res_key, start, size, n in (
        (w.res_compound, w.compound_start, w.compound_size, w.n_compounds),
        (w.res_community, w.community_start, w.community_size, w.n_communities),
        (w.res_household, w.household_start, w.household_size, w.n_households),
    ):
        assert np.all(np.diff(res_key) >= 0)  # sorted: each entity is one run of ids
        np.testing.assert_array_equal(np.bincount(res_key, minlength=n), size)
        np.testing.assert_array_equal(start, np.searchsorted(res_key, np.arange(n)))
        assert np.all(size >= 1)
    assert np.all(np.diff(w.res_building) >= 0) and np.all(np.diff(w.household_compound) >= 0)
    np.testing.assert_array_equal(w.compound_hh_start, np.searchsorted(w.household_compound, np.arange(w.n_compounds)))
    np.testing.assert_array_equal(w.compound_n_households, np.bincount(w.household_compound, minlength=w.n_compounds))
    # the hierarchy is consistent
    np.testing.assert_array_equal(w.res_compound, w.household_compound[w.res_household])
    np.testing.assert_array_equal(w.res_community, w.compound_community[w.res_compound])
    np.testing.assert_array_equal(w.res_street, w.community_street[w.res_community])
    np.testing.assert_array_equal(w.res_ctype, w.compound_type[w.res_compound])
    np.testing.assert_array_equal(w.household_compound, w.building_compound[w.household_building])
    assert w.street_size.sum() == w.n_residents


def test_world_sizes_follow_the_parameters() -> None:
    w = world_for({"world.n_streets": 2, "world.n_communities_per_street": 3, "world.n_compounds_per_community": 5,
                   "world.n_cobuilding_units_per_community": 9})
    assert (w.n_streets, w.n_communities, w.n_compounds) == (2, 6, 30)
    assert w.unit_community.size == 54


def test_groups_and_party_membership(graph_model: Model) -> None:
    w = graph_model.world
    assert set(np.unique(w.res_group)) <= {0, 1, 2}
    assert not np.any(w.res_party & (w.res_group == GROUPS.index("child")))
    np.testing.assert_array_equal(w.party_ids, np.flatnonzero(w.res_party))


def test_grids_never_cross_compounds_and_respect_households_per_grid(graph_model: Model) -> None:
    m = graph_model
    w, g = m.world, m.grids
    hpg = m.scenario.community.households_per_grid.array()
    np.testing.assert_array_equal(g.grid_compound[g.household_grid], w.household_compound)
    np.testing.assert_array_equal(np.bincount(g.household_grid, minlength=g.n), g.grid_size)
    limit = hpg[w.compound_type[g.grid_compound]]
    assert np.all(g.grid_size <= limit) and np.all(g.grid_size >= 1)
    # the fewest grids that respect the limit: ceil(households / limit) per compound
    per_compound = np.bincount(g.grid_compound, minlength=w.n_compounds)
    np.testing.assert_array_equal(per_compound, -(-w.compound_n_households // hpg[w.compound_type]))
    # visit positions within a grid are 0..size-1, each once
    order = np.lexsort((g.household_pos, g.household_grid))
    starts = np.cumsum(g.grid_size) - g.grid_size
    np.testing.assert_array_equal(g.household_pos[order], np.arange(w.n_households) - np.repeat(starts, g.grid_size))
    np.testing.assert_array_equal(g.grid_community, w.compound_community[g.grid_compound])


def test_grids_follow_households_per_grid_by_type() -> None:
    sc = Scenario().with_overrides({"world.n_communities_per_street": 1, "world.n_compounds_per_community": 12,
                                    "community.households_per_grid.old": 20, "community.households_per_grid.mature": 50,
                                    "community.households_per_grid.new": 500})
    m = Model(sc, seed=5)
    w, g = m.world, m.grids
    for ct, limit in zip(range(3), (20, 50, 500)):
        sizes = g.grid_size[w.compound_type[g.grid_compound] == ct]
        if sizes.size:
            assert sizes.max() <= limit
            assert sizes.max() == min(limit, w.compound_n_households[w.compound_type == ct].max())


def test_party_links_stay_in_the_members_compound(graph_model: Model) -> None:
    w = graph_model.world
    members = w.party_ids[np.repeat(np.arange(w.party_ids.size), np.diff(w.link_indptr))]
    assert np.all(w.res_compound[members] == w.res_compound[w.link_indices])
    assert not np.any(members == w.link_indices)
    for pos in range(0, w.party_ids.size, 11):
        linked = w.links_of(pos)
        assert np.all(np.diff(linked) > 0)  # sorted, no duplicates


@pytest.mark.parametrize("mean", [4.6, 1.5])
def test_party_members_link_about_n_links_per_party_member(mean: float) -> None:
    """Pooled over seeds, links per member ~ the parameter (minus the rare self and repeat draws)."""
    counts = np.concatenate([
        np.diff(world_for({"world.n_links_per_party_member": mean}, seed=s).link_indptr) for s in SEEDS])
    se = counts.std(ddof=1) / np.sqrt(counts.size)
    # self-links and duplicate draws are dropped: at most ~mean^2 / compound size (a few hundred)
    assert abs(counts.mean() - mean) < 4 * se + mean**2 / 200, (counts.mean(), se)


def test_no_links_without_party_links() -> None:
    w = world_for({"world.n_links_per_party_member": 0.0})
    assert w.link_indices.size == 0 and w.party_ids.size > 0


def test_firms_only_on_managed_compounds(graph_model: Model) -> None:
    w = graph_model.world
    managed = np.flatnonzero(w.compound_type != OLD)
    np.testing.assert_array_equal(w.firm_compound, managed)
    np.testing.assert_array_equal(w.compound_firm[w.firm_compound], np.arange(w.firm_compound.size))
    assert np.all(w.compound_firm[w.compound_type == OLD] == -1)
    np.testing.assert_array_equal(graph_model.firms.compound, w.firm_compound)


def test_cobuilding_units_one_of_each_type_first() -> None:
    w = world_for({"world.n_communities_per_street": 3, "world.n_compounds_per_community": 2,
                   "world.n_cobuilding_units_per_community": 9})
    for c in range(3):
        types = w.unit_type[w.unit_community == c]
        assert types.size == 9
        assert sorted(types[: len(UNIT_TYPES)].tolist()) == list(range(len(UNIT_TYPES)))


def test_world_depends_only_on_the_seed() -> None:
    a, b = world_for({}, seed=3), world_for({}, seed=3)
    c = world_for({}, seed=4)
    for f in dataclasses.fields(World):
        assert np.array_equal(getattr(a, f.name), getattr(b, f.name)), f.name
    assert not np.array_equal(a.res_household, c.res_household) or not np.array_equal(a.social_indices, c.social_indices)


# ---- networkx view --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nxg(graph_model: Model):
    return graph_model.graph


def test_graph_is_cached(graph_model: Model, nxg) -> None:
    assert graph_model.graph is nxg


def test_resident_nodes_carry_the_array_attributes(graph_model: Model, nxg) -> None:
    w, g = graph_model.world, graph_model.grids
    residents = [n for n, d in nxg.nodes(data=True) if d["kind"] == "resident"]
    assert sorted(residents) == list(range(w.n_residents))
    grid = g.household_grid[w.res_household]
    for i in range(w.n_residents):
        d = nxg.nodes[i]
        assert d["compound"] == w.res_compound[i]
        assert d["community"] == w.res_community[i] and d["street"] == w.res_street[i]
        assert d["household"] == w.res_household[i] and d["building"] == w.res_building[i]
        assert d["compound_type"] == COMPOUND_TYPES[w.res_ctype[i]]
        assert d["group"] == GROUPS[w.res_group[i]]
        assert d["party"] == bool(w.res_party[i])
        assert d["grid"] == grid[i]


def test_resident_edges_are_the_csr_ties_and_party_links(graph_model: Model, nxg) -> None:
    w = graph_model.world
    n = w.n_residents
    resident_edges = [(min(a, b), max(a, b), d) for a, b, d in nxg.edges(data=True)
                      if isinstance(a, int) and isinstance(b, int)]
    assert all(a != b for a, b, _ in resident_edges)  # no self loops
    neighbour = {(a, b) for a, b, d in resident_edges if d["kind"] == "neighbour"}
    linked = {(a, b) for a, b, d in resident_edges if d.get("party_link")}
    assert all(d["kind"] in ("neighbour", "party_link") for *_, d in resident_edges)
    assert neighbour == neighbour_pairs(w)
    assert linked == link_pairs(w)
    assert {(a, b) for a, b, _ in resident_edges} == neighbour | linked
    assert all(0 <= a < n and 0 <= b < n for a, b, _ in resident_edges)


def test_institution_nodes_and_edges(graph_model: Model, nxg) -> None:
    w = graph_model.world
    kinds = {}
    for node, d in nxg.nodes(data=True):
        kinds.setdefault(d["kind"], []).append(node)
    assert len(kinds["street"]) == w.n_streets
    assert len(kinds["community"]) == w.n_communities
    assert len(kinds["compound"]) == w.n_compounds
    assert len(kinds["property_firm"]) == int((w.compound_type != OLD).sum())
    assert len(kinds["cobuilding_unit"]) == w.unit_community.size
    for c in range(w.n_communities):
        assert nxg.edges[f"community:{c}", f"street:{w.community_street[c]}"]["kind"] == "part_of"
    for k in range(w.n_compounds):
        assert nxg.nodes[f"compound:{k}"]["compound_type"] == COMPOUND_TYPES[w.compound_type[k]]
        assert nxg.edges[f"compound:{k}", f"community:{w.compound_community[k]}"]["kind"] == "part_of"
        firms = [n for n in nxg.neighbors(f"compound:{k}") if str(n).startswith("firm:")]
        if w.compound_type[k] == OLD:
            assert firms == []
        else:
            assert firms == [f"firm:{w.compound_firm[k]}"]
    for f, k in enumerate(w.firm_compound):
        assert list(nxg.neighbors(f"firm:{f}")) == [f"compound:{k}"]
        assert nxg.edges[f"firm:{f}", f"compound:{k}"]["kind"] == "serves"
    for u, c in enumerate(w.unit_community):
        assert list(nxg.neighbors(f"unit:{u}")) == [f"community:{c}"]
        assert nxg.nodes[f"unit:{u}"]["unit_type"] == UNIT_TYPES[w.unit_type[u]]
    per_community = np.bincount(w.unit_community, minlength=w.n_communities)
    assert np.all(per_community == graph_model.scenario.world.n_cobuilding_units_per_community)


@pytest.mark.parametrize("share", [0.063, 0.3])
def test_party_members_are_the_given_share_of_residents(share: float) -> None:
    """p_party_member is the share of all residents (members are adults or elderly, 003)."""
    party = np.concatenate([world_for({"world.p_party_member": share}, seed=s).res_party for s in SEEDS])
    se = np.sqrt(share * (1 - share) / party.size)
    assert abs(party.mean() - share) < 4 * se, (party.mean(), share, se)


# ---- rewiring's lookups, held to the numpy calls they replace ----------------------------------------
_INT64 = st.integers(min_value=np.iinfo(np.int64).min, max_value=np.iinfo(np.int64).max)
# small pools make repeats likely; the int64 extremes and a wide range test the comparisons
_KEYS = st.one_of(st.lists(st.integers(0, 6), max_size=40), st.lists(_INT64, max_size=40),
                  st.lists(st.sampled_from([np.iinfo(np.int64).min, -1, 0, 1, np.iinfo(np.int64).max]), max_size=40))


@settings(max_examples=400, derandomize=True, deadline=None, database=None)
@given(keys=_KEYS, values=_KEYS)
def test_repeats_and_members_are_np_unique_and_np_isin(keys: list[int], values: list[int]) -> None:
    a, v = np.array(keys, dtype=np.int64), np.sort(np.array(values, dtype=np.int64))
    repeat, member = repeats_and_members(a, v)
    assert repeat.dtype == member.dtype == bool and repeat.shape == member.shape == a.shape
    expected = np.ones(a.size, dtype=bool)
    expected[np.unique(a, return_index=True)[1]] = False  # False at each value's first position only
    np.testing.assert_array_equal(repeat, expected)
    np.testing.assert_array_equal(member, np.isin(a, v))
