"""Generated documentation: the parameter table (``govsim params``) from field metadata."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from sim.config.paramtools import Params, Vector


def iter_parameters(params: Params, prefix: str = "", inherited: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Yield one row per scalar parameter: dotted key, default, unit, range, choices, source."""
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        meta = dict(f.metadata) if f.metadata else {}
        if inherited:
            for k in ("unit", "source", "lo", "hi"):
                if meta.get(k) in (None, ""):
                    meta[k] = inherited.get(k)
        key = f"{prefix}{f.name}"
        if isinstance(value, Params):
            yield from iter_parameters(value, key + ".", meta if isinstance(value, Vector) or meta else inherited)
        elif isinstance(value, tuple):
            continue
        else:
            yield {"key": key, "default": value, "unit": meta.get("unit") or "", "lo": meta.get("lo"),
                   "hi": meta.get("hi"), "choices": meta.get("choices"), "source": meta.get("source") or ""}


def _allowed(row: dict[str, Any]) -> str:
    if row["choices"]:
        return " / ".join(row["choices"])
    lo, hi = row["lo"], row["hi"]
    if lo is None and hi is None:
        return ""
    return f"[{'' if lo is None else lo}, {'' if hi is None else hi}]"


def parameter_table(params: Params) -> str:
    """Markdown table of every parameter of ``params`` (a whole scenario: ``Scenario()``)."""
    lines = ["| key | default | unit | allowed | source |", "|---|---|---|---|---|"]
    for row in iter_parameters(params):
        default = row["default"]
        if isinstance(default, float):
            default = f"{default:.6g}"
        lines.append(f"| `{row['key']}` | {default} | {row['unit']} | {_allowed(row)} | {row['source']} |")
    return "\n".join(lines)
