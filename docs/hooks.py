"""MkDocs hook: the Sphinx roles of hyperal's docstrings, rendered.

The docstrings are written for both Python's ``help`` and this site, in the
numpy style with Sphinx cross-reference roles (``:class:`Committee```,
``:func:`~hyperal.metrics.rmse```). mkdocstrings renders them as plain
Markdown, where a role would show as the raw text ``:class:`` before the
name; this hook turns each into the name in code (``~`` keeps the last part
of a dotted name, as Sphinx does).
"""

from __future__ import annotations

import re

# `:role:<code>target</code>` as Markdown renders a role; the role's domain
# prefix (`:py:class:`) is optional
ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|attr|data|mod|exc|obj|const|term|ref)"
    r":<code>(~?)([^<]*)</code>"
)


def shown(tilde: str, target: str) -> str:
    """The text a role shows: the target, or its last part after ``~``."""
    target = target.strip()
    return target.rsplit(".", 1)[-1] if tilde else target


def on_page_content(html: str, **_) -> str:
    return ROLE.sub(lambda m: f"<code>{shown(m.group(1), m.group(2))}</code>", html)
