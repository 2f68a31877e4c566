"""``govsim run``: one scenario, stored, its summary printed (``govsim params`` is :mod:`sim.cli.params`)."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

from sim.cli.common import DB_HELP, SET_HELP, json_text, limits, notice_compiling, parse_set, set_error
from sim.config.inputfiles import MAX_TEXT
from sim.errors import InputError, ParameterError

if TYPE_CHECKING:
    from sim.cli.common import Subparsers
    from sim.core.scenario import Scenario

__all__ = ["SUMMARY_LAYOUT", "add_run_commands", "cmd_run", "format_summary"]

SUMMARY_LAYOUT: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Problems", ("problems_arisen", "problems_found", "problems_resolved", "problems_pending",
                  "problems_abandoned", "resolution_rate", "abandonment_rate")),
    ("Time to resolution", ("days_to_resolution_median", "days_to_resolution_p90",
                                   "days_to_resolution_median_big")),
    ("Resolved at level", ("share_resolved_grid", "share_resolved_property", "share_resolved_community",
                                   "share_resolved_street", "share_resolved_department", "share_resolved_city")),
    ("Reporting, finding and contacts", ("reporting_rate", "self_report_rate", "share_found_proactive",
                                         "repeat_contacts_per_resolved")),
    ("Residents", ("satisfaction_mean", "satisfaction_p10", "trust_mean", "efficacy_mean", "satisfaction_old",
                   "satisfaction_mature", "satisfaction_new", "volunteer_hours")),
    ("Before and after the reform (pre: the reform.dur_window days before it; post: the last ones)",
     ("reform_start_day", "resolution_rate_30d_pre", "resolution_rate_30d_post", "resolution_rate_30d_t90",
      "satisfaction_mean_pre", "satisfaction_mean_post", "satisfaction_mean_t90", "trust_mean_pre",
      "trust_mean_post")),
    ("Staff and cost", ("staff_utilisation", "grid_utilisation", "cost_yuan")),
)


def _fmt(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.3f}"


def format_summary(summary: dict[str, float], title: str) -> str:
    """The summary as an aligned plain-text table, grouped by topic, each value with its unit (shares on 0-1)."""
    from sim.config.units import metric_unit

    width = max(len(k) for _, keys in SUMMARY_LAYOUT for k in keys)
    lines = [title, "=" * len(title)]
    for heading, keys in SUMMARY_LAYOUT:
        if not any(k in summary for k in keys):
            continue  # e.g. no reform date: no pre/post section
        lines.append(f"{heading}")
        for k in keys:
            if k in summary:
                lines.append(f"  {k:<{width}}  {_fmt(summary[k]):>14}  {metric_unit(k)}")
    return "\n".join(lines)


def _scenario(args: argparse.Namespace) -> Scenario:
    """The scenario file with ``--steps`` and every ``--set`` applied (a bad key names its ``--set``)."""
    from sim.core.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    overrides = parse_set(args.set)
    if args.steps is not None:
        overrides["run.n_steps"] = args.steps
    try:  # all at once: switching a policy on and setting its parameters may come in any order
        return scenario.with_overrides(overrides)
    except ParameterError as err:
        raise set_error(overrides, err.key, err.message) from None


def cmd_run(args: argparse.Namespace) -> int:
    """Run one scenario, store the run, print its summary (a table, or one JSON object)."""
    from sim.core.model import Model
    from sim.core.resources import check_resources, estimate
    from sim.experiments.runner import run_record
    from sim.store.database import ResultStore

    scenario = _scenario(args)
    if len(args.label) > MAX_TEXT:  # free text (newlines kept), but not unbounded
        raise InputError(f"--label: {len(args.label):,} characters; allowed: at most {MAX_TEXT:,}", key="--label")
    check_resources([estimate(scenario)], 1, 1, limits(args), f"scenario {args.scenario}")
    store = ResultStore(args.db)  # fails here, before running, on a bad URL
    notice_compiling()
    model = Model(scenario, seed=args.seed)
    results = model.run(progress=None if not args.quiet else False)
    record = run_record(results, scenario_name=scenario.name, scenario_hash=scenario.content_hash(),
                        scenario_text=scenario.to_toml(), seed=model.seed, n_steps=model.t, label=args.label)
    run_id = store.save_run(record)
    store.close()
    if args.json:
        from sim.config.units import json_summary, units_of

        out = {"run_id": run_id, "scenario": scenario.name, "seed": model.seed, "db": store.url,
               "setup_s": round(results.setup_s, 3), "run_s": round(results.run_s, 3),
               "summary": json_summary(results.summary),
               "units": {"setup_s": "seconds", "run_s": "seconds", **units_of(results.summary)}}
        print(json_text(out))
    else:
        n_res = int(results.summary["n_residents"])
        title = f"{scenario.name}: {n_res:,} residents x {model.t} days, seed {model.seed}"
        print(format_summary(results.summary, title))
        print(f"\nstored as run {run_id} in {store.url} ({results.run_s:.1f} s)")
    return 0


def add_run_commands(subparsers: Subparsers) -> None:
    """Register ``run`` and ``params`` on govsim's subparsers."""
    from sim.cli.params import add_params_command

    r = subparsers.add_parser("run", help="run one scenario and store the run")
    r.add_argument("scenario", help="scenario TOML file, e.g. scenarios/baseline.toml")
    r.add_argument("--steps", type=int, help="days to simulate (default: the scenario's run.n_steps)")
    r.add_argument("--seed", type=int, help="random seed (default: the scenario's run.seed)")
    r.add_argument("--db", help=DB_HELP)
    r.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    r.add_argument("--label", default="", help="free-text label stored with the run")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)
    add_params_command(subparsers)
