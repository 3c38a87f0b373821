"""Guard for the SQL that the analysis agent generates: one read-only, bounded, allowlisted SELECT or nothing.

The guard is the first of three layers that stand between a language model and the log database:

1. This module parses the statement with sqlglot (dialect postgres) and accepts it only if every part of the
   tree is on an allowlist: one SELECT (or UNION/INTERSECT/EXCEPT, possibly under WITH); no write, DDL,
   locking, SELECT INTO or utility node anywhere; relations only from the catalog or the query's own CTEs in
   scope; functions, operators and cast types only from ``loglens.sqlguard_functions``; no Unicode escapes,
   dollar quotes or invisible characters. It also catches hallucinated columns before they reach the
   database, requires queries on ``logs`` to bound ``created_at`` so partitions are pruned, and enforces a
   row limit. What runs is SQL regenerated from the checked tree, and that text is parsed and checked once
   more, so a generator quirk cannot turn one checked statement into something else.
2. The agent executes the result as the read-only analyst role (SELECT on ``logs`` and the summary views
   only, ``default_transaction_read_only``), so a statement that slipped past the guard still cannot write,
   read other tables or call privileged functions.
3. ``statement_timeout`` and the enforced LIMIT bound the cost of whatever remains.

The guard assumes the server keeps ``standard_conforming_strings`` on (the default since PostgreSQL 9.1);
string literals whose meaning would change with it off are refused anyway.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import sqlglot
from sqlglot import TokenType, exp
from sqlglot.errors import ParseError, SqlglotError

from loglens.sqlguard_functions import (
    ALLOWED_CAST_TYPES,
    ALLOWED_FUNCTION_NAMES,
    ALLOWED_FUNCTION_NODES,
    FROM_FUNCTION_NAMES,
    FROM_FUNCTION_NODES,
    SQL_VALUE_KEYWORDS,
)

DIALECT = "postgres"


@dataclass(frozen=True)
class Catalog:
    """What the analyst may read: relation name -> column names, and the time column each big table needs."""

    relations: Mapping[str, Sequence[str]]
    time_bounded: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GuardResult:
    allowed: bool
    sql: str | None
    reason: str
    code: str
    relations: tuple[str, ...] = ()


def check_sql(sql: str, catalog: Catalog, *, max_rows: int = 1000) -> GuardResult:
    """Check one statement from the agent; return the SQL to execute, or why it was refused."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be positive, got {max_rows}")
    try:
        first = _guard(sql, catalog, max_rows)
        try:
            second = _guard(first.sql, catalog, max_rows)
        except _Refused as refusal:
            raise _Refused(
                "roundtrip_mismatch", f"the regenerated SQL does not pass the guard: {refusal.reason}"
            ) from refusal
        # Checking the regenerated text itself is what makes "what runs is what was checked" hold; sqlglot may
        # normalise on the way (ROUND(x, 2) gains a cast), so the text must be a fixed point, not the tree.
        if second.sql != first.sql:
            raise _Refused("roundtrip_mismatch", "the regenerated SQL does not regenerate to itself")
    except _Refused as refusal:
        return GuardResult(False, None, refusal.reason, refusal.code)
    except Exception as error:  # the guard fails closed on anything it did not anticipate
        return GuardResult(False, None, f"the guard could not check this SQL: {error}", "internal_error")
    reason = "; ".join(["allowed", *first.notes])
    return GuardResult(True, first.sql, reason, "ok", first.relations)


