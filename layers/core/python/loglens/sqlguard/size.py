"""Work that a few bytes of SQL can ask for: rows from a set-returning call, bytes from a string builder.

A time range bounds what a query reads; these bound what it makes. ``generate_series(1, 10000000000)`` (Trino:
``sequence``) fills temp files until the timeout, and ``repeat('x', 1000000000)`` allocates a gigabyte in one
call, so both are estimated from their constant arguments and refused above a cap. Arguments that depend on
data cannot be estimated and are refused too, except a count capped with ``least(..., n)``.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from sqlglot import exp

from loglens.sqlguard.dialects import Dialect
from loglens.sqlguard.names import function_name
from loglens.sqlguard.refusal import Refused, excerpt
from loglens.sqlguard.values import evaluate, series_length, upper_bound

# What a column value may hold at most: 64 Ki characters of up to 4 bytes (loglens.record.TEXT_LIMITS).
COLUMN_BYTES = 256 * 1024
# One string made by repeat/lpad/rpad: an analyst's padding or bar chart is far below this.
PADDING_BYTES_CAP = 1 << 20
# One string rewritten by replace/regexp_replace: 64 times the largest column value, so masking ids with
# '<uuid>' passes and replacements nested to multiply a value a thousandfold do not.
REWRITE_BYTES_CAP = 64 * COLUMN_BYTES
_SERIES = (exp.GenerateSeries, exp.ExplodingGenerateSeries)
_SERIES_NAMES = frozenset({"generate_series", "sequence"})
_BUILDERS = (exp.Repeat, exp.Pad, exp.Replace, exp.RegexpReplace)
_BACKREFERENCE = re.compile(r"\\\d|\$\d")


def check_sizes(root: exp.Expr, dialect: Dialect, now: datetime) -> None:
    for node in root.walk():
        if isinstance(node, _SERIES):
            series_rows(node, dialect, now)
        elif isinstance(node, exp.Anonymous) and str(node.this).lower() in _SERIES_NAMES:
            # A form sqlglot did not recognise as a series: its size cannot be read, so it is not run.
            raise Refused("too_large", f"cannot tell how many rows {excerpt(node, dialect.sqlglot)} makes")
        elif isinstance(node, _BUILDERS):
            size = string_bytes(node, now)
            cap = PADDING_BYTES_CAP if isinstance(node, (exp.Repeat, exp.Pad)) else REWRITE_BYTES_CAP
            if size is None or size > cap:
                raise Refused("too_large", _builder_message(node, size, cap, dialect))
    for select in root.find_all(exp.Select):
        _check_row_sources(select, dialect, now)


def series_rows(node: exp.Expr, dialect: Dialect, now: datetime) -> int:
    """The rows one generate_series/sequence call makes; refused when unknown or above the dialect's cap."""
    name = function_name(node, dialect.sqlglot)
    values = [evaluate(node.args.get(key), now) for key in ("start", "end", "step")]
    rows = series_length(*values)
    if rows is None:
        raise Refused(
            "too_large",
            f"cannot tell how many rows {excerpt(node, dialect.sqlglot)} makes: its start, stop and step must be "
            "constants (numbers, timestamps, now() or current_date with intervals) so the size can be checked",
        )
    if rows > dialect.series_rows:
        raise Refused(
            "too_large",
            f"{excerpt(node, dialect.sqlglot)} would make about {rows:,} rows; one {name}() may make at most "
            f"{dialect.series_rows:,} (narrow the range or widen the step)",
        )
    return rows


def _check_row_sources(select: exp.Select, dialect: Dialect, now: datetime) -> None:
    """Series side by side in one FROM multiply; their product has the same cap as one of them."""
    items = []
    from_ = select.args.get("from_")
    if isinstance(from_, exp.From):
        items.append(from_.this)
    items.extend(join.this for join in select.args.get("joins") or [])
    total, parts = 1, []
    for item in items:
        series = _series_of(item)
        if series is not None:
            total *= series_rows(series, dialect, now)
            parts.append(excerpt(series, dialect.sqlglot, 60))
    if len(parts) > 1 and total > dialect.series_rows:
        raise Refused(
            "too_large",
            f"the FROM items {', '.join(parts)} multiply to about {total:,} rows; at most {dialect.series_rows:,} "
            "are allowed",
        )


def _series_of(item: exp.Expr) -> exp.Expr | None:
    inner = item.this if isinstance(item, (exp.Table, exp.Lateral)) else item
    if isinstance(inner, exp.Unnest) and len(inner.expressions) == 1:
        inner = inner.expressions[0]
    return inner if isinstance(inner, _SERIES) else None


def string_bytes(node: exp.Expr | None, now: datetime) -> int | None:
    """An upper bound on the bytes of a text value, or None when nothing bounds it."""
    if node is None:
        return 0
    node = node.unnest()
    if isinstance(node, exp.Literal):
        return len(str(node.this).encode())
    if isinstance(node, exp.Column):
        return COLUMN_BYTES
    if isinstance(node, exp.Repeat):
        times = upper_bound(node.args.get("times"))
        unit = string_bytes(node.this, now)
        return None if times is None or unit is None else unit * max(0, math.ceil(times))
    if isinstance(node, exp.Pad):
        length = upper_bound(node.expression)
        return None if length is None else 4 * max(0, math.ceil(length))
    if isinstance(node, exp.Replace):
        base, added = string_bytes(node.this, now), string_bytes(node.args.get("replacement"), now)
        pattern = node.expression
        if base is None or added is None:
            return None
        if isinstance(pattern, exp.Literal) and pattern.is_string and pattern.name:
            return base * max(1, math.ceil(added / len(pattern.name.encode())))
        return base * max(1, added)
    if isinstance(node, exp.RegexpReplace):
        base, replacement = string_bytes(node.this, now), node.args.get("replacement")
        added = string_bytes(replacement, now)
        if base is None or added is None:
            return None
        # Each input character starts at most one match, which becomes the replacement's literal text plus one
        # copy of the match per back-reference; a pattern matching the empty string adds one more character.
        copies = len(_BACKREFERENCE.findall(replacement.name)) if isinstance(replacement, exp.Literal) else added
        return base * (added + copies + 1)
    if isinstance(node, (exp.Concat, exp.ConcatWs, exp.DPipe)):
        sizes = [string_bytes(child, now) for child in node.iter_expressions()]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)
    if isinstance(node, (exp.AggFunc, exp.Select, exp.SetOperation, exp.Subquery)):
        return None  # many rows' worth, or a value from elsewhere
    sizes = [string_bytes(child, now) for child in node.iter_expressions()]
    if any(s is None for s in sizes):
        return None
    return max([s for s in sizes if s is not None], default=64)


def _builder_message(node: exp.Expr, size: int | None, cap: int, dialect: Dialect) -> str:
    text = excerpt(node, dialect.sqlglot)
    limit = f"{cap // 1024:,} KiB"
    if size is None:
        return (
            f"cannot tell how large {text} gets: give it constant counts and lengths, or cap a computed count "
            f"with least(..., 100); it may build at most {limit}"
        )
    return f"{text} could build a string of about {size:,} bytes; it may build at most {limit}"
