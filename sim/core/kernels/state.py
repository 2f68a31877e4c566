"""The kernels' arguments, grouped: one named tuple of arrays per owner of state.

Each class names the fields of one group: the pool's columns, the ledger's counts, where
residents' handlers are, the tables of chances of success, the rules of a phase. Their owners
(``ProblemPool``, ``Ledger``, ``Handlers``, the model) build the groups from their live arrays
when they call a kernel, so arrays a policy rebinds are picked up the next day; the fields are
the owners' arrays, so what a kernel writes lands in them.

How they cross into compiled code: numba types a named tuple from its class and field names on
every call (about 2 microseconds a group, more than the rest of a call), and a plain tuple as
cheaply as positional arguments. So owners pass each group as a plain tuple of its fields, in
order (:data:`Fields`), and every kernel that takes a group names it on its first line
(``pool = PoolColumns(*pool)``, free in compiled code); inside, the kernels read ``pool.status``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

#: A group as it is passed to a kernel: its fields, in the order of its class, as a plain tuple.
Fields = tuple[Any, ...]


class PoolColumns(NamedTuple):
    """The problem pool's columns (``ProblemPool``): one row per open problem, or the buffers."""

    res: np.ndarray  # int32 resident
    cat: np.ndarray  # int8 category
    sev: np.ndarray  # int8 severity
    status: np.ndarray  # int8 LATENT or QUEUED (-1: closed today)
    level: np.ndarray  # int8 current level (-1 until routed)
    handler: np.ndarray  # int32 handler within the level
    t_arise: np.ndarray  # int32
    t_found: np.ndarray  # int32 (-1 while latent)
    t_level: np.ndarray  # int32 step the problem reached its level
    n_contacts: np.ndarray  # int16
    finder: np.ndarray  # int8 FINDERS code (-1 while latent)
    flags: np.ndarray  # uint8 policy flag bits


class LedgerCounts(NamedTuple):
    """The ledger's cumulative count arrays (``Ledger``)."""

    arisen: np.ndarray  # (category, severity)
    resolved: np.ndarray  # (category, severity)
    abandoned: np.ndarray  # (category, severity)
    arisen_ctype: np.ndarray
    resolved_ctype: np.ndarray
    resolved_level: np.ndarray
    found_by: np.ndarray
    days_hist: np.ndarray  # (severity, days from arising) of resolved problems
    flag_resolved: np.ndarray
    flag_abandoned: np.ndarray


class ArrivalStrata(NamedTuple):
    """Residents grouped by stratum and the cumulative category and severity distributions."""

    order: np.ndarray  # resident ids sorted by stratum
    start: np.ndarray  # first position of each stratum in ``order``
    size: np.ndarray  # residents per stratum
    cat_cum: np.ndarray  # (strata, categories)
    sev_cum: np.ndarray  # (categories, severities)


class Residence(NamedTuple):
    """Where each resident's handlers are: household, grid, compound, firm, community, street."""

    res_household: np.ndarray
    household_grid: np.ndarray
    grid_workers: np.ndarray  # float32 workers per grid (a grid without workers cannot handle)
    res_compound: np.ndarray
    compound_firm: np.ndarray  # -1: the compound has no firm
    res_community: np.ndarray
    res_street: np.ndarray


class SuccessTables(NamedTuple):
    """What a chance of success is made of (float32).

    ``authority[level, category] x severity_mult[severity] x level_cat_mult[level, category]
    x m_<level>[handler, category]``.
    """

    authority: np.ndarray
    severity_mult: np.ndarray
    level_cat_mult: np.ndarray
    m_grid: np.ndarray
    m_property: np.ndarray
    m_community: np.ndarray
    m_street: np.ndarray
    m_department: np.ndarray
    m_city: np.ndarray


class Climb(NamedTuple):
    """How a problem is placed.

    The chance below which a handler refers it up, the levels on each entry level's way up
    (``chains[entry, level]``), and the top level.
    """

    threshold: np.float32
    chains: np.ndarray
    top: int


