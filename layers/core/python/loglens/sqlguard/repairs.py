"""Where sqlglot reads PostgreSQL differently from PostgreSQL, put the tree back before it is checked."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from loglens.sqlguard.names import PLAIN_WORD

DIALECT = "postgres"


def repair_postgres(root: exp.Expr) -> None:
    _repair_json_arrows(root)
    _repair_date_bin_origin(root)


def _repair_json_arrows(root: exp.Expr) -> None:
    """Read ``f(metadata->'k')`` as Postgres does.

    Inside function arguments sqlglot takes ``name -> value`` for a lambda; Postgres has no lambdas, so the
    arrow is the JSON operator. The text is parsed again outside the call, where sqlglot reads it as JSON
    access; anything that still is not is left for the node allowlist to refuse.
    """
    for node in list(root.find_all(exp.Lambda)):
        params = node.expressions
        if len(params) != 1 or not isinstance(params[0], exp.Identifier):
            continue
        reparsed = sqlglot.parse_one(f"SELECT {node.sql(dialect=DIALECT)}", read=DIALECT)
        if isinstance(reparsed, exp.Select) and len(reparsed.expressions) == 1:
            replacement = reparsed.expressions[0]
            if not replacement.find(exp.Lambda):
                node.replace(replacement)


def _repair_date_bin_origin(root: exp.Expr) -> None:
    """Give date_bin's origin back its quotes.

    sqlglot stores the third argument of date_bin as a bare word (it treats it like a date_trunc unit), which
    it would print unquoted: '2024-01-01' comes out as 2024-01-01 and a crafted string as raw SQL. A word
    that is not a plain identifier can only have been a string literal, so it is restored as one; a plain
    word is ambiguous (a column or a string like 'epoch') and is refused by the Var check later.
    """
    for node in root.find_all(exp.DateBin):
        origin = node.args.get("unit")
        if isinstance(origin, exp.Var) and not PLAIN_WORD.match(origin.name):
            node.set("unit", exp.Literal.string(origin.name))
