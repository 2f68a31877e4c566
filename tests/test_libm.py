"""exp and power outside the kernels (sim.core.kernels.libm): the C library's bits, whatever numpy's SIMD code.

numpy picks its ufuncs' loops by the CPU (``numpy.lib.introspect.opt_func_info``); its exp and
power give other last bits at other levels. The model computes them through the C library, as
the kernels do, so a run is the same on a machine with a smaller vector unit: a child process
with numpy's dispatch turned off (``NPY_DISABLE_CPU_FEATURES``) must give the same bits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO

from sim.agents.party_member import p_found_by_links
from sim.agents.resident import performance
from sim.config.params import PartyParams
from sim.core.kernels import libm
from sim.core.kernels import numpy_definitions as nd


def test_exp_is_the_c_librarys_in_float64_and_float32() -> None:
    rng = np.random.default_rng(11)
    x64 = np.concatenate([-rng.random(20_000) * 40.0, np.clip(rng.standard_normal(5_000) * 200.0, -745.0, 709.0),
                          [0.0, -0.0, -745.0, 709.0]])  # math.exp (the definition) raises past 709.78
    got = libm.exp(x64)
    assert got.dtype == np.float64 and got.shape == x64.shape
    np.testing.assert_array_equal(got, nd.exp(x64))
    x32 = np.concatenate([-rng.random(20_000) * 30.0, rng.standard_normal(5_000) * 20.0, [88.0, -103.0]]).astype(np.float32)
    got32 = libm.exp(x32)
    assert got32.dtype == np.float32
    np.testing.assert_array_equal(got32, nd.expf(x32))
    grid = -rng.random((3, 7)) * 4.0  # any shape, as the alliance's (big community x category) table
    np.testing.assert_array_equal(libm.exp(grid), nd.exp(grid))
    assert libm.exp(2.0).shape == () and libm.exp(2.0) == nd.exp(np.float64(2.0))
    assert libm.exp(np.arange(4)).dtype == np.float64  # integers are computed in float64


def test_power_is_the_c_librarys_pow_broadcast() -> None:
    rng = np.random.default_rng(12)
    base = rng.random(20_000)
    y = rng.random(20_000) * 60.0
    got = libm.power(base, y)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, nd.pow64(base, y))
    k = np.arange(12)  # p_found_by_links: one base, integer exponents
    np.testing.assert_array_equal(libm.power(0.9, k), nd.pow64(np.float64(0.9), k))
    np.testing.assert_array_equal(libm.power(base, 1.0 / 7.0), nd.pow64(base, 1.0 / 7.0))  # a collection window
    assert libm.power(np.empty(0), 2.0).shape == (0,)


def test_the_performance_table_and_link_chances_are_the_c_librarys() -> None:
    """Two call sites held to the C library over many inputs (numpy's AVX-512 ufuncs differ for some)."""
    waited = np.arange(2000, dtype=np.float32)[None, :]
    expected = np.array([3.0, 7.0, 15.0, 30.0], dtype=np.float32)[:, None]
    overdue = np.maximum(waited - expected, 0.0) / expected
    np.testing.assert_array_equal(performance(waited, expected), nd.expf(-overdue))
    n = np.arange(40)
    for rate, p_find in ((0.05, 0.3), (0.2, 0.7), (0.013, 0.9)):
        params = PartyParams(rate_contact=rate, p_find_on_contact=p_find)
        np.testing.assert_array_equal(p_found_by_links(n, params), 1.0 - nd.pow64(1.0 - rate * p_find, n))


_RUN = """
import hashlib, json, numpy as np
from numpy.lib.introspect import opt_func_info
from sim import Model, Scenario
pols = ("grid", "alliance", "street_empowerment", "whistle", "four_empowerments", "micro_projects", "one_core_many")
sc = Scenario.from_dict({**Scenario().with_overrides({"world.n_communities_per_street": 2,
    "world.n_compounds_per_community": 3, "reform.dur_warmup": 0, "run.n_steps": 150}).to_dict(),
    "policies": {p: {} for p in pols}})
m = Model(sc, seed=3)
res = m.run(150, progress=False)
h = hashlib.sha256(json.dumps(res.summary, sort_keys=True).encode())
for k in sorted(res.timeseries):
    h.update(k.encode()); h.update(np.ascontiguousarray(res.timeseries[k]).tobytes())
# the state each changed call site writes: the performance table, the chance of being found through
# links, the volunteers' load and rates, the alliance's coverage (the exps and powers themselves)
alliance = next(p for p in m.policies if p.name == "alliance")
for a in (m._perf.get(m.t, m.expected_wait), m.party._p_links, m.party.load, m.party.volunteer_rate, alliance.coverage):
    h.update(np.ascontiguousarray(a).tobytes())
info = opt_func_info(func_name="^(exp|power)$", signature="^float(32|64)")
print(json.dumps({f: {s: d["current"] for s, d in sigs.items()} for f, sigs in info.items()}, sort_keys=True))
print(h.hexdigest())
"""


def _child(env: dict[str, str]) -> tuple[dict[str, dict[str, str]], str]:
    out = subprocess.run([sys.executable, "-c", _RUN], env=env, cwd=REPO, capture_output=True, text=True,
                         timeout=600, check=True).stdout.splitlines()
    return json.loads(out[-2]), out[-1]


def test_a_run_with_every_policy_does_not_depend_on_numpys_simd_code() -> None:
    """With every dispatchable SIMD target off, numpy runs its baseline loops: the same run, the same bits.

    Before exp and power went through the C library, the pinned baselines moved here at numpy's
    x86-64 baseline (efficacy_mean in the 9th digit, then every scenario's numbers). Besides the
    outcomes, the child hashes what each changed call site writes.
    """
    pytest.importorskip("numpy.lib.introspect", reason="numpy 2 tells which SIMD loop a ufunc runs")
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    targets = [t for t in __cpu_dispatch__ if __cpu_features__.get(t)]
    if not targets:
        pytest.skip("numpy dispatches no SIMD target on this machine: its baseline loops are the only ones")
    env = {k: v for k, v in os.environ.items() if k not in ("NPY_DISABLE_CPU_FEATURES", "NPY_ENABLE_CPU_FEATURES")}
    levels, digest = _child(env)
    levels_off, digest_off = _child({**env, "NPY_DISABLE_CPU_FEATURES": " ".join(targets)})
    if levels_off == levels:
        pytest.skip(f"numpy runs the same exp and power loops with its SIMD targets off here: {levels}")
    assert digest_off == digest