class _Refused(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class _Checked:
    sql: str
    relations: tuple[str, ...]
    notes: tuple[str, ...]


def _guard(sql: str, catalog: Catalog, max_rows: int) -> _Checked:
    _scan_tokens(sql)
    tree = _parse_one_statement(sql)
    _refuse_statement_kinds(tree)
    root = _query_root(tree)
    _repair_json_arrows(root)
    _repair_date_bin_origin(root)
    resolver = _Resolver(catalog)
    resolver.check(root)
    _check_nodes(root)
    if resolver.column_issues:
        raise _Refused("unknown_column", resolver.column_issues[0])
    if resolver.unbounded:
        raise _Refused("unbounded_time", resolver.unbounded[0])
    notes = _enforce_limit(root, max_rows)
    return _Checked(
        sql=root.sql(dialect=DIALECT, comments=False),
        relations=tuple(sorted(resolver.read)),
        notes=tuple(notes),
    )


_STRING_TOKENS = frozenset(
    {
        TokenType.STRING,
        TokenType.BYTE_STRING,
        TokenType.NATIONAL_STRING,
        TokenType.BIT_STRING,
        TokenType.HEX_STRING,
    }
)
# Invisible, control, bidi and non-ASCII space characters; never legitimate in an identifier.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})
_COMMENT = re.compile(r"--[^\n\r]*|/\*.*?\*/", re.DOTALL)


def _scan_tokens(sql: str) -> None:
    """Refuse lexical tricks before parsing: Unicode escapes, dollar quotes, non-ASCII outside literals."""
    try:
        tokens = sqlglot.tokenize(sql, read=DIALECT)
    except SqlglotError as error:
        raise _Refused("parse_error", f"could not tokenize the SQL: {error}") from error
    gaps = list(sql)
    for token in tokens:
        raw = sql[token.start : token.end + 1]
        if token.token_type == TokenType.UNICODE_STRING:
            raise _Refused("unicode_escape", "Unicode escape strings (U&'...') are not allowed")
        if token.token_type == TokenType.HEREDOC_STRING:
            raise _Refused("dollar_quote", "dollar-quoted strings are not allowed; use a single-quoted string")
        # sqlglot cannot parse U&"..." identifiers; spot the U, & and quote written together.
        if raw in ("U", "u") and sql[token.end + 1 : token.end + 3] in ('&"', "&'"):
            raise _Refused("unicode_escape", 'Unicode escape identifiers (U&"...") are not allowed')
        if token.token_type in _STRING_TOKENS:
            pass
        elif token.token_type == TokenType.IDENTIFIER:
            if any(not ch.isascii() and unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in raw):
                raise _Refused("non_ascii", f"invisible or control character in identifier {raw!r}")
        elif not raw.isascii():
            raise _Refused("non_ascii", f"non-ASCII character outside a string literal or quoted name: {raw!r}")
        gaps[token.start : token.end + 1] = " " * (token.end + 1 - token.start)
    # What is left between tokens is whitespace and comments; Postgres reads non-ASCII spaces as identifiers.
    between = _COMMENT.sub(" ", "".join(gaps))
    stray = [ch for ch in between if not ch.isascii()]
    if stray:
        raise _Refused("non_ascii", f"non-ASCII character between tokens: {stray[0]!r} (U+{ord(stray[0]):04X})")


def _parse_one_statement(sql: str) -> exp.Expr:
    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except ParseError as error:
        raise _Refused("parse_error", _parse_error_message(error)) from error
    except SqlglotError as error:
        raise _Refused("parse_error", str(error)) from error
    if not statements:
        raise _Refused("empty", "no SQL statement was given")
    if len(statements) > 1:
        raise _Refused("multiple_statements", f"exactly one statement is allowed, got {len(statements)}")
    return statements[0]


def _parse_error_message(error: ParseError) -> str:
    if not error.errors:
        return str(error)
    first = error.errors[0]
    return f"{first.get('description')} (line {first.get('line')}, column {first.get('col')})"


_WRITE_NODES: tuple[type[exp.Expr], ...] = (
    exp.DML,
    exp.DDL,
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Copy,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Grant,
    exp.Revoke,
    exp.Comment,
    exp.Returning,
)
_COMMAND_NODES: tuple[type[exp.Expr], ...] = (
    exp.Command,
    exp.Set,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Analyze,
    exp.Use,
    exp.Describe,
    exp.Pragma,
)


def _refuse_statement_kinds(tree: exp.Expr) -> None:
    """Refuse writes, utility commands, SELECT INTO and row locks anywhere in the tree, not just at the root."""
    for node in tree.walk():
        if isinstance(node, _WRITE_NODES):
            raise _Refused("write_node", f"{node.key.upper()} is not allowed; only read-only SELECT queries are")
        if isinstance(node, _COMMAND_NODES):
            raise _Refused("command", f"{_statement_word(node)} statements are not allowed")
        if isinstance(node, exp.Into):
            raise _Refused("select_into", "SELECT ... INTO creates a table and is not allowed")
        if isinstance(node, exp.Lock):
            raise _Refused("locking_clause", "FOR UPDATE/SHARE locking clauses are not allowed")


def _statement_word(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return node.key.upper()


def _query_root(tree: exp.Expr) -> exp.Expr:
    root = tree
    # A bare parenthesised query is the query itself.
    while isinstance(root, exp.Subquery) and set(_present_args(root)) == {"this"}:
        root = root.this
    if isinstance(root, (exp.Select, exp.SetOperation)):
        return root
    if isinstance(root, exp.Subquery) and isinstance(root.this, (exp.Select, exp.SetOperation)):
        return root
    raise _Refused("not_select", f"only SELECT queries are allowed, got {root.key.upper()}")


def _present_args(node: exp.Expr) -> Iterator[str]:
    return (key for key, value in node.args.items() if value not in (None, False, []))


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
        if isinstance(origin, exp.Var) and not _PLAIN_WORD.match(origin.name):
            node.set("unit", exp.Literal.string(origin.name))


@dataclass
class _Source:
    """One FROM item of a SELECT, as its columns are resolved against it."""

    name: str
    relation: str | None
    columns: tuple[str, ...] | None
    join: exp.Join | None


@dataclass
class _Resolver:
    """Resolves relations with Postgres CTE scoping, then checks columns and time bounds per SELECT."""

    catalog: Catalog
    read: set[str] = field(default_factory=set)
    column_issues: list[str] = field(default_factory=list)
    unbounded: list[str] = field(default_factory=list)
    _seen_tables: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.relations = {name.lower(): tuple(c.lower() for c in cols) for name, cols in self.catalog.relations.items()}
        self.time_columns = {name.lower(): col.lower() for name, col in self.catalog.time_bounded.items()}

    def check(self, root: exp.Expr) -> None:
        self.query(root, {}, ())
        # Every relation reference must have been resolved above; one in an unexpected place is refused.
        for table in root.find_all(exp.Table):
            if id(table) not in self._seen_tables:
                raise _Refused("relation_not_allowed", f"relation reference in an unsupported place: {table.sql()}")

    def query(
        self, node: exp.Expr, ctes: Mapping[str, tuple[str, ...] | None], outer: tuple[list[_Source], ...]
    ) -> tuple[str, ...] | None:
        """Check a query expression and return its output column names when they are known."""
        if isinstance(node, exp.Subquery):
            columns = self.query(node.this, ctes, outer)
            self.scan_extra_clauses(node, ("this", "alias"), ctes, outer)
            return columns
        ctes = self.with_clause(node, ctes, outer)
        if isinstance(node, exp.SetOperation):
            columns = self.query(node.left, ctes, outer)
            self.query(node.right, ctes, outer)
            self.scan_extra_clauses(node, ("this", "expression", "with_"), ctes, outer)
            return columns
        if isinstance(node, exp.Select):
            return self.select(node, ctes, outer)
        raise _Refused("not_select", f"unsupported query form: {node.key.upper()}")

    def scan_extra_clauses(
        self,
        node: exp.Expr,
        skip: tuple[str, ...],
        ctes: Mapping[str, tuple[str, ...] | None],
        outer: tuple[list[_Source], ...],
    ) -> None:
        # ORDER BY and LIMIT of a set operation name output columns, which are not checked here.
        for key, value in node.args.items():
            if key not in skip:
                for child in _children(value):
                    self.scan(child, key, ctes, outer, aliases=frozenset(), report=False)

    def with_clause(
        self, node: exp.Expr, ctes: Mapping[str, tuple[str, ...] | None], outer: tuple[list[_Source], ...]
    ) -> Mapping[str, tuple[str, ...] | None]:
        with_ = node.args.get("with_")
        if not isinstance(with_, exp.With):
            return ctes
        scope = dict(ctes)
        definitions = [(cte, _ident(cte.args["alias"].this)) for cte in with_.expressions]
        for _, name in definitions:
            if name in self.relations:
                raise _Refused(
                    "cte_shadows_relation", f'CTE "{name}" shadows the relation of the same name; rename the CTE'
                )
        recursive = bool(with_.args.get("recursive"))
        if recursive:
            # WITH RECURSIVE lets every CTE see every other one, itself included.
            for cte, name in definitions:
                scope[name] = _alias_columns(cte.args["alias"]) or None
        for cte, name in definitions:
            # Without RECURSIVE a CTE sees only the ones defined before it.
            columns = self.query(cte.this, dict(scope), outer)
            scope[name] = _alias_columns(cte.args["alias"]) or columns
        return scope

    def select(
        self, select: exp.Select, ctes: Mapping[str, tuple[str, ...] | None], outer: tuple[list[_Source], ...]
    ) -> tuple[str, ...] | None:
        if not select.expressions:
            raise _Refused("parse_error", "the SELECT lists no columns")
        sources: list[_Source] = []
        from_ = select.args.get("from_")
        if isinstance(from_, exp.From):
            sources.append(self.source(from_.this, None, ctes, outer, sources))
        joins: list[exp.Join] = list(select.args.get("joins") or [])
        for join in joins:
            sources.append(self.source(join.this, join, ctes, outer, sources))
        chain = (sources, *outer)
        aliases = frozenset(
            _ident(p.args["alias"]) for p in select.expressions if isinstance(p, exp.Alias) and p.args.get("alias")
        )
        for key, value in select.args.items():
            if key in ("with_", "from_", "joins"):
                continue
            for child in _children(value):
                self.scan(child, key, ctes, chain, aliases)
        for join in joins:
            for key in ("on", "using"):
                for child in _children(join.args.get(key)):
                    self.scan(child, key, ctes, chain, aliases)
        self.check_time_bounds(select, sources, joins)
        return _output_columns(select, sources)

    def source(
        self,
        node: exp.Expr,
        join: exp.Join | None,
        ctes: Mapping[str, tuple[str, ...] | None],
        outer: tuple[list[_Source], ...],
        left: list[_Source],
    ) -> _Source:
        alias = node.args.get("alias")
        alias_name = _ident(alias.this) if isinstance(alias, exp.TableAlias) and alias.this else None
        alias_columns = _alias_columns(alias) if isinstance(alias, exp.TableAlias) else ()
        # Functions and LATERAL subqueries in FROM may refer to the items to their left.
        lateral_chain = (left, *outer)
        if isinstance(node, exp.Table) and node.args.get("joins"):
            raise _Refused("node_not_allowed", "parenthesised join trees are not supported; list the joins plainly")
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Func):
            self._seen_tables.add(id(node))
            if node.args.get("db") or node.args.get("catalog"):
                raise _Refused(
                    "relation_not_allowed", f"schema-qualified functions are not allowed in FROM: {node.sql()}"
                )
            name = self.from_function(node.this, ctes, lateral_chain)
            return _Source(alias_name or name, None, _function_columns(node.this, alias_name, alias_columns), join)
        if isinstance(node, exp.Table):
            self._seen_tables.add(id(node))
            return self.relation(node, alias_name, alias_columns, join, ctes)
        if isinstance(node, exp.Subquery):
            if not isinstance(node.this, (exp.Select, exp.SetOperation)):
                raise _Refused("node_not_allowed", f"unsupported FROM item: {node.this.key.upper()}")
            columns = self.query(node, ctes, outer)
            return _Source(alias_name or "", None, alias_columns or columns, join)
        if isinstance(node, exp.Lateral):
            inner = node.this
            if isinstance(inner, exp.Subquery):
                columns = self.query(inner, ctes, lateral_chain)
                return _Source(alias_name or "", None, alias_columns or columns, join)
            if isinstance(inner, exp.Func):
                name = self.from_function(inner, ctes, lateral_chain)
                return _Source(alias_name or name, None, _function_columns(inner, alias_name, alias_columns), join)
            raise _Refused("relation_not_allowed", f"unsupported LATERAL item: {inner.sql()}")
        if isinstance(node, exp.Unnest):
            self.from_function(node, ctes, lateral_chain)
            offset = node.args.get("offset")
            columns = (
                (*alias_columns, _ident(offset))
                if alias_columns and isinstance(offset, exp.Identifier)
                else alias_columns
            )
            return _Source(alias_name or "unnest", None, columns or None, join)
        if isinstance(node, exp.Values):
            for child in node.expressions:
                self.scan(child, "values", ctes, outer, frozenset())
            return _Source(alias_name or "", None, alias_columns or None, join)
        raise _Refused("relation_not_allowed", f"unsupported FROM item: {node.sql()}")

    def relation(
        self,
        table: exp.Table,
        alias_name: str | None,
        alias_columns: tuple[str, ...],
        join: exp.Join | None,
        ctes: Mapping[str, tuple[str, ...] | None],
    ) -> _Source:
        if not isinstance(table.this, exp.Identifier):
            raise _Refused("relation_not_allowed", f"unsupported relation reference: {table.sql(dialect=DIALECT)}")
        name = _ident(table.this)
        schema = table.args.get("db")
        catalog_part = table.args.get("catalog")
        if schema is None and catalog_part is None and name in ctes:
            return _Source(alias_name or name, None, alias_columns or ctes[name], join)
        qualified = table.sql(dialect=DIALECT).split(" AS ")[0]
        if catalog_part is not None or (schema is not None and _ident(schema) != "public"):
            raise _Refused(
                "relation_not_allowed",
                f"relation {qualified} is not allowed; only public.<relation> or unqualified names are",
            )
        if name not in self.relations:
            allowed = ", ".join(sorted(self.relations))
            raise _Refused(
                "relation_not_allowed", f"relation {qualified} is not allowed; the allowed relations are: {allowed}"
            )
        self.read.add(name)
        # A column alias list renames columns positionally; resolving that is not worth the risk of a wrong error.
        columns = None if alias_columns else self.relations[name]
        return _Source(alias_name or name, name, columns, join)

    def from_function(
        self, func: exp.Expr, ctes: Mapping[str, tuple[str, ...] | None], chain: tuple[list[_Source], ...]
    ) -> str:
        name = _function_name(func)
        allowed = type(func) in FROM_FUNCTION_NODES or (
            isinstance(func, exp.Anonymous) and isinstance(func.this, str) and name in FROM_FUNCTION_NAMES
        )
        if not allowed:
            known = ", ".join(sorted(FROM_FUNCTION_NAMES))
            raise _Refused("relation_not_allowed", f"function {name}() is not allowed in FROM; allowed there: {known}")
        for child in func.iter_expressions():
            self.scan(child, "from", ctes, chain, frozenset())
        return name

    def scan(
        self,
        node: exp.Expr,
        clause: str,
        ctes: Mapping[str, tuple[str, ...] | None],
        chain: tuple[list[_Source], ...],
        aliases: frozenset[str],
        *,
        report: bool = True,
    ) -> None:
        """Check the column references of one clause and recurse into the queries nested in it."""
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, (exp.Select, exp.SetOperation)):
                self.query(current, ctes, chain)
                continue
            if isinstance(current, exp.Column) and report:
                self.column(current, clause, chain, aliases)
            stack.extend(current.iter_expressions())

    def column(
        self, column: exp.Column, clause: str, chain: tuple[list[_Source], ...], aliases: frozenset[str]
    ) -> None:
        if not isinstance(column.this, exp.Identifier):
            return
        name = _ident(column.this)
        qualifier = column.args.get("table")
        if qualifier is not None:
            wanted = _ident(qualifier)
            for level in chain:
                for source in level:
                    if source.name == wanted:
                        if source.columns is not None and name not in source.columns:
                            self.column_issues.append(_unknown_column_message(name, [source]))
                        return
            self.column_issues.append(f'unknown table or alias "{wanted}" in column reference {column.sql()}')
            return
        if _is_value_keyword(column):
            return  # a session-information function, refused by the node check
        # Postgres lets ORDER BY, GROUP BY and DISTINCT ON name output columns.
        if clause in ("order", "group", "distinct") and name in aliases:
            return
        for level in chain:
            if any(s.columns is None or name in s.columns or name == s.name for s in level):
                return  # unknowable, a real column, or a whole-row reference like to_jsonb(l)
        message = _unknown_column_message(name, chain[0] if chain else [])
        if name in aliases:
            message += f' ("{name}" is an output alias, which only ORDER BY and GROUP BY can use)'
        self.column_issues.append(message)

    def check_time_bounds(self, select: exp.Select, sources: list[_Source], joins: list[exp.Join]) -> None:
        where = select.args.get("where")
        filters = list(_conjuncts(where.this)) if isinstance(where, exp.Where) else []
        for join in joins:
            if not join.args.get("side") and join.args.get("kind") != "CROSS":
                filters.extend(_conjuncts(join.args.get("on")))
        for source in sources:
            if source.relation is None or source.relation not in self.time_columns:
                continue
            time_column = self.time_columns[source.relation]
            candidates = list(filters)
            # The ON of a LEFT JOIN filters the joined side; that of a RIGHT or FULL JOIN does not.
            if source.join is not None and source.join.args.get("side") == "LEFT":
                candidates.extend(_conjuncts(source.join.args.get("on")))
            if not any(_bounds(c, time_column, source.name) for c in candidates):
                where_named = "" if source.name == source.relation else f" (as {source.name})"
                self.unbounded.append(
                    f"queries on {source.relation}{where_named} must filter {time_column} in the WHERE or JOIN ON "
                    f"of the SELECT that reads it, e.g. WHERE {time_column} >= now() - interval '24 hours'"
                )


