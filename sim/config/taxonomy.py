"""The fixed vocabularies of the model: problem categories, severities, levels, compound types, groups.

Codes are small integers so that problem and resident state can live in int8 arrays; the
names are what scenario files, outputs and plots use. Order matters and never changes: it is
the column order of every per-category / per-level array in the model.
"""

from __future__ import annotations

from typing import Final

#: Problem categories (domain brief, "The problem every seed describes").
CATEGORIES: Final[tuple[str, ...]] = (
    "sanitation",  # sanitation / environment, garbage, clutter (003, 001)
    "parking",  # parking / traffic, e-bikes (000, 001)
    "dispute",  # neighbour disputes, noise, falling objects (001)
    "care",  # elderly and child care (003)
    "safety",  # fire, fraud, public safety (000, 004)
    "property",  # property maintenance inside compounds (003, 004)
    "admin",  # administrative services: social assistance, social security, registration (000)
    "health",  # health and medical services (000)
)
N_CATEGORIES: Final[int] = len(CATEGORIES)

#: Severity of a problem; "trivia stay in the grid, small matters in the community, big matters
#: in the street" (002); "major or long-standing" go further up (002).
SEVERITIES: Final[tuple[str, ...]] = ("trivial", "small", "big", "major")
N_SEVERITIES: Final[int] = len(SEVERITIES)

#: Handling levels. Escalation climbs grid -> community -> street -> department -> city;
#: a property firm escalates to the community.
LEVELS: Final[tuple[str, ...]] = ("grid", "property", "community", "street", "department", "city")
N_LEVELS: Final[int] = len(LEVELS)
GRID, PROPERTY, COMMUNITY, STREET, DEPARTMENT, CITY = range(N_LEVELS)

#: Compound types (003): unmanaged old compounds without a property firm, mature elderly-heavy
#: compounds, new young-family compounds.
COMPOUND_TYPES: Final[tuple[str, ...]] = ("old", "mature", "new")
N_COMPOUND_TYPES: Final[int] = len(COMPOUND_TYPES)
OLD, MATURE, NEW = range(N_COMPOUND_TYPES)

#: Resident groups, which set problem rates by category.
GROUPS: Final[tuple[str, ...]] = ("child", "adult", "elderly")
N_GROUPS: Final[int] = len(GROUPS)
CHILD, ADULT, ELDERLY = range(N_GROUPS)

#: How a problem came to the community's attention.
FINDERS: Final[tuple[str, ...]] = ("self_report", "grid_visit", "party_link", "policy")
N_FINDERS: Final[int] = len(FINDERS)
SELF_REPORT, GRID_VISIT, PARTY_LINK, POLICY_FIND = range(N_FINDERS)

#: Problem status codes in the problem pool.
LATENT, QUEUED = 0, 1

#: Category codes the core treats specially: property matters go to the compound's firm;
#: administrative services go to departments before reform (000).
PROPERTY_CATEGORY: Final[int] = CATEGORIES.index("property")
ADMIN_CATEGORY: Final[int] = CATEGORIES.index("admin")

#: Bit flags policies set on problems (pool field ``flags``) to follow them through the life
#: cycle; the ledger counts resolved and abandoned problems per flag.
FLAGS: Final[tuple[str, ...]] = ("whistle", "proxy", "alliance", "deliberation", "project", "sensor", "rating", "other")
FLAG_BIT: Final[dict[str, int]] = {name: 1 << i for i, name in enumerate(FLAGS)}
