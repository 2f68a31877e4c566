"""What each parameter means, in one line, and its source in words a reader without the code base follows.

:data:`DESCRIPTIONS` maps a parameter field's dotted key (a vector's or table's key once for all its
elements; a policy's as ``policies.<name>.<field>``) to a one-line description; ``govsim params``
and docs/parameters.md show it. :func:`readable_source` turns the case codes of the sources
(``000`` .. ``004``, the five case reports the model draws on) into ``case 001 Gaoxian`` etc.
``tests/test_params_cli.py`` checks that every parameter has a description.
"""

from __future__ import annotations

import re

__all__ = ["CASES", "DESCRIPTIONS", "describe", "readable_source"]

#: the five case reports, by code: the place each describes (docs/cases.md gives titles and publishers)
CASES: dict[str, str] = {
    "000": "Sanya Jiyang",
    "001": "Gaoxian",
    "002": "Bazhong",
    "003": "Huiji",
    "004": "Luohu",
}
_CODE = re.compile(r"(?<![\d,.])(00[0-4])(?!\d|[,.]\d)")

_CORE: dict[str, str] = {
    "name": "the scenario's name (labels outputs and stored runs)",
    "description": "free text describing the scenario",
    "run.n_steps": "days to simulate (one step is one day)",
    "run.seed": "random seed of the run",
    "run.record_every": "record the time series every this many days",
    "reform.start_day": "day the scenario's policies start (before it the baseline rules apply)",
    "reform.dur_warmup": "unrecorded days run under baseline rules before day 0",
    "reform.dur_window": "length of the pre- and post-reform windows compared",
    "world.n_streets": "streets (sub-districts) in the world",
    "world.n_communities_per_street": "residents' communities per street",
    "world.n_compounds_per_community": "residential compounds per community",
    "world.p_compound_type": "share of compounds of each type (old, mature, new)",
    "world.n_buildings_per_compound": "buildings per compound, by compound type",
    "world.n_households_per_building": "households per building, by compound type",
    "world.n_residents_per_household": "residents per household, by compound type",
    "world.p_elderly": "share of elderly residents, by compound type",
    "world.p_child": "share of children, by compound type",
    "world.p_party_member": "share of residents who are party members",
    "world.n_links_per_party_member": "residents each party member is linked to (双联双带)",
    "world.n_building_ties": "social ties a resident starts within their building",
    "world.n_compound_ties": "social ties a resident starts within their compound",
    "world.n_long_ties": "social ties a resident starts anywhere in the world",
    "world.n_cobuilding_units_per_community": "co-building units (employers, agencies) around each community",
    "world.p_rewire": "share of neighbour ties rewired at random (small-world)",
    "problems.rate_arise": "daily chance that a resident has a new problem",
    "problems.category_weights": "relative weight of each problem category, by resident group",
    "problems.category_mult": "multiplier of each category's rate, by compound type",
    "problems.severity_weights": "relative weight of each severity, by category",
    "problems.rate_self_report": "daily chance that a resident reports an own latent problem, by severity",
    "problems.report_trust_slope": "how much more readily residents report per unit of trust",
    "problems.report_efficacy_slope": "how much more readily residents report per unit of efficacy",
    "problems.p_tell": "chance a resident tells a visiting grid worker or linked party member of a problem",
    "problems.dur_patience": "days a resident waits before they may give a problem up, by severity",
    "problems.rate_abandon": "daily chance of giving up a reported problem after patience runs out",
    "problems.rate_abandon_latent": "daily chance of giving up an unreported problem after patience runs out",
    "problems.rate_recontact": "daily chance of contacting the handler again while a problem is overdue",
    "problems.p_prevented_base": "chance a new problem is prevented before it arises (no prevention at baseline)",
    "handling.entry_level": "the level a newly found problem goes to first, by severity",
    "handling.admin_to_department": "administrative matters go straight to departments",
    "handling.effort": "staff effort one handling attempt takes, by severity",
    "handling.authority": "chance one attempt at a level solves a problem of a category (before severity)",
    "handling.severity_mult": "multiplier of the chance of success, by severity",
    "handling.p_refer_below": "chance a handler refers a problem it has no power to solve up a level",
    "handling.dur_escalate": "days a problem is stuck before it may be escalated, by severity",
    "handling.rate_escalate": "daily chance a stuck problem is escalated",
    "handling.top_level": "the highest level problems can be escalated to",
    "handling.capacity_street_per_10k": "the street's handling capacity per 10,000 residents",
    "handling.capacity_department_per_10k": "departments' handling capacity per category per 10,000 residents",
    "handling.capacity_city_per_10k": "the city's handling capacity per 10,000 residents",
    "handling.property_capacity_per_100_households": "a property firm's handling capacity per 100 households",
    "handling.property_quality": "mean quality of property firms, by compound type (0: no firm)",
    "handling.property_quality_concentration": "how tightly firm quality clusters around its mean (Beta a+b)",
    "community.n_staff_per_10k": "community staff per 10,000 residents",
    "community.capacity_per_staff": "handling effort a staff member gives a day",
    "community.rate_admin_tasks": "administrative tasks pushed onto a community a day",
    "community.effort_admin_task": "staff effort one administrative task takes",
    "community.households_per_grid": "households per pre-reform grid, by compound type",
    "community.n_grid_workers_per_grid": "part-time grid-role holders per pre-reform grid",
    "community.capacity_per_grid_worker": "staff-days a grid worker gives to grid work a day (visits, errands, problems)",
    "community.n_visits_per_worker_per_month": "households a grid worker plans to visit a month",
    "community.effort_visit": "staff-days one household visit takes out of the grid worker's day",
    "community.p_find_on_visit": "chance a visit finds a latent problem of the household",
    "community.rate_events": "community events a day",
    "community.p_event_reach": "share of a community's residents an event reaches",
    "party.rate_contact": "daily chance a party member contacts each linked resident",
    "party.p_find_on_contact": "chance a contact finds a latent problem",
    "party.rate_volunteer": "daily chance a resident party member volunteers",
    "residents.performance_init": "residents' initial perceived performance of governance (0-1)",
    "residents.trust_init": "residents' initial trust in local government (0-1)",
    "residents.expectation_init": "residents' initial expectation of performance (0-1)",
    "residents.efficacy_init": "residents' initial external efficacy: belief that contacting helps (0-1)",
    "residents.init_concentration": "how tightly the initial values cluster around their means (Beta a+b)",
    "residents.dur_expected_wait": "days a resident expects a problem to take, by severity",
    "residents.burden": "how much an overdue problem spoils a resident's day, by severity",
    "residents.grievance": "lasting grievance a problem given up or a report ignored leaves",
    "residents.rate_grievance_decay": "daily rate at which a grievance fades",
    "residents.rate_perception": "daily rate at which perceived performance follows experience",
    "residents.negativity_bias": "how much faster perception follows bad experience than good",
    "residents.rate_expectation": "daily rate at which expectation follows perceived performance",
    "residents.beta_disconfirm": "weight of (perceived - expected) performance in satisfaction",
    "residents.rate_trust": "daily rate at which trust follows satisfaction and efficacy",
    "residents.weight_trust_efficacy": "weight of efficacy (against satisfaction) in trust's target",
    "residents.rate_efficacy": "how far the outcome of an own report moves efficacy",
    "residents.weight_word_of_mouth": "weight of neighbours' outcomes and experience against one's own",
    "residents.rate_volunteer": "daily chance a fully trusting resident volunteers",
    "residents.dur_volunteer_hours": "hours a volunteering turn lasts",
    "residents.participation_satisfaction": "gain of perceived performance per event attended or turn volunteered",
    "residents.participation_trust": "gain of trust per event attended or turn volunteered",
    "costs.pay_grid_worker": "a pre-reform grid-role holder's pay",
    "costs.pay_integrated_grid_worker": "an integrated grid-worker post's pay (001)",
    "costs.venue_cost_per_community": "one-off cost of upgrading each community's venue (001)",
    "costs.platform_cost_per_community_per_year": "upkeep of the platform and monitoring per community (001)",
    "costs.trusteeship_subsidy_per_household_per_month": "government subsidy of community-run property per household (001)",
    "costs.elderly_care_cost_per_community_per_year": "government subsidy of elderly care per community (001)",
    "costs.pay_community_staff": "a community staff member's pay",
    "costs.cost_event": "cost of one community event",
}