def _children(value: object) -> Iterator[exp.Expr]:
    if isinstance(value, exp.Expr):
        yield value
    elif isinstance(value, list):
        yield from (v for v in value if isinstance(v, exp.Expr))


def _ident(node: object) -> str:
    """The name Postgres would use: unquoted identifiers fold to lower case, quoted ones keep their case."""
    if isinstance(node, exp.Identifier):
        return str(node.this) if node.quoted else str(node.this).lower()
    if isinstance(node, exp.Expr):
        return node.name.lower()
    return str(node).lower() if node is not None else ""


def _alias_columns(alias: object) -> tuple[str, ...]:
    if not isinstance(alias, exp.TableAlias):
        return ()
    return tuple(_ident(c) for c in alias.args.get("columns") or [])


def _function_name(func: exp.Expr) -> str:
    if isinstance(func, exp.Anonymous):
        return _ident(func.this)
    # The name as Postgres will see it (lpad, not sqlglot's Pad), else sqlglot's own name for the node.
    written = _LEADING_NAME.match(func.sql(dialect=DIALECT))
    if written:
        return written.group(0).lower()
    return func.sql_name().lower() if isinstance(func, exp.Func) else func.key


def _function_columns(func: exp.Expr, alias_name: str | None, alias_columns: tuple[str, ...]) -> tuple[str, ...] | None:
    if alias_columns:
        return alias_columns
    # A one-column set-returning function names its column after the alias (or itself).
    if isinstance(func, exp.GenerateSeries):
        return (alias_name or "generate_series",)
    return None


