"""Paired replicate comparisons for policy tests: common random numbers make pairs valid."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim import Scenario, run_scenario

SMALL_WORLD: dict[str, Any] = {"world.n_communities_per_street": 2, "world.n_compounds_per_community": 5}
#: Residents who bring nearly every problem to the government (the reporting of before issue 13:
#: quick self-reports, always telling a visitor, no efficacy feedback). Tests of a handling
#: mechanism use it so that its effect is not diluted by the half of problems never reported.
REPORTING_ALL: dict[str, Any] = {
    "problems.report_efficacy_slope": 0.0, "problems.p_tell": 1.0,
    **{f"problems.rate_self_report.{s}": v for s, v in zip(("trivial", "small", "big", "major"),
                                                           (0.04, 0.08, 0.15, 0.25), strict=True)},
}


@dataclass(frozen=True)
class Effect:
    """Mean paired difference (variant - base) of a metric over replicates, with its standard error."""

    metric: str
    base_mean: float
    variant_mean: float
    diff: float
    se: float
    n: int

    def __str__(self) -> str:
        return (f"{self.metric}: base {self.base_mean:.4g} -> variant {self.variant_mean:.4g}, "
                f"diff {self.diff:+.4g} (se {self.se:.2g}, n={self.n}, z={self.z:+.1f})")

    @property
    def z(self) -> float:
        return self.diff / self.se if self.se > 0 else float("inf") * np.sign(self.diff)


def paired_effects(
    base: Scenario,
    variant: Scenario,
    metrics: Sequence[str | tuple[str, Callable[[Mapping[str, float]], float]]],
    seeds: Sequence[int] = (1, 2, 3, 4, 5, 6),
    n_steps: int = 365,
) -> dict[str, Effect]:
    """Run base and variant with the same seeds and compare each metric pairwise."""
    pairs = [(run_scenario(base, seed=s, n_steps=n_steps).summary, run_scenario(variant, seed=s, n_steps=n_steps).summary)
             for s in seeds]
    out: dict[str, Effect] = {}
    for m in metrics:
        name, fn = (m, lambda d, m=m: d[m]) if isinstance(m, str) else m
        b = np.array([fn(p[0]) for p in pairs])
        v = np.array([fn(p[1]) for p in pairs])
        d = v - b
        out[name] = Effect(name, float(b.mean()), float(v.mean()), float(d.mean()),
                           float(d.std(ddof=1) / np.sqrt(d.size)), d.size)
        print(out[name])
    return out
