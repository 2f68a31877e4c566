"""A first run says it compiles the kernels; ``compare`` draws no progress bar off a terminal."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
from helpers import BASELINE, SMALL_FILE

import sim.core.kernels.jit as jit
from sim.cli import main

TINY = '''
from sim.core.kernels.jit import jit


@jit
def add_one(x):
    return x + 1
'''


def test_cold_cache_is_read_from_numbas_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel without cached code on disk is cold; compiled here, or cached on disk for a new process, warm."""
    (tmp_path / "tiny_kernel_mod.py").write_text(TINY, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(jit, "_KERNELS", [])
    mod = importlib.import_module("tiny_kernel_mod")
    try:
        assert len(jit._KERNELS) == 1 and jit.cache_is_cold()
        assert mod.add_one(1) == 2  # compiles, and numba writes its cache next to the module
        assert not jit.cache_is_cold()
        assert list((tmp_path / "__pycache__").glob("tiny_kernel_mod.add_one-*.nbi"))
        jit._KERNELS.clear()  # what a new process sees: a fresh dispatcher, its code on disk
        del sys.modules["tiny_kernel_mod"]
        importlib.import_module("tiny_kernel_mod")
        assert len(jit._KERNELS) == 1 and not jit._KERNELS[0].signatures and not jit.cache_is_cold()
    finally:
        sys.modules.pop("tiny_kernel_mod", None)


@pytest.mark.parametrize("cold", [True, False])
def test_run_says_it_compiles_only_when_the_cache_is_cold(cold: bool, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    small = tmp_path / "small.toml"
    small.write_text(SMALL_FILE.format(base=BASELINE.as_posix(), name="small"), encoding="utf-8")
    monkeypatch.setattr(jit, "cache_is_cold", lambda: cold)
    assert main(["run", str(small), "--steps", "3", "--quiet", "--db", f"sqlite:///{tmp_path / 'f.db'}"]) == 0
    err = capsys.readouterr().err
    assert err == ("govsim: compiling the simulation kernels (once, about 30 s)\n" if cold else "")


def test_compare_writes_no_progress_frames_when_stderr_is_not_a_terminal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = tmp_path / "small.toml"
    small.write_text(SMALL_FILE.format(base=BASELINE.as_posix(), name="small"), encoding="utf-8")
    assert not sys.stderr.isatty()
    assert main(["compare", str(small), str(small), "--replicates", "2", "--steps", "3", "--workers", "1",
                 "--db", f"sqlite:///{tmp_path / 'c.db'}", "--out", str(tmp_path / "figs")]) == 0  # no --quiet
    err = capsys.readouterr().err
    assert err == "" and "\r" not in err


def test_a_sweep_says_it_compiles_only_when_it_has_runs_to_make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The notice comes once the sweep is this coordinator's and has runs left; a finished sweep has none."""
    from test_sweep_support import write_sweep

    monkeypatch.setattr(jit, "cache_is_cold", lambda: True)
    args = ["sweep", str(write_sweep(tmp_path, steps=3, replicates=1)), "--db", f"sqlite:///{tmp_path / 's.db'}",
            "--workers", "1", "--quiet"]
    notice = "govsim: compiling the simulation kernels (once, about 30 s)\n"
    assert main(args) == 0
    assert capsys.readouterr().err.count(notice) == 1
    assert main(args) == 0  # every run stored: nothing to compile for
    assert notice not in capsys.readouterr().err