def _output_columns(select: exp.Select, sources: list[_Source]) -> tuple[str, ...] | None:
    names: list[str] = []
    for projection in select.expressions:
        if isinstance(projection, exp.Alias):
            names.append(_ident(projection.args.get("alias")))
        elif isinstance(projection, exp.Star):
            if any(s.columns is None for s in sources):
                return None
            names.extend(c for s in sources for c in s.columns or ())
        elif isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
            wanted = _ident(projection.args.get("table"))
            matches = [s for s in sources if s.name == wanted]
            if not matches or matches[0].columns is None:
                return None
            names.extend(matches[0].columns)
        elif isinstance(projection, exp.Column):
            names.append(_ident(projection.this))
        else:
            # Postgres names other expressions itself (count, ?column?, ...); treat the set as unknown.
            return None
    return tuple(names)


def _unknown_column_message(name: str, sources: Sequence[_Source]) -> str:
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


def _conjuncts(node: object) -> Iterator[exp.Expr]:
    # Iterative: a long AND chain is a deep left-leaning tree.
    stack = [node] if isinstance(node, exp.Expr) else []
    while stack:
        current = stack.pop().unnest()
        if isinstance(current, exp.And):
            stack.extend((current.expression, current.this))
        else:
            yield current


def _bounds(condition: exp.Expr, time_column: str, source_name: str) -> bool:
    """Whether one conjunct compares the bare time column of this source with a column-free value."""
    if isinstance(condition, exp.Between):
        return (
            _is_time_column(condition.this, time_column, source_name)
            and _column_free(condition.args.get("low"))
            and _column_free(condition.args.get("high"))
        )
    if isinstance(condition, (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.EQ)):
        left, right = condition.this, condition.expression
        return (_is_time_column(left, time_column, source_name) and _column_free(right)) or (
            _is_time_column(right, time_column, source_name) and _column_free(left)
        )
    return False


