"""Generated documentation: the parameter table (``govsim params``) from field metadata.

Each row carries the parameter's one-line description (:mod:`sim.config.param_docs`) and its source
with the case codes spelled out (``case 001 Gaoxian``), so the table reads without the code base.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from sim.config.param_docs import describe, readable_source
from sim.config.paramtools import Params, Vector


def iter_parameters(params: Params, prefix: str = "", inherited: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Yield one row per scalar parameter: dotted key, default, unit, range, choices, source, plausible range, description.

    ``plausible`` is the honest range of an assumed value, or None; ``factor`` says it is a factor
    applied to the whole vector or table the element belongs to (``plausible_key`` names it).
    """
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        meta = dict(f.metadata) if f.metadata else {}
        key = f"{prefix}{f.name}"
        if isinstance(value, Params) and meta.get("plausible") is not None:
            meta["plausible_key"] = key
        if inherited:
            for k in ("unit", "source", "lo", "hi", "plausible", "plausible_key"):
                if meta.get(k) in (None, ""):
                    meta[k] = inherited.get(k)
        if isinstance(value, Params):
            yield from iter_parameters(value, key + ".", meta if isinstance(value, Vector) or meta else inherited)
        elif isinstance(value, tuple):
            continue
        else:
            yield {"key": key, "default": value, "unit": meta.get("unit") or "", "lo": meta.get("lo"),
                   "hi": meta.get("hi"), "choices": meta.get("choices"),
                   "source": readable_source(meta.get("source") or ""), "description": describe(key),
                   "plausible": meta.get("plausible"), "factor": meta.get("plausible_key") is not None,
                   "plausible_key": meta.get("plausible_key") or (key if meta.get("plausible") else None)}


def allowed_text(row: dict[str, Any]) -> str:
    """The values a row allows: its choices, or its range ``[lo, hi]`` (an open end left blank); '' if any."""
    if row["choices"]:
        return " / ".join(row["choices"])
    lo, hi = row["lo"], row["hi"]
    if lo is None and hi is None:
        return ""
    return f"[{'' if lo is None else lo}, {'' if hi is None else hi}]"


def plausible_text(row: dict[str, Any]) -> str:
    """The plausible range of a row: ``[lo, hi]`` for a scalar, ``x0.7-1.4 (key)`` for an element of a vector or table."""
    pl = row.get("plausible")
    if pl is None:
        return ""
    if row.get("factor"):
        return f"x{pl[0]:.4g}-{pl[1]:.4g} (`{row['plausible_key']}`)"
    return f"[{pl[0]:.4g}, {pl[1]:.4g}]"


def parameter_table(params: Params, prefix: str = "") -> str:
    """Markdown table of every parameter of ``params`` (a whole scenario: ``Scenario()``; a policy's with ``prefix``).

    ``plausible``: the honest range of an assumed value that ``govsim compare --uncertainty`` samples
    (a factor ``x lo-hi`` for every element of a vector or table together).
    """
    return table_of_rows(list(iter_parameters(params, prefix)))


def table_of_rows(rows: list[dict[str, Any]]) -> str:
    """Markdown table of rows of :func:`iter_parameters` (all, or those a filter kept)."""
    lines = ["| key | default | unit | allowed | plausible | description | source |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        default = row["default"]
        if isinstance(default, float):
            default = f"{default:.6g}"
        lines.append(f"| `{row['key']}` | {default} | {row['unit']} | {allowed_text(row)} | {plausible_text(row)} "
                     f"| {row['description']} | {row['source']} |")
    return "\n".join(lines)