class EntryRules(NamedTuple):
    """Entry level by severity; property matters to the firm; administrative matters to ``admin_level`` (>= 0)."""

    entry_level: np.ndarray
    property_cat: int
    admin_cat: int
    admin_level: int


class EscalationRules(NamedTuple):
    """When queued problems move up, residents contact again, and problems are given up."""

    dur_escalate: np.ndarray  # days at a level before escalation may happen, by severity
    rate_escalate: np.ndarray  # daily chance of escalation after that, by level
    deadline: np.ndarray  # days at a level after which escalation is certain, by level
    next_level: np.ndarray
    expected_wait: np.ndarray  # by severity: waiting longer makes a problem overdue
    rate_recontact: float  # daily chance of a repeat contact once the wait is ratio_full_recontact x expected
    ratio_full_recontact: float  # waited / expected wait at which the full rate is reached (ramps from 1)
    represented_flags: int  # flag bits of problems someone follows up for the resident (proxy, whistle)
    recontact_represented: float  # multiplier of the repeat-contact hazard of represented problems
    patience: np.ndarray  # by severity: waiting longer may make the resident give up
    rate_abandon: float
    rate_abandon_latent: float


class GridRounds(NamedTuple):
    """Grid workers' rounds of household visits (``Grids``)."""

    household_grid: np.ndarray
    household_pos: np.ndarray
    visit_ptr: np.ndarray  # float64 where today's round starts
    grid_size: np.ndarray
    n_workers: np.ndarray


class FindRules(NamedTuple):
    """Chances that a latent problem is found today, by each finder."""

    visits_per_worker: np.float32  # household visits per grid worker per day
    p_visit: float  # chance a visit finds the problem
    p_by_links: np.ndarray  # chance k party links find it, by k
    rate_self: np.ndarray  # self-report hazard by severity
    slope: np.float32  # how trust raises the propensity to report
    slope_efficacy: np.float32  # how efficacy raises it
    p_tell: np.float32  # chance to tell a visiting grid worker or linked member, at propensity 1


class Reporters(NamedTuple):
    """What decides whether a resident's problem is found: where they live, links, trust."""

    visit_order: np.ndarray  # int32 residents by household slot (``arising.visit_slots``)
    slot_start: np.ndarray  # int32 where each slot's residents start in ``visit_order``
    res_community: np.ndarray
    n_links: np.ndarray  # party members linked to the resident
    link_code: np.ndarray  # uint8: links in 4 bits, two residents a byte (``arising.link_codes``)
    trust: np.ndarray
    report_mult: np.ndarray  # community reporting multiplier
    efficacy: np.ndarray


class ResidentState(NamedTuple):
    """Residents' dynamic state (``Residents``) and scratch arrays, one element per resident.

    ``acc`` is a zeroed float64 scratch (left zeroed); ``experience`` and ``heard`` hold the
    day's experience and what the resident makes of it with the neighbours' (float32).
    ``experience`` has one element more, a zero that the padded neighbour lists point to
    (``SocialTies.padded``); no kernel writes it.
    """

    satisfaction: np.ndarray
    expectation: np.ndarray
    trust: np.ndarray
    volunteer_turns: np.ndarray
    acc: np.ndarray
    performance: np.ndarray
    efficacy: np.ndarray
    grievance: np.ndarray
    experience: np.ndarray
    heard: np.ndarray


class Judgement(NamedTuple):
    """The judge phase's rates (float32): outcomes, the day's experience, perception, expectation."""

    rate_efficacy: np.float32  # own outcome
    rate_efficacy_heard: np.float32  # a neighbour's outcome (rate_efficacy x weight of word of mouth)
    grievance: np.float32  # per unit of failure (1 - performance of an outcome)
    keep_grievance: np.float32  # 1 - daily decay
    burden: np.ndarray  # by severity: loss of a day's experience per overdue open problem
    expected_wait: np.ndarray  # by severity, days since arising
    word_of_mouth: np.float32
    rate_up: np.float32  # perception when the heard experience is better than P
    rate_down: np.float32  # ... when worse (negativity bias)
    rate_expectation: np.float32


