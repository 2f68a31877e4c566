"""The reference model's reform date and warm-up (docs/model.md §7.12), as the core's sim.core.reform."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.config.taxonomy import QUEUED, SELF_REPORT
from sim.reference.ledger import Ledger

if TYPE_CHECKING:
    from sim.reference.model import ReferenceModel


def warm_up(model: ReferenceModel) -> None:
    """Baseline days before day 0, not recorded; open problems carried into the new ledger (§7.12)."""
    for _ in range(model.dur_warmup):
        model.step()
    led = model.ledger = Ledger()
    for prob in model.problems:
        led.arisen[prob.cat][prob.sev] += 1
        led.arisen_ctype[prob.res.ctype] += 1
        if prob.status == QUEUED:
            led.found += 1
            led.found_by[prob.finder] += 1
    model.problems_carried = len(model.problems)
    model.self_reported_before = led.found_by[SELF_REPORT]  # the carried ones were reported before day 0
    model.volunteer_hours = 0.0
    model.cost_yuan = 0.0
    model.recording = True


def start_reform(model: ReferenceModel) -> None:
    """Set up the policies in order; queued problems move to their handler of today (§7.12)."""
    for pol in model.waiting:
        pol.t_start = model.clock
        pol.setup(model)
        model.policies.append(pol)
    model.waiting = []
    for prob in model.problems:
        if not prob.closed and prob.status == QUEUED:
            handler = model.handler_at(prob, prob.level)
            if handler is not prob.handler:
                if prob.handler is not None:
                    prob.handler.queue.pop(prob.uid, None)
                assert handler is not None
                prob.handler = handler
                handler.queue[prob.uid] = prob


__all__ = ["start_reform", "warm_up"]
