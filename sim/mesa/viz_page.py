"""The Solara page of ``govsim viz``: one model per browser session, levers that act at once.

:func:`build_page` returns a Solara component (``Page``). Solara renders it once per browser
session, so each session builds its own :class:`~sim.mesa.model.GovsimModel` and steps it alone.
The page is Mesa's :class:`~mesa.visualization.SolaraViz` (app bar, play/step/reset controls,
step counter) around govsim's own parts:

* a **Levers** card in the sidebar whose sliders show their values; changing a lever rebuilds
  the model with the new levers at day 0 at once (the page says so), and Mesa's Reset rebuilds it
  with the current levers too;
* a header (the app bar's title) naming the scenario and the policies the model runs;
* the status line, the community graph and two time series with days on x, labelled y axes
  with units and readable legend names (drawn by :mod:`sim.mesa.viz`).

Only what Mesa documents for custom pages is used: SolaraViz's arguments (a reactive model,
``components``, ``name``, ``play_interval``) and ``update_counter`` (which Mesa bumps after every
step), shared by Mesa 3.3 to 3.5. The levers are not SolaraViz ``model_params`` (those act only on
Reset), so Mesa's own "Model Parameters" card stays empty.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.mesa.viz import (
    BACKLOG_SERIES,
    BACKLOG_YLABEL,
    RATE_SERIES,
    RATE_YLABEL,
    active_policies,
    draw_community_graph,
    draw_timeseries,
    lever_label,
    model_params,
    quiet_known_warnings,
    status_text,
    viz_model_class,
)

if TYPE_CHECKING:
    from sim.core.scenario import Scenario
    from sim.mesa.model import GovsimModel

#: the note under the levers
LEVER_NOTE = "Changing a lever restarts the run at day 0 with the new levers."


def session_model_class(cls: type[GovsimModel], levers: Callable[[], Mapping[str, Any]]) -> type[GovsimModel]:
    """A subclass of ``cls`` that builds itself with the session's current ``levers()``.

    Mesa's Reset re-creates the model as ``model.__class__(**its own parameters)``; with this
    class it gets the levers the page shows. Keywords given explicitly win over the levers.
    """

    class SessionModel(cls):  # type: ignore[valid-type,misc]  # a class built at run time
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**{**levers(), **kwargs})

    SessionModel.__doc__ = cls.__doc__
    return SessionModel


def header(base_name: str, model: GovsimModel) -> str:
    """The app bar's title: the scenario and the policies the model runs."""
    return f"govsim: {base_name} | policies: {active_policies(model)}"


def _levers_component(base: Scenario) -> Any:
    """The sidebar card of levers: a label with the value above each slider, the switches, the note."""
    import solara

    specs = model_params(base)

    @solara.component
    def Levers(values: dict[str, Any], on_change: Callable[[str, Any], None]) -> Any:
        with solara.Card("Levers") as card:
            for name, spec in specs.items():
                label = lever_label(name, values[name], base)

                def changed(value: Any, name: str = name) -> None:
                    on_change(name, value)

                if spec["type"] == "Checkbox":
                    solara.Checkbox(label=label, value=bool(values[name]), on_value=changed)
                    continue
                slider = solara.SliderFloat if spec["type"] == "SliderFloat" else solara.SliderInt
                solara.Text(label, classes=["govsim-lever"])  # above the slider: the label wraps, the slider keeps its width
                slider("", value=values[name], min=spec["min"], max=spec["max"], step=spec["step"], on_value=changed)
            solara.Text(LEVER_NOTE, style={"font-size": "0.85em", "color": "#555"})
        return card

    return Levers


def _outcomes_component() -> Any:
    """The main area: the status line, the community graph and the two time series, redrawn every step."""
    import solara
    from mesa.visualization.utils import update_counter

    @solara.component
    def Outcomes(model: GovsimModel) -> Any:
        update_counter.get()  # Mesa bumps it after every step
        deps = [id(model), model.day]  # the day, not Mesa's model.steps (which Mesa 3.5+ moves away from)
        with solara.Column(gap="4px") as main:
            solara.Text(status_text(model), classes=["govsim-status"])
            with solara.Columns([1, 1]):
                solara.FigureMatplotlib(draw_community_graph(model), format="png", dependencies=deps)
                with solara.Column():
                    rates = draw_timeseries(model, RATE_SERIES, RATE_YLABEL, "Resolution rate and satisfaction",
                                            unit_range=True)
                    solara.FigureMatplotlib(rates, format="png", dependencies=deps)
                    backlog = draw_timeseries(model, BACKLOG_SERIES, BACKLOG_YLABEL, "Backlog")
                    solara.FigureMatplotlib(backlog, format="png", dependencies=deps)
        return main

    return Outcomes


def build_page(scenario: str | Path | Scenario | None = None) -> Any:
    """The page component for ``scenario`` (default: the small baseline); one model per browser session."""
    quiet_known_warnings()
    import solara
    from mesa.visualization import SolaraViz

    from sim.mesa.model import build_scenario, default_scenario

    base = build_scenario(scenario)[0] if scenario is not None else default_scenario()
    cls = viz_model_class(base)
    defaults = {name: spec["value"] for name, spec in model_params(base).items()}
    Levers, Outcomes = _levers_component(base), _outcomes_component()

    @solara.component
    def Page() -> Any:
        levers = solara.use_reactive(dict(defaults))  # this session's levers
        session_cls = solara.use_memo(lambda: session_model_class(cls, lambda: levers.value), [])
        first = solara.use_memo(lambda: session_cls(), [])
        model: Any = solara.use_reactive(first)  # this session's model (a solara.Reactive)

        def set_lever(name: str, value: Any) -> None:
            levers.value = {**levers.value, name: value}
            model.value = session_cls()

        with solara.Column() as main:  # everything inside the returned root, or Solara does not render it
            solara.Title(f"govsim viz: {base.name}")
            with solara.Sidebar():
                Levers(levers.value, set_lever)
            SolaraViz(model, components=[], name=header(base.name, model.value), play_interval=150)
            Outcomes(model.value)
        return main

    Page.__doc__ = f"The govsim viz page of {base.name!r}, one model per browser session."
    return Page


__all__ = ["LEVER_NOTE", "build_page", "header", "session_model_class"]
