"""Guard for the SQL that the analysis agent generates: one read-only, bounded, allowlisted SELECT or nothing.

The guard is the first of three layers that stand between a language model and the log data:

1. This package parses the statement with sqlglot, in PostgreSQL (the hot store) or Trino (Athena over the
   lake), and accepts it only if every part of the tree is on an allowlist: one SELECT (or UNION/INTERSECT/
   EXCEPT, possibly under WITH); no write, DDL, locking, SELECT INTO or utility node anywhere; relations only
   from the catalog or the query's own CTEs in scope; functions, operators and cast types only from
   ``loglens.sqlguard_functions``; no Unicode escapes, dollar quotes or invisible characters. It catches
   hallucinated columns before they reach the database; requires every scan of ``logs`` to be bounded on
   ``created_at`` (any boolean combination of windows, a window joined to a bounded side, or in PostgreSQL
   an index lookup by ``trace_id``), so partitions are pruned; bounds what a query can make (set-returning
   calls, recursion, built strings); and enforces a row limit. What runs is SQL regenerated from the checked
   tree, and that text is parsed and checked once more, so a generator quirk cannot turn one checked
   statement into something else.
2. The agent executes the result as a read-only role (PostgreSQL: the analyst role, SELECT on ``logs`` and
   the summary views only, ``default_transaction_read_only``; Athena: a workgroup with a bytes-scanned
   cutoff), so a statement that slipped past the guard still cannot write or read anything else.
3. ``statement_timeout`` (Athena: the cutoff) and the enforced LIMIT bound the cost of whatever remains.

The guard assumes PostgreSQL keeps ``standard_conforming_strings`` on (the default since 9.1); string
literals whose meaning would change with it off are refused anyway.

Modules, in the order the checks run: lexical (tokens, one statement), statements (only queries), repairs
(PostgreSQL syntax sqlglot misreads), resolve (relations and columns in their scopes), scans (each scan of a
time-partitioned table is bounded, with proofs from bounds), recursion (each recursive CTE ends), nodes (the
allowlist), size (rows and bytes a query makes, with values), limit; guard runs them all twice. transpile
turns allowed lake SQL into DuckDB's.
"""

from loglens.sqlguard.catalog import Catalog
from loglens.sqlguard.dialects import DialectName
from loglens.sqlguard.guard import GuardResult, check_sql
from loglens.sqlguard.transpile import to_duckdb

__all__ = ["Catalog", "DialectName", "GuardResult", "check_sql", "to_duckdb"]
