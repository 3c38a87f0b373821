"""The scans of time-partitioned tables: each must be bounded on its time column in the SELECT that reads it.

Proofs come from bounds.py; this module finds what filters each scan (its SELECT's WHERE, the ON of inner
joins, its own ON when LEFT-joined), resolves the columns a bound is anchored on (another scan, a CTE column
that came from a bounded scan, a generate_series bucket), writes derived bounds into the query, and says what
is missing when a scan is not bounded. It also works out the ranges a query's output columns carry, so a CTE
of bounded rows can anchor a join window outside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from loglens.sqlguard import bounds
from loglens.sqlguard.bounds import Proof, Target
from loglens.sqlguard.dialects import Dialect
from loglens.sqlguard.names import PLAIN_WORD, ident
from loglens.sqlguard.refusal import excerpt
from loglens.sqlguard.scope import Level, Range, Source


@dataclass
class ScanBounds:
    time_columns: dict[str, str]  # relation -> its time column
    lookup_keys: dict[str, frozenset[str]]  # relation -> columns whose equality lookup is an index probe
    dialect: Dialect
    notes: list[str] = field(default_factory=list)
    unbounded: list[str] = field(default_factory=list)
    _proofs: dict[int, Proof | None] = field(default_factory=dict)
    _cut: set[int] = field(default_factory=set)  # proofs made while a proof they needed was still in progress
    _cutting: bool = False
    _previous: dict[int, Proof] = field(default_factory=dict)  # the last round's proofs, for proofs in progress
    _injected: set[int] = field(default_factory=set)

    def check(self, level: Level) -> None:
        scans = [s for s in level.sources if s.relation is not None and s.relation in self.time_columns]
        proofs = self.settle(scans)
        for source in scans:
            proof = proofs[id(source)]
            if proof.bounded:
                self.write_down(source, proof)
            elif not proof.keyed:
                self.unbounded.append(self.unbounded_message(source))

    def settle(self, scans: list[Source]) -> dict[int, Proof]:
        """Prove every scan, again while a proof cut short by a cycle (a >= b AND b >= a) grows stronger.

        Each proof is made once per round, so scans anchored on each other cost rounds, not a search of every
        path; a proof only gains ends as its anchors do, so this stops after at most two rounds per scan.
        """
        proofs = {id(s): self.proof_of(s) for s in scans}
        for _ in range(2 * len(self._proofs) + 1):
            if not self._cut:
                break
            for key in self._cut:
                known = self._proofs.pop(key, None)
                if known is not None:
                    self._previous[key] = known
            self._cut.clear()
            again = {id(s): self.proof_of(s) for s in scans}
            if [_ends(p) for p in again.values()] == [_ends(p) for p in proofs.values()]:
                break
            proofs = again
        return proofs

    def target(self, source: Source) -> Target:
        assert source.relation is not None
        keys = self.lookup_keys.get(source.relation, frozenset()) if self.dialect.key_lookups else frozenset()
        return Target(
            source.name, self.time_columns[source.relation], keys, self.dialect.time_type, self.dialect.constant_bounds
        )

    def proof_of(self, source: Source) -> Proof:
        key = id(source)
        if key in self._proofs:
            known = self._proofs[key]
            if known is None:  # being proven: what is known of it so far stands in, and the asker is cut short
                self._cutting = True
                return self._previous.get(key, Proof())
            return known
        self._proofs[key] = None
        outer_cutting, self._cutting = self._cutting, False
        proof = bounds.prove_all(self.conditions(source), self.target(source), self.anchor(source.level))
        if _has_right_or_full_join(source.level.select):
            # Writing a derived bound into a query whose outer joins keep unmatched rows could drop them.
            proof = Proof(
                proof.lower if proof.lower and proof.lower.direct else None,
                proof.upper if proof.upper and proof.upper.direct else None,
                proof.keyed,
            )
        if self._cutting:
            self._cut.add(key)
        self._cutting = outer_cutting or self._cutting
        self._proofs[key] = proof
        return proof

    def conditions(self, source: Source) -> list[exp.Expr]:
        """What filters this FROM item's rows: the WHERE, the ON of inner joins, its own ON if LEFT-joined."""
        select = source.level.select
        where = select.args.get("where")
        found = [where.this] if isinstance(where, exp.Where) else []
        for join in select.args.get("joins") or []:
            if not join.args.get("side") and join.args.get("kind") != "CROSS" and join.args.get("on") is not None:
                found.append(join.args["on"])
        # The ON of a LEFT JOIN filters the joined side; that of a RIGHT or FULL JOIN does not.
        if source.join is not None and source.join.args.get("side") == "LEFT" and source.join.args.get("on"):
            found.append(source.join.args["on"])
        return found

    def anchor(self, level: Level) -> bounds.Anchor:
        def bound_of(column: exp.Column, end: str) -> exp.Expr | None:
            source = self.find_source(column, level)
            if source is None:
                return None
            name = ident(column.this)
            if source.relation is not None and self.time_columns.get(source.relation) == name:
                proof = self.proof_of(source)
                side = proof.lower if end == "lower" else proof.upper
                return side.value if side is not None and side.portable else None
            found = source.ranges.get(name)
            if found is None:
                return None
            return found.lower if end == "lower" else found.upper

        return bound_of

    def find_source(self, column: exp.Column, level: Level) -> Source | None:
        qualifier = column.args.get("table")
        name = ident(column.this)
        for scope in level.chain:
            if qualifier is not None:
                named = [s for s in scope.sources if s.name == ident(qualifier)]
            else:
                named = [s for s in scope.sources if s.columns is not None and name in s.columns]
                if any(s.columns is None for s in scope.sources) and not named:
                    return None  # it could be a column of a FROM item whose columns are unknown
            if len(named) == 1:
                return named[0]
            if named:
                return None
        return None

    def write_down(self, source: Source, proof: Proof) -> None:
        """Write a derived bound into the query, so partitions are pruned without the planner's inference."""
        if id(source) in self._injected:
            return
        self._injected.add(id(source))
        target = self.target(source)
        column = exp.column(target.column, table=_identifier(source.name))
        added = [
            comparison(this=column.copy(), expression=side.value.copy())
            for comparison, side in ((exp.GTE, proof.lower), (exp.LTE, proof.upper))
            if side is not None and not side.direct and side.portable
        ]
        if not added:
            return
        condition = exp.and_(*added) if len(added) > 1 else added[0]
        join = source.join
        if join is not None and join.args.get("on") is not None and join.args.get("side") in (None, "LEFT"):
            join.set("on", exp.and_(join.args["on"], condition))
        else:
            source.level.select.where(condition, copy=False)
        self.notes.append(f"{condition.sql(dialect=self.dialect.sqlglot)} added (implied by the join window)")

    def unbounded_message(self, source: Source) -> str:
        assert source.relation is not None
        target = self.target(source)
        column, relation = target.column, source.relation
        named = "" if source.name == relation else f" (as {source.name})"
        level = source.level
        head = (
            f"{relation}{named} in {level.label} is read without a bound on {column}: "
            f"{excerpt(level.select, self.dialect.sqlglot, 120)}"
        )
        why = bounds.diagnose(self.conditions(source), target, self.anchor(level), self.dialect.sqlglot)
        example = self.dialect.time_example.format(column=column)
        window = self.dialect.window_example.format(column=column)
        if self.dialect.key_lookups:
            fix = (
                f"To fix it, bound the bare column in the WHERE or JOIN ON of that SELECT, e.g. WHERE {example}, "
                "over the period the question asks about (a recent window makes older rows look absent)"
            )
            if target.keys:
                keys = " or ".join(f"{key} = '...'" for key in sorted(target.keys))
                fix += f"; a lookup by {keys} needs no time bound"
        else:
            fix = (
                f"Without a partition predicate the lake reads every day of {relation}: add {window} (or {example}) "
                "to that SELECT's WHERE to bound the scan"
            )
            lookup = _equality_filter(self.conditions(source))
            if lookup:
                fix += f"; a lookup like {lookup} does not prune the lake's partitions, so it needs the range too"
        why = f"{why[:1].upper()}{why[1:]}. " if why else ""
        return f"{head}. {why}{fix}"

    def projection_ranges(self, level: Level) -> dict[str, Range]:
        """Ranges of output columns that pass on a bounded column (as is, shifted, truncated, min or max)."""
        ranges: dict[str, Range] = {}
        anchor = self.anchor(level)
        for projection in level.select.expressions:
            if isinstance(projection, exp.Star) or (
                isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
            ):
                qualifier = projection.args.get("table")
                for source in level.sources:
                    if qualifier is None or source.name == ident(qualifier):
                        ranges.update(self.source_ranges(source))
                continue
            if isinstance(projection, exp.Alias):
                name, value = ident(projection.args.get("alias")), projection.this
            elif isinstance(projection, exp.Column):
                name, value = ident(projection.this), projection
            else:
                continue
            if isinstance(value.unnest(), (exp.Min, exp.Max)):
                value = value.unnest().this
            column = bounds.monotone_column(value)
            if column is None:
                continue
            low, high = anchor(column, "lower"), anchor(column, "upper")
            if low is not None or high is not None:
                ranges[name] = Range(
                    bounds.substitute(value, column, low) if low is not None else None,
                    bounds.substitute(value, column, high) if high is not None else None,
                )
        return ranges

    def source_ranges(self, source: Source) -> dict[str, Range]:
        ranges = dict(source.ranges)
        if source.relation is not None and source.relation in self.time_columns:
            proof = self.proof_of(source)
            low = proof.lower.value if proof.lower and proof.lower.portable else None
            high = proof.upper.value if proof.upper and proof.upper.portable else None
            if low is not None or high is not None:
                ranges[self.time_columns[source.relation]] = Range(low, high)
        return ranges


def _ends(proof: Proof) -> tuple[bool, bool, bool]:
    return (proof.lower is not None, proof.upper is not None, proof.keyed)


def _equality_filter(conditions: list[exp.Expr]) -> str | None:
    """The first `column = 'literal'` among the conditions, as written."""
    for condition in conditions:
        for node in condition.walk(prune=lambda n: isinstance(n, (exp.Select, exp.SetOperation))):
            if (
                isinstance(node, exp.EQ)
                and isinstance(node.this, exp.Column)
                and isinstance(node.expression, exp.Literal)
            ):
                return node.sql()
    return None


def _has_right_or_full_join(select: exp.Select) -> bool:
    return any(join.args.get("side") in ("RIGHT", "FULL") for join in select.args.get("joins") or [])


def _identifier(name: str) -> exp.Identifier:
    return exp.Identifier(this=name, quoted=not (PLAIN_WORD.match(name) and name == name.lower()))
