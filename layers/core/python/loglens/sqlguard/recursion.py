"""A recursive CTE is allowed only when the guard can see where its recursion ends.

Two proofs are accepted. A counter: the recursive term reads only the CTE itself (no joins, no set-returning
calls, so no row ever fans out), adds a positive constant to one column and keeps rows while that column is
below a constant, starting from constant anchor rows; iterations × anchor rows must stay under the dialect's
row cap. Or, in PostgreSQL only, a plain reader: the statement's own SELECT reads the CTE with no filter,
grouping, ordering or aggregate, so the LIMIT the guard enforces stops the recursion (PostgreSQL evaluates a
recursive CTE only as far as its reader fetches). A LIMIT inside the recursive term proves nothing: it caps
each iteration, not their number, and PostgreSQL runs such a query until the timeout.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlglot import exp

from loglens.sqlguard.bounds import conjuncts
from loglens.sqlguard.dialects import Dialect
from loglens.sqlguard.names import ident
from loglens.sqlguard.refusal import Refused
from loglens.sqlguard.size import series_rows
from loglens.sqlguard.values import Value, evaluate, series_length

_ROW_MAKERS = (exp.GenerateSeries, exp.ExplodingGenerateSeries, exp.Unnest, exp.Explode)
_EXACT = 2**53
# What makes a reader read more than it returns: filters, grouping, ordering, skipping.
_READER_REFUSES = ("joins", "laterals", "where", "group", "having", "order", "distinct", "qualify", "windows", "offset")


def check_recursive_cte(
    cte: exp.CTE,
    name: str,
    columns: tuple[str, ...] | None,
    *,
    owner: exp.Expr,
    owner_is_root: bool,
    dialect: Dialect,
    now: datetime,
) -> bool:
    """Refuse a recursive CTE without a proven end; return whether it refers to itself at all."""
    body = cte.this
    references = [t for t in body.find_all(exp.Table) if _names(t, name)]
    if not references:
        return False
    if _counter_bound(body, name, columns, dialect, now) is not None:
        return True
    if dialect.name == "postgres" and owner_is_root and _plain_reader(owner, cte, name):
        return True
    step = f"SELECT n + 1 FROM {name} WHERE n < 100"
    reader = "" if dialect.name != "postgres" else f", or read it with a plain SELECT ... FROM {name} and a LIMIT"
    raise Refused(
        "unbounded_recursion",
        f'recursive CTE "{name}" has no provable end: give its recursive term a counter over constant anchor rows, '
        f"e.g. {step}, reading only {name} itself{reader} (a LIMIT inside the recursive term does not stop it)",
    )


def _names(table: exp.Table, name: str) -> bool:
    return (
        isinstance(table.this, exp.Identifier)
        and not table.args.get("db")
        and not table.args.get("catalog")
        and ident(table.this) == name
    )


def _counter_bound(
    body: exp.Expr, name: str, columns: tuple[str, ...] | None, dialect: Dialect, now: datetime
) -> int | None:
    if not isinstance(body, exp.Union):
        return None
    anchor, term = _values_of(body.left.unnest()), body.right.unnest()
    if not isinstance(anchor, (exp.Select, exp.Values)) or not isinstance(term, exp.Select) or anchor.args.get("with_"):
        return None
    if any(_names(t, name) for t in anchor.find_all(exp.Table)):
        return None
    from_ = term.args.get("from_")
    if not isinstance(from_, exp.From) or not isinstance(from_.this, exp.Table) or not _names(from_.this, name):
        return None
    if term.args.get("joins") or term.args.get("laterals") or sum(1 for t in term.find_all(exp.Table)) != 1:
        return None
    if any(isinstance(n, _ROW_MAKERS) for p in term.expressions for n in p.walk()):
        return None
    alias = from_.this.args.get("alias")
    reader = ident(alias.this) if isinstance(alias, exp.TableAlias) and alias.this else name
    rows = _anchor_rows(anchor, dialect, now)
    starts = _anchor_columns(anchor)
    names = columns or (_projection_names(anchor) if isinstance(anchor, exp.Select) else None)
    if rows is None or starts is None or not names or len(names) != len(term.expressions) or len(starts) != len(names):
        return None
    where = term.args.get("where")
    for condition in conjuncts(where.this if isinstance(where, exp.Where) else None):
        limit = _upper_limit(condition, reader, names)
        if limit is None:
            continue
        index, stop = limit
        step = _step(term.expressions[index], reader, names[index])
        iterations = _iterations(_lowest(starts[index], now), stop, step)
        if iterations is not None and iterations * rows <= dialect.series_rows:
            return iterations * rows
    return None


def _values_of(anchor: exp.Expr) -> exp.Expr:
    """sqlglot reads a VALUES anchor as SELECT * FROM (VALUES ...); give the VALUES back."""
    if isinstance(anchor, exp.Select) and len(anchor.expressions) == 1 and isinstance(anchor.expressions[0], exp.Star):
        from_ = anchor.args.get("from_")
        item = from_.this if isinstance(from_, exp.From) else None
        if isinstance(item, exp.Subquery):
            item = item.this
        if isinstance(item, exp.Values) and {k for k, v in anchor.args.items() if v} <= {"expressions", "from_"}:
            return item
    return anchor


def _anchor_columns(anchor: exp.Select | exp.Values) -> list[list[exp.Expr]] | None:
    """Per column of the anchor, the expressions that start it (one per VALUES row)."""
    if isinstance(anchor, exp.Select):
        return [[_value(p)] for p in anchor.expressions]
    rows = [row.expressions if isinstance(row, exp.Tuple) else [row] for row in anchor.expressions]
    if not rows or any(len(row) != len(rows[0]) for row in rows):
        return None
    return [list(column) for column in zip(*rows, strict=True)]


def _lowest(starts: list[exp.Expr], now: datetime) -> Value | None:
    values = [evaluate(start, now) for start in starts]
    if any(v is None for v in values):
        return None
    try:
        return min(values)  # type: ignore[type-var]
    except TypeError:
        return None


def _projection_names(select: exp.Select) -> tuple[str, ...] | None:
    out = []
    for projection in select.expressions:
        if isinstance(projection, exp.Alias):
            out.append(ident(projection.args.get("alias")))
        elif isinstance(projection, exp.Column):
            out.append(ident(projection.this))
        else:
            return None
    return tuple(out)


def _value(projection: exp.Expr) -> exp.Expr:
    return projection.this if isinstance(projection, exp.Alias) else projection


def _is_counter(node: object, reader: str, column: str) -> bool:
    if isinstance(node, exp.Paren):
        node = node.unnest()
    if not isinstance(node, exp.Column) or not isinstance(node.this, exp.Identifier):
        return False
    qualifier = node.args.get("table")
    return ident(node.this) == column and (qualifier is None or ident(qualifier) == reader)


def _upper_limit(condition: exp.Expr, reader: str, names: tuple[str, ...]) -> tuple[int, Value] | None:
    """`n < stop` (or <=, or stop > n) on a column of the CTE: its index and the stop value."""
    if isinstance(condition, (exp.LT, exp.LTE)):
        column, stop = condition.this, condition.expression
    elif isinstance(condition, (exp.GT, exp.GTE)):
        column, stop = condition.expression, condition.this
    else:
        return None
    for index, name in enumerate(names):
        if _is_counter(column, reader, name):
            value = evaluate(stop)
            return (index, value) if value is not None else None
    return None


def _step(projection: exp.Expr, reader: str, column: str) -> Value | None:
    """The constant added to the counter each round: `n + step` or `step + n`."""
    node = _value(projection).unnest()
    if not isinstance(node, exp.Add):
        return None
    if _is_counter(node.this, reader, column):
        return evaluate(node.expression)
    if _is_counter(node.expression, reader, column):
        return evaluate(node.this)
    return None


def _iterations(start: Value | None, stop: Value | None, step: Value | None) -> int | None:
    positive = (isinstance(step, (int, float)) and step > 0) or (isinstance(step, timedelta) and step > timedelta(0))
    if not positive:
        return None
    numbers = [v for v in (start, stop, step) if isinstance(v, (int, float))]
    # Whole numbers only, and small enough that a float counter still counts: at 2**53, n + 1 == n.
    if any(not isinstance(v, int) or abs(v) >= _EXACT for v in numbers):
        return None
    length = series_length(start, stop, step)
    # The row that first fails `n < stop` is still made, once.
    return None if length is None else length + 1


def _anchor_rows(anchor: exp.Select | exp.Values, dialect: Dialect, now: datetime) -> int | None:
    """How many rows the anchor makes: a SELECT without FROM, VALUES, or one generate_series."""
    if isinstance(anchor, exp.Values):
        return len(anchor.expressions)
    if anchor.args.get("joins") or anchor.args.get("where") or anchor.args.get("group"):
        return None
    makers = [n for p in anchor.expressions for n in p.walk() if isinstance(n, _ROW_MAKERS)]
    from_ = anchor.args.get("from_")
    if not isinstance(from_, exp.From):
        if not makers:
            return 1
        if len(makers) == 1 and isinstance(makers[0], (exp.GenerateSeries, exp.ExplodingGenerateSeries)):
            return series_rows(makers[0], dialect, now)
        return None
    item = from_.this.unnest() if isinstance(from_.this, exp.Subquery) else from_.this
    if makers:
        return None
    if isinstance(item, exp.Values):
        return len(item.expressions)
    if isinstance(item, exp.Table) and isinstance(item.this, (exp.GenerateSeries, exp.ExplodingGenerateSeries)):
        return series_rows(item.this, dialect, now)
    return None


def _plain_reader(owner: exp.Expr, cte: exp.CTE, name: str) -> bool:
    """The owner SELECT reads the CTE row by row and stops at its LIMIT; nothing else reads the CTE."""
    if not isinstance(owner, exp.Select):
        return False
    from_ = owner.args.get("from_")
    if not isinstance(from_, exp.From) or not isinstance(from_.this, exp.Table) or not _names(from_.this, name):
        return False
    if any(owner.args.get(clause) for clause in _READER_REFUSES):
        return False
    if any(isinstance(n, (exp.AggFunc, exp.Window, *_ROW_MAKERS)) for p in owner.expressions for n in p.walk()):
        return False
    readers = [t for t in owner.find_all(exp.Table) if _names(t, name) and not any(a is cte for a in _ancestors(t))]
    return len(readers) == 1


def _ancestors(node: exp.Expr) -> list[exp.Expr]:
    out = []
    parent = node.parent
    while parent is not None:
        out.append(parent)
        parent = parent.parent
    return out
