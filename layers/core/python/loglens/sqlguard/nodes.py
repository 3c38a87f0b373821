"""Every node of the tree is on an allowlist: the dialect's functions and cast types, and plain query syntax."""

from __future__ import annotations

import re

from sqlglot import exp

from loglens.sqlguard import names
from loglens.sqlguard.dialects import Dialect
from loglens.sqlguard.refusal import Refused

# Syntax an analyst query may contain besides the allowlisted functions (checked separately).
STRUCTURAL_NODES: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Select, exp.Union, exp.Intersect, exp.Except, exp.With, exp.CTE, exp.Subquery, exp.From,
        exp.Join, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit, exp.Offset, exp.Fetch,
        exp.LimitOptions, exp.Window, exp.WindowSpec, exp.Filter, exp.WithinGroup, exp.Lateral, exp.Values,
        exp.Table, exp.TableAlias, exp.Tuple, exp.Distinct, exp.Star, exp.Column, exp.Identifier, exp.Literal,
        exp.ByteString, exp.Boolean, exp.Null, exp.Alias, exp.Paren, exp.Interval, exp.DataType,
        exp.DataTypeParam, exp.Var, exp.Bracket, exp.Dot, exp.JSONPath, exp.JSONPathRoot, exp.JSONPathKey,
        exp.JSONPathSubscript, exp.In, exp.Between, exp.Is, exp.Not, exp.Neg, exp.Add, exp.Sub, exp.Mul,
        exp.Div, exp.Mod, exp.IntDiv, exp.DPipe, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
        exp.NullSafeEQ, exp.NullSafeNEQ, exp.And, exp.Or, exp.Like, exp.ILike, exp.SimilarTo, exp.Escape,
        exp.Kwarg, exp.Any, exp.All, exp.AtTimeZone, exp.Overlaps, exp.Rollup, exp.Cube, exp.GroupingSets,
        exp.IgnoreNulls, exp.RespectNulls,
    }
)  # fmt: skip
_NUMBER = re.compile(r"(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")


def check_nodes(root: exp.Expr, dialect: Dialect) -> None:
    """Allowlist every node: functions by class or name, cast types, and the syntax in STRUCTURAL_NODES."""
    for node in root.walk():
        kind = type(node)
        if kind in STRUCTURAL_NODES:
            _check_structural(node, dialect)
        elif isinstance(node, exp.Anonymous):
            _check_anonymous(node, dialect)
        elif kind in dialect.function_nodes:
            pass
        elif isinstance(node, exp.Lambda):
            raise Refused(
                "node_not_allowed", f"lambda expressions are not allowed: {node.sql(dialect=dialect.sqlglot)}"
            )
        elif isinstance(node, exp.Func):
            name = names.function_name(node, dialect.sqlglot)
            raise Refused("function_not_allowed", f"function {name}() is not on the analyst allowlist")
        elif isinstance(node, (exp.ObjectIdentifier, exp.PseudoType)):
            raise Refused("type_not_allowed", f"casts to {node.sql(dialect=dialect.sqlglot)} are not allowed")
        else:
            raise Refused(
                "node_not_allowed",
                f"{node.key.upper()} is not allowed in analyst queries: {node.sql(dialect=dialect.sqlglot)}",
            )


def _check_structural(node: exp.Expr, dialect: Dialect) -> None:
    if isinstance(node, exp.DataType):
        _check_data_type(node, dialect)
    elif isinstance(node, exp.Dot):
        # (composite).field is fine; schema.function() would call outside the allowlist.
        if not isinstance(node.expression, exp.Identifier):
            raise Refused(
                "function_not_allowed", f"schema-qualified calls are not allowed: {node.sql(dialect=dialect.sqlglot)}"
            )
    elif isinstance(node, exp.Column) and names.is_value_keyword(node, dialect.value_keywords):
        raise Refused("function_not_allowed", f"{node.name.lower()} is not allowed: it reads session information")
    elif isinstance(node, exp.Var):
        # sqlglot prints a Var verbatim, so anything but a plain word could be raw SQL.
        if not names.PLAIN_WORD.match(node.name) or node.name.lower() in dialect.value_keywords:
            raise Refused(
                "unsafe_token", f"unexpected bare word {node.name!r}; write it as a quoted literal or a typed value"
            )
        if isinstance(node.parent, exp.DateBin) and node.arg_key == "unit":
            raise Refused("unsafe_token", "date_bin's origin must be a typed value, e.g. timestamptz '2024-01-01'")
    elif isinstance(node, exp.Literal):
        _check_literal(node)
    elif isinstance(node, exp.JSONPathKey):
        # sqlglot prints a JSON key as a string literal of its own making, and drops an empty one.
        key = str(node.this)
        if not key or backslash_before_quote(key):
            raise Refused("unsafe_token", f"JSON key {key!r} is not allowed")
    elif isinstance(node, exp.Identifier):
        if "$" in str(node.this):
            # Trino's hidden columns ("$path", "$file_modified_time") and metadata tables ("logs$files").
            raise Refused(
                "unknown_column", f'"{node.this}" is a hidden column or metadata table, which are not allowed'
            )
        if not node.quoted and not names.PLAIN_WORD.match(str(node.this)):
            raise Refused("unsafe_token", f"unexpected identifier {node.this!r}")


def _check_anonymous(node: exp.Anonymous, dialect: Dialect) -> None:
    if not isinstance(node.this, str):
        # sqlglot upper-cases a quoted name when it prints it, so "lower"() would change meaning.
        raise Refused(
            "function_not_allowed", f"quoted function names are not allowed: {node.sql(dialect=dialect.sqlglot)}"
        )
    name = node.this.lower()
    if not names.PLAIN_WORD.match(name) or name not in dialect.function_names:
        raise Refused("function_not_allowed", f"function {name}() is not on the analyst allowlist")


def _check_data_type(node: exp.DataType, dialect: Dialect) -> None:
    if isinstance(node.this, exp.Interval):
        return
    if node.this not in dialect.cast_types:
        raise Refused("type_not_allowed", f"casts to {node.sql(dialect=dialect.sqlglot)} are not allowed")


def _check_literal(node: exp.Literal) -> None:
    text = str(node.this)
    if not node.is_string:
        if not _NUMBER.match(text):
            raise Refused("unsafe_token", f"malformed number literal {text!r}")
        return
    if backslash_before_quote(text):
        raise Refused("unsafe_token", "a backslash before a quote in a string literal is not allowed")


def backslash_before_quote(text: str) -> bool:
    # With standard_conforming_strings off, a backslash before a quote would end the string elsewhere; sqlglot
    # and Trino could also disagree about where such a string ends.
    return text.endswith("\\") or "\\'" in text
