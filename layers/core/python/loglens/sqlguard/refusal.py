"""How a check says no: a refusal code the agent and the tests match on, and a reason a model can act on."""

from __future__ import annotations

from sqlglot import exp

EXCERPT_CHARS = 160


class Refused(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def excerpt(node: exp.Expr, dialect: str, limit: int = EXCERPT_CHARS) -> str:
    """The node's SQL on one line, cut to `limit` characters, for quoting the part a refusal is about."""
    text = " ".join(node.sql(dialect=dialect, comments=False).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
