"""Relations and columns, resolved with the database's scoping rules.

Every relation must come from the catalog or from a CTE in scope; every column must exist in the FROM items it
can refer to (hallucinated columns are caught here, with the real ones listed). Each SELECT is a `Level`;
subqueries see the levels around them, as correlated subqueries and LATERAL do. Once a SELECT's FROM items are
known, scans.py checks that each scan of a time-partitioned table is bounded, and recursion.py that each
recursive CTE ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlglot import exp

from loglens.sqlguard import bounds
from loglens.sqlguard.catalog import Catalog
from loglens.sqlguard.dialects import Dialect
from loglens.sqlguard.names import alias_columns, children, function_name, ident, is_value_keyword
from loglens.sqlguard.recursion import check_recursive_cte
from loglens.sqlguard.refusal import Refused, excerpt
from loglens.sqlguard.scans import ScanBounds
from loglens.sqlguard.scope import Level, Range, Shape, Source
from loglens.sqlguard.values import evaluate

# Scans of a time-partitioned table in one statement. Honest questions need a few; proving bounds between scans
# that anchor on each other costs more than linear time in their number.
MAX_TIME_SCANS = 16

_CLAUSE_WORDS = {
    "expressions": "the SELECT list",
    "where": "WHERE",
    "having": "HAVING",
    "group": "GROUP BY",
    "order": "ORDER BY",
    "on": "a JOIN ON",
    "using": "a JOIN USING",
    "limit": "LIMIT",
    "offset": "OFFSET",
    "qualify": "QUALIFY",
    "windows": "WINDOW",
    "distinct": "DISTINCT ON",
    "values": "VALUES",
    "from": "a FROM function",
}


@dataclass
class Resolver:
    catalog: Catalog
    dialect: Dialect
    now: datetime
    read: set[str] = field(default_factory=set)
    column_issues: list[str] = field(default_factory=list)
    _seen_tables: set[int] = field(default_factory=set)
    _time_scans: int = 0
    _root: exp.Expr | None = None

    def __post_init__(self) -> None:
        self.relations = {name.lower(): tuple(c.lower() for c in cols) for name, cols in self.catalog.relations.items()}
        self.time_columns = {name.lower(): col.lower() for name, col in self.catalog.time_bounded.items()}
        self.lookup_keys = {
            name.lower(): frozenset(c.lower() for c in cols) for name, cols in self.catalog.lookup_keys.items()
        }
        self.scans = ScanBounds(self.time_columns, self.lookup_keys, self.dialect)

    @property
    def unbounded(self) -> list[str]:
        return self.scans.unbounded

    @property
    def notes(self) -> list[str]:
        return self.scans.notes

    def check(self, root: exp.Expr) -> None:
        self._root = root
        self.query(root, {}, (), "the main query")
        # Every relation reference must have been resolved above; one in an unexpected place is refused.
        for table in root.find_all(exp.Table):
            if id(table) not in self._seen_tables:
                raise Refused("relation_not_allowed", f"relation reference in an unsupported place: {table.sql()}")

    # -- queries ---------------------------------------------------------------------------------------

    def query(self, node: exp.Expr, ctes: Mapping[str, Shape], outer: tuple[Level, ...], label: str) -> Shape:
        """Check a query expression and return what it yields."""
        if isinstance(node, exp.Subquery):
            shape = self.query(node.this, ctes, outer, label)
            self.scan_extra_clauses(node, ("this", "alias"), ctes, outer)
            return shape
        ctes = self.with_clause(node, ctes, outer)
        if isinstance(node, exp.SetOperation):
            word = node.key.upper()
            left = self.query(node.left, ctes, outer, f"the first branch of the {word} in {label}")
            self.query(node.right, ctes, outer, f"the second branch of the {word} in {label}")
            self.scan_extra_clauses(node, ("this", "expression", "with_"), ctes, outer)
            return Shape(left.columns)
        if isinstance(node, exp.Select):
            return self.select(node, ctes, outer, label)
        raise Refused("not_select", f"unsupported query form: {node.key.upper()}")

    def scan_extra_clauses(
        self, node: exp.Expr, skip: tuple[str, ...], ctes: Mapping[str, Shape], outer: tuple[Level, ...]
    ) -> None:
        # ORDER BY and LIMIT of a set operation name output columns, which are not checked here.
        for key, value in node.args.items():
            if key not in skip:
                for child in children(value):
                    self.scan(child, key, ctes, outer, aliases=frozenset(), report=False)

    def with_clause(self, node: exp.Expr, ctes: Mapping[str, Shape], outer: tuple[Level, ...]) -> Mapping[str, Shape]:
        with_ = node.args.get("with_")
        if not isinstance(with_, exp.With):
            return ctes
        scope = dict(ctes)
        definitions = [(cte, ident(cte.args["alias"].this)) for cte in with_.expressions]
        for _, name in definitions:
            if name in self.relations:
                raise Refused(
                    "cte_shadows_relation", f'CTE "{name}" shadows the relation of the same name; rename the CTE'
                )
        recursive = bool(with_.args.get("recursive"))
        if recursive:
            # WITH RECURSIVE lets every CTE see every other one, itself included.
            for cte, name in definitions:
                scope[name] = Shape(alias_columns(cte.args["alias"]) or None)
        for cte, name in definitions:
            # Without RECURSIVE a CTE sees only the ones defined before it.
            shape = self.query(cte.this, dict(scope), outer, f'CTE "{name}"')
            renamed = _renamed(shape, alias_columns(cte.args["alias"]))
            if recursive and check_recursive_cte(
                cte, name, renamed.columns, owner=node, owner_is_root=node is self._root, dialect=self.dialect,
                now=self.now,
            ):  # fmt: skip
                renamed = Shape(renamed.columns)  # a recursive CTE's rows are not the anchor's alone
            scope[name] = renamed
        return scope

    def select(self, select: exp.Select, ctes: Mapping[str, Shape], outer: tuple[Level, ...], label: str) -> Shape:
        if not select.expressions:
            raise Refused("parse_error", "the SELECT lists no columns")
        level = Level(select, label, outer)
        from_ = select.args.get("from_")
        if isinstance(from_, exp.From):
            level.sources.append(self.source(from_.this, None, ctes, level))
        joins: list[exp.Join] = list(select.args.get("joins") or [])
        for join in joins:
            level.sources.append(self.source(join.this, join, ctes, level))
        aliases = frozenset(
            ident(p.args["alias"]) for p in select.expressions if isinstance(p, exp.Alias) and p.args.get("alias")
        )
        for key, value in select.args.items():
            if key in ("with_", "from_", "joins"):
                continue
            for child in children(value):
                self.scan(child, key, ctes, level.chain, aliases)
        for join in joins:
            for key in ("on", "using"):
                for child in children(join.args.get(key)):
                    self.scan(child, key, ctes, level.chain, aliases)
        self.scans.check(level)
        return Shape(_output_columns(select, level.sources), self.scans.projection_ranges(level))

    # -- FROM items ------------------------------------------------------------------------------------

    def source(self, node: exp.Expr, join: exp.Join | None, ctes: Mapping[str, Shape], level: Level) -> Source:
        alias = node.args.get("alias")
        alias_name = ident(alias.this) if isinstance(alias, exp.TableAlias) and alias.this else None
        renames = alias_columns(alias) if isinstance(alias, exp.TableAlias) else ()
        # Functions and LATERAL subqueries in FROM may refer to the items to their left, which `level` holds.
        lateral = level.chain
        if isinstance(node, exp.Table) and node.args.get("joins"):
            raise Refused("node_not_allowed", "parenthesised join trees are not supported; list the joins plainly")
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Func):
            self._seen_tables.add(id(node))
            if node.args.get("db") or node.args.get("catalog"):
                raise Refused(
                    "relation_not_allowed", f"schema-qualified functions are not allowed in FROM: {node.sql()}"
                )
            name = self.from_function(node.this, ctes, lateral)
            columns = _function_columns(node.this, alias_name, renames)
            return Source(alias_name or name, None, columns, join, level, self.series_ranges(node.this, columns))
        if isinstance(node, exp.Table):
            self._seen_tables.add(id(node))
            return self.relation(node, alias_name, renames, join, ctes, level)
        if isinstance(node, exp.Subquery):
            if not isinstance(node.this, (exp.Select, exp.SetOperation)):
                raise Refused("node_not_allowed", f"unsupported FROM item: {node.this.key.upper()}")
            where = f'the subquery "{alias_name}" in FROM' if alias_name else "a subquery in FROM"
            shape = _renamed(self.query(node, ctes, level.outer, where), renames)
            return Source(alias_name or "", None, shape.columns, join, level, shape.ranges)
        if isinstance(node, exp.Lateral):
            inner = node.this
            if isinstance(inner, exp.Subquery):
                where = f'the LATERAL subquery "{alias_name}"' if alias_name else "a LATERAL subquery"
                shape = _renamed(self.query(inner, ctes, lateral, where), renames)
                return Source(alias_name or "", None, shape.columns, join, level, shape.ranges)
            if isinstance(inner, exp.Func):
                name = self.from_function(inner, ctes, lateral)
                columns = _function_columns(inner, alias_name, renames)
                return Source(alias_name or name, None, columns, join, level, self.series_ranges(inner, columns))
            raise Refused("relation_not_allowed", f"unsupported LATERAL item: {inner.sql()}")
        if isinstance(node, exp.Unnest):
            self.from_function(node, ctes, lateral)
            offset = node.args.get("offset")
            columns = (*renames, ident(offset)) if renames and isinstance(offset, exp.Identifier) else renames
            ranges = self.series_ranges(node.expressions[0], columns) if len(node.expressions) == 1 else {}
            return Source(alias_name or "unnest", None, columns or None, join, level, ranges)
        if isinstance(node, exp.Values):
            for child in node.expressions:
                self.scan(child, "values", ctes, level.outer, frozenset())
            return Source(alias_name or "", None, renames or None, join, level)
        raise Refused("relation_not_allowed", f"unsupported FROM item: {node.sql()}")

    def relation(
        self,
        table: exp.Table,
        alias_name: str | None,
        renames: tuple[str, ...],
        join: exp.Join | None,
        ctes: Mapping[str, Shape],
        level: Level,
    ) -> Source:
        sql_dialect = self.dialect.sqlglot
        if not isinstance(table.this, exp.Identifier):
            raise Refused("relation_not_allowed", f"unsupported relation reference: {table.sql(dialect=sql_dialect)}")
        if table.args.get("version"):
            raise Refused(
                "relation_not_allowed",
                f"time travel ({excerpt(table.args['version'], sql_dialect)}) reads an older snapshot of the table, "
                "which may hold rows since deleted or redacted; query the table as it is",
            )
        name = ident(table.this)
        schema = table.args.get("db")
        catalog_part = table.args.get("catalog")
        if schema is None and catalog_part is None and name in ctes:
            shape = _renamed(ctes[name], renames)
            return Source(alias_name or name, None, shape.columns, join, level, shape.ranges)
        qualified = table.sql(dialect=sql_dialect).split(" AS ")[0]
        if catalog_part is not None or (
            schema is not None and (self.dialect.schema is None or ident(schema) != self.dialect.schema)
        ):
            allowed = (
                f"only {self.dialect.schema}.<relation> or unqualified names are"
                if self.dialect.schema
                else ("write the table name alone, without a catalog or schema")
            )
            raise Refused("relation_not_allowed", f"relation {qualified} is not allowed; {allowed}")
        if name not in self.relations:
            allowed_names = ", ".join(sorted(self.relations))
            raise Refused(
                "relation_not_allowed",
                f"relation {qualified} is not allowed; the allowed relations are: {allowed_names}",
            )
        self.read.add(name)
        if name in self.time_columns:
            self._time_scans += 1
            if self._time_scans > MAX_TIME_SCANS:
                raise Refused(
                    "too_large", f"the statement reads {name} more than {MAX_TIME_SCANS} times; split the question"
                )
        # A column alias list renames columns positionally; resolving that is not worth the risk of a wrong error.
        columns = None if renames else self.relations[name]
        return Source(alias_name or name, name, columns, join, level)

    def from_function(self, func: exp.Expr, ctes: Mapping[str, Shape], chain: tuple[Level, ...]) -> str:
        name = function_name(func, self.dialect.sqlglot)
        allowed = type(func) in self.dialect.from_function_nodes or (
            isinstance(func, exp.Anonymous) and isinstance(func.this, str) and name in self.dialect.from_function_names
        )
        if not allowed:
            known = ", ".join(sorted(self.dialect.from_function_names))
            raise Refused("relation_not_allowed", f"function {name}() is not allowed in FROM; allowed there: {known}")
        for child in func.iter_expressions():
            self.scan(child, "from", ctes, chain, frozenset())
        return name

    def series_ranges(self, func: exp.Expr, columns: Sequence[str] | None) -> dict[str, Range]:
        """generate_series(start, stop, step) yields values between start and stop: a range for joins."""
        if not isinstance(func, (exp.GenerateSeries, exp.ExplodingGenerateSeries)) or not columns:
            return {}
        start, stop = func.args.get("start"), func.args.get("end")
        if not isinstance(start, exp.Expr) or not isinstance(stop, exp.Expr):
            return {}
        if not (bounds.portable(start) and bounds.portable(stop)):
            return {}
        step = evaluate(func.args.get("step"), self.now) if func.args.get("step") is not None else 1
        if step is None:
            return {}
        descending = step < 0 if isinstance(step, (int, float)) else step.total_seconds() < 0  # type: ignore[union-attr]
        low, high = (stop, start) if descending else (start, stop)
        return {columns[0]: Range(low, high)}

    # -- columns ---------------------------------------------------------------------------------------

    def scan(
        self,
        node: exp.Expr,
        clause: str,
        ctes: Mapping[str, Shape],
        chain: tuple[Level, ...],
        aliases: frozenset[str],
        *,
        report: bool = True,
    ) -> None:
        """Check the column references of one clause and recurse into the queries nested in it."""
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, (exp.Select, exp.SetOperation)):
                self.query(current, ctes, chain, f"a subquery in {_CLAUSE_WORDS.get(clause, clause.upper())}")
                continue
            if isinstance(current, exp.Column) and report:
                self.column(current, clause, chain, aliases)
            stack.extend(current.iter_expressions())

    def column(self, column: exp.Column, clause: str, chain: tuple[Level, ...], aliases: frozenset[str]) -> None:
        if not isinstance(column.this, exp.Identifier):
            return
        name = ident(column.this)
        qualifier = column.args.get("table")
        if qualifier is not None:
            wanted = ident(qualifier)
            for level in chain:
                for source in level.sources:
                    if source.name == wanted:
                        if source.columns is not None and name not in source.columns:
                            self.column_issues.append(_unknown_column_message(name, [source]))
                        return
            self.column_issues.append(f'unknown table or alias "{wanted}" in column reference {column.sql()}')
            return
        if is_value_keyword(column, self.dialect.value_keywords):
            return  # a session-information function, refused by the node check
        # ORDER BY, GROUP BY and DISTINCT ON may name output columns.
        if clause in ("order", "group", "distinct") and name in aliases:
            return
        for level in chain:
            if any(s.columns is None or name in s.columns or name == s.name for s in level.sources):
                return  # unknowable, a real column, or a whole-row reference like to_jsonb(l)
        message = _unknown_column_message(name, chain[0].sources if chain else [])
        if name in aliases:
            message += f' ("{name}" is an output alias, which only ORDER BY and GROUP BY can use)'
        self.column_issues.append(message)

    # -- time bounds -----------------------------------------------------------------------------------


def _renamed(shape: Shape, renames: tuple[str, ...]) -> Shape:
    """A column alias list renames a query's columns by position; ranges follow their columns."""
    if not renames:
        return shape
    ranges: dict[str, Range] = {}
    if shape.columns is not None:
        for old, new in zip(shape.columns, renames, strict=False):
            if old in shape.ranges:
                ranges[new] = shape.ranges[old]
    return Shape(renames, ranges)


