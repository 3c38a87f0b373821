"""The outermost query returns at most max_rows rows: a LIMIT is added, capped or replaced."""

from __future__ import annotations

from sqlglot import exp

from loglens.sqlguard.refusal import Refused


def enforce_limit(root: exp.Expr, max_rows: int, dialect: str) -> list[str]:
    """Make the outermost query return at most max_rows rows; return notes on what changed."""
    limit = root.args.get("limit")
    if limit is None:
        root.set("limit", _limit(max_rows))
        return [f"LIMIT {max_rows} added"]
    if isinstance(limit, exp.Fetch):
        count = limit.args.get("count")
        wanted = _int_literal(count) if count is not None else 1
        rows = min(wanted, max_rows) if wanted is not None else max_rows
        root.set("limit", _limit(rows))
        return [f"FETCH FIRST replaced by LIMIT {rows}"]
    if isinstance(limit, exp.Limit):
        wanted = _int_literal(limit.expression)
        if wanted is None:
            root.set("limit", _limit(max_rows))
            return [f"LIMIT {limit.expression.sql(dialect=dialect)} replaced by LIMIT {max_rows}"]
        if wanted > max_rows:
            root.set("limit", _limit(max_rows))
            return [f"LIMIT {wanted} capped to {max_rows}"]
        return []
    raise Refused("node_not_allowed", f"unsupported row limit: {limit.sql(dialect=dialect)}")


def _int_literal(node: object) -> int | None:
    text = str(node.this) if isinstance(node, exp.Literal) and not node.is_string else ""
    if text.isascii() and text.isdigit():
        return int(text)
    return None


def _limit(rows: int) -> exp.Limit:
    return exp.Limit(expression=exp.Literal.number(rows))
