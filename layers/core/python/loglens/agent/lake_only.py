"""The agent on a lake-only stage: the lake is the only source, so run_lake_query is the only query tool.

A lake-only stage has no PostgreSQL (infra: ``lake.only``), so the agent gets no run_query, no explain_query
and no database facts. Its prompt says so: the table is the Iceberg table read with Trino SQL (Athena), the
facts are the days the lake holds (from Iceberg's metadata, no charged scan), and the answer's SQL is lake
SQL. Everything else (the loop, the guard in the Trino dialect, the view of rows the model gets) is the
same code as with both sources (loglens.agent.loop, loglens.agent.lake_tools).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, Final

from loglens.agent.lake_tools import LAKE_TOOL, lake_prompt
from loglens.lake.query import LakeExtent
from loglens.lake.schema import lake_columns

if TYPE_CHECKING:
    from loglens.http import HttpResponse, Request, Router

_LAKE_SQL: Final[dict[str, Any]] = {"type": "string", "description": "One Trino SELECT on logs (the lake)."}
ANSWER_TOOL: Final[dict[str, Any]] = {
    "name": "answer",
    "description": (
        "Give the final answer. sql is the one lake query whose result answers the question (the person sees its "
        "full result). summary states the answer with its numbers in one sentence; key_insight says what stands "
        "out and why; recommendation is one concrete next step; baseline describes the comparison with a usual "
        "period when one was made."
    ),
    "input_schema": {
        "type": "object",
        "properties": {
            "sql": _LAKE_SQL,
            "summary": {"type": "string"},
            "key_insight": {"type": "string"},
            "recommendation": {"type": "string"},
            "baseline": {"type": "string"},
        },
        "required": ["sql", "summary", "key_insight", "recommendation"],
    },
}
TOOLS: Final[list[dict[str, Any]]] = [LAKE_TOOL, ANSWER_TOOL]


def stable_prompt(*, max_rows: int, model_rows: int) -> str:
    """Instructions and the lake's columns, the same text for every question with the same code."""
    columns = "\n".join(f"- {c.name} {c.athena_type}: {c.description}" for c in lake_columns())
    return f"""You are loglens, an analyst who answers questions about application logs stored in a data lake.
You answer by writing read-only Trino SQL, running it with run_lake_query, and explaining what the result means.
This deployment has no PostgreSQL: the lake is the only place the logs are, and run_lake_query the only query tool.

How to work
- run_lake_query runs one SQL statement and shows you the columns, up to {model_rows} rows, the row count, the \
bytes scanned and what the query cost. Each query costs money by the bytes it reads: bound created_at to the \
range the question needs and name only the columns you need.
- When a tool returns an error, read it, fix the SQL and try again. Never repeat a refused statement unchanged.
- A request you must not carry out (changing or deleting data, reading other systems) or a question that needs \
no query: reply in plain text without calling a tool; that reply is the answer.
- Finish by calling answer with the final SQL (the one lake query whose result answers the question; the person \
sees its full result, up to {max_rows} rows), a one-sentence summary that states the numbers, the key insight \
and one concrete recommendation.
- When a question implies unusual, spike, increase, drop, normal or worse, compare with a baseline: the same \
window on previous days or the preceding period of equal length, and state the ratio.
- Earlier questions in the conversation are context. Answer the new question; reuse earlier filters only when \
it refers to them ("those", "that service", "same period").
- Times are UTC; "today" is the UTC day. Text values are case-sensitive.
- Rows you see may have personal data and secrets masked as [REDACTED:rule]; do not try to recover them.
- Exactly one SELECT per statement, on the table logs only; a LIMIT of at most {max_rows} is added or enforced. \
Aggregate in SQL rather than fetching raw rows.

Table logs: one row per log event. Columns (name, Athena type: meaning):
{columns}
{lake_prompt(only=True)}"""


def facts_prompt(extent: LakeExtent | None) -> str:
    """The lake's days, as the facts part of the system prompt (there are no database facts)."""
    lines = ["Lake facts", "- Sources: only the lake (run_lake_query); there is no PostgreSQL on this deployment."]
    if extent is None:
        lines.append("- The lake's extent could not be read now; it holds every day stored.")
    elif extent.empty or extent.first_day is None or extent.last_day is None:
        lines.append("- The lake holds nothing yet: say so rather than guessing.")
    else:
        lines.append(
            f"- The lake holds logs from {_day(extent.first_day)} to {_day(extent.last_day)} (UTC days, about "
            f"{extent.rows:,} rows); the last minute or so may not have reached it yet."
        )
    return "\n".join(lines) + "\n"


def _day(value: date) -> str:
    return value.isoformat()


NO_QUERY_API: Final = (
    "this is a lake-only stage: the query API (search, SQL, tail, facts, saved queries, shared answers) reads "
    "PostgreSQL, which it does not have. Ask in plain language with POST /api/v1/ask, or run Trino SQL on the "
    "lake in Athena (the stage's AthenaWorkgroup output)"
)


def refuse_query_routes(router: Router) -> None:
    """The query API's routes answer 404 with what to use instead, rather than API Gateway's bare 403."""
    from loglens.query.routes import ROUTES

    for path, method in ROUTES:
        router.add(method, path, _no_query_api)


def _no_query_api(request: Request) -> HttpResponse:
    from loglens.http import HttpError

    raise HttpError(404, NO_QUERY_API)