def _function_columns(func: exp.Expr, alias_name: str | None, renames: tuple[str, ...]) -> tuple[str, ...] | None:
    if renames:
        return renames
    # A one-column set-returning function names its column after the alias (or itself).
    if isinstance(func, (exp.GenerateSeries, exp.ExplodingGenerateSeries)):
        return (alias_name or "generate_series",)
    return None


def _output_columns(select: exp.Select, sources: list[Source]) -> tuple[str, ...] | None:
    names: list[str] = []
    for projection in select.expressions:
        if isinstance(projection, exp.Alias):
            names.append(ident(projection.args.get("alias")))
        elif isinstance(projection, exp.Star):
            if any(s.columns is None for s in sources):
                return None
            names.extend(c for s in sources for c in s.columns or ())
        elif isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
            wanted = ident(projection.args.get("table"))
            matches = [s for s in sources if s.name == wanted]
            if not matches or matches[0].columns is None:
                return None
            names.extend(matches[0].columns)
        elif isinstance(projection, exp.Column):
            names.append(ident(projection.this))
        else:
            # The database names other expressions itself (count, ?column?, ...); treat the set as unknown.
            return None
    return tuple(names)


def _unknown_column_message(name: str, sources: Sequence[Source]) -> str:
    known = [s for s in sources if s.columns is not None]
    if len(known) == 1:
        source = known[0]
        label = source.relation if source.relation and source.name == source.relation else source.name
        if source.relation and source.name != source.relation:
            label = f"{source.relation} (as {source.name})"
        return f'unknown column "{name}" in {label}; its columns are: {", ".join(source.columns or ())}'
    if known:
        listed = "; ".join(f"{s.relation or s.name}: {', '.join(s.columns or ())}" for s in known)
        return f'unknown column "{name}"; the columns in scope are {listed}'
    return f'unknown column "{name}"'
