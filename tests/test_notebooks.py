"""The notebooks run top to bottom at small sizes (GOVSIM_SMALL=1) and show the expected figures.

Each notebook is executed with nbclient from the repository root (a per-cell timeout); the checks
read the EXECUTED copy: no error outputs, and the cells that should draw figures have PNG outputs.
The stored notebooks must carry no outputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
CELL_TIMEOUT = 300

#: notebook -> (variables whose cell must show a figure, substrings some output must contain)
EXPECT: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "01_quickstart": (("fig_type", "fig_sat", "fig"), ("residents in",)),
    "02_compare_reforms": (("fig_ts", "fig_levels", "fig_ct", "fig_ce"),
                           ("bazhong_street_whistle", "gaoxian_four_empowerments", "luohu_one_core",
                            "huiji_micro_projects", "sanya_jiyang_1plusN", "_report.html")),
    "03_sweeps_and_sensitivity": (("fig_heat", "fig_sobol"), ("first-order S1", "runs stored")),
    "04_your_own_policy": (("fig_ts", "fig_ce"), ("paperwork_cut",)),
}


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return data.get("text/plain", "") + data.get("text/html", "")


def test_notebooks_are_stored_without_outputs():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} has outputs"
    assert {p.stem for p in NOTEBOOKS.glob("*.ipynb")} >= set(EXPECT)


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_notebook_runs_and_draws(name, monkeypatch):
    monkeypatch.setenv("GOVSIM_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "GOVSIM_SMALL" in first.source
    assert "**World size.**" in first.source  # which world it runs, and why
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(REPO)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    figures, texts = [], []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert not [o for o in cell.outputs if o.get("output_type") == "error"]
        warned = [o["text"] for o in cell.outputs if o.get("name") == "stderr" and "Warning" in o.get("text", "")]
        assert not warned, f"{name}: {warned}"  # e.g. a figure too small for its layout
        last = cell.source.strip().splitlines()[-1] if cell.source.strip() else ""
        has_png = any("image/png" in o.get("data", {}) for o in cell.outputs)
        if has_png:
            figures.append(last)
        texts.extend(_text(o) for o in cell.outputs)
    fig_vars, snippets = EXPECT[name]
    for var in fig_vars:
        assert var in figures, f"{name}: no figure shown for {var} (figures: {figures})"
    joined = "\n".join(texts)
    for s in snippets:
        assert s in joined, f"{name}: {s!r} not in the outputs"
    assert os.environ["GOVSIM_SMALL"] == "1"