_POLICIES: dict[str, dict[str, str]] = {
    "alliance": {
        "n_units": "co-building units allied with each community",
        "unit_mix": "weight of each kind of unit in the alliance's resource list",
        "success_boost": "rise of the community's chance of success when all units take part",
        "n_in_service_per_unit": "in-service party members each unit registers in the community (双报到)",
        "rate_in_service_volunteer": "daily chance an in-service member volunteers",
        "n_residents_per_turn": "residents one volunteering turn serves",
        "events_per_unit_per_month": "events each unit holds with the community a month",
        "dur_needs_list": "days between needs lists the community publishes",
        "p_claim": "chance a unit claims a project from a needs list",
        "n_problems_per_project": "open problems one claimed project resolves",
        "dur_meeting": "days between joint meetings of the units",
        "p_meeting_resolve": "chance a joint meeting resolves a hard (stuck) problem",
        "cost_liaison_per_unit_per_month": "cost of each unit's liaison",
        "cost_materials_per_unit_per_year": "materials of each unit's projects",
    },
    "four_empowerments": {
        "capability": "switch: venue upgrade, online platform and 24-hour monitoring (赋能)",
        "venue_event_mult": "multiplier of community events once the venue is upgraded",
        "platform_report_mult": "multiplier of residents' self-reporting through the online platform",
        "p_monitor_find": "daily chance monitoring finds a latent safety problem",
        "responsibility": "switch: resource, needs and service lists claimed by units (赋责)",
        "dur_lists": "days between collections of residents' suggestions",
        "p_suggest": "chance a latent problem is raised at a collection",
        "n_projects_per_month": "projects units and merchants claim per community a month",
        "problems_per_project": "open problems one claimed project resolves",
        "claimable": "which problem categories units can claim projects in (1: yes)",
        "n_volunteer_events_per_year": "added volunteer service events per community a year",
        "deliberation": "switch: '1+2+N' deliberation meetings in every compound",
        "dur_deliberation": "days between deliberation meetings",
        "deliberation_settle": "chance a meeting settles an open problem, by category",
        "deliberation_boost": "success multiplier of grid workers and community in deliberated categories",
        "trusteeship": "switch: community-run property management of old compounds without a firm",
        "trusteeship_quality": "quality of the community-run property service",
        "trusteeship_capacity_per_100_households": "handling capacity of the community-run service per 100 households",
        "trusteeship_p_prevent_sanitation": "share of sanitation problems its cleaning prevents",
        "elderly_care": "switch: embedded elderly care (day care, meals)",
        "care_boost": "success multiplier of the community on care problems",
        "p_prevent_care": "share of care problems prevented, by compound type",
    },
    "grid": {
        "households_per_grid": "households per grid after the reform, by compound type",
        "n_workers_per_grid": "grid workers per grid after the reform",
        "capacity_per_post": "staff-days a post gives to grid work a day (visits, errands, problems)",
        "n_visits_per_worker_per_month": "households a grid worker visits a month after the reform",
        "proxy_service": "switch: grid workers file residents' administrative matters for them",
        "proxy_success_mult": "success multiplier of matters filed by a proxy",
        "effort_proxy_errand": "staff-days one proxy errand takes out of the grid worker's day",
        "p_building_head_find": "daily chance a building head finds a latent problem",
    },
    "micro_projects": {
        "fund_per_community_per_year": "service fund each community spends on micro projects a year",
        "cost_per_project": "cost of one micro project",
        "dur_cycle": "days of one project round",
        "dur_collect": "day of the round on which residents' suggestions are collected",
        "dur_implement": "days a project takes to implement",
        "p_suggest_latent": "share of latent problems residents suggest at a collection",
        "p_approved": "chance a suggested project is approved",
        "prevent_engineering": "chance an engineering project prevents a new problem in its compound",
        "prevent_service": "chance a service project prevents a new care problem",
        "prevent_neighbourly": "chance a neighbourliness project prevents a new dispute",
        "p_take_part": "share of a compound's residents who take part in its project, by compound type",
        "time_bank_boost": "rise of volunteering through the time bank's points",
    },
    "one_core_many": {
        "downward_moves": "switch: the three downward moves of street leaders and staff",
        "first_secretary_boost": "success multiplier of a community whose first secretary is a street leader",
        "n_street_staff_per_community": "street office staff posted to each community",
        "half_days_per_week": "half-days a week the street staff spend in the community",
        "p_branch_find": "daily chance a compound party branch finds a latent problem",
        "seven_teams": "switch: the seven service teams",
        "teams_volunteer_mult": "multiplier of volunteering with the teams",
        "teams_gain": "added success of grid workers and community where a team helps, by category",
        "teams_event_mult": "multiplier of community events (culture and sport team)",
        "teams_cost_per_community_per_year": "cost of the teams per community",
        "ratings": "switch: red, yellow and green ratings of compounds",
        "dur_rating": "days between ratings",
        "share_red": "share of compounds rated red",
        "red_priority_days": "days of queue priority for red compounds' problems",
        "red_boost": "success multiplier of grid workers and firm in red compounds",
        "sensors": "switch: smart sensors for power, gas and flooding",
        "p_sensor_find": "daily chance a sensor finds a latent safety problem",
        "p_prevent_major_safety": "share of major safety problems the sensors prevent",
        "sensor_cost_per_household_per_year": "cost of the sensors per household",
        "admission_list": "switch: the admission list of administrative tasks",
        "admin_cap": "administrative tasks departments may push onto a community a day",
    },
    "street_empowerment": {
        "authority_share": "share of departments' authority moved to the street, by category",
        "capacity_moved": "share of the moved departments' capacity that goes with the authority",
        "admin_at_street": "switch: administrative matters served at the street's one-window centre",
        "admin_task_cut": "share of administrative tasks no longer pushed onto communities",
        "cost_per_street_per_year": "running cost of the empowered street",
    },
    "whistle": {
        "deadline_community": "days the community has before a problem is whistled up",
        "deadline_street": "days the street has before a problem is whistled up",
        "deadline_department": "days departments have before the city takes a problem up",
        "city_level": "switch: the city convenes departments on major and long-standing problems",
        "dur_collect": "days between collections of problems from units and on the ground",
        "p_collect": "chance a latent problem is collected",
        "report_capacity_share": "departments' added capacity when they report for duty",
        "report_boost": "success multiplier of whistled matters",
        "abandon_cut": "share of the abandonment hazard removed by follow-up",
        "cost_per_community_per_year": "cost of meetings, ledgers and supervision per community",
    },
}

#: one-line description by dotted field key
DESCRIPTIONS: dict[str, str] = {
    **_CORE,
    **{f"policies.{name}.{key}": text for name, fields in _POLICIES.items() for key, text in fields.items()},
}


def describe(key: str) -> str:
    """The description of the parameter at ``key`` (an element takes its vector's or table's), or ''."""
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        text = DESCRIPTIONS.get(".".join(parts[:n]))
        if text is not None:
            element = ", ".join(parts[n:])
            return f"{text} [{element}]" if element else text
    return ""


def readable_source(source: str) -> str:
    """``source`` with each case code spelled out: ``001: 48 posts`` -> ``case 001 Gaoxian: 48 posts``."""
    return _CODE.sub(lambda m: f"case {m.group(1)} {CASES[m.group(1)]}", source)
