"""Plausible ranges: declared for every assumed parameter, checked by paramtools, shown by govsim params."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim import policies
from sim.config.parameter_table import iter_parameters, parameter_table
from sim.config.paramtools import Params, Vector, check_plausible, param
from sim.config.vectors import BySeverity
from sim.core.problems import arrival_table
from sim.core.scenario import Scenario

REPO = Path(__file__).resolve().parents[1]

#: Assumption-sourced fields that are not drawn, and why.
EXEMPT: dict[str, str] = {
    "world.n_streets": "the size of the simulated district is the experiment's choice (set it with --set)",
    "world.n_communities_per_street": "the size of the simulated district is the experiment's choice",
    "world.n_compounds_per_community": "the size of the simulated district is the experiment's choice",
    "world.p_compound_type": "a composition that must sum to 1: a common factor would break it",
    "problems.category_weights": "normalised by the adult row's sum: a common factor cancels (test below)",
    "problems.severity_weights": "normalised per category: a common factor cancels (test below)",
    "policies.grid.households_per_grid": "old and new are 001's figures; only mature's element is assumed",
    "policies.four_empowerments.claimable": "a 0/1 indicator of claimable categories, not a quantity",
}


def sourced_fields(params: Params, prefix: str) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """Every field that names a source (a parameter), recursing into plain sections."""
    for f in dataclasses.fields(params):
        value, meta = getattr(params, f.name), dict(f.metadata or {})
        if meta.get("source"):
            yield prefix + f.name, value, meta
        elif isinstance(value, Params) and not isinstance(value, Vector):
            yield from sourced_fields(value, f"{prefix}{f.name}.")


def all_parameters() -> list[tuple[str, Any, dict[str, Any]]]:
    out = list(sourced_fields(Scenario(), ""))
    for name in policies.available():
        out += list(sourced_fields(policies.get(name).Params(), f"policies.{name}."))
    return out


def test_every_assumed_parameter_has_a_plausible_range() -> None:
    """Every field whose source says "assumption" has ``plausible`` unless listed (with a reason) above."""
    assumed = [(k, m) for k, _, m in all_parameters() if "assumption" in m["source"].lower()]
    assert len(assumed) > 100
    missing = [k for k, m in assumed if m.get("plausible") is None
               and k not in EXEMPT]
    assert missing == []
    # the exemptions stay honest: each is an assumed parameter that indeed has no range
    by_key = dict(assumed)
    assert [k for k in EXEMPT if k not in by_key or by_key[k].get("plausible") is not None] == []


def test_every_declared_range_contains_the_default_and_lies_within_the_bounds() -> None:
    ranged = [(k, v, m) for k, v, m in all_parameters() if m.get("plausible") is not None]
    assert len(ranged) > 100
    for _key, value, meta in ranged:
        check_plausible(value, meta)  # raises ValueError otherwise


@pytest.mark.parametrize(("default", "kw", "match"), [
    (0.5, {"lo": 0.0, "hi": 1.0, "plausible": (0.6, 0.9)}, "does not contain the default"),
    (0.5, {"lo": 0.0, "hi": 1.0, "plausible": (0.2, 1.2)}, "not within the allowed range"),
    (2.0, {"gt": 1.0, "plausible": (1.0, 3.0)}, "not within the allowed range"),
    (0.5, {"plausible": (0.9, 0.1)}, "lo <= hi"),
    (True, {"plausible": (0.0, 1.0)}, "numeric default"),
    (BySeverity(0.2, 0.4, 0.6, 0.8), {"lo": 0.0, "hi": 1.0, "plausible": (0.8, 1.3)}, r"major .*out of range"),
    (BySeverity(0.2, 0.4, 0.6, 0.8), {"lo": 0.0, "hi": 1.0, "plausible": (1.1, 1.2)}, "0 < lo <= 1 <= hi"),
])
def test_param_rejects_a_bad_plausible_range(default: Any, kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        param(default, source="assumption", **kw)


def test_param_accepts_a_good_plausible_range_and_table_rows_use_their_own_bounds() -> None:
    param(0.5, lo=0.0, hi=1.0, plausible=(0.5, 1.0), source="assumption")
    param(BySeverity(0.2, 0.4, 0.6, 0.8), lo=0.0, hi=1.0, plausible=(0.5, 1.25), source="assumption")
    with pytest.raises(ValueError, match="out of range"):  # a row of the authority table is a probability
        param(Scenario().handling.authority, plausible=(0.8, 1.2), source="assumption")


def test_normalised_weight_tables_are_unchanged_by_a_common_factor() -> None:
    """Why category_weights and severity_weights are exempt: x1.3 on all of either leaves the arrivals as they are."""
    sc = Scenario()
    ctype, group = np.array([0, 1, 2, 1], dtype=np.int8), np.array([0, 1, 2, 1], dtype=np.int8)
    w, m, s = (sc.problems.category_weights.matrix(), sc.problems.category_mult.matrix(),
               sc.problems.severity_weights.matrix())
    a = arrival_table(ctype, group, 0.01, w, m, s)
    b = arrival_table(ctype, group, 0.01, w * 1.3, m, s * 1.3)
    np.testing.assert_allclose(b.rate, a.rate, rtol=1e-12)
    np.testing.assert_allclose(b.sev_cum, a.sev_cum, rtol=1e-12)
    c = arrival_table(ctype, group, 0.01, w, m * 1.3, s)  # category_mult is not normalised: it has a range
    np.testing.assert_allclose(c.rate, a.rate * 1.3, rtol=1e-12)


def test_parameter_table_shows_plausible_ranges() -> None:
    rows = {r["key"]: r for r in iter_parameters(Scenario())}
    assert rows["problems.rate_arise"]["plausible"] == (1 / 300, 1 / 75) and not rows["problems.rate_arise"]["factor"]
    big = rows["problems.dur_patience.big"]
    assert big["plausible"] == (0.5, 2.0) and big["factor"] and big["plausible_key"] == "problems.dur_patience"
    city = rows["handling.authority.city.health"]
    assert city["factor"] and city["plausible_key"] == "handling.authority"
    assert rows["world.n_streets"]["plausible"] is None
    table = parameter_table(Scenario())
    assert "| `problems.rate_arise` | 0.00666667 | problems per resident per day | [0.0, 1.0] | [0.003333, 0.01333] |" in table
    assert "x0.5-2 (`problems.dur_patience`)" in table


def test_docs_parameters_md_is_the_output_of_govsim_params() -> None:
    """docs/parameters.md = its title line, a blank line and ``govsim params`` (regenerate it when a parameter changes)."""
    out = subprocess.run([sys.executable, "-m", "sim", "params"], capture_output=True, text=True, check=True,
                         cwd=REPO).stdout
    doc = (REPO / "docs" / "parameters.md").read_text(encoding="utf-8")
    title, blank, rest = doc.split("\n", 2)
    assert title.startswith("# govsim parameters") and blank == ""
    assert rest == out
    assert "`policies.whistle.report_boost`" in out
