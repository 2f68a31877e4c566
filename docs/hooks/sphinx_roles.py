"""MkDocs hook: show the Sphinx roles of govsim's docstrings (:class:`~sim.x.Y`) as plain code (``Y``).

The docstrings are written for reading in the source and in ``help()``; mkdocstrings renders
them as Markdown, where a role would show as ``:class:`` before the name.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):<code>(~?)([\w.]+)(\(\))?</code>")


def _code(match: re.Match[str]) -> str:
    name = match.group(2).rsplit(".", 1)[-1] if match.group(1) else match.group(2)
    return f"<code>{name}{match.group(3) or ''}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Replace rendered roles by their target's name in code."""
    return _ROLE.sub(_code, html)
