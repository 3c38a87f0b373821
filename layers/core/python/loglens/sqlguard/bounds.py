"""Proofs that a scan of a time-partitioned table reads a bounded range of its time column.

A condition bounds the column from below when every row it lets through has the column at or above some
value; the upper end needs no proof, because records are never stored more than an hour ahead of their
arrival. The proof follows the boolean structure: a conjunction is bounded when one conjunct is, a disjunction
when every branch is (this hour OR the same hour yesterday). A bound is *direct* when the condition compares
the bare column with a column-free value, which is what partition pruning needs as written. It is *anchored*
when it compares the column with another column that is itself bounded (``l2.created_at BETWEEN
l1.created_at AND l1.created_at + interval '5 minutes'``, or a CTE column that came from a bounded scan): the
bound is then derived by putting that column's own bound in its place, and the guard writes the derived
condition into the query, so the planner (and Athena) prunes partitions without having to infer it.

An equality lookup on a lookup key (``trace_id = '...'``, or IN with a short list of literals) also bounds a
scan where the dialect says an index probe on every partition is cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlglot import exp

from loglens.sqlguard.names import ident, is_query
from loglens.sqlguard.refusal import excerpt

LOOKUP_LIST_MAX = 100
# Casts that keep a time value's order; the others (to text, say) may not.
_ORDER_KEEPING_CASTS = frozenset(
    {exp.DType.TIMESTAMP, exp.DType.TIMESTAMPTZ, exp.DType.TIMESTAMPNTZ, exp.DType.TIMESTAMPLTZ, exp.DType.DATE}
)
_COMPARISONS = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.EQ)


@dataclass(frozen=True)
class Side:
    """One end of a proven range: the column is >= (lower) or <= (upper) `value` for every row let through."""

    value: exp.Expr
    direct: bool  # written on the bare column with a column-free value, so partitions prune as written
    portable: bool  # no column, subquery or volatile call: the value can be written anywhere in the query


@dataclass(frozen=True)
class Proof:
    lower: Side | None = None
    upper: Side | None = None
    keyed: bool = False  # an equality lookup on a lookup key

    @property
    def bounded(self) -> bool:
        return self.lower is not None


@dataclass(frozen=True)
class Target:
    """The column to bound: `column` of the FROM item named `source`, and the lookup keys that may stand in.

    `literal_type` types a bare string bound ('2024-06-01') once it is lifted out of the comparison that gave it
    its type: elsewhere PostgreSQL would read it as text, or as an interval next to one.
    """

    source: str
    column: str
    keys: frozenset[str] = frozenset()
    literal_type: str = "timestamptz"
    # Only values known when the query is planned count (Athena prunes partitions then, not per row).
    constant_only: bool = False


# Given a column of another FROM item and "lower" or "upper", its portable bound, if it has one.
Anchor = Callable[[exp.Column, str], exp.Expr | None]


def prove(condition: exp.Expr | None, target: Target, anchor: Anchor) -> Proof:
    if condition is None:
        return Proof()
    node = condition.unnest()
    if isinstance(node, exp.And):
        return prove_all(list(conjuncts(node)), target, anchor)
    if isinstance(node, exp.Or):
        # Long chains are flattened, not recursed into: a thousand ORs must not exhaust the stack.
        proofs = [prove(branch, target, anchor) for branch in or_branches(node)]
        proof = proofs[0]
        for more in proofs[1:]:
            proof = Proof(
                _both(proof.lower, more.lower, exp.Least),
                _both(proof.upper, more.upper, exp.Greatest),
                proof.keyed and more.keyed,
            )
        return proof
    if isinstance(node, _COMPARISONS):
        return _comparison(node, target, anchor)
    if isinstance(node, exp.Between):
        return _between(node, target, anchor)
    if isinstance(node, exp.In):
        return _in_list(node, target)
    return Proof()


def prove_all(conditions: list[exp.Expr], target: Target, anchor: Anchor) -> Proof:
    """The proof for conditions that all hold (a WHERE and the ONs of inner joins)."""
    proof = Proof()
    for condition in (c for each in conditions for c in conjuncts(each)):
        more = prove(condition, target, anchor)
        proof = Proof(_either(proof.lower, more.lower), _either(proof.upper, more.upper), proof.keyed or more.keyed)
    return proof


def _typed(value: exp.Expr, target: Target) -> exp.Expr:
    inner = value.unnest()
    if isinstance(inner, exp.Literal) and inner.is_string:
        return exp.Cast(this=inner.copy(), to=exp.DataType.build(target.literal_type))
    return value


def _either(a: Side | None, b: Side | None) -> Side | None:
    """Both hold: either bound will do; prefer the one that needs no rewriting."""
    if a is None or b is None:
        return a or b
    if a.direct != b.direct:
        return a if a.direct else b
    return a if a.portable or not b.portable else b


def _both(a: Side | None, b: Side | None, combine: type[exp.Func]) -> Side | None:
    """One of two holds: only a bound on both sides bounds the whole, by the looser of the two."""
    if a is None or b is None:
        return None
    value = combine(this=a.value.copy(), expressions=[b.value.copy()])
    return Side(value, a.direct and b.direct, a.portable and b.portable)


def _comparison(node: exp.Expr, target: Target, anchor: Anchor) -> Proof:
    left, right = node.this, node.expression
    if is_target(left, target):
        value, flipped = right, False
    elif is_target(right, target):
        value, flipped = left, True
    else:
        lookup = _is_lookup(left, right, target) or _is_lookup(right, left, target)
        return Proof(keyed=isinstance(node, exp.EQ) and lookup)
    if isinstance(node, exp.EQ):
        return Proof(_side(value, "lower", anchor, target), _side(value, "upper", anchor, target))
    at_least = isinstance(node, (exp.GT, exp.GTE)) != flipped
    if at_least:
        return Proof(lower=_side(value, "lower", anchor, target))
    return Proof(upper=_side(value, "upper", anchor, target))


def _between(node: exp.Between, target: Target, anchor: Anchor) -> Proof:
    if not is_target(node.this, target):
        return Proof()
    low, high = node.args.get("low"), node.args.get("high")
    if not isinstance(low, exp.Expr) or not isinstance(high, exp.Expr):
        return Proof()
    if node.args.get("symmetric"):
        # BETWEEN SYMMETRIC swaps the ends when needed: the range is from the smaller to the larger.
        if not (column_free(low) and column_free(high)):
            return Proof()
        ends = [_typed(low, target), _typed(high, target)]
        movable = portable(low) and portable(high)
        lower = Side(exp.Least(this=ends[0].copy(), expressions=[ends[1].copy()]), True, movable)
        upper = Side(exp.Greatest(this=ends[0].copy(), expressions=[ends[1].copy()]), True, movable)
        return Proof(lower, upper)
    return Proof(_side(low, "lower", anchor, target), _side(high, "upper", anchor, target))


def _in_list(node: exp.In, target: Target) -> Proof:
    values = node.expressions
    if node.args.get("query") or not values:
        return Proof()
    if is_target(node.this, target) and all(column_free(v) for v in values):
        movable = all(portable(v) for v in values)
        typed = [_typed(v, target) for v in values]
        lower = Side(exp.Least(this=typed[0].copy(), expressions=[v.copy() for v in typed[1:]]), True, movable)
        upper = Side(exp.Greatest(this=typed[0].copy(), expressions=[v.copy() for v in typed[1:]]), True, movable)
        return Proof(lower, upper)
    keyed = _is_key(node.this, target) and len(values) <= LOOKUP_LIST_MAX and all(_is_literal(v) for v in values)
    return Proof(keyed=keyed)


def _side(value: exp.Expr, end: str, anchor: Anchor, target: Target) -> Side | None:
    if _infinite(value):
        return None
    if column_free(value):
        movable = portable(value)
        return Side(_typed(value, target), True, movable) if movable or not target.constant_only else None
    column = monotone_column(value)
    if column is None:
        return None
    bound = anchor(column, end)
    if bound is None:
        return None
    return Side(substitute(value, column, bound), False, True)


def _infinite(value: exp.Expr) -> bool:
    """'-infinity' and 'infinity' compare like bounds and bound nothing."""
    inner = value.unnest()
    if isinstance(inner, exp.Cast):
        inner = inner.this.unnest()
    return isinstance(inner, exp.Literal) and inner.is_string and inner.name.strip().lower().lstrip("+-") == "infinity"


def is_target(node: object, target: Target) -> bool:
    if isinstance(node, exp.Paren):
        node = node.unnest()
    if not isinstance(node, exp.Column) or not isinstance(node.this, exp.Identifier):
        return False
    qualifier = node.args.get("table")
    return ident(node.this) == target.column and (qualifier is None or ident(qualifier) == target.source)


def _is_key(node: object, target: Target) -> bool:
    if not target.keys or not isinstance(node, exp.Column) or not isinstance(node.this, exp.Identifier):
        return False
    qualifier = node.args.get("table")
    return ident(node.this) in target.keys and (qualifier is None or ident(qualifier) == target.source)


def _is_lookup(key: object, value: object, target: Target) -> bool:
    return _is_key(key, target) and _is_literal(value)


def _is_literal(node: object) -> bool:
    if isinstance(node, exp.Paren):
        node = node.unnest()
    if isinstance(node, exp.Cast):
        node = node.this
    return isinstance(node, exp.Literal)


def column_free(node: object) -> bool:
    if not isinstance(node, exp.Expr):
        return False
    # Columns inside a subquery belong to that subquery; a scalar subquery is a fine bound.
    return not any(isinstance(n, exp.Column) for n in node.walk(prune=is_query))


def portable(node: exp.Expr) -> bool:
    """Whether a value means the same wherever in the query it is written."""
    return not any(
        isinstance(n, (exp.Column, exp.Select, exp.SetOperation, exp.Subquery, exp.Rand, exp.AggFunc, exp.Window))
        or (isinstance(n, exp.Anonymous) and str(n.this).lower() in ("random", "rand"))
        for n in node.walk()
    )


def monotone_column(value: exp.Expr, *, aggregates: bool = False) -> exp.Column | None:
    """The one column `value` grows with (never shrinks with), when the rest of it is column-free.

    Column, column ± constant, order-keeping casts, date_trunc and Trino's date_add qualify; with `aggregates`,
    min() and max() of such a value too (both lie within the value's own range).
    """
    node = value.unnest()
    if isinstance(node, exp.Column):
        return node if isinstance(node.this, exp.Identifier) else None
    if isinstance(node, exp.Add):
        if _constant(node.expression):
            return monotone_column(node.this, aggregates=aggregates)
        if _constant(node.this):
            return monotone_column(node.expression, aggregates=aggregates)
        return None
    if isinstance(node, exp.Sub):
        return monotone_column(node.this, aggregates=aggregates) if _constant(node.expression) else None
    if isinstance(node, exp.Cast) and isinstance(node.to, exp.DataType) and node.to.this in _ORDER_KEEPING_CASTS:
        return monotone_column(node.this, aggregates=aggregates)
    if isinstance(node, (exp.TimestampTrunc, exp.DateTrunc)) and not node.args.get("zone"):
        return monotone_column(node.this, aggregates=aggregates)
    if isinstance(node, exp.DateAdd) and _constant(node.expression):
        return monotone_column(node.this, aggregates=aggregates)
    if aggregates and isinstance(node, (exp.Min, exp.Max)):
        return monotone_column(node.this, aggregates=False)
    return None


def _constant(node: object) -> bool:
    return isinstance(node, exp.Expr) and column_free(node) and portable(node)


def substitute(value: exp.Expr, column: exp.Column, bound: exp.Expr) -> exp.Expr:
    """`value` with `column` replaced by (bound): the bound of a value that grows with the column."""
    if value.unnest() is column:
        return bound.copy()
    atomic = isinstance(bound, (exp.Paren, exp.Column, exp.Literal, exp.Func)) and not isinstance(bound, exp.Binary)
    copy = value.copy()
    for original, twin in zip(value.walk(), copy.walk(), strict=True):
        if original is column:
            twin.replace(bound.copy() if atomic else exp.Paren(this=bound.copy()))
            break
    return copy


def or_branches(node: exp.Expr) -> Iterator[exp.Expr]:
    stack = [node]
    while stack:
        current = stack.pop().unnest()
        if isinstance(current, exp.Or):
            stack.extend((current.expression, current.this))
        else:
            yield current


def conjuncts(node: object) -> Iterator[exp.Expr]:
    # Iterative: a long AND chain is a deep left-leaning tree.
    stack = [node] if isinstance(node, exp.Expr) else []
    while stack:
        current = stack.pop().unnest()
        if isinstance(current, exp.And):
            stack.extend((current.expression, current.this))
        else:
            yield current


def diagnose(conditions: list[exp.Expr], target: Target, anchor: Anchor, dialect: str) -> str:
    """Why the conditions do not bound the column, in words that point at the part to change."""

    for condition in conditions:
        for node in condition.walk(prune=is_query):
            if not isinstance(node, exp.Or) or isinstance(node.parent, exp.Or):
                continue
            branches = list(or_branches(node))
            proofs = [prove(branch, target, anchor) for branch in branches]
            if any(p.bounded for p in proofs) and not all(p.bounded or p.keyed for p in proofs):
                loose = next(b for b, p in zip(branches, proofs, strict=True) if not (p.bounded or p.keyed))
                return (
                    f'the OR branch "{excerpt(loose, dialect, 100)}" does not bound {target.column}, '
                    "so the whole OR does not; bound every branch"
                )
    proof = prove_all(conditions, target, anchor)
    if proof.upper is not None:
        return f"{target.column} is bounded only from above, which still reads every older partition"
    for condition in conditions:
        for node in condition.walk(prune=is_query):
            if is_target(node, target) and isinstance(node.parent, (exp.Func, exp.Cast)):
                wrapper = node.parent
                return (
                    f"{excerpt(wrapper, dialect, 80)} hides {target.column} from partition pruning; "
                    "compare the bare column instead"
                )
            if isinstance(node, exp.Not) and any(is_target(n, target) for n in node.walk(prune=is_query)):
                return f"a negated condition ({excerpt(node, dialect, 80)}) is not read as a bound"
    return ""