class Influence(NamedTuple):
    """Gains from taking part (float64), then satisfaction and trust's rates (float32)."""

    gain_s: float  # perceived performance per event or turn
    gain_t: float
    beta: np.float32
    rate_trust: np.float32
    weight_efficacy: np.float32


class SocialTies(NamedTuple):
    """The neighbour ties as CSR over residents, as unsigned views (no negative-index checks).

    ``padded_ptr``/``padded``: the same lists, each padded with the index ``n`` (the zero after the
    residents' experience) to whole blocks of ``residents.WOM_BLOCK`` (``residents.pad_ties``);
    ``block_res``: the resident of each block.
    """

    indptr: np.ndarray
    indices: np.ndarray
    padded_ptr: np.ndarray
    padded: np.ndarray
    block_res: np.ndarray


class Participation(NamedTuple):
    """Today's draws of the participate phase.

    Attendees per community and their uniforms, volunteer candidates with a uniform each, and
    the thinning bound ``top``.
    """

    n_att: np.ndarray
    u_att: np.ndarray
    cand: np.ndarray
    u_vol: np.ndarray
    top: float


class Volunteering(NamedTuple):
    """Per resident: daily chance to volunteer at trust 1 and the multiplier policies raise."""

    rate: np.ndarray
    mult: np.ndarray


class CommunityStaff(NamedTuple):
    """Community staff and the administrative tasks pushed onto them (``Communities``)."""

    n_staff: np.ndarray
    capacity_per_staff: np.float32
    admin_tasks: np.ndarray
    admin_cap: np.ndarray
    effort_per_task: np.float32


class HandlerEffort(NamedTuple):
    """Effort per day of every level's handlers but the community's (see ``CommunityStaff``)."""

    n_workers: np.ndarray  # per grid
    capacity_per_worker: np.float32
    firm: np.ndarray
    street: np.ndarray
    department: np.ndarray
    city: np.ndarray


class Compounds(NamedTuple):
    """Compounds as contiguous ranges of resident ids, and their types."""

    start: np.ndarray
    ctype: np.ndarray
    size: np.ndarray


class DayTotals(NamedTuple):
    """The recorder's running figures for the day, besides what the kernel counts itself."""

    found: int
    prevented: int
    staff_utilisation: float
    grid_utilisation: float
    volunteer_hours: float
    cost_yuan: float
    repeat_contacts: int
    escalations: int
    self_reported: int  # problems residents reported themselves today


class WindowRows(NamedTuple):
    """Row of each windowed series in the recorder's table (``windows.WINDOW_SERIES``)."""

    resolution_rate_30d: int
    satisfaction_mean_30d: int
    trust_mean_30d: int


class DayCounts(NamedTuple):
    """What the windows read, by day (``Recorder``).

    Resolved and closed problems up to the end of day ``d`` (at ``d + 1``, int64), and day ``d``'s
    mean satisfaction and trust (float64).
    """

    resolved_cum: np.ndarray
    closed_cum: np.ndarray
    satisfaction_day: np.ndarray
    trust_day: np.ndarray


class SeriesRows(NamedTuple):
    """Row of each time series in the recorder's table (``results.SERIES`` names them)."""

    arisen: int
    found: int
    resolved: int
    abandoned: int
    prevented: int
    pending: int
    pending_latent: int
    pending_queued: int
    backlog: np.ndarray  # by level
    resolution_rate: int
    satisfaction_mean: int
    satisfaction_p10: int
    trust_mean: int
    satisfaction_by_ctype: np.ndarray  # by compound type
    staff_utilisation: int
    grid_utilisation: int
    volunteer_hours: int
    cost_yuan: int
    repeat_contacts: int
    escalations: int
    self_reported: int
    unreported_pending: int
