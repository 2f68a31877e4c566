"""The fixed order of one step (one day), and the interface every policy plugs into.

This is the one place where the schedule is written down. Each step the model runs, in order,
the core submodel of each phase and then the matching hook of every active policy (in the
order the scenario lists them)::

    plan        policies set up the day (monthly needs lists, quarterly meetings, ...)
    arise       new problems arise for residents (own random stream: common random numbers)
    find        latent problems are found: self-report, grid-worker visits, party-member links
    route       found problems are sent to a level and a handler
    handle      handlers spend their daily capacity on their queues; successes close problems
    escalate    stuck problems move up a level; overdue residents contact again or give up
    judge       residents update expectation, satisfaction and trust from today's outcomes
    participate events and volunteering; social influence over the graph
    record      counters and time series are written

A policy is a small class with a frozen parameter dataclass. It may change the model once in
``setup`` (capacities, authority, routing tables: all arrays the model owns) and act each day
through hooks named ``on_<phase>``; hooks it does not define cost nothing. ``setup`` runs on the
scenario's reform day (``reform.start_day``, default 0) at the start of that day; hooks are given the
model's clock ``t`` (days since the start, warm-up included) and schedule their periodic work by
:meth:`Policy.days`, the days since the policy was set up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Final

from sim.config import paramtools

if TYPE_CHECKING:
    from sim.core.model import Model
    from sim.core.scenario import Scenario

PHASES: Final[tuple[str, ...]] = (
    "plan", "arise", "find", "route", "handle", "escalate", "judge", "participate", "record",
)


class Policy:
    """Base class of policies. Subclasses set ``name`` and ``Params`` and override hooks.

    Hooks receive the model, which owns all state; they act on its arrays with vectorised
    numpy and draw random numbers only from ``self.rng`` (a stream of their own, so adding a
    policy never shifts the draws of the core or of other policies). A policy class with an
    ``__init__`` of its own makes its scenario's runs share no days with others (:mod:`sim.core.branching`).
    """

    name: ClassVar[str] = ""
    #: the outcome counters the policy may report (``model.count(name, c)``, summary key ``<name>_<c>``);
    #: a counter never counted is absent from a run's summary, so sweeps store it as 0
    counters: ClassVar[tuple[str, ...]] = ()
    Params: ClassVar[type[paramtools.Params]] = paramtools.Params

    def __init__(self, params: paramtools.Params, model: Model) -> None:
        self.params = params
        self.model = model
        self.rng = model.streams.get(f"policy:{self.name}")
        #: the clock of the day the policy was set up (the reform day; set by the model before ``setup``)
        self.t_start = 0

    def days(self, t: int) -> int:
        """Days since the policy was set up, on clock day ``t`` (0 on its first day)."""
        return t - self.t_start

    @classmethod
    def check(cls, params: paramtools.Params, scenario: Scenario) -> None:
        """Raise ``ParameterError`` (dotted key) if ``params`` cannot work with the rest of ``scenario``.

        Called when a scenario is built, so a sweep or a file fails before any run starts.
        """

    def setup(self, model: Model) -> None:
        """Change the model's structure once, at the start of the reform day (before step 0 by default)."""

    def cost_items(self, model: Model) -> dict[str, float]:
        """Today's cost of the policy by item, in yuan (values from the cost table, ``model.scenario.costs``).

        What the reform adds is positive; what it takes away (pay of merged or released posts,
        work no longer bought) is negative. Item names are short snake_case words; the model
        books them as ``<policy>_<item>``. Default: one item, ``cost_per_day``.
        """
        cost = self.cost_per_day(model)
        return {"running": cost} if cost else {}

    def cost_per_day(self, model: Model) -> float:
        """Running cost of the policy in yuan per day (beyond the core's staff); see ``cost_items``."""
        return 0.0

    def on_plan(self, model: Model, t: int) -> None:
        """Act in the plan phase, before the core's submodels (default: nothing)."""

    def on_arise(self, model: Model, t: int) -> None:
        """Act in the arise phase, after the core's submodel (default: nothing)."""

    def on_find(self, model: Model, t: int) -> None:
        """Act in the find phase, after the core's submodel (default: nothing)."""

    def on_route(self, model: Model, t: int) -> None:
        """Act in the route phase, after the core's submodel (default: nothing)."""

    def on_handle(self, model: Model, t: int) -> None:
        """Act in the handle phase, after the core's submodel (default: nothing)."""

    def on_escalate(self, model: Model, t: int) -> None:
        """Act in the escalate phase, after the core's submodel (default: nothing)."""

    def on_judge(self, model: Model, t: int) -> None:
        """Act in the judge phase, after the core's submodel (default: nothing)."""

    def on_participate(self, model: Model, t: int) -> None:
        """Act in the participate phase, after the core's submodel (default: nothing)."""

    def on_record(self, model: Model, t: int) -> None:
        """Act in the record phase, after the core's submodel (default: nothing)."""

    def hooks(self) -> dict[str, Callable[[Model, int], None]]:
        """The phase hooks this policy actually overrides, by phase name."""
        out: dict[str, Callable[[Model, int], None]] = {}
        for phase in PHASES:
            attr = f"on_{phase}"
            if getattr(type(self), attr) is not getattr(Policy, attr):
                out[phase] = getattr(self, attr)
        return out
