"""Names as the database reads them: identifier folding, function names, alias column lists."""

from __future__ import annotations

import re
from collections.abc import Iterator

from sqlglot import exp

PLAIN_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
LEADING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def ident(node: object) -> str:
    """The name the database would use: unquoted identifiers fold to lower case, quoted ones keep their case.

    (Trino folds quoted names too; keeping their case there only makes a mismatch fail closed.)
    """
    if isinstance(node, exp.Identifier):
        return str(node.this) if node.quoted else str(node.this).lower()
    if isinstance(node, exp.Expr):
        return node.name.lower()
    return str(node).lower() if node is not None else ""


def alias_columns(alias: object) -> tuple[str, ...]:
    if not isinstance(alias, exp.TableAlias):
        return ()
    return tuple(ident(c) for c in alias.args.get("columns") or [])


def function_name(func: exp.Expr, dialect: str) -> str:
    if isinstance(func, exp.Anonymous):
        return ident(func.this)
    # The name as the database will see it (lpad, not sqlglot's Pad), else sqlglot's own name for the node.
    written = LEADING_NAME.match(func.sql(dialect=dialect))
    if written:
        return written.group(0).lower()
    return func.sql_name().lower() if isinstance(func, exp.Func) else func.key


def is_value_keyword(column: exp.Column, keywords: frozenset[str]) -> bool:
    """An unquoted, unqualified user/current_role/...: the database calls a function there, whatever sqlglot thinks."""
    name = column.this
    return (
        isinstance(name, exp.Identifier)
        and not name.quoted
        and not column.args.get("table")
        and str(name.this).lower() in keywords
    )


def children(value: object) -> Iterator[exp.Expr]:
    if isinstance(value, exp.Expr):
        yield value
    elif isinstance(value, list):
        yield from (v for v in value if isinstance(v, exp.Expr))


def is_query(node: exp.Expr) -> bool:
    return isinstance(node, (exp.Select, exp.SetOperation))
