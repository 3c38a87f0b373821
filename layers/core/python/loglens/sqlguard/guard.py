"""The checks in order, and the promise that what runs is exactly what was checked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from loglens.sqlguard import nodes
from loglens.sqlguard.catalog import Catalog
from loglens.sqlguard.dialects import Dialect, DialectName, dialect_named
from loglens.sqlguard.lexical import parse_one_statement, scan_tokens
from loglens.sqlguard.limit import enforce_limit
from loglens.sqlguard.refusal import Refused
from loglens.sqlguard.repairs import repair_postgres
from loglens.sqlguard.resolve import Resolver
from loglens.sqlguard.size import check_sizes
from loglens.sqlguard.statements import query_root, refuse_statement_kinds


@dataclass(frozen=True)
class GuardResult:
    allowed: bool
    sql: str | None
    reason: str
    code: str
    relations: tuple[str, ...] = ()
    dialect: DialectName = "postgres"


def check_sql(
    sql: str, catalog: Catalog, *, dialect: DialectName | str = "postgres", max_rows: int = 1000
) -> GuardResult:
    """Check one statement from the agent; return the SQL to execute, or why it was refused."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be positive, got {max_rows}")
    rules = dialect_named(dialect)
    try:
        first = _guard(sql, catalog, rules, max_rows)
        try:
            second = _guard(first.sql, catalog, rules, max_rows)
        except Refused as refusal:
            raise Refused(
                "roundtrip_mismatch", f"the regenerated SQL does not pass the guard: {refusal.reason}"
            ) from refusal
        # Checking the regenerated text itself is what makes "what runs is what was checked" hold; sqlglot may
        # normalise on the way (ROUND(x, 2) gains a cast), so the text must be a fixed point, not the tree.
        if second.sql != first.sql:
            raise Refused("roundtrip_mismatch", "the regenerated SQL does not regenerate to itself")
    except Refused as refusal:
        return GuardResult(False, None, refusal.reason, refusal.code, dialect=rules.name)
    except Exception as error:  # the guard fails closed on anything it did not anticipate
        return GuardResult(
            False, None, f"the guard could not check this SQL: {error}", "internal_error", dialect=rules.name
        )
    reason = "; ".join(["allowed", *first.notes])
    return GuardResult(True, first.sql, reason, "ok", first.relations, rules.name)


@dataclass(frozen=True)
class _Checked:
    sql: str
    relations: tuple[str, ...]
    notes: tuple[str, ...]


def _guard(sql: str, catalog: Catalog, dialect: Dialect, max_rows: int) -> _Checked:
    scan_tokens(sql, dialect)
    tree = parse_one_statement(sql, dialect)
    refuse_statement_kinds(tree)
    root = query_root(tree)
    if dialect.name == "postgres":
        repair_postgres(root)
    now = datetime.now(UTC)
    resolver = Resolver(catalog, dialect, now)
    resolver.check(root)
    nodes.check_nodes(root, dialect)
    if resolver.column_issues:
        raise Refused("unknown_column", resolver.column_issues[0])
    if resolver.unbounded:
        raise Refused("unbounded_time", resolver.unbounded[0])
    check_sizes(root, dialect, now)
    notes = [*resolver.notes, *enforce_limit(root, max_rows, dialect.sqlglot)]
    return _Checked(
        sql=root.sql(dialect=dialect.sqlglot, comments=False),
        relations=tuple(sorted(resolver.read)),
        notes=tuple(notes),
    )