def _is_time_column(node: object, time_column: str, source_name: str) -> bool:
    if isinstance(node, exp.Paren):
        node = node.unnest()
    if not isinstance(node, exp.Column) or not isinstance(node.this, exp.Identifier):
        return False
    qualifier = node.args.get("table")
    return _ident(node.this) == time_column and (qualifier is None or _ident(qualifier) == source_name)


def _column_free(node: object) -> bool:
    if not isinstance(node, exp.Expr):
        return False
    # Columns inside a subquery belong to that subquery; a scalar subquery is a fine bound.
    return not any(isinstance(n, exp.Column) for n in node.walk(prune=_is_query))


def _is_query(node: exp.Expr) -> bool:
    return isinstance(node, (exp.Select, exp.SetOperation))


# Syntax an analyst query may contain besides the allowlisted functions (checked separately).
_STRUCTURAL_NODES: frozenset[type[exp.Expr]] = frozenset(
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
    }
)  # fmt: skip
_PLAIN_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LEADING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")


def _check_nodes(root: exp.Expr) -> None:
    """Allowlist every node: functions by class or name, cast types, and the syntax in _STRUCTURAL_NODES."""
    for node in root.walk():
        kind = type(node)
        if kind in _STRUCTURAL_NODES:
            _check_structural(node)
        elif isinstance(node, exp.Anonymous):
            _check_anonymous(node)
        elif kind in ALLOWED_FUNCTION_NODES:
            pass
        elif isinstance(node, exp.Func):
            name = _function_name(node)
            raise _Refused("function_not_allowed", f"function {name}() is not on the analyst allowlist")
        elif isinstance(node, (exp.ObjectIdentifier, exp.PseudoType)):
            raise _Refused("type_not_allowed", f"casts to {node.sql(dialect=DIALECT)} are not allowed")
        else:
            raise _Refused(
                "node_not_allowed", f"{node.key.upper()} is not allowed in analyst queries: {node.sql(dialect=DIALECT)}"
            )


