"""Terminal output helpers shared by the commands (tables, errors)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Table(title=title)
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("" if v is None else str(v) for v in row))
    Console().print(out)


def error(message: str) -> None:
    print(f"loglens: {message}", file=sys.stderr)
