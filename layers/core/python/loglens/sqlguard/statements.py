"""The statement must be a query: no write, DDL, utility or session statement anywhere in the tree."""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from loglens.sqlguard.refusal import Refused

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


def refuse_statement_kinds(tree: exp.Expr) -> None:
    """Refuse writes, utility commands, SELECT INTO and row locks anywhere in the tree, not just at the root."""
    for node in tree.walk():
        if isinstance(node, _WRITE_NODES):
            raise Refused("write_node", f"{node.key.upper()} is not allowed; only read-only SELECT queries are")
        if isinstance(node, _COMMAND_NODES):
            raise Refused("command", f"{_statement_word(node)} statements are not allowed")
        if isinstance(node, exp.Into):
            raise Refused("select_into", "SELECT ... INTO creates a table and is not allowed")
        if isinstance(node, exp.Lock):
            raise Refused("locking_clause", "FOR UPDATE/SHARE locking clauses are not allowed")
        if isinstance(node, exp.With) and node.args.get("udfs"):
            raise Refused("command", "WITH FUNCTION defines code to run; inline functions are not allowed")


def _statement_word(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return node.key.upper()


def query_root(tree: exp.Expr) -> exp.Expr:
    root = tree
    # A bare parenthesised query is the query itself.
    while isinstance(root, exp.Subquery) and set(present_args(root)) == {"this"}:
        root = root.this
    if isinstance(root, (exp.Select, exp.SetOperation)):
        return root
    if isinstance(root, exp.Subquery) and isinstance(root.this, (exp.Select, exp.SetOperation)):
        return root
    raise Refused("not_select", f"only SELECT queries are allowed, got {root.key.upper()}")


def present_args(node: exp.Expr) -> Iterator[str]:
    return (key for key, value in node.args.items() if value not in (None, False, []))