def _check_structural(node: exp.Expr) -> None:
    if isinstance(node, exp.DataType):
        _check_data_type(node)
    elif isinstance(node, exp.Dot):
        # (composite).field is fine; schema.function() would call outside the allowlist.
        if not isinstance(node.expression, exp.Identifier):
            raise _Refused(
                "function_not_allowed", f"schema-qualified calls are not allowed: {node.sql(dialect=DIALECT)}"
            )
    elif isinstance(node, exp.Column) and _is_value_keyword(node):
        raise _Refused("function_not_allowed", f"{node.name.lower()} is not allowed: it reads session information")
    elif isinstance(node, exp.Var):
        # sqlglot prints a Var verbatim, so anything but a plain word could be raw SQL.
        if not _PLAIN_WORD.match(node.name) or node.name.lower() in SQL_VALUE_KEYWORDS:
            raise _Refused(
                "unsafe_token", f"unexpected bare word {node.name!r}; write it as a quoted literal or a typed value"
            )
        if isinstance(node.parent, exp.DateBin) and node.arg_key == "unit":
            raise _Refused(
                "unsafe_token",
                "date_bin's origin must be a typed value, e.g. timestamptz '2024-01-01'",
            )
    elif isinstance(node, exp.Literal):
        _check_literal(node)
    elif isinstance(node, exp.JSONPathKey):
        # sqlglot prints a JSON key as a string literal of its own making, and drops an empty one.
        key = str(node.this)
        if not key or _backslash_before_quote(key):
            raise _Refused("unsafe_token", f"JSON key {key!r} is not allowed")
    elif isinstance(node, exp.Identifier) and not node.quoted and not _PLAIN_WORD.match(str(node.this)):
        raise _Refused("unsafe_token", f"unexpected identifier {node.this!r}")


