"""Runs that share their first days: the warm-up and the days before the reform date, computed once.

Under one seed, scenarios that differ only in their policies run the same days, bit for bit,
until the reform date: before it their policies exist but act on nothing (:mod:`sim.core.reform`).
A comparison of a baseline with its reforms, or a sweep of policy levers under common random
numbers, can run those days once per seed and go on from a copy of the model for each scenario::

    prefix = Prefix(baseline, seed=7)          # warm-up and the days before the reform date
    results = [prefix.run(sc) for sc in (baseline, reform)]   # each as run_scenario(sc, seed=7)

Each result is that of a fresh run of its scenario with that seed, to the last bit (a test holds
them to it); only the timings differ (:meth:`Prefix.run`). Scenarios share a prefix when
:func:`prefix_key` is equal: everything but their name, description and policies (a sweep that varies a
core parameter shares nothing, and is run as before).

The copy is the model's state serialised once (:func:`snapshot`) and read back for each branch.
numpy views are kept views of their copied base (the recorder's rows view one table, the pool's
columns one buffer): plain pickling or ``copy.deepcopy`` would part them silently.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.errors import InputError

if TYPE_CHECKING:
    from sim.core.model import Model
    from sim.core.results import Results
    from sim.core.scenario import Scenario

__all__ = ["Prefix", "prefix_key", "restore", "shared_days", "snapshot"]


def prefix_key(scenario: Scenario, also: Iterable[str] = ()) -> str | None:
    """Equal for scenarios whose runs share their days before the reform date under one seed; None: shares none.

    The content hash of the scenario without its name, description and policies (on or off). None
    when there is no day to share (no warm-up and a reform on day 0), or when a policy of the
    scenario (or one named in ``also``) has a class with an ``__init__`` of its own: a fresh model
    builds its policies before the warm-up, a branch on the reform date, and such an ``__init__`` could
    read the model's state (the built-in policies have none; :class:`~sim.core.phases.Policy` says so).
    """
    if scenario.reform.dur_warmup + shared_days(scenario) == 0 or _own_init((*_names(scenario), *also)):
        return None
    return _bare(scenario).content_hash()


def _bare(scenario: Scenario) -> Scenario:
    """The scenario without what a prefix does not depend on: its name, description and policies."""
    return dataclasses.replace(scenario, name="prefix", description="", policies=(), policies_off=())


def _names(scenario: Scenario) -> tuple[str, ...]:
    return tuple(spec.name for spec in scenario.policies)


def _own_init(names: Iterable[str]) -> bool:
    """Whether a policy of ``names`` has a class with an ``__init__`` of its own (see :func:`prefix_key`)."""
    from sim.core.phases import Policy
    from sim.policies import get

    return any(get(name).__init__ is not Policy.__init__ for name in names)


def shared_days(scenario: Scenario) -> int:
    """Recorded days a branch starts after: those before the reform date, leaving at least one to run."""
    return max(0, min(scenario.reform.start_day, scenario.run.n_steps - 1))


def _view(root: np.ndarray, offset: int, shape: tuple[int, ...], strides: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A view of ``root`` as the pickled one was of its base (:class:`_Pickler`); an F-ordered base through its transpose."""
    buffer = root if root.flags.c_contiguous else root.T  # the same memory, from the same first byte
    return np.ndarray(shape, dtype, buffer=buffer, offset=offset, strides=strides)


class _Pickler(pickle.Pickler):
    """Pickles a view as a view of its topmost ndarray base: the base once (a copy), every view pointing into it.

    The base may own its memory or not (numba's arrays hold theirs in a ``MemInfo``): it is pickled as
    an array, in its own order. A view of a base neither C- nor F-contiguous cannot be rebuilt: ``TypeError``.
    """

    def reducer_override(self, obj: Any) -> Any:
        if not isinstance(obj, np.ndarray) or not isinstance(obj.base, np.ndarray):
            return NotImplemented
        if type(obj) is not np.ndarray:
            raise TypeError(f"cannot snapshot a view of type {type(obj).__name__}")
        root = obj.base
        while isinstance(root.base, np.ndarray):
            root = root.base
        if type(root) is not np.ndarray or not (root.flags.c_contiguous or root.flags.f_contiguous):
            raise TypeError(f"cannot snapshot a view of a {type(root).__name__} that is neither C- nor F-contiguous: "
                            "its runs cannot share days (share_prefix=False)")
        offset = obj.__array_interface__["data"][0] - root.__array_interface__["data"][0]
        return _view, (root, offset, obj.shape, obj.strides, obj.dtype)


def snapshot(model: Model) -> bytes:
    """The model's whole state as bytes (:func:`restore` makes an independent copy of it)."""
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(model)
    return buf.getvalue()  # CPython hands the buffer over (no second copy) once nothing else views it


def restore(data: bytes) -> Model:
    """A model from :func:`snapshot`'s bytes: the state it was in, sharing nothing with it."""
    model: Model = pickle.loads(data)  # noqa: S301 - bytes this process made with snapshot()
    return model


class Prefix:
    """One seed's model at the reform date (or a day before the run's end), kept as a snapshot to branch from."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        from sim.core.model import Model

        t0 = time.perf_counter()
        bare = _bare(scenario)  # policies wait before the reform date: they draw nothing
        model = Model(bare, seed=seed, defer_reform=True)
        for _ in range(shared_days(scenario)):
            model.step()
        self.key, self.seed, self.days = bare.content_hash(), int(seed), model.t
        self.data = snapshot(model)
        model.__dict__.clear()  # reference cycles (recorder, handlers): freed now, not at the next full collection
        #: seconds the shared days took (construction and warm-up included) and the snapshot
        self.shared_s = time.perf_counter() - t0

    def branch(self, scenario: Scenario) -> Model:
        """A model of ``scenario`` at this prefix's day, as a fresh ``Model(scenario, seed)`` would be on it."""
        from sim.core.model import Model
        from sim.policies import get

        if _bare(scenario).content_hash() != self.key or _own_init(_names(scenario)):
            raise InputError(f"scenario {scenario.name!r} does not share this prefix: it differs in more than its "
                             "policies, or a policy of its has an __init__ of its own")
        model = restore(self.data)
        model.scenario = scenario
        model._waiting = [get(spec.name)(spec.params, model) for spec in scenario.policies]
        if model.reform_day == 0:  # a fresh model sets the reform up as it is built (Model.__init__)
            model._start_reform()
        assert isinstance(model, Model)
        return model

    def run(self, scenario: Scenario, share: int = 1, progress: bool = False) -> Results:
        """``run_scenario(scenario, seed)``'s results, going on from this prefix.

        Timings: ``setup_s`` is the branch's copy plus the shared days' time over ``share`` (the
        number of runs sharing them); ``run_s`` the days after the branch.
        """
        t0 = time.perf_counter()
        model = self.branch(scenario)
        copy_s = time.perf_counter() - t0
        res = model.run(scenario.run.n_steps - self.days, progress=progress)
        model.__dict__.clear()  # reference cycles (policies, recorder): freed now, not at the next full collection
        return dataclasses.replace(res, setup_s=copy_s + self.shared_s / max(1, share))