def _is_value_keyword(column: exp.Column) -> bool:
    """An unquoted, unqualified user/current_role/...: Postgres calls a function there, whatever sqlglot thinks."""
    name = column.this
    return (
        isinstance(name, exp.Identifier)
        and not name.quoted
        and not column.args.get("table")
        and str(name.this).lower() in SQL_VALUE_KEYWORDS
    )


def _check_anonymous(node: exp.Anonymous) -> None:
    if not isinstance(node.this, str):
        # sqlglot upper-cases a quoted name when it prints it, so "lower"() would change meaning.
        raise _Refused("function_not_allowed", f"quoted function names are not allowed: {node.sql(dialect=DIALECT)}")
    name = node.this.lower()
    if not _PLAIN_WORD.match(name) or name not in ALLOWED_FUNCTION_NAMES:
        raise _Refused("function_not_allowed", f"function {name}() is not on the analyst allowlist")


def _check_data_type(node: exp.DataType) -> None:
    if isinstance(node.this, exp.Interval):
        return
    if node.this not in ALLOWED_CAST_TYPES:
        raise _Refused("type_not_allowed", f"casts to {node.sql(dialect=DIALECT)} are not allowed")


def _check_literal(node: exp.Literal) -> None:
    text = str(node.this)
    if not node.is_string:
        if not _NUMBER.match(text):
            raise _Refused("unsafe_token", f"malformed number literal {text!r}")
        return
    if _backslash_before_quote(text):
        raise _Refused("unsafe_token", "a backslash before a quote in a string literal is not allowed")


def _backslash_before_quote(text: str) -> bool:
    # With standard_conforming_strings off, a backslash before a quote would end the string elsewhere.
    return text.endswith("\\") or "\\'" in text


def _int_literal(node: object) -> int | None:
    text = str(node.this) if isinstance(node, exp.Literal) and not node.is_string else ""
    if text.isascii() and text.isdigit():
        return int(text)
    return None


def _enforce_limit(root: exp.Expr, max_rows: int) -> list[str]:
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
            return [f"LIMIT {limit.expression.sql(dialect=DIALECT)} replaced by LIMIT {max_rows}"]
        if wanted > max_rows:
            root.set("limit", _limit(max_rows))
            return [f"LIMIT {wanted} capped to {max_rows}"]
        return []
    raise _Refused("node_not_allowed", f"unsupported row limit: {limit.sql(dialect=DIALECT)}")


def _limit(rows: int) -> exp.Limit:
    return exp.Limit(expression=exp.Literal.number(rows))
